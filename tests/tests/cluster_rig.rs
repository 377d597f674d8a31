//! The cluster test rig (docs/CLUSTER_RIG.md), checked with cryptoki straight on each
//! node's library (not through kmsbridge): nodes that serve their own tokens, are
//! really lost, and come back; and the fault shim in front of them.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{ecdsa_sign, find_private, token_ec_key};
use kmsbridge_testkit::module::login;
use kmsbridge_testkit::rig::{one_at_a_time, Rig, RigOptions};
use std::time::{Duration, Instant};

/// One node's library, loaded and initialised by this process.
struct Node {
    ctx: Pkcs11,
    slot: Slot,
    pin: String,
}

impl Node {
    fn connect(rig: &Rig, k: usize) -> Node {
        let lib = rig.node_library(k);
        let ctx = Pkcs11::new(&lib).unwrap_or_else(|e| panic!("load {}: {e}", lib.display()));
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap_or_else(|e| panic!("C_Initialize of node {k}: {e}"));
        let slot = Node::find_slot(&ctx, rig.node_token_label(k));
        Node { ctx, slot, pin: rig.var("SOFTHSM2_USER_PIN").to_string() }
    }

    fn find_slot(ctx: &Pkcs11, label: &str) -> Slot {
        let slots = ctx.get_slots_with_token().expect("C_GetSlotList");
        let mine: Vec<Slot> = slots
            .into_iter()
            .filter(|s| ctx.get_token_info(*s).map(|t| t.label() == label).unwrap_or(false))
            .collect();
        assert_eq!(mine.len(), 1, "exactly one slot holds {label}");
        mine[0]
    }

    /// C_Finalize + C_Initialize of the node's library, as a client must do to
    /// reach a p11-kit server that came back.
    fn reinitialise(&mut self, label: &str) {
        self.ctx.clone().finalize().expect("C_Finalize");
        self.ctx
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .expect("C_Initialize");
        self.slot = Node::find_slot(&self.ctx, label);
    }

    fn session(&self) -> Session {
        let s = self.ctx.open_rw_session(self.slot).expect("C_OpenSession");
        login(&s, UserType::User, &AuthPin::new(self.pin.clone().into()));
        s
    }
}

#[test]
fn three_p11kit_nodes_serve_their_own_tokens_and_a_killed_node_returns() {
    let _one = one_at_a_time();
    let rig = Rig::with_options(&RigOptions { nodes: Some(3), ..Default::default() });
    assert_eq!(rig.nodes(), 3);
    let mut nodes: Vec<Node> = (0..3).map(|k| Node::connect(&rig, k)).collect();
    let sessions: Vec<Session> = nodes.iter().map(Node::session).collect();
    let keys: Vec<ObjectHandle> =
        sessions.iter().enumerate().map(|(k, s)| token_ec_key(s, &format!("rig-{k}"))).collect();
    for (k, s) in sessions.iter().enumerate() {
        assert_eq!(ecdsa_sign(s, keys[k]).expect("sign on its node").len(), 64);
        // Separate stores: a node holds only its own keys.
        for j in (0..3).filter(|j| *j != k) {
            assert!(
                find_private(s, &format!("rig-{j}")).is_empty(),
                "node {k} holds node {j}'s key"
            );
        }
    }

    // Node 1 is lost: its server and the process serving our connection are killed.
    rig.stop_node(1);
    assert_eq!(rig.node_status(1), "down");
    let s1 = &sessions[1];
    assert_eq!(err_of(ecdsa_sign(s1, keys[1])), RvError::DeviceError, "an open session");
    assert_eq!(err_of(s1.generate_random_vec(8)), RvError::DeviceError);
    assert_eq!(err_of(nodes[1].ctx.get_slots_with_token()), RvError::DeviceError, "a new call");
    assert_eq!(err_of(nodes[1].ctx.open_rw_session(nodes[1].slot)), RvError::DeviceError);
    // The others serve on.
    for k in [0, 2] {
        assert_eq!(
            ecdsa_sign(&sessions[k], keys[k]).unwrap().len(),
            64,
            "node {k} while node 1 is down"
        );
    }

    // Back on the same socket: the client does not reconnect by itself ...
    rig.start_node(1);
    assert_eq!(rig.node_status(1), "up");
    assert_eq!(
        err_of(ecdsa_sign(s1, keys[1])),
        RvError::DeviceError,
        "no reconnection without re-init"
    );
    // ... only after C_Finalize + C_Initialize of that node's library.
    let mut sessions = sessions;
    let old = sessions.remove(1);
    nodes[1].reinitialise(rig.node_token_label(1));
    // The old session is gone on the new server; forget it without closing: the new
    // server numbers its sessions afresh, so the old number may name a new one.
    assert_eq!(err_of(ecdsa_sign(&old, keys[1])), RvError::SessionHandleInvalid);
    std::mem::forget(old);
    let s1 = nodes[1].session();
    let key = find_private(&s1, "rig-1");
    assert_eq!(key.len(), 1, "node 1's key survived in its store");
    assert_eq!(ecdsa_sign(&s1, key[0]).unwrap().len(), 64, "node 1 serves again");
    for (k, s) in [(0, &sessions[0]), (2, &sessions[1])] {
        assert_eq!(ecdsa_sign(s, keys[k]).unwrap().len(), 64, "node {k} untouched");
    }
}

