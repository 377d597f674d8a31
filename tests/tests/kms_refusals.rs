//! An import's refusals (docs/KEYS.md, "Import (BYOK)"): an expired token, a token used
//! twice, a token issued for another key id, an unknown token, another import wrapping
//! key, a blob that does not decrypt, and re-import of different material. Each refusal
//! is followed, where it matters, by the import that is accepted, so a case cannot pass
//! because imports fail altogether. Blobs use RSAES_OAEP_SHA_1 (which SoftHSM2 does
//! itself) unless the case needs RSA-AES key wrap (another layer, or a material length
//! the instance can check: tests/DEVIATIONS.md SH-12). Each case runs on both instance
//! kinds.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::object::ObjectClass;
use kmsbridge_testkit::rig::RigOptions;
use kmsbridge_tests::byok;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{on_both_instances, Env, Target};
use std::time::Duration;

on_both_instances!(
    expired_token,
    token_used_twice,
    token_spent_by_material_of_the_wrong_size,
    token_for_another_key_id,
    unknown_token,
    another_import_wrapping_key,
    blob_that_does_not_decrypt,
    reimport_needs_the_same_material,
);

const OAEP: Wrapping = Wrapping::OaepSha1;

/// A record of origin EXTERNAL for AES-256 under a random id.
fn external_record(s: &cryptoki::session::Session, label: &str) -> Vec<u8> {
    let id = random(16);
    create_record(s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(32), &id, label)
        .unwrap_or_else(|e| panic!("C_CreateObject (record of origin EXTERNAL): {e}"));
    id
}

/// Parameters for `id` and openssl's blob of `material` under them.
fn params_and_blob(
    s: &cryptoki::session::Session,
    id: &[u8],
    material: &[u8],
) -> (ImportParams, Vec<u8>) {
    let p = import_parameters(s, id, None).expect("C_GenerateKey (IMPORT_PARAMETERS)");
    let blob = byok::wrap(&byok::public_pem(&p), OAEP, material);
    (p, blob)
}

fn expired_token(target: Target) {
    // Tokens live 2 s on this instance (import_token_ttl_s).
    let opts = RigOptions { import_token_ttl: Some(2), ..Default::default() };
    let t = Env::with_options(target, &opts);
    let s = t.user_session();
    let id = external_record(&s, "expired");
    let material = random(32);
    let (p, blob) = params_and_blob(&s, &id, &material);
    assert!(p.expiry <= now() + 3, "import_token_ttl_s = 2 gives expiry {} at {}", p.expiry, now());
    while now() <= p.expiry + 1 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let late = import(&t, &s, p.public, OAEP, &blob, &import_template(&id, &p.token, &[]));
    assert_eq!(late, Err(vendor(CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED)), "import after the expiry");
    assert!(keys_with_id(&s, ObjectClass::SECRET_KEY, &id).is_empty(), "nothing imported");

    // A fresh token used at once is accepted: the refusal was the expiry.
    let (p, blob) = params_and_blob(&s, &id, &material);
    import(&t, &s, p.public, OAEP, &blob, &import_template(&id, &p.token, &[]))
        .unwrap_or_else(|e| panic!("import with a fresh token: {e:?}"));
}

fn token_used_twice(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = external_record(&s, "twice");
    let (p, blob) = params_and_blob(&s, &id, &random(32));
    let template = import_template(&id, &p.token, &[]);
    import(&t, &s, p.public, OAEP, &blob, &template)
        .unwrap_or_else(|e| panic!("first import: {e:?}"));
    let again = import(&t, &s, p.public, OAEP, &blob, &template);
    assert_eq!(again, Err(vendor(CKR_KMSBRIDGE_IMPORT_TOKEN_USED)), "the same token again");
}

/// "A token is spent by its first import attempt that reaches the key material step,
/// successful or not": AES-128 material for an AES-256 record spends it. RSA-AES key
/// wrap, because its length is known on every instance (tests/DEVIATIONS.md SH-12).
fn token_spent_by_material_of_the_wrong_size(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = external_record(&s, "wrong-size");
    let p = import_parameters(&s, &id, None).expect("import parameters");
    let pem = byok::public_pem(&p);
    let template = import_template(&id, &p.token, &[]);
    let alg = Wrapping::RsaAesSha256;
    let short = byok::wrap(&pem, alg, &random(16));
    let refused = import(&t, &s, p.public, alg, &short, &template);
    assert!(
        matches!(refused, Err(RvError::WrappedKeyLenRange | RvError::TemplateInconsistent)),
        "AES-128 material for an AES-256 key: {refused:?}"
    );
    let right = byok::wrap(&pem, alg, &random(32));
    let again = import(&t, &s, p.public, alg, &right, &template);
    assert_eq!(again, Err(vendor(CKR_KMSBRIDGE_IMPORT_TOKEN_USED)), "the spent token again");
}

fn token_for_another_key_id(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (a, b) = (external_record(&s, "a"), external_record(&s, "b"));
    let (p, blob) = params_and_blob(&s, &a, &random(32));
    let wrong = import(&t, &s, p.public, OAEP, &blob, &import_template(&b, &p.token, &[]));
    assert_eq!(wrong, Err(vendor(CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID)), "A's token used for B");
    assert!(keys_with_id(&s, ObjectClass::SECRET_KEY, &b).is_empty(), "B got nothing");
    // Refused before the material step, so the token still serves its own key.
    import(&t, &s, p.public, OAEP, &blob, &import_template(&a, &p.token, &[]))
        .unwrap_or_else(|e| panic!("A's token used for A: {e:?}"));
}

