//! The cluster's PKCS#11 surface (docs/CLUSTER.md) through the module, on real
//! SoftHSM2 nodes: `C_GenerateKey(CKM_KMSBRIDGE_CLUSTER_INIT)` by the SO provisions
//! the domain key on every node, once; the nodes are `CKO_KMSBRIDGE_NODE` objects
//! read live, without login; a software instance has neither.
//!
//! The 3-node rigs run in-process (`--in-process`): every SoftHSM2 mechanism (AES key
//! wrap, which replication needs) works there, and a node's loss is the shim's `down`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::{Rv, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::{CKA_LABEL, CKA_VALUE, CK_ULONG, CK_UNAVAILABLE_INFORMATION};
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{attr_bool, attr_bytes, find};
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::cluster::{count_on_node, Query};
use kmsbridge_tests::conformance::{mechanisms, raw_attr};
use kmsbridge_tests::env::{Env, Target};
use kmsbridge_tests::kms::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn three_nodes() -> Env {
    Env::with_rig(Target::Bridge, three_node_rig())
}

fn three_node_rig() -> Rig {
    Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() })
}

fn cluster_init(s: &Session) -> cryptoki::error::Result<ObjectHandle> {
    s.generate_key(&vendor_mechanism(CKM_KMSBRIDGE_CLUSTER_INIT), &[])
}

/// How many objects with CKA_ID `id` node `k`'s token holds, asked in another
/// process straight on SoftHSM2 (logged in as the node's user), so the module's own
/// view plays no part.
fn on_node(rig: &Rig, k: usize, id: &[u8]) -> usize {
    count_on_node(rig, k, &[Query::id(id)])[0]
}

fn nodes(s: &Session) -> Vec<ObjectHandle> {
    find(s, &[node_class()])
}

fn node_state(s: &Session, node: ObjectHandle) -> CK_ULONG {
    get_ulong(s, node, CKA_KMSBRIDGE_NODE_STATE)
}

fn last_error(s: &Session, node: ObjectHandle) -> String {
    String::from_utf8_lossy(&get_raw(s, node, CKA_KMSBRIDGE_NODE_LAST_ERROR).unwrap_or_default())
        .into_owned()
}

#[test]
fn the_so_provisions_the_domain_key_once_and_replication_works() {
    let t = three_nodes();
    let rig = t.rig();
    let domain = DOMAIN_KEY_ID.as_bytes();

    // Before: a generated token key cannot be replicated.
    let user = t.user_session();
    let early = user.generate_key(
        &Mechanism::AesKeyGen,
        &[Attribute::Token(true), Attribute::ValueLen(32.into()), Attribute::Encrypt(true)],
    );
    assert_eq!(err_of(early), RvError::DeviceError, "no domain key yet");
    assert_eq!(err_of(cluster_init(&user)), RvError::UserNotLoggedIn, "the user may not");
    let ro = t.ro_session();
    assert_eq!(err_of(cluster_init(&ro)), RvError::SessionReadOnly, "a read-only session");
    let bad = user.generate_key(
        &vendor_mechanism(CKM_KMSBRIDGE_CLUSTER_INIT),
        &[Attribute::Label(b"x".to_vec())],
    );
    assert_eq!(err_of(bad), RvError::TemplateInconsistent, "only CKA_TOKEN = TRUE is taken");
    drop(ro);
    user.logout().expect("C_Logout");
    drop(user);

    let so = t.so_session();
    // Every node must take part: with node 2 lost, nothing is made anywhere.
    rig.stop_node(2);
    assert_eq!(err_of(cluster_init(&so)), RvError::DeviceError, "a node is down");
    rig.start_node(2);
    for k in 0..3 {
        assert_eq!(on_node(rig, k, domain), 0, "nothing made on node {k}");
    }
    let status = nodes(&so);
    let deadline = Instant::now() + Duration::from_secs(30);
    while node_state(&so, status[2]) != KMSBRIDGE_NODE_UP {
        assert!(Instant::now() < deadline, "node 2 not back: {}", last_error(&so, status[2]));
        std::thread::sleep(Duration::from_millis(100));
    }
    let key = cluster_init(&so).expect("C_GenerateKey (CLUSTER_INIT) by the SO");
    for k in 0..3 {
        assert_eq!(on_node(rig, k, domain), 1, "the domain key on node {k}");
    }
    // A service key: its attributes read, no finds, no operations.
    assert_eq!(attr_bytes(&so, key, AttributeType::Id), domain);
    let trusted = so.get_attributes(key, &[AttributeType::Trusted]).expect("CKA_TRUSTED");
    assert_eq!(trusted, vec![Attribute::Trusted(true)], "CKA_TRUSTED");
    assert!(get_flag(&so, key, CKA_KMSBRIDGE_SERVICE), "CKA_KMSBRIDGE_SERVICE");
    assert!(!find(&so, &[]).contains(&key), "an empty-template find does not show it");
    assert!(find(&so, &[Attribute::Id(domain.to_vec())]).is_empty(), "nor a find by its id");
    assert_init_refused(so.encrypt(&Mechanism::AesEcb, key, &[0; 16]), "C_EncryptInit");
    assert_eq!(err_of(so.destroy_object(key)), RvError::ObjectHandleInvalid, "C_DestroyObject");

    // Again: the same key, nothing new on the nodes.
    let again = cluster_init(&so).expect("a second CLUSTER_INIT");
    assert_eq!(again, key, "the same domain key");
    for k in 0..3 {
        assert_eq!(on_node(rig, k, domain), 1, "still one domain key on node {k}");
    }
    so.logout().expect("C_Logout (SO)");
    drop(so);

    // Now generated token keys replicate, and work through the module.
    let user = t.user_session();
    let id = b"replicated-aes".to_vec();
    let aes = user
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::ValueLen(32.into()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Id(id.clone()),
            ],
        )
        .expect("C_GenerateKey (token AES) once the domain key exists");
    let ct = user.encrypt(&Mechanism::AesEcb, aes, &[7; 16]).expect("encrypt");
    assert_eq!(user.decrypt(&Mechanism::AesEcb, aes, &ct).expect("decrypt"), [7; 16]);
    // Every node is up, so the write goes to all three (docs/CLUSTER.md: writes go
    // to every node that is up or resyncing; the quorum only says when it is done).
    let on: Vec<usize> = (0..3).map(|k| on_node(rig, k, &id)).collect();
    assert_eq!(on, [1, 1, 1], "the generated key on each node's token, all nodes up");
}

