//! Host-wide quotas through the built module (docs/QUOTAS.md): an instance's limit
//! holds across two processes, a refusal answers CKR_FUNCTION_FAILED with the quota's
//! ulDeviceError and leaves the session usable, symmetric and asymmetric operations
//! are counted apart, and `kmsbridge status` shows the limits, rates and counts.
//!
//! Assertions count operations (admitted against rate × window + burst); none times a
//! single call. Each test writes its own `[instance.quota]` into the rig's config and
//! keeps the bucket files in the rig's directory (`KMSBRIDGE_QUOTA_DIR`).
//! Needs `cargo build --release -p kmsbridge -p kmsbridge-cli`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;

use kmsbridge_testkit::codes::rv_of;
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{ecdsa_sign, gen_ec, import_aes, P256};
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{cli_path, Rig, RigOptions};

const TIMEOUT: Duration = Duration::from_secs(120);
/// ulDeviceError after a quota refusal (include/kmsbridge.h).
const KMSBRIDGE_DEVICE_ERROR_QUOTA: u64 = 0xCB42_0006;

/// A software rig whose instance has `quota` (TOML under `[instance.quota]`), with
/// its bucket files in the rig's directory.
fn rig_with(quota: &str) -> Rig {
    let rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    let conf = rig.var("KMSBRIDGE_CONF").to_string();
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(quota);
    std::fs::write(&conf, text).unwrap();
    std::env::set_var("KMSBRIDGE_QUOTA_DIR", rig.dir());
    rig
}

/// One AES-GCM encryption of 1 KiB: `Ok`, or the code that refused it.
fn encrypt(s: &Session, key: ObjectHandle) -> Result<(), RvError> {
    let mut iv = [7u8; 12];
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, &[], 128.into()).unwrap());
    let r = s.encrypt(&m, key, &[0x5a; 1024]);
    match rv_of(&r) {
        None => {
            r.unwrap();
            Ok(())
        }
        Some(rv) => Err(rv),
    }
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// `kmsbridge status [--json]` with the rig's environment (inherited).
fn status(json: bool) -> String {
    let mut cmd = Command::new(cli_path());
    cmd.arg("status");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run kmsbridge status");
    assert!(out.status.success(), "kmsbridge status: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The instance-scope bucket of `class` in `kmsbridge status --json`'s only file.
fn bucket(json: &str, class: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json).expect("status --json is JSON");
    let files = v["instances"][0]["quota"]["files"].as_array().expect("quota files").clone();
    assert_eq!(files.len(), 1, "one bucket file: {json}");
    files[0]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["class"] == class && b["access_point"].is_null())
        .unwrap_or_else(|| panic!("no {class} bucket: {json}"))
        .clone()
}

/// The child's part; does nothing unless started by a test below.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("hammer") {
        return;
    }
    let (go, secs) = arg().split_once(':').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
    let window = Duration::from_secs(secs.parse().unwrap());
    let m = Module::load();
    let s = m.user_session();
    // C_CreateObject is not counted: the key costs no turn.
    let key = import_aes(&s, &[0x11; 32]);
    say("READY");
    wait_file(std::path::Path::new(&go), TIMEOUT);
    let (start, began) = (unix_ns(), Instant::now());
    let (mut admitted, mut refused) = (0u64, 0u64);
    while began.elapsed() < window {
        match encrypt(&s, key) {
            Ok(()) => admitted += 1,
            Err(RvError::FunctionFailed) => refused += 1,
            Err(other) => panic!("encryption answered {other:?}"),
        }
    }
    say(&format!("DONE {admitted} {refused} {start} {}", unix_ns()));
}

