//! Bring your own key (docs/KEYS.md, "Import (BYOK)"): the wrapped blobs are made by
//! the `openssl` command-line tool, as a KMS customer makes them, for all four wrapping
//! algorithms; the imported AES key decrypts what `openssl enc` encrypted with the same
//! key (and the other way round); imported RSA and EC private keys sign what openssl
//! verifies. Each case runs on a hardware and a software instance.
//!
//! On a hardware instance over SoftHSM2 2.6, SHA-256 OAEP and CKM_RSA_AES_KEY_WRAP are
//! composed by the module (docs/KEYS.md, last paragraph of the import section).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use kmsbridge_testkit::keys::{attr_bool, attr_bytes, attr_ulong, P256};
use kmsbridge_tests::byok;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{on_both_instances, Env, Target};

on_both_instances!(
    aes_rsaes_oaep_sha_1,
    aes_rsaes_oaep_sha_256,
    aes_rsa_aes_key_wrap_sha_1,
    aes_rsa_aes_key_wrap_sha_256,
    import_parameters_sizes,
    rsa_private_key_rsa_aes_key_wrap_sha_256,
    ec_private_key_rsa_aes_key_wrap_sha_256,
);

fn aes_rsaes_oaep_sha_1(target: Target) {
    aes_round_trip(target, Wrapping::OaepSha1);
}

fn aes_rsaes_oaep_sha_256(target: Target) {
    aes_round_trip(target, Wrapping::OaepSha256);
}

fn aes_rsa_aes_key_wrap_sha_1(target: Target) {
    aes_round_trip(target, Wrapping::RsaAesSha1);
}

fn aes_rsa_aes_key_wrap_sha_256(target: Target) {
    aes_round_trip(target, Wrapping::RsaAesSha256);
}

/// Record of origin EXTERNAL, parameters, openssl's blob, import, then AES-CBC with
/// openssl on the other side in both directions.
fn aes_round_trip(target: Target, alg: Wrapping) {
    let t = Env::new(target);
    let s = t.user_session();
    let (id, label) = (random(16), format!("byok-{alg:?}"));
    let record = create_record(&s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(32), &id, &label)
        .expect("C_CreateObject (record of origin EXTERNAL)");
    assert_eq!(state(&s, record), KMSBRIDGE_STATE_PENDING_IMPORT, "no material yet");
    assert!(keys_with_id(&s, ObjectClass::SECRET_KEY, &id).is_empty(), "no key object yet");

    let asked = now();
    let p = import_parameters(&s, &id, None).expect("C_GenerateKey (IMPORT_PARAMETERS)");
    assert_eq!(p.modulus.len(), 256, "RSA-2048 import wrapping key by default");
    assert!(!p.token.is_empty(), "an import token");
    let day = 24 * 3600;
    assert!(
        (asked + day - 5..=now() + day + 5).contains(&p.expiry),
        "the token is valid for 24 hours by default: expiry {} for a request at {asked}",
        p.expiry
    );

    let material = random(32);
    let blob = byok::wrap(&byok::public_pem(&p), alg, &material);
    let key = import(&t, &s, p.public, alg, &blob, &import_template(&id, &p.token, &[]))
        .unwrap_or_else(|e| panic!("C_UnwrapKey ({alg:?}, blob by openssl): {e:?}"));

    // The imported key is the record's key: its id, alias, type and size; protected.
    assert_eq!(keys_with_id(&s, ObjectClass::SECRET_KEY, &id), vec![key], "found by CKA_ID");
    assert_eq!(attr_bytes(&s, key, AttributeType::Label), label.as_bytes(), "alias");
    assert_eq!(attr_ulong(&s, key, AttributeType::ValueLen), 32);
    assert!(attr_bool(&s, key, AttributeType::Token), "a token key");
    assert!(attr_bool(&s, key, AttributeType::Sensitive), "sensitive");
    assert!(!attr_bool(&s, key, AttributeType::Extractable), "not extractable");
    assert_eq!(provenance(&s, key), IMPORTED);
    assert_eq!(state(&s, key), KMSBRIDGE_STATE_ENABLED);
    assert_eq!(state(&s, record), KMSBRIDGE_STATE_ENABLED);

    let iv = random(16);
    let msg = b"encrypted by openssl enc -aes-256-cbc, decrypted through the imported key";
    let ct = byok::aes_256_cbc(false, &material, &iv, msg);
    let pt = s.decrypt(&cbc_pad(&iv), key, &ct).expect("C_Decrypt (CKM_AES_CBC_PAD)");
    assert_eq!(pt, msg, "{alg:?}: the imported key is openssl's key");
    let ct = s.encrypt(&cbc_pad(&iv), key, b"and back").expect("C_Encrypt (CKM_AES_CBC_PAD)");
    assert_eq!(byok::aes_256_cbc(true, &material, &iv, &ct), b"and back");
}

