//! Two processes load libkmsbridge.so over the same software instance (one
//! `KMSBRIDGE_CONF`), log in, and create 1,000 AES-256 token keys each at the same
//! time, using every key once as it is made. Afterwards each process finds all 2,000
//! keys and uses every one; then a fresh process does the same, and SQLite checks the
//! store file. Needs `cargo build --release`.
//!
//! The children are this test binary re-run on `child` with a role in the environment.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cryptoki::session::Session;

use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{
    fingerprint, gen_token_aes, keys_by_label, random_bytes, round_trip,
};
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::software::{integrity_check, store_dir};

const PER_PROCESS: usize = 1000;
const TIMEOUT: Duration = Duration::from_secs(300);

/// label -> (CKA_ID hex, fingerprint)
type Keys = BTreeMap<String, (String, String)>;

/// Parses "WORD label id fp" lines.
fn parse_key_line(rest: &str) -> (String, (String, String)) {
    let mut it = rest.split_whitespace();
    let (Some(label), Some(id), Some(fp), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        panic!("malformed key line {rest:?}");
    };
    (label.to_string(), (id.to_string(), fp.to_string()))
}

/// Finds every key, uses each one (fingerprint + GCM round trip), reports them.
fn use_all(s: &Session, expect: usize) {
    let start = Instant::now();
    let end = start + TIMEOUT;
    // The other process may still be creating: wait until all of them are visible.
    let keys = loop {
        let keys = keys_by_label(s);
        assert!(keys.len() <= expect, "{} keys found, more than the {expect} made", keys.len());
        if keys.len() == expect {
            break keys;
        }
        assert!(Instant::now() < end, "only {} of {expect} keys ever showed up", keys.len());
        std::thread::sleep(Duration::from_millis(20));
    };
    let waited = start.elapsed();
    for (label, (h, id)) in &keys {
        let fp = fingerprint(s, *h);
        round_trip(s, *h, label);
        say(&format!("USE {label} {} {fp}", hex::encode(id)));
    }
    say(&format!(
        "USED {} (waited {waited:?} for the other process, then {:?})",
        keys.len(),
        start.elapsed() - waited
    ));
}

/// The child's part; does nothing unless started by a test below.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    match role().as_deref() {
        Some("create") => {
            let (tag, go) =
                arg().split_once(':').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
            let m = Module::load();
            let s = m.user_session();
            say("READY");
            wait_file(std::path::Path::new(&go), TIMEOUT);
            let start = Instant::now();
            for i in 0..PER_PROCESS {
                let label = format!("mp-{tag}-{i:04}");
                let id = random_bytes(8);
                let key = gen_token_aes(&s, &label, &id)
                    .unwrap_or_else(|e| panic!("C_GenerateKey #{i} in process {tag}: {e}"));
                let fp = fingerprint(&s, key);
                say(&format!("MADE {label} {} {fp}", hex::encode(&id)));
            }
            say(&format!("CREATED {PER_PROCESS} in {:?}", start.elapsed()));
            use_all(&s, 2 * PER_PROCESS);
        }
        Some("verify") => {
            let m = Module::load();
            use_all(&m.user_session(), arg().parse().expect("count"));
        }
        _ => {}
    }
}

/// Collects a child's MADE and USE lines up to its USED line.
fn collect(rx: &mpsc::Receiver<String>, who: &str) -> (Keys, Keys) {
    let (mut made, mut used) = (Keys::new(), Keys::new());
    let end = Instant::now() + TIMEOUT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|e| panic!("{who}: {e}"));
        if let Some(rest) = field(&line, "MADE ") {
            let (label, v) = parse_key_line(rest);
            assert!(made.insert(label.clone(), v).is_none(), "{who} made {label} twice");
        } else if let Some(rest) = field(&line, "USE ") {
            let (label, v) = parse_key_line(rest);
            assert!(used.insert(label.clone(), v).is_none(), "{who} used {label} twice");
        } else if let Some(rest) = field(&line, "CREATED ") {
            eprintln!("{who}: created {rest}");
        } else if let Some(rest) = field(&line, "USED ") {
            eprintln!("{who}: used {rest}");
            return (made, used);
        }
    }
}

#[test]
fn two_processes_create_and_use_2000_keys() {
    let rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    let go = rig.dir().join("go");
    let start = Instant::now();
    let mut children: Vec<_> = ["a", "b"]
        .iter()
        .map(|tag| (tag, spawn("child", "create", &[(ARG, &format!("{tag}:{}", go.display()))])))
        .collect();
    for (tag, (_, rx)) in &children {
        wait_for(rx, "READY", TIMEOUT);
        eprintln!("process {tag} logged in");
    }
    let ready = start.elapsed();
    std::fs::write(&go, b"").expect("write the go file");
    let mut made = Keys::new();
    let mut used = Vec::new();
    for (tag, (child, rx)) in &mut children {
        let (m, u) = collect(rx, &format!("process {tag}"));
        assert_eq!(m.len(), PER_PROCESS, "process {tag} made {} keys", m.len());
        for (label, v) in m {
            assert!(made.insert(label.clone(), v).is_none(), "{label} made by both processes");
        }
        used.push((tag.to_string(), u));
        assert!(wait_exit(child, TIMEOUT).success(), "process {tag} failed");
    }
    let together = start.elapsed() - ready;
    assert_eq!(made.len(), 2 * PER_PROCESS);
    let ids: std::collections::HashSet<_> = made.values().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 2 * PER_PROCESS, "CKA_IDs are random and distinct");
    for (tag, u) in &used {
        assert_eq!(u, &made, "process {tag}: the keys it found and used differ from those made");
    }

    // A fresh process sees the same 2,000 keys with the same values.
    let fresh = Instant::now();
    let (mut child, rx) = spawn("child", "verify", &[(ARG, &(2 * PER_PROCESS).to_string())]);
    let (none, u) = collect(&rx, "fresh process");
    assert!(none.is_empty());
    assert!(wait_exit(&mut child, TIMEOUT).success(), "the fresh process failed");
    assert_eq!(u, made, "fresh process: the keys it found and used differ from those made");
    let fresh = fresh.elapsed();

    integrity_check(&store_dir());
    eprintln!(
        "two processes x {PER_PROCESS} keys: logins {ready:?}, create + use all {together:?}, \
         fresh process {fresh:?}, total {:?}",
        start.elapsed()
    );
}
