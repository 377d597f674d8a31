//! Application access points through the module, on a software and a hardware
//! instance (docs/ACCESS.md): the SO creates them, client keys log in as them, policies
//! decide what each sees and may do, wrong keys lock a credential, the SO unlocks and
//! revokes, a credential file logs in without a PIN, the client key is the secret of
//! C_Login(CKU_CONTEXT_SPECIFIC) under its access point. Needs `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::Rv;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::{CKM_ECDSA, CKU_CONTEXT_SPECIFIC, CK_MECHANISM, CK_ULONG};
use kmsbridge_access::credential::{ClientKey, StoredCredential};
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::P256;
use kmsbridge_testkit::keys::{fingerprint, gen_token_aes, round_trip};
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::access::*;
use kmsbridge_tests::ck;
use kmsbridge_tests::{Env, Target};
use std::path::Path;
use std::ptr::null_mut;

const POLICY_A: &str = r#"
[[statement]]
sid = "payments"
actions = ["encrypt", "decrypt"]
resources = ["alias/pay-*"]
"#;

const POLICY_B: &str = r#"
[[statement]]
actions = ["encrypt", "decrypt", "generate"]
resources = ["key/*"]

[[statement]]
effect = "deny"
actions = ["decrypt"]
resources = ["alias/pay-*"]
"#;

const POLICY_SIGN: &str = r#"
[[statement]]
actions = ["generate", "sign", "verify"]
resources = ["key/*"]
"#;

fn so(t: &Env) -> Session {
    let s = t.rw_session();
    s.login(UserType::So, Some(&t.so_auth())).expect("SO login");
    s
}

/// Every handle up to `max` that names an object for this session, by label.
fn reachable(s: &Session, max: u64) -> Vec<String> {
    let mut out = Vec::new();
    for h in 1..=max {
        let h = unsafe_handle(h);
        if let Ok(a) = s.get_attributes(h, &[AttributeType::Label]) {
            if let Some(Attribute::Label(l)) = a.first() {
                out.push(String::from_utf8_lossy(l).into_owned());
            }
        }
    }
    out
}

fn unsafe_handle(h: u64) -> ObjectHandle {
    // SAFETY: a guessed handle is the point: the module must refuse it.
    unsafe { ObjectHandle::new_from_raw(h as _) }
}

fn by_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())]).unwrap()
}

fn policies_decide(target: Target) {
    let t = Env::new(target);
    // Keys made under the default access point (the user PIN).
    let u = t.logged_in();
    let pay = gen_token_aes(&u, "pay-1", b"pay1").unwrap();
    let other = gen_token_aes(&u, "other-1", b"oth1").unwrap();
    let pay_print = fingerprint(&u, pay);
    let other_print = fingerprint(&u, other);
    u.logout().unwrap();
    drop(u);

    let s = so(&t);
    let a = create(&s, "app-a", POLICY_A).unwrap();
    let b = create(&s, "app-b", POLICY_B).unwrap();
    let key_a = add_credential(&s, a);
    let key_b = add_credential(&s, b);
    // A bad policy is refused by name, and nothing is stored.
    assert_eq!(
        err_of(create(
            &s,
            "bad",
            "[[statement]]\nactions = [\"encrypt-all\"]\nresources = [\"key/*\"]"
        )),
        RvError::AttributeValueInvalid
    );
    assert!(find(&s, "bad").is_none());
    assert_eq!(err_of(create(&s, "app-a", "")), RvError::AttributeValueInvalid, "names are unique");
    s.logout().unwrap();
    drop(s);

    // app-a: sees and uses only pay-*; the other key is not found, and no handle
    // reaches it.
    let s = t.rw_session();
    login_key(&s, &key_a).expect("login with app-a's client key");
    assert!(by_label(&s, "other-1").is_empty(), "outside the policy: not found");
    let found = by_label(&s, "pay-1");
    assert_eq!(found.len(), 1);
    assert_eq!(fingerprint(&s, found[0]), pay_print, "the same key");
    round_trip(&s, found[0], "app-a on pay-1");
    let labels = reachable(&s, 400);
    assert!(labels.contains(&"pay-1".to_string()), "{labels:?}");
    assert!(
        !labels.contains(&"other-1".to_string()),
        "a guessed handle reached a hidden key: {labels:?}"
    );
    // Generating is not in app-a's policy.
    assert_eq!(err_of(gen_token_aes(&s, "pay-new", b"pn")), RvError::KeyFunctionNotPermitted);
    s.logout().unwrap();
    drop(s);

    // app-b: everything, but decrypt with pay-* is denied.
    let s = t.rw_session();
    login_key(&s, &key_b).unwrap();
    let pay = by_label(&s, "pay-1")[0];
    let other = by_label(&s, "other-1")[0];
    assert_eq!(fingerprint(&s, other), other_print);
    round_trip(&s, other, "app-b on other-1");
    let mut iv = [1u8; 12];
    let gcm = Mechanism::AesGcm(
        cryptoki::mechanism::aead::GcmParams::new(&mut iv, b"", 128.into()).unwrap(),
    );
    let ct = s.encrypt(&gcm, pay, b"secret").expect("encrypt is allowed");
    assert_eq!(
        err_of(s.decrypt(&gcm, pay, &ct)),
        RvError::KeyFunctionNotPermitted,
        "explicit deny"
    );
    let made = gen_token_aes(&s, "b-made", b"bm").expect("generate is allowed for app-b");
    round_trip(&s, made, "app-b's own key");
    s.logout().unwrap();
}

