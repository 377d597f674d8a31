//! Operation state: Init/Update/Final rules, length queries, short buffers, and the
//! end of an operation after an error.

use super::rawop::*;
use crate::ck;
use crate::deviation::{DECRYPT_FAILURE_CODE, OP_ACTIVE_AFTER_ERROR};
use crate::env::Env;
use crate::kat::*;
use crate::raw::rv;
use cryptoki::mechanism::Mechanism;
use cryptoki_sys::*;
use kmsbridge_testkit::keys::{import_aes, import_generic};
use std::ptr::null_mut;

fn h_pt() -> Vec<u8> {
    h(AES_PT)
}

fn h_ecb() -> Vec<u8> {
    h(AES_ECB_CT)
}

/// Every operation function without its Init answers CKR_OPERATION_NOT_INITIALIZED.
pub fn operation_not_initialized(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let want = rv(CKR_OPERATION_NOT_INITIALIZED);
    let data = [0u8; 32];
    let (d, dl) = (data.as_ptr() as *mut u8, data.len() as CK_ULONG);
    let mut out = [0u8; 256];
    let o = out.as_mut_ptr();
    let mut n: CK_ULONG = 256;
    assert_eq!(encrypt(t, hs, &data, Some(64)).0, want, "C_Encrypt");
    assert_eq!(ck!(t, C_EncryptUpdate, hs, d, dl, o, &mut n), want, "C_EncryptUpdate");
    n = 256;
    assert_eq!(ck!(t, C_EncryptFinal, hs, o, &mut n), want, "C_EncryptFinal");
    n = 256;
    assert_eq!(ck!(t, C_Decrypt, hs, d, dl, o, &mut n), want, "C_Decrypt");
    n = 256;
    assert_eq!(ck!(t, C_DecryptUpdate, hs, d, dl, o, &mut n), want, "C_DecryptUpdate");
    n = 256;
    assert_eq!(ck!(t, C_DecryptFinal, hs, o, &mut n), want, "C_DecryptFinal");
    assert_eq!(sign(t, hs, &data, Some(256)).0, want, "C_Sign");
    assert_eq!(ck!(t, C_SignUpdate, hs, d, dl), want, "C_SignUpdate");
    n = 256;
    assert_eq!(ck!(t, C_SignFinal, hs, o, &mut n), want, "C_SignFinal");
    assert_eq!(ck!(t, C_Verify, hs, d, dl, d, dl), want, "C_Verify");
    assert_eq!(ck!(t, C_VerifyUpdate, hs, d, dl), want, "C_VerifyUpdate");
    assert_eq!(ck!(t, C_VerifyFinal, hs, d, dl), want, "C_VerifyFinal");
    n = 256;
    assert_eq!(ck!(t, C_Digest, hs, d, dl, o, &mut n), want, "C_Digest");
    assert_eq!(ck!(t, C_DigestUpdate, hs, d, dl), want, "C_DigestUpdate");
    n = 256;
    assert_eq!(ck!(t, C_DigestFinal, hs, o, &mut n), want, "C_DigestFinal");
    let mut found: CK_OBJECT_HANDLE = 0;
    assert_eq!(ck!(t, C_FindObjects, hs, &mut found, 1, &mut n), want, "C_FindObjects");
    assert_eq!(ck!(t, C_FindObjectsFinal, hs), want, "C_FindObjectsFinal");
}