/// CKA_MODULUS_BITS 3072 and 4096 give import wrapping keys of that size, usable.
fn import_parameters_sizes(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = random(16);
    create_record(&s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(16), &id, "sizes").expect("record");
    let p4096 = import_parameters(&s, &id, Some(4096)).expect("import parameters, 4096 bits");
    assert_eq!(p4096.modulus.len(), 512);
    let p = import_parameters(&s, &id, Some(3072)).expect("import parameters, 3072 bits");
    assert_eq!(p.modulus.len(), 384);
    assert_ne!(p.token, p4096.token, "every request gets its own token");
    let material = random(16);
    let blob = byok::wrap(&byok::public_pem(&p), Wrapping::OaepSha1, &material);
    let key =
        import(&t, &s, p.public, Wrapping::OaepSha1, &blob, &import_template(&id, &p.token, &[]))
            .unwrap_or_else(|e| panic!("import under a 3072-bit wrapping key: {e:?}"));
    // AES-128 material: the key's ECB of a zero block is openssl's.
    let ecb = s.encrypt(&Mechanism::AesEcb, key, &[0u8; 16]).expect("C_Encrypt (ECB)");
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("zero"), [0u8; 16]).expect("write");
    let key_hex = hex::encode(&material);
    #[rustfmt::skip]
    let expect = byok::openssl(dir.path(), &[
        "enc", "-aes-128-ecb", "-nopad", "-K", &key_hex, "-in", "zero",
    ]);
    assert_eq!(ecb, expect, "the imported AES-128 key is the material");
}

/// An RSA-2048 private key from `openssl genpkey`, PKCS#8 DER, RSA_AES_KEY_WRAP_SHA_256.
fn rsa_private_key_rsa_aes_key_wrap_sha_256(target: Target) {
    private_key_import(target, Spec::Rsa(2048), ("RSA", "rsa_keygen_bits:2048"));
}

/// An EC P-256 private key from `openssl genpkey`, PKCS#8 DER, RSA_AES_KEY_WRAP_SHA_256.
fn ec_private_key_rsa_aes_key_wrap_sha_256(target: Target) {
    private_key_import(target, Spec::Ec(P256.params), ("EC", "ec_paramgen_curve:P-256"));
}

fn private_key_import(target: Target, spec: Spec, (algorithm, option): (&str, &str)) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = random(16);
    create_record(&s, KMSBRIDGE_ORIGIN_EXTERNAL, spec, &id, algorithm).expect("record");
    let (pkcs8, public_pem) = byok::genpkey(algorithm, option);
    let alg = Wrapping::RsaAesSha256;
    let key = byok::import_material(&t, &s, &id, alg, &pkcs8, &[])
        .unwrap_or_else(|e| panic!("import of an {algorithm} private key ({alg:?}): {e:?}"));

    assert_eq!(keys_with_id(&s, ObjectClass::PRIVATE_KEY, &id), vec![key], "the private key");
    let kt = s.get_attributes(key, &[AttributeType::KeyType]).expect("CKA_KEY_TYPE");
    let want = if algorithm == "RSA" { KeyType::RSA } else { KeyType::EC };
    assert_eq!(kt, vec![Attribute::KeyType(want)]);
    assert!(attr_bool(&s, key, AttributeType::Sensitive), "sensitive");
    assert!(!attr_bool(&s, key, AttributeType::Extractable), "not extractable");
    assert_eq!(provenance(&s, key), IMPORTED);
    assert_eq!(state(&s, record_of(&s, &id)), KMSBRIDGE_STATE_ENABLED);

    // The importer holds the public key (docs/KEYS.md): openssl checks the signature.
    let data = b"signed through kmsbridge, verified by openssl";
    let sig = if algorithm == "RSA" {
        s.sign(&Mechanism::Sha256RsaPkcs, key, data).expect("C_Sign (SHA256_RSA_PKCS)")
    } else {
        let raw = s.sign(&Mechanism::EcdsaSha256, key, data).expect("C_Sign (ECDSA_SHA256)");
        byok::ecdsa_der(&raw)
    };
    assert!(byok::verify_sha256(&public_pem, data, &sig), "openssl verifies the signature");
    assert!(!byok::verify_sha256(&public_pem, b"other data", &sig), "and only for the data");
}
