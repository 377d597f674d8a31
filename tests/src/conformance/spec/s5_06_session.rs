//! PKCS#11 3.0 section 5.6, session management: C_OpenSession, C_CloseSession,
//! C_CloseAllSessions (not run: it would end the fixture), C_GetSessionInfo,
//! C_GetOperationState, C_SetOperationState, C_Login, C_Logout.

use super::fixture::*;
use super::{Rows, Section};
use crate::deviation::LOGOUT_NOT_LOGGED_IN;
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.6", title: "Session management functions", rows };

fn login(f: &Fx, hs: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    p11!(f.t, C_Login, hs, user, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG)
}

fn rows() -> Rows {
    let mut r = Rows::default();
    let os = "C_OpenSession";
    r.add(os, "slot id that does not exist", &[CKR_SLOT_ID_INVALID], |f, _| {
        let mut h = 0;
        p11!(f.t, C_OpenSession, BOGUS_SLOT, CKF_SERIAL_SESSION, null_mut(), None, &mut h)
    });
    r.add(os, "without CKF_SERIAL_SESSION", &[CKR_SESSION_PARALLEL_NOT_SUPPORTED], |f, _| {
        let mut h = 0;
        p11!(f.t, C_OpenSession, f.slot, CKF_RW_SESSION, null_mut(), None, &mut h)
    });
    r.add(os, "NULL handle pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_OpenSession, f.slot, CKF_SERIAL_SESSION, null_mut(), None, null_mut())
    });
    r.add(os, "read-only session while the user is logged in", &[CKR_OK], |f, _| {
        let h = f.ro_session();
        let mut i = CK_SESSION_INFO::default();
        let code = p11!(f.t, C_GetSessionInfo, h, &mut i);
        f.close(h);
        if i.state != CKS_RO_USER_FUNCTIONS {
            return super::WRONG;
        }
        code
    });
    let cs = "C_CloseSession";
    r.add(cs, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_CloseSession, BOGUS_SESSION)
    });
    r.add(cs, "handle 0", &[CKR_SESSION_HANDLE_INVALID], |f, _| p11!(f.t, C_CloseSession, 0));
    r.add(cs, "twice", &[CKR_SESSION_HANDLE_INVALID], |f, hs| {
        if p11!(f.t, C_CloseSession, hs) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_CloseSession, hs)
    });
    r.add("C_CloseAllSessions", "slot id that does not exist", &[CKR_SLOT_ID_INVALID], |f, _| {
        p11!(f.t, C_CloseAllSessions, BOGUS_SLOT)
    });
    let gi = "C_GetSessionInfo";
    r.add(gi, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_GetSessionInfo, BOGUS_SESSION, &mut CK_SESSION_INFO::default())
    });
    r.add(gi, "NULL pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        p11!(f.t, C_GetSessionInfo, hs, null_mut())
    });
    r.add(gi, "R/W user functions", &[CKR_OK], |f, hs| {
        let mut i = CK_SESSION_INFO::default();
        let code = p11!(f.t, C_GetSessionInfo, hs, &mut i);
        if i.state != CKS_RW_USER_FUNCTIONS
            || i.slotID != f.slot
            || i.flags & CKF_SERIAL_SESSION == 0
        {
            return super::WRONG;
        }
        code
    });
    const NS: CK_RV = CKR_FUNCTION_NOT_SUPPORTED;
    let go = "C_GetOperationState";
    r.add(go, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID, NS], |f, _| {
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_GetOperationState, BOGUS_SESSION, null_mut(), &mut n)
    });
    r.add(go, "NULL length pointer", &[CKR_ARGUMENTS_BAD, NS], |f, hs| {
        p11!(f.t, C_GetOperationState, hs, null_mut(), null_mut())
    });
    r.add(go, "no operation active", &[CKR_OPERATION_NOT_INITIALIZED, NS], |f, hs| {
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_GetOperationState, hs, null_mut(), &mut n)
    });
    let so = "C_SetOperationState";
    r.add(so, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID, NS], |f, _| {
        let mut b = [0u8; 8];
        p11!(f.t, C_SetOperationState, BOGUS_SESSION, b.as_mut_ptr(), 8, 0, 0)
    });
    r.add(
        so,
        "state that no module saved",
        &[CKR_SAVED_STATE_INVALID, CKR_ARGUMENTS_BAD, NS],
        |f, hs| {
            let mut b = [0x5au8; 8];
            p11!(f.t, C_SetOperationState, hs, b.as_mut_ptr(), 8, 0, 0)
        },
    );
    let li = "C_Login";
    let pin = |f: &Fx| f.t.user_pin.clone().into_bytes();
    r.add(li, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], move |f, _| {
        login(f, BOGUS_SESSION, CKU_USER, &pin(f))
    });
    r.add(li, "user already logged in", &[CKR_USER_ALREADY_LOGGED_IN], move |f, hs| {
        login(f, hs, CKU_USER, &pin(f))
    });
    r.add(li, "SO while the user is logged in", &[CKR_USER_ANOTHER_ALREADY_LOGGED_IN], |f, hs| {
        login(f, hs, CKU_SO, f.t.so_pin.as_bytes())
    });
    r.add(li, "user type 7", &[CKR_USER_TYPE_INVALID], move |f, hs| login(f, hs, 7, &pin(f)));
    r.add(
        li,
        "NULL PIN with a length",
        &[CKR_ARGUMENTS_BAD, CKR_USER_ALREADY_LOGGED_IN],
        |f, hs| p11!(f.t, C_Login, hs, CKU_USER, null_mut(), 6),
    );
    r.add(li, "logged out: NULL PIN with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        f.logged_out(hs, || p11!(f.t, C_Login, hs, CKU_USER, null_mut(), 6))
    });
    r.add(
        li,
        "logged out: SO with a read-only session open",
        &[CKR_SESSION_READ_ONLY_EXISTS],
        |f, hs| {
            f.logged_out(hs, || {
                f.with_ro(|_| {
                    let code = login(f, hs, CKU_SO, f.t.so_pin.as_bytes());
                    if code == CKR_OK {
                        let _ = p11!(f.t, C_Logout, hs);
                    }
                    code
                })
            })
        },
    );
    r.add(
        li,
        "logged out: context-specific without an operation",
        &[CKR_OPERATION_NOT_INITIALIZED, CKR_USER_NOT_LOGGED_IN],
        move |f, hs| f.logged_out(hs, || login(f, hs, CKU_CONTEXT_SPECIFIC, &pin(f))),
    );
    r.add(li, "logged out: the right PIN", &[CKR_OK], move |f, hs| {
        f.logged_out(hs, || login(f, hs, CKU_USER, &pin(f)))
    });
    let lo = "C_Logout";
    r.add(lo, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_Logout, BOGUS_SESSION)
    });
    r.add(lo, "nobody logged in", &[CKR_USER_NOT_LOGGED_IN], |f, hs| {
        f.logged_out(hs, || p11!(f.t, C_Logout, hs))
    })
    .dev(&LOGOUT_NOT_LOGGED_IN, CKR_OK);
    r.add(lo, "logout ends the login of every session", &[CKR_OK], |f, hs| {
        f.logged_out(hs, || {
            let mut i = CK_SESSION_INFO::default();
            let code = p11!(f.t, C_GetSessionInfo, f.s.handle(), &mut i);
            if i.state != CKS_RW_PUBLIC_SESSION {
                return super::WRONG;
            }
            code
        })
    });
    r
}
