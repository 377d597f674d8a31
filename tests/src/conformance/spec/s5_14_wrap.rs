//! Section 5.14 (continued): C_WrapKey, C_UnwrapKey, C_DeriveKey. The key to wrap is the
//! fixture's 32-byte generic secret (extractable, not sensitive) under its AES key
//! (CKM_AES_KEY_WRAP, RFC 3394: 40 bytes); derivation is ECDH1 on its P-256 private key
//! with its own public point.

use super::fixture::*;
use super::s5_14_keys::{with, without, Tpl, BOGUS_ATTR, CLASS_CODES};
use super::{ul, Rows};
use crate::deviation::{ARGS_BEFORE_SESSION, KEY_HANDLE_CODE, UNWRAP_FAILURE_CODE};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// A key of a type the mechanism does not take that also lacks the usage attribute: both
/// codes apply and 5.1.6 sets no order among them.
const TYPE_OR_USE: &[CK_RV] = &[CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED];

/// Raw C_WrapKey of `k` under `wk`; output of `cap` bytes (`None`: NULL). Answers
/// [`super::WRONG`] when an OK/CKR_BUFFER_TOO_SMALL did not return `want` (when given).
#[allow(clippy::too_many_arguments)]
pub fn wrap(
    f: &Fx,
    hs: CK_SESSION_HANDLE,
    mut m: CK_MECHANISM,
    wk: CK_OBJECT_HANDLE,
    k: CK_OBJECT_HANDLE,
    cap: Option<usize>,
    want: Option<usize>,
) -> CK_RV {
    let mut out = vec![0u8; cap.unwrap_or(0)];
    let mut n = ul(out.len());
    let o = if cap.is_some() { out.as_mut_ptr() } else { null_mut() };
    let code = p11!(f.t, C_WrapKey, hs, &mut m, wk, k, o, &mut n);
    match want {
        Some(w) if (code == CKR_OK || code == CKR_BUFFER_TOO_SMALL) && n as usize != w => {
            eprintln!("     returned length {n}, want {w}");
            super::WRONG
        }
        _ => code,
    }
}

/// The fixture's generic secret wrapped under its AES key (empty if the wrap failed).
pub fn blob(f: &Fx, hs: CK_SESSION_HANDLE) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    let mut n = ul(out.len());
    let mut m = m0(CKM_AES_KEY_WRAP);
    if p11!(f.t, C_WrapKey, hs, &mut m, f.aes, f.hmac, out.as_mut_ptr(), &mut n) != CKR_OK {
        return Vec::new();
    }
    out.truncate(n as usize);
    out
}

/// A template for an unwrapped or derived generic secret.
pub fn secret_tpl() -> Tpl {
    vec![
        (CKA_CLASS, ulb(CKO_SECRET_KEY)),
        (CKA_KEY_TYPE, ulb(CKK_GENERIC_SECRET)),
        (CKA_TOKEN, bb(false)),
        (CKA_SENSITIVE, bb(false)),
        (CKA_EXTRACTABLE, bb(true)),
    ]
}

/// Raw C_UnwrapKey of `data` under `uk` with template `t`.
pub fn unwrap(
    f: &Fx,
    hs: CK_SESSION_HANDLE,
    mut m: CK_MECHANISM,
    uk: CK_OBJECT_HANDLE,
    data: &[u8],
    mut t: Tpl,
) -> CK_RV {
    let mut a = tpl(&mut t);
    let mut h: CK_OBJECT_HANDLE = 0;
    let (d, dl) = (data.as_ptr() as *mut u8, ul(data.len()));
    p11!(f.t, C_UnwrapKey, hs, &mut m, uk, d, dl, a.as_mut_ptr(), ul(a.len()), &mut h)
}

/// Unwraps [`blob`] (made on `hs`) with `t`; [`super::WRONG`] if the wrap failed.
fn unwrap_blob(f: &Fx, hs: CK_SESSION_HANDLE, uk: CK_OBJECT_HANDLE, t: Tpl) -> CK_RV {
    let b = blob(f, hs);
    if b.is_empty() {
        return super::WRONG;
    }
    unwrap(f, hs, m0(CKM_AES_KEY_WRAP), uk, &b, t)
}

