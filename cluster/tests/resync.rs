//! A node taken out of service (drained) misses writes; when the prober finds it
//! answering it is resynced — objects created meanwhile copied, destroyed ones
//! destroyed, changed attributes set — before it serves again. The node is drained
//! administratively and kept away by hiding its PIN file (its probes cannot log in)
//! until the writes are done; losing it for real is `tests/tests/cluster_node_loss.rs`.
//!
//! "Before it serves" is watched on the node itself: while a load thread makes new
//! keys and uses them (and older ones) through the cluster, a watcher samples the
//! node's status and fails if routing ever gave it a call (its `routed` count moved)
//! while it was not up or still lagging; after its return it must serve again.
//!
//! The load makes keys during the loss and during the resync too (at least one is
//! required to start while the node resyncs): a write racing the resync must leave
//! each key exactly once on every node, checked on the nodes' tokens at the end.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// The parts of `tests/support/` this test uses.
mod support {
    pub mod keys;
    pub mod ops;
    pub mod rig;
}

use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Attr, AttrReq, Backend, Mechanism, NodeStatus, ObjectId};
use kmsbridge_cluster::{Cluster, NodeState};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::keys::aes_template;
use support::ops::{bool_attr, ecb};
use support::rig::rig;

/// The drained node.
const AWAY: usize = 2;
/// At most this many keys are made by the load (it stops making them once the node
/// is back): bounds the test on a machine where the return takes long.
const MAX_KEYS: usize = 1500;
/// Keys the load must have made while the node is away before it may return: the
/// resync then has that many to copy, a window in which an early return would serve.
const MADE_AWAY: usize = 8;

/// One load round's check of a key: found by its label through the cluster as
/// itself, and encrypting as it did when made.
fn check_key(c: &Cluster, label: &[u8], id: ObjectId, ct: &[u8]) -> Result<(), String> {
    let found = c
        .find(&[Attr::new(CKA_LABEL, label.to_vec())])
        .map_err(|e| format!("find {}: {e}", String::from_utf8_lossy(label)))?;
    if found != [id] {
        return Err(format!(
            "find {} answered {found:?}, not [{id}]",
            String::from_utf8_lossy(label)
        ));
    }
    let mut op = c
        .begin_encrypt(&Mechanism::simple(CKM_AES_ECB), id)
        .map_err(|e| format!("encrypt init: {e}"))?;
    let mut out = [0u8; 16];
    let n = op
        .run(&[9u8; 16], Some(&mut out))
        .map_err(|e| format!("encrypt: {e}"))?;
    if out[..n] != *ct {
        return Err(format!(
            "{} encrypts otherwise than when made",
            String::from_utf8_lossy(label)
        ));
    }
    Ok(())
}

/// A key the load made: label, cluster id, its AES-ECB of the test block when made.
type Made = (Vec<u8>, ObjectId, Vec<u8>);

/// Makes a new key each round while `making` (the node is away, then resyncing), and
/// uses keys until `stop`; each round uses `old` (made before the loss), the newest
/// key and, in turn, each earlier one. Returns the keys made and how many of them
/// were begun while node `AWAY` was resyncing.
fn load(
    c: &Cluster,
    old: ObjectId,
    made: &AtomicUsize,
    making: &AtomicBool,
    stop: &AtomicBool,
    failures: &Mutex<Vec<String>>,
) -> (Vec<Made>, usize) {
    let fail = |e: String| failures.lock().unwrap().push(e);
    let old_ct = ecb(c, old, &[9u8; 16]);
    let mut keys: Vec<Made> = vec![(b"old".to_vec(), old, old_ct)];
    let mut while_resyncing = 0;
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        if making.load(Ordering::Relaxed) && keys.len() <= MAX_KEYS {
            let label = format!("load-{}", keys.len()).into_bytes();
            let mut t = aes_template(&label, None);
            // Not extractable: it reaches the returning node wrapped under the domain key.
            t.push(Attr::bool(CKA_EXTRACTABLE, false));
            let resyncing = c.status()[AWAY].state == NodeState::Resyncing;
            match c.generate_key(&Mechanism::simple(CKM_AES_KEY_GEN), &t) {
                Ok(id) => {
                    let ct = ecb(c, id, &[9u8; 16]);
                    keys.push((label, id, ct));
                    made.fetch_add(1, Ordering::Relaxed);
                    while_resyncing += usize::from(resyncing);
                }
                Err(e) => fail(format!("generate: {e}")),
            }
        }
        let newest = keys.len() - 1;
        for k in [0, newest, round % keys.len()] {
            let (label, id, ct) = &keys[k];
            if let Err(e) = check_key(c, label, *id, ct) {
                fail(e);
            }
        }
    }
    (keys, while_resyncing)
}

/// How many token objects node `b` holds under each label.
fn labels_on(b: &dyn Backend) -> HashMap<Vec<u8>, usize> {
    let mut out = HashMap::new();
    for h in b.find(&[Attr::bool(CKA_TOKEN, true)]).expect("find") {
        let mut r = [AttrReq::new(CKA_LABEL, Some(64))];
        b.get_attributes(h, &mut r).expect("label");
        *out.entry(r[0].value().unwrap_or_default().to_vec())
            .or_default() += 1;
    }
    out
}

