//! Where a key's material came from (docs/KEYS.md, "Vendor attributes" and "Keys and
//! key records"): CKA_KMSBRIDGE_ORIGIN always agrees with CKA_LOCAL,
//! CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE. Generated sensitive non-extractable
//! keys (C_GenerateKey[Pair], or a record of origin KMS) are KMS and TRUE/TRUE/TRUE;
//! imported material (BYOK, or C_CreateObject with CKA_VALUE) is EXTERNAL and
//! FALSE/FALSE/FALSE. Each case runs on a hardware and a software instance.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::Session;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{attr_bool, attr_bytes, attr_ulong, P256};
use kmsbridge_tests::byok;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{on_both_instances, Env, Target};

on_both_instances!(
    generated_keys_are_kms,
    records_of_origin_kms_make_kms_keys,
    record_rules,
    imported_keys_are_external,
);

/// Private, sensitive, never-extractable token key attributes plus `usage`.
fn protected(id: &[u8], usage: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Id(id.to_vec()),
    ];
    t.extend_from_slice(usage);
    t
}

/// A public key made with its private key is local and carries the same origin.
fn assert_public_generated(s: &Session, public: cryptoki::object::ObjectHandle, what: &str) {
    assert_eq!(get_ulong(s, public, CKA_KMSBRIDGE_ORIGIN), KMSBRIDGE_ORIGIN_KMS, "{what}: origin");
    assert!(attr_bool(s, public, AttributeType::Local), "{what}: CKA_LOCAL");
}

fn generated_keys_are_kms(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();

    let aes = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                protected(b"gen-aes", &[Attribute::Encrypt(true)]),
                vec![Attribute::ValueLen(32.into())],
            ]
            .concat(),
        )
        .expect("C_GenerateKey (AES)");
    assert_eq!(provenance(&s, aes), GENERATED, "generated AES key");

    let (rsa_pub, rsa_priv) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Id(b"gen-rsa".to_vec()),
                Attribute::ModulusBits(2048.into()),
                Attribute::Verify(true),
            ],
            &protected(b"gen-rsa", &[Attribute::Sign(true)]),
        )
        .expect("C_GenerateKeyPair (RSA)");
    assert_eq!(provenance(&s, rsa_priv), GENERATED, "generated RSA private key");
    assert_public_generated(&s, rsa_pub, "generated RSA public key");

    let (ec_pub, ec_priv) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Id(b"gen-ec".to_vec()),
                Attribute::EcParams(P256.params.to_vec()),
                Attribute::Verify(true),
            ],
            &protected(b"gen-ec", &[Attribute::Sign(true)]),
        )
        .expect("C_GenerateKeyPair (EC)");
    assert_eq!(provenance(&s, ec_priv), GENERATED, "generated EC private key");
    assert_public_generated(&s, ec_pub, "generated EC public key");

    // The origin is the instance's to say: an application cannot rewrite it.
    let set = s.update_attributes(aes, &[ulong(CKA_KMSBRIDGE_ORIGIN, KMSBRIDGE_ORIGIN_EXTERNAL)]);
    assert_eq!(err_of(set), RvError::AttributeReadOnly, "setting CKA_KMSBRIDGE_ORIGIN");
}

