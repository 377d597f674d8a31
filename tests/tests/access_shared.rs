//! Access points are instance state, not process state: an access point made and a
//! credential locked through one process are seen by another, on a software instance,
//! a hardware instance and a 3-node hardware cluster (where a node may be down). The
//! other processes are this test binary re-run as children (testkit harness). Needs
//! `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use kmsbridge_testkit::codes::{code_of, err_of};
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::gen_token_aes;
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::access::*;
use kmsbridge_tests::cluster::provision_domain_key;
use kmsbridge_tests::{Env, Target};
use std::path::Path;
use std::time::Duration;

const MAX: u64 = 5;
const TIMEOUT: Duration = Duration::from_secs(60);

const POLICY: &str = r#"
[[statement]]
sid = "payments"
actions = ["encrypt"]
resources = ["alias/pay-*"]
"#;

/// A child: logs in with the client key in ARG and reports what it sees and may do
/// (role `use`), or only the login's answer (`login`), or makes MAX wrong guesses at
/// that credential (`guess`).
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    let Some(role) = role() else { return };
    let key = arg();
    let m = Module::load();
    let s = m.ctx.open_rw_session(m.slot).unwrap();
    match role.as_str() {
        "use" => {
            say(&format!("LOGIN {:?}", code_of(&login_key(&s, &key))));
            let count = |l: &str| s.find_objects(&[Attribute::Label(l.into())]).unwrap();
            let pay = count("pay-1");
            say(&format!("FOUND pay-1 {} other-1 {}", pay.len(), count("other-1").len()));
            let mut iv = [1u8; 12];
            let gcm = Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap());
            let ct = s.encrypt(&gcm, pay[0], b"shared");
            say(&format!("ENCRYPT {:?}", code_of(&ct)));
            say(&format!("DECRYPT {:?}", code_of(&s.decrypt(&gcm, pay[0], &ct.unwrap()))));
        }
        "login" => say(&format!("LOGIN {:?}", code_of(&login_key(&s, &key)))),
        "guess" => {
            let answers: Vec<String> = (0..MAX)
                .map(|n| format!("{:?}", code_of(&login_key(&s, &wrong_key(&key, n)))))
                .collect();
            say(&format!("GUESSES {}", answers.join(",")));
        }
        other => panic!("unknown role {other}"),
    }
}

/// Runs the child in `role` with `key`, returning every line after `marker`s in order.
fn run_child(role: &str, key: &str, markers: &[&str]) -> Vec<String> {
    let (mut c, rx) = spawn("child", role, &[(ARG, key)]);
    let got = markers.iter().map(|m| wait_for(&rx, m, TIMEOUT)).collect();
    assert!(wait_exit(&mut c, TIMEOUT).success(), "child {role}");
    got
}

fn shared(target: Target, rig: Rig) {
    configure(Path::new(rig.var("KMSBRIDGE_CONF")), &format!("max_failed_logins = {MAX}"));
    let cluster = rig.nodes() > 0;
    if cluster {
        provision_domain_key(&rig);
    }
    let t = Env::with_rig(target, rig);
    let u = t.logged_in();
    gen_token_aes(&u, "pay-1", b"pay1").unwrap();
    gen_token_aes(&u, "other-1", b"oth1").unwrap();
    u.logout().unwrap();
    drop(u);

    // Made here, used there.
    let key = make_point(&t, "shared-app", POLICY);
    let seen = run_child("use", &key, &["LOGIN ", "FOUND ", "ENCRYPT ", "DECRYPT "]);
    assert_eq!(seen, ["Ok(())", "pay-1 1 other-1 0", "Ok(())", "Err(KeyFunctionNotPermitted)"]);

    // Guessed there, locked here.
    let guesses = run_child("guess", &key, &["GUESSES "]);
    assert_eq!(guesses[0], vec!["Err(PinIncorrect)"; MAX as usize].join(","));
    let s = t.rw_session();
    assert_eq!(err_of(login_key(&s, &key)), RvError::PinLocked, "locked by another process");
    drop(s);

    if cluster {
        // The count is on every node: with node 0 down it still holds.
        t.rig().stop_node(0);
        assert_eq!(run_child("login", &key, &["LOGIN "]), ["Err(PinLocked)"], "node 0 down");
        t.rig().start_node(0);
    }

    // Unlocked here, in force there.
    let so = so_session(&t);
    let ap = find(&so, "shared-app").unwrap();
    assert!(credentials(&so, ap).contains("locked = true"));
    unlock(&so, ap, &credential_id(&key)).unwrap();
    so.logout().unwrap();
    drop(so);
    assert_eq!(run_child("login", &key, &["LOGIN "]), ["Ok(())"], "unlocked by another process");

    // Revoked here: refused there.
    let so = so_session(&t);
    let ap = find(&so, "shared-app").unwrap();
    revoke(&so, ap, &credential_id(&key)).unwrap();
    so.logout().unwrap();
    assert_eq!(run_child("login", &key, &["LOGIN "]), ["Err(PinIncorrect)"], "revoked");
}

#[test]
fn software_instance_state_is_shared() {
    shared(
        Target::Software,
        Rig::with_options(&RigOptions { software: true, ..Default::default() }),
    );
}

#[test]
fn hardware_instance_state_is_shared() {
    shared(Target::Bridge, Rig::new());
}

#[test]
fn cluster_instance_state_is_shared() {
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    shared(Target::Bridge, rig);
}
