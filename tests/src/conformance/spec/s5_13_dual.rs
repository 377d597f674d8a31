//! PKCS#11 3.0 section 5.13, dual-function cryptographic functions: C_DigestEncryptUpdate,
//! C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate. A module may not
//! offer them (CKR_FUNCTION_NOT_SUPPORTED); where it does, the session and state rules hold.

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;

/// This section.
pub const SECTION: Section =
    Section { id: "5.13", title: "Dual-function cryptographic functions", rows };

const NS: CK_RV = CKR_FUNCTION_NOT_SUPPORTED;

macro_rules! dual {
    ($r:expr, $name:literal, $f:ident) => {
        $r.add($name, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID, NS], |f, _| {
            let mut o = [0u8; 64];
            let mut n: CK_ULONG = 64;
            p11!(f.t, $f, BOGUS_SESSION, [0u8; 16].as_ptr() as *mut u8, 16, o.as_mut_ptr(), &mut n)
        });
        $r.add($name, "neither operation active", &[CKR_OPERATION_NOT_INITIALIZED, NS], |f, hs| {
            let mut o = [0u8; 64];
            let mut n: CK_ULONG = 64;
            p11!(f.t, $f, hs, [0u8; 16].as_ptr() as *mut u8, 16, o.as_mut_ptr(), &mut n)
        });
        $r.add(
            $name,
            "only the first operation active",
            &[CKR_OPERATION_NOT_INITIALIZED, NS],
            |f, hs| {
                let _ = p11!(f.t, C_DigestInit, hs, &mut m0(CKM_SHA256));
                let _ = p11!(f.t, C_SignInit, hs, &mut m0(CKM_SHA256_HMAC), f.hmac);
                let mut o = [0u8; 64];
                let mut n: CK_ULONG = 64;
                p11!(f.t, $f, hs, [0u8; 16].as_ptr() as *mut u8, 16, o.as_mut_ptr(), &mut n)
            },
        );
    };
}

fn rows() -> Rows {
    let mut r = Rows::default();
    dual!(r, "C_DigestEncryptUpdate", C_DigestEncryptUpdate);
    dual!(r, "C_DecryptDigestUpdate", C_DecryptDigestUpdate);
    dual!(r, "C_SignEncryptUpdate", C_SignEncryptUpdate);
    dual!(r, "C_DecryptVerifyUpdate", C_DecryptVerifyUpdate);
    r
}
