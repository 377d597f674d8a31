//! The shim's entry points: one per function of the 2.40 list. Most only classify
//! the call and forward it; C_Initialize, C_Finalize, C_GetSlotList and the session
//! open/close calls also keep the shim's own state.

#![allow(non_snake_case)]

use crate::{guard, shim, Kind, Phase};
use cryptoki_sys::*;
use std::ffi::c_void;
use std::sync::atomic::Ordering;

/// Defines forwarding entry points: `field: kind => fn name(args);` where `kind`
/// (a `Kind`, which may use the arguments) says which faults apply.
macro_rules! forward {
    ($( $field:ident : $kind:expr => fn ($($a:ident : $t:ty),* $(,)?); )*) => {
        $(
            unsafe extern "C" fn $field($($a: $t),*) -> CK_RV {
                guard(|| {
                    let shim = shim()?;
                    let f = shim.target.$field.ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
                    shim.run($kind, || {
                        // SAFETY: the caller's arguments go unchanged to the target's
                        // implementation of the same function, under the same contract.
                        unsafe { f($($a),*) }
                    })
                })
            }
        )*
    };
}

fn crypto(h: CK_SESSION_HANDLE, phase: Phase) -> Kind {
    Kind::Crypto(h, phase)
}

fn end(h: CK_SESSION_HANDLE, out: *const CK_BYTE) -> Kind {
    Kind::Crypto(
        h,
        Phase::End {
            query: out.is_null(),
        },
    )
}