/// A second Init while an operation is active answers CKR_OPERATION_ACTIVE and leaves it intact.
pub fn operation_active(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY));
    let mac = import_generic(&s, &[HMAC_KEY_BYTE; HMAC_KEY_LEN]);
    let hs = s.handle();
    ecb_init(t, hs, key);
    let mut m = mech(CKM_AES_ECB);
    let code = ck!(t, C_EncryptInit, hs, &mut m, key.handle());
    assert_eq!(code, rv(CKR_OPERATION_ACTIVE), "second C_EncryptInit");
    let (code, _, out) = encrypt(t, hs, &h_pt(), Some(64));
    assert_eq!((code, hex::encode(out)), (OK, hex::encode(h_ecb())), "first operation intact");
    let mut m = mech(CKM_SHA256_HMAC);
    assert_eq!(ck!(t, C_SignInit, hs, &mut m, mac.handle()), OK, "C_SignInit");
    assert_eq!(
        ck!(t, C_SignInit, hs, &mut m, mac.handle()),
        rv(CKR_OPERATION_ACTIVE),
        "C_SignInit"
    );
    let (code, _, out) = sign(t, hs, HMAC_DATA, Some(64));
    assert_eq!((code, hex::encode(out)), (OK, HMAC_TC6[0].to_string()), "first sign intact");
    let mut m = mech(CKM_SHA256);
    assert_eq!(ck!(t, C_DigestInit, hs, &mut m), OK, "C_DigestInit");
    assert_eq!(ck!(t, C_DigestInit, hs, &mut m), rv(CKR_OPERATION_ACTIVE), "C_DigestInit");
    let mut out = [0u8; 32];
    let mut n: CK_ULONG = 32;
    let code = ck!(t, C_Digest, hs, b"abc".as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut n);
    assert_eq!((code, hex::encode(out)), (OK, DIGEST_ABC[2].to_string()));
}

/// NULL output = length query: CKR_OK with a sufficient length, and the operation goes on.
pub fn length_query_keeps_operation(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY));
    let mac = import_generic(&s, &[HMAC_KEY_BYTE; HMAC_KEY_LEN]);
    let hs = s.handle();
    ecb_init(t, hs, key);
    let (code, len, _) = encrypt(t, hs, &h_pt(), None);
    assert_eq!(code, OK, "C_Encrypt length query");
    assert!(len >= 64, "C_Encrypt length query said {len}");
    let (code, len2, _) = encrypt(t, hs, &h_pt(), None);
    assert_eq!((code, len2), (OK, len), "a second length query");
    let (code, n, out) = encrypt(t, hs, &h_pt(), Some(len as usize));
    assert_eq!((code, n, hex::encode(out)), (OK, 64, hex::encode(h_ecb())));

    let mut m = mech(CKM_SHA256_HMAC);
    assert_eq!(ck!(t, C_SignInit, hs, &mut m, mac.handle()), OK, "C_SignInit");
    let (code, len, _) = sign(t, hs, HMAC_DATA, None);
    assert_eq!(code, OK, "C_Sign length query");
    assert!(len >= 32);
    let (code, _, out) = sign(t, hs, HMAC_DATA, Some(len as usize));
    assert_eq!((code, hex::encode(out)), (OK, HMAC_TC6[0].to_string()));

    let mut m = mech(CKM_SHA256);
    assert_eq!(ck!(t, C_DigestInit, hs, &mut m), OK, "C_DigestInit");
    assert_eq!(ck!(t, C_DigestUpdate, hs, b"abc".as_ptr() as *mut _, 3), OK);
    let mut n: CK_ULONG = 0;
    assert_eq!(ck!(t, C_DigestFinal, hs, null_mut(), &mut n), OK, "C_DigestFinal length query");
    assert!(n >= 32);
    let mut out = vec![0u8; n as usize];
    assert_eq!(ck!(t, C_DigestFinal, hs, out.as_mut_ptr(), &mut n), OK);
    assert_eq!(hex::encode(&out[..n as usize]), DIGEST_ABC[2]);

    let mut iv = h(AES_CBC_IV);
    let mut m = CK_MECHANISM {
        mechanism: CKM_AES_CBC_PAD,
        pParameter: iv.as_mut_ptr() as *mut _,
        ulParameterLen: 16,
    };
    assert_eq!(ck!(t, C_EncryptInit, hs, &mut m, key.handle()), OK, "C_EncryptInit");
    let pt = h_pt();
    let mut n: CK_ULONG = 0;
    let code = ck!(t, C_EncryptUpdate, hs, pt.as_ptr() as *mut _, 20, null_mut(), &mut n);
    assert_eq!(code, OK, "C_EncryptUpdate length query");
    assert!(n >= 16);
    let mut out = vec![0u8; n as usize + 32];
    let code = ck!(t, C_EncryptUpdate, hs, pt.as_ptr() as *mut _, 20, out.as_mut_ptr(), &mut n);
    assert_eq!((code, n), (OK, 16));
    let mut rest: CK_ULONG = 0;
    assert_eq!(ck!(t, C_EncryptFinal, hs, null_mut(), &mut rest), OK, "C_EncryptFinal query");
    assert!(rest >= 16);
    let mut fin = vec![0u8; rest as usize];
    assert_eq!(ck!(t, C_EncryptFinal, hs, fin.as_mut_ptr(), &mut rest), OK);
    out.truncate(16);
    out.extend(&fin[..rest as usize]);
    assert_eq!(hex::encode(out), AES_CBC_PAD_20_CT);

    let kek = import_aes(&s, &h(KW_KEK));
    let target = import_aes(&s, &h(KW_KEY));
    let mut m = mech(CKM_AES_KEY_WRAP);
    let mut n: CK_ULONG = 0;
    let code = ck!(t, C_WrapKey, hs, &mut m, kek.handle(), target.handle(), null_mut(), &mut n);
    assert_eq!(code, OK, "C_WrapKey length query");
    assert!(n >= 24);
    let mut out = vec![0u8; n as usize];
    let code =
        ck!(t, C_WrapKey, hs, &mut m, kek.handle(), target.handle(), out.as_mut_ptr(), &mut n);
    assert_eq!((code, hex::encode(&out[..n as usize])), (OK, KW_WRAPPED.to_string()));
}

