//! The session-pooled bridge: bounded waits for a busy pool, and front object
//! handles that stay valid when the backend would renumber its own.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{find, gen_aes};
use kmsbridge_testkit::rig::RigOptions;
use kmsbridge_tests::env::{Env, Target};
use std::time::{Duration, Instant};

/// Rewrite the rig's config so operations wait at most `ms` for a pooled session.
fn with_pool_wait(ms: u64) -> Env {
    let opts = RigOptions { pool: Some(1), ..Default::default() };
    // Env loads the module after the rig is made: patch the config in between by
    // making the rig ourselves first.
    let rig = kmsbridge_testkit::rig::Rig::with_options(&opts);
    let conf = rig.var("KMSBRIDGE_CONF").to_string();
    let text = std::fs::read_to_string(&conf).expect("read config");
    let text =
        text.replace("type = \"hardware\"", &format!("type = \"hardware\"\npool_wait_ms = {ms}"));
    std::fs::write(&conf, text).expect("write config");
    Env::with_rig(Target::Bridge, rig)
}

#[test]
fn a_busy_pool_answers_after_a_bounded_wait_then_recovers() {
    const WAIT_MS: u64 = 300;
    let t = with_pool_wait(WAIT_MS);
    let a = t.user_session();
    let b = t.rw_session();
    let key = gen_aes(&a, 32);
    // Session A pins the pool's only backend session with an unfinished operation.
    a.encrypt_init(&Mechanism::AesEcb, key).expect("C_EncryptInit on A");
    let start = Instant::now();
    let r = b.generate_random_vec(16);
    let waited = start.elapsed();
    assert_eq!(err_of(r), RvError::FunctionFailed, "a busy pool answers CKR_FUNCTION_FAILED");
    assert!(waited >= Duration::from_millis(250), "waited {waited:?}, not the configured bound");
    // Bounded: the configured wait and 5 s of margin for a loaded machine.
    let bound = Duration::from_millis(WAIT_MS) + Duration::from_secs(5);
    assert!(waited < bound, "waited {waited:?}: the wait must be bounded");
    // A finishes; the pool is free again for everyone.
    a.encrypt_update(&[0u8; 16]).expect("C_EncryptUpdate on A");
    a.encrypt_final().expect("C_EncryptFinal on A");
    assert_eq!(b.generate_random_vec(16).expect("C_GenerateRandom on B").len(), 16);
}

#[test]
fn a_waiter_gets_the_session_as_soon_as_it_returns() {
    // A waiter left to its timeout would wait this long, then fail.
    const WAIT_MS: u64 = 60_000;
    const RELEASE_MS: u64 = 200;
    let t = with_pool_wait(WAIT_MS);
    let a = t.user_session();
    let key = gen_aes(&a, 32);
    a.encrypt_init(&Mechanism::AesEcb, key).expect("C_EncryptInit on A");
    let b = t.rw_session();
    std::thread::scope(|sc| {
        let waiter = sc.spawn(move || {
            let start = Instant::now();
            let r = b.generate_random_vec(16).map(|v| v.len());
            (r, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(RELEASE_MS));
        a.encrypt_update(&[0u8; 16]).expect("C_EncryptUpdate on A");
        a.encrypt_final().expect("C_EncryptFinal on A");
        let (r, waited) = waiter.join().expect("waiter thread");
        assert_eq!(r.expect("the waiter succeeds"), 16);
        // Woken when A returns (after RELEASE_MS), long before its own timeout: the
        // bound is the release and 5 s of margin for a loaded machine, a twelfth of
        // the configured wait.
        let bound = Duration::from_millis(RELEASE_MS) + Duration::from_secs(5);
        assert!(waited < bound, "woken promptly, waited {waited:?}");
    });
}

/// Closing SoftHSM2's last session logs it out and renumbers its handles; the
/// bridge's pool never closes, so front handles held by the application survive
/// the application closing all of its sessions.
#[test]
fn front_handles_survive_closing_every_session() {
    let t = Env::new(Target::Bridge);
    let s = t.user_session();
    let key = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::ValueLen(32.into()),
                Attribute::Label(b"stable".to_vec()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )
        .expect("generate a token key");
    let ct = s.encrypt(&Mechanism::AesEcb, key, &[7u8; 16]).expect("encrypt");
    drop(s); // the application's only session: every session is closed now
    let s = t.rw_session();
    s.login(UserType::User, Some(&t.user_auth())).expect("log in again");
    let found = find(
        &s,
        &[Attribute::Label(b"stable".to_vec()), Attribute::Class(ObjectClass::SECRET_KEY)],
    );
    assert_eq!(found, vec![key], "the same front handle for the same key");
    let pt = s.decrypt(&Mechanism::AesEcb, key, &ct).expect("decrypt with the old handle");
    assert_eq!(pt, [7u8; 16]);
}