forward! {
    C_GetInfo: Kind::Plain => fn (info: *mut CK_INFO);
    C_GetSlotInfo: Kind::Slot(slot) => fn (slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO);
    C_GetTokenInfo: Kind::Slot(slot) => fn (slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO);
    C_GetMechanismList: Kind::Slot(slot) =>
        fn (slot: CK_SLOT_ID, list: *mut CK_MECHANISM_TYPE, count: *mut CK_ULONG);
    C_GetMechanismInfo: Kind::Slot(slot) =>
        fn (slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE, info: *mut CK_MECHANISM_INFO);
    C_InitToken: Kind::Slot(slot) =>
        fn (slot: CK_SLOT_ID, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, label: *mut CK_UTF8CHAR);
    C_InitPIN: Kind::Session(h) => fn (h: CK_SESSION_HANDLE, pin: *mut CK_UTF8CHAR, len: CK_ULONG);
    C_SetPIN: Kind::Session(h) => fn (
        h: CK_SESSION_HANDLE, old: *mut CK_UTF8CHAR, old_len: CK_ULONG,
        new: *mut CK_UTF8CHAR, new_len: CK_ULONG,
    );
    C_GetSessionInfo: Kind::Session(h) => fn (h: CK_SESSION_HANDLE, info: *mut CK_SESSION_INFO);
    C_GetOperationState: Kind::Session(h) =>
        fn (h: CK_SESSION_HANDLE, state: *mut CK_BYTE, len: *mut CK_ULONG);
    C_SetOperationState: Kind::Session(h) => fn (
        h: CK_SESSION_HANDLE, state: *mut CK_BYTE, len: CK_ULONG,
        enc_key: CK_OBJECT_HANDLE, auth_key: CK_OBJECT_HANDLE,
    );
    C_Login: Kind::Session(h) =>
        fn (h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, len: CK_ULONG);
    C_Logout: Kind::Session(h) => fn (h: CK_SESSION_HANDLE);
    C_CreateObject: Kind::Session(h) => fn (
        h: CK_SESSION_HANDLE, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG, obj: *mut CK_OBJECT_HANDLE,
    );
    C_CopyObject: Kind::Session(h) => fn (
        h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG,
        new: *mut CK_OBJECT_HANDLE,
    );
    C_DestroyObject: Kind::Session(h) => fn (h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE);
    C_GetObjectSize: Kind::Session(h) =>
        fn (h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, size: *mut CK_ULONG);
    C_GetAttributeValue: Kind::Read(h) =>
        fn (h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG);
    C_SetAttributeValue: Kind::Session(h) =>
        fn (h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG);
    C_FindObjectsInit: Kind::Find(h) =>
        fn (h: CK_SESSION_HANDLE, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG);
    C_FindObjects: Kind::Session(h) => fn (
        h: CK_SESSION_HANDLE, objs: *mut CK_OBJECT_HANDLE, max: CK_ULONG, count: *mut CK_ULONG,
    );
    C_FindObjectsFinal: Kind::Session(h) => fn (h: CK_SESSION_HANDLE);

    C_EncryptInit: crypto(h, Phase::Init) =>
        fn (h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    C_Encrypt: end(h, out) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_EncryptUpdate: crypto(h, Phase::Step) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_EncryptFinal: end(h, out) =>
        fn (h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG);
    C_DecryptInit: crypto(h, Phase::Init) =>
        fn (h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    C_Decrypt: end(h, out) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_DecryptUpdate: crypto(h, Phase::Step) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_DecryptFinal: end(h, out) =>
        fn (h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG);

    C_DigestInit: Kind::Session(h) => fn (h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM);
    C_Digest: Kind::Session(h) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_DigestUpdate: Kind::Session(h) => fn (h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG);
    C_DigestKey: Kind::Session(h) => fn (h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE);
    C_DigestFinal: Kind::Session(h) =>
        fn (h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG);

    C_SignInit: crypto(h, Phase::Init) =>
        fn (h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    C_Sign: end(h, out) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_SignUpdate: crypto(h, Phase::Step) => fn (h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG);
    C_SignFinal: end(h, out) => fn (h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG);
    C_SignRecoverInit: crypto(h, Phase::Init) =>
        fn (h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    C_SignRecover: end(h, out) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_VerifyInit: crypto(h, Phase::Init) =>
        fn (h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    C_Verify: end(h, sig) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, sig: *mut CK_BYTE,
        sig_len: CK_ULONG,
    );
    C_VerifyUpdate: crypto(h, Phase::Step) =>
        fn (h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG);
    C_VerifyFinal: end(h, sig) => fn (h: CK_SESSION_HANDLE, sig: *mut CK_BYTE, sig_len: CK_ULONG);
    C_VerifyRecoverInit: crypto(h, Phase::Init) =>
        fn (h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    C_VerifyRecover: end(h, out) => fn (
        h: CK_SESSION_HANDLE, sig: *mut CK_BYTE, sig_len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_DigestEncryptUpdate: crypto(h, Phase::Step) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_DecryptDigestUpdate: crypto(h, Phase::Step) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_SignEncryptUpdate: crypto(h, Phase::Step) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );
    C_DecryptVerifyUpdate: crypto(h, Phase::Step) => fn (
        h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    );

    C_GenerateKey: crypto(h, Phase::Key) => fn (
        h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG,
        key: *mut CK_OBJECT_HANDLE,
    );
    C_GenerateKeyPair: crypto(h, Phase::Key) => fn (
        h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, pub_tmpl: *mut CK_ATTRIBUTE,
        pub_n: CK_ULONG, priv_tmpl: *mut CK_ATTRIBUTE, priv_n: CK_ULONG,
        pub_key: *mut CK_OBJECT_HANDLE, priv_key: *mut CK_OBJECT_HANDLE,
    );
    C_WrapKey: crypto(h, Phase::Key) => fn (
        h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG,
    );
    C_UnwrapKey: crypto(h, Phase::Key) => fn (
        h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, unwrapping: CK_OBJECT_HANDLE,
        wrapped: *mut CK_BYTE, wrapped_len: CK_ULONG, tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG,
        key: *mut CK_OBJECT_HANDLE,
    );
    C_DeriveKey: crypto(h, Phase::Key) => fn (
        h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM, base: CK_OBJECT_HANDLE,
        tmpl: *mut CK_ATTRIBUTE, n: CK_ULONG, key: *mut CK_OBJECT_HANDLE,
    );

    C_SeedRandom: Kind::Session(h) => fn (h: CK_SESSION_HANDLE, seed: *mut CK_BYTE, len: CK_ULONG);
    C_GenerateRandom: Kind::Session(h) =>
        fn (h: CK_SESSION_HANDLE, out: *mut CK_BYTE, len: CK_ULONG);
    C_GetFunctionStatus: Kind::Session(h) => fn (h: CK_SESSION_HANDLE);
    C_CancelFunction: Kind::Session(h) => fn (h: CK_SESSION_HANDLE);
    C_WaitForSlotEvent: Kind::Plain =>
        fn (flags: CK_FLAGS, slot: *mut CK_SLOT_ID, reserved: *mut c_void);
}

/// Initialises the target; with `shared_target`, another shim having done so
/// already counts as success. Answers CKR_DEVICE_REMOVED while the node is down.
unsafe extern "C" fn C_Initialize(args: *mut c_void) -> CK_RV {
    guard(|| {
        let shim = shim()?;
        shim.refresh();
        shim.wait_while_hung();
        if shim.control.down.load(Ordering::Acquire) {
            return Err(CKR_DEVICE_REMOVED);
        }
        if shim.initialized.load(Ordering::Acquire) {
            return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
        }
        let f = shim.target.C_Initialize.ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        let _one_at_a_time = shim.target_lock();
        // SAFETY: the caller's arguments go unchanged to the target's C_Initialize.
        let mut rv = unsafe { f(args) };
        if rv == CKR_CRYPTOKI_ALREADY_INITIALIZED
            && shim.control.shared_target.load(Ordering::Relaxed)
        {
            rv = CKR_OK;
        }
        if rv == CKR_OK {
            shim.initialized.store(true, Ordering::Release);
        }
        Ok(rv)
    })
}

/// Never faulted. Finalises the target, or with `shared_target` only closes this
/// shim's sessions on it (other shims may still use it).
unsafe extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    guard(|| {
        let shim = shim()?;
        if !reserved.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        if !shim.initialized.swap(false, Ordering::AcqRel) {
            return Err(CKR_CRYPTOKI_NOT_INITIALIZED);
        }
        let open = shim.untrack_all();
        if shim.control.shared_target.load(Ordering::Relaxed) {
            shim.close_on_target(open.into_iter());
            return Ok(CKR_OK);
        }
        let f = shim.target.C_Finalize.ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        let _one_at_a_time = shim.target_lock();
        // SAFETY: `reserved` is NULL, as C_Finalize requires.
        Ok(unsafe { f(reserved) })
    })
}

/// With `token_label`, lists only the slot(s) holding that token.
unsafe extern "C" fn C_GetSlotList(
    present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let shim = shim()?;
        let f = shim
            .target
            .C_GetSlotList
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        shim.run(Kind::Plain, || {
            let Some(want) = shim.control.label() else {
                // SAFETY: the caller's arguments go unchanged to the target.
                return unsafe { f(present, list, count) };
            };
            if count.is_null() {
                return CKR_ARGUMENTS_BAD;
            }
            let mine: Vec<CK_SLOT_ID> = match shim.target_slots(present) {
                Ok(all) => all
                    .into_iter()
                    .filter(|s| shim.slot_label(*s).as_deref() == Some(want.as_str()))
                    .collect(),
                Err(rv) => return rv,
            };
            // SAFETY: `count` is non-NULL (checked) and points to a CK_ULONG.
            let room = unsafe { *count } as usize;
            // SAFETY: as above.
            unsafe { *count = mine.len() as CK_ULONG };
            if list.is_null() {
                return CKR_OK;
            }
            if room < mine.len() {
                return CKR_BUFFER_TOO_SMALL;
            }
            // SAFETY: `list` has room for `room` >= mine.len() slot ids (the caller's
            // contract for a non-NULL list), and cannot overlap our vector.
            unsafe { std::ptr::copy_nonoverlapping(mine.as_ptr(), list, mine.len()) };
            CKR_OK
        })
    })
}

unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    app: *mut c_void,
    notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard(|| {
        let shim = shim()?;
        let f = shim
            .target
            .C_OpenSession
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        // SAFETY: the caller's arguments go unchanged to the target.
        let rv = shim.run(Kind::Slot(slot), || unsafe {
            f(slot, flags, app, notify, session)
        })?;
        if rv == CKR_OK && !session.is_null() {
            // SAFETY: on success the target wrote the new handle to `session`.
            shim.track(unsafe { *session }, slot);
        }
        Ok(rv)
    })
}

/// A session lost when the node went down answers CKR_SESSION_HANDLE_INVALID.
unsafe extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let shim = shim()?;
        let f = shim
            .target
            .C_CloseSession
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        // SAFETY: the caller's argument goes unchanged to the target.
        let rv = shim.run(Kind::Session(h), || unsafe { f(h) })?;
        if rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID {
            shim.untrack(h);
        }
        Ok(rv)
    })
}