/// The fixture's P-256 public point, raw (04 || X || Y).
pub fn ec_point(f: &Fx) -> Vec<u8> {
    let mut v = vec![0u8; 128];
    let mut a = [attr(CKA_EC_POINT, &mut v)];
    let hs = f.s.handle();
    if p11!(f.t, C_GetAttributeValue, hs, f.ec_pub, a.as_mut_ptr(), 1) != CKR_OK {
        return Vec::new();
    }
    let n = a[0].ulValueLen as usize;
    v.truncate(n);
    if v.len() == 67 && v[0] == 0x04 && v[1] == 65 {
        v.drain(..2);
    }
    v
}

/// A template for a derived 32-byte generic secret.
pub fn derived_tpl() -> Tpl {
    with(secret_tpl(), CKA_VALUE_LEN, ulb(32))
}

/// Raw C_DeriveKey.
pub fn derive(
    f: &Fx,
    hs: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    mut t: Tpl,
) -> CK_RV {
    let mut a = tpl(&mut t);
    let mut h: CK_OBJECT_HANDLE = 0;
    p11!(f.t, C_DeriveKey, hs, m, base, a.as_mut_ptr(), ul(a.len()), &mut h)
}

/// ECDH1 (CKD_NULL, the fixture's own point) on `base` with template `t`, after `edit`
/// changed the parameters.
pub fn ecdh(
    f: &Fx,
    hs: CK_SESSION_HANDLE,
    base: CK_OBJECT_HANDLE,
    t: Tpl,
    edit: impl FnOnce(&mut CK_ECDH1_DERIVE_PARAMS),
) -> CK_RV {
    let mut pt = ec_point(f);
    let mut p = CK_ECDH1_DERIVE_PARAMS {
        kdf: CKD_NULL,
        ulSharedDataLen: 0,
        pSharedData: null_mut(),
        ulPublicDataLen: ul(pt.len()),
        pPublicData: pt.as_mut_ptr(),
    };
    edit(&mut p);
    let mut m = mt(CKM_ECDH1_DERIVE, &mut p);
    derive(f, hs, &mut m, base, t)
}

/// Adds the C_WrapKey, C_UnwrapKey and C_DeriveKey rows.
pub fn rows(r: &mut Rows) {
    wrap_rows(r);
    unwrap_rows(r);
    derive_rows(r);
}

fn kw() -> CK_MECHANISM {
    m0(CKM_AES_KEY_WRAP)
}