/// Samples node `AWAY`'s status until `stop`. Returns how many samples showed routing
/// had given it a call (its routed count past `before`) though it was not up with lag
/// 0, and the first of them. `status()` reads the count first, so such a sample is a
/// call it served early.
fn watch(c: &Cluster, before: u64, stop: &AtomicBool) -> (usize, Option<NodeStatus>) {
    let (mut early, mut first) = (0, None);
    while !stop.load(Ordering::Relaxed) {
        let s = c.status()[AWAY].clone();
        if s.routed != before && (s.state != NodeState::Up || s.lag > 0) {
            early += 1;
            first.get_or_insert(s);
        }
        // The resync of a dozen keys takes far longer than this: samples fall inside it.
        std::thread::sleep(Duration::from_millis(1));
    }
    (early, first)
}

#[test]
fn a_drained_node_is_resynced_before_it_serves() {
    let rig = rig(3);
    let c = rig.cluster();
    c.init_domain_key_from_config().expect("init");
    let kept = c
        .create_object(&aes_template(b"kept", Some(&[2u8; 32])))
        .expect("create");
    let doomed = c
        .create_object(&aes_template(b"doomed", Some(&[3u8; 32])))
        .expect("create");
    let old = c
        .create_object(&aes_template(b"old", Some(&[4u8; 32])))
        .expect("create");
    // Away until the PIN file is back: each probe fails to log in.
    let pin = &rig.nodes[AWAY].pin_file;
    let hidden = pin.with_extension("away");
    std::fs::rename(pin, &hidden).expect("hide the PIN file");
    c.drain(AWAY, "test: drained");
    let away = c.status()[AWAY].clone();
    assert_eq!(away.state, NodeState::Down);
    // Nothing else runs yet: the count routing had reached when the node left.
    let before = away.routed;

    let stop = AtomicBool::new(false);
    let new_keys = AtomicUsize::new(0);
    let making = AtomicBool::new(true);
    let failures = Mutex::new(Vec::new());
    let (made, early, (keys, while_resyncing)) = std::thread::scope(|sc| {
        let watcher = sc.spawn(|| watch(&c, before, &stop));
        let loader = sc.spawn(|| load(&c, old, &new_keys, &making, &stop, &failures));
        let mut t = aes_template(b"made-while-away", None);
        t.push(Attr::bool(CKA_EXTRACTABLE, false));
        let made = c
            .generate_key(&Mechanism::simple(CKM_AES_KEY_GEN), &t)
            .expect("generate while a node is away");
        c.destroy_object(doomed).expect("destroy while away");
        c.set_attributes(kept, &[Attr::bool(CKA_DECRYPT, false)])
            .expect("change while away");
        // A generous bound for a dozen key generations on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(30);
        while new_keys.load(Ordering::Relaxed) < MADE_AWAY {
            assert!(Instant::now() < deadline, "the load made too few keys");
            std::thread::sleep(Duration::from_millis(10));
        }
        let s = c.status()[AWAY].clone();
        assert_eq!(s.state, NodeState::Down, "{s:?}");
        assert!(s.lag >= 3 + MADE_AWAY as u64, "{s:?}");
        std::fs::rename(&hidden, pin).expect("restore the PIN file");
        // The next probe comes within the probe backoff's cap (5 s); the resync takes
        // well under a second: 20 s is a margin of several times that.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = c.status()[AWAY].clone();
            if s.state == NodeState::Up && s.lag == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "not back: {s:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        making.store(false, Ordering::Relaxed);
        // Back, it serves again: the load's calls reach it as well.
        loop {
            let s = c.status()[AWAY].clone();
            if s.routed > before {
                break;
            }
            assert!(Instant::now() < deadline, "back but serving nothing: {s:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        (made, watcher.join().unwrap(), loader.join().unwrap())
    });
    let failures = failures.into_inner().unwrap();
    let first_failures = &failures[..failures.len().min(5)];
    assert!(
        early.0 == 0,
        "node {AWAY} was routed calls before it was up with lag 0 ({} samples), first: {:?}; \
         {} load checks failed meanwhile, first: {first_failures:?}",
        early.0,
        early.1,
        failures.len(),
    );
    assert!(
        failures.is_empty(),
        "{} load checks failed, first: {first_failures:?}",
        failures.len(),
    );

    assert!(
        while_resyncing > 0,
        "no key was made while node {AWAY} resynced ({} made in all)",
        keys.len() - 1
    );

    assert_eq!(c.status()[AWAY].lag, 0);
    let node = c.node(AWAY).expect("node");
    // Every key the load made is on both nodes' tokens exactly once, whether its
    // write came before, during or after the resync.
    for k in [0, AWAY] {
        let on = labels_on(c.node(k).expect("node").as_ref());
        let wrong: Vec<_> = keys
            .iter()
            .map(|(label, _, _)| (String::from_utf8_lossy(label), on.get(label).copied()))
            .filter(|(_, n)| *n != Some(1))
            .collect();
        assert!(
            wrong.is_empty(),
            "node {k} holds {} of the {} keys made not exactly once (label, copies): {:?}",
            wrong.len(),
            keys.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
    let h = c.node_handle(made, AWAY).expect("resolve").expect("copied");
    assert_eq!(
        bool_attr(node.as_ref(), h, CKA_WRAP_WITH_TRUSTED),
        Some(true)
    );
    let block = [1u8; 16];
    assert_eq!(
        ecb(node.as_ref(), h, &block),
        ecb(
            c.node(0).expect("n0").as_ref(),
            c.node_handle(made, 0).expect("r").expect("h"),
            &block
        )
    );
    let doomed_t = aes_template(b"doomed", None);
    assert!(
        node.find(&doomed_t[2..4]).expect("find").is_empty(),
        "destroyed there too"
    );
    let hk = c.node_handle(kept, AWAY).expect("resolve").expect("kept");
    assert_eq!(
        bool_attr(node.as_ref(), hk, CKA_DECRYPT),
        Some(false),
        "change applied"
    );
}
