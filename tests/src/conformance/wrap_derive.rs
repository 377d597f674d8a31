//! Key wrap/unwrap (RFC 3394, RFC 5649, RSA-OAEP) and ECDH derivation.

use super::rawop::{mech_with, OK};
use crate::ck;
use crate::deviation::{KWP_LENGTH, OAEP_NO_SOURCE, UNWRAPPED_VALUE_LEN, UNWRAP_FAILURE_CODE};
use crate::env::Env;
use crate::kat::*;
use crate::raw::rv;
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::*;

fn secret_template(kt: KeyType) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

/// [`secret_template`] made sensitive: what a key generated in the token (a private
/// key, a guarding secret key) may unwrap under kmsbridge's key-usage policy
/// (docs/KEYS.md); the cases here test other things.
fn sensitive_template(kt: KeyType) -> Vec<Attribute> {
    let mut t = secret_template(kt);
    t.retain(|a| !matches!(a, Attribute::Sensitive(_)));
    t.push(Attribute::Sensitive(true));
    t
}

/// An AES-256 key that may wrap sensitive keys under the key-usage policy: generated
/// sensitive, without CKA_DECRYPT.
fn guarding_kek(s: &Session) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(false),
            Attribute::ValueLen(32.into()),
            Attribute::Sensitive(true),
            Attribute::Decrypt(false),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
        ],
    )
    .expect("C_GenerateKey (guarding KEK)")
}

fn ecb_block(s: &Session, k: ObjectHandle) -> Vec<u8> {
    s.encrypt(&Mechanism::AesEcb, k, &[0x11; 16]).expect("C_Encrypt (ECB)")
}

/// CKM_AES_KEY_WRAP against RFC 3394 4.1; unwrap gives the same key; a tampered blob
/// answers CKR_WRAPPED_KEY_INVALID (SoftHSM2: CKR_GENERAL_ERROR, [`UNWRAP_FAILURE_CODE`]).
pub fn aes_key_wrap(t: &Env) {
    let s = t.user_session();
    let kek = import_aes(&s, &h(KW_KEK));
    let key = import_aes(&s, &h(KW_KEY));
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, kek, key).expect("C_WrapKey");
    assert_eq!(hex::encode(&wrapped), KW_WRAPPED, "RFC 3394 4.1");
    let back = s
        .unwrap_key(&Mechanism::AesKeyWrap, kek, &wrapped, &secret_template(KeyType::AES))
        .expect("C_UnwrapKey");
    assert_eq!(attr_bytes(&s, back, AttributeType::Value), h(KW_KEY));
    assert_eq!(ecb_block(&s, back), ecb_block(&s, key));
    let mut bad = wrapped.clone();
    bad[0] ^= 1;
    let refused = s.unwrap_key(&Mechanism::AesKeyWrap, kek, &bad, &secret_template(KeyType::AES));
    let what = "CKM_AES_KEY_WRAP unwrap of a tampered blob";
    let general = RvError::GeneralError;
    t.expect_spec(what, err_of(refused), RvError::WrappedKeyInvalid, &UNWRAP_FAILURE_CODE, general);
    let gen_kek = gen_aes(&s, 32);
    let gen_key = gen_aes(&s, 32);
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, gen_kek, gen_key).expect("wrap AES-256");
    assert_eq!(wrapped.len(), 40, "RFC 3394 adds 8 bytes");
    let back = s
        .unwrap_key(&Mechanism::AesKeyWrap, gen_kek, &wrapped, &secret_template(KeyType::AES))
        .unwrap();
    assert_eq!(ecb_block(&s, back), ecb_block(&s, gen_key));
}

/// The KEK of the RFC 5649 vectors, and a template for the keys they unwrap to.
fn kwp_setup(s: &Session) -> (ObjectHandle, [Attribute; 5]) {
    let kek = import_aes(s, &h(KWP_KEK));
    let tpl = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    (kek, tpl)
}

