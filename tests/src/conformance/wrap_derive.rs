//! Key wrap/unwrap (RFC 3394, RFC 5649) and ECDH derivation.

use crate::deviation::KWP_LENGTH;
use crate::env::{err_of, Env};
use crate::kat::*;
use crate::keys::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

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

fn ecb_block(s: &Session, k: ObjectHandle) -> Vec<u8> {
    s.encrypt(&Mechanism::AesEcb, k, &[0x11; 16]).expect("C_Encrypt (ECB)")
}

/// CKM_AES_KEY_WRAP against RFC 3394 4.1; unwrap gives the same key; tampering fails.
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
    assert!(refused.is_err(), "a tampered RFC 3394 blob unwrapped");
    let gen_kek = gen_aes(&s, 32);
    let gen_key = gen_aes(&s, 32);
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, gen_kek, gen_key).expect("wrap AES-256");
    assert_eq!(wrapped.len(), 40, "RFC 3394 adds 8 bytes");
    let back = s
        .unwrap_key(&Mechanism::AesKeyWrap, gen_kek, &wrapped, &secret_template(KeyType::AES))
        .unwrap();
    assert_eq!(ecb_block(&s, back), ecb_block(&s, gen_key));
}

/// What SoftHSM2 2.6 wraps the two RFC 5649 vectors to ([`KWP_LENGTH`]).
const SOFTHSM_KWP: [&str; 2] = [
    "cf1e485360e1a8126f524d01771677f9400edb4d074f14116988d71e1588e367",
    "0e13c7817f2e6681f64d911b7dd014d5",
];

/// CKM_AES_KEY_WRAP_PAD is RFC 5649 (KWP): RFC 5649 section 6 vectors, a whole-block key,
/// unwrap of the RFC's blobs, and the round trip.
pub fn aes_key_wrap_pad(t: &Env) {
    let s = t.user_session();
    let kek = import_aes(&s, &h(KWP_KEK));
    let tpl = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    let unwrap = |blob: &[u8]| {
        let k = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, blob, &tpl).expect("C_UnwrapKey");
        attr_bytes(&s, k, AttributeType::Value)
    };
    let whole = import_aes(&s, &h(KW_KEY));
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, whole).expect("C_WrapKey (KWP)");
    assert_eq!(hex::encode(&wrapped), KWP_KEK192_KEY128, "KWP of a 16-byte key");
    for ((value, rfc), softhsm) in KWP_VECTORS.iter().zip(SOFTHSM_KWP) {
        let n = value.len() / 2;
        let key = import_generic(&s, &h(value));
        assert_eq!(unwrap(&h(rfc)), h(value), "unwrap of the RFC 5649 blob of {n} bytes");
        let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, key);
        if t.is_bridge() {
            // kmsbridge cannot make SoftHSM2 write RFC 5649 for a partial block without
            // the key leaving the HSM, so it refuses rather than emit a blob that does
            // not round-trip (SH-11).
            assert_eq!(
                err_of(wrapped),
                RvError::KeyNotWrappable,
                "RFC 5649 wrap of {n} bytes over SoftHSM2 2.6 is refused"
            );
            continue;
        }
        let wrapped = wrapped.expect("C_WrapKey (KWP)");
        let got = hex::encode(&wrapped);
        let what = format!("RFC 5649 wrap of {n} bytes");
        t.expect_spec(&what, got.as_str(), rfc, &KWP_LENGTH, softhsm);
        let mut padded = h(value);
        padded.resize(n.div_ceil(8) * 8, 0);
        let what = format!("KWP round trip of {n} bytes");
        t.expect_spec(&what, unwrap(&wrapped), h(value), &KWP_LENGTH, padded);
    }
}

/// An RSA private key wrapped with AES-KWP, unwrapped, signs like the original.
pub fn wrap_unwrap_rsa_private_key(t: &Env) {
    let s = t.user_session();
    let kek = gen_aes(&s, 32);
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
