//! The conformance suite: each case is `pub fn case(t: &Env)`, written once and
//! run against all three targets (SoftHSM2 directly, a hardware instance, a software
//! instance). A case asserts the spec; where SoftHSM2 is known to differ it asserts
//! SoftHSM2's recorded answer on the direct target
//! ([`crate::Env::expect_spec`], [`crate::deviation`]) and never skips.

pub mod answers;
pub mod bad_input;
pub mod context_login;
pub mod crypto_aes;
pub mod crypto_ec;
pub mod crypto_rsa;
pub mod des;
pub mod general;
pub mod hmac_digest_random;
pub mod object;
pub mod op_state;
pub mod rawop;
pub mod session;
pub mod spec;
pub mod wrap_derive;

use crate::env::Env;
use cryptoki::error::Rv;
use cryptoki_sys::{
    CK_ATTRIBUTE, CK_ATTRIBUTE_TYPE, CK_MECHANISM, CK_MECHANISM_TYPE, CK_OBJECT_HANDLE,
    CK_SESSION_HANDLE, CK_ULONG,
};

/// Source of every case module, so a unit test can check the case list.
pub const SOURCES: &[(&str, &str)] = &[
    ("answers", include_str!("answers.rs")),
    ("bad_input", include_str!("bad_input.rs")),
    ("context_login", include_str!("context_login.rs")),
    ("crypto_aes", include_str!("crypto_aes.rs")),
    ("des", include_str!("des.rs")),
    ("crypto_ec", include_str!("crypto_ec.rs")),
    ("crypto_rsa", include_str!("crypto_rsa.rs")),
    ("general", include_str!("general.rs")),
    ("hmac_digest_random", include_str!("hmac_digest_random.rs")),
    ("object", include_str!("object.rs")),
    ("op_state", include_str!("op_state.rs")),
    ("session", include_str!("session.rs")),
    ("wrap_derive", include_str!("wrap_derive.rs")),
];

/// The slot's mechanism list as raw numbers (`cryptoki` drops the ones it does not know).
pub fn mechanisms(t: &Env) -> Vec<CK_MECHANISM_TYPE> {
    let mut n: CK_ULONG = 0;
    let rv = crate::ck!(t, C_GetMechanismList, t.slot.id(), std::ptr::null_mut(), &mut n);
    assert_eq!(rv, crate::raw::rv(cryptoki_sys::CKR_OK), "C_GetMechanismList (count)");
    let mut list = vec![0 as CK_MECHANISM_TYPE; n as usize];
    let rv = crate::ck!(t, C_GetMechanismList, t.slot.id(), list.as_mut_ptr(), &mut n);
    assert_eq!(rv, crate::raw::rv(cryptoki_sys::CKR_OK), "C_GetMechanismList");
    list.truncate(n as usize);
    list
}

/// One raw C_GetAttributeValue of a single attribute with a `buf_len`-byte buffer
/// (`None` = NULL pValue): the code, the returned ulValueLen and the bytes written.
pub fn raw_attr(
    t: &Env,
    session: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    ty: CK_ATTRIBUTE_TYPE,
    buf_len: Option<usize>,
) -> (cryptoki::error::Rv, CK_ULONG, Vec<u8>) {
    let mut buf = vec![0u8; buf_len.unwrap_or(0)];
    let mut a = CK_ATTRIBUTE {
        type_: ty,
        pValue: match buf_len {
            Some(_) => buf.as_mut_ptr() as *mut _,
            None => std::ptr::null_mut(),
        },
        ulValueLen: buf.len() as CK_ULONG,
    };
    let code = crate::ck!(t, C_GetAttributeValue, session, obj, &mut a, 1);
    let n = (a.ulValueLen as usize).min(buf.len());
    buf.truncate(n);
    (code, a.ulValueLen, buf)
}

/// Raw single-part C_SignInit + C_Sign (for mechanisms `cryptoki` cannot name).
pub fn raw_sign(
    t: &Env,
    h: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>, Rv> {
    let ok = Rv::Ok;
    let code = crate::ck!(t, C_SignInit, h, m, key);
    if code != ok {
        return Err(code);
    }
    let mut sig = vec![0u8; 1024];
    let mut n = sig.len() as CK_ULONG;
    let (d, dl) = (data.as_ptr() as *mut u8, data.len() as CK_ULONG);
    let code = crate::ck!(t, C_Sign, h, d, dl, sig.as_mut_ptr(), &mut n);
    if code != ok {
        return Err(code);
    }
    sig.truncate(n as usize);
    Ok(sig)
}

/// Raw multi-part C_SignInit + C_SignUpdate* + C_SignFinal.
pub fn raw_sign_parts(
    t: &Env,
    h: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    parts: &[&[u8]],
) -> Result<Vec<u8>, Rv> {
    let ok = Rv::Ok;
    let code = crate::ck!(t, C_SignInit, h, m, key);
    if code != ok {
        return Err(code);
    }
    for p in parts {
        let code = crate::ck!(t, C_SignUpdate, h, p.as_ptr() as *mut u8, p.len() as CK_ULONG);
        if code != ok {
            return Err(code);
        }
    }
    let mut sig = vec![0u8; 1024];
    let mut n = sig.len() as CK_ULONG;
    let code = crate::ck!(t, C_SignFinal, h, sig.as_mut_ptr(), &mut n);
    if code != ok {
        return Err(code);
    }
    sig.truncate(n as usize);
    Ok(sig)
}

/// Raw single-part C_VerifyInit + C_Verify: the code of C_Verify (or of a failed Init).
pub fn raw_verify(
    t: &Env,
    h: CK_SESSION_HANDLE,
    m: &mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
) -> Rv {
    let code = crate::ck!(t, C_VerifyInit, h, m, key);
    if code != Rv::Ok {
        return code;
    }
    let (d, dl) = (data.as_ptr() as *mut u8, data.len() as CK_ULONG);
    let (s, sl) = (sig.as_ptr() as *mut u8, sig.len() as CK_ULONG);
    crate::ck!(t, C_Verify, h, d, dl, s, sl)
}