/// CKM_AES_KEY_WRAP_PAD is RFC 5649 (KWP): the wrap of a whole-block key, and unwrap of
/// the RFC 5649 section 6 blobs (20 and 7 bytes) to the RFC's keys.
pub fn aes_key_wrap_pad(t: &Env) {
    let s = t.user_session();
    let (kek, tpl) = kwp_setup(&s);
    let whole = import_aes(&s, &h(KW_KEY));
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, whole).expect("C_WrapKey (KWP)");
    assert_eq!(hex::encode(&wrapped), KWP_KEK192_KEY128, "KWP of a 16-byte key");
    let back = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &wrapped, &tpl).expect("C_UnwrapKey");
    assert_eq!(attr_bytes(&s, back, AttributeType::Value), h(KW_KEY), "KWP round trip");
    for (value, rfc) in KWP_VECTORS {
        let n = value.len() / 2;
        let k = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &h(rfc), &tpl);
        let k = k.unwrap_or_else(|e| panic!("C_UnwrapKey of the RFC 5649 blob of {n} bytes: {e}"));
        let got = attr_bytes(&s, k, AttributeType::Value);
        assert_eq!(got, h(value), "unwrap of the RFC 5649 blob of {n} bytes");
    }
}

/// What SoftHSM2 2.6 wraps the two RFC 5649 vectors to ([`KWP_LENGTH`]).
const SOFTHSM_KWP: [&str; 2] = [
    "cf1e485360e1a8126f524d01771677f9400edb4d074f14116988d71e1588e367",
    "0e13c7817f2e6681f64d911b7dd014d5",
];

/// CKM_AES_KEY_WRAP_PAD of keys that are not whole 8-byte blocks (the RFC 5649 section 6
/// vectors, 20 and 7 bytes) gives the RFC's blobs, which unwrap to the same keys.
/// SoftHSM2 2.6 writes another blob that unwraps to a zero-padded key ([`KWP_LENGTH`]);
/// kmsbridge cannot correct that without the key leaving the HSM and refuses the wrap
/// on the hardware instance (CKR_KEY_NOT_WRAPPABLE): a forwarded deviation, named in
/// the bridge run. The software instance must give the RFC's blobs and round trip.
pub fn aes_key_wrap_pad_partial_block(t: &Env) {
    let s = t.user_session();
    let (kek, tpl) = kwp_setup(&s);
    for ((value, rfc), softhsm) in KWP_VECTORS.iter().zip(SOFTHSM_KWP) {
        let n = value.len() / 2;
        let key = import_generic(&s, &h(value));
        // What came out: the blob and what it unwraps to, or the wrap's refusal.
        let observed = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, key).map(|blob| {
            let back = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &tpl);
            let back = back.expect("C_UnwrapKey of the blob C_WrapKey made");
            (hex::encode(&blob), attr_bytes(&s, back, AttributeType::Value))
        });
        let mut padded = h(value);
        padded.resize(n.div_ceil(8) * 8, 0);
        t.expect_spec_or_forwarded(
            &format!("RFC 5649 wrap and round trip of {n} bytes"),
            observed.map_err(|e| err_of::<()>(Err(e))),
            Ok((rfc.to_string(), h(value))),
            &KWP_LENGTH,
            Ok((softhsm.to_string(), padded)),
            Err(RvError::KeyNotWrappable),
        );
    }
}

/// An RSA private key wrapped with AES-KWP, unwrapped, signs like the original.
pub fn wrap_unwrap_rsa_private_key(t: &Env) {
    let s = t.user_session();
    let kek = guarding_kek(&s);
    let (public, private) = gen_rsa(&s, 2048, b"to-wrap");
    let wrapped =
        s.wrap_key(&Mechanism::AesKeyWrapPad, kek, private).expect("C_WrapKey (RSA private key)");
    assert!(wrapped.len() > 1000, "a wrapped RSA-2048 private key is PKCS#8-sized");
    let back = s
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            kek,
            &wrapped,
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
            ],
        )
        .expect("C_UnwrapKey (RSA private key)");
    assert_eq!(
        attr_bytes(&s, back, AttributeType::Modulus),
        attr_bytes(&s, public, AttributeType::Modulus)
    );
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, back, b"unwrapped").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, public, b"unwrapped", &sig)
        .expect("the unwrapped key signs for the original public key");
    assert!(!attr_bool(&s, back, AttributeType::Local), "an unwrapped key is not CKA_LOCAL");
}