fn wrap_rows(r: &mut Rows) {
    let w = "C_WrapKey";
    r.add(w, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        wrap(f, BOGUS_SESSION, kw(), f.aes, f.hmac, Some(64), None)
    });
    r.add(w, "invalid session and NULL mechanism", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let mut o = [0u8; 64];
        let mut n: CK_ULONG = 64;
        p11!(f.t, C_WrapKey, BOGUS_SESSION, null_mut(), f.aes, f.hmac, o.as_mut_ptr(), &mut n)
    })
    .dev(&ARGS_BEFORE_SESSION, CKR_ARGUMENTS_BAD);
    r.add(w, "NULL mechanism", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut o = [0u8; 64];
        let mut n: CK_ULONG = 64;
        p11!(f.t, C_WrapKey, hs, null_mut(), f.aes, f.hmac, o.as_mut_ptr(), &mut n)
    });
    r.add(w, "NULL length pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut o = [0u8; 64];
        p11!(f.t, C_WrapKey, hs, &mut kw(), f.aes, f.hmac, o.as_mut_ptr(), null_mut())
    });
    for (what, m) in [
        ("mechanism no module offers", BOGUS_MECH),
        ("digest mechanism CKM_SHA256", CKM_SHA256),
        ("key generation mechanism CKM_AES_KEY_GEN", CKM_AES_KEY_GEN),
        ("MAC mechanism CKM_AES_CMAC", CKM_AES_CMAC),
    ] {
        r.add(w, what, &[CKR_MECHANISM_INVALID], move |f, hs| {
            wrap(f, hs, m0(m), f.aes, f.hmac, Some(64), None)
        });
    }
    r.add(w, "wrapping key handle never given out", &[CKR_WRAPPING_KEY_HANDLE_INVALID], |f, hs| {
        wrap(f, hs, kw(), BOGUS_OBJECT, f.hmac, Some(64), None)
    });
    r.add(w, "key handle never given out", &[CKR_KEY_HANDLE_INVALID], |f, hs| {
        wrap(f, hs, kw(), f.aes, BOGUS_OBJECT, Some(64), None)
    });
    r.add(w, "a data object to wrap", &[CKR_KEY_HANDLE_INVALID], |f, hs| {
        wrap(f, hs, kw(), f.aes, f.data, Some(64), None)
    })
    .dev(&KEY_HANDLE_CODE, CKR_KEY_UNEXTRACTABLE);
    r.add(
        w,
        "AES key wrap under an RSA public key",
        &[CKR_WRAPPING_KEY_TYPE_INCONSISTENT],
        |f, hs| wrap(f, hs, kw(), f.rsa_pub, f.hmac, Some(64), None),
    );
    r.add(w, "RSA-PKCS wrap under an AES key", &[CKR_WRAPPING_KEY_TYPE_INCONSISTENT], |f, hs| {
        wrap(f, hs, m0(CKM_RSA_PKCS), f.aes, f.hmac, Some(512), None)
    });
    r.add(
        w,
        "RSA-PKCS wrap under an EC public key",
        &[CKR_WRAPPING_KEY_TYPE_INCONSISTENT],
        |f, hs| wrap(f, hs, m0(CKM_RSA_PKCS), f.ec_pub, f.hmac, Some(512), None),
    );
    r.add(
        w,
        "wrapping key whose CKA_WRAP is false (the usage code, 5.1.6)",
        &[CKR_KEY_FUNCTION_NOT_PERMITTED],
        |f, hs| wrap(f, hs, kw(), f.aes_none, f.hmac, Some(64), None),
    );
    r.add(w, "key whose CKA_EXTRACTABLE is false", &[CKR_KEY_UNEXTRACTABLE], |f, hs| {
        wrap(f, hs, kw(), f.aes, f.aes_unext, Some(64), None)
    });
    r.add(w, "NULL output: length query returns 40", &[CKR_OK], |f, hs| {
        wrap(f, hs, kw(), f.aes, f.hmac, None, Some(40))
    });
    r.add(
        w,
        "short buffer: CKR_BUFFER_TOO_SMALL and the length",
        &[CKR_BUFFER_TOO_SMALL],
        |f, hs| wrap(f, hs, kw(), f.aes, f.hmac, Some(39), Some(40)),
    );
    r.add(w, "AES key wrap that fits: 40 bytes", &[CKR_OK], |f, hs| {
        wrap(f, hs, kw(), f.aes, f.hmac, Some(64), Some(40))
    });
    r.add(w, "RSA-PKCS wrap length query: modulus length", &[CKR_OK], |f, hs| {
        wrap(f, hs, m0(CKM_RSA_PKCS), f.rsa_pub, f.hmac, None, Some(256))
    });
}

