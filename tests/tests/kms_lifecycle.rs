//! Key states (docs/KEYS.md, "Lifecycle"): a key that is Disabled, PendingDeletion,
//! PendingImport or whose imported material expired refuses every cryptographic use
//! with CKR_KEY_FUNCTION_NOT_PERMITTED and works again once Enabled; transitions not in
//! the table are CKR_ATTRIBUTE_VALUE_INVALID; KMS keys cannot be destroyed; and a
//! state change made by one process reaches another that keeps using the key, at
//! one of its re-reads (every 0.5 s; checked within `PROPAGATION_BOUND`, 10 of them,
//! so a loaded machine does not fail it; the time taken is printed). Each case runs
//! on a hardware and a software instance. The child process is this binary (`child`).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{gen_aes, gen_token_aes, P256, PROBE};
use kmsbridge_testkit::module::Module;
use kmsbridge_tests::byok;
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{on_both_instances, Env, Target};
use std::time::{Duration, Instant};

on_both_instances!(
    disabled_aes_key_refuses_until_enabled,
    disabled_key_pairs_refuse_until_enabled,
    pending_deletion_refuses_until_cancelled,
    pending_import_refuses_until_reimported,
    expired_material_refuses,
    transitions_outside_the_table,
    kms_keys_cannot_be_destroyed,
    a_disabled_key_cannot_be_renamed_out_of_its_lifecycle,
    another_process_sees_state_changes_at_a_re_read,
);

const MSG: &[u8] = b"lifecycle";

/// A new CKA_ID would take a key's objects out of its record's reach (a disabled
/// key renamed, or copied under another id, would be usable again): refused.
fn a_disabled_key_cannot_be_renamed_out_of_its_lifecycle(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (_, key, iv, ct) = kms_aes(&s, "rename");
    set_state(&s, key, KMSBRIDGE_STATE_DISABLED, &[]).expect("set DISABLED");
    let rename = s.update_attributes(key, &[Attribute::Id(random(16))]);
    assert_eq!(err_of(rename), RvError::AttributeReadOnly, "C_SetAttributeValue CKA_ID");
    let copy = s.copy_object(key, &[Attribute::Id(random(16))]);
    assert_eq!(err_of(copy), RvError::AttributeReadOnly, "C_CopyObject with a new CKA_ID");
    assert_aes_refused(&s, key, &ct, &iv, "Disabled, rename refused");
}

/// Encrypt, decrypt and wrap with an AES key are all refused at their C_*Init.
fn assert_aes_refused(s: &Session, key: ObjectHandle, ct: &[u8], iv: &[u8], why: &str) {
    assert_init_refused(s.encrypt(&cbc_pad(iv), key, MSG), &format!("C_EncryptInit, {why}"));
    assert_init_refused(s.decrypt(&cbc_pad(iv), key, ct), &format!("C_DecryptInit, {why}"));
    let other = gen_aes(s, 32);
    let wrap = s.wrap_key(&Mechanism::AesKeyWrap, key, other);
    assert_eq!(err_of(wrap), RvError::KeyFunctionNotPermitted, "C_WrapKey, {why}");
}

/// The key decrypts `ct` again and encrypts.
fn assert_aes_works(s: &Session, key: ObjectHandle, ct: &[u8], iv: &[u8], why: &str) {
    let pt = s.decrypt(&cbc_pad(iv), key, ct).unwrap_or_else(|e| panic!("C_Decrypt, {why}: {e}"));
    assert_eq!(pt, MSG, "{why}");
    s.encrypt(&cbc_pad(iv), key, MSG).unwrap_or_else(|e| panic!("C_Encrypt, {why}: {e}"));
}

/// A KMS AES-256 key and a ciphertext made with it.
fn kms_aes(s: &Session, label: &str) -> (Vec<u8>, ObjectHandle, Vec<u8>, Vec<u8>) {
    let id = random(16);
    let key = kms_key(s, Spec::Aes(32), &id, label);
    let iv = random(16);
    let ct = s.encrypt(&cbc_pad(&iv), key, MSG).expect("C_Encrypt while Enabled");
    (id, key, iv, ct)
}

fn disabled_aes_key_refuses_until_enabled(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (id, key, iv, ct) = kms_aes(&s, "disable");
    set_state(&s, key, KMSBRIDGE_STATE_DISABLED, &[]).expect("set DISABLED");
    assert_eq!(state(&s, key), KMSBRIDGE_STATE_DISABLED);
    assert_eq!(state(&s, record_of(&s, &id)), KMSBRIDGE_STATE_DISABLED);
    assert_aes_refused(&s, key, &ct, &iv, "Disabled");
    // Found again by id (as another application would), still refused.
    let found =
        find_one(&s, &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(id)], "by id");
    assert_aes_refused(&s, found, &ct, &iv, "Disabled, found again");

    set_state(&s, key, KMSBRIDGE_STATE_ENABLED, &[]).expect("set ENABLED");
    assert_eq!(state(&s, key), KMSBRIDGE_STATE_ENABLED);
    assert_aes_works(&s, key, &ct, &iv, "Enabled again");
}

