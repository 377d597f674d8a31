//! Answers both instance kinds must give alike (issue 10): the provider judges the
//! mistake before any backend is called, so the hardware instance does not pass its
//! token's answer through and the software instance gives the same code.

use super::rawop::*;
use crate::ck;
use crate::deviation::{
    ATTR_LEN_CODE, DIGEST_KEY_KEEPS_OP, EC_PARAMS_CODE, KEY_TYPE_UNCHECKED, MECH_PARAM_CODE,
};
use crate::env::Env;
use crate::kat::*;
use crate::raw::rv;
use cryptoki::error::Rv;
use cryptoki_sys::*;
use kmsbridge_testkit::keys::import_aes;
use std::ptr::null_mut;

/// `CK_ULONG` as a template value.
fn ulong(v: &CK_ULONG) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: CKA_VALUE_LEN,
        pValue: v as *const CK_ULONG as *mut _,
        ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    }
}

/// C_GenerateKey with a mechanism that is not a key-generation mechanism answers
/// CKR_MECHANISM_INVALID (PKCS#11 3.0 5.14), whatever its parameter: AES-GCM with
/// and without CK_GCM_PARAMS, AES-ECB, a key-pair mechanism. C_GenerateKeyPair with
/// a secret-key mechanism likewise.
pub fn generate_key_mechanism_invalid(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let invalid = rv(CKR_MECHANISM_INVALID);
    let len: CK_ULONG = 16;
    let mut tpl = [ulong(&len)];
    let mut out: CK_OBJECT_HANDLE = 0;
    let mut iv = [0u8; 12];
    let mut gcm = CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: null_mut(),
        ulAADLen: 0,
        ulTagBits: 128,
    };
    let mut with_params = mech_with(CKM_AES_GCM, &mut gcm);
    let code = ck!(t, C_GenerateKey, hs, &mut with_params, tpl.as_mut_ptr(), 1, &mut out);
    assert_eq!(code, invalid, "C_GenerateKey(CKM_AES_GCM with CK_GCM_PARAMS)");
    for m in [CKM_AES_GCM, CKM_AES_ECB, CKM_EC_KEY_PAIR_GEN] {
        let mut m = mech(m);
        let code = ck!(t, C_GenerateKey, hs, &mut m, tpl.as_mut_ptr(), 1, &mut out);
        assert_eq!(code, invalid, "C_GenerateKey(mechanism {:#x})", m.mechanism);
    }
    let (mut a, mut b) = (0, 0);
    let mut m = mech(CKM_AES_KEY_GEN);
    let tp = tpl.as_mut_ptr();
    let code = ck!(t, C_GenerateKeyPair, hs, &mut m, tp, 1, tp, 1, &mut a, &mut b);
    assert_eq!(code, invalid, "C_GenerateKeyPair(CKM_AES_KEY_GEN)");
    let mut m = mech(CKM_AES_KEY_GEN);
    assert_eq!(ck!(t, C_GenerateKey, hs, &mut m, tp, 1, &mut out), OK, "the right mechanism");
}

/// A key of the wrong type for the mechanism is CKR_KEY_TYPE_INCONSISTENT at Init:
/// `C_SignInit(CKM_ECDSA)` with an AES key (SoftHSM2: [`KEY_TYPE_UNCHECKED`]), and
/// nothing is started.
pub fn sign_init_key_type_inconsistent(t: &Env) {
    let s = t.user_session();
    let aes = import_aes(&s, &h(AES128_KEY)).handle();
    let hs = s.handle();
    let mut m = mech(CKM_ECDSA);
    let code = ck!(t, C_SignInit, hs, &mut m, aes);
    let spec = rv(CKR_KEY_TYPE_INCONSISTENT);
    t.expect_spec("C_SignInit(CKM_ECDSA, AES key)", code, spec, &KEY_TYPE_UNCHECKED, OK);
    // SoftHSM2 started an operation: sign with the key on a session of its own.
    let other = t.rw_session();
    let mut m = mech(CKM_AES_CMAC);
    let code = ck!(t, C_SignInit, other.handle(), &mut m, aes);
    assert_eq!(code, OK, "the AES key signs with CMAC");
}

