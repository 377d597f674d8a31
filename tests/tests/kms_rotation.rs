//! Rotation (docs/KEYS.md, "Rotation"): C_GenerateKey(CKM_KMSBRIDGE_KEY_ROTATE) makes a
//! new primary version that applications find by the key's id or alias; older version
//! N is found by CKA_ID + CKA_KMSBRIDGE_KEY_VERSION = N or by "id#vN" / "alias#vN", still
//! decrypts, and never encrypts again. Keys of origin EXTERNAL cannot be rotated. Each
//! case runs on a hardware and a software instance.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{attr_bool, find};
use kmsbridge_tests::byok;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{on_both_instances, Env, Target};

on_both_instances!(
    rotating_a_kms_aes_key,
    rotating_an_application_key,
    external_keys_do_not_rotate
);

const MSG: &[u8] = b"encrypted under one version";

/// The older version `n` of key `id` / `alias`, found all three documented ways.
fn older_version(s: &Session, id: &[u8], alias: &str, n: u64) -> ObjectHandle {
    let secret = Attribute::Class(ObjectClass::SECRET_KEY);
    let by_version = find_one(
        s,
        &[secret.clone(), Attribute::Id(id.to_vec()), ulong(CKA_KMSBRIDGE_KEY_VERSION, n)],
        &format!("CKA_ID + CKA_KMSBRIDGE_KEY_VERSION = {n}"),
    );
    let suffix = format!("{VERSION_SEPARATOR}{n}");
    let by_id =
        find_one(s, &[secret.clone(), Attribute::Id([id, suffix.as_bytes()].concat())], "id#vN");
    let label = format!("{alias}{suffix}").into_bytes();
    let by_label = find_one(s, &[secret, Attribute::Label(label)], "alias#vN");
    assert_eq!((by_id, by_label), (by_version, by_version), "version {n}: one object, three ways");
    assert_eq!(get_ulong(s, by_version, CKA_KMSBRIDGE_KEY_VERSION), n);
    by_version
}

/// An older version decrypts but refuses to encrypt, and CKA_ENCRYPT stays FALSE.
fn assert_decrypt_only(s: &Session, old: ObjectHandle, iv: &[u8], ct: &[u8], what: &str) {
    let pt = s.decrypt(&cbc_pad(iv), old, ct).unwrap_or_else(|e| panic!("{what}: C_Decrypt: {e}"));
    assert_eq!(pt, MSG, "{what}: decrypts what it encrypted");
    assert_init_refused(s.encrypt(&cbc_pad(iv), old, MSG), &format!("{what}: C_EncryptInit"));
    assert!(!attr_bool(s, old, AttributeType::Encrypt), "{what}: CKA_ENCRYPT is FALSE");
    assert!(!attr_bool(s, old, AttributeType::Wrap), "{what}: CKA_WRAP is FALSE");
    // docs/ERRORS.md: CKA_ENCRYPT/CKA_WRAP/CKA_SIGN TRUE on an older version answers
    // CKR_ATTRIBUTE_READ_ONLY.
    for (attr, name) in [
        (Attribute::Encrypt(true), "CKA_ENCRYPT"),
        (Attribute::Wrap(true), "CKA_WRAP"),
        (Attribute::Sign(true), "CKA_SIGN"),
    ] {
        let set = s.update_attributes(old, &[attr]);
        assert_eq!(err_of(set), RvError::AttributeReadOnly, "{what}: setting {name} TRUE");
    }
    assert!(!attr_bool(s, old, AttributeType::Encrypt), "{what}: CKA_ENCRYPT still FALSE");
    assert!(!attr_bool(s, old, AttributeType::Wrap), "{what}: CKA_WRAP still FALSE");
}

/// The key `id`/`alias` (version 1 = `v1`): rotates it twice and checks every version.
fn rotate_and_check(s: &Session, id: &[u8], alias: &str, v1: ObjectHandle) {
    let iv = random(16);
    let by_primary = |key| s.encrypt(&cbc_pad(&iv), key, MSG).expect("C_Encrypt (primary)");
    let c1 = by_primary(v1);

    let v2 = rotate(s, id).expect("C_GenerateKey (CKM_KMSBRIDGE_KEY_ROTATE)");
    assert_eq!(get_ulong(s, v2, CKA_KMSBRIDGE_KEY_VERSION), 2, "the new version");
    assert_eq!(get_ulong(s, record_of(s, id), CKA_KMSBRIDGE_PRIMARY_VERSION), 2);
    assert_eq!(provenance(s, v2), GENERATED, "the new version's material is generated");
    // Applications that find the key by id or alias get the new primary.
    let secret = Attribute::Class(ObjectClass::SECRET_KEY);
    assert_eq!(keys_with_id(s, ObjectClass::SECRET_KEY, id), vec![v2], "found by CKA_ID");
    assert_eq!(find(s, &[secret, Attribute::Label(alias.into())]), vec![v2], "found by alias");
    let c2 = by_primary(v2);
    assert_ne!(c2, c1, "version 2 is other material");
    let wrong = s.decrypt(&cbc_pad(&iv), v2, &c1);
    assert!(wrong.map_or(true, |pt| pt != MSG), "version 2 does not decrypt version 1's data");

    let old = older_version(s, id, alias, 1);
    assert_eq!(get_ulong(s, old, CKA_KMSBRIDGE_PRIMARY_VERSION), 2);
    assert_decrypt_only(s, old, &iv, &c1, "version 1");

    let v3 = rotate(s, id).expect("second rotation");
    assert_eq!(get_ulong(s, v3, CKA_KMSBRIDGE_KEY_VERSION), 3);
    assert_eq!(keys_with_id(s, ObjectClass::SECRET_KEY, id), vec![v3], "found by CKA_ID");
    by_primary(v3);
    assert_decrypt_only(s, older_version(s, id, alias, 2), &iv, &c2, "version 2");
    assert_decrypt_only(s, older_version(s, id, alias, 1), &iv, &c1, "version 1 still");
}

fn rotating_a_kms_aes_key(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let v1 = kms_key(&s, Spec::Aes(32), b"rotating", "rotating-alias");
    assert_eq!(get_ulong(&s, v1, CKA_KMSBRIDGE_KEY_VERSION), 1);
    rotate_and_check(&s, b"rotating", "rotating-alias", v1);
}

/// A key an application generated gets its record on its first rotation.
fn rotating_an_application_key(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let v1 = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::ValueLen(32.into()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Id(b"app-rotating".to_vec()),
                Attribute::Label(b"app-alias".to_vec()),
            ],
        )
        .expect("C_GenerateKey (AES)");
    rotate_and_check(&s, b"app-rotating", "app-alias", v1);
}

fn external_keys_do_not_rotate(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let key = byok::external_aes(&t, &s, b"imported", "imported", &random(32));
    let r = rotate(&s, b"imported");
    assert_eq!(err_of(r), RvError::KeyFunctionNotPermitted, "rotating an EXTERNAL key");
    assert_eq!(keys_with_id(&s, ObjectClass::SECRET_KEY, b"imported"), vec![key], "unchanged");
    assert_eq!(get_ulong(&s, key, CKA_KMSBRIDGE_KEY_VERSION), 1);
    assert_eq!(get_ulong(&s, record_of(&s, b"imported"), CKA_KMSBRIDGE_PRIMARY_VERSION), 1);
}