/// RSA and EC keys: the private key refuses to sign, the public key to verify.
fn disabled_key_pairs_refuse_until_enabled(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    for (spec, mech) in [
        (Spec::Rsa(2048), Mechanism::Sha256RsaPkcs),
        (Spec::Ec(P256.params), Mechanism::EcdsaSha256),
    ] {
        let id = random(16);
        let private = kms_key(&s, spec, &id, "pair");
        let public =
            find_one(&s, &[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id)], "public");
        let sig = s.sign(&mech, private, MSG).expect("C_Sign while Enabled");
        set_state(&s, private, KMSBRIDGE_STATE_DISABLED, &[]).expect("set DISABLED");
        assert_eq!(state(&s, public), KMSBRIDGE_STATE_DISABLED, "{spec:?}: the pair's state");
        assert_init_refused(s.sign(&mech, private, MSG), &format!("C_SignInit, {spec:?}"));
        assert_init_refused(s.verify(&mech, public, MSG, &sig), &format!("C_VerifyInit, {spec:?}"));
        set_state(&s, private, KMSBRIDGE_STATE_ENABLED, &[]).expect("set ENABLED");
        let sig = s.sign(&mech, private, MSG).expect("C_Sign, Enabled again");
        s.verify(&mech, public, MSG, &sig).expect("C_Verify, Enabled again");
    }
}

fn pending_deletion_refuses_until_cancelled(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (id, key, iv, ct) = kms_aes(&s, "deletion");
    let day = 24 * 3600;
    assert_eq!(get_ulong(&s, key, CKA_KMSBRIDGE_DELETION_DATE), 0, "no deletion date yet");

    // From Enabled, window 7 days.
    let window = [ulong(CKA_KMSBRIDGE_PENDING_WINDOW_DAYS, 7)];
    set_state(&s, key, KMSBRIDGE_STATE_PENDING_DELETION, &window).expect("schedule, 7 days");
    let date = get_ulong(&s, record_of(&s, &id), CKA_KMSBRIDGE_DELETION_DATE);
    assert!(date.abs_diff(now() + 7 * day) < 120, "deletion date {date}, 7 days ahead");
    assert_eq!(state(&s, key), KMSBRIDGE_STATE_PENDING_DELETION);
    assert_aes_refused(&s, key, &ct, &iv, "PendingDeletion");
    set_state(&s, key, KMSBRIDGE_STATE_ENABLED, &[]).expect("cancel deletion");
    assert_eq!(get_ulong(&s, key, CKA_KMSBRIDGE_DELETION_DATE), 0, "date cleared");
    assert_aes_works(&s, key, &ct, &iv, "deletion cancelled");

    // From Disabled, the default window of 30 days; cancelling enables.
    set_state(&s, key, KMSBRIDGE_STATE_DISABLED, &[]).expect("set DISABLED");
    set_state(&s, key, KMSBRIDGE_STATE_PENDING_DELETION, &[]).expect("schedule, default");
    let date = get_ulong(&s, key, CKA_KMSBRIDGE_DELETION_DATE);
    assert!(date.abs_diff(now() + 30 * day) < 120, "deletion date {date}, 30 days ahead");
    assert_aes_refused(&s, key, &ct, &iv, "PendingDeletion from Disabled");
    set_state(&s, key, KMSBRIDGE_STATE_ENABLED, &[]).expect("cancel deletion");
    assert_eq!(state(&s, key), KMSBRIDGE_STATE_ENABLED);
    assert_aes_works(&s, key, &ct, &iv, "cancelled from Disabled");
}