fn unwrap_rows(r: &mut Rows) {
    let u = "C_UnwrapKey";
    r.add(u, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, hs| {
        let b = blob(f, hs);
        unwrap(f, BOGUS_SESSION, kw(), f.aes, &b, secret_tpl())
    });
    let null_mech = |f: &Fx, hs: CK_SESSION_HANDLE, on: CK_SESSION_HANDLE| {
        let b = blob(f, hs);
        let mut t = secret_tpl();
        let mut a = tpl(&mut t);
        let mut h: CK_OBJECT_HANDLE = 0;
        let (d, dl, ap, al) = (b.as_ptr() as *mut u8, ul(b.len()), a.as_mut_ptr(), ul(a.len()));
        p11!(f.t, C_UnwrapKey, on, null_mut(), f.aes, d, dl, ap, al, &mut h)
    };
    r.add(u, "invalid session and NULL mechanism", &[CKR_SESSION_HANDLE_INVALID], move |f, hs| {
        null_mech(f, hs, BOGUS_SESSION)
    })
    .dev(&ARGS_BEFORE_SESSION, CKR_ARGUMENTS_BAD);
    r.add(u, "NULL mechanism", &[CKR_ARGUMENTS_BAD], move |f, hs| null_mech(f, hs, hs));
    r.add(u, "NULL wrapped key with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut t = secret_tpl();
        let mut a = tpl(&mut t);
        let mut h: CK_OBJECT_HANDLE = 0;
        let (ap, al) = (a.as_mut_ptr(), ul(a.len()));
        p11!(f.t, C_UnwrapKey, hs, &mut kw(), f.aes, null_mut(), 40, ap, al, &mut h)
    });
    r.add(u, "NULL phKey", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let b = blob(f, hs);
        let mut t = secret_tpl();
        let mut a = tpl(&mut t);
        let (d, dl, ap, al) = (b.as_ptr() as *mut u8, ul(b.len()), a.as_mut_ptr(), ul(a.len()));
        p11!(f.t, C_UnwrapKey, hs, &mut kw(), f.aes, d, dl, ap, al, null_mut())
    });
    r.add(u, "NULL template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let b = blob(f, hs);
        let mut h: CK_OBJECT_HANDLE = 0;
        let (d, dl) = (b.as_ptr() as *mut u8, ul(b.len()));
        p11!(f.t, C_UnwrapKey, hs, &mut kw(), f.aes, d, dl, null_mut(), 3, &mut h)
    });
    for (what, m) in [
        ("digest mechanism CKM_SHA256", CKM_SHA256),
        ("key generation mechanism CKM_AES_KEY_GEN", CKM_AES_KEY_GEN),
    ] {
        r.add(u, what, &[CKR_MECHANISM_INVALID], move |f, hs| {
            let b = blob(f, hs);
            unwrap(f, hs, m0(m), f.aes, &b, secret_tpl())
        });
    }
    r.add(
        u,
        "unwrapping key handle never given out",
        &[CKR_UNWRAPPING_KEY_HANDLE_INVALID],
        |f, hs| unwrap_blob(f, hs, BOGUS_OBJECT, secret_tpl()),
    );
    r.add(
        u,
        "AES key wrap under an RSA private key",
        &[CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT],
        |f, hs| unwrap_blob(f, hs, f.rsa_priv, secret_tpl()),
    );
    r.add(
        u,
        "unwrapping key whose CKA_UNWRAP is false (the usage code, 5.1.6)",
        &[CKR_KEY_FUNCTION_NOT_PERMITTED],
        |f, hs| unwrap_blob(f, hs, f.aes_none, secret_tpl()),
    );
    r.add(u, "AES key wrap blob of 39 bytes", &[CKR_WRAPPED_KEY_LEN_RANGE], |f, hs| {
        let b = blob(f, hs);
        if b.len() != 40 {
            return super::WRONG;
        }
        unwrap(f, hs, kw(), f.aes, &b[..39], secret_tpl())
    });
    r.add(u, "AES key wrap blob tampered", &[CKR_WRAPPED_KEY_INVALID], |f, hs| {
        let mut b = blob(f, hs);
        if b.is_empty() {
            return super::WRONG;
        }
        b[3] ^= 1;
        unwrap(f, hs, kw(), f.aes, &b, secret_tpl())
    })
    .dev(&UNWRAP_FAILURE_CODE, CKR_GENERAL_ERROR);
    r.add(u, "RSA-PKCS blob shorter than the modulus", &[CKR_WRAPPED_KEY_LEN_RANGE], |f, hs| {
        // Sensitive: what a key unwrapped under a sensitive private key must be
        // (docs/KEYS.md), so the policy does not answer first.
        let t = with(secret_tpl(), CKA_SENSITIVE, bb(true));
        unwrap(f, hs, m0(CKM_RSA_PKCS), f.rsa_priv, &[7; 100], t)
    })
    .dev(&UNWRAP_FAILURE_CODE, CKR_GENERAL_ERROR);
    r.add(u, "template without CKA_CLASS", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        unwrap_blob(f, hs, f.aes, without(secret_tpl(), CKA_CLASS))
    });
    r.add(u, "template without CKA_KEY_TYPE", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        unwrap_blob(f, hs, f.aes, without(secret_tpl(), CKA_KEY_TYPE))
    });
    r.add(u, "template CKA_CLASS CKO_PUBLIC_KEY (4.1.1: either code)", CLASS_CODES, |f, hs| {
        unwrap_blob(f, hs, f.aes, with(secret_tpl(), CKA_CLASS, ulb(CKO_PUBLIC_KEY)))
    });
    r.add(u, "attribute type no spec defines", &[CKR_ATTRIBUTE_TYPE_INVALID], |f, hs| {
        unwrap_blob(f, hs, f.aes, with(secret_tpl(), BOGUS_ATTR, bb(true)))
    });
    r.add(u, "token key on a read-only session", &[CKR_SESSION_READ_ONLY], |f, hs| {
        let b = blob(f, hs);
        f.with_ro(|h| unwrap(f, h, kw(), f.aes, &b, with(secret_tpl(), CKA_TOKEN, bb(true))))
    });
    r.add(u, "AES key wrap blob that fits", &[CKR_OK], |f, hs| {
        unwrap_blob(f, hs, f.aes, secret_tpl())
    });
}

