//! PKCS#11 3.0 section 5.12, verifying signatures and MACs: C_VerifyInit, C_Verify,
//! C_VerifyUpdate, C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover.

use super::common::*;
use super::fixture::*;
use super::{Rows, Section};
use crate::deviation::KEY_TYPE_UNCHECKED;
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "5.12", title: "Functions for verifying signatures and MACs", rows };

const DATA: &[u8] = b"sixteen byte msg";

fn rows() -> Rows {
    let mut r = Rows::default();
    let init = "C_VerifyInit";
    init_rows(
        &mut r,
        init,
        ver_init,
        CKM_AES_CMAC,
        |f| f.aes,
        Some(|f| f.aes_none),
        &[
            ("AES-CMAC with an RSA public key", |f| f.rsa_pub),
            ("AES-CMAC with an EC public key", |f| f.ec_pub),
        ],
        &[
            ("digest mechanism CKM_SHA256", CKM_SHA256),
            ("cipher-only mechanism CKM_AES_CBC_PAD, no parameter", CKM_AES_CBC_PAD),
        ],
    );
    mark_init(&mut r, init);
    r.add(init, "ECDSA with an RSA public key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        ver_init(f, hs, &mut m0(CKM_ECDSA), f.rsa_pub)
    })
    .dev(&KEY_TYPE_UNCHECKED, CKR_OK);
    r.add(init, "RSA-PKCS with an EC public key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        ver_init(f, hs, &mut m0(CKM_RSA_PKCS), f.ec_pub)
    })
    .dev(&KEY_TYPE_UNCHECKED, CKR_OK);
    r.add(init, "SHA256-RSA-PKCS with an AES key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        ver_init(f, hs, &mut m0(CKM_SHA256_RSA_PKCS), f.aes)
    })
    .dev(&KEY_TYPE_UNCHECKED, CKR_OK);
    r.add(init, "HMAC-SHA256 with an EC public key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        ver_init(f, hs, &mut m0(CKM_SHA256_HMAC), f.ec_pub)
    });
    for (what, m, k) in [
        ("ECDSA with the EC public key", CKM_ECDSA, 0),
        ("RSA-PKCS with the RSA public key", CKM_RSA_PKCS, 1),
        ("HMAC-SHA256 with a generic secret", CKM_SHA256_HMAC, 2),
    ] {
        r.add(init, what, &[CKR_OK], move |f, hs| {
            let key = [f.ec_pub, f.rsa_pub, f.hmac][k];
            ver_init(f, hs, &mut m0(m), key)
        });
    }
    let v = "C_Verify";
    r.add(v, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        verify(f, hs, DATA, &[0; 32])
    });
    r.add(v, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        verify(f, BOGUS_SESSION, DATA, &[0; 32])
    });
    // (mechanism, key index, signature length, what)
    type Case = (CK_MECHANISM_TYPE, usize, &'static str);
    let cases: [Case; 3] =
        [(CKM_SHA256_HMAC, 2, "HMAC"), (CKM_ECDSA, 0, "ECDSA"), (CKM_RSA_PKCS, 1, "RSA-PKCS")];
    for (m, k, name) in cases {
        let keys =
            move |f: &Fx| ([f.ec_priv, f.rsa_priv, f.hmac][k], [f.ec_pub, f.rsa_pub, f.hmac][k]);
        let what: &'static str = Box::leak(format!("{name}: the right signature").into_boxed_str());
        r.add(v, what, &[CKR_OK], move |f, hs| {
            let (sk, vk) = keys(f);
            let data = [3u8; 32];
            let sig = signed(f, hs, m, sk, &data);
            if sig.is_empty() || !start(f, hs, ver_init, m0(m), vk) {
                return super::WRONG;
            }
            verify(f, hs, &data, &sig)
        });
        let what: &'static str = Box::leak(format!("{name}: one bit flipped").into_boxed_str());
        r.add(v, what, &[CKR_SIGNATURE_INVALID], move |f, hs| {
            let (sk, vk) = keys(f);
            let data = [3u8; 32];
            let mut sig = signed(f, hs, m, sk, &data);
            if sig.is_empty() || !start(f, hs, ver_init, m0(m), vk) {
                return super::WRONG;
            }
            sig[5] ^= 1;
            verify(f, hs, &data, &sig)
        });
        let what: &'static str =
            Box::leak(format!("{name}: signature one byte short").into_boxed_str());
        let allowed: &'static [CK_RV] = if m == CKM_ECDSA {
            // A short ECDSA signature is not r||s of the curve's size.
            &[CKR_SIGNATURE_LEN_RANGE, CKR_SIGNATURE_INVALID]
        } else {
            &[CKR_SIGNATURE_LEN_RANGE]
        };
        r.add(v, what, allowed, move |f, hs| {
            let (sk, vk) = keys(f);
            let data = [3u8; 32];
            let sig = signed(f, hs, m, sk, &data);
            if sig.is_empty() || !start(f, hs, ver_init, m0(m), vk) {
                return super::WRONG;
            }
            verify(f, hs, &data, &sig[..sig.len() - 1])
        });
        let what: &'static str =
            Box::leak(format!("{name}: a failed verify ends the operation").into_boxed_str());
        r.add(v, what, &[CKR_OPERATION_NOT_INITIALIZED], move |f, hs| {
            let (_, vk) = keys(f);
            if !start(f, hs, ver_init, m0(m), vk) {
                return super::WRONG;
            }
            let _ = verify(f, hs, &[3u8; 32], &[0u8; 256]);
            verify(f, hs, &[3u8; 32], &[0u8; 256])
        });
    }
    r.add(v, "NULL signature with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, ver_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        p11!(f.t, C_Verify, hs, DATA.as_ptr() as *mut u8, 16, null_mut(), 32)
    });
    r.add(v, "NULL data with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, ver_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        let sig = [0u8; 32];
        p11!(f.t, C_Verify, hs, null_mut(), 16, sig.as_ptr() as *mut u8, 32)
    });
    let upd = "C_VerifyUpdate";
    r.add(upd, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        p11!(f.t, C_VerifyUpdate, hs, DATA.as_ptr() as *mut u8, 16)
    });
    r.add(upd, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_VerifyUpdate, BOGUS_SESSION, DATA.as_ptr() as *mut u8, 16)
    });
    r.add(upd, "NULL input with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, ver_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        p11!(f.t, C_VerifyUpdate, hs, null_mut(), 16)
    });
    let fin = "C_VerifyFinal";
    r.add(fin, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        p11!(f.t, C_VerifyFinal, hs, [0u8; 32].as_ptr() as *mut u8, 32)
    });
    r.add(fin, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_VerifyFinal, BOGUS_SESSION, [0u8; 32].as_ptr() as *mut u8, 32)
    });
    r.add(fin, "NULL signature with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, ver_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        p11!(f.t, C_VerifyFinal, hs, null_mut(), 32)
    });
    r.add(fin, "HMAC: wrong MAC", &[CKR_SIGNATURE_INVALID], |f, hs| {
        if !start(f, hs, ver_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        if p11!(f.t, C_VerifyUpdate, hs, DATA.as_ptr() as *mut u8, 16) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_VerifyFinal, hs, [0u8; 32].as_ptr() as *mut u8, 32)
    });
    r.add(fin, "HMAC: MAC of 31 bytes", &[CKR_SIGNATURE_LEN_RANGE], |f, hs| {
        if !start(f, hs, ver_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        if p11!(f.t, C_VerifyUpdate, hs, DATA.as_ptr() as *mut u8, 16) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_VerifyFinal, hs, [0u8; 31].as_ptr() as *mut u8, 31)
    });
    super::s5_11_sign::recover_rows(
        &mut r,
        "C_VerifyRecoverInit",
        vr_init,
        "C_VerifyRecover",
        verify_recover,
        |f| f.ec_pub,
    );
    r
}