fn pending_import_refuses_until_reimported(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (id, material) = (random(16), random(32));
    let key = byok::external_aes(&t, &s, &id, "pending-import", &material);
    let iv = random(16);
    let ct = s.encrypt(&cbc_pad(&iv), key, MSG).expect("C_Encrypt while Enabled");

    set_state(&s, key, KMSBRIDGE_STATE_PENDING_IMPORT, &[]).expect("set PENDING_IMPORT");
    assert_eq!(state(&s, record_of(&s, &id)), KMSBRIDGE_STATE_PENDING_IMPORT);
    assert!(keys_with_id(&s, ObjectClass::SECRET_KEY, &id).is_empty(), "material deleted");
    // The application's old handle names a key without material.
    assert_init_refused(s.encrypt(&cbc_pad(&iv), key, MSG), "C_EncryptInit, PendingImport");
    assert_init_refused(s.decrypt(&cbc_pad(&iv), key, &ct), "C_DecryptInit, PendingImport");

    let back = byok::import_material(&t, &s, &id, Wrapping::OaepSha1, &material, &[])
        .unwrap_or_else(|e| panic!("re-import: {e:?}"));
    assert_eq!(state(&s, back), KMSBRIDGE_STATE_ENABLED);
    assert_aes_works(&s, back, &ct, &iv, "re-imported");
}

