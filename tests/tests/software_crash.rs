//! `kill -9` during key creation on a software instance, 20 times: a child process
//! (this test binary re-run on `child`) creates AES token keys through libkmsbridge.so
//! in a loop and reports each one as soon as `C_GenerateKey` returned `CKR_OK`; the
//! parent kills it (SIGKILL) at a random point 10–300 ms after it logged in (and seeded
//! its random generator), so in the middle of creating keys. After every
//! kill SQLite finds the store file intact, and a fresh process initialises the module,
//! logs in, and finds and uses every key ever reported, with the value it had. At most
//! one key per kill may exist unreported (committed, killed before the print).
//! Needs `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{
    fingerprint, gen_token_aes, keys_by_label, random_bytes, round_trip,
};
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::software::{integrity_check, store_dir};

const ROUNDS: usize = 20;
const TIMEOUT: Duration = Duration::from_secs(120);

/// A reported key: CKA_ID (hex) and, if the child got that far, its fingerprint.
#[derive(Debug, Clone, Default)]
struct Reported {
    id: String,
    fp: Option<String>,
}

/// The child's parts; does nothing unless started by the test below.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    match role().as_deref() {
        Some("create") => create(&arg()),
        Some("verify") => verify(&arg()),
        _ => {}
    }
}

/// Creates keys until killed.
fn create(tag: &str) {
    let m = Module::load();
    let s = m.user_session();
    // The first random bytes of a process seed the engine's DRBG (about 30 ms of jitter
    // entropy here): done before READY, so that every kill lands in the creation loop.
    assert_eq!(s.generate_random_vec(32).expect("C_GenerateRandom").len(), 32);
    say("READY");
    let start = Instant::now();
    for i in 0..1_000_000 {
        let label = format!("crash-{tag}-{i}");
        let id = random_bytes(8);
        let key =
            gen_token_aes(&s, &label, &id).unwrap_or_else(|e| panic!("C_GenerateKey {label}: {e}"));
        say(&format!("MADE {label} {}", hex::encode(&id)));
        say(&format!("FP {label} {}", fingerprint(&s, key)));
        if i == 0 {
            say(&format!("FIRST {}", start.elapsed().as_micros()));
        }
    }
}

/// Checks every key listed in the file `list` ("label id fp|-" lines).
fn verify(list: &str) {
    let start = Instant::now();
    let m = Module::load();
    let s = m.user_session();
    let text = std::fs::read_to_string(list).expect("read the list of reported keys");
    let keys = keys_by_label(&s);
    let mut checked = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [label, id, fp] = f[..] else { panic!("bad line {line:?}") };
        let (h, got_id) = keys.get(label).unwrap_or_else(|| panic!("reported key {label} is lost"));
        assert_eq!(hex::encode(got_id), id, "{label}: CKA_ID");
        let got = fingerprint(&s, *h);
        if fp != "-" {
            assert_eq!(got, fp, "{label}: the key's value changed");
        }
        round_trip(&s, *h, label);
        checked += 1;
    }
    let all = keys.len();
    say(&format!("VERIFIED {checked} {all} {}", start.elapsed().as_millis()));
}

#[test]
fn kill_9_during_key_creation_loses_nothing() {
    let rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    let store = store_dir();
    let list = rig.dir().join("reported.txt");
    let mut reported: BTreeMap<String, Reported> = BTreeMap::new();
    let mut unreported = 0;
    let mut rounds_with_keys = 0;
    let start = Instant::now();
    for round in 0..ROUNDS {
        let (mut child, rx) = spawn("child", "create", &[(ARG, &format!("r{round:02}"))]);
        wait_for(&rx, "READY", TIMEOUT);
        let r = random_bytes(2);
        let delay = 10 + u64::from(u16::from_le_bytes([r[0], r[1]])) % 291;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().expect("kill -9");
        let status = child.wait().expect("wait");
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "round {round}: the child was still creating"
        );
        // The reader thread ends at EOF; every line printed before the kill is there.
        let mut made = 0;
        let mut first_us = None;
        for line in rx.iter() {
            if let Some(us) = field(&line, "FIRST ") {
                first_us = Some(us.parse::<u64>().expect("FIRST us"));
            }
            if let Some(rest) = field(&line, "MADE ") {
                let (label, id) = rest.split_once(' ').expect("MADE label id");
                let prev =
                    reported.insert(label.to_string(), Reported { id: id.to_string(), fp: None });
                assert!(prev.is_none(), "{label} reported twice");
                made += 1;
            } else if let Some(rest) = field(&line, "FP ") {
                let (label, fp) = rest.split_once(' ').expect("FP label fp");
                reported.get_mut(label).expect("FP after MADE").fp = Some(fp.to_string());
            }
        }
        if made > 0 {
            rounds_with_keys += 1;
        } else {
            eprintln!(
                "round {round}: no key reported {delay} ms after login (first: {first_us:?} µs)"
            );
        }

        // The store as the killed process left it.
        integrity_check(&store);

        // A fresh process finds and uses every key ever reported.
        let mut f = std::fs::File::create(&list).expect("write the list");
        for (label, r) in &reported {
            writeln!(f, "{label} {} {}", r.id, r.fp.as_deref().unwrap_or("-")).unwrap();
        }
        drop(f);
        let (mut verifier, vrx) = spawn("child", "verify", &[(ARG, &list.display().to_string())]);
        let v = wait_for(&vrx, "VERIFIED ", TIMEOUT);
        assert!(wait_exit(&mut verifier, TIMEOUT).success(), "round {round}: the verifier failed");
        let v: Vec<usize> = v.split_whitespace().map(|n| n.parse().expect("number")).collect();
        let (checked, all, ms) = (v[0], v[1], v[2]);
        assert_eq!(checked, reported.len(), "round {round}: every reported key checked");
        assert!(all >= reported.len());
        let extra = all - reported.len();
        assert!(
            extra <= unreported + 1,
            "round {round}: {extra} keys exist that were never reported; one kill can leave one"
        );
        unreported = extra;
        eprintln!(
            "round {round:2}: killed after {delay:3} ms, {made:3} keys reported this round, \
             {} in all, {extra} committed but unreported; verified in {ms} ms",
            reported.len()
        );
    }
    // A loaded machine may delay a child's first key past a short kill; most rounds
    // must still have killed it in the middle of creating keys.
    assert!(rounds_with_keys >= ROUNDS / 2, "only {rounds_with_keys} rounds made keys");
    eprintln!("{ROUNDS} kills, {} keys verified, in {:?}", reported.len(), start.elapsed());
}
