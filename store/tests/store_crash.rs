//! 20 times: a child creates keys in a loop, printing each id once `insert` returned
//! Ok, and is killed with SIGKILL at a random moment. Every reported key must be
//! there afterwards, and the store must always open intact.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod store_support;

use std::time::{Duration, Instant};

use kmsbridge_bridge::sys::*;
use kmsbridge_store::SqliteStore;
use kmsbridge_testkit::harness::{field, role, wait_for};
use store_support::*;

const ROUNDS: usize = 20;
const TIMEOUT: Duration = Duration::from_secs(60);

/// The child's part; does nothing unless started by `kill_9_loses_no_reported_key`.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("crash") {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var(DIR).expect("dir"));
    let tag = std::env::var(TAG).expect("tag");
    let store = SqliteStore::open(&dir).expect("open");
    let dek = store.login(CKU_USER, USER_PIN).expect("login");
    println!("READY");
    // Until killed. Bounded all the same, should the parent be gone.
    for i in 0..1_000_000u64 {
        let rec = key(&format!("{tag}-{i}"), i % 3 != 0);
        let id = store.insert(Some(&dek), &rec, is_secret).expect("insert");
        println!("ID {id}");
        if i % 7 == 0 {
            // Some updates and deletes of earlier keys too, so the kill lands on those.
            store
                .update(Some(&dek), &rec_with_id(rec, id), is_secret)
                .expect("update");
        }
    }
}

fn rec_with_id(mut rec: kmsbridge_store::ObjectRecord, id: u64) -> kmsbridge_store::ObjectRecord {
    rec.id = id;
    rec
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random");
    u64::from_le_bytes(b)
}

#[test]
fn kill_9_loses_no_reported_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    let (store, dek) = init(&dir);
    drop(store);
    let start = Instant::now();
    let mut reported: Vec<u64> = Vec::new();
    for round in 0..ROUNDS {
        let (mut child, rx) = spawn("child", "crash", &dir, &format!("r{round}"));
        wait_for(&rx, "READY", TIMEOUT);
        let delay = Duration::from_millis(10 + random_u64() % 191);
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
        let status = child.wait().expect("wait");
        assert!(
            !status.success(),
            "round {round}: the child ended by itself"
        );
        // The reader thread drains what the child printed before it died.
        let mut this_round = 0;
        while let Ok(line) = rx.recv_timeout(TIMEOUT) {
            if let Some(id) = field(&line, "ID ") {
                reported.push(id.parse().expect("id"));
                this_round += 1;
            }
        }
        // The store opens, is intact, and has every key ever reported.
        let store = SqliteStore::open(&dir).expect("open after kill");
        store.integrity_check().expect("integrity after kill");
        for id in &reported {
            check(&store, &dek, *id);
        }
        eprintln!("round {round}: killed after {delay:?}, {this_round} keys reported");
    }
    assert!(
        reported.len() >= ROUNDS,
        "too few keys were created to test anything: {}",
        reported.len()
    );
    let store = SqliteStore::open(&dir).expect("open");
    let login = store
        .login(CKU_USER, USER_PIN)
        .expect("login after the crashes");
    for id in &reported {
        check(&store, &login, *id);
    }
    eprintln!(
        "{ROUNDS} kills, {} keys checked, {:?}",
        reported.len(),
        start.elapsed()
    );
}
