//! Sessions, login/logout, PINs and the SO role.

use crate::deviation::LOGOUT_NOT_LOGGED_IN;
use crate::env::Env;
use crate::raw::rv;
use cryptoki::error::{Rv, RvError};
use cryptoki::session::{SessionState, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use kmsbridge_testkit::codes::{code_of, err_of};

/// Opening and closing sessions; closed handles become invalid; C_CloseAllSessions.
pub fn open_close_sessions(t: &Env) {
    let ro = t.ro_session();
    let rw = t.rw_session();
    assert_ne!(ro.handle(), rw.handle(), "two sessions share a handle");
    let i = ro.get_session_info().expect("C_GetSessionInfo (RO)");
    assert_eq!(i.slot_id(), t.slot);
    assert!(!i.read_write());
    assert_eq!(i.session_state(), SessionState::RoPublic);
    let i = rw.get_session_info().expect("C_GetSessionInfo (RW)");
    assert!(i.read_write());
    assert_eq!(i.session_state(), SessionState::RwPublic);

    let rw_handle = rw.handle();
    rw.close().expect("C_CloseSession");
    let mut info = CK_SESSION_INFO::default();
    let code = crate::ck!(t, C_GetSessionInfo, rw_handle, &mut info);
    assert_eq!(code, rv(CKR_SESSION_HANDLE_INVALID), "closed session");
    let code = crate::ck!(t, C_CloseSession, rw_handle);
    assert_eq!(code, rv(CKR_SESSION_HANDLE_INVALID), "closing twice");

    let ro_handle = ro.handle();
    let extra = t.rw_session();
    let extra_handle = extra.handle();
    assert_eq!(crate::ck!(t, C_CloseAllSessions, t.slot.id()), Rv::Ok);
    for h in [ro_handle, extra_handle] {
        let code = crate::ck!(t, C_GetSessionInfo, h, &mut info);
        assert_eq!(code, rv(CKR_SESSION_HANDLE_INVALID), "after C_CloseAllSessions");
    }
    std::mem::forget((ro, extra)); // already closed
    let again = t.rw_session();
    again.get_session_info().expect("a new session after C_CloseAllSessions");
}

/// Login state is per token: every session moves to the user states and back.
pub fn session_state_login_logout(t: &Env) {
    let ro = t.ro_session();
    let rw = t.rw_session();
    let early = code_of(&rw.logout());
    let dev = &LOGOUT_NOT_LOGGED_IN;
    t.expect_spec("C_Logout before login", early, Err(RvError::UserNotLoggedIn), dev, Ok(()));
    rw.login(UserType::User, Some(&t.user_auth())).expect("C_Login");
    let state = |s: &cryptoki::session::Session| s.get_session_info().unwrap().session_state();
    assert_eq!(state(&ro), SessionState::RoUser);
    assert_eq!(state(&rw), SessionState::RwUser);
    let late = t.ro_session();
    assert_eq!(state(&late), SessionState::RoUser, "a session opened after login");
    ro.logout().expect("C_Logout from another session");
    assert_eq!(state(&rw), SessionState::RwPublic);
    assert_eq!(state(&late), SessionState::RoPublic);
    let twice = code_of(&rw.logout());
    t.expect_spec("C_Logout twice", twice, Err(RvError::UserNotLoggedIn), dev, Ok(()));
}

/// A second C_Login of the same user answers CKR_USER_ALREADY_LOGGED_IN.
pub fn user_already_logged_in(t: &Env) {
    let a = t.user_session();
    let b = t.rw_session();
    let again = b.login(UserType::User, Some(&t.user_auth()));
    assert_eq!(err_of(again), RvError::UserAlreadyLoggedIn);
    let so = b.login(UserType::So, Some(&t.so_auth()));
    assert_eq!(err_of(so), RvError::UserAnotherAlreadyLoggedIn, "SO login while user is in");
    assert_eq!(a.get_session_info().unwrap().session_state(), SessionState::RwUser);
}

/// A wrong PIN answers CKR_PIN_INCORRECT and leaves the session public; the right one works.
pub fn wrong_pin(t: &Env) {
    let s = t.rw_session();
    let wrong = AuthPin::new(format!("{}x", t.user_pin).into());
    assert_eq!(err_of(s.login(UserType::User, Some(&wrong))), RvError::PinIncorrect);
    assert_eq!(s.get_session_info().unwrap().session_state(), SessionState::RwPublic);
    let wrong_so = AuthPin::new(format!("{}x", t.so_pin).into());
    assert_eq!(err_of(s.login(UserType::So, Some(&wrong_so))), RvError::PinIncorrect);
    s.login(UserType::User, Some(&t.user_auth()))
        .expect("C_Login with the right PIN after a wrong one");
    let info = t.ctx.get_token_info(t.slot).expect("C_GetTokenInfo");
    assert!(!info.user_pin_locked(), "one wrong PIN locked the user PIN");
}

/// SO login (refused while a R/O session exists), C_InitPIN, then the new user PIN works.
pub fn so_login_and_init_pin(t: &Env) {
    let ro = t.ro_session();
    let rw = t.rw_session();
    let refused = rw.login(UserType::So, Some(&t.so_auth()));
    assert_eq!(err_of(refused), RvError::SessionReadOnlyExists, "SO login with a R/O session");
    drop(ro);
    rw.login(UserType::So, Some(&t.so_auth())).expect("C_Login (SO)");
    assert_eq!(rw.get_session_info().unwrap().session_state(), SessionState::RwSecurityOfficer);
    assert_eq!(
        err_of(t.ctx.open_ro_session(t.slot)),
        RvError::SessionReadWriteSoExists,
        "R/O session while the SO is logged in"
    );
    let new_pin = format!("{}-new", t.user_pin);
    rw.init_pin(&AuthPin::new(new_pin.clone().into())).expect("C_InitPIN");
    rw.logout().expect("C_Logout (SO)");
    let old = rw.login(UserType::User, Some(&t.user_auth()));
    assert_eq!(err_of(old), RvError::PinIncorrect, "the old user PIN after C_InitPIN");
    rw.login(UserType::User, Some(&AuthPin::new(new_pin.into())))
        .expect("C_Login with the PIN set by C_InitPIN");
    assert_eq!(rw.get_session_info().unwrap().session_state(), SessionState::RwUser);
    let code = crate::ck!(t, C_InitPIN, rw.handle(), b"123456".as_ptr() as *mut _, 6);
    assert_eq!(code, rv(CKR_USER_NOT_LOGGED_IN), "C_InitPIN by the user");
}
