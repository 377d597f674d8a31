//! PKCS#11 3.0 section 5.10, message digesting: C_DigestInit, C_Digest, C_DigestUpdate,
//! C_DigestKey, C_DigestFinal.

use super::common::*;
use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.10", title: "Message digesting functions", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    let init = "C_DigestInit";
    r.add(init, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        dig_init(f, BOGUS_SESSION, &mut m0(CKM_SHA256), 0)
    });
    r.add(init, "invalid session and NULL mechanism", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        dig_init(f, BOGUS_SESSION, null_mut(), 0)
    })
    .dev(&crate::deviation::ARGS_BEFORE_SESSION, CKR_ARGUMENTS_BAD);
    r.add(init, "NULL mechanism", &[CKR_ARGUMENTS_BAD], |f, hs| dig_init(f, hs, null_mut(), 0));
    r.add(init, "mechanism no module offers", &[CKR_MECHANISM_INVALID], |f, hs| {
        dig_init(f, hs, &mut m0(BOGUS_MECH), 0)
    });
    for (what, m) in [
        ("cipher mechanism CKM_AES_ECB", CKM_AES_ECB),
        ("MAC mechanism CKM_SHA256_HMAC", CKM_SHA256_HMAC),
        ("signature mechanism CKM_SHA256_RSA_PKCS", CKM_SHA256_RSA_PKCS),
    ] {
        r.add(init, what, &[CKR_MECHANISM_INVALID], move |f, hs| dig_init(f, hs, &mut m0(m), 0));
    }
    r.add(init, "second Init while active", &[CKR_OPERATION_ACTIVE], |f, hs| {
        if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
            return super::WRONG;
        }
        dig_init(f, hs, &mut m0(CKM_SHA256), 0)
    });
    for (what, m, n) in [
        ("CKM_SHA_1 length query", CKM_SHA_1, 20),
        ("CKM_SHA224 length query", CKM_SHA224, 28),
        ("CKM_SHA256 length query", CKM_SHA256, 32),
        ("CKM_SHA384 length query", CKM_SHA384, 48),
        ("CKM_SHA512 length query", CKM_SHA512, 64),
    ] {
        r.add("C_Digest", what, &[CKR_OK], move |f, hs| {
            if dig_init(f, hs, &mut m0(m), 0) != CKR_OK {
                return super::WRONG;
            }
            call_out(f, hs, digest, b"abc", None, Some(n))
        });
    }
    oneshot_rows(&mut r, "C_Digest", digest, dig_init, CKM_SHA256, |_| 0, b"abc", 32);
    let upd = "C_DigestUpdate";
    r.add(upd, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        p11!(f.t, C_DigestUpdate, hs, b"abc".as_ptr() as *mut u8, 3)
    });
    r.add(upd, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_DigestUpdate, BOGUS_SESSION, b"abc".as_ptr() as *mut u8, 3)
    });
    r.add(upd, "NULL input with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_DigestUpdate, hs, null_mut(), 3)
    });
    r.add(upd, "C_Digest after C_DigestUpdate", &[CKR_OK, CKR_OPERATION_ACTIVE], |f, hs| {
        if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
            return super::WRONG;
        }
        if p11!(f.t, C_DigestUpdate, hs, b"abc".as_ptr() as *mut u8, 3) != CKR_OK {
            return super::WRONG;
        }
        call_out(f, hs, digest, b"abc", Some(64), None)
    });
    let key = "C_DigestKey";
    r.add(key, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        p11!(f.t, C_DigestKey, hs, f.aes)
    });
    r.add(key, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_DigestKey, BOGUS_SESSION, f.aes)
    });
    r.add(key, "key handle never given out", &[CKR_KEY_HANDLE_INVALID], |f, hs| {
        if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_DigestKey, hs, BOGUS_OBJECT)
    });
    r.add(key, "a secret key's value", &[CKR_OK], |f, hs| {
        if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_DigestKey, hs, f.aes)
    });
    r.add(key, "a private key", &[CKR_KEY_INDIGESTIBLE], |f, hs| {
        if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_DigestKey, hs, f.rsa_priv)
    });
    final_rows(&mut r, "C_DigestFinal", digest_final, dig_init, CKM_SHA256, |_| 0);
    r.add(
        "C_DigestFinal",
        "short buffer: CKR_BUFFER_TOO_SMALL and the length",
        &[CKR_BUFFER_TOO_SMALL],
        |f, hs| {
            if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
                return super::WRONG;
            }
            final_out(f, hs, digest_final, Some(31), Some(32))
        },
    );
    r.add("C_DigestFinal", "length query", &[CKR_OK], |f, hs| {
        if dig_init(f, hs, &mut m0(CKM_SHA384), 0) != CKR_OK {
            return super::WRONG;
        }
        final_out(f, hs, digest_final, None, Some(48))
    });
    r.add(
        "C_DigestFinal",
        "success ends the operation",
        &[CKR_OPERATION_NOT_INITIALIZED],
        |f, hs| {
            if dig_init(f, hs, &mut m0(CKM_SHA256), 0) != CKR_OK {
                return super::WRONG;
            }
            if final_out(f, hs, digest_final, Some(64), None) != CKR_OK {
                return super::WRONG;
            }
            final_out(f, hs, digest_final, Some(64), None)
        },
    );
    r
}
