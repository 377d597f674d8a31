//! Eight processes append to one instance's audit trail at once through the module —
//! logins, key use and administration (C_SetPIN) — for
//! `KMSBRIDGE_AUDIT_SOAK_SECS` seconds (default 60). None of their records is lost:
//! each process reports what it did, and the trail's counts (logins, the sum of key-use
//! counts, C_SetPIN calls) match exactly, per process; `kmsbridge audit verify` passes.
//! Runs on a software instance (the store shared by every process).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::object::ObjectClass;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use kmsbridge_audit::Event;
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{fingerprint, gen_token_aes};
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::audit::*;
use kmsbridge_tests::kms::*;
use std::time::{Duration, Instant};

const PROCESSES: usize = 8;

fn soak_secs() -> u64 {
    std::env::var("KMSBRIDGE_AUDIT_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60)
}

#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("append") {
        return;
    }
    let (go, secs) =
        arg().split_once(':').map(|(a, b)| (a.to_string(), b.parse().unwrap())).unwrap();
    let m = Module::load();
    let s = m.ctx.open_rw_session(m.slot).unwrap();
    let pin = AuthPin::new(m.user_pin.clone().into());
    s.login(UserType::User, Some(&pin)).unwrap();
    let id = random(16);
    let mut key = gen_token_aes(&s, "soak", &id).unwrap();
    say("READY");
    wait_file(std::path::Path::new(&go), Duration::from_secs(120));
    let (mut logins, mut uses, mut changes) = (1u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut i = 0u64;
    while Instant::now() < end {
        fingerprint(&s, key);
        uses += 1;
        i += 1;
        if i.is_multiple_of(97) {
            s.logout().unwrap();
            s.login(UserType::User, Some(&pin)).unwrap();
            logins += 1;
            // Handles of private objects end with the login.
            key = keys_with_id(&s, ObjectClass::SECRET_KEY, &id)[0];
        }
        if i.is_multiple_of(211) {
            // An administrative call: C_SetPIN to the same PIN (its record counts,
            // whatever the answer).
            let _ = s.set_pin(&pin, &pin);
            changes += 1;
        }
    }
    // C_Logout writes every count and signs them.
    s.logout().unwrap();
    say(&format!("DONE {} {} {logins} {uses} {changes}", std::process::id(), hex::encode(&id)));
}

#[test]
fn eight_processes_append_for_the_soak_time_and_lose_nothing() {
    let rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    let go = rig.dir().join("go");
    let secs = soak_secs();
    let arg = format!("{}:{secs}", go.display());
    let mut children: Vec<_> =
        (0..PROCESSES).map(|_| spawn("child", "append", &[(ARG, arg.as_str())])).collect();
    for (_, rx) in &children {
        wait_for(rx, "READY", Duration::from_secs(120));
    }
    std::fs::write(&go, b"").unwrap();
    let timeout = Duration::from_secs(secs + 180);
    let mut reports = Vec::new();
    for (child, rx) in &mut children {
        let done = wait_for(rx, "DONE ", timeout);
        let f: Vec<&str> = done.split_whitespace().collect();
        let n = |k: usize| f[k].parse::<u64>().unwrap();
        reports.push((n(0) as u32, f[1].to_string(), n(2), n(3), n(4)));
        assert!(wait_exit(child, timeout).success());
    }
    let dir = trail_dir(&rig, true);
    let rs = all(&dir);
    let mut total = 0;
    for (pid, id, logins, uses_done, changes) in &reports {
        let mine: Vec<_> = rs.iter().filter(|r| r.pid == *pid).cloned().collect();
        assert_eq!(find(&mine, Event::Login, None, None).len() as u64, *logins, "logins of {pid}");
        assert_eq!(uses(&mine, id, "encrypt"), *uses_done, "key uses of {pid}");
        let admin = find(&mine, Event::Admin, Some("set-pin"), None).len() as u64;
        assert_eq!(admin, *changes, "C_SetPIN calls of {pid}");
        assert_eq!(find(&mine, Event::Lifecycle, Some("create"), Some(id)).len(), 1);
        total += uses_done;
    }
    eprintln!("{} records, {total} key uses by {PROCESSES} processes in {secs} s", rs.len());
    assert!(total > PROCESSES as u64, "the processes did work");
    let (ok, out, err) = verify(&[]);
    assert!(ok, "verify: {out}{err}");
    eprintln!("{out}");
}
