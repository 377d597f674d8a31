//! The key-usage policy (docs/KEYS.md) stops the key-management attacks of
//! Bortolozzo, Centenaro, Focardi, Steel ("Attacking and fixing PKCS#11 security
//! tokens", CCS 2010) on both instance kinds, with the refusals PKCS#11 names, and
//! leaves the legitimate paths working. SoftHSM2 used directly lets each attack
//! through; `softhsm_lets_the_attacks_through` records that, so the cases below can
//! only pass because kmsbridge refuses.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::trusted_aes;
use kmsbridge_tests::env::{Env, Target};

const SECRET: [u8; 32] = [0x42; 32];
const BLOCK: [u8; 16] = [7; 16];

/// A token AES key generated in the token with `extra` usages.
fn generated(s: &Session, label: &str, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Token(true),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.into()),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
    ];
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).expect("C_GenerateKey")
}

/// The sensitive, extractable key the attacker wants.
fn target(s: &Session) -> ObjectHandle {
    generated(s, "target", &[Attribute::Encrypt(true)])
}

/// A template for an unwrapped AES key.
fn unwrap_template(sensitive: Option<bool>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Encrypt(true),
        Attribute::Extractable(true),
    ];
    if let Some(v) = sensitive {
        t.push(Attribute::Sensitive(v));
    }
    t
}

fn ecb(s: &Session, k: ObjectHandle) -> Vec<u8> {
    s.encrypt(&Mechanism::AesEcb, k, &BLOCK).expect("AES-ECB")
}

/// Wrap/decrypt: a sensitive key wrapped under a key that can also decrypt would be
/// read by decrypting the blob.
fn wrap_then_decrypt(t: &Env) {
    let s = t.logged_in();
    let k = target(&s);
    let both =
        generated(&s, "wrap-and-decrypt", &[Attribute::Wrap(true), Attribute::Decrypt(true)]);
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, both, k);
    assert_eq!(
        err_of(wrapped),
        RvError::KeyNotWrappable,
        "{}: wrap under a decrypting key",
        t.target.name()
    );
    // Known value (CKA_ALWAYS_SENSITIVE false): its holder reads any blob made under it.
    let known = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Value(SECRET.to_vec()),
            Attribute::Wrap(true),
            Attribute::Decrypt(false),
        ])
        .expect("C_CreateObject");
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, known, k);
    assert_eq!(
        err_of(wrapped),
        RvError::KeyNotWrappable,
        "{}: wrap under a known key",
        t.target.name()
    );
    // A public key guards only when the SO trusts it.
    let (public, _) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Wrap(true),
            ],
            &[Attribute::Token(false), Attribute::Unwrap(true), Attribute::Sensitive(true)],
        )
        .expect("RSA key pair");
    let wrapped = s.wrap_key(&Mechanism::RsaPkcsOaep(oaep()), public, k);
    assert_eq!(
        err_of(wrapped),
        RvError::KeyNotWrappable,
        "{}: wrap under an untrusted public key",
        t.target.name()
    );
    // A non-sensitive key may leave under any wrapping key: it can be read anyway.
    let plain = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(32.into()),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .expect("a non-sensitive key");
    s.wrap_key(&Mechanism::AesKeyWrap, both, plain).expect("wrap of a non-sensitive key");
}

fn oaep() -> cryptoki::mechanism::rsa::PkcsOaepParams<'static> {
    use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
    use cryptoki::mechanism::MechanismType;
    PkcsOaepParams::new(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, PkcsOaepSource::empty())
}

/// The legitimate path: a guarding key (generated sensitive, no CKA_DECRYPT) wraps
/// the sensitive key, and unwraps it again as a sensitive key that works.
fn guarded_wrap_round_trip(t: &Env) -> (Session, ObjectHandle, ObjectHandle, Vec<u8>) {
    let s = t.logged_in();
    let k = target(&s);
    let guard = generated(
        &s,
        "guard",
        &[Attribute::Wrap(true), Attribute::Unwrap(true), Attribute::Decrypt(false)],
    );
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, guard, k).expect("wrap under a guarding key");
    let back = s
        .unwrap_key(&Mechanism::AesKeyWrap, guard, &blob, &unwrap_template(None))
        .expect("unwrap under the guarding key");
    let sensitive = s.get_attributes(back, &[AttributeType::Sensitive]).unwrap();
    assert_eq!(sensitive, vec![Attribute::Sensitive(true)], "{}: made sensitive", t.target.name());
    assert_eq!(ecb(&s, back), ecb(&s, k), "{}: the unwrapped key is the key", t.target.name());
    (s, guard, k, blob)
}

/// Re-import as non-sensitive: the blob of a sensitive key unwrapped with
/// CKA_SENSITIVE false would be read.
fn reimport_non_sensitive(t: &Env) {
    let (s, guard, _, blob) = guarded_wrap_round_trip(t);
    let r = s.unwrap_key(&Mechanism::AesKeyWrap, guard, &blob, &unwrap_template(Some(false)));
    assert_eq!(
        err_of(r),
        RvError::TemplateInconsistent,
        "{}: unwrap as non-sensitive",
        t.target.name()
    );
}