#[test]
fn instance_limit_holds_across_two_processes() {
    const RATE: f64 = 200.0;
    const BURST: f64 = 50.0;
    let rig = rig_with(&format!(
        "[instance.quota.symmetric]\nper_second = {RATE}\nburst = {BURST}\nmax_wait_ms = 0\n"
    ));
    let go = rig.dir().join("go");
    let arg = format!("{}:3", go.display());
    let mut children: Vec<_> =
        (0..2).map(|_| spawn("child", "hammer", &[(ARG, arg.as_str())])).collect();
    for (_, rx) in &children {
        wait_for(rx, "READY", TIMEOUT);
    }
    std::fs::write(&go, b"").unwrap();
    // Mid-run, `status` shows the instance's current rate.
    std::thread::sleep(Duration::from_millis(1500));
    let mid = status(true);
    let rate = bucket(&mid, "symmetric")["rate_last_second"].as_u64().unwrap() as f64;
    assert!(rate > RATE / 4.0 && rate <= RATE + BURST + 1.0, "rate {rate}/s mid-run: {mid}");
    let table = status(false);
    assert!(table.contains("instance         symmetric"), "{table}");

    let (mut admitted, mut refused, mut first, mut last) = (0u64, 0u64, u128::MAX, 0u128);
    for (child, rx) in &mut children {
        let line = wait_for(rx, "DONE ", TIMEOUT);
        let f: Vec<u128> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
        admitted += f[0] as u64;
        refused += f[1] as u64;
        first = first.min(f[2]);
        last = last.max(f[3]);
        assert!(wait_exit(child, TIMEOUT).success(), "a child failed");
    }
    let span = (last - first) as f64 / 1e9;
    let bound = RATE * span + BURST;
    eprintln!("admitted {admitted}, refused {refused} in {span:.2} s; bound {bound:.0}");
    // GCRA never admits more than rate × time + burst; 1 % for the integer interval
    // and the children's clock reads around their first and last call.
    assert!(admitted as f64 <= bound * 1.01, "admitted {admitted} > {bound:.0}");
    // Two processes hammering without a pause keep the bucket busy: well over half.
    assert!(admitted as f64 >= RATE * span * 0.5, "admitted only {admitted} in {span:.2} s");
    assert!(refused > admitted, "hammering must be refused more than admitted: {refused}");
    // The shared counters saw exactly what the two processes saw.
    let after = bucket(&status(true), "symmetric");
    assert_eq!(after["admitted"].as_u64(), Some(admitted), "{after}");
    assert_eq!(after["refused"].as_u64(), Some(refused), "{after}");
}

#[test]
fn refusal_answers_function_failed_and_the_session_goes_on() {
    // One token at a time, one a second; a wait over 50 ms is refused. The second
    // leaves the two refusals below ~950 ms to happen in, however loaded the machine.
    let _rig =
        rig_with("[instance.quota.symmetric]\nper_second = 1\nburst = 1\nmax_wait_ms = 50\n");
    let m = Module::load();
    let s = m.user_session();
    let key = import_aes(&s, &[0x22; 32]);
    assert_eq!(encrypt(&s, key), Ok(()), "the burst admits the first");
    assert_eq!(s.get_session_info().unwrap().device_error(), 0);
    // The next turn is ~1 s away, beyond the 50 ms bound: refused at once.
    assert_eq!(encrypt(&s, key), Err(RvError::FunctionFailed));
    assert_eq!(s.get_session_info().unwrap().device_error(), KMSBRIDGE_DEVICE_ERROR_QUOTA);
    assert_eq!(encrypt(&s, key), Err(RvError::FunctionFailed));
    // The refused C_EncryptInit left no operation active: once the turn comes, the
    // same session encrypts again (an active one would answer CKR_OPERATION_ACTIVE),
    // and the device error is cleared.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(encrypt(&s, key), Ok(()));
    assert_eq!(s.get_session_info().unwrap().device_error(), 0);
    let b = bucket(&status(true), "symmetric");
    assert_eq!(b["admitted"].as_u64(), Some(2), "{b}");
    assert_eq!(b["refused"].as_u64(), Some(2), "{b}");
    // The audit trail has the rates (written with the first admitted operation) and the
    // refusal (the first of the second).
    drop(s);
    let trail = kmsbridge_tests::audit::all(&kmsbridge_tests::audit::trail_dir(&_rig, true));
    let text =
        |r: &kmsbridge_audit::Record| format!("{:?} {:?} {:?}", r.action, r.object, r.reason);
    assert!(
        trail.iter().any(|r| r.event == kmsbridge_audit::Event::Admin
            && text(r).contains("quota-rates")
            && text(r).contains("quota/instance/symmetric")),
        "no quota-rates record: {:?}",
        trail.iter().map(text).collect::<Vec<_>>()
    );
    assert!(
        trail.iter().any(|r| r.event == kmsbridge_audit::Event::Denied
            && text(r).contains("quota: 1 operation(s) refused")),
        "no quota refusal record: {:?}",
        trail.iter().map(text).collect::<Vec<_>>()
    );
    assert_eq!(b["per_second"].as_u64(), Some(1), "{b}");
    assert_eq!(b["max_wait_ms"].as_u64(), Some(50), "{b}");
}

