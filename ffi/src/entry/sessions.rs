//! Sessions and login.

use crate::convert::{input, put};
use crate::guard::{bad, guard};
use cryptoki_sys::*;
use kmsbridge_provider::state;
use std::ffi::c_void;

pub extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _app: *mut c_void,
    _notify: CK_NOTIFY,
    ph: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard("C_OpenSession", || {
        let p = state::get()?;
        if ph.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL session handle pointer"));
        }
        // Notification callbacks are never called: kmsbridge has no surrender events.
        let h = p.open_session(slot, flags)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ph, h) }
    })
}

pub extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_CloseSession", || state::get()?.close_session(h))
}

pub extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    guard("C_CloseAllSessions", || {
        state::get()?.close_all_sessions(slot)
    })
}

pub extern "C" fn C_GetSessionInfo(h: CK_SESSION_HANDLE, info: *mut CK_SESSION_INFO) -> CK_RV {
    guard("C_GetSessionInfo", || {
        let p = state::get()?;
        let i = p.session_info(h)?;
        // SAFETY: checked non-NULL by `put`.
        unsafe { put(info, i) }
    })
}

pub extern "C" fn C_GetOperationState(
    h: CK_SESSION_HANDLE,
    _state: *mut CK_BYTE,
    _len: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetOperationState", || {
        state::get()?.session(h)?;
        Err(bad(
            CKR_FUNCTION_NOT_SUPPORTED,
            "operation state cannot leave the backend",
        ))
    })
}

pub extern "C" fn C_SetOperationState(
    h: CK_SESSION_HANDLE,
    _state: *mut CK_BYTE,
    _len: CK_ULONG,
    _enc: CK_OBJECT_HANDLE,
    _auth: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_SetOperationState", || {
        state::get()?.session(h)?;
        Err(bad(
            CKR_FUNCTION_NOT_SUPPORTED,
            "operation state cannot leave the backend",
        ))
    })
}

pub extern "C" fn C_Login(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    guard("C_Login", || {
        let p = state::get()?;
        // SAFETY: the caller's PIN of `pin_len` bytes.
        let pin = unsafe { input(pin, pin_len) }?;
        p.login(h, user, pin)
    })
}

pub extern "C" fn C_LoginUser(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
    _name: *mut CK_UTF8CHAR,
    _name_len: CK_ULONG,
) -> CK_RV {
    guard("C_LoginUser", || {
        state::get()?.session(h)?;
        let _ = (user, pin, pin_len);
        // Named users arrive with application access points; until then, refuse.
        Err(bad(
            CKR_FUNCTION_NOT_SUPPORTED,
            "named users are not supported",
        ))
    })
}

pub extern "C" fn C_Logout(h: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_Logout", || state::get()?.logout(h))
}

pub extern "C" fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    guard("C_SessionCancel", || state::get()?.session_cancel(h, flags))
}
