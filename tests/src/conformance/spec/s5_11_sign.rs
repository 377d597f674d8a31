//! PKCS#11 3.0 section 5.11, signing and MACing: C_SignInit, C_Sign, C_SignUpdate,
//! C_SignFinal, C_SignRecoverInit, C_SignRecover.

use super::common::*;
use super::fixture::*;
use super::{Rows, Section};
use crate::deviation::{KEY_TYPE_UNCHECKED, RSA_DATA_LEN};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.11", title: "Signing and MACing functions", rows };

const DATA: &[u8] = b"sixteen byte msg";

fn rows() -> Rows {
    let mut r = Rows::default();
    let init = "C_SignInit";
    init_rows(
        &mut r,
        init,
        sign_init,
        CKM_AES_CMAC,
        |f| f.aes,
        Some(|f| f.aes_none),
        &[
            ("AES-CMAC with an RSA private key", |f| f.rsa_priv),
            ("AES-CMAC with an EC private key", |f| f.ec_priv),
        ],
        &[
            ("digest mechanism CKM_SHA256", CKM_SHA256),
            ("cipher-only mechanism CKM_AES_CBC_PAD, no parameter", CKM_AES_CBC_PAD),
            ("key generation mechanism CKM_EC_KEY_PAIR_GEN", CKM_EC_KEY_PAIR_GEN),
        ],
    );
    mark_init(&mut r, init);
    r.add(init, "ECDSA with an AES key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        sign_init(f, hs, &mut m0(CKM_ECDSA), f.aes)
    })
    .dev(&KEY_TYPE_UNCHECKED, CKR_OK);
    r.add(init, "ECDSA with an RSA private key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        sign_init(f, hs, &mut m0(CKM_ECDSA), f.rsa_priv)
    })
    .dev(&KEY_TYPE_UNCHECKED, CKR_OK);
    r.add(init, "RSA-PKCS with an EC private key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        sign_init(f, hs, &mut m0(CKM_RSA_PKCS), f.ec_priv)
    })
    .dev(&KEY_TYPE_UNCHECKED, CKR_OK);
    r.add(init, "SHA256-RSA-PKCS with an AES key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        sign_init(f, hs, &mut m0(CKM_SHA256_RSA_PKCS), f.aes)
    })
    .dev(&KEY_TYPE_UNCHECKED, CKR_OK);
    r.add(init, "HMAC-SHA256 with an RSA private key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        sign_init(f, hs, &mut m0(CKM_SHA256_HMAC), f.rsa_priv)
    });
    r.add(
        init,
        "ECDSA with the EC public key",
        &[CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED],
        |f, hs| sign_init(f, hs, &mut m0(CKM_ECDSA), f.ec_pub),
    );
    r.add(
        init,
        "RSA-PKCS with the RSA public key",
        &[CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED],
        |f, hs| sign_init(f, hs, &mut m0(CKM_RSA_PKCS), f.rsa_pub),
    );
    for (what, m, k) in [
        ("ECDSA with the EC private key", CKM_ECDSA, 0),
        ("RSA-PKCS with the RSA private key", CKM_RSA_PKCS, 1),
        ("HMAC-SHA256 with a generic secret", CKM_SHA256_HMAC, 2),
    ] {
        r.add(init, what, &[CKR_OK], move |f, hs| {
            let key = [f.ec_priv, f.rsa_priv, f.hmac][k];
            sign_init(f, hs, &mut m0(m), key)
        });
    }
    oneshot_rows(&mut r, "C_Sign", sign, sign_init, CKM_SHA256_HMAC, |f| f.hmac, DATA, 32);
    r.add("C_Sign", "ECDSA P-256 length query: 64 bytes", &[CKR_OK], |f, hs| {
        if !start(f, hs, sign_init, m0(CKM_ECDSA), f.ec_priv) {
            return super::WRONG;
        }
        call_out(f, hs, sign, &[1; 32], None, Some(64))
    });
    r.add("C_Sign", "RSA-PKCS length query: modulus length", &[CKR_OK], |f, hs| {
        if !start(f, hs, sign_init, m0(CKM_RSA_PKCS), f.rsa_priv) {
            return super::WRONG;
        }
        call_out(f, hs, sign, DATA, None, Some(256))
    });
    r.add("C_Sign", "RSA-PKCS input longer than k-11", &[CKR_DATA_LEN_RANGE], |f, hs| {
        if !start(f, hs, sign_init, m0(CKM_RSA_PKCS), f.rsa_priv) {
            return super::WRONG;
        }
        call_out(f, hs, sign, &[1; 246], Some(512), None)
    })
    .dev(&RSA_DATA_LEN, CKR_GENERAL_ERROR);
    let upd = "C_SignUpdate";
    r.add(upd, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        p11!(f.t, C_SignUpdate, hs, DATA.as_ptr() as *mut u8, 16)
    });
    r.add(upd, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_SignUpdate, BOGUS_SESSION, DATA.as_ptr() as *mut u8, 16)
    });
    r.add(upd, "NULL input with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, sign_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        p11!(f.t, C_SignUpdate, hs, null_mut(), 16)
    });
    r.add(upd, "multi-part HMAC", &[CKR_OK], |f, hs| {
        if !start(f, hs, sign_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        p11!(f.t, C_SignUpdate, hs, DATA.as_ptr() as *mut u8, 16)
    });
    final_rows(&mut r, "C_SignFinal", sign_final, sign_init, CKM_SHA256_HMAC, |f| f.hmac);
    r.add(
        "C_SignFinal",
        "short buffer: CKR_BUFFER_TOO_SMALL and the length",
        &[CKR_BUFFER_TOO_SMALL],
        |f, hs| {
            if !start(f, hs, sign_init, m0(CKM_SHA256_HMAC), f.hmac) {
                return super::WRONG;
            }
            final_out(f, hs, sign_final, Some(31), Some(32))
        },
    );
    r.add("C_SignFinal", "length query", &[CKR_OK], |f, hs| {
        if !start(f, hs, sign_init, m0(CKM_SHA256_HMAC), f.hmac) {
            return super::WRONG;
        }
        final_out(f, hs, sign_final, None, Some(32))
    });
    r.add(
        "C_SignFinal",
        "success ends the operation",
        &[CKR_OPERATION_NOT_INITIALIZED],
        |f, hs| {
            if !start(f, hs, sign_init, m0(CKM_SHA256_HMAC), f.hmac) {
                return super::WRONG;
            }
            if final_out(f, hs, sign_final, Some(64), None) != CKR_OK {
                return super::WRONG;
            }
            final_out(f, hs, sign_final, Some(64), None)
        },
    );
    recover_rows(&mut r, "C_SignRecoverInit", sr_init, "C_SignRecover", sign_recover, |f| {
        f.ec_priv
    });
    r
}