fn lockout_unlock_revoke(target: Target) {
    let t = Env::new(target);
    let s = so(&t);
    let a = create(&s, "app", POLICY_B).unwrap();
    let key = add_credential(&s, a);
    let id = credential_id(&key);
    s.logout().unwrap();
    drop(s);

    let s = t.rw_session();
    for n in 0..10 {
        assert_eq!(err_of(login_key(&s, &wrong_key(&key, n))), RvError::PinIncorrect, "guess {n}");
        let info = t.ctx.get_token_info(t.slot).unwrap();
        // The credential tried last is the one the flags follow.
        assert_eq!(info.user_pin_count_low(), n < 9, "guess {n}");
        assert_eq!(info.user_pin_final_try(), n == 8, "guess {n}");
        assert_eq!(info.user_pin_locked(), n == 9, "guess {n}");
    }
    assert_eq!(err_of(login_key(&s, &wrong_key(&key, 99))), RvError::PinLocked);
    assert_eq!(err_of(login_key(&s, &key)), RvError::PinLocked, "the right key is locked out too");
    drop(s);

    let s = so(&t);
    let a = find(&s, "app").unwrap();
    let listed = credentials(&s, a);
    assert!(listed.contains(&id) && listed.contains("locked = true"), "{listed}");
    unlock(&s, a, &id).unwrap();
    assert!(credentials(&s, a).contains("locked = false"));
    s.logout().unwrap();
    drop(s);

    let s = t.rw_session();
    login_key(&s, &key).expect("unlocked");
    s.logout().unwrap();
    // A right key clears the count.
    assert_eq!(err_of(login_key(&s, &wrong_key(&key, 1))), RvError::PinIncorrect);
    login_key(&s, &key).unwrap();
    s.logout().unwrap();
    drop(s);

    // A second credential rotates in; the first is revoked and stops working.
    let s = so(&t);
    let a = find(&s, "app").unwrap();
    let key2 = add_credential(&s, a);
    revoke(&s, a, &id).unwrap();
    assert_eq!(err_of(revoke(&s, a, &id)), RvError::AttributeValueInvalid, "already gone");
    s.logout().unwrap();
    drop(s);
    let s = t.rw_session();
    assert_eq!(err_of(login_key(&s, &key)), RvError::PinIncorrect);
    login_key(&s, &key2).expect("the rotated-in credential");
}

fn credential_file(target: Target) {
    use std::os::unix::fs::PermissionsExt;
    let t = Env::new(target);
    let s = so(&t);
    let a = create(&s, "filed", POLICY_B).unwrap();
    let key = add_credential(&s, a);
    s.logout().unwrap();
    drop(s);
    let file = t.rig().dir().join("client.key");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // SAFETY: single-threaded test body; the module reads it at login.
    unsafe { std::env::set_var("KMSBRIDGE_CLIENT_KEY_FILE", &file) };
    let info = t.ctx.get_token_info(t.slot).unwrap();
    assert!(info.protected_authentication_path(), "no PIN to ask for");
    let s = t.rw_session();
    assert_eq!(err_of(s.login(UserType::User, None)), RvError::FunctionFailed, "mode 0644 refused");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.login(UserType::User, None).expect("login through the protected path");
    let k = gen_token_aes(&s, "by-file", b"bf").unwrap();
    round_trip(&s, k, "file login");
    s.logout().unwrap();
    s.login(UserType::User, Some(&AuthPin::new(String::new().into()))).expect("empty PIN");
    s.logout().unwrap();
}