/// A short buffer: CKR_BUFFER_TOO_SMALL with the needed length, and the operation goes on.
pub fn short_buffer_keeps_operation(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY));
    let mac = import_generic(&s, &[HMAC_KEY_BYTE; HMAC_KEY_LEN]);
    let hs = s.handle();
    let small = rv(CKR_BUFFER_TOO_SMALL);
    ecb_init(t, hs, key);
    let (code, len, _) = encrypt(t, hs, &h_pt(), Some(10));
    assert_eq!(code, small, "C_Encrypt into 10 bytes");
    assert!(len >= 64, "needed length {len}");
    let (code, _, out) = encrypt(t, hs, &h_pt(), Some(64));
    assert_eq!((code, hex::encode(out)), (OK, hex::encode(h_ecb())), "after BUFFER_TOO_SMALL");

    let mut m = mech(CKM_SHA256_HMAC);
    assert_eq!(ck!(t, C_SignInit, hs, &mut m, mac.handle()), OK, "C_SignInit");
    let (code, len, _) = sign(t, hs, HMAC_DATA, Some(8));
    assert_eq!(code, small, "C_Sign into 8 bytes");
    assert!(len >= 32);
    let (code, _, out) = sign(t, hs, HMAC_DATA, Some(32));
    assert_eq!((code, hex::encode(out)), (OK, HMAC_TC6[0].to_string()));

    let mut m = mech(CKM_SHA256);
    assert_eq!(ck!(t, C_DigestInit, hs, &mut m), OK, "C_DigestInit");
    assert_eq!(ck!(t, C_DigestUpdate, hs, b"abc".as_ptr() as *mut _, 3), OK);
    let mut out = [0u8; 32];
    let mut n: CK_ULONG = 4;
    assert_eq!(ck!(t, C_DigestFinal, hs, out.as_mut_ptr(), &mut n), small, "C_DigestFinal");
    assert_eq!(n, 32);
    assert_eq!(ck!(t, C_DigestFinal, hs, out.as_mut_ptr(), &mut n), OK);
    assert_eq!(hex::encode(out), DIGEST_ABC[2]);

    let gk = import_aes(&s, &h(GCM_KEY));
    let (mut iv, aad, ct) = (h(GCM_IV), h(GCM_AAD), h(GCM_CT_TAG));
    let mut gcm = CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: aad.as_ptr() as *mut _,
        ulAADLen: aad.len() as CK_ULONG,
        ulTagBits: 128,
    };
    let mut m = mech_with(CKM_AES_GCM, &mut gcm);
    assert_eq!(ck!(t, C_DecryptInit, hs, &mut m, gk.handle()), OK, "C_DecryptInit");
    let mut out = vec![0u8; 80];
    let (c, cl) = (ct.as_ptr() as *mut u8, ct.len() as CK_ULONG);
    let mut n: CK_ULONG = 5;
    assert_eq!(ck!(t, C_Decrypt, hs, c, cl, out.as_mut_ptr(), &mut n), small, "GCM C_Decrypt");
    assert!(n >= 60, "needed {n}");
    n = 80;
    assert_eq!(ck!(t, C_Decrypt, hs, c, cl, out.as_mut_ptr(), &mut n), OK);
    assert_eq!(hex::encode(&out[..n as usize]), GCM_PT.replace(' ', ""));

    let kek = import_aes(&s, &h(KW_KEK));
    let target = import_aes(&s, &h(KW_KEY));
    let mut m = mech(CKM_AES_KEY_WRAP);
    let mut out = [0u8; 24];
    let mut n: CK_ULONG = 8;
    let (kk, tk) = (kek.handle(), target.handle());
    assert_eq!(ck!(t, C_WrapKey, hs, &mut m, kk, tk, out.as_mut_ptr(), &mut n), small);
    assert_eq!(n, 24);
    assert_eq!(ck!(t, C_WrapKey, hs, &mut m, kk, tk, out.as_mut_ptr(), &mut n), OK);
    assert_eq!(hex::encode(out), KW_WRAPPED);
}

