//! Sessions and login.

use crate::convert::{input, put};
use crate::guard::bad;
use cryptoki_sys::*;
use kmsbridge_provider::state;
use std::ffi::c_void;

shells! {
    fn C_OpenSession(
        slotID: CK_SLOT_ID,
        flags: CK_FLAGS,
        pApplication: *mut c_void,
        Notify: CK_NOTIFY,
        phSession: *mut CK_SESSION_HANDLE,
    ) {
        // Notification callbacks are never called: kmsbridge has no surrender events.
        let _ = (pApplication, Notify);
        let p = state::get()?;
        if phSession.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL session handle pointer"));
        }
        let session = p.open_session(slotID, flags)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(phSession, session) }
    }

    fn C_CloseSession(hSession: CK_SESSION_HANDLE) {
        state::get()?.close_session(hSession)
    }

    fn C_CloseAllSessions(slotID: CK_SLOT_ID) {
        state::get()?.close_all_sessions(slotID)
    }

    fn C_GetSessionInfo(hSession: CK_SESSION_HANDLE, pInfo: *mut CK_SESSION_INFO) {
        let p = state::get()?;
        let info = p.session_info(hSession)?;
        // SAFETY: checked non-NULL by `put`.
        unsafe { put(pInfo, info) }
    }

    fn C_GetOperationState(
        hSession: CK_SESSION_HANDLE,
        pOperationState: *mut CK_BYTE,
        pulOperationStateLen: *mut CK_ULONG,
    ) {
        let _ = (pOperationState, pulOperationStateLen);
        state::get()?.session(hSession)?;
        Err(bad(
            CKR_FUNCTION_NOT_SUPPORTED,
            "operation state cannot leave the backend",
        ))
    }

    fn C_SetOperationState(
        hSession: CK_SESSION_HANDLE,
        pOperationState: *mut CK_BYTE,
        ulOperationStateLen: CK_ULONG,
        hEncryptionKey: CK_OBJECT_HANDLE,
        hAuthenticationKey: CK_OBJECT_HANDLE,
    ) {
        let _ = (
            pOperationState,
            ulOperationStateLen,
            hEncryptionKey,
            hAuthenticationKey,
        );
        state::get()?.session(hSession)?;
        Err(bad(
            CKR_FUNCTION_NOT_SUPPORTED,
            "operation state cannot leave the backend",
        ))
    }

    fn C_Login(
        hSession: CK_SESSION_HANDLE,
        userType: CK_USER_TYPE,
        pPin: *mut CK_UTF8CHAR,
        ulPinLen: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's PIN of `ulPinLen` bytes.
        let pin = unsafe { input(pPin, ulPinLen) }?;
        p.login(hSession, userType, pin)
    }

    fn C_LoginUser(
        hSession: CK_SESSION_HANDLE,
        userType: CK_USER_TYPE,
        pPin: *mut CK_UTF8CHAR,
        ulPinLen: CK_ULONG,
        pUsername: *mut CK_UTF8CHAR,
        ulUsernameLen: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's PIN of `ulPinLen` bytes.
        let pin = unsafe { input(pPin, ulPinLen) }?;
        // SAFETY: the caller's user name of `ulUsernameLen` bytes.
        let username = unsafe { input(pUsername, ulUsernameLen) }?;
        // A named user is an access point (docs/ACCESS.md).
        p.login_user(hSession, userType, pin, username)
    }

    fn C_Logout(hSession: CK_SESSION_HANDLE) {
        state::get()?.logout(hSession)
    }

    fn C_SessionCancel(hSession: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        state::get()?.session_cancel(hSession, flags)
    }
}