/// Wrapping refuses unextractable keys and KEKs without CKA_WRAP.
pub fn wrap_unextractable_refused(t: &Env) {
    let s = t.user_session();
    let kek = gen_aes(&s, 16);
    let locked = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(16.into()),
                Attribute::Extractable(false),
            ],
        )
        .unwrap();
    let refused = s.wrap_key(&Mechanism::AesKeyWrap, kek, locked);
    assert_eq!(err_of(refused), RvError::KeyUnextractable);
    let no_wrap = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Token(false), Attribute::ValueLen(16.into()), Attribute::Wrap(false)],
        )
        .unwrap();
    let target = import_aes(&s, &[5; 16]);
    let refused = s.wrap_key(&Mechanism::AesKeyWrap, no_wrap, target);
    assert_eq!(err_of(refused), RvError::KeyFunctionNotPermitted, "KEK with CKA_WRAP false");
}

/// CKM_RSA_PKCS_OAEP with SHA-1, MGF1-SHA1 and no label (`cryptoki` sends
/// `source` = CKZ_DATA_SPECIFIED with no data): the one OAEP form SoftHSM2 2.6 wraps.
fn oaep_sha1() -> Mechanism<'static> {
    let p =
        PkcsOaepParams::new(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, PkcsOaepSource::empty());
    Mechanism::RsaPkcsOaep(p)
}

/// CKA_VALUE_LEN of AES-256 keys made by C_UnwrapKey is 32: with CKM_AES_KEY_WRAP,
/// CKM_AES_KEY_WRAP_PAD (a sensitive key too) and RSA-OAEP. SoftHSM2 answers 0
/// ([`UNWRAPPED_VALUE_LEN`]); the hardware instance over it must answer 32 like the
/// software instance.
pub fn unwrapped_key_value_len(t: &Env) {
    let s = t.user_session();
    let kek = gen_aes(&s, 32);
    let key = gen_aes(&s, 32);
    // Generated non-sensitive, so that it may unwrap a readable key (key-usage policy).
    let (public, private) = gen_rsa_with(&s, 2048, b"unwrap-value-len", false);
    let tpl = secret_template(KeyType::AES);
    let sensitive = sensitive_template(KeyType::AES);
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, kek, key).expect("C_WrapKey (RFC 3394)");
    let by_kw = s.unwrap_key(&Mechanism::AesKeyWrap, kek, &blob, &tpl).expect("C_UnwrapKey");
    let blob = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, key).expect("C_WrapKey (KWP)");
    let by_kwp = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &tpl).expect("C_UnwrapKey");
    let hidden = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &sensitive);
    let hidden = hidden.expect("C_UnwrapKey (sensitive)");
    let blob = s.wrap_key(&oaep_sha1(), public, key).expect("C_WrapKey (OAEP)");
    let by_oaep = s.unwrap_key(&oaep_sha1(), private, &blob, &tpl).expect("C_UnwrapKey (OAEP)");
    let unwrapped = [
        ("CKM_AES_KEY_WRAP", by_kw),
        ("CKM_AES_KEY_WRAP_PAD", by_kwp),
        ("CKM_AES_KEY_WRAP_PAD (sensitive)", hidden),
        ("CKM_RSA_PKCS_OAEP", by_oaep),
    ];
    for (how, back) in unwrapped {
        assert_eq!(ecb_block(&s, back), ecb_block(&s, key), "{how}: another key came back");
        if back != hidden {
            let value = attr_bytes(&s, back, AttributeType::Value);
            assert_eq!(value.len(), 32, "{how}: CKA_VALUE of the unwrapped AES-256 key");
        }
        let len = attr_ulong(&s, back, AttributeType::ValueLen);
        let what = format!("CKA_VALUE_LEN of an AES-256 key unwrapped with {how}");
        t.expect_spec(&what, len, 32, &UNWRAPPED_VALUE_LEN, 0);
    }
}