/// C_GetSlotList and C_GetMechanismList with short arrays.
pub fn short_list_buffers(t: &Env) {
    let mut n: CK_ULONG = 0;
    assert_eq!(ck!(t, C_GetSlotList, CK_TRUE, null_mut(), &mut n), OK);
    assert!(n >= 1);
    let count = n;
    let mut slots = vec![0 as CK_SLOT_ID; count as usize];
    n = 0;
    let code = ck!(t, C_GetSlotList, CK_TRUE, slots.as_mut_ptr(), &mut n);
    assert_eq!((code, n), (rv(CKR_BUFFER_TOO_SMALL), count), "C_GetSlotList into 0 entries");
    assert_eq!(ck!(t, C_GetSlotList, CK_TRUE, slots.as_mut_ptr(), &mut n), OK);
    assert!(slots.contains(&t.slot.id()));
    let all = super::mechanisms(t);
    let mut one = [0 as CK_MECHANISM_TYPE; 1];
    let mut n: CK_ULONG = 1;
    let code = ck!(t, C_GetMechanismList, t.slot.id(), one.as_mut_ptr(), &mut n);
    assert_eq!(code, rv(CKR_BUFFER_TOO_SMALL), "C_GetMechanismList into 1 entry");
    assert_eq!(n as usize, all.len(), "needed count");
}

