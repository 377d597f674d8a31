//! PKCS#11 3.0 section 5.5, slot and token management: C_GetSlotList, C_GetSlotInfo,
//! C_GetTokenInfo, C_WaitForSlotEvent, C_GetMechanismList, C_GetMechanismInfo,
//! C_InitToken, C_InitPIN, C_SetPIN. No row changes a PIN or the token.

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "5.5", title: "Slot and token management functions", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    let sl = "C_GetSlotList";
    r.add(sl, "NULL count pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_GetSlotList, CK_TRUE, null_mut(), null_mut())
    });
    r.add(sl, "count query", &[CKR_OK], |f, _| {
        let mut n: CK_ULONG = 0;
        let code = p11!(f.t, C_GetSlotList, CK_TRUE, null_mut(), &mut n);
        if n == 0 {
            return super::WRONG;
        }
        code
    });
    r.add(
        sl,
        "buffer of 0 slots: CKR_BUFFER_TOO_SMALL and the count",
        &[CKR_BUFFER_TOO_SMALL],
        |f, _| {
            let mut n: CK_ULONG = 0;
            let _ = p11!(f.t, C_GetSlotList, CK_FALSE, null_mut(), &mut n);
            let want = n;
            let mut ids = [0 as CK_SLOT_ID; 1];
            n = 0;
            let code = p11!(f.t, C_GetSlotList, CK_FALSE, ids.as_mut_ptr(), &mut n);
            if n != want {
                return super::WRONG;
            }
            code
        },
    );
    r.add(sl, "token present list holds the slot", &[CKR_OK], |f, _| {
        let mut ids = [0 as CK_SLOT_ID; 64];
        let mut n: CK_ULONG = 64;
        let code = p11!(f.t, C_GetSlotList, CK_TRUE, ids.as_mut_ptr(), &mut n);
        if !ids[..n as usize].contains(&f.slot) {
            return super::WRONG;
        }
        code
    });
    let si = "C_GetSlotInfo";
    r.add(si, "slot id that does not exist", &[CKR_SLOT_ID_INVALID], |f, _| {
        p11!(f.t, C_GetSlotInfo, BOGUS_SLOT, &mut CK_SLOT_INFO::default())
    });
    r.add(si, "NULL pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_GetSlotInfo, f.slot, null_mut())
    });
    r.add(si, "token present", &[CKR_OK], |f, _| {
        let mut i = CK_SLOT_INFO::default();
        let code = p11!(f.t, C_GetSlotInfo, f.slot, &mut i);
        if i.flags & CKF_TOKEN_PRESENT == 0 {
            return super::WRONG;
        }
        code
    });
    let ti = "C_GetTokenInfo";
    r.add(ti, "slot id that does not exist", &[CKR_SLOT_ID_INVALID], |f, _| {
        p11!(f.t, C_GetTokenInfo, BOGUS_SLOT, &mut CK_TOKEN_INFO::default())
    });
    r.add(ti, "NULL pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_GetTokenInfo, f.slot, null_mut())
    });
    r.add(ti, "initialized, login required", &[CKR_OK], |f, _| {
        let mut i = CK_TOKEN_INFO::default();
        let code = p11!(f.t, C_GetTokenInfo, f.slot, &mut i);
        let want = CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
        if i.flags & want != want || i.ulMinPinLen > i.ulMaxPinLen {
            return super::WRONG;
        }
        code
    });
    let w = "C_WaitForSlotEvent";
    r.add(
        w,
        "CKF_DONT_BLOCK with no event",
        &[CKR_NO_EVENT, CKR_FUNCTION_NOT_SUPPORTED],
        |f, _| {
            let mut s: CK_SLOT_ID = 0;
            p11!(f.t, C_WaitForSlotEvent, CKF_DONT_BLOCK, &mut s, null_mut())
        },
    );
    let ml = "C_GetMechanismList";
    r.add(ml, "slot id that does not exist", &[CKR_SLOT_ID_INVALID], |f, _| {
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_GetMechanismList, BOGUS_SLOT, null_mut(), &mut n)
    });
    r.add(ml, "NULL count pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_GetMechanismList, f.slot, null_mut(), null_mut())
    });
    r.add(
        ml,
        "buffer of 1: CKR_BUFFER_TOO_SMALL and the count",
        &[CKR_BUFFER_TOO_SMALL],
        |f, _| {
            let mut n: CK_ULONG = 0;
            let _ = p11!(f.t, C_GetMechanismList, f.slot, null_mut(), &mut n);
            let want = n;
            let mut list = [0 as CK_MECHANISM_TYPE; 1];
            n = 1;
            let code = p11!(f.t, C_GetMechanismList, f.slot, list.as_mut_ptr(), &mut n);
            if n != want || want < 2 {
                return super::WRONG;
            }
            code
        },
    );
    r.add(ml, "full list holds AES-ECB, ECDSA and RSA-PKCS", &[CKR_OK], |f, _| {
        let mut list = vec![0 as CK_MECHANISM_TYPE; 512];
        let mut n: CK_ULONG = 512;
        let code = p11!(f.t, C_GetMechanismList, f.slot, list.as_mut_ptr(), &mut n);
        list.truncate(n as usize);
        if ![CKM_AES_ECB, CKM_ECDSA, CKM_RSA_PKCS].iter().all(|m| list.contains(m)) {
            return super::WRONG;
        }
        code
    });
    let mi = "C_GetMechanismInfo";
    r.add(mi, "slot id that does not exist", &[CKR_SLOT_ID_INVALID], |f, _| {
        p11!(f.t, C_GetMechanismInfo, BOGUS_SLOT, CKM_AES_ECB, &mut CK_MECHANISM_INFO::default())
    });
    r.add(mi, "mechanism not offered", &[CKR_MECHANISM_INVALID], |f, _| {
        p11!(f.t, C_GetMechanismInfo, f.slot, BOGUS_MECH, &mut CK_MECHANISM_INFO::default())
    });
    r.add(mi, "NULL pointer", &[CKR_ARGUMENTS_BAD], |f, _| {
        p11!(f.t, C_GetMechanismInfo, f.slot, CKM_AES_ECB, null_mut())
    });
    for (what, m, flag) in [
        ("AES-ECB: CKF_ENCRYPT", CKM_AES_ECB, CKF_ENCRYPT),
        ("AES-GCM: CKF_DECRYPT", CKM_AES_GCM, CKF_DECRYPT),
        ("ECDSA: CKF_SIGN", CKM_ECDSA, CKF_SIGN),
        ("RSA-PKCS: CKF_VERIFY", CKM_RSA_PKCS, CKF_VERIFY),
        ("SHA-256: CKF_DIGEST", CKM_SHA256, CKF_DIGEST),
        ("AES-KEY-GEN: CKF_GENERATE", CKM_AES_KEY_GEN, CKF_GENERATE),
        ("EC-KEY-PAIR-GEN: CKF_GENERATE_KEY_PAIR", CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR),
        ("ECDH1-DERIVE: CKF_DERIVE", CKM_ECDH1_DERIVE, CKF_DERIVE),
        ("AES-KEY-WRAP: CKF_WRAP", CKM_AES_KEY_WRAP, CKF_WRAP),
    ] {
        r.add(mi, what, &[CKR_OK], move |f, _| {
            let mut i = CK_MECHANISM_INFO::default();
            let code = p11!(f.t, C_GetMechanismInfo, f.slot, m, &mut i);
            if i.flags & flag == 0 {
                return super::WRONG;
            }
            code
        });
    }
    let it = "C_InitToken";
    r.add(
        it,
        "slot id that does not exist",
        &[CKR_SLOT_ID_INVALID, CKR_FUNCTION_NOT_SUPPORTED],
        |f, _| {
            let pin = f.t.so_pin.as_bytes();
            let mut label = [b' '; 32];
            p11!(
                f.t,
                C_InitToken,
                BOGUS_SLOT,
                pin.as_ptr() as *mut _,
                pin.len() as CK_ULONG,
                label.as_mut_ptr()
            )
        },
    );
    r.add(it, "with sessions open", &[CKR_SESSION_EXISTS, CKR_FUNCTION_NOT_SUPPORTED], |f, _| {
        let pin = f.t.so_pin.as_bytes();
        let mut label = [b' '; 32];
        p11!(
            f.t,
            C_InitToken,
            f.slot,
            pin.as_ptr() as *mut _,
            pin.len() as CK_ULONG,
            label.as_mut_ptr()
        )
    });
    let ip = "C_InitPIN";
    r.add(ip, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_InitPIN, BOGUS_SESSION, b"123456".as_ptr() as *mut _, 6)
    });
    r.add(ip, "as the user, not the SO", &[CKR_USER_NOT_LOGGED_IN], |f, hs| {
        p11!(f.t, C_InitPIN, hs, b"123456".as_ptr() as *mut _, 6)
    });
    r.add(ip, "read-only session", &[CKR_SESSION_READ_ONLY, CKR_USER_NOT_LOGGED_IN], |f, _| {
        f.with_ro(|ro| p11!(f.t, C_InitPIN, ro, b"123456".as_ptr() as *mut _, 6))
    });
    let sp = "C_SetPIN";
    r.add(sp, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let pin = f.t.user_pin.as_bytes();
        let (p, n) = (pin.as_ptr() as *mut u8, pin.len() as CK_ULONG);
        p11!(f.t, C_SetPIN, BOGUS_SESSION, p, n, p, n)
    });
    r.add(sp, "read-only session", &[CKR_SESSION_READ_ONLY], |f, _| {
        let pin = f.t.user_pin.as_bytes();
        let (p, n) = (pin.as_ptr() as *mut u8, pin.len() as CK_ULONG);
        f.with_ro(|ro| p11!(f.t, C_SetPIN, ro, p, n, p, n))
    });
    r.add(sp, "NULL old PIN with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let pin = f.t.user_pin.as_bytes();
        let (p, n) = (pin.as_ptr() as *mut u8, pin.len() as CK_ULONG);
        p11!(f.t, C_SetPIN, hs, null_mut(), n, p, n)
    });
    r.add(sp, "NULL new PIN with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let pin = f.t.user_pin.as_bytes();
        let (p, n) = (pin.as_ptr() as *mut u8, pin.len() as CK_ULONG);
        p11!(f.t, C_SetPIN, hs, p, n, null_mut(), n)
    });
    r.add(sp, "new PIN longer than ulMaxPinLen", &[CKR_PIN_LEN_RANGE], |f, hs| {
        let pin = f.t.user_pin.as_bytes();
        let (p, n) = (pin.as_ptr() as *mut u8, pin.len() as CK_ULONG);
        let long = vec![b'7'; 4096];
        p11!(f.t, C_SetPIN, hs, p, n, long.as_ptr() as *mut u8, long.len() as CK_ULONG)
    });
    r
}