#[test]
fn symmetric_and_asymmetric_are_counted_apart() {
    let _rig = rig_with(
        "[instance.quota.symmetric]\nper_second = 1\nburst = 1\nmax_wait_ms = 0\n\
         [instance.quota.asymmetric]\nper_second = 1000\n",
    );
    let m = Module::load();
    let s = m.user_session();
    let key = import_aes(&s, &[0x33; 32]);
    assert_eq!(encrypt(&s, key), Ok(()));
    assert_eq!(encrypt(&s, key), Err(RvError::FunctionFailed), "symmetric bucket empty");
    // The symmetric limit does not hold asymmetric work back.
    let (_, private) = gen_ec(&s, &P256, b"quota-ec");
    for i in 0..5 {
        ecdsa_sign(&s, private).unwrap_or_else(|e| panic!("signature {i}: {e}"));
    }
    let json = status(true);
    let sym = bucket(&json, "symmetric");
    assert_eq!((sym["admitted"].as_u64(), sym["refused"].as_u64()), (Some(1), Some(1)), "{sym}");
    // Five signatures and the key pair generation, which counts as asymmetric.
    let asym = bucket(&json, "asymmetric");
    assert_eq!((asym["admitted"].as_u64(), asym["refused"].as_u64()), (Some(6), Some(0)), "{asym}");
}

#[test]
fn status_without_a_quota_says_so() {
    let _rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    let m = Module::load();
    let s = m.user_session();
    let key = import_aes(&s, &[0x44; 32]);
    for _ in 0..20 {
        assert_eq!(encrypt(&s, key), Ok(()));
    }
    let table = status(false);
    assert!(table.contains("quota:  none configured"), "{table}");
    assert!(table.contains("software"), "{table}");
    assert!(table.contains("token:  initialised, user PIN set"), "{table}");
    let v: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert!(v["instances"][0]["quota"].is_null(), "{v}");
    assert_eq!(v["instances"][0]["token"]["user_pin_initialized"], true, "{v}");
}

/// An access point's own limit holds it back; the default access point (the user
/// PIN) has only the instance's, here none.
#[test]
fn an_access_points_limit_holds_only_it() {
    use cryptoki::session::UserType;
    use kmsbridge_tests::access::{add_credential, create, login_key};
    let _rig = rig_with(
        "[instance.quota.access_points.slow.symmetric]\nper_second = 1\nburst = 1\nmax_wait_ms = 0\n",
    );
    let m = Module::load();
    let so = m.ctx.open_rw_session(m.slot).unwrap();
    so.login(
        UserType::So,
        Some(&cryptoki::types::AuthPin::new(std::env::var("KMSBRIDGE_SO_PIN").unwrap().into())),
    )
    .unwrap();
    let ap =
        create(&so, "slow", "[[statement]]\nactions = [\"*\"]\nresources = [\"key/*\"]\n").unwrap();
    let key_text = add_credential(&so, ap);
    so.logout().unwrap();
    drop(so);
    // The user PIN: no limit of its own, no instance limit.
    let s = m.user_session();
    let key = import_aes(&s, &[0x44; 32]);
    for _ in 0..5 {
        assert_eq!(encrypt(&s, key), Ok(()));
    }
    s.logout().unwrap();
    login_key(&s, &key_text).unwrap();
    let key = import_aes(&s, &[0x45; 32]);
    assert_eq!(encrypt(&s, key), Ok(()), "the burst admits the first");
    assert_eq!(encrypt(&s, key), Err(RvError::FunctionFailed), "then the access point waits");
}