/// Any answer but CKR_OK/CKR_BUFFER_TOO_SMALL ends the operation (C_Encrypt, C_Sign,
/// C_Verify, C_Decrypt, C_DecryptFinal).
pub fn operation_ends_after_error(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY));
    let mac = import_generic(&s, &[HMAC_KEY_BYTE; HMAC_KEY_LEN]);
    let hs = s.handle();
    let not_init = rv(CKR_OPERATION_NOT_INITIALIZED);
    let dev = &OP_ACTIVE_AFTER_ERROR;

    ecb_init(t, hs, key);
    let (code, _, _) = encrypt(t, hs, &[0u8; 15], Some(32));
    assert_eq!(code, rv(CKR_DATA_LEN_RANGE), "ECB of 15 bytes");
    assert_eq!(encrypt(t, hs, &[0u8; 16], Some(32)).0, not_init, "after CKR_DATA_LEN_RANGE");

    ecb_init(t, hs, key);
    let data = [0u8; 16];
    let mut out = [0u8; 16];
    let code = ck!(t, C_Encrypt, hs, data.as_ptr() as *mut _, 16, out.as_mut_ptr(), null_mut());
    assert_eq!(code, rv(CKR_ARGUMENTS_BAD), "C_Encrypt with NULL pulEncryptedDataLen");
    let after = encrypt(t, hs, &data, Some(16)).0;
    t.expect_spec("C_Encrypt after CKR_ARGUMENTS_BAD", after, not_init, dev, OK);

    let mut m = mech(CKM_SHA256_HMAC);
    let code = ck!(t, C_SignInit, hs, &mut m, mac.handle());
    assert_eq!(code, OK, "C_SignInit after C_Encrypt ended");
    let (d, dl) = (HMAC_DATA.as_ptr() as *mut u8, HMAC_DATA.len() as CK_ULONG);
    let mut sig = [0u8; 32];
    let code = ck!(t, C_Sign, hs, d, dl, sig.as_mut_ptr(), null_mut());
    assert_eq!(code, rv(CKR_ARGUMENTS_BAD), "C_Sign with NULL pulSignatureLen");
    let after = sign(t, hs, HMAC_DATA, Some(32)).0;
    t.expect_spec("C_Sign after CKR_ARGUMENTS_BAD", after, not_init, dev, OK);

    assert_eq!(
        ck!(t, C_VerifyInit, hs, &mut m, mac.handle()),
        OK,
        "C_VerifyInit after C_Sign ended"
    );
    let bad_mac = [0u8; 32];
    let code = ck!(t, C_Verify, hs, d, dl, bad_mac.as_ptr() as *mut _, 32);
    assert_eq!(code, rv(CKR_SIGNATURE_INVALID));
    let code = ck!(t, C_Verify, hs, d, dl, bad_mac.as_ptr() as *mut _, 32);
    assert_eq!(code, not_init, "C_Verify after CKR_SIGNATURE_INVALID");

    let gk = import_aes(&s, &h(GCM_KEY));
    let (mut iv, aad) = (h(GCM_IV), h(GCM_AAD));
    let mut ct = h(GCM_CT_TAG);
    *ct.last_mut().unwrap() ^= 1;
    let mut gcm = CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: aad.as_ptr() as *mut _,
        ulAADLen: aad.len() as CK_ULONG,
        ulTagBits: 128,
    };
    let mut m = mech_with(CKM_AES_GCM, &mut gcm);
    assert_eq!(ck!(t, C_DecryptInit, hs, &mut m, gk.handle()), OK, "C_DecryptInit");
    let mut out = vec![0u8; 80];
    let (c, cl) = (ct.as_mut_ptr(), ct.len() as CK_ULONG);
    let mut n: CK_ULONG = 80;
    let code = ck!(t, C_Decrypt, hs, c, cl, out.as_mut_ptr(), &mut n);
    let spec = rv(CKR_ENCRYPTED_DATA_INVALID);
    t.expect_spec("GCM wrong tag", code, spec, &DECRYPT_FAILURE_CODE, rv(CKR_GENERAL_ERROR));
    n = 80;
    let code = ck!(t, C_Decrypt, hs, c, cl, out.as_mut_ptr(), &mut n);
    assert_eq!(code, not_init, "C_Decrypt after a failed tag check");

    let mut iv: [u8; 16] = h(AES_CBC_IV).try_into().unwrap();
    let mut m = mech_with(CKM_AES_CBC_PAD, &mut iv);
    let cbc = Mechanism::AesCbc(h(AES_CBC_IV).try_into().unwrap());
    let mut garbage = s.encrypt(&cbc, key, &[0x55; 32]).expect("CBC of 2 blocks");
    assert_eq!(ck!(t, C_DecryptInit, hs, &mut m, key.handle()), OK, "C_DecryptInit");
    let mut out = [0u8; 64];
    let mut n: CK_ULONG = 64;
    let (g, gl) = (garbage.as_mut_ptr(), garbage.len() as CK_ULONG);
    assert_eq!(ck!(t, C_DecryptUpdate, hs, g, gl, out.as_mut_ptr(), &mut n), OK);
    n = 64;
    let code = ck!(t, C_DecryptFinal, hs, out.as_mut_ptr(), &mut n);
    let dev = &DECRYPT_FAILURE_CODE;
    t.expect_spec("CBC-PAD bad padding", code, spec, dev, rv(CKR_GENERAL_ERROR));
    n = 64;
    let code = ck!(t, C_DecryptFinal, hs, out.as_mut_ptr(), &mut n);
    assert_eq!(code, not_init, "C_DecryptFinal after bad padding");
}
