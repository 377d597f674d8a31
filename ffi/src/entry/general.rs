//! Library-wide functions: initialisation, info, interfaces.

use crate::guard::bad;
use crate::tables;
use cryptoki_sys::*;
use kmsbridge_provider::api::{LIBRARY_VERSION, MANUFACTURER};
use kmsbridge_provider::{state, Result};
use std::ffi::c_void;

fn check_init_args(p: *mut c_void) -> Result<()> {
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: a non-NULL pInitArgs points to CK_C_INITIALIZE_ARGS by the spec.
    let a = unsafe { &*(p as *const CK_C_INITIALIZE_ARGS) };
    if !a.pReserved.is_null() {
        return Err(bad(CKR_ARGUMENTS_BAD, "pReserved must be NULL"));
    }
    let given = [
        a.CreateMutex.is_some(),
        a.DestroyMutex.is_some(),
        a.LockMutex.is_some(),
        a.UnlockMutex.is_some(),
    ];
    if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
        return Err(bad(
            CKR_ARGUMENTS_BAD,
            "mutex callbacks must be all set or all NULL",
        ));
    }
    if given[0] && a.flags & CKF_OS_LOCKING_OK == 0 {
        // We lock with the OS's primitives only; we cannot lock with the application's.
        return Err(bad(
            CKR_CANT_LOCK,
            "application mutexes without CKF_OS_LOCKING_OK",
        ));
    }
    // CKF_LIBRARY_CANT_CREATE_OS_THREADS needs nothing: the module starts no threads.
    Ok(())
}

/// C_GetInfo's answer, with the version of the table it was reached through.
fn info(p: *mut CK_INFO, version: CK_VERSION) -> Result<()> {
    state::check()?;
    let info = CK_INFO {
        cryptokiVersion: version,
        manufacturerID: kmsbridge_provider::api::pad(MANUFACTURER),
        flags: 0,
        libraryDescription: kmsbridge_provider::api::pad("kmsbridge KMS PKCS#11 provider"),
        libraryVersion: LIBRARY_VERSION,
    };
    // SAFETY: the caller's CK_INFO pointer, checked non-NULL by `put`.
    unsafe { crate::convert::put(p, info) }
}

/// C_GetInfo of the 2.40 table.
pub mod v2 {
    use cryptoki_sys::*;

    shells! {
        fn C_GetInfo(pInfo: *mut CK_INFO) {
            super::info(
                pInfo,
                CK_VERSION {
                    major: 2,
                    minor: 40,
                },
            )
        }
    }
}

/// C_GetInfo of the 3.0 table.
pub mod v3 {
    use cryptoki_sys::*;

    shells! {
        fn C_GetInfo(pInfo: *mut CK_INFO) {
            super::info(pInfo, CK_VERSION { major: 3, minor: 0 })
        }
    }
}

shells! {
    fn C_Initialize(pInitArgs: *mut c_void) {
        check_init_args(pInitArgs)?;
        state::initialize()
    }

    fn C_Finalize(pReserved: *mut c_void) {
        if !pReserved.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "pReserved must be NULL"));
        }
        state::finalize()
    }

    fn C_GetFunctionList(ppFunctionList: *mut *mut CK_FUNCTION_LIST) {
        // SAFETY: checked non-NULL by `put`.
        unsafe { crate::convert::put(ppFunctionList, tables::v2_list()) }
    }

    fn C_GetInterfaceList(pInterfacesList: *mut CK_INTERFACE, pulCount: *mut CK_ULONG) {
        // SAFETY: the caller's list/count pointers, checked by `put_list`.
        unsafe { crate::convert::put_list(&tables::interfaces(), pInterfacesList, pulCount) }
    }

    fn C_GetInterface(
        pInterfaceName: *mut CK_UTF8CHAR,
        pVersion: *mut CK_VERSION,
        ppInterface: *mut *mut CK_INTERFACE,
        flags: CK_FLAGS,
    ) {
        if ppInterface.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL interface pointer"));
        }
        if !pInterfaceName.is_null() {
            // SAFETY: a non-NULL name is a NUL-terminated string by the spec.
            let n = unsafe { std::ffi::CStr::from_ptr(pInterfaceName as *const std::ffi::c_char) };
            if n.to_bytes() != b"PKCS 11" {
                return Err(bad(CKR_ARGUMENTS_BAD, "no interface of that name"));
            }
        }
        let wanted = if pVersion.is_null() {
            None
        } else {
            // SAFETY: non-NULL, a CK_VERSION by the spec.
            Some(unsafe { *pVersion })
        };
        let found = tables::interface_for(wanted, flags).ok_or(bad(
            CKR_ARGUMENTS_BAD,
            "no interface of that version and flags",
        ))?;
        // SAFETY: checked non-NULL above.
        unsafe { *ppInterface = found };
        Ok(())
    }

    fn C_GetFunctionStatus(hSession: CK_SESSION_HANDLE) {
        // Legacy: no function ever runs in parallel, whatever the session.
        let _ = hSession;
        state::check()?;
        Err(bad(CKR_FUNCTION_NOT_PARALLEL, "legacy parallel functions"))
    }

    fn C_CancelFunction(hSession: CK_SESSION_HANDLE) {
        let _ = hSession;
        state::check()?;
        Err(bad(CKR_FUNCTION_NOT_PARALLEL, "legacy parallel functions"))
    }

    fn C_WaitForSlotEvent(flags: CK_FLAGS, pSlot: *mut CK_SLOT_ID, pRserved: *mut c_void) {
        // `pRserved` is the specification's own spelling.
        let _ = (flags, pSlot, pRserved);
        state::check()?;
        // Instances never appear or vanish while the module is initialised.
        Err(bad(CKR_FUNCTION_NOT_SUPPORTED, "no slot events"))
    }
}