#[test]
fn a_hung_p11kit_node_blocks_its_callers_until_it_resumes() {
    let _one = one_at_a_time();
    let rig = Rig::with_options(&RigOptions { nodes: Some(2), ..Default::default() });
    let nodes: Vec<Node> = (0..2).map(|k| Node::connect(&rig, k)).collect();
    let s0 = nodes[0].session();
    let key = token_ec_key(&s0, "hang");
    let s1 = nodes[1].session();
    let key1 = token_ec_key(&s1, "other");
    /// Resumes the node however the scope ends, so that a failed check cannot leave
    /// the scope waiting for a call that never returns.
    struct Resume<'a>(&'a Rig);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            self.0.resume_node(0);
        }
    }
    rig.hang_node(0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let resume = Resume(&rig);
        sc.spawn(move || {
            let t = Instant::now();
            tx.send((ecdsa_sign(&s0, key).map(|v| v.len()), t.elapsed())).unwrap();
        });
        // p11-kit's client has no timeout: the call waits as long as the node is stopped.
        if let Ok(got) = rx.recv_timeout(Duration::from_millis(700)) {
            panic!("a call got through a hung node: {got:?}");
        }
        assert_eq!(rig.node_status(0), "hung");
        assert_eq!(ecdsa_sign(&s1, key1).unwrap().len(), 64, "the other node serves meanwhile");
        drop(resume);
        let (r, took) = rx.recv_timeout(Duration::from_secs(5)).expect("the call resumes");
        assert_eq!(r.unwrap(), 64);
        assert!(took >= Duration::from_millis(700), "took {took:?}");
    });
}

#[test]
fn the_shim_in_front_of_p11kit_nodes_injects_faults_per_node() {
    let _one = one_at_a_time();
    let rig = Rig::with_options(&RigOptions { nodes: Some(2), shim: true, ..Default::default() });
    let nodes: Vec<Node> = (0..2).map(|k| Node::connect(&rig, k)).collect();
    let sessions: Vec<Session> = nodes.iter().map(Node::session).collect();
    let keys: Vec<ObjectHandle> = sessions.iter().map(|s| token_ec_key(s, "k")).collect();

    rig.shim(0, "error_rate = 1\nerror_rv = 0x30");
    assert_eq!(err_of(ecdsa_sign(&sessions[0], keys[0])), RvError::DeviceError);
    assert_eq!(ecdsa_sign(&sessions[1], keys[1]).unwrap().len(), 64, "node 1 has no faults");
    rig.shim(0, "error_rate = 0\nlatency_ms = 100");
    let t = Instant::now();
    ecdsa_sign(&sessions[0], keys[0]).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "3 crypto calls x 100 ms: {:?}",
        t.elapsed()
    );

    // A real loss still shows through the shim.
    rig.stop_node(1);
    assert_eq!(err_of(ecdsa_sign(&sessions[1], keys[1])), RvError::DeviceError);
    rig.start_node(1);
}

#[test]
fn in_process_nodes_are_lost_and_return_through_the_shim() {
    let _one = one_at_a_time();
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    assert!(rig.in_process());
    let nodes: Vec<Node> = (0..3).map(|k| Node::connect(&rig, k)).collect();
    for (k, n) in nodes.iter().enumerate() {
        // Each shim shows only its node's token, though all three share one store.
        assert_eq!(n.ctx.get_slots_with_token().unwrap().len(), 1, "node {k}");
    }
    let sessions: Vec<Session> = nodes.iter().map(Node::session).collect();
    let keys: Vec<ObjectHandle> = sessions.iter().map(|s| token_ec_key(s, "k")).collect();
    // In-process, every SoftHSM2 mechanism works (AES-GCM here), unlike over p11-kit.
    let aes = sessions[0]
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Token(false), Attribute::ValueLen(32.into()), Attribute::Encrypt(true)],
        )
        .unwrap();
    let mut iv = [0u8; 12];
    let gcm = cryptoki::mechanism::aead::GcmParams::new(&mut iv, &[], 128.into()).unwrap();
    assert!(sessions[0].encrypt(&Mechanism::AesGcm(gcm), aes, b"in process").is_ok());

    rig.stop_node(1);
    assert_eq!(rig.node_status(1), "down");
    assert_eq!(err_of(ecdsa_sign(&sessions[1], keys[1])), RvError::DeviceRemoved);
    assert_eq!(err_of(nodes[1].ctx.get_slots_with_token()), RvError::DeviceRemoved);
    assert_eq!(ecdsa_sign(&sessions[2], keys[2]).unwrap().len(), 64, "node 2 serves on");

    rig.start_node(1);
    // As a restarted HSM: old sessions are gone, new ones work without re-init.
    assert_eq!(err_of(ecdsa_sign(&sessions[1], keys[1])), RvError::SessionHandleInvalid);
    let s1 = nodes[1].session();
    let key = find_private(&s1, "k");
    assert_eq!(key.len(), 1);
    assert_eq!(ecdsa_sign(&s1, key[0]).unwrap().len(), 64);

    // The latency is node 2's alone. No speed claim: node 2's sign takes at least its
    // 3 crypto calls x the configured latency; node 0's less than one such call, a
    // bound 1000x what a SoftHSM2 ECDSA sign takes, so load cannot reach it.
    const LATENCY: Duration = Duration::from_millis(1000);
    rig.shim(2, &format!("latency_ms = {}", LATENCY.as_millis()));
    let t = Instant::now();
    ecdsa_sign(&sessions[2], keys[2]).unwrap();
    assert!(t.elapsed() >= 3 * LATENCY, "{:?}", t.elapsed());
    let t = Instant::now();
    ecdsa_sign(&sessions[0], keys[0]).unwrap();
    assert!(t.elapsed() < LATENCY, "node 0 has no latency: {:?}", t.elapsed());
}