/// CKA_KMSBRIDGE_MATERIAL_EXPIRY a few seconds ahead: usable until then, refused after,
/// and the key is PendingImport.
fn expired_material_refuses(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (id, material) = (random(16), random(32));
    create_record(&s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(32), &id, "expiring").expect("record");
    let expiry = now() + 4;
    let key = byok::import_material(
        &t,
        &s,
        &id,
        Wrapping::OaepSha1,
        &material,
        &[ulong(CKA_KMSBRIDGE_MATERIAL_EXPIRY, expiry)],
    )
    .unwrap_or_else(|e| panic!("import with an expiry: {e:?}"));
    assert_eq!(get_ulong(&s, key, CKA_KMSBRIDGE_MATERIAL_EXPIRY), expiry);
    assert_eq!(get_ulong(&s, record_of(&s, &id), CKA_KMSBRIDGE_MATERIAL_EXPIRY), expiry);
    let iv = random(16);
    let ct = s.encrypt(&cbc_pad(&iv), key, MSG).expect("C_Encrypt before the expiry");

    while now() <= expiry + 1 {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_init_refused(s.encrypt(&cbc_pad(&iv), key, MSG), "C_EncryptInit, material expired");
    assert_init_refused(s.decrypt(&cbc_pad(&iv), key, &ct), "C_DecryptInit, material expired");
    assert_eq!(state(&s, record_of(&s, &id)), KMSBRIDGE_STATE_PENDING_IMPORT, "after expiry");

    let back = byok::import_material(&t, &s, &id, Wrapping::OaepSha1, &material, &[])
        .unwrap_or_else(|e| panic!("re-import without expiry: {e:?}"));
    assert_eq!(get_ulong(&s, back, CKA_KMSBRIDGE_MATERIAL_EXPIRY), 0, "never expires now");
    assert_aes_works(&s, back, &ct, &iv, "re-imported after expiry");
}

fn transitions_outside_the_table(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (_, key, iv, ct) = kms_aes(&s, "transitions");
    let invalid = |to: u64, extra: &[Attribute], what: &str| {
        let r = set_state(&s, key, to, extra);
        assert_eq!(err_of(r), RvError::AttributeValueInvalid, "{what}");
    };
    for days in [0, 5, 6, 31] {
        let w = [ulong(CKA_KMSBRIDGE_PENDING_WINDOW_DAYS, days)];
        invalid(KMSBRIDGE_STATE_PENDING_DELETION, &w, &format!("a window of {days} days"));
    }
    invalid(KMSBRIDGE_STATE_PENDING_IMPORT, &[], "PendingImport for a key of origin KMS");
    invalid(0, &[], "state 0");
    invalid(5, &[], "state 5");
    assert_eq!(state(&s, key), KMSBRIDGE_STATE_ENABLED, "refusals change nothing");
    assert_aes_works(&s, key, &ct, &iv, "after refused transitions");

    set_state(&s, key, KMSBRIDGE_STATE_PENDING_DELETION, &[]).expect("schedule deletion");
    invalid(KMSBRIDGE_STATE_DISABLED, &[], "PendingDeletion to Disabled");
    set_state(&s, key, KMSBRIDGE_STATE_ENABLED, &[]).expect("cancel deletion");

    // A key waiting for its first import cannot be enabled.
    let id = random(16);
    let record = create_record(&s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(32), &id, "no material")
        .expect("record of origin EXTERNAL");
    let r = set_state(&s, record, KMSBRIDGE_STATE_ENABLED, &[]);
    assert_eq!(err_of(r), RvError::AttributeValueInvalid, "PendingImport to Enabled");

    // Read-only and unknown vendor attributes.
    for ty in [
        CKA_KMSBRIDGE_ORIGIN,
        CKA_KMSBRIDGE_DELETION_DATE,
        CKA_KMSBRIDGE_KEY_VERSION,
        CKA_KMSBRIDGE_PRIMARY_VERSION,
        CKA_KMSBRIDGE_CREATED,
    ] {
        let r = s.update_attributes(record_of(&s, &id), &[ulong(ty, 1)]);
        assert_eq!(err_of(r), RvError::AttributeReadOnly, "setting {}", attr_name(ty));
    }
    let r = s.update_attributes(key, &[ulong(CKA_KMSBRIDGE_BASE + 0xFF, 1)]);
    assert_eq!(err_of(r), RvError::AttributeTypeInvalid, "an unknown vendor attribute");
}

fn kms_keys_cannot_be_destroyed(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (id, key, iv, ct) = kms_aes(&s, "keep");
    assert_eq!(err_of(s.destroy_object(key)), RvError::ActionProhibited, "destroy a KMS key");
    let record = record_of(&s, &id);
    assert_eq!(err_of(s.destroy_object(record)), RvError::ActionProhibited, "destroy its record");
    assert_aes_works(&s, key, &ct, &iv, "after refused destroys");

    // An application's key without a record is destroyed as PKCS#11 says ...
    let plain = gen_token_aes(&s, "plain", b"plain").expect("C_GenerateKey");
    s.destroy_object(plain).expect("C_DestroyObject of a key without a record");
    // ... until its first state change gives it a record.
    let app = gen_token_aes(&s, "app", b"app").expect("C_GenerateKey");
    set_state(&s, app, KMSBRIDGE_STATE_DISABLED, &[]).expect("disable an application key");
    set_state(&s, app, KMSBRIDGE_STATE_ENABLED, &[]).expect("enable it");
    record_of(&s, b"app");
    assert_eq!(err_of(s.destroy_object(app)), RvError::ActionProhibited, "now a KMS key");
}

/// The child: encrypts with the key in a loop and reports each change of outcome.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("encrypt-loop") {
        return;
    }
    let arg = arg();
    let (id, stop) = arg.split_once(':').expect("id:stopfile");
    let m = Module::load();
    let s = m.user_session();
    let id = hex::decode(id).expect("hex id");
    let key = find_one(&s, &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(id)], "key");
    let mut last = String::new();
    while !std::path::Path::new(stop).exists() {
        let now = match s.encrypt(&Mechanism::AesEcb, key, &PROBE) {
            Ok(_) => "ok".to_string(),
            Err(Error::Pkcs11(code, function)) => format!("refused {code:?} {function:?}"),
            Err(e) => panic!("C_Encrypt: {e}"),
        };
        if now != last {
            say(&format!("STATE {now}"));
            last = now;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    say("DONE");
}

/// Waits for the child's next outcome after a change made at `since`, at most
/// `PROPAGATION_BOUND` (10 re-read intervals): a child that never re-reads fails.
fn next_state(
    rx: &std::sync::mpsc::Receiver<String>,
    since: Instant,
    what: &str,
) -> (String, Duration) {
    loop {
        let line =
            rx.recv_timeout(PROPAGATION_BOUND.saturating_sub(since.elapsed())).unwrap_or_else(
                |e| panic!("the child saw no change {PROPAGATION_BOUND:?} after {what}: {e}"),
            );
        if let Some(state) = field(&line, "STATE ") {
            return (state.to_string(), since.elapsed());
        }
    }
}

fn another_process_sees_state_changes_at_a_re_read(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let (id, key, _, _) = kms_aes(&s, "two-processes");
    let stop = t.rig().dir().join("stop");
    let (mut child, rx) = spawn(
        "child",
        "encrypt-loop",
        &[(ARG, &format!("{}:{}", hex::encode(&id), stop.display()))],
    );
    assert_eq!(wait_for(&rx, "STATE ", Duration::from_secs(60)), "ok", "the child encrypts");
    std::thread::sleep(Duration::from_millis(300));

    let since = Instant::now();
    set_state(&s, key, KMSBRIDGE_STATE_DISABLED, &[]).expect("set DISABLED");
    let (seen, took) = next_state(&rx, since, "disabling");
    assert_eq!(seen, "refused KeyFunctionNotPermitted EncryptInit", "the child's answer");
    eprintln!("{}: the other process saw Disabled after {took:?}", target.name());

    let since = Instant::now();
    set_state(&s, key, KMSBRIDGE_STATE_ENABLED, &[]).expect("set ENABLED");
    let (seen, took) = next_state(&rx, since, "enabling");
    assert_eq!(seen, "ok");
    eprintln!("{}: the other process saw Enabled after {took:?}", target.name());

    std::fs::write(&stop, b"").expect("write the stop file");
    wait_for(&rx, "DONE", Duration::from_secs(10));
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success(), "the child failed");
}