/// C_UnwrapKey of corrupted blobs: RSA-OAEP (SHA-1) of the modulus length and one byte
/// short, and RFC 5649, answer CKR_WRAPPED_KEY_INVALID / CKR_WRAPPED_KEY_LEN_RANGE
/// (SoftHSM2: CKR_GENERAL_ERROR, [`UNWRAP_FAILURE_CODE`]); the intact blobs unwrap.
pub fn unwrap_corrupted_blob(t: &Env) {
    let s = t.user_session();
    let kek = gen_aes(&s, 32);
    let key = gen_aes(&s, 32);
    let (public, private) = gen_rsa(&s, 2048, b"unwrap-corrupted");
    let tpl = secret_template(KeyType::AES);
    let sensitive = sensitive_template(KeyType::AES);
    let dev = &UNWRAP_FAILURE_CODE;
    let general = RvError::GeneralError;
    let oaep = s.wrap_key(&oaep_sha1(), public, key).expect("C_WrapKey (OAEP)");
    assert_eq!(oaep.len(), 256, "an RSA-2048 blob is one modulus long");
    let mut bad = oaep.clone();
    // The last byte: the integer stays below the modulus, only the OAEP decoding fails.
    bad[255] ^= 1;
    let code = err_of(s.unwrap_key(&oaep_sha1(), private, &bad, &sensitive));
    let what = "OAEP unwrap of a corrupted blob";
    t.expect_spec(what, code, RvError::WrappedKeyInvalid, dev, general);
    let code = err_of(s.unwrap_key(&oaep_sha1(), private, &oaep[..255], &sensitive));
    let what = "OAEP unwrap of a blob one byte short of the modulus";
    t.expect_spec(what, code, RvError::WrappedKeyLenRange, dev, general);
    let back =
        s.unwrap_key(&oaep_sha1(), private, &oaep, &sensitive).expect("the intact OAEP blob");
    assert_eq!(ecb_block(&s, back), ecb_block(&s, key));
    let kwp = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, key).expect("C_WrapKey (KWP)");
    assert_eq!(kwp.len(), 40, "RFC 5649 of 32 bytes");
    let mut bad = kwp.clone();
    bad[20] ^= 0x10;
    let code = err_of(s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &bad, &tpl));
    let what = "CKM_AES_KEY_WRAP_PAD unwrap of a corrupted blob";
    t.expect_spec(what, code, RvError::WrappedKeyInvalid, dev, general);
    let back = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &kwp, &tpl).expect("the intact blob");
    assert_eq!(ecb_block(&s, back), ecb_block(&s, key));
}