fn unknown_token(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = external_record(&s, "unknown");
    let (p, blob) = params_and_blob(&s, &id, &random(32));
    let mut tampered = p.token.clone();
    *tampered.last_mut().expect("a non-empty token") ^= 1;
    for (token, what) in [(random(p.token.len()), "random bytes"), (tampered, "a tampered token")] {
        let r = import(&t, &s, p.public, OAEP, &blob, &import_template(&id, &token, &[]));
        assert_eq!(r, Err(vendor(CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID)), "{what} as the token");
    }
    import(&t, &s, p.public, OAEP, &blob, &import_template(&id, &p.token, &[]))
        .unwrap_or_else(|e| panic!("the real token: {e:?}"));
}

/// The unwrapping key must be the token's own import wrapping key.
fn another_import_wrapping_key(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = external_record(&s, "other-wrapping-key");
    let material = random(32);
    let (first, _) = params_and_blob(&s, &id, &material);
    let (second, blob) = params_and_blob(&s, &id, &material);
    // The blob decrypts under `second`; the token is `first`'s.
    let r = import(&t, &s, second.public, OAEP, &blob, &import_template(&id, &first.token, &[]));
    assert_eq!(r, Err(RvError::UnwrappingKeyHandleInvalid), "first's token under second's key");
    import(&t, &s, second.public, OAEP, &blob, &import_template(&id, &second.token, &[]))
        .unwrap_or_else(|e| panic!("second's token under second's key: {e:?}"));
}

/// An RSA ciphertext of the modulus length that is not OAEP under the key (its first
/// byte 0 keeps it below the modulus, so only the OAEP decode can fail).
fn not_oaep(p: &ImportParams) -> Vec<u8> {
    let mut c = random(p.modulus.len());
    c[0] = 0;
    c
}

/// One code for a blob that does not decrypt, whichever layer fails (no oracle).
fn blob_that_does_not_decrypt(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = external_record(&s, "garbage");
    let kwp_under_another_key = || byok::aes_kwp(&random(32), &random(32));
    type Blob = Box<dyn Fn(&ImportParams) -> Vec<u8>>;
    let cases: [(Wrapping, &str, Blob); 3] = [
        (OAEP, "RSAES_OAEP_SHA_1, not OAEP", Box::new(not_oaep)),
        (
            Wrapping::RsaAesSha256,
            "RSA_AES_KEY_WRAP_SHA_256, the OAEP layer not OAEP",
            Box::new(move |p| [not_oaep(p), kwp_under_another_key()].concat()),
        ),
        (
            Wrapping::RsaAesSha256,
            "RSA_AES_KEY_WRAP_SHA_256, the RFC 5649 layer under another AES key",
            Box::new(move |p| {
                let ephemeral = byok::oaep_encrypt(&byok::public_pem(p), "sha256", &random(32));
                [ephemeral, kwp_under_another_key()].concat()
            }),
        ),
    ];
    for (alg, what, blob) in cases {
        // Each attempt spends its token: fresh parameters every time.
        let p = import_parameters(&s, &id, None).expect("import parameters");
        let r = import(&t, &s, p.public, alg, &blob(&p), &import_template(&id, &p.token, &[]));
        assert_eq!(r, Err(RvError::WrappedKeyInvalid), "{what}");
    }
    assert!(keys_with_id(&s, ObjectClass::SECRET_KEY, &id).is_empty(), "nothing imported");
}

/// Delete the material (state PENDING_IMPORT), then re-import: other material is
/// refused with CKR_KMSBRIDGE_MATERIAL_MISMATCH, the same material is accepted.
fn reimport_needs_the_same_material(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = random(16);
    let material = random(32);
    let key = byok::external_aes(&t, &s, &id, "reimport", &material);
    let iv = random(16);
    let ct = s.encrypt(&cbc_pad(&iv), key, b"kept across re-import").expect("C_Encrypt");

    set_state(&s, key, KMSBRIDGE_STATE_PENDING_IMPORT, &[]).expect("set PENDING_IMPORT");
    assert_eq!(state(&s, record_of(&s, &id)), KMSBRIDGE_STATE_PENDING_IMPORT);
    assert!(keys_with_id(&s, ObjectClass::SECRET_KEY, &id).is_empty(), "the material is gone");

    let other = byok::import_material(&t, &s, &id, OAEP, &random(32), &[]);
    assert_eq!(other, Err(vendor(CKR_KMSBRIDGE_MATERIAL_MISMATCH)), "re-import of other material");
    assert_eq!(state(&s, record_of(&s, &id)), KMSBRIDGE_STATE_PENDING_IMPORT, "still waiting");

    let same = byok::import_material(&t, &s, &id, OAEP, &material, &[])
        .unwrap_or_else(|e| panic!("re-import of the same material: {e:?}"));
    assert_eq!(state(&s, same), KMSBRIDGE_STATE_ENABLED);
    let pt = s.decrypt(&cbc_pad(&iv), same, &ct).expect("C_Decrypt after re-import");
    assert_eq!(pt, b"kept across re-import");
}
