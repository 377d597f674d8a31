//! Brute force against one client key (issue 12, "What it must show"): 10,000 wrong
//! keys for one credential id from 4 processes at once. Attempts are counted before
//! they are checked, so at most `max_failed_logins` (20 here) of them are checked and
//! answer CKR_PIN_INCORRECT; every other answer is CKR_PIN_LOCKED. Then the right key
//! answers CKR_PIN_LOCKED in a fresh process until the SO unlocks the credential
//! (CKA_KMSBRIDGE_CREDENTIAL_UNLOCK), after which it logs in. On a software and a
//! hardware instance. Needs `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kmsbridge_testkit::codes::code_of;
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::access::*;
use kmsbridge_tests::{Env, Target};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAX_FAILED: usize = 20;
const PROCESSES: usize = 4;
const GUESSES: usize = 10_000;
const TIMEOUT: Duration = Duration::from_secs(600);

/// The go file the guessers wait for, so that they start together.
const GO: &str = "KMSBRIDGE_TEST_GO";
/// Which slice of the guesses a child makes.
const PART: &str = "KMSBRIDGE_TEST_PART";

/// A child: `guess` makes its GUESSES / PROCESSES wrong keys once the go file is
/// there and reports how each was answered; `login` tries the right key once.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    let Some(role) = role() else { return };
    let key = arg();
    let m = Module::load();
    let s = m.ctx.open_rw_session(m.slot).unwrap();
    match role.as_str() {
        "guess" => {
            let part: u64 = var(PART).parse().unwrap();
            say("READY");
            wait_file(Path::new(&var(GO)), TIMEOUT);
            let per = (GUESSES / PROCESSES) as u64;
            let mut answers: BTreeMap<String, usize> = BTreeMap::new();
            for n in part * per..(part + 1) * per {
                let got = code_of(&login_key(&s, &wrong_key(&key, n)));
                *answers.entry(format!("{got:?}")).or_default() += 1;
            }
            let line: Vec<String> = answers.iter().map(|(k, v)| format!("{k}={v}")).collect();
            say(&format!("ANSWERS {}", line.join(" ")));
        }
        "login" => say(&format!("LOGIN {:?}", code_of(&login_key(&s, &key)))),
        other => panic!("unknown role {other}"),
    }
}

fn fresh_login(key: &str) -> String {
    let (mut c, rx) = spawn("child", "login", &[(ARG, key)]);
    let got = wait_for(&rx, "LOGIN ", TIMEOUT);
    assert!(wait_exit(&mut c, TIMEOUT).success());
    got
}

fn brute_force(target: Target) {
    let rig = Rig::with_options(&RigOptions {
        software: target == Target::Software,
        ..Default::default()
    });
    configure(Path::new(rig.var("KMSBRIDGE_CONF")), &format!("max_failed_logins = {MAX_FAILED}"));
    let t = Env::with_rig(target, rig);
    let key = make_point(
        &t,
        "target",
        "[[statement]]\nactions = [\"encrypt\"]\nresources = [\"key/*\"]\n",
    );
    let go: PathBuf = t.rig().dir().join("go");

    let start = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            let part = p.to_string();
            let go = go.to_str().unwrap();
            spawn("child", "guess", &[(ARG, key.as_str()), (PART, part.as_str()), (GO, go)])
        })
        .collect();
    for (_, rx) in &children {
        wait_for(rx, "READY", TIMEOUT);
    }
    std::fs::write(&go, b"go").unwrap();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for (mut c, rx) in children {
        let line = wait_for(&rx, "ANSWERS ", TIMEOUT);
        assert!(wait_exit(&mut c, TIMEOUT).success());
        eprintln!("guesser: {line}");
        for pair in line.split_whitespace() {
            let (code, n) = pair.split_once('=').unwrap();
            *totals.entry(code.to_string()).or_default() += n.parse::<usize>().unwrap();
        }
    }
    let took = start.elapsed();
    let incorrect = totals.get("Err(PinIncorrect)").copied().unwrap_or(0);
    let locked = totals.get("Err(PinLocked)").copied().unwrap_or(0);
    eprintln!(
        "{}: {GUESSES} guesses from {PROCESSES} processes in {took:?}: {totals:?}",
        target.name()
    );
    assert_eq!(incorrect + locked, GUESSES, "only INCORRECT and LOCKED answers: {totals:?}");
    assert!(incorrect <= MAX_FAILED, "{incorrect} keys were checked, bound {MAX_FAILED}");
    assert!(incorrect > 0, "some guesses were checked before the lock");

    // Locked for the right key too, in a process that saw none of it.
    assert_eq!(fresh_login(&key), "Err(PinLocked)");
    let so = so_session(&t);
    let ap = find(&so, "target").unwrap();
    let listed = credentials(&so, ap);
    eprintln!("after the attack: {listed}");
    assert!(listed.contains("locked = true"), "{listed}");
    assert_eq!(fresh_login(&key), "Err(PinLocked)", "still locked while the SO looks");
    unlock(&so, ap, &credential_id(&key)).unwrap();
    assert!(credentials(&so, ap).contains("locked = false"));
    so.logout().unwrap();
    drop(so);
    assert_eq!(fresh_login(&key), "Ok(())", "unlocked");
}

#[test]
fn software_brute_force_locks() {
    brute_force(Target::Software);
}

#[test]
fn hardware_brute_force_locks() {
    brute_force(Target::Bridge);
}