fn records_of_origin_kms_make_kms_keys(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let before = now();

    let aes = kms_key(&s, Spec::Aes(32), b"rec-aes", "rec-aes");
    assert_eq!(provenance(&s, aes), GENERATED, "AES key of a KMS record");
    assert!(attr_bool(&s, aes, AttributeType::Sensitive), "sensitive");
    assert!(!attr_bool(&s, aes, AttributeType::Extractable), "not extractable");
    assert_eq!(attr_ulong(&s, aes, AttributeType::ValueLen), 32);
    assert_eq!(attr_bytes(&s, aes, AttributeType::Label), b"rec-aes", "the alias is the label");
    assert_eq!(state(&s, aes), KMSBRIDGE_STATE_ENABLED);
    assert_eq!(get_ulong(&s, aes, CKA_KMSBRIDGE_KEY_VERSION), 1);
    assert_eq!(get_ulong(&s, aes, CKA_KMSBRIDGE_PRIMARY_VERSION), 1);
    let iv = [9u8; 16];
    let ct = s.encrypt(&cbc_pad(&iv), aes, b"usable at once").expect("C_Encrypt");
    assert_eq!(s.decrypt(&cbc_pad(&iv), aes, &ct).expect("C_Decrypt"), b"usable at once");

    // A find without the record class sees only the key; with it, only the record.
    let by_id = kmsbridge_testkit::keys::find(&s, &[Attribute::Id(b"rec-aes".to_vec())]);
    assert_eq!(by_id, vec![aes], "a find by CKA_ID alone returns the key, never the record");
    let record = record_of(&s, b"rec-aes");
    assert_ne!(record, aes);
    assert_eq!(get_ulong(&s, record, CKA_KMSBRIDGE_ORIGIN), KMSBRIDGE_ORIGIN_KMS);
    assert_eq!(state(&s, record), KMSBRIDGE_STATE_ENABLED);
    assert_eq!(attr_ulong(&s, record, AttributeType::ValueLen), 32);
    assert_eq!(attr_bytes(&s, record, AttributeType::Label), b"rec-aes");
    let created = get_ulong(&s, record, CKA_KMSBRIDGE_CREATED);
    assert!((before - 5..=now() + 5).contains(&created), "CKA_KMSBRIDGE_CREATED {created}");

    let rsa = kms_key(&s, Spec::Rsa(2048), b"rec-rsa", "rec-rsa");
    assert_eq!(provenance(&s, rsa), GENERATED, "RSA private key of a KMS record");
    let rsa_pub = find_one(
        &s,
        &[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(b"rec-rsa".to_vec())],
        "RSA public key",
    );
    assert_public_generated(&s, rsa_pub, "RSA public key of a KMS record");
    assert_eq!(attr_ulong(&s, record_of(&s, b"rec-rsa"), AttributeType::ModulusBits), 2048);
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, rsa, b"signed").expect("C_Sign (RSA)");
    s.verify(&Mechanism::Sha256RsaPkcs, rsa_pub, b"signed", &sig).expect("C_Verify (RSA)");

    let ec = kms_key(&s, Spec::Ec(P256.params), b"rec-ec", "rec-ec");
    assert_eq!(provenance(&s, ec), GENERATED, "EC private key of a KMS record");
    let ec_pub = find_one(
        &s,
        &[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(b"rec-ec".to_vec())],
        "EC public key",
    );
    assert_public_generated(&s, ec_pub, "EC public key of a KMS record");
    let sig = s.sign(&Mechanism::EcdsaSha256, ec, b"signed").expect("C_Sign (ECDSA)");
    s.verify(&Mechanism::EcdsaSha256, ec_pub, b"signed", &sig).expect("C_Verify (ECDSA)");
}

/// Records: a random 16-byte id when none is given, an id in use is refused.
fn record_rules(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let record = s
        .create_object(&[
            record_class(),
            ulong(CKA_KMSBRIDGE_ORIGIN, KMSBRIDGE_ORIGIN_KMS),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(16.into()),
        ])
        .expect("C_CreateObject (record without CKA_ID)");
    let id = attr_bytes(&s, record, AttributeType::Id);
    assert_eq!(id.len(), 16, "a record without CKA_ID gets a random 16-byte id");
    let key = find_one(
        &s,
        &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(id.clone())],
        "its key",
    );
    assert_eq!(attr_ulong(&s, key, AttributeType::ValueLen), 16);

    let again = create_record(&s, KMSBRIDGE_ORIGIN_KMS, Spec::Aes(32), &id, "again");
    assert_eq!(err_of(again), RvError::AttributeValueInvalid, "a record with an id in use");
}

fn imported_keys_are_external(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();

    // C_CreateObject with CKA_VALUE: the material came from outside.
    let created = s
        .create_object(
            &[
                protected(b"by-value", &[Attribute::Encrypt(true)]),
                vec![
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Value(random(32)),
                ],
            ]
            .concat(),
        )
        .expect("C_CreateObject (AES with CKA_VALUE)");
    assert_eq!(provenance(&s, created), IMPORTED, "AES key created from CKA_VALUE");

    // BYOK: sensitive and not extractable from the start, yet imported.
    let byok = byok::external_aes(&t, &s, b"byok", "byok", &random(32));
    assert!(attr_bool(&s, byok, AttributeType::Sensitive), "an imported key is sensitive");
    assert!(!attr_bool(&s, byok, AttributeType::Extractable), "and not extractable");
    assert_eq!(provenance(&s, byok), IMPORTED, "BYOK-imported AES key");
    let record = record_of(&s, b"byok");
    assert_eq!(get_ulong(&s, record, CKA_KMSBRIDGE_ORIGIN), KMSBRIDGE_ORIGIN_EXTERNAL);
}
