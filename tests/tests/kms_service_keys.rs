//! Service keys and the default key (docs/KEYS.md, "Default key and service keys"):
//! the import wrapping private key is never found, not even by an empty template; the
//! import wrapping public key is found, reports CKA_KMSBRIDGE_SERVICE and serves only
//! as the unwrapping key of an import; each instance has one default key, AES-256 of
//! origin KMS, the same for every find, session and process. Each case runs on a
//! hardware and a software instance. The child process is this binary (`child`).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{attr_bytes, attr_ulong, find, fingerprint, gen_aes, round_trip};
use kmsbridge_testkit::module::Module;
use kmsbridge_tests::byok;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{on_both_instances, Env, Target};
use std::time::Duration;

on_both_instances!(
    import_wrapping_private_key_is_never_found,
    import_wrapping_public_key_is_a_service_key,
    one_default_key_for_every_find_session_and_process,
);

const TIMEOUT: Duration = Duration::from_secs(120);

fn import_wrapping_private_key_is_never_found(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    kms_key(&s, Spec::Rsa(2048), b"app-rsa", "app-rsa");
    let id = random(16);
    create_record(&s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(32), &id, "target").expect("record");
    let everything = find(&s, &[]);
    let privates = find(&s, &[Attribute::Class(ObjectClass::PRIVATE_KEY)]);
    assert_eq!(privates.len(), 1, "the application's own RSA private key");

    let p = import_parameters(&s, &id, None).expect("C_GenerateKey (IMPORT_PARAMETERS)");
    let privates_after = find(&s, &[Attribute::Class(ObjectClass::PRIVATE_KEY)]);
    assert_eq!(privates_after, privates, "the import wrapping private key is never found");
    let everything_after = find(&s, &[]);
    let new: Vec<_> = everything_after.iter().filter(|h| !everything.contains(h)).collect();
    assert_eq!(new, vec![&p.public], "an empty template finds only the new public key");
    let service =
        find(&s, &[Attribute::Class(ObjectClass::PRIVATE_KEY), flag(CKA_KMSBRIDGE_SERVICE, true)]);
    assert!(service.is_empty(), "not even when asked for service private keys");

    // What an empty template finds is the application's: standard classes (no records,
    // whose vendor class `cryptoki` could not read) and no kmsbridge metadata.
    for h in everything_after {
        let class = s.get_attributes(h, &[AttributeType::Class]).expect("a standard CKA_CLASS");
        if class == vec![Attribute::Class(ObjectClass::DATA)] {
            let app = attr_bytes(&s, h, AttributeType::Application);
            assert!(
                !app.starts_with(b"kmsbridge."),
                "metadata object {:?} shown",
                String::from_utf8_lossy(&app)
            );
        }
    }
}

fn import_wrapping_public_key_is_a_service_key(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let id = random(16);
    create_record(&s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(32), &id, "target").expect("record");
    let ordinary = kms_key(&s, Spec::Aes(32), b"ordinary", "ordinary");
    let p = import_parameters(&s, &id, None).expect("C_GenerateKey (IMPORT_PARAMETERS)");

    assert!(get_flag(&s, p.public, CKA_KMSBRIDGE_SERVICE), "CKA_KMSBRIDGE_SERVICE on it");
    assert!(!get_flag(&s, ordinary, CKA_KMSBRIDGE_SERVICE), "an ordinary key is no service key");
    let publics = find(&s, &[Attribute::Class(ObjectClass::PUBLIC_KEY)]);
    assert!(publics.contains(&p.public), "the import wrapping public key is found");
    assert_eq!(
        find(&s, &[flag(CKA_KMSBRIDGE_SERVICE, true)]),
        vec![p.public],
        "found as a service key"
    );
    let set = s.update_attributes(ordinary, &[flag(CKA_KMSBRIDGE_SERVICE, true)]);
    assert_eq!(err_of(set), RvError::AttributeReadOnly, "setting CKA_KMSBRIDGE_SERVICE");

    // No application operation may use it.
    let oaep =
        PkcsOaepParams::new(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, PkcsOaepSource::empty());
    let oaep = Mechanism::RsaPkcsOaep(oaep);
    assert_init_refused(s.encrypt(&oaep, p.public, b"data"), "C_EncryptInit (OAEP)");
    assert_init_refused(s.encrypt(&Mechanism::RsaPkcs, p.public, b"data"), "C_EncryptInit (PKCS)");
    assert_init_refused(
        s.verify(&Mechanism::Sha256RsaPkcs, p.public, b"d", &[0; 256]),
        "C_VerifyInit",
    );
    let wrap = s.wrap_key(&oaep, p.public, gen_aes(&s, 16));
    assert_eq!(err_of(wrap), RvError::KeyFunctionNotPermitted, "C_WrapKey with it");

    // Its one use: the unwrapping key of an import.
    let blob = byok::wrap(&byok::public_pem(&p), Wrapping::OaepSha1, &random(32));
    import(&t, &s, p.public, Wrapping::OaepSha1, &blob, &import_template(&id, &p.token, &[]))
        .unwrap_or_else(|e| panic!("import with it: {e:?}"));
}