/// C_SignRecoverInit / C_VerifyRecoverInit and their calls: a module may not offer
/// recovery at all (CKR_FUNCTION_NOT_SUPPORTED); where it does, ECDSA and HMAC are not
/// recovery mechanisms.
pub fn recover_rows(
    r: &mut Rows,
    init: &'static str,
    fi: Init,
    call: &'static str,
    fc: OneShot,
    ec: Key,
) {
    const NS: CK_RV = CKR_FUNCTION_NOT_SUPPORTED;
    r.add(init, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID, NS], move |f, _| {
        fi(f, BOGUS_SESSION, &mut m0(CKM_RSA_X_509), f.rsa_priv)
    });
    r.add(init, "ECDSA is no recovery mechanism", &[CKR_MECHANISM_INVALID, NS], move |f, hs| {
        fi(f, hs, &mut m0(CKM_ECDSA), ec(f))
    });
    r.add(init, "HMAC is no recovery mechanism", &[CKR_MECHANISM_INVALID, NS], move |f, hs| {
        fi(f, hs, &mut m0(CKM_SHA256_HMAC), f.hmac)
    });
    r.add(init, "NULL mechanism", &[CKR_ARGUMENTS_BAD, NS], move |f, hs| {
        fi(f, hs, null_mut(), f.hmac)
    });
    r.add(call, "without Init", &[CKR_OPERATION_NOT_INITIALIZED, NS], move |f, hs| {
        call_out(f, hs, fc, DATA, Some(512), None)
    });
    r.add(call, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID, NS], move |f, _| {
        call_out(f, BOGUS_SESSION, fc, DATA, Some(512), None)
    });
}
