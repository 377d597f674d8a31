//! Wrong user PINs through the module on a software instance: `CKR_PIN_INCORRECT` and
//! the `CKF_USER_PIN_COUNT_LOW` / `FINAL_TRY` / `LOCKED` flags along the way, then
//! `CKR_PIN_LOCKED` after the bound (10, store/src/lib.rs), also for the
//! right PIN and in a fresh process; the SO's `C_InitPIN` unlocks, and the keys made
//! before are still there and usable. Needs `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use cryptoki::error::RvError;
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{fingerprint, gen_token_aes, keys_by_label, round_trip};
use kmsbridge_testkit::module::Module;
use kmsbridge_tests::{Env, Target};

/// The documented bound of wrong PINs before a role locks.
const MAX_FAILURES: usize = 10;

/// (COUNT_LOW, FINAL_TRY, LOCKED) of the user PIN.
fn user_flags(t: &Env) -> (bool, bool, bool) {
    let i = t.ctx.get_token_info(t.slot).expect("C_GetTokenInfo");
    (i.user_pin_count_low(), i.user_pin_final_try(), i.user_pin_locked())
}

/// (COUNT_LOW, FINAL_TRY, LOCKED) of the SO PIN.
fn so_flags(t: &Env) -> (bool, bool, bool) {
    let i = t.ctx.get_token_info(t.slot).expect("C_GetTokenInfo");
    (i.so_pin_count_low(), i.so_pin_final_try(), i.so_pin_locked())
}

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.to_string().into())
}

fn login(s: &Session, who: UserType, p: &str) -> Result<(), RvError> {
    kmsbridge_testkit::codes::code_of(&s.login(who, Some(&pin(p))))
}

/// The child's part of the lockout test: a fresh process reads the flags and tries the
/// right PIN.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("probe") {
        return;
    }
    let m = Module::load();
    let info = m.ctx.get_token_info(m.slot).expect("C_GetTokenInfo");
    say(&format!("LOCKED {}", info.user_pin_locked()));
    let s = m.ctx.open_rw_session(m.slot).expect("C_OpenSession");
    let r = s.login(UserType::User, Some(&pin(&m.user_pin)));
    say(&format!("LOGIN {:?}", kmsbridge_testkit::codes::code_of(&r)));
}

#[test]
fn wrong_user_pins_lock_and_the_so_unlocks() {
    let t = Env::new(Target::Software);
    let wrong = format!("{}-wrong", t.user_pin);
    let s = t.rw_session();

    // A key made before all this, to find again after the unlock.
    s.login(UserType::User, Some(&t.user_auth())).expect("C_Login (user)");
    let key = gen_token_aes(&s, "before-the-lock", b"lock").expect("C_GenerateKey");
    let fp = fingerprint(&s, key);
    s.logout().expect("C_Logout");
    assert_eq!(user_flags(&t), (false, false, false), "a fresh token");

    // One wrong PIN: COUNT_LOW; the right one clears it.
    assert_eq!(login(&s, UserType::User, &wrong), Err(RvError::PinIncorrect));
    assert_eq!(user_flags(&t), (true, false, false), "after one wrong PIN");
    login(&s, UserType::User, &t.user_pin).expect("the right PIN after one wrong one");
    assert_eq!(user_flags(&t), (false, false, false), "a right PIN resets the count");

    // A wrong old PIN in C_SetPIN counts too; the right one resets.
    let r = s.set_pin(&pin(&wrong), &pin("new-pin-never-set"));
    assert_eq!(err_of(r), RvError::PinIncorrect, "C_SetPIN with a wrong old PIN");
    assert_eq!(user_flags(&t), (true, false, false), "after a wrong old PIN in C_SetPIN");
    s.set_pin(&t.user_auth(), &t.user_auth()).expect("C_SetPIN with the right old PIN");
    assert_eq!(user_flags(&t), (false, false, false), "C_SetPIN with the right PIN resets");
    s.logout().expect("C_Logout");

    // Up to the bound: INCORRECT every time, COUNT_LOW, then FINAL_TRY before the last.
    for n in 1..=MAX_FAILURES {
        assert_eq!(login(&s, UserType::User, &wrong), Err(RvError::PinIncorrect), "wrong PIN #{n}");
        let expect = match n {
            n if n < MAX_FAILURES - 1 => (true, false, false),
            n if n == MAX_FAILURES - 1 => (true, true, false),
            _ => (false, false, true),
        };
        assert_eq!(user_flags(&t), expect, "(COUNT_LOW, FINAL_TRY, LOCKED) after {n} wrong PINs");
    }
    // Locked: the right PIN and a wrong one both answer PIN_LOCKED, and nothing moves.
    assert_eq!(login(&s, UserType::User, &t.user_pin), Err(RvError::PinLocked), "right PIN");
    assert_eq!(login(&s, UserType::User, &wrong), Err(RvError::PinLocked), "wrong PIN");
    assert_eq!(user_flags(&t), (false, false, true));
    // C_SetPIN refuses too (a R/W public session may call it).
    assert_eq!(err_of(s.set_pin(&t.user_auth(), &pin("x-new-pin-x"))), RvError::PinLocked);

    // The lock is in the store, not in this process: a fresh one sees it.
    let (mut child, rx) = spawn("child", "probe", &[]);
    let timeout = Duration::from_secs(60);
    assert_eq!(wait_for(&rx, "LOCKED ", timeout), "true", "a fresh process sees the lock");
    assert_eq!(wait_for(&rx, "LOGIN ", timeout), "Err(PinLocked)", "a fresh process's login");
    assert!(wait_exit(&mut child, timeout).success());

    // The SO is not affected, and its own wrong PIN counts separately.
    assert_eq!(so_flags(&t), (false, false, false));
    assert_eq!(login(&s, UserType::So, &format!("{}-wrong", t.so_pin)), Err(RvError::PinIncorrect));
    assert_eq!(so_flags(&t), (true, false, false), "SO flags after one wrong SO PIN");
    assert_eq!(user_flags(&t), (false, false, true), "the user PIN is still locked");
    login(&s, UserType::So, &t.so_pin).expect("C_Login (SO)");
    assert_eq!(so_flags(&t), (false, false, false), "a right SO PIN resets the SO count");

    // C_InitPIN by the SO unlocks with a new PIN.
    let new_pin = format!("{}-reset", t.user_pin);
    s.init_pin(&pin(&new_pin)).expect("C_InitPIN");
    s.logout().expect("C_Logout (SO)");
    assert_eq!(user_flags(&t), (false, false, false), "C_InitPIN clears the lock");
    assert_eq!(login(&s, UserType::User, &t.user_pin), Err(RvError::PinIncorrect), "old PIN");
    assert_eq!(user_flags(&t), (true, false, false));
    login(&s, UserType::User, &new_pin).expect("C_Login with the PIN set by C_InitPIN");
    assert_eq!(user_flags(&t), (false, false, false));

    // The key made before the lock is still there, with the same value.
    let keys = keys_by_label(&s);
    let (h, id) = keys.get("before-the-lock").expect("the key made before the lock");
    assert_eq!(id, b"lock");
    assert_eq!(fingerprint(&s, *h), fp, "the same key value after C_InitPIN");
    round_trip(&s, *h, "before-the-lock");
}