#[test]
fn nodes_are_public_read_only_objects_read_live() {
    let t = three_nodes();
    let rig = t.rig();
    let s = t.ro_session(); // no login
    let all = nodes(&s);
    assert_eq!(all.len(), 3, "one object per node");
    for (k, &n) in all.iter().enumerate() {
        assert_eq!(get_ulong(&s, n, CKA_KMSBRIDGE_NODE_INDEX), k as CK_ULONG);
        let label = String::from_utf8(attr_bytes(&s, n, AttributeType::Label)).expect("UTF-8");
        assert!(label.ends_with(&format!("node{k}")), "label {label:?}");
        assert_eq!(node_state(&s, n), KMSBRIDGE_NODE_UP, "node {k} up");
        assert_eq!(last_error(&s, n), "", "no error on node {k}");
        assert_eq!(get_ulong(&s, n, CKA_KMSBRIDGE_NODE_LAG), 0);
        assert!(attr_bool(&s, n, AttributeType::Token));
        assert!(!attr_bool(&s, n, AttributeType::Private));
        assert!(!attr_bool(&s, n, AttributeType::Modifiable));
    }
    assert_eq!(nodes(&s), all, "the same handles on every find");
    assert_eq!(find(&s, &[node_class(), ulong(CKA_KMSBRIDGE_NODE_INDEX, 1)]), vec![all[1]]);
    let everything = find(&s, &[]);
    assert!(all.iter().all(|n| !everything.contains(n)), "an empty template finds no node");
    // Unknown attributes answer as usual.
    let (rv, len, _) = raw_attr(&t, s.handle(), all[0].handle(), CKA_VALUE, Some(16));
    assert_eq!(rv, Rv::Error(RvError::AttributeTypeInvalid), "CKA_VALUE of a node");
    assert_eq!(len, CK_UNAVAILABLE_INFORMATION);
    let (rv, len, name) = raw_attr(&t, s.handle(), all[0].handle(), CKA_LABEL, Some(64));
    assert_eq!((rv, len as usize), (Rv::Ok, name.len()), "CKA_LABEL");

    // Not destroyed, changed, copied or used as a key.
    let user = t.user_session();
    assert_eq!(err_of(user.destroy_object(all[0])), RvError::ActionProhibited);
    assert_eq!(
        err_of(user.update_attributes(all[0], &[Attribute::Label(b"x".to_vec())])),
        RvError::ActionProhibited
    );
    assert_eq!(
        err_of(user.update_attributes(all[0], &[ulong(CKA_KMSBRIDGE_NODE_STATE, 2)])),
        RvError::ActionProhibited
    );
    assert_eq!(err_of(user.copy_object(all[0], &[])), RvError::ActionProhibited);
    let e = user.encrypt(&Mechanism::AesEcb, all[0], &[0; 16]);
    assert_eq!(err_of(e), RvError::KeyHandleInvalid, "a node is no key");
    let logged_in_find = find(&user, &[]);
    assert!(all.iter().all(|n| !logged_in_find.contains(n)), "not for the user either");

    // Node 1 lost: it reads DOWN, with its error, once calls have met it.
    rig.stop_node(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while node_state(&s, all[1]) != KMSBRIDGE_NODE_DOWN {
        assert!(Instant::now() < deadline, "node 1 still reads up");
        let mut r = [0u8; 16];
        let _ = user.generate_random_slice(&mut r);
    }
    assert!(!last_error(&s, all[1]).is_empty(), "node 1 says why");
    assert_eq!(node_state(&s, all[0]), KMSBRIDGE_NODE_UP);
    assert_eq!(node_state(&s, all[2]), KMSBRIDGE_NODE_UP);

    // Back: UP again once resynced.
    rig.start_node(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while node_state(&s, all[1]) != KMSBRIDGE_NODE_UP {
        assert!(Instant::now() < deadline, "node 1 not back: {}", last_error(&s, all[1]));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(nodes(&s), all, "the same handles for the session's life");
}

#[test]
fn without_so_credential_files_cluster_init_fails_with_function_failed() {
    let rig = three_node_rig();
    let conf = rig.var("KMSBRIDGE_CONF").to_string();
    let text = std::fs::read_to_string(&conf).expect("read the config");
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("so_credential_file")).collect();
    std::fs::write(&conf, kept.join("\n") + "\n").expect("write the config");
    let t = Env::with_rig(Target::Bridge, rig);
    let so = t.so_session();
    assert_eq!(err_of(cluster_init(&so)), RvError::FunctionFailed);
    let log = std::fs::read_to_string(t.rig().dir().join("kmsbridge.log")).unwrap_or_default();
    assert!(log.contains("no so_credential_file"), "the log names the cause:\n{log}");
}

#[test]
fn a_one_node_instance_has_one_node_and_its_domain_key() {
    let t = Env::new(Target::Bridge);
    let s = t.ro_session();
    let all = nodes(&s);
    assert_eq!(all.len(), 1);
    assert_eq!(node_state(&s, all[0]), KMSBRIDGE_NODE_UP);
    drop(s);
    let so = t.so_session();
    let key = cluster_init(&so).expect("CLUSTER_INIT on one node");
    assert_eq!(cluster_init(&so).expect("again"), key, "idempotent");
    assert_eq!(on_node_single(t.rig()), 1, "one domain key on the node");
}

/// The domain key count on a one-node rig's token.
fn on_node_single(rig: &Rig) -> usize {
    let out = Command::new("pkcs11-tool")
        .args(["--module", rig.var("SOFTHSM2_MODULE")])
        .args(["--token-label", rig.var("SOFTHSM2_TOKEN_LABEL")])
        .args(["--list-objects", "--id", &hex::encode(DOMAIN_KEY_ID)])
        .output()
        .expect("run pkcs11-tool");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("ID:"))
        .count()
}

#[test]
fn a_software_instance_has_no_nodes_and_no_cluster_init() {
    let t = Env::new(Target::Software);
    let s = t.ro_session();
    assert!(nodes(&s).is_empty(), "no node objects");
    drop(s);
    let mechs = mechanisms(&t);
    assert!(!mechs.contains(&CKM_KMSBRIDGE_CLUSTER_INIT), "not advertised on a software instance");
    assert!(mechs.contains(&CKM_KMSBRIDGE_KEY_ROTATE), "(the raw list has vendor mechanisms)");
    let so = t.so_session();
    assert_eq!(err_of(cluster_init(&so)), RvError::MechanismInvalid);
}

#[test]
fn a_hardware_instance_advertises_cluster_init() {
    let t = Env::new(Target::Bridge);
    assert!(mechanisms(&t).contains(&CKM_KMSBRIDGE_CLUSTER_INIT), "advertised on hardware");
}
