//! The audit trail through the module (docs/AUDIT.md): what applications do shows up
//! as login, key-use (with counts), denial, lifecycle and admin records, and the trail
//! verifies with `kmsbridge audit verify`; every kind of tampering the issue names —
//! a changed byte, a deleted record, two records swapped, the tail cut before the
//! signed head — makes it exit non-zero naming the record. Each case runs on a
//! hardware instance (SoftHSM2 behind it) and on a software instance.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use kmsbridge_audit::{Event, Outcome};
use kmsbridge_testkit::keys::{fingerprint, gen_token_aes};
use kmsbridge_tests::audit::*;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{on_both_instances, Env, Target};
use std::path::Path;

on_both_instances!(operations_are_recorded_and_verify, tampering_is_detected);

const ENCRYPTS: u64 = 7;

/// Logins (one wrong), key use, a refused use, state changes and C_InitPIN.
fn exercise(t: &Env) -> String {
    let s = t.rw_session();
    let wrong = s.login(UserType::User, Some(&AuthPin::new("not-the-pin".into())));
    assert!(matches!(wrong, Err(Error::Pkcs11(RvError::PinIncorrect, _))), "{wrong:?}");
    s.login(UserType::User, Some(&t.user_auth())).expect("C_Login");
    let id = random(16);
    let key = gen_token_aes(&s, "audited", &id).expect("C_GenerateKey");
    for _ in 0..ENCRYPTS {
        fingerprint(&s, key);
    }
    set_state(&s, key, KMSBRIDGE_STATE_DISABLED, &[]).expect("disable");
    let refused = s.encrypt(&Mechanism::AesEcb, key, &[0u8; 16]);
    assert!(matches!(refused, Err(Error::Pkcs11(RvError::KeyFunctionNotPermitted, _))));
    set_state(&s, key, KMSBRIDGE_STATE_ENABLED, &[]).expect("enable");
    fingerprint(&s, key);
    s.logout().expect("C_Logout");
    s.login(UserType::So, Some(&t.so_auth())).expect("C_Login (SO)");
    s.init_pin(&t.user_auth()).expect("C_InitPIN");
    s.logout().expect("C_Logout (SO)");
    hex::encode(id)
}

fn operations_are_recorded_and_verify(target: Target) {
    let t = Env::new(target);
    let id = exercise(&t);
    let dir = trail_dir(t.rig(), target == Target::Software);
    let rs = all(&dir);
    let me = std::process::id();
    let mine: Vec<_> = rs.iter().filter(|r| r.pid == me).cloned().collect();

    let failed = find(&mine, Event::LoginFailed, None, None);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let why = failed[0].reason.as_ref().unwrap().as_str();
    assert!(why.contains("user") && why.contains("CKR_PIN_INCORRECT"), "{why}");
    assert!(!why.contains("not-the-pin"), "a PIN in the trail: {why}");
    let logins = find(&mine, Event::Login, None, None);
    assert_eq!(logins.len(), 2, "user and SO: {logins:?}");

    assert_eq!(find(&mine, Event::Lifecycle, Some("create"), Some(&id)).len(), 1);
    for action in ["disable", "enable"] {
        let r = find(&mine, Event::Lifecycle, Some(action), Some(&id));
        assert_eq!(r.len(), 1, "{action}");
        assert_eq!(r[0].result, Outcome::Ok);
    }
    // Aggregated: every use counted, whatever the seconds they fell in.
    assert_eq!(uses(&mine, &id, "encrypt"), ENCRYPTS + 1);
    let denied = find(&mine, Event::Denied, Some("encrypt"), Some(&id));
    assert_eq!(denied.len(), 1, "the use of the disabled key");
    assert!(denied[0].reason.as_ref().unwrap().as_str().contains("KEY_FUNCTION_NOT_PERMITTED"));
    let admin = find(&mine, Event::Admin, Some("init-pin"), None);
    assert_eq!(admin.len(), 1);
    assert_eq!(admin[0].result, Outcome::Ok);
    // C_Logout signed what this process did: the last record of ours is followed by a
    // checkpoint.
    let last = rs.iter().rposition(|r| r.pid == me && r.event != Event::Checkpoint).unwrap();
    assert!(rs[last + 1..].iter().any(|r| r.event == Event::Checkpoint), "no checkpoint after");

    let (ok, out, err) = verify(&[]);
    assert!(ok, "verify failed: {out}{err}");
    assert!(out.contains("OK"), "{out}");
    // Verification reads what the instance holds: the object needs the user.
    let s = t.rw_session();
    assert!(s
        .find_objects(&[ulong(cryptoki_sys::CKA_CLASS, CKO_KMSBRIDGE_AUDIT)])
        .unwrap()
        .is_empty());
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Runs verify on a tampered copy of `good` and checks that it names `expect`.
fn tampered(dir: &Path, good: &[String], edit: impl FnOnce(&mut Vec<String>), expect: &[&str]) {
    let file = dir.join(kmsbridge_audit::CURRENT);
    let mut l = good.to_vec();
    edit(&mut l);
    write_lines(&file, &l);
    let (ok, out, err) = verify(&[]);
    assert!(!ok, "tampering not detected: {out}");
    for e in expect {
        assert!(err.contains(e), "verify says {err:?}, expected {e:?}");
    }
    write_lines(&file, good);
}

fn tampering_is_detected(target: Target) {
    let t = Env::new(target);
    exercise(&t);
    let dir = trail_dir(t.rig(), target == Target::Software);
    let (ok, out, err) = verify(&[]);
    assert!(ok, "the untouched trail: {out}{err}");
    let good = lines(&dir.join(kmsbridge_audit::CURRENT));
    let rs = all(&dir);
    let head = rs.iter().rposition(|r| r.event == Event::Checkpoint).unwrap();
    let head_seq = rs[head].seq;
    assert!(head >= 8, "a trail long enough to cut into ({head})");
    // Line n is seq n: one file, from seq 1.
    assert_eq!(rs[0].seq, 1);

    // A byte: a digit of record 3's pid.
    tampered(
        &dir,
        &good,
        |l| {
            let i = l[2].find("\"pid\":").unwrap() + 6;
            let d = l[2].as_bytes()[i];
            let nd = if d == b'9' { '1' } else { (d + 1) as char };
            l[2].replace_range(i..i + 1, &nd.to_string());
        },
        &["line 3 (seq 3)", "hash does not match"],
    );
    // A deleted record: record 4 goes; line 4 is then seq 5.
    tampered(&dir, &good, |l| drop(l.remove(3)), &["line 4 (seq 5)", "expected seq 4"]);
    // Two records swapped: 5 and 6.
    tampered(&dir, &good, |l| l.swap(4, 5), &["line 5 (seq 6)", "expected seq 5"]);
    // The tail cut before the signed head.
    tampered(
        &dir,
        &good,
        |l| l.truncate(head - 3),
        &["truncated", &format!("signed head at seq {head_seq}")],
    );
    let (ok, out, err) = verify(&[]);
    assert!(ok, "the restored trail: {out}{err}");
}
