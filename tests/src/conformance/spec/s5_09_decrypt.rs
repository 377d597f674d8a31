//! PKCS#11 3.0 section 5.9, decryption functions: C_DecryptInit, C_Decrypt,
//! C_DecryptUpdate, C_DecryptFinal.

use super::common::*;
use super::fixture::*;
use super::{Rows, Section};
use crate::deviation::DECRYPT_FAILURE_CODE;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.9", title: "Decryption functions", rows };

const BLOCK: &[u8] = &[0x42; 32];

/// RSA-PKCS ciphertext of 16 bytes under the fixture's public key (empty on failure).
fn rsa_ct(f: &Fx, hs: CK_SESSION_HANDLE, m: CK_MECHANISM_TYPE) -> Vec<u8> {
    if !start(f, hs, enc_init, m0(m), f.rsa_pub) {
        return Vec::new();
    }
    let mut out = vec![0u8; 512];
    let mut n: CK_ULONG = 512;
    if encrypt(f, hs, [7u8; 16].as_ptr() as *mut u8, 16, out.as_mut_ptr(), &mut n) != CKR_OK {
        return Vec::new();
    }
    out.truncate(n as usize);
    out
}

fn rows() -> Rows {
    let mut r = Rows::default();
    init_rows(
        &mut r,
        "C_DecryptInit",
        dec_init,
        CKM_AES_ECB,
        |f| f.aes,
        Some(|f| f.aes_none),
        &[
            ("AES-ECB with an RSA private key", |f| f.rsa_priv),
            ("AES-ECB with an EC private key", |f| f.ec_priv),
            ("AES-ECB with a generic secret", |f| f.hmac),
        ],
        &[
            ("digest mechanism CKM_SHA256", CKM_SHA256),
            ("MAC-only mechanism CKM_AES_CMAC", CKM_AES_CMAC),
            ("key pair generation mechanism CKM_RSA_PKCS_KEY_PAIR_GEN", CKM_RSA_PKCS_KEY_PAIR_GEN),
        ],
    );
    mark_init(&mut r, "C_DecryptInit");
    r.add("C_DecryptInit", "RSA-PKCS with an AES key", &[CKR_KEY_TYPE_INCONSISTENT], |f, hs| {
        dec_init(f, hs, &mut m0(CKM_RSA_PKCS), f.aes)
    });
    r.add(
        "C_DecryptInit",
        "RSA-PKCS with an EC private key",
        &[CKR_KEY_TYPE_INCONSISTENT],
        |f, hs| dec_init(f, hs, &mut m0(CKM_RSA_PKCS), f.ec_priv),
    );
    r.add(
        "C_DecryptInit",
        "RSA-PKCS with the RSA public key",
        &[CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED],
        |f, hs| dec_init(f, hs, &mut m0(CKM_RSA_PKCS), f.rsa_pub),
    );
    r.add("C_DecryptInit", "RSA-PKCS with the RSA private key", &[CKR_OK], |f, hs| {
        dec_init(f, hs, &mut m0(CKM_RSA_PKCS), f.rsa_priv)
    });
    oneshot_rows(&mut r, "C_Decrypt", decrypt, dec_init, CKM_AES_ECB, |f| f.aes, BLOCK, 32);
    r.add("C_Decrypt", "AES-ECB of 15 bytes", &[CKR_ENCRYPTED_DATA_LEN_RANGE], |f, hs| {
        if !start(f, hs, dec_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        call_out(f, hs, decrypt, &[0; 15], Some(64), None)
    });
    r.add("C_Decrypt", "an error ends the operation", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        if !start(f, hs, dec_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        if call_out(f, hs, decrypt, &[0; 15], Some(64), None) != CKR_ENCRYPTED_DATA_LEN_RANGE {
            return super::WRONG;
        }
        call_out(f, hs, decrypt, BLOCK, Some(64), None)
    });
    r.add(
        "C_Decrypt",
        "RSA-PKCS ciphertext of 10 bytes",
        &[CKR_ENCRYPTED_DATA_LEN_RANGE],
        |f, hs| {
            if !start(f, hs, dec_init, m0(CKM_RSA_PKCS), f.rsa_priv) {
                return super::WRONG;
            }
            call_out(f, hs, decrypt, &[1; 10], Some(512), None)
        },
    )
    .dev(&DECRYPT_FAILURE_CODE, CKR_GENERAL_ERROR);
    r.add("C_Decrypt", "RSA-PKCS round trip", &[CKR_OK], |f, hs| {
        let ct = rsa_ct(f, hs, CKM_RSA_PKCS);
        if ct.len() != 256 || !start(f, hs, dec_init, m0(CKM_RSA_PKCS), f.rsa_priv) {
            return super::WRONG;
        }
        call_out(f, hs, decrypt, &ct, Some(512), Some(16))
    });
    r.add(
        "C_Decrypt",
        "RSA-PKCS short buffer for the plaintext",
        &[CKR_BUFFER_TOO_SMALL],
        |f, hs| {
            let ct = rsa_ct(f, hs, CKM_RSA_PKCS);
            if ct.len() != 256 || !start(f, hs, dec_init, m0(CKM_RSA_PKCS), f.rsa_priv) {
                return super::WRONG;
            }
            let mut out = [0u8; 8];
            let mut n: CK_ULONG = 8;
            decrypt(f, hs, ct.as_ptr() as *mut u8, 256, out.as_mut_ptr(), &mut n)
        },
    );
    r.add(
        "C_Decrypt",
        "RSA-PKCS ciphertext not made with the key",
        &[CKR_ENCRYPTED_DATA_INVALID],
        |f, hs| {
            if !start(f, hs, dec_init, m0(CKM_RSA_PKCS), f.rsa_priv) {
                return super::WRONG;
            }
            let mut ct = vec![0x11u8; 256];
            ct[0] = 0;
            call_out(f, hs, decrypt, &ct, Some(512), None)
        },
    )
    .dev(&DECRYPT_FAILURE_CODE, CKR_GENERAL_ERROR);
    let upd = "C_DecryptUpdate";
    r.add(upd, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        call_out(f, hs, dec_update, BLOCK, Some(64), None)
    });
    r.add(upd, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        call_out(f, BOGUS_SESSION, dec_update, BLOCK, Some(64), None)
    });
    r.add(upd, "NULL length pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, dec_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        let mut o = [0u8; 64];
        dec_update(f, hs, BLOCK.as_ptr() as *mut u8, 32, o.as_mut_ptr(), null_mut())
    });
    r.add(upd, "NULL input with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if !start(f, hs, dec_init, m0(CKM_AES_ECB), f.aes) {
            return super::WRONG;
        }
        let mut o = [0u8; 64];
        let mut n: CK_ULONG = 64;
        dec_update(f, hs, null_mut(), 32, o.as_mut_ptr(), &mut n)
    });
    r.add(
        upd,
        "short buffer: CKR_BUFFER_TOO_SMALL and the length",
        &[CKR_BUFFER_TOO_SMALL],
        |f, hs| {
            if !start(f, hs, dec_init, m0(CKM_AES_ECB), f.aes) {
                return super::WRONG;
            }
            call_out(f, hs, dec_update, BLOCK, Some(16), Some(32))
        },
    );
    final_rows(&mut r, "C_DecryptFinal", dec_final, dec_init, CKM_AES_ECB, |f| f.aes);
    r.add(
        "C_DecryptFinal",
        "AES-ECB with 5 bytes pending",
        &[CKR_ENCRYPTED_DATA_LEN_RANGE],
        |f, hs| {
            if !start(f, hs, dec_init, m0(CKM_AES_ECB), f.aes) {
                return super::WRONG;
            }
            if call_out(f, hs, dec_update, &[0; 5], Some(64), None) != CKR_OK {
                return super::WRONG;
            }
            final_out(f, hs, dec_final, Some(64), None)
        },
    );
    r.add(
        "C_DecryptFinal",
        "success ends the operation",
        &[CKR_OPERATION_NOT_INITIALIZED],
        |f, hs| {
            if !start(f, hs, dec_init, m0(CKM_AES_ECB), f.aes) {
                return super::WRONG;
            }
            if final_out(f, hs, dec_final, Some(64), None) != CKR_OK {
                return super::WRONG;
            }
            final_out(f, hs, dec_final, Some(64), None)
        },
    );
    r
}
