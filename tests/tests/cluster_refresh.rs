//! How a process's views (KMS key records, access points, secrets) stay fresh on a
//! 3-node in-process cluster (docs/KEYS.md, "How the registry stays fresh"): while a
//! key is used the views re-read their generation objects by handle, so steady use
//! sends no find (a scan of the whole token on SoftHSM2) to any node; and another
//! process's state change still reaches a process that keeps using the key, at one of
//! its re-reads (every 0.5 s; checked within `PROPAGATION_BOUND`, 10 of them, so a
//! loaded machine does not fail it). Needs
//! `cargo build --release -p kmsbridge -p kmsbridge-faultshim`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::Error;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::PROBE;
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::cluster::{finds_on_nodes, provision_domain_key, reads_on_nodes};
use kmsbridge_tests::kms::*;
use kmsbridge_tests::{Env, Target};
use std::time::{Duration, Instant};

fn cluster_env() -> Env {
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    provision_domain_key(&rig);
    Env::with_rig(Target::Bridge, rig)
}

/// Run in a process that did not make the key (the usual reader): a view keeps its
/// generation object's handle only for one found tagged, which a writer's own process
/// would keep anyway.
#[test]
fn steady_use_on_a_cluster_sends_no_find_to_any_node() {
    let t = cluster_env();
    let s = t.user_session();
    let id = b"steady-cluster".to_vec();
    kms_key(&s, Spec::Aes(32), &id, "steady-cluster");
    let stop = t.rig().dir().join("stop");
    let (mut child, rx) =
        spawn("child", "steady", &[(ARG, &format!("{}:{}", hex::encode(&id), stop.display()))]);
    let finds = wait_for(&rx, "FINDS ", Duration::from_secs(60));
    let (finds, uses) = finds.split_once(' ').expect("FINDS n uses");
    assert_eq!(finds, "0", "finds the reader sent to the nodes during {uses} uses");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success(), "the child failed");
}

/// The child's `steady` role: uses the key for 4 re-read intervals (every view's first
/// looks), then counts the finds its node shims pass during 6 more (each view looks
/// at its generation at least 5 times) and says `FINDS <n> <uses>`.
fn steady(s: &cryptoki::session::Session, key: cryptoki::object::ObjectHandle) {
    let use_for = |ms: u64| {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut uses = 0;
        while Instant::now() < until {
            s.encrypt(&Mechanism::AesEcb, key, &PROBE).expect("C_Encrypt");
            uses += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        uses
    };
    use_for(4 * REFRESH_MS);
    let before = finds_on_nodes(3);
    let uses = use_for(6 * REFRESH_MS);
    say(&format!("FINDS {} {uses}", finds_on_nodes(3) - before));
}

/// A user login in a fresh process searches the nodes' tokens (each search a scan of a
/// token on SoftHSM2) for: the PIN's wrong-attempt markers, before and after counting
/// this attempt (2), the PIN hash (1), the KMS records' generation and the records (2).
/// A bound, so that a search added to the login shows here.
#[test]
fn a_user_login_on_a_cluster_searches_the_nodes_five_times() {
    let t = cluster_env();
    let s = t.user_session();
    kms_key(&s, Spec::Aes(32), b"login-cluster", "login-cluster");
    let (mut child, rx) = spawn("child", "login", &[(ARG, "-:-")]);
    let finds = wait_for(&rx, "LOGIN_FINDS ", Duration::from_secs(60));
    assert_eq!(finds, "5", "searches sent to the nodes by one C_Login");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success(), "the child failed");
}

/// After one record change another process reloads that record, not all of them: the
/// generation value names the change (provider/src/kms/changes.rs). Among 30 KMS keys,
/// the child's call that first sees a disable reads at most 15 attributes on the
/// nodes (a full reload reads every record: 60 reads).
#[test]
fn after_one_change_another_process_reloads_one_record_on_a_cluster() {
    let t = cluster_env();
    let s = t.user_session();
    let mut first = None;
    for i in 0..30u8 {
        let id = vec![0x5a, i];
        let k = kms_key(&s, Spec::Aes(32), &id, &format!("reload-{i}"));
        first.get_or_insert((id, k));
    }
    let (id, key) = first.unwrap();
    let stop = t.rig().dir().join("stop");
    let (mut child, rx) = spawn(
        "child",
        "encrypt-loop",
        &[(ARG, &format!("{}:{}", hex::encode(&id), stop.display()))],
    );
    assert_eq!(wait_for(&rx, "STATE ", Duration::from_secs(60)), "ok", "the child encrypts");
    // A few re-reads first, so the child's view is settled at the current generation.
    std::thread::sleep(Duration::from_millis(3 * REFRESH_MS));
    set_state(&s, key, KMSBRIDGE_STATE_DISABLED, &[]).expect("disable");
    let line = wait_for(&rx, "READS ", PROPAGATION_BOUND);
    let reads: u64 = line.parse().expect("READS n");
    assert!(reads <= 15, "the call that saw the change read {reads} attributes on the nodes");
    std::fs::write(&stop, b"").expect("write the stop file");
    wait_for(&rx, "DONE", Duration::from_secs(10));
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success(), "the child failed");
}