/// The child: waits for the go file, finds the default key, reports its id and value.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("default-key") {
        return;
    }
    let m = Module::load();
    let s = m.user_session();
    say("READY");
    wait_file(std::path::Path::new(&arg()), TIMEOUT);
    let key = find_one(&s, &[flag(CKA_KMSBRIDGE_DEFAULT_KEY, true)], "the default key");
    let id = attr_bytes(&s, key, AttributeType::Id);
    say(&format!("DEFAULT {} {}", hex::encode(id), fingerprint(&s, key)));
}

fn one_default_key_for_every_find_session_and_process(target: Target) {
    let t = Env::new(target);
    // Two other processes ask first, at the same time, on the fresh instance.
    let go = t.rig().dir().join("go");
    let mut children: Vec<_> = (0..2)
        .map(|_| spawn("child", "default-key", &[(ARG, &go.display().to_string())]))
        .collect();
    for (_, rx) in &children {
        wait_for(rx, "READY", TIMEOUT);
    }
    std::fs::write(&go, b"").expect("write the go file");
    let seen: Vec<String> =
        children.iter().map(|(_, rx)| wait_for(rx, "DEFAULT ", TIMEOUT)).collect();
    for (child, _) in &mut children {
        assert!(wait_exit(child, TIMEOUT).success(), "a child failed");
    }
    assert_eq!(seen[0], seen[1], "both processes got the same default key (id, value)");

    let s = t.user_session();
    let key = find_one(&s, &[flag(CKA_KMSBRIDGE_DEFAULT_KEY, true)], "the default key");
    let id = attr_bytes(&s, key, AttributeType::Id);
    assert_eq!(
        format!("{} {}", hex::encode(&id), fingerprint(&s, key)),
        seen[0],
        "this process too"
    );
    let kt = s.get_attributes(key, &[AttributeType::Class, AttributeType::KeyType]).expect("class");
    assert_eq!(
        kt,
        vec![Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)]
    );
    assert_eq!(attr_ulong(&s, key, AttributeType::ValueLen), 32, "AES-256");
    assert_eq!(provenance(&s, key), GENERATED, "origin KMS");
    assert!(get_flag(&s, key, CKA_KMSBRIDGE_DEFAULT_KEY));
    round_trip(&s, key, "the default key");

    let again = find_one(&s, &[flag(CKA_KMSBRIDGE_DEFAULT_KEY, true)], "second find");
    assert_eq!(again, key, "a second find");
    let other = t.rw_session(); // logged in already: login is per application
    assert_eq!(find_one(&other, &[flag(CKA_KMSBRIDGE_DEFAULT_KEY, true)], "other session"), key);
    let record =
        find_one(&s, &[record_class(), flag(CKA_KMSBRIDGE_DEFAULT_KEY, true)], "its record");
    assert_eq!(attr_bytes(&s, record, AttributeType::Id), id, "the record is the default key's");
    assert_eq!(get_ulong(&s, record, CKA_KMSBRIDGE_ORIGIN), KMSBRIDGE_ORIGIN_KMS);

    let ordinary = kms_key(&s, Spec::Aes(32), b"ordinary", "ordinary");
    assert!(!get_flag(&s, ordinary, CKA_KMSBRIDGE_DEFAULT_KEY), "an ordinary key");
    assert_eq!(find(&s, &[flag(CKA_KMSBRIDGE_DEFAULT_KEY, true)]), vec![key], "still one");
}
