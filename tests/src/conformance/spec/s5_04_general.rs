//! PKCS#11 3.0 section 5.4, general-purpose functions: C_Initialize, C_Finalize,
//! C_GetInfo, C_GetFunctionList. The rows that finalize come last and initialize again.

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.4", title: "General-purpose functions", rows };

fn init_args(flags: CK_FLAGS) -> CK_C_INITIALIZE_ARGS {
    CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags,
        pReserved: null_mut(),
    }
}

fn reinit(f: &Fx) -> CK_RV {
    let mut a = init_args(CKF_OS_LOCKING_OK);
    p11!(f.t, C_Initialize, &mut a as *mut _ as *mut _)
}

unsafe extern "C" fn create_mutex(_: *mut *mut std::ffi::c_void) -> CK_RV {
    CKR_OK
}

fn rows() -> Rows {
    let mut r = Rows::default();
    r.add("C_GetInfo", "NULL pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_GetInfo, null_mut())
    });
    r.add("C_GetInfo", "version 2.x or 3.x", &[CKR_OK], |f, _| {
        let mut i = CK_INFO::default();
        let code = p11!(f.t, C_GetInfo, &mut i);
        if code == CKR_OK && !(2..=3).contains(&i.cryptokiVersion.major) {
            return super::WRONG;
        }
        code
    });
    r.add("C_GetInfo", "padded, not NUL-terminated strings", &[CKR_OK], |f, _| {
        let mut i = CK_INFO::default();
        let code = p11!(f.t, C_GetInfo, &mut i);
        if i.manufacturerID.contains(&0) || i.libraryDescription.contains(&0) {
            return super::WRONG;
        }
        code
    });
    r.add("C_GetFunctionList", "NULL pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_GetFunctionList, null_mut())
    });
    r.add("C_GetFunctionList", "the same table again", &[CKR_OK], |f, _| {
        let mut l: CK_FUNCTION_LIST_PTR = null_mut();
        let code = p11!(f.t, C_GetFunctionList, &mut l);
        if l.is_null() {
            return super::WRONG;
        }
        code
    });
    r.add("C_Initialize", "twice", &[CKR_CRYPTOKI_ALREADY_INITIALIZED], |f, _| reinit(f));
    r.add("C_Initialize", "twice, NULL arguments", &[CKR_CRYPTOKI_ALREADY_INITIALIZED], |f, _| {
        p11!(f.t, C_Initialize, null_mut())
    });
    r.add(
        "C_Initialize",
        "pReserved not NULL",
        &[CKR_ARGUMENTS_BAD, CKR_CRYPTOKI_ALREADY_INITIALIZED],
        |f, _| {
            let mut a = init_args(CKF_OS_LOCKING_OK);
            a.pReserved = std::ptr::dangling_mut();
            p11!(f.t, C_Initialize, &mut a as *mut _ as *mut _)
        },
    );
    r.add(
        "C_Initialize",
        "some but not all mutex functions",
        &[CKR_ARGUMENTS_BAD, CKR_CRYPTOKI_ALREADY_INITIALIZED],
        |f, _| {
            let mut a = init_args(0);
            a.CreateMutex = Some(create_mutex);
            p11!(f.t, C_Initialize, &mut a as *mut _ as *mut _)
        },
    );
    r.add("C_Finalize", "pReserved not NULL", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_Finalize, std::ptr::dangling_mut())
    });
    // From here on each row finalizes, calls, and initializes again.
    fn after_finalize(r: &mut Rows, func: &'static str, call: fn(&Fx) -> CK_RV) {
        r.add(func, "after C_Finalize", &[CKR_CRYPTOKI_NOT_INITIALIZED], move |f, _| {
            let _ = p11!(f.t, C_Finalize, null_mut());
            let code = call(f);
            if reinit(f) != CKR_OK {
                return super::WRONG;
            }
            code
        });
    }
    after_finalize(&mut r, "C_GetInfo", |f| p11!(f.t, C_GetInfo, &mut CK_INFO::default()));
    after_finalize(&mut r, "C_Finalize", |f| p11!(f.t, C_Finalize, null_mut()));
    after_finalize(&mut r, "C_GetSlotList", |f| {
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_GetSlotList, CK_TRUE, null_mut(), &mut n)
    });
    after_finalize(&mut r, "C_GetSlotInfo", |f| {
        p11!(f.t, C_GetSlotInfo, f.slot, &mut CK_SLOT_INFO::default())
    });
    after_finalize(&mut r, "C_GetTokenInfo", |f| {
        p11!(f.t, C_GetTokenInfo, f.slot, &mut CK_TOKEN_INFO::default())
    });
    after_finalize(&mut r, "C_GetMechanismList", |f| {
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_GetMechanismList, f.slot, null_mut(), &mut n)
    });
    after_finalize(&mut r, "C_GetMechanismInfo", |f| {
        p11!(f.t, C_GetMechanismInfo, f.slot, CKM_AES_ECB, &mut CK_MECHANISM_INFO::default())
    });
    after_finalize(&mut r, "C_OpenSession", |f| {
        let mut h: CK_SESSION_HANDLE = 0;
        p11!(f.t, C_OpenSession, f.slot, CKF_SERIAL_SESSION, null_mut(), None, &mut h)
    });
    after_finalize(&mut r, "C_CloseAllSessions", |f| p11!(f.t, C_CloseAllSessions, f.slot));
    after_finalize(&mut r, "C_GetSessionInfo", |f| {
        p11!(f.t, C_GetSessionInfo, 1, &mut CK_SESSION_INFO::default())
    });
    after_finalize(&mut r, "C_GenerateRandom", |f| {
        let mut b = [0u8; 4];
        p11!(f.t, C_GenerateRandom, 1, b.as_mut_ptr(), 4)
    });
    r
}