/// A raw `CK_ATTRIBUTE` pointing at `v`.
fn raw_attribute<T>(ty: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const T as *mut _,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// C_UnwrapKey with CKM_RSA_PKCS_OAEP (SHA-1, MGF1-SHA1) whose `source` is 0 and that
/// has no label (raw: `cryptoki` always sends CKZ_DATA_SPECIFIED) unwraps like the same
/// parameters with CKZ_DATA_SPECIFIED; SoftHSM2 answers CKR_ARGUMENTS_BAD
/// ([`OAEP_NO_SOURCE`]).
pub fn oaep_unwrap_without_source(t: &Env) {
    let s = t.user_session();
    let key = gen_aes(&s, 32);
    let (public, private) = gen_rsa(&s, 2048, b"oaep-no-source");
    let blob = s.wrap_key(&oaep_sha1(), public, key).expect("C_WrapKey (OAEP)");
    let tpl = sensitive_template(KeyType::AES);
    let with_source = s.unwrap_key(&oaep_sha1(), private, &blob, &tpl).expect("CKZ_DATA_SPECIFIED");
    let mut p = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA_1,
        mgf: CKG_MGF1_SHA1,
        source: 0,
        pSourceData: std::ptr::null_mut(),
        ulSourceDataLen: 0,
    };
    let mut m = mech_with(CKM_RSA_PKCS_OAEP, &mut p);
    let (yes, no): (CK_BBOOL, CK_BBOOL) = (CK_TRUE, CK_FALSE);
    let (class, kt): (CK_OBJECT_CLASS, CK_KEY_TYPE) = (CKO_SECRET_KEY, CKK_AES);
    let mut raw_tpl = [
        raw_attribute(CKA_CLASS, &class),
        raw_attribute(CKA_KEY_TYPE, &kt),
        raw_attribute(CKA_TOKEN, &no),
        raw_attribute(CKA_ENCRYPT, &yes),
        raw_attribute(CKA_DECRYPT, &yes),
        raw_attribute(CKA_SENSITIVE, &yes),
        raw_attribute(CKA_EXTRACTABLE, &yes),
    ];
    let mut out: CK_OBJECT_HANDLE = CK_INVALID_HANDLE;
    let code = ck!(
        t,
        C_UnwrapKey,
        s.handle(),
        &mut m,
        private.handle(),
        blob.as_ptr() as *mut u8,
        blob.len() as CK_ULONG,
        raw_tpl.as_mut_ptr(),
        raw_tpl.len() as CK_ULONG,
        &mut out
    );
    let what = "OAEP unwrap with source 0 and no label";
    t.expect_spec(what, code, OK, &OAEP_NO_SOURCE, rv(CKR_ARGUMENTS_BAD));
    if code != OK {
        return;
    }
    // SAFETY: the handle C_UnwrapKey just returned.
    let back = unsafe { ObjectHandle::new_from_raw(out) };
    let ct = s.encrypt(&Mechanism::AesEcb, key, &[0x5a; 32]).expect("C_Encrypt (original key)");
    let pt = s.decrypt(&Mechanism::AesEcb, back, &ct).expect("C_Decrypt (unwrapped key)");
    assert_eq!(pt, [0x5a; 32], "the key unwrapped without a source is another key");
    assert_eq!(
        ecb_block(&s, back),
        ecb_block(&s, with_source),
        "source 0 and CKZ_DATA_SPECIFIED unwrap different values"
    );
}

/// ECDH1 (null KDF) between two P-256 pairs: both sides derive the same secret.
pub fn ecdh_derive(t: &Env) {
    let s = t.user_session();
    let (a_pub, a_priv) = gen_ec(&s, &P256, b"ecdh-a");
    let (b_pub, b_priv) = gen_ec(&s, &P256, b"ecdh-b");
    let a_point = ec_point_raw(&attr_bytes(&s, a_pub, AttributeType::EcPoint));
    let b_point = ec_point_raw(&attr_bytes(&s, b_pub, AttributeType::EcPoint));
    let derive = |base: ObjectHandle, peer: &[u8], kt: KeyType, len: u64| {
        let m = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), peer));
        let mut tpl = secret_template(kt);
        tpl.push(Attribute::ValueLen(len.into()));
        s.derive_key(&m, base, &tpl).expect("C_DeriveKey (ECDH1)")
    };
    let ab = derive(a_priv, &b_point, KeyType::GENERIC_SECRET, 32);
    let ba = derive(b_priv, &a_point, KeyType::GENERIC_SECRET, 32);
    let (x, y) =
        (attr_bytes(&s, ab, AttributeType::Value), attr_bytes(&s, ba, AttributeType::Value));
    assert_eq!(x.len(), 32);
    assert_eq!(x, y, "the two sides derived different secrets");
    assert_ne!(x, vec![0; 32]);
    let aes_ab = derive(a_priv, &b_point, KeyType::AES, 16);
    let aes_ba = derive(b_priv, &a_point, KeyType::AES, 16);
    assert_eq!(ecb_block(&s, aes_ab), ecb_block(&s, aes_ba), "derived AES keys differ");
    let (c_pub, _) = gen_ec(&s, &P256, b"ecdh-c");
    let c_point = ec_point_raw(&attr_bytes(&s, c_pub, AttributeType::EcPoint));
    let ac = derive(a_priv, &c_point, KeyType::GENERIC_SECRET, 32);
    assert_ne!(attr_bytes(&s, ac, AttributeType::Value), x, "another peer, same secret");
}