fn ec_pair(t: &Env, hs: CK_SESSION_HANDLE, params: &[u8]) -> Rv {
    let mut m = mech(CKM_EC_KEY_PAIR_GEN);
    let mut public = [CK_ATTRIBUTE {
        type_: CKA_EC_PARAMS,
        pValue: params.as_ptr() as *mut _,
        ulValueLen: params.len() as CK_ULONG,
    }];
    let (mut a, mut b) = (0, 0);
    let (pu, pr) = (public.as_mut_ptr(), null_mut());
    ck!(t, C_GenerateKeyPair, hs, &mut m, pu, 1, pr, 0, &mut a, &mut b)
}

/// C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN) judges CKA_EC_PARAMS: bytes that are not a
/// curve identifier are CKR_ATTRIBUTE_VALUE_INVALID (SoftHSM2: [`EC_PARAMS_CODE`]),
/// a well-formed OID of no offered curve CKR_CURVE_NOT_SUPPORTED; P-256 works.
pub fn ec_params_invalid(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let garbage = ec_pair(t, hs, &[0xde, 0xad, 0xbe, 0xef]);
    let spec = rv(CKR_ATTRIBUTE_VALUE_INVALID);
    t.expect_spec("garbage CKA_EC_PARAMS", garbage, spec, &EC_PARAMS_CODE, rv(CKR_GENERAL_ERROR));
    // 1.2.3.4: a well-formed OID that names no curve.
    let unknown = ec_pair(t, hs, &[0x06, 0x03, 0x2a, 0x03, 0x04]);
    let spec = rv(CKR_CURVE_NOT_SUPPORTED);
    t.expect_spec("unknown curve OID", unknown, spec, &EC_PARAMS_CODE, rv(CKR_GENERAL_ERROR));
    let p256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    assert_eq!(ec_pair(t, hs, &p256), OK, "P-256");
    // secp256k1 (1.3.132.0.10): a curve the token offers and kmsbridge does not know.
    // A hardware instance carries it to its token; the software instance offers only
    // P-256/384/521 and Ed25519 (docs/FUNCTIONS.md), so it refuses it as the spec says.
    let k1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    let want = match t.target {
        crate::env::Target::Software => rv(CKR_CURVE_NOT_SUPPORTED),
        crate::env::Target::SoftHsm | crate::env::Target::Bridge => OK,
    };
    assert_eq!(ec_pair(t, hs, &k1), want, "secp256k1 on {:?}", t.target);
}

/// AES-GCM with a tag length outside SP 800-38D's set (7 bits, 100 bits) is
/// CKR_MECHANISM_PARAM_INVALID at Init (SoftHSM2: [`MECH_PARAM_CODE`]); 96 bits works.
pub fn gcm_tag_bits_invalid(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY)).handle();
    let hs = s.handle();
    let mut iv = [0u8; 12];
    let mut init = |bits: CK_ULONG| {
        let mut gcm = CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: null_mut(),
            ulAADLen: 0,
            ulTagBits: bits,
        };
        let mut m = mech_with(CKM_AES_GCM, &mut gcm);
        ck!(t, C_EncryptInit, hs, &mut m, key)
    };
    let spec = rv(CKR_MECHANISM_PARAM_INVALID);
    let bad = rv(CKR_ARGUMENTS_BAD);
    t.expect_spec("GCM with a 7-bit tag", init(7), spec, &MECH_PARAM_CODE, bad);
    t.expect_spec("GCM with a 100-bit tag", init(100), spec, &MECH_PARAM_CODE, bad);
    assert_eq!(init(96), OK, "GCM with a 96-bit tag");
}