/// C_Login(CKU_CONTEXT_SPECIFIC) under an access point: the secret is the client key
/// that logged the session in (docs/ACCESS.md); the default access point's user PIN
/// is not it.
fn context_login_client_key(target: Target) {
    let t = Env::new(target);
    let s = so(&t);
    let a = create(&s, "signer", POLICY_SIGN).unwrap();
    let key = add_credential(&s, a);
    s.logout().unwrap();
    drop(s);
    let s = t.rw_session();
    login_key(&s, &key).unwrap();
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::Token(false), Attribute::EcParams(P256.params.to_vec())],
            &[Attribute::Token(false), Attribute::Sign(true), Attribute::AlwaysAuthenticate(true)],
        )
        .expect("an always-authenticate pair under the access point");
    let hs = s.handle();
    let ctx_login = |secret: &str| {
        let p = secret.as_ptr() as *mut u8;
        ck!(t, C_Login, hs, CKU_CONTEXT_SPECIFIC, p, secret.len() as CK_ULONG)
    };
    let mut m = CK_MECHANISM { mechanism: CKM_ECDSA, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(ck!(t, C_SignInit, hs, &mut m, private.handle()), Rv::Ok);
    assert_eq!(ctx_login(&t.user_pin), Rv::Error(RvError::PinIncorrect), "the user PIN");
    assert_eq!(ctx_login(&key), Rv::Ok, "the client key");
    let digest = [7u8; 32];
    let (mut sig, mut len) = ([0u8; 64], 64 as CK_ULONG);
    let dp = digest.as_ptr() as *mut u8;
    let code = ck!(t, C_Sign, hs, dp, 32, sig.as_mut_ptr(), &mut len);
    assert_eq!((code, len), (Rv::Ok, 64), "C_Sign after the client key's context login");
    s.verify(&Mechanism::Ecdsa, public, &digest, &sig).expect("verifies");
}

fn rig(target: Target) -> Rig {
    Rig::with_options(&RigOptions { software: target == Target::Software, ..Default::default() })
}

/// `default_access_point = false`: the user PIN no longer logs in; client keys do.
fn default_off(target: Target) {
    let rig = rig(target);
    configure(Path::new(rig.var("KMSBRIDGE_CONF")), "default_access_point = false");
    let t = Env::with_rig(target, rig);
    let s = t.rw_session();
    assert_eq!(err_of(s.login(UserType::User, Some(&t.user_auth()))), RvError::PinIncorrect);
    drop(s);
    let s = so(&t);
    let a = create(&s, "only", POLICY_B).unwrap();
    let key = add_credential(&s, a);
    s.logout().unwrap();
    drop(s);
    let s = t.rw_session();
    login_key(&s, &key).expect("client keys still log in");
    let k = gen_token_aes(&s, "k", b"k").unwrap();
    round_trip(&s, k, "default off");
}

/// An access point of the configuration file (hardware instances may hold its
/// credentials there by hash): in force, shown to the SO read-only.
fn configured(target: Target) {
    let rig = rig(target);
    let key = ClientKey::generate().unwrap();
    let stored = StoredCredential::new(&key, None, None).unwrap();
    // Sub-tables of the (only) instance go at the end of the file.
    let conf = Path::new(rig.var("KMSBRIDGE_CONF")).to_path_buf();
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "\n[[instance.access_point]]\nname = \"cfg\"\npolicy = \'\'\'{POLICY_A}\'\'\'\n\
         [[instance.access_point.credential]]\nhash = \"{}\"\n",
        stored.to_text()
    ));
    std::fs::write(&conf, text).unwrap();
    let t = Env::with_rig(target, rig);
    let u = t.logged_in();
    let pay = gen_token_aes(&u, "pay-cfg", b"pc").unwrap();
    gen_token_aes(&u, "not-pay", b"np").unwrap();
    let print = fingerprint(&u, pay);
    u.logout().unwrap();
    drop(u);
    let s = t.rw_session();
    login_key(&s, &key.to_text().unwrap()).expect("a configured credential logs in");
    assert!(by_label(&s, "not-pay").is_empty());
    assert_eq!(fingerprint(&s, by_label(&s, "pay-cfg")[0]), print);
    s.logout().unwrap();
    drop(s);
    let s = so(&t);
    let a = find(&s, "cfg").expect("the SO sees configured access points");
    assert_eq!(err_of(revoke(&s, a, &key.id().to_string())), RvError::ActionProhibited);
    assert_eq!(err_of(s.destroy_object(a)), RvError::ActionProhibited);
}