#[test]
fn another_process_on_a_cluster_sees_a_state_change_at_a_re_read() {
    let t = cluster_env();
    let s = t.user_session();
    let id = b"two-processes-cluster".to_vec();
    let key = kms_key(&s, Spec::Aes(32), &id, "two-processes-cluster");
    let stop = t.rig().dir().join("stop");
    let (mut child, rx) = spawn(
        "child",
        "encrypt-loop",
        &[(ARG, &format!("{}:{}", hex::encode(&id), stop.display()))],
    );
    assert_eq!(wait_for(&rx, "STATE ", Duration::from_secs(60)), "ok", "the child encrypts");
    for (state, want) in [
        (KMSBRIDGE_STATE_DISABLED, "refused KeyFunctionNotPermitted EncryptInit"),
        (KMSBRIDGE_STATE_ENABLED, "ok"),
        (KMSBRIDGE_STATE_DISABLED, "refused KeyFunctionNotPermitted EncryptInit"),
    ] {
        // A few re-reads first: the child's views then read their generation through
        // the handle they keep, which is what must stop answering at the change.
        std::thread::sleep(Duration::from_millis(3 * REFRESH_MS));
        let since = Instant::now();
        set_state(&s, key, state, &[]).expect("set state");
        let seen = loop {
            let line =
                rx.recv_timeout(PROPAGATION_BOUND.saturating_sub(since.elapsed())).unwrap_or_else(
                    |e| panic!("the child saw no change {PROPAGATION_BOUND:?} after {want}: {e}"),
                );
            if let Some(state) = field(&line, "STATE ") {
                break state.to_string();
            }
        };
        assert_eq!(seen, want, "the child's answer");
        eprintln!("the other process saw {want} after {:?}", since.elapsed());
    }
    std::fs::write(&stop, b"").expect("write the stop file");
    wait_for(&rx, "DONE", Duration::from_secs(10));
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success(), "the child failed");
}

/// The child: finds the key, then `steady` (above) or `encrypt-loop`: encrypts with the
/// key in a loop and reports each change of outcome.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    let Some(role) = role() else { return };
    let arg = arg();
    let (id, stop) = arg.split_once(':').expect("id:stopfile");
    let m = Module::load();
    if role == "login" {
        let s = m.ctx.open_rw_session(m.slot).expect("C_OpenSession");
        let before = finds_on_nodes(3);
        let pin = cryptoki::types::AuthPin::new(m.user_pin.clone().into());
        s.login(cryptoki::session::UserType::User, Some(&pin)).expect("C_Login");
        say(&format!("LOGIN_FINDS {}", finds_on_nodes(3) - before));
        return;
    }
    let s = m.user_session();
    let id = hex::decode(id).expect("hex id");
    let found = s
        .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(id)])
        .expect("C_FindObjects");
    assert_eq!(found.len(), 1, "one key found");
    let key = found[0];
    if role == "steady" {
        return steady(&s, key);
    }
    let mut last = String::new();
    while !std::path::Path::new(stop).exists() {
        let before = reads_on_nodes(3);
        let now = match s.encrypt(&Mechanism::AesEcb, key, &PROBE) {
            Ok(_) => "ok".to_string(),
            Err(Error::Pkcs11(code, function)) => format!("refused {code:?} {function:?}"),
            Err(e) => panic!("C_Encrypt: {e}"),
        };
        let reads = reads_on_nodes(3) - before;
        if now != last {
            if !last.is_empty() {
                say(&format!("READS {reads}"));
            }
            say(&format!("STATE {now}"));
            last = now;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    say("DONE");
}