/// Conflicting usage added later: a guarding key given CKA_DECRYPT (set, or on a
/// copy) would decrypt the blobs it made.
fn decrypt_added_later(t: &Env) {
    let (s, guard, _, blob) = guarded_wrap_round_trip(t);
    let r = s.update_attributes(guard, &[Attribute::Decrypt(true)]);
    assert_eq!(
        err_of(r),
        RvError::TemplateInconsistent,
        "{}: CKA_DECRYPT set on a guard",
        t.target.name()
    );
    let r = s.update_attributes(guard, &[Attribute::Wrap(false), Attribute::Decrypt(true)]);
    assert_eq!(
        err_of(r),
        RvError::TemplateInconsistent,
        "{}: CKA_WRAP off, CKA_DECRYPT on",
        t.target.name()
    );
    let r = s.copy_object(guard, &[Attribute::Decrypt(true)]);
    assert_eq!(
        err_of(r),
        RvError::TemplateInconsistent,
        "{}: a decrypting copy of a guard",
        t.target.name()
    );
    // Still no way to read the blob: decrypting it is refused by the key itself.
    let r = s.decrypt(&Mechanism::AesEcb, guard, &blob[..16]);
    assert!(r.is_err(), "{}: the guard decrypted", t.target.name());
    // Other changes still go through.
    s.update_attributes(guard, &[Attribute::Label("guard-renamed".into())]).expect("CKA_LABEL");
}

/// Unwrap a known blob, then use the known key to wrap: the unwrapped key's value is
/// known (CKA_ALWAYS_SENSITIVE false), so it never guards.
fn known_blob_then_wrap(t: &Env) {
    let s = t.logged_in();
    let k = target(&s);
    let guard = generated(
        &s,
        "guard",
        &[
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Encrypt(true),
            Attribute::Decrypt(false),
        ],
    );
    // The attacker's blob of a value they chose: a non-sensitive key of that value,
    // wrapped under the guard (allowed: it could be read anyway).
    let chosen = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Value(SECRET.to_vec()),
            Attribute::Extractable(true),
        ])
        .expect("a key of chosen value");
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, guard, chosen).expect("wrap a non-sensitive key");
    let mut tpl = unwrap_template(Some(true));
    tpl.push(Attribute::Wrap(true));
    tpl.push(Attribute::Decrypt(false));
    let known = s.unwrap_key(&Mechanism::AesKeyWrap, guard, &blob, &tpl).expect("unwrap");
    let r = s.wrap_key(&Mechanism::AesKeyWrap, known, k);
    assert_eq!(
        err_of(r),
        RvError::KeyNotWrappable,
        "{}: wrap under a key of known value",
        t.target.name()
    );
}

/// The SO's CKA_TRUSTED makes a key of known value a guard (an export key agreed
/// with another system): the spec's own way to allow it.
fn trusted_key_guards(t: &Env) {
    trusted_aes(&t.so_session(), "export-kek", &SECRET, true);
    let s = t.logged_in();
    let k = target(&s);
    let found = s.find_objects(&[Attribute::Label("export-kek".into())]).unwrap();
    assert_eq!(found.len(), 1);
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, found[0], k).expect("wrap under a trusted key");
    let r = s.unwrap_key(&Mechanism::AesKeyWrap, found[0], &blob, &unwrap_template(Some(false)));
    assert_eq!(
        err_of(r),
        RvError::TemplateInconsistent,
        "{}: unwrap as non-sensitive",
        t.target.name()
    );
}

macro_rules! on_both {
    ($($case:ident),*) => {
        mod hardware {
            $(#[test] fn $case() { super::$case(&super::Env::new(super::Target::Bridge)); })*
        }
        mod software {
            $(#[test] fn $case() { super::$case(&super::Env::new(super::Target::Software)); })*
        }
    };
}

fn guarded_wrap(t: &Env) {
    guarded_wrap_round_trip(t);
}

on_both!(
    wrap_then_decrypt,
    guarded_wrap,
    reimport_non_sensitive,
    decrypt_added_later,
    known_blob_then_wrap
);

/// On a hardware instance CKA_TRUSTED is the token's to set (its own SO, on the HSM):
/// kmsbridge's pooled sessions are user sessions (docs/KEYS.md).
#[test]
fn software_trusted_key_guards() {
    trusted_key_guards(&Env::new(Target::Software));
}

/// SoftHSM2 direct lets the re-import attack through: the sensitive key's value
/// comes out (why the cases above can fail only because of kmsbridge).
#[test]
fn softhsm_lets_the_attacks_through() {
    let t = Env::new(Target::SoftHsm);
    let s = t.logged_in();
    let k = target(&s);
    let both = generated(&s, "wrap-and-decrypt", &[Attribute::Wrap(true), Attribute::Unwrap(true)]);
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, both, k).expect("SoftHSM2 wraps it");
    let back = s
        .unwrap_key(&Mechanism::AesKeyWrap, both, &blob, &unwrap_template(Some(false)))
        .expect("and unwraps it as non-sensitive");
    let value = s.get_attributes(back, &[AttributeType::Value]).expect("CKA_VALUE");
    let Some(Attribute::Value(value)) = value.into_iter().next() else { panic!("no CKA_VALUE") };
    let copy = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Value(value),
            Attribute::Encrypt(true),
        ])
        .expect("a key of the value read");
    assert_eq!(ecb(&s, copy), ecb(&s, k), "the sensitive key's value came out in the clear");
}