/// An attribute value whose length does not fit its type is
/// CKR_ATTRIBUTE_VALUE_INVALID: C_CreateObject with a 1-byte CKA_CLASS (SoftHSM2:
/// [`ATTR_LEN_CODE`]) or a 4-byte CKA_TOKEN.
pub fn attribute_length_invalid(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let mut out: CK_OBJECT_HANDLE = 0;
    let class = [CKO_DATA as u8];
    let mut tpl =
        [CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_ptr() as *mut _, ulValueLen: 1 }];
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), 1, &mut out);
    let spec = rv(CKR_ATTRIBUTE_VALUE_INVALID);
    let softhsm = rv(CKR_TEMPLATE_INCOMPLETE);
    t.expect_spec("1-byte CKA_CLASS", code, spec, &ATTR_LEN_CODE, softhsm);
    let class = CKO_DATA.to_ne_bytes();
    let token = [0u8; 4];
    let mut tpl = [
        CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_ptr() as *mut _, ulValueLen: 8 },
        CK_ATTRIBUTE { type_: CKA_TOKEN, pValue: token.as_ptr() as *mut _, ulValueLen: 4 },
    ];
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), 2, &mut out);
    assert_eq!(code, spec, "4-byte CKA_TOKEN");
}

/// Raw C_DigestInit(SHA-256) + C_DigestKey(key): the code of C_DigestKey (or of the Init).
fn digest_key(t: &Env, hs: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Rv {
    let mut m = mech(CKM_SHA256);
    assert_eq!(ck!(t, C_DigestInit, hs, &mut m), OK, "C_DigestInit");
    ck!(t, C_DigestKey, hs, key)
}

/// Raw C_DigestFinal into a 32-byte buffer.
fn digest_final(t: &Env, hs: CK_SESSION_HANDLE) -> (Rv, Vec<u8>) {
    let mut out = [0u8; 32];
    let mut n = out.len() as CK_ULONG;
    let code = ck!(t, C_DigestFinal, hs, out.as_mut_ptr(), &mut n);
    (code, out[..(n as usize).min(32)].to_vec())
}

/// C_DigestKey of a secret key digests its value (C_DigestUpdate of the value and
/// C_DigestKey give the same digest); a handle that does not exist is
/// CKR_KEY_HANDLE_INVALID and ends the operation (SoftHSM2: [`DIGEST_KEY_KEEPS_OP`]);
/// a sensitive key is digested too, on every target.
pub fn digest_key_secret(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let value = h(AES128_KEY);
    let key = import_aes(&s, &value).handle();
    assert_eq!(digest_key(t, hs, key), OK, "C_DigestKey of an AES key");
    let data = b"after the key";
    let code = ck!(t, C_DigestUpdate, hs, data.as_ptr() as *mut u8, data.len() as CK_ULONG);
    assert_eq!(code, OK, "C_DigestUpdate after C_DigestKey");
    let (code, got) = digest_final(t, hs);
    assert_eq!(code, OK, "C_DigestFinal");
    let mut want = value.clone();
    want.extend_from_slice(data);
    let want = s.digest(&cryptoki::mechanism::Mechanism::Sha256, &want).unwrap();
    assert_eq!(hex::encode(got), hex::encode(want), "digest of key value ‖ data");

    assert_eq!(digest_key(t, hs, 0x7ead_0b1e), rv(CKR_KEY_HANDLE_INVALID), "no such key");
    let (code, _) = digest_final(t, hs);
    let ended = rv(CKR_OPERATION_NOT_INITIALIZED);
    let what = "a failed C_DigestKey ends the digest";
    t.expect_spec(what, code, ended, &DIGEST_KEY_KEEPS_OP, OK);

    let sensitive = gen_aes_sensitive(&s);
    // The spec allows CKR_KEY_INDIGESTIBLE for a key the token cannot digest; all
    // three targets digest a sensitive key's value inside the module (it never leaves).
    assert_eq!(digest_key(t, hs, sensitive), OK, "C_DigestKey of a sensitive key");
    assert_eq!(digest_final(t, hs).0, OK, "C_DigestFinal after a sensitive key");
}

fn gen_aes_sensitive(s: &cryptoki::session::Session) -> CK_OBJECT_HANDLE {
    use cryptoki::object::Attribute;
    s.generate_key(
        &cryptoki::mechanism::Mechanism::AesKeyGen,
        &[
            Attribute::Token(false),
            Attribute::ValueLen(16.into()),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ],
    )
    .expect("C_GenerateKey (sensitive AES)")
    .handle()
}

/// Raw C_SetAttributeValue of one CK_BBOOL.
fn set_bool(
    t: &Env,
    hs: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    ty: CK_ATTRIBUTE_TYPE,
    v: bool,
) -> Rv {
    let b = [v as u8];
    let mut a = [CK_ATTRIBUTE { type_: ty, pValue: b.as_ptr() as *mut _, ulValueLen: 1 }];
    ck!(t, C_SetAttributeValue, hs, obj, a.as_mut_ptr(), 1)
}

/// Latching attributes (PKCS#11 3.0 4.9): CKA_SENSITIVE false→true and CKA_EXTRACTABLE
/// true→false succeed, and the key stays usable under the same handle with its
/// value now sensitive; the reverse changes answer CKR_ATTRIBUTE_READ_ONLY.
pub fn latching_attributes(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let key = import_aes(&s, &h(AES128_KEY)).handle();
    latch(t, hs, key);
    for token in [false, true] {
        let key = gen_latchable(&s, token);
        latch_generated(t, hs, key, token);
    }
    // Both in one call, through cryptoki, then the key found again by its handle.
    let key = cryptoki_handle(gen_latchable(&s, true));
    use cryptoki::object::{Attribute, AttributeType};
    s.update_attributes(key, &[Attribute::Sensitive(true), Attribute::Extractable(false)])
        .expect("CKA_SENSITIVE and CKA_EXTRACTABLE in one C_SetAttributeValue");
    let got = s.get_attributes(key, &[AttributeType::Sensitive, AttributeType::Extractable]);
    let got = got.expect("the handle stays valid");
    assert_eq!(got.len(), 2, "both attributes read back");
    s.destroy_object(key).expect("C_DestroyObject of the latched token key");
}

fn gen_latchable(s: &cryptoki::session::Session, token: bool) -> CK_OBJECT_HANDLE {
    use cryptoki::object::Attribute;
    s.generate_key(
        &cryptoki::mechanism::Mechanism::AesKeyGen,
        &[
            Attribute::Token(token),
            Attribute::ValueLen(16.into()),
            Attribute::Encrypt(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ],
    )
    .expect("C_GenerateKey (latchable AES)")
    .handle()
}

fn latch_generated(t: &Env, hs: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, token: bool) {
    let what = if token { "token key" } else { "session key" };
    assert_eq!(set_bool(t, hs, key, CKA_SENSITIVE, true), OK, "{what}: CKA_SENSITIVE");
    let (code, _, v) = super::raw_attr(t, hs, key, CKA_SENSITIVE, Some(1));
    assert_eq!((code, v), (OK, vec![CK_TRUE]), "{what}: CKA_SENSITIVE after");
    let ext = CKA_EXTRACTABLE;
    assert_eq!(set_bool(t, hs, key, ext, false), OK, "{what}: CKA_EXTRACTABLE");
    let (code, _, v) = super::raw_attr(t, hs, key, CKA_EXTRACTABLE, Some(1));
    assert_eq!((code, v), (OK, vec![CK_FALSE]), "{what}: CKA_EXTRACTABLE after");
    ecb_init(t, hs, cryptoki_handle(key));
    let (code, _, _) = encrypt(t, hs, &h(AES_PT), Some(64));
    assert_eq!(code, OK, "{what}: the key still works");
    let read_only = rv(CKR_ATTRIBUTE_READ_ONLY);
    let code = set_bool(t, hs, key, CKA_SENSITIVE, false);
    assert_eq!(code, read_only, "{what}: CKA_SENSITIVE true→false");
    assert_eq!(set_bool(t, hs, key, ext, true), read_only, "{what}: CKA_EXTRACTABLE false→true");
}

fn latch(t: &Env, hs: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) {
    assert_eq!(set_bool(t, hs, key, CKA_SENSITIVE, true), OK, "CKA_SENSITIVE false→true");
    let (code, _, v) = super::raw_attr(t, hs, key, CKA_SENSITIVE, Some(1));
    assert_eq!((code, v), (OK, vec![CK_TRUE]), "CKA_SENSITIVE after the change");
    let (code, _, _) = super::raw_attr(t, hs, key, CKA_VALUE, Some(64));
    assert_eq!(code, rv(CKR_ATTRIBUTE_SENSITIVE), "CKA_VALUE of a now sensitive key");
    let ext = CKA_EXTRACTABLE;
    assert_eq!(set_bool(t, hs, key, ext, false), OK, "CKA_EXTRACTABLE true→false");
    let (code, _, v) = super::raw_attr(t, hs, key, CKA_EXTRACTABLE, Some(1));
    assert_eq!((code, v), (OK, vec![CK_FALSE]), "CKA_EXTRACTABLE after the change");
    ecb_init(t, hs, cryptoki_handle(key));
    let (code, _, out) = encrypt(t, hs, &h(AES_PT), Some(64));
    assert_eq!((code, hex::encode(out)), (OK, hex::encode(h(AES_ECB_CT))), "the key still works");
    let read_only = rv(CKR_ATTRIBUTE_READ_ONLY);
    assert_eq!(set_bool(t, hs, key, CKA_SENSITIVE, false), read_only, "CKA_SENSITIVE true→false");
    assert_eq!(set_bool(t, hs, key, ext, true), read_only, "CKA_EXTRACTABLE false→true");
}

fn cryptoki_handle(h: CK_OBJECT_HANDLE) -> cryptoki::object::ObjectHandle {
    // SAFETY: a handle the module gave out in this session.
    unsafe { cryptoki::object::ObjectHandle::new_from_raw(h) }
}

/// A template of CK_ATTRIBUTEs pointing into `vals` (each value's bytes).
fn raw_template(vals: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<CK_ATTRIBUTE> {
    vals.iter()
        .map(|(ty, v)| CK_ATTRIBUTE {
            type_: *ty,
            pValue: v.as_ptr() as *mut _,
            ulValueLen: v.len() as CK_ULONG,
        })
        .collect()
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// C_CreateObject of a public session object on a R/W session nobody logged in to is
/// allowed (PKCS#11 3.0 table 10: "R/W Public Session": read/write access to public
/// session objects): a data object and an EC public key with CKA_PRIVATE false, a
/// certificate without CKA_PRIVATE (public by default); an incomplete template answers
/// CKR_TEMPLATE_INCOMPLETE; a private object CKR_USER_NOT_LOGGED_IN; on kmsbridge the
/// module's reserved names stay refused.
pub fn create_public_object_without_login(t: &Env) {
    let s = t.rw_session();
    let hs = s.handle();
    let mut out: CK_OBJECT_HANDLE = 0;
    let (f, tr) = (vec![CK_FALSE], vec![CK_TRUE]);
    let data = [
        (CKA_CLASS, ul(CKO_DATA)),
        (CKA_TOKEN, f.clone()),
        (CKA_PRIVATE, f.clone()),
        (CKA_LABEL, b"public data".to_vec()),
        (CKA_VALUE, b"hello".to_vec()),
    ];
    let mut tpl = raw_template(&data);
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
    assert_eq!(code, OK, "public session data object without login");
    let (code, _, v) = super::raw_attr(t, hs, out, CKA_VALUE, Some(16));
    assert_eq!((code, v), (OK, b"hello".to_vec()), "its value reads back");
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    // DER OCTET STRING of P-256's base point G (the public key of private key 1).
    let mut point = vec![0x04, 0x41];
    point.extend_from_slice(&h(P256_G));
    let public = |with_point: bool| {
        let mut v = vec![
            (CKA_CLASS, ul(CKO_PUBLIC_KEY)),
            (CKA_KEY_TYPE, ul(CKK_EC)),
            (CKA_TOKEN, f.clone()),
            (CKA_PRIVATE, f.clone()),
            (CKA_VERIFY, tr.clone()),
            (CKA_EC_PARAMS, p256.clone()),
        ];
        if with_point {
            v.push((CKA_EC_POINT, point.clone()));
        }
        v
    };
    let vals = public(true);
    let mut tpl = raw_template(&vals);
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
    assert_eq!(code, OK, "public session EC key without login");
    let vals = public(false);
    let mut tpl = raw_template(&vals);
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
    assert_eq!(code, rv(CKR_TEMPLATE_INCOMPLETE), "EC public key without CKA_EC_POINT");
    // Certificates, like public keys, are public by default (SoftHSM2 and both
    // instance kinds); a data object is private by default.
    let cert = |value: bool, id: &[u8]| {
        let mut v = vec![
            (CKA_CLASS, ul(CKO_CERTIFICATE)),
            (CKA_CERTIFICATE_TYPE, ul(CKC_X_509)),
            (CKA_TOKEN, f.clone()),
            (CKA_SUBJECT, vec![0x30, 0x00]),
            (CKA_ID, id.to_vec()),
        ];
        if value {
            v.push((CKA_VALUE, vec![0x30, 0x03, 0x02, 0x01, 0x01]));
        }
        v
    };
    let vals = cert(true, b"cert");
    let mut tpl = raw_template(&vals);
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
    assert_eq!(code, OK, "certificate without CKA_PRIVATE, without login");
    let (code, _, v) = super::raw_attr(t, hs, out, CKA_PRIVATE, Some(1));
    assert_eq!((code, v), (OK, vec![CK_FALSE]), "the certificate is public");
    let vals = cert(false, b"cert");
    let mut tpl = raw_template(&vals);
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
    assert_eq!(code, rv(CKR_TEMPLATE_INCOMPLETE), "certificate without CKA_VALUE");
    let vals = [(CKA_CLASS, ul(CKO_DATA)), (CKA_TOKEN, f.clone())];
    let mut tpl = raw_template(&vals);
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
    assert_eq!(code, rv(CKR_USER_NOT_LOGGED_IN), "data object, private by default");
    if t.is_kmsbridge() {
        // docs/ACCESS.md: the module's own names stay refused to a public session.
        let invalid = rv(CKR_ATTRIBUTE_VALUE_INVALID);
        let vals = cert(true, b"kmsbridge.svc.audit");
        let mut tpl = raw_template(&vals);
        let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
        assert_eq!(code, invalid, "a certificate with a service key's CKA_ID");
        let mut vals = data.to_vec();
        vals.push((CKA_APPLICATION, b"kmsbridge.meta".to_vec()));
        let mut tpl = raw_template(&vals);
        let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
        assert_eq!(code, invalid, "a public data object with the module's CKA_APPLICATION");
    }
    let mut private = data.to_vec();
    private[2] = (CKA_PRIVATE, tr.clone());
    let mut tpl = raw_template(&private);
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut out);
    assert_eq!(code, rv(CKR_USER_NOT_LOGGED_IN), "private data object without login");
}

/// P-256's base point, uncompressed (SEC 2 section 2.4.2).
const P256_G: &str = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
                      4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
