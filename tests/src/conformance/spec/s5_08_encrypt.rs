//! PKCS#11 3.0 section 5.8, encryption functions: C_EncryptInit, C_Encrypt,
//! C_EncryptUpdate, C_EncryptFinal.

use super::common::*;
use super::fixture::*;
use super::{Rows, Section, KILLS};
use crate::deviation::{PROCESS_EXIT, RSA_DATA_LEN};
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.8", title: "Encryption functions", rows };

const BLOCK: &[u8] = &[0x42; 32];

fn rows() -> Rows {
    let mut r = Rows::default();
    init_rows(
        &mut r,
        "C_EncryptInit",
        enc_init,
        CKM_AES_ECB,
        |f| f.aes,
        Some(|f| f.aes_none),
        &[
            ("AES-ECB with an RSA public key", |f| f.rsa_pub),
            ("AES-ECB with an EC public key", |f| f.ec_pub),
            ("AES-ECB with a generic secret", |f| f.hmac),
        ],
        &[
            ("digest mechanism CKM_SHA256", CKM_SHA256),
            ("MAC-only mechanism CKM_SHA256_HMAC", CKM_SHA256_HMAC),
            ("key generation mechanism CKM_AES_KEY_GEN", CKM_AES_KEY_GEN),
        ],
    );
    mark_init(&mut r, "C_EncryptInit");
    r.add("C_EncryptInit", "RSA-PKCS with an AES key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        enc_init(f, hs, &mut m0(CKM_RSA_PKCS), f.aes)
    });
    r.add(
        "C_EncryptInit",
        "RSA-PKCS with an EC public key",
        &[CKR_KEY_TYPE_INCONSISTENT],
        |f, hs| enc_init(f, hs, &mut m0(CKM_RSA_PKCS), f.ec_pub),
    );
    r.add(
        "C_EncryptInit",
        "ECDSA (sign-only) with an EC public key",
        &[CKR_MECHANISM_INVALID],
        |f, hs| enc_init(f, hs, &mut m0(CKM_ECDSA), f.ec_pub),
    );
    r.add("C_EncryptInit", "RSA-PKCS with the RSA public key", &[CKR_OK], |f, hs| {
        enc_init(f, hs, &mut m0(CKM_RSA_PKCS), f.rsa_pub)
    });
    oneshot_rows(&mut r, "C_Encrypt", encrypt, enc_init, CKM_AES_ECB, |f| f.aes, BLOCK, 32);
    r.add("C_Encrypt", "AES-ECB of 15 bytes", &[CKR_DATA_LEN_RANGE], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        call_out(f, hs, encrypt, &[0; 15], Some(64), None)
    });
    r.add("C_Encrypt", "AES-ECB of 0 bytes", &[CKR_OK, CKR_DATA_LEN_RANGE], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        call_out(f, hs, encrypt, &[], Some(64), None)
    });
    r.add("C_Encrypt", "an error ends the operation", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        if call_out(f, hs, encrypt, &[0; 15], Some(64), None) != CKR_DATA_LEN_RANGE {
            return super::WRONG;
        }
        call_out(f, hs, encrypt, BLOCK, Some(64), None)
    });
    r.add("C_Encrypt", "RSA-PKCS input longer than k-11", &[CKR_DATA_LEN_RANGE], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_RSA_PKCS), f.rsa_pub) {
            return super::WRONG;
        }
        call_out(f, hs, encrypt, &[1; 246], Some(512), None)
    })
    .dev(&RSA_DATA_LEN, CKR_GENERAL_ERROR);
    r.add("C_Encrypt", "RSA-PKCS length query: modulus length", &[CKR_OK], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_RSA_PKCS), f.rsa_pub) {
            return super::WRONG;
        }
        call_out(f, hs, encrypt, &[1; 16], None, Some(256))
    });
    r.add("C_Encrypt", "RSA-PKCS short buffer", &[CKR_BUFFER_TOO_SMALL], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_RSA_PKCS), f.rsa_pub) {
            return super::WRONG;
        }
        call_out(f, hs, encrypt, &[1; 16], Some(255), Some(256))
    });
    r.add(
        "C_Encrypt",
        "RSA-X-509 input longer than the modulus",
        &[CKR_DATA_LEN_RANGE],
        |f, hs| {
            if !start(f, hs, enc_init, m0(CKM_RSA_X_509), f.rsa_pub) {
                return super::WRONG;
            }
            call_out(f, hs, encrypt, &[1; 257], Some(512), None)
        },
    )
    .dev(&PROCESS_EXIT, KILLS);
    r.add(
        "C_Encrypt",
        "after C_EncryptUpdate (multi-part active)",
        &[CKR_OK, CKR_OPERATION_ACTIVE],
        |f, hs| {
            if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
                return super::WRONG;
            }
            if call_out(f, hs, enc_update, &[0; 16], Some(64), None) != CKR_OK {
                return super::WRONG;
            }
            call_out(f, hs, encrypt, BLOCK, Some(64), None)
        },
    );
    // C_EncryptUpdate
    let upd = "C_EncryptUpdate";
    r.add(upd, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        call_out(f, hs, enc_update, BLOCK, Some(64), None)
    });
    r.add(upd, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        call_out(f, BOGUS_SESSION, enc_update, BLOCK, Some(64), None)
    });
    r.add(upd, "NULL length pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        let mut o = [0u8; 64];
        enc_update(f, hs, BLOCK.as_ptr() as *mut u8, 32, o.as_mut_ptr(), null_mut())
    });
    r.add(upd, "NULL input with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        let mut o = [0u8; 64];
        let mut n: CK_ULONG = 64;
        enc_update(f, hs, null_mut(), 32, o.as_mut_ptr(), &mut n)
    });
    r.add(
        upd,
        "short buffer: CKR_BUFFER_TOO_SMALL and the length",
        &[CKR_BUFFER_TOO_SMALL],
        |f, hs| {
            if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
                return super::WRONG;
            }
            call_out(f, hs, enc_update, BLOCK, Some(16), Some(32))
        },
    );
    r.add(upd, "partial blocks are held back", &[CKR_OK], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        call_out(f, hs, enc_update, &[0; 5], Some(64), Some(0))
    });
    // C_EncryptFinal
    final_rows(&mut r, "C_EncryptFinal", enc_final, enc_init, CKM_AES_ECB, |f| f.aes);
    r.add("C_EncryptFinal", "AES-ECB with 5 bytes pending", &[CKR_DATA_LEN_RANGE], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        if call_out(f, hs, enc_update, &[0; 5], Some(64), None) != CKR_OK {
            return super::WRONG;
        }
        final_out(f, hs, enc_final, Some(64), None)
    });
    r.add("C_EncryptFinal", "AES-ECB with nothing pending: 0 bytes", &[CKR_OK], |f, hs| {
        if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        if call_out(f, hs, enc_update, BLOCK, Some(64), None) != CKR_OK {
            return super::WRONG;
        }
        final_out(f, hs, enc_final, Some(64), Some(0))
    });
    r.add(
        "C_EncryptFinal",
        "success ends the operation",
        &[CKR_OPERATION_NOT_INITIALIZED],
        |f, hs| {
            if !start(f, hs, enc_init, m0(CKM_AES_ECB), f.aes) {
                return super::WRONG;
            }
            if final_out(f, hs, enc_final, Some(64), None) != CKR_OK {
                return super::WRONG;
            }
            final_out(f, hs, enc_final, Some(64), None)
        },
    );
    r
}