fn derive_rows(r: &mut Rows) {
    let d = "C_DeriveKey";
    r.add(d, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        ecdh(f, BOGUS_SESSION, f.ec_priv, derived_tpl(), |_| {})
    });
    r.add(d, "invalid session and NULL mechanism", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        derive(f, BOGUS_SESSION, null_mut(), f.ec_priv, derived_tpl())
    })
    .dev(&ARGS_BEFORE_SESSION, CKR_ARGUMENTS_BAD);
    r.add(d, "NULL mechanism", &[CKR_ARGUMENTS_BAD], |f, hs| {
        derive(f, hs, null_mut(), f.ec_priv, derived_tpl())
    });
    r.add(d, "NULL phKey", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut pt = ec_point(f);
        let mut p = CK_ECDH1_DERIVE_PARAMS {
            kdf: CKD_NULL,
            ulSharedDataLen: 0,
            pSharedData: null_mut(),
            ulPublicDataLen: ul(pt.len()),
            pPublicData: pt.as_mut_ptr(),
        };
        let mut m = mt(CKM_ECDH1_DERIVE, &mut p);
        let mut t = derived_tpl();
        let mut a = tpl(&mut t);
        p11!(f.t, C_DeriveKey, hs, &mut m, f.ec_priv, a.as_mut_ptr(), ul(a.len()), null_mut())
    });
    r.add(d, "NULL template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut pt = ec_point(f);
        let mut p = CK_ECDH1_DERIVE_PARAMS {
            kdf: CKD_NULL,
            ulSharedDataLen: 0,
            pSharedData: null_mut(),
            ulPublicDataLen: ul(pt.len()),
            pPublicData: pt.as_mut_ptr(),
        };
        let mut m = mt(CKM_ECDH1_DERIVE, &mut p);
        let mut h: CK_OBJECT_HANDLE = 0;
        p11!(f.t, C_DeriveKey, hs, &mut m, f.ec_priv, null_mut(), 3, &mut h)
    });
    for (what, m) in [
        ("mechanism no module offers", BOGUS_MECH),
        ("cipher mechanism CKM_AES_ECB", CKM_AES_ECB),
        ("signature mechanism CKM_ECDSA", CKM_ECDSA),
    ] {
        r.add(d, what, &[CKR_MECHANISM_INVALID], move |f, hs| {
            derive(f, hs, &mut m0(m), f.ec_priv, derived_tpl())
        });
    }
    r.add(d, "base key handle never given out", &[CKR_KEY_HANDLE_INVALID], |f, hs| {
        ecdh(f, hs, BOGUS_OBJECT, derived_tpl(), |_| {})
    })
    .dev(&KEY_HANDLE_CODE, CKR_OBJECT_HANDLE_INVALID);
    r.add(
        d,
        "ECDH1 with an AES base key without CKA_DERIVE (type or usage code)",
        TYPE_OR_USE,
        |f, hs| ecdh(f, hs, f.aes, derived_tpl(), |_| {}),
    );
    r.add(
        d,
        "ECDH1 with an RSA private key without CKA_DERIVE (type or usage code)",
        TYPE_OR_USE,
        |f, hs| ecdh(f, hs, f.rsa_priv, derived_tpl(), |_| {}),
    );
    r.add(
        d,
        "ECDH1 with the EC public key (type or usage code, both allowed)",
        &[CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED],
        |f, hs| ecdh(f, hs, f.ec_pub, derived_tpl(), |_| {}),
    );
    r.add(d, "template CKA_CLASS CKO_PUBLIC_KEY (4.1.1: either code)", CLASS_CODES, |f, hs| {
        ecdh(f, hs, f.ec_priv, with(derived_tpl(), CKA_CLASS, ulb(CKO_PUBLIC_KEY)), |_| {})
    });
    r.add(d, "attribute type no spec defines", &[CKR_ATTRIBUTE_TYPE_INVALID], |f, hs| {
        ecdh(f, hs, f.ec_priv, with(derived_tpl(), BOGUS_ATTR, bb(true)), |_| {})
    });
    r.add(d, "token key on a read-only session", &[CKR_SESSION_READ_ONLY], |f, _| {
        let t = with(derived_tpl(), CKA_TOKEN, bb(true));
        f.with_ro(|h| ecdh(f, h, f.ec_priv, t, |_| {}))
    });
    r.add(d, "ECDH1 that fits", &[CKR_OK], |f, hs| ecdh(f, hs, f.ec_priv, derived_tpl(), |_| {}));
}
