//! Two processes create 1,000 keys each in one store at the same time; afterwards
//! every key is usable by both, and the database is intact.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod store_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use kmsbridge_bridge::sys::*;
use kmsbridge_store::SqliteStore;
use kmsbridge_testkit::harness::{field, next_line, role, wait_file, wait_for};
use store_support::*;

const PER_CHILD: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(120);

/// The child's part; does nothing unless started by `two_processes_share_a_store`.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("create") {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var(DIR).expect("dir"));
    let tag = std::env::var(TAG).expect("tag");
    let store = SqliteStore::open(&dir).expect("open");
    let dek = store.login(CKU_USER, USER_PIN).expect("login");
    println!("READY");
    wait_file(&dir.join("go"), TIMEOUT);
    let start = Instant::now();
    for i in 0..PER_CHILD {
        let id = store
            .insert(
                Some(&dek),
                &key(&format!("{tag}-{i}"), i % 4 != 0),
                is_secret,
            )
            .expect("insert");
        println!("ID {id}");
    }
    println!("CREATED in {:?}", start.elapsed());
    // Then wait for the other process's keys and use all of them.
    let end = Instant::now() + TIMEOUT;
    while store.list().expect("list").len() < 2 * PER_CHILD {
        assert!(
            Instant::now() < end,
            "the other process's keys never showed up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut labels = HashSet::new();
    for (id, class, _) in store.list().expect("list") {
        assert_eq!(class, CKO_SECRET_KEY);
        labels.insert(check(&store, &dek, id));
    }
    assert_eq!(labels.len(), 2 * PER_CHILD);
    println!("VERIFIED {}", labels.len());
}

#[test]
fn two_processes_share_a_store() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    let (store, dek) = init(&dir);
    let start = Instant::now();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|t| spawn("child", "create", &dir, t))
        .collect();
    for (_, rx) in &children {
        wait_for(rx, "READY", TIMEOUT);
    }
    std::fs::write(dir.join("go"), b"").expect("go");
    let mut ids = HashSet::new();
    for (mut child, rx) in children {
        let mut mine = 0;
        loop {
            let line = next_line(&rx, TIMEOUT);
            if let Some(id) = field(&line, "ID ") {
                assert!(
                    ids.insert(id.parse::<u64>().expect("id")),
                    "id {id} handed out twice"
                );
                mine += 1;
            } else if field(&line, "CREATED").is_some() {
                eprintln!("child: {line}");
            } else if let Some(n) = field(&line, "VERIFIED ") {
                assert_eq!(n, (2 * PER_CHILD).to_string());
                break;
            }
        }
        assert_eq!(mine, PER_CHILD);
        assert!(child.wait().expect("wait").success());
    }
    eprintln!(
        "two processes, {} keys: {:?}",
        2 * PER_CHILD,
        start.elapsed()
    );
    assert_eq!(ids.len(), 2 * PER_CHILD);
    // This process sees and uses every key too.
    let listed: HashSet<u64> = store.list().expect("list").iter().map(|o| o.0).collect();
    assert_eq!(listed, ids);
    let mut labels = HashSet::new();
    for id in &ids {
        labels.insert(check(&store, &dek, *id));
    }
    assert_eq!(labels.len(), 2 * PER_CHILD);
    store.integrity_check().expect("integrity");
    drop(store);
    // And after every connection closed, a fresh open agrees.
    let store = SqliteStore::open(&dir).expect("reopen");
    store.integrity_check().expect("integrity");
    assert_eq!(store.list().expect("list").len(), 2 * PER_CHILD);
}

/// The child's part of `wrong_pins_count_across_processes`: N wrong user PINs, then
/// the right one; prints each code.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child_pins() {
    if role().as_deref() != Some("pins") {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var(DIR).expect("dir"));
    let n: usize = std::env::var(TAG).expect("tag").parse().expect("n");
    let store = SqliteStore::open(&dir).expect("open");
    let code = |r: kmsbridge_bridge::Result<_>| r.map(|_| CKR_OK).unwrap_or_else(|e| e.ck_rv());
    for _ in 0..n {
        println!("WRONG {}", code(store.login(CKU_USER, b"not-the-pin")));
    }
    println!("RIGHT {}", code(store.login(CKU_USER, USER_PIN)));
}

#[test]
fn wrong_pins_count_across_processes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    let (store, _) = init(&dir);
    let run = |n: usize| -> (Vec<u64>, u64) {
        let (mut child, rx) = spawn("child_pins", "pins", &dir, &n.to_string());
        let wrong = (0..n)
            .map(|_| wait_for(&rx, "WRONG ", TIMEOUT).parse().expect("code"))
            .collect();
        let right = wait_for(&rx, "RIGHT ", TIMEOUT).parse().expect("code");
        assert!(child.wait().expect("wait").success());
        (wrong, right)
    };
    // Another process's wrong PINs show here; its right PIN resets the count.
    let (wrong, right) = run(0);
    assert!(wrong.is_empty());
    assert_eq!(right, CKR_OK);
    assert_eq!(
        store
            .login(CKU_USER, b"not-the-pin")
            .map(|_| ())
            .unwrap_err()
            .ck_rv(),
        CKR_PIN_INCORRECT
    );
    assert_eq!(store.token().expect("token").user_failures, 1);
    let (wrong, right) = run(3);
    assert_eq!(wrong, vec![CKR_PIN_INCORRECT; 3]);
    assert_eq!(right, CKR_OK);
    assert_eq!(store.token().expect("token").user_failures, 0);
    // Failures from two processes add up to the lock.
    let max = store.token().expect("token").max_failures as usize;
    for _ in 0..max - 1 {
        assert_eq!(
            store
                .login(CKU_USER, b"not-the-pin")
                .map(|_| ())
                .unwrap_err()
                .ck_rv(),
            CKR_PIN_INCORRECT
        );
    }
    let t = store.token().expect("token");
    assert_ne!(t.flags() & CKF_USER_PIN_FINAL_TRY, 0);
    let (wrong, right) = run(1);
    assert_eq!(wrong, vec![CKR_PIN_INCORRECT]);
    assert_eq!(right, CKR_PIN_LOCKED);
    let t = store.token().expect("token");
    assert_ne!(t.flags() & CKF_USER_PIN_LOCKED, 0);
    assert_eq!(
        store
            .login(CKU_USER, USER_PIN)
            .map(|_| ())
            .unwrap_err()
            .ck_rv(),
        CKR_PIN_LOCKED
    );
}