unsafe extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    guard(|| {
        let shim = shim()?;
        let f = shim
            .target
            .C_CloseAllSessions
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        // SAFETY: the caller's argument goes unchanged to the target.
        let rv = shim.run(Kind::Slot(slot), || unsafe { f(slot) })?;
        if rv == CKR_OK {
            shim.untrack_slot(slot);
        }
        Ok(rv)
    })
}

/// The shim's function list, reporting the target's version.
pub(crate) fn function_list(version: CK_VERSION) -> CK_FUNCTION_LIST {
    CK_FUNCTION_LIST {
        version,
        C_Initialize: Some(C_Initialize),
        C_Finalize: Some(C_Finalize),
        C_GetInfo: Some(C_GetInfo),
        C_GetFunctionList: Some(crate::C_GetFunctionList),
        C_GetSlotList: Some(C_GetSlotList),
        C_GetSlotInfo: Some(C_GetSlotInfo),
        C_GetTokenInfo: Some(C_GetTokenInfo),
        C_GetMechanismList: Some(C_GetMechanismList),
        C_GetMechanismInfo: Some(C_GetMechanismInfo),
        C_InitToken: Some(C_InitToken),
        C_InitPIN: Some(C_InitPIN),
        C_SetPIN: Some(C_SetPIN),
        C_OpenSession: Some(C_OpenSession),
        C_CloseSession: Some(C_CloseSession),
        C_CloseAllSessions: Some(C_CloseAllSessions),
        C_GetSessionInfo: Some(C_GetSessionInfo),
        C_GetOperationState: Some(C_GetOperationState),
        C_SetOperationState: Some(C_SetOperationState),
        C_Login: Some(C_Login),
        C_Logout: Some(C_Logout),
        C_CreateObject: Some(C_CreateObject),
        C_CopyObject: Some(C_CopyObject),
        C_DestroyObject: Some(C_DestroyObject),
        C_GetObjectSize: Some(C_GetObjectSize),
        C_GetAttributeValue: Some(C_GetAttributeValue),
        C_SetAttributeValue: Some(C_SetAttributeValue),
        C_FindObjectsInit: Some(C_FindObjectsInit),
        C_FindObjects: Some(C_FindObjects),
        C_FindObjectsFinal: Some(C_FindObjectsFinal),
        C_EncryptInit: Some(C_EncryptInit),
        C_Encrypt: Some(C_Encrypt),
        C_EncryptUpdate: Some(C_EncryptUpdate),
        C_EncryptFinal: Some(C_EncryptFinal),
        C_DecryptInit: Some(C_DecryptInit),
        C_Decrypt: Some(C_Decrypt),
        C_DecryptUpdate: Some(C_DecryptUpdate),
        C_DecryptFinal: Some(C_DecryptFinal),
        C_DigestInit: Some(C_DigestInit),
        C_Digest: Some(C_Digest),
        C_DigestUpdate: Some(C_DigestUpdate),
        C_DigestKey: Some(C_DigestKey),
        C_DigestFinal: Some(C_DigestFinal),
        C_SignInit: Some(C_SignInit),
        C_Sign: Some(C_Sign),
        C_SignUpdate: Some(C_SignUpdate),
        C_SignFinal: Some(C_SignFinal),
        C_SignRecoverInit: Some(C_SignRecoverInit),
        C_SignRecover: Some(C_SignRecover),
        C_VerifyInit: Some(C_VerifyInit),
        C_Verify: Some(C_Verify),
        C_VerifyUpdate: Some(C_VerifyUpdate),
        C_VerifyFinal: Some(C_VerifyFinal),
        C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
        C_VerifyRecover: Some(C_VerifyRecover),
        C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
        C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
        C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
        C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
        C_GenerateKey: Some(C_GenerateKey),
        C_GenerateKeyPair: Some(C_GenerateKeyPair),
        C_WrapKey: Some(C_WrapKey),
        C_UnwrapKey: Some(C_UnwrapKey),
        C_DeriveKey: Some(C_DeriveKey),
        C_SeedRandom: Some(C_SeedRandom),
        C_GenerateRandom: Some(C_GenerateRandom),
        C_GetFunctionStatus: Some(C_GetFunctionStatus),
        C_CancelFunction: Some(C_CancelFunction),
        C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
    }
}
