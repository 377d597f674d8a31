//! Library-wide functions: initialisation, info, interfaces.

use crate::guard::{bad, guard};
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

pub extern "C" fn C_Initialize(p_init_args: *mut c_void) -> CK_RV {
    guard("C_Initialize", || {
        check_init_args(p_init_args)?;
        state::initialize()
    })
}

pub extern "C" fn C_Finalize(p_reserved: *mut c_void) -> CK_RV {
    guard("C_Finalize", || {
        if !p_reserved.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "pReserved must be NULL"));
        }
        state::finalize()
    })
}

fn info(p: *mut CK_INFO, version: CK_VERSION) -> CK_RV {
    guard("C_GetInfo", || {
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
    })
}

pub extern "C" fn C_GetInfo_v2(p: *mut CK_INFO) -> CK_RV {
    info(
        p,
        CK_VERSION {
            major: 2,
            minor: 40,
        },
    )
}

pub extern "C" fn C_GetInfo_v3(p: *mut CK_INFO) -> CK_RV {
    info(p, CK_VERSION { major: 3, minor: 0 })
}

pub extern "C" fn C_GetFunctionList_entry(pp: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard("C_GetFunctionList", || {
        // SAFETY: checked non-NULL by `put`.
        unsafe { crate::convert::put(pp, tables::v2_list()) }
    })
}

pub extern "C" fn C_GetInterfaceList_entry(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    guard("C_GetInterfaceList", || {
        // SAFETY: the caller's list/count pointers, checked by `put_list`.
        unsafe { crate::convert::put_list(&tables::interfaces(), list, count) }
    })
}

pub extern "C" fn C_GetInterface_entry(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    pp: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    guard("C_GetInterface", || {
        if pp.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL interface pointer"));
        }
        if !name.is_null() {
            // SAFETY: a non-NULL name is a NUL-terminated string by the spec.
            let n = unsafe { std::ffi::CStr::from_ptr(name as *const std::ffi::c_char) };
            if n.to_bytes() != b"PKCS 11" {
                return Err(bad(CKR_ARGUMENTS_BAD, "no interface of that name"));
            }
        }
        let wanted = if version.is_null() {
            None
        } else {
            // SAFETY: non-NULL, a CK_VERSION by the spec.
            Some(unsafe { *version })
        };
        let found = tables::interface_for(wanted, flags).ok_or(bad(
            CKR_ARGUMENTS_BAD,
            "no interface of that version and flags",
        ))?;
        // SAFETY: checked non-NULL above.
        unsafe { *pp = found };
        Ok(())
    })
}

pub extern "C" fn C_GetFunctionStatus(_h: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_GetFunctionStatus", || {
        state::check()?;
        Err(bad(CKR_FUNCTION_NOT_PARALLEL, "legacy parallel functions"))
    })
}

pub extern "C" fn C_CancelFunction(_h: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_CancelFunction", || {
        state::check()?;
        Err(bad(CKR_FUNCTION_NOT_PARALLEL, "legacy parallel functions"))
    })
}

pub extern "C" fn C_WaitForSlotEvent(
    _flags: CK_FLAGS,
    _slot: *mut CK_SLOT_ID,
    _r: *mut c_void,
) -> CK_RV {
    guard("C_WaitForSlotEvent", || {
        state::check()?;
        // Instances never appear or vanish while the module is initialised.
        Err(bad(CKR_FUNCTION_NOT_SUPPORTED, "no slot events"))
    })
}
