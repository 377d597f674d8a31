//! How another process's KMS key change reaches a process on a software instance
//! (docs/KEYS.md, "How the registry stays fresh"): the generation value names the
//! record that changed (provider/src/kms/changes.rs), so a process one change behind
//! re-reads that record through the store's index, not every record. The child counts
//! the records its registry read from the module's debug lines ("key records
//! reloaded", `read=N`) in the instance's log. Needs `cargo build --release -p kmsbridge`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::Error;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::PROBE;
use kmsbridge_testkit::module::Module;
use kmsbridge_tests::env::software_on_postgres;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{Env, Target};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

const KEYS: u8 = 30;

/// Among 30 KMS keys, one disabled in this process is refused in the other, and the
/// other process's call that sees the change read one record (a full reload reads all
/// 30). The store in SQLite.
#[test]
fn after_one_change_another_process_reloads_one_record_on_software() {
    one_change_reloads_one_record(Target::Software);
}

/// The same with the store in PostgreSQL (a throw-away server).
#[test]
fn after_one_change_another_process_reloads_one_record_on_software_over_postgres() {
    one_change_reloads_one_record(software_on_postgres());
}

fn one_change_reloads_one_record(target: Target) {
    // Only the child logs the registry's debug lines (the log file is shared).
    std::env::remove_var("KMSBRIDGE_LOG");
    let t = Env::new(target);
    let s = t.user_session();
    let mut first = None;
    for i in 0..KEYS {
        let id = vec![0x5b, i];
        let k = kms_key(&s, Spec::Aes(32), &id, &format!("soft-reload-{i}"));
        first.get_or_insert((id, k));
    }
    let (id, key) = first.unwrap();
    let log = t.rig().dir().join("kmsbridge.log");
    let stop = t.rig().dir().join("stop");
    let (mut child, rx) = spawn(
        "child",
        "encrypt-loop",
        &[
            (ARG, &format!("{}:{}:{}", hex::encode(&id), stop.display(), log.display())),
            ("KMSBRIDGE_LOG", "warn,kmsbridge_provider::kms::registry=debug"),
        ],
    );
    assert_eq!(wait_for(&rx, "STATE ", Duration::from_secs(60)), "ok", "the child encrypts");
    // A few re-reads first, so the child's view is settled at the current generation.
    std::thread::sleep(Duration::from_millis(3 * REFRESH_MS));
    set_state(&s, key, KMSBRIDGE_STATE_DISABLED, &[]).expect("disable");
    let reads = wait_for(&rx, "READS ", PROPAGATION_BOUND);
    let state = wait_for(&rx, "STATE ", Duration::from_secs(10));
    // Stop the child before judging, so a failure does not leave it running.
    std::fs::write(&stop, b"").expect("write the stop file");
    wait_for(&rx, "DONE", Duration::from_secs(10));
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success(), "the child failed");
    assert_eq!(
        state, "refused KeyFunctionNotPermitted EncryptInit",
        "the other process refuses the disabled key"
    );
    assert_eq!(reads, "1", "records the call that saw the change read");
}

/// The records read, by the registry's debug lines, in the log after `from`.
fn records_read(log: &Path, from: u64) -> u64 {
    let mut f = std::fs::File::open(log).expect("open the log");
    f.seek(SeekFrom::Start(from)).expect("seek the log");
    let mut text = String::new();
    f.read_to_string(&mut text).expect("read the log");
    text.lines()
        .filter(|l| l.contains("key records reloaded"))
        .map(|l| {
            let n = field(l, "read=").expect("read=N").split_whitespace().next().unwrap();
            n.parse::<u64>().expect("read=N")
        })
        .sum()
}

/// The child: finds the key and encrypts with it in a loop, reporting each change of
/// outcome and, before it, the records read by the call that changed it.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    let Some(_role) = role() else { return };
    let arg = arg();
    let mut parts = arg.splitn(3, ':');
    let (id, stop, log) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let log = Path::new(log);
    let m = Module::load();
    let s = m.user_session();
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Id(hex::decode(id).expect("hex id")),
        ])
        .expect("C_FindObjects");
    assert_eq!(found.len(), 1, "one key found");
    let key = found[0];
    let mut last = String::new();
    let stop = Path::new(stop);
    // The parent's scratch directory gone (it panicked): stop too.
    while !stop.exists() && stop.parent().is_some_and(Path::exists) {
        let before = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        let now = match s.encrypt(&Mechanism::AesEcb, key, &PROBE) {
            Ok(_) => "ok".to_string(),
            Err(Error::Pkcs11(code, function)) => format!("refused {code:?} {function:?}"),
            Err(e) => panic!("C_Encrypt: {e}"),
        };
        if now != last {
            if !last.is_empty() {
                say(&format!("READS {}", records_read(log, before)));
            }
            say(&format!("STATE {now}"));
            last = now;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    say("DONE");
}