/// An application cannot plant the module's own objects: an access point record, a
/// lockout marker or a service key made through C_CreateObject would be believed.
fn no_planting(target: Target) {
    let t = Env::new(target);
    for s in [t.rw_session(), t.logged_in()] {
        for app in ["kmsbridge.aap", "kmsbridge.meta", "kmsbridge.lockout", "kmsbridge.x"] {
            let r = s.create_object(&[
                Attribute::Class(cryptoki::object::ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Application(app.as_bytes().to_vec()),
                Attribute::Label(b"planted".to_vec()),
                Attribute::Value(b"name = \"planted\"".to_vec()),
            ]);
            assert_eq!(err_of(r), RvError::AttributeValueInvalid, "{app}");
        }
        let r = gen_token_aes(&s, "svc", b"kmsbridge.svc.audit.0000");
        assert!(r.is_err(), "a service key id was accepted");
    }
    // Nor rename an object into one.
    let u = t.logged_in();
    let d = u
        .create_object(&[
            Attribute::Class(cryptoki::object::ObjectClass::DATA),
            Attribute::Token(false),
            Attribute::Application(b"app".to_vec()),
            Attribute::Value(b"v".to_vec()),
        ])
        .unwrap();
    let r = u.update_attributes(d, &[Attribute::Application(b"kmsbridge.aap".to_vec())]);
    assert!(r.is_err(), "renamed into the module's own");
}

/// A hardware instance's front SO PIN locks after the bound, flags and all; the
/// holder of the nodes' credentials unlocks it with `kmsbridge cluster unlock-so`.
#[test]
fn hardware_so_pin_locks_and_unlocks() {
    let t = Env::new(Target::Bridge);
    let s = t.rw_session();
    let wrong = AuthPin::new("wrong-so-pin".to_string().into());
    for n in 0..10 {
        assert_eq!(err_of(s.login(UserType::So, Some(&wrong))), RvError::PinIncorrect, "try {n}");
    }
    let info = t.ctx.get_token_info(t.slot).unwrap();
    assert!(info.so_pin_locked(), "CKF_SO_PIN_LOCKED");
    assert!(!info.user_pin_locked(), "the user PIN is counted apart");
    assert_eq!(err_of(s.login(UserType::So, Some(&t.so_auth()))), RvError::PinLocked);
    let out = std::process::Command::new(kmsbridge_testkit::rig::cli_path())
        .args(["cluster", "unlock-so"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("10 wrong attempts forgotten"), "{stdout}");
    s.login(UserType::So, Some(&t.so_auth())).expect("unlocked");
    assert!(!t.ctx.get_token_info(t.slot).unwrap().so_pin_locked());
}

#[test]
fn software_no_planting() {
    no_planting(Target::Software);
}

#[test]
fn hardware_no_planting() {
    no_planting(Target::Bridge);
}

#[test]
fn software_policies_decide() {
    policies_decide(Target::Software);
}

#[test]
fn hardware_policies_decide() {
    policies_decide(Target::Bridge);
}

#[test]
fn software_lockout_unlock_revoke() {
    lockout_unlock_revoke(Target::Software);
}

#[test]
fn hardware_lockout_unlock_revoke() {
    lockout_unlock_revoke(Target::Bridge);
}

#[test]
fn software_credential_file() {
    credential_file(Target::Software);
}

#[test]
fn hardware_credential_file() {
    credential_file(Target::Bridge);
}

#[test]
fn software_default_access_point_off() {
    default_off(Target::Software);
}

#[test]
fn hardware_default_access_point_off() {
    default_off(Target::Bridge);
}

#[test]
fn hardware_configured_access_point() {
    configured(Target::Bridge);
}

#[test]
fn software_context_login_client_key() {
    context_login_client_key(Target::Software);
}

#[test]
fn hardware_context_login_client_key() {
    context_login_client_key(Target::Bridge);
}
