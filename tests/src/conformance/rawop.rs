//! Raw-call helpers shared by the bad-input and operation-state cases.

use crate::ck;
use crate::env::Env;
use cryptoki::error::Rv;
use cryptoki::object::ObjectHandle;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// `CKR_OK` in readable form.
pub const OK: Rv = Rv::Ok;

/// A mechanism without parameter.
pub fn mech(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: m, pParameter: null_mut(), ulParameterLen: 0 }
}

/// A mechanism whose parameter is `p` (its size taken from its type).
pub fn mech_with<T>(m: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: p as *mut T as *mut _,
        ulParameterLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// Raw C_Encrypt of `data` into a `cap`-byte buffer (`None` = NULL output).
pub fn encrypt(
    t: &Env,
    hs: CK_SESSION_HANDLE,
    data: &[u8],
    cap: Option<usize>,
) -> (Rv, CK_ULONG, Vec<u8>) {
    let mut out = vec![0u8; cap.unwrap_or(0)];
    let mut len = out.len() as CK_ULONG;
    let p = if cap.is_some() { out.as_mut_ptr() } else { null_mut() };
    let code = ck!(t, C_Encrypt, hs, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, &mut len);
    out.truncate((len as usize).min(out.len()));
    (code, len, out)
}

/// Raw C_Sign of `data` into a `cap`-byte buffer (`None` = NULL output).
pub fn sign(
    t: &Env,
    hs: CK_SESSION_HANDLE,
    data: &[u8],
    cap: Option<usize>,
) -> (Rv, CK_ULONG, Vec<u8>) {
    let mut out = vec![0u8; cap.unwrap_or(0)];
    let mut len = out.len() as CK_ULONG;
    let p = if cap.is_some() { out.as_mut_ptr() } else { null_mut() };
    let code = ck!(t, C_Sign, hs, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, &mut len);
    out.truncate((len as usize).min(out.len()));
    (code, len, out)
}

/// Raw C_EncryptInit with CKM_AES_ECB; must succeed.
pub fn ecb_init(t: &Env, hs: CK_SESSION_HANDLE, key: ObjectHandle) {
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(ck!(t, C_EncryptInit, hs, &mut m, key.handle()), OK, "C_EncryptInit (ECB)");
}
