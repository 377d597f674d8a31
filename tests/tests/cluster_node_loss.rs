//! A node lost under load and brought back, on the in-process 3-node rig (issue 5,
//! "What it must show"): 32 client threads sign (EC and RSA), encrypt and decrypt
//! (AES) single-part for 30 s; node 1 is taken down at 10 s (its shim's `down`) and
//! back at 20 s. No single-part operation fails. While node 1 is down, keys of every
//! kind the cluster replicates are made, a key is destroyed and two are changed, and
//! `FRESH` more client threads make new AES keys and keep using them (found by
//! CKA_ID, encrypting as when made) to the end, so a node serving before it holds
//! them would answer wrongly. The returned node serves nothing until it is resynced:
//! its shim's count of operation calls it received stays still while the module
//! reports it not up or lagging, and moves once it is up with lag 0. That it holds
//! all of it is shown by making it the only node that serves and using each new key
//! through the module, and at the end by opening its token straight on SoftHSM2.
//! Once it served, should it be taken out again (a replicated write it refused), no
//! more calls reach it then than were routed to it before (one per client thread).
//! Multi-part operations pinned on node 1 when it is
//! lost end with CKR_DEVICE_REMOVED (or CKR_DEVICE_ERROR) within 2 s and their next
//! Init succeeds.
//!
//! A node that missed writes and comes back while the nodes that took them are still
//! away waits for them instead of becoming the cluster's truth.
//!
//! The module logs a node's return to the rig's log, which a process opens once, and
//! the shims count per process: run these with `cargo nextest` (one process per test).
//!
//! In-process, every SoftHSM2 mechanism reaches the nodes, AES key wrap included, so
//! secret and private keys made while node 1 is down can reach it wrapped under the
//! cluster domain key (the p11-kit rig cannot carry that; `cluster_failover.rs`).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use kmsbridge_testkit::codes::rv_of;
use kmsbridge_testkit::keys::{attr_bool, attr_bytes};
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::cluster::{
    provision_domain_key, NodeSample, NodeTokens, NodeWatch, END_AT, LOSE_AT, RETURN_AT, THREADS,
};
use kmsbridge_tests::cluster_keys::{
    data_object, differences, find_one, gen_aes, gen_ec, gen_rsa, inventory, try_gen_aes,
    use_fresh, value_aes, Fresh, FRESH_DATA, IV,
};
use kmsbridge_tests::env::{Env, Target};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Multi-part operations begun before the load, spread over the 3 nodes.
const MULTI: usize = 6;
/// The lost node.
const LOST: usize = 1;
/// Client threads that make new keys while node 1 is down and use them to the end.
const FRESH: usize = 4;
/// Keys each of them makes, one every `FRESH_EVERY`.
const FRESH_KEYS: usize = 6;
const FRESH_EVERY: Duration = Duration::from_millis(300);

/// The most operation calls that can reach a node after it is taken out: each client
/// thread makes one call at a time, and only a call routed before may still land.
const IN_FLIGHT: u64 = (THREADS + FRESH + MULTI) as u64;

/// The times the returned node, once it served, was taken out again (see
/// `a_lost_node_returns_holding_every_change_before_it_serves`).
#[derive(Default)]
struct LaterDrops {
    /// The return's resync is over (the node was seen up with lag 0).
    watching: bool,
    /// How many times it was seen not serving again.
    drops: usize,
    /// The operation count at the first sample of the current drop.
    base: Option<u64>,
    /// The most calls that landed during one drop, and the sample that showed it.
    most: u64,
    first: Option<NodeSample>,
}

impl LaterDrops {
    fn sample(&mut self, seen: NodeSample) {
        if seen.serving() {
            self.base = None;
            return;
        }
        let base = *self.base.get_or_insert_with(|| {
            self.drops += 1;
            seen.operations
        });
        let landed = seen.operations - base;
        if landed > self.most {
            self.most = landed;
            if landed > IN_FLIGHT {
                self.first.get_or_insert(seen);
            }
        }
    }
}

/// The keys the load threads use (made before the loss, on every node).
#[derive(Clone, Copy)]
struct LoadKeys {
    aes: ObjectHandle,
    rsa_pub: ObjectHandle,
    rsa: ObjectHandle,
    ec_pub: ObjectHandle,
    ec: ObjectHandle,
}

/// One round of a load thread: 6 single-part operations.
fn round(s: &Session, k: &LoadKeys, data: &[u8; 32]) -> Result<(), String> {
    fn e(what: &'static str) -> impl Fn(Error) -> String {
        move |err| format!("{what}: {err}")
    }
    let sig = s.sign(&Mechanism::Ecdsa, k.ec, data).map_err(e("ECDSA sign"))?;
    s.verify(&Mechanism::Ecdsa, k.ec_pub, data, &sig).map_err(e("ECDSA verify"))?;
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, k.rsa, data).map_err(e("RSA sign"))?;
    s.verify(&Mechanism::Sha256RsaPkcs, k.rsa_pub, data, &sig).map_err(e("RSA verify"))?;
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), k.aes, data).map_err(e("AES encrypt"))?;
    let pt = s.decrypt(&Mechanism::AesCbcPad(IV), k.aes, &ct).map_err(e("AES decrypt"))?;
    if pt != data {
        return Err("AES decrypt gave other data".into());
    }
    Ok(())
}

/// A multi-part operation of a `MULTI` thread.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Multi {
    /// C_EncryptUpdate with AES-CBC-PAD.
    Encrypt,
    /// C_SignUpdate with SHA256-RSA-PKCS.
    Sign,
}

impl Multi {
    fn init(self, s: &Session, k: &LoadKeys) -> cryptoki::error::Result<()> {
        match self {
            Multi::Encrypt => s.encrypt_init(&Mechanism::AesCbcPad(IV), k.aes),
            Multi::Sign => s.sign_init(&Mechanism::Sha256RsaPkcs, k.rsa),
        }
    }
    /// One update; ciphertext out is appended to `out`.
    fn update(self, s: &Session, part: &[u8], out: &mut Vec<u8>) -> cryptoki::error::Result<()> {
        match self {
            Multi::Encrypt => s.encrypt_update(part).map(|v| out.extend(v)),
            Multi::Sign => s.sign_update(part),
        }
    }
    fn finish(self, s: &Session, mut out: Vec<u8>) -> cryptoki::error::Result<Vec<u8>> {
        match self {
            Multi::Encrypt => s.encrypt_final().map(|v| {
                out.extend(v);
                out
            }),
            Multi::Sign => s.sign_final(),
        }
    }
    /// The same operation single-part, to check a multi-part result.
    fn one_shot(self, s: &Session, k: &LoadKeys, data: &[u8]) -> Vec<u8> {
        match self {
            Multi::Encrypt => s.encrypt(&Mechanism::AesCbcPad(IV), k.aes, data),
            Multi::Sign => s.sign(&Mechanism::Sha256RsaPkcs, k.rsa, data),
        }
        .expect("the single-part equivalent")
    }
}

/// What a multi-part thread saw.
#[derive(Debug)]
struct MultiOutcome {
    kind: Multi,
    /// The code that ended it and how long after the loss, if it ended by the loss.
    ended: Option<(RvError, Duration)>,
    /// Its result was the single-part one (finished, or the operation after the loss).
    correct: bool,
}

fn wait_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// The module's log, from byte `skip` on.
fn log_from(rig: &Rig, skip: usize) -> String {
    let text = std::fs::read_to_string(rig.dir().join("kmsbridge.log")).unwrap_or_default();
    text.get(skip..).unwrap_or("").to_string()
}

/// The module's log's length now.
fn log_len(rig: &Rig) -> usize {
    std::fs::metadata(rig.dir().join("kmsbridge.log")).map_or(0, |m| m.len() as usize)
}

/// Waits until the module logs node `k` resynced and serving (after `skip` bytes of
/// the log), or panics at `deadline`.
fn wait_resynced(rig: &Rig, k: usize, skip: usize, deadline: Instant) {
    let node = format!("/node{k}");
    loop {
        let back = log_from(rig, skip)
            .lines()
            .any(|l| l.contains("cluster node resynced and serving") && l.contains(&node));
        if back {
            return;
        }
        assert!(Instant::now() < deadline, "node {k} was not resynced in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_lost_node_returns_holding_every_change_before_it_serves() {
    // The module logs a node's return (resync done, serving again) at info level.
    std::env::set_var("KMSBRIDGE_LOG", "warn,kmsbridge_cluster=info");
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    provision_domain_key(&rig);
    let t = Env::with_rig(Target::Bridge, rig);
    let rig = t.rig();
    let admin = t.logged_in();

    // Made before the loss, on every node.
    let (rsa_pub, rsa) = gen_rsa(&admin, "load-rsa");
    let (ec_pub, ec) = gen_ec(&admin, "load-ec");
    let keys = LoadKeys { aes: gen_aes(&admin, "load-aes"), rsa_pub, rsa, ec_pub, ec };
    let doomed = gen_aes(&admin, "doomed");
    let renamed = gen_aes(&admin, "renamed-before");
    let restricted = gen_aes(&admin, "restricted");

    // Multi-part operations begun while nothing else runs: the least busy node takes
    // each, so they spread over the 3 nodes and some are pinned on node 1.
    let multi: Vec<(Multi, Session)> = (0..MULTI)
        .map(|i| {
            let kind = if i % 2 == 0 { Multi::Encrypt } else { Multi::Sign };
            let s = t.logged_in();
            kind.init(&s, &keys).expect("multi-part Init");
            (kind, s)
        })
        .collect();
    let sessions: Vec<Session> = (0..THREADS).map(|_| t.logged_in()).collect();
    let fresh_sessions: Vec<Session> = (0..FRESH).map(|_| t.logged_in()).collect();
    let watch = NodeWatch::new(rig, &admin, LOST);

    let ops = AtomicU64::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let lost_at: OnceLock<Instant> = OnceLock::new();
    let outcomes: Mutex<Vec<MultiOutcome>> = Mutex::new(Vec::new());
    let start = Instant::now();
    let at = |s: u64| start + Duration::from_secs(s);
    // Node 1 is down (fresh keys are made only then).
    let away = AtomicBool::new(false);
    let fresh_made = AtomicUsize::new(0);
    // Node 1 after its return: its shim's operation count then, the samples showing
    // it had served though not up with lag 0 (how many, the first), whether it was
    // seen serving once up with lag 0, and how many samples saw it not serving yet.
    let mut ops_at_return = 0u64;
    let mut early: (usize, Option<NodeSample>) = (0, None);
    let mut served_after = false;
    let mut resyncing_samples = 0usize;
    // Once it served, the node may be taken out again (SoftHSM2's file store can
    // refuse one of several concurrent creates, docs/CLUSTER.md "Writes"; the
    // cluster then resyncs it). Such a later drop is watched on its own: calls routed
    // before it may still land (one per client thread at most), no more.
    let mut later = LaterDrops::default();
    // Made while node 1 is down, with what each produced then (on nodes 0 and 2).
    struct Made {
        aes: ObjectHandle,
        aes_ct: Vec<u8>,
        value_aes: ObjectHandle,
        value_ct: Vec<u8>,
        rsa_pub: ObjectHandle,
        rsa: ObjectHandle,
        rsa_sig: Vec<u8>,
        ec_pub: ObjectHandle,
        ec: ObjectHandle,
        data: ObjectHandle,
    }
    let mut made: Option<Made> = None;
    let block = [0x3cu8; 48];
    std::thread::scope(|sc| {
        for (i, s) in sessions.into_iter().enumerate() {
            let (ops, failures, stop) = (&ops, &failures, &stop);
            sc.spawn(move || {
                let mut n = 0u8;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_add(1);
                    let data = [n ^ i as u8; 32];
                    match round(&s, &keys, &data) {
                        Ok(()) => {
                            ops.fetch_add(6, Ordering::Relaxed);
                        }
                        Err(e) => failures
                            .lock()
                            .unwrap()
                            .push(format!("thread {i} at {:?}: {e}", start.elapsed())),
                    }
                }
            });
        }
        for (i, s) in fresh_sessions.into_iter().enumerate() {
            let (failures, stop, away, fresh_made) = (&failures, &stop, &away, &fresh_made);
            sc.spawn(move || {
                let fail = |e: String| {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("fresh {i} at {:?}: {e}", start.elapsed()))
                };
                let mut keys: Vec<Fresh> = Vec::new();
                let mut next = Instant::now();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    if away.load(Ordering::Relaxed)
                        && keys.len() < FRESH_KEYS
                        && Instant::now() >= next
                    {
                        next = Instant::now() + FRESH_EVERY;
                        let id = format!("fresh-{i}-{}", keys.len());
                        let made = try_gen_aes(&s, &id)
                            .map_err(|e| format!("C_GenerateKey {id}: {e}"))
                            .and_then(|h| {
                                s.encrypt(&Mechanism::AesCbcPad(IV), h, &FRESH_DATA)
                                    .map_err(|e| format!("first encrypt with {id}: {e}"))
                                    .map(|ct| (id.clone(), h, ct))
                            });
                        match made {
                            Ok(k) => {
                                keys.push(k);
                                fresh_made.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => fail(e),
                        }
                    }
                    // The newest key and, in turn, each earlier one.
                    n += 1;
                    if let Some(last) = keys.last() {
                        for k in [last, &keys[n % keys.len()]] {
                            if let Err(e) = use_fresh(&s, k) {
                                fail(e);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        for (kind, s) in multi {
            let (lost_at, outcomes) = (&lost_at, &outcomes);
            sc.spawn(move || {
                // Updates every 20 ms until 1 s after the loss, then Final.
                let finish_at = at(LOSE_AT + 1);
                let (mut data, mut out) = (Vec::new(), Vec::new());
                let mut n = 0u8;
                let mut r = Ok(());
                while Instant::now() < finish_at {
                    n = n.wrapping_add(1);
                    let part = [n; 40];
                    r = kind.update(&s, &part, &mut out);
                    if r.is_err() {
                        break;
                    }
                    data.extend_from_slice(&part);
                    std::thread::sleep(Duration::from_millis(20));
                }
                let r = r.and_then(|()| kind.finish(&s, out));
                let outcome = match r {
                    Ok(result) => MultiOutcome {
                        kind,
                        ended: None,
                        correct: result == kind.one_shot(&s, &keys, &data),
                    },
                    Err(e) => {
                        let rv = rv_of::<()>(&Err(e)).unwrap_or(RvError::GeneralError);
                        let after = lost_at.get().map_or(Duration::MAX, |l| l.elapsed());
                        // The next Init succeeds, and the operation runs to its end.
                        let again = (|| {
                            kind.init(&s, &keys)?;
                            let mut out = Vec::new();
                            for part in [&b"after the loss, "[..], b"part two"] {
                                kind.update(&s, part, &mut out)?;
                            }
                            kind.finish(&s, out)
                        })();
                        let expected = kind.one_shot(&s, &keys, b"after the loss, part two");
                        MultiOutcome {
                            kind,
                            ended: Some((rv, after)),
                            correct: again.as_deref().ok() == Some(&expected[..]),
                        }
                    }
                };
                outcomes.lock().unwrap().push(outcome);
            });
        }

        wait_until(at(LOSE_AT));
        let _ = lost_at.set(Instant::now());
        rig.stop_node(LOST);
        away.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(500));
        // While node 1 is down: keys of every kind, a data object, a destroy, changes.
        let aes = gen_aes(&admin, "new-aes");
        let value_aes = value_aes(&admin, "new-aes-value", &[0x5a; 32]);
        let (rsa_pub, rsa) = gen_rsa(&admin, "new-rsa");
        let (ec_pub, ec) = gen_ec(&admin, "new-ec");
        let data = data_object(&admin, "new-data", b"made while node 1 was down");
        admin.destroy_object(doomed).expect("C_DestroyObject while node 1 is down");
        admin
            .update_attributes(renamed, &[Attribute::Label("renamed-after".into())])
            .expect("CKA_LABEL changed while node 1 is down");
        admin
            .update_attributes(restricted, &[Attribute::Decrypt(false)])
            .expect("CKA_DECRYPT changed while node 1 is down");
        let aes_ct = admin.encrypt(&Mechanism::AesCbcPad(IV), aes, &block).expect("new AES");
        let value_ct =
            admin.encrypt(&Mechanism::AesCbcPad(IV), value_aes, &block).expect("new AES by value");
        let rsa_sig = admin.sign(&Mechanism::Sha256RsaPkcs, rsa, &block).expect("new RSA");
        made = Some(Made {
            aes,
            aes_ct,
            value_aes,
            value_ct,
            rsa_pub,
            rsa,
            rsa_sig,
            ec_pub,
            ec,
            data,
        });
        assert!(Instant::now() < at(RETURN_AT), "the changes took longer than node 1's absence");

        wait_until(at(RETURN_AT));
        away.store(false, Ordering::Relaxed);
        ops_at_return = watch.operations();
        rig.start_node(LOST);
        // Watch node 1 to the end of the load, and on until it was seen serving: the
        // next probe comes within the probe backoff's cap (5 s) and the resync takes
        // a few seconds, so 15 s past the end is a margin of twice that.
        let deadline = at(END_AT) + Duration::from_secs(15);
        loop {
            let now = Instant::now();
            if (now >= at(END_AT) && served_after) || now >= deadline {
                break;
            }
            let seen = watch.sample(&admin);
            if later.watching {
                later.sample(seen);
            } else if !seen.serving() {
                resyncing_samples += 1;
                if seen.operations != ops_at_return {
                    early.0 += 1;
                    early.1.get_or_insert(seen);
                }
            } else {
                // Up with lag 0: the return's resync is over.
                later.watching = true;
            }
            if seen.serving() && seen.operations > ops_at_return {
                served_after = true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
    });

    // Node 1 received no operation call before it was up with lag 0, and did after.
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "node 1 after its return: {resyncing_samples} samples not yet serving, {} with \
         operations past the {ops_at_return} it had",
        early.0
    );
    assert!(
        early.0 == 0,
        "node 1 received operation calls before it was up with lag 0 ({} samples), first: \
         {:?}; {} load failures, first: {:?}",
        early.0,
        early.1,
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(served_after, "node 1 was not seen serving after its return");
    eprintln!(
        "node 1 was taken out {} more times after it served; the most calls landing \
         during one of those: {} (bound {IN_FLIGHT})",
        later.drops, later.most
    );
    assert!(
        later.most <= IN_FLIGHT,
        "node 1, taken out again after it served, received {} operation calls while not \
         up with lag 0 (more than the {IN_FLIGHT} routed before it was taken out), first: {:?}",
        later.most,
        later.first
    );
    assert_eq!(
        fresh_made.into_inner(),
        FRESH * FRESH_KEYS,
        "fresh keys made while node 1 was down"
    );

    // Zero failed single-part operations.
    let ops = ops.into_inner();
    assert!(
        failures.is_empty(),
        "{} failed single-part rounds (of {} operations), first: {:?}",
        failures.len(),
        ops,
        &failures[..failures.len().min(5)]
    );
    assert!(ops > 600, "only {ops} single-part operations in {END_AT} s");
    eprintln!("{ops} single-part operations in {END_AT} s, none failed");

    // Multi-part operations on node 1 ended with the documented code within 2 s and
    // their next Init succeeded; the others finished with the right result.
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes.len(), MULTI);
    let mut ended = 0;
    for o in &outcomes {
        assert!(o.correct, "{o:?}: wrong result");
        if let Some((rv, after)) = o.ended {
            ended += 1;
            assert!(
                matches!(rv, RvError::DeviceRemoved | RvError::DeviceError),
                "{o:?}: a multi-part operation on the lost node ended with {rv:?}"
            );
            assert!(after < Duration::from_secs(2), "{o:?}: ended {after:?} after the loss");
        }
    }
    let ended_kinds: Vec<Multi> =
        outcomes.iter().filter(|o| o.ended.is_some()).map(|o| o.kind).collect();
    eprintln!("multi-part operations ended by the loss: {ended_kinds:?}; all: {outcomes:?}");
    assert!(ended >= 1, "no multi-part operation was pinned on node 1: {outcomes:?}");
    assert!(ended < MULTI, "multi-part operations on healthy nodes failed too: {outcomes:?}");

    // Node 1 is back, resynced (seen above); now it alone serves (nodes 0 and 2 down),
    // so every use below is node 1's.
    rig.stop_node(0);
    rig.stop_node(2);
    let m = made.expect("keys made while node 1 was down");
    let s = t.logged_in();
    assert_eq!(
        s.encrypt(&Mechanism::AesCbcPad(IV), m.aes, &block).expect("new AES key on node 1"),
        m.aes_ct,
        "node 1's copy of the generated AES key is the same key"
    );
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), m.value_aes, &block).expect("by-value AES");
    assert_eq!(ct, m.value_ct, "node 1's copy of the AES key made by value is the same key");
    assert_eq!(
        s.decrypt(&Mechanism::AesCbcPad(IV), m.aes, &m.aes_ct).expect("decrypt on node 1"),
        block
    );
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, m.rsa, &block).expect("new RSA key on node 1");
    assert_eq!(sig, m.rsa_sig, "node 1's copy of the RSA private key is the same key");
    s.verify(&Mechanism::Sha256RsaPkcs, m.rsa_pub, &block, &sig).expect("RSA verify, node 1");
    let sig = s.sign(&Mechanism::Ecdsa, m.ec, &[7u8; 32]).expect("new EC key on node 1");
    s.verify(&Mechanism::Ecdsa, m.ec_pub, &[7u8; 32], &sig).expect("ECDSA verify on node 1");
    assert_eq!(attr_bytes(&s, m.data, AttributeType::Value), b"made while node 1 was down");
    assert!(
        s.find_objects(&[Attribute::Id(b"doomed".to_vec())]).expect("find").is_empty(),
        "the key destroyed while node 1 was down is gone from it"
    );
    let r = find_one(&s, &[Attribute::Label("renamed-after".into())], "the renamed key on node 1");
    assert_eq!(r, renamed, "the renamed key keeps its handle");
    assert!(s.find_objects(&[Attribute::Label("renamed-before".into())]).unwrap().is_empty());
    assert!(!attr_bool(&s, restricted, AttributeType::Decrypt), "CKA_DECRYPT change on node 1");
    assert!(attr_bool(&s, restricted, AttributeType::Encrypt));
    for (i, k) in [keys.aes, keys.rsa, keys.ec].into_iter().enumerate() {
        assert!(
            s.get_attributes(k, &[AttributeType::Class]).is_ok(),
            "load key {i} still on node 1"
        );
    }
    drop(s);
    drop(admin);

    // Straight on SoftHSM2: node 1's token holds exactly what nodes 0 and 2 hold.
    t.ctx.clone().finalize().expect("C_Finalize of the module");
    let nodes = NodeTokens::open(rig);
    let inv: Vec<_> = (0..3).map(|k| inventory(&nodes.session(k, UserType::User))).collect();
    let want = |class: ObjectClass, id: &str, label: &str| {
        (u64::from(class), id.as_bytes().to_vec(), label.to_string())
    };
    for entry in [
        want(ObjectClass::SECRET_KEY, "new-aes", "new-aes"),
        want(ObjectClass::SECRET_KEY, "new-aes-value", "new-aes-value"),
        want(ObjectClass::PRIVATE_KEY, "new-rsa", "new-rsa"),
        want(ObjectClass::PUBLIC_KEY, "new-rsa", "new-rsa"),
        want(ObjectClass::PRIVATE_KEY, "new-ec", "new-ec"),
        want(ObjectClass::PUBLIC_KEY, "new-ec", "new-ec"),
        want(ObjectClass::SECRET_KEY, "renamed-before", "renamed-after"),
    ] {
        assert!(inv[LOST].contains_key(&entry), "node 1 lacks {entry:?}");
    }
    assert!(
        inv[LOST].keys().any(|(c, _, l)| *c == u64::from(ObjectClass::DATA) && l == "new-data"),
        "node 1 lacks the data object"
    );
    assert!(!inv[LOST].keys().any(|(_, id, _)| id == b"doomed"), "node 1 kept the destroyed key");
    assert!(!inv[LOST].keys().any(|(_, _, l)| l == "renamed-before"), "node 1 kept the old label");
    for k in [0, 2] {
        assert!(
            inv[LOST] == inv[k],
            "node 1 and node {k} differ (object, copies on node 1, copies on node {k}): {:?}",
            differences(&inv[LOST], &inv[k])
        );
    }
    let s1 = nodes.session(LOST, UserType::User);
    let h = find_one(
        &s1,
        &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(b"restricted".to_vec())],
        "restricted on node 1",
    );
    assert!(!attr_bool(&s1, h, AttributeType::Decrypt), "node 1 holds the CKA_DECRYPT change");
    drop(s1);
    nodes.finish();
}

/// Node 1 misses a key made while it is away; then nodes 0 and 2 are lost too and
/// node 1 comes back first. It must not become the cluster's truth: it would serve
/// without the key, and nodes 0 and 2, resynced from it on their return, would
/// destroy their copies. It waits for them and is resynced from them.
#[test]
fn a_node_that_missed_writes_waits_for_the_nodes_that_took_them() {
    std::env::set_var("KMSBRIDGE_LOG", "warn,kmsbridge_cluster=info");
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    provision_domain_key(&rig);
    let t = Env::with_rig(Target::Bridge, rig);
    let rig = t.rig();
    let s = t.logged_in();
    let block = [0x11u8; 16];
    rig.stop_node(LOST);
    let key = gen_aes(&s, "made-while-node1-away");
    let ct = s.encrypt(&Mechanism::AesCbcPad(IV), key, &block).expect("encrypt on nodes 0, 2");
    rig.stop_node(0);
    rig.stop_node(2);
    // Every node is seen lost.
    for _ in 0..3 {
        assert!(s.encrypt(&Mechanism::AesCbcPad(IV), key, &block).is_err(), "no node is up");
    }
    let skip = log_len(rig);
    rig.start_node(LOST);
    // Probed and refused (its answer is logged), never resynced as the truth.
    let deadline = Instant::now() + Duration::from_secs(15);
    let node = format!("/node{LOST}");
    loop {
        let log = log_from(rig, skip);
        let mine = |what: &str| log.lines().any(|l| l.contains(what) && l.contains(&node));
        assert!(
            !mine("cluster node resynced and serving"),
            "node 1 became the cluster's truth without the key it missed:\n{log}"
        );
        if mine("resync failed") {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 was never probed:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let skip = log_len(rig);
    rig.start_node(0);
    rig.start_node(2);
    let deadline = Instant::now() + Duration::from_secs(20);
    for k in [0, 2, LOST] {
        wait_resynced(rig, k, skip, deadline);
    }
    let found = s.find_objects(&[Attribute::Id(b"made-while-node1-away".to_vec())]).expect("find");
    assert_eq!(found, vec![key], "the key made while node 1 was away survived");
    // Node 1 alone serves it.
    rig.stop_node(0);
    rig.stop_node(2);
    assert_eq!(
        s.encrypt(&Mechanism::AesCbcPad(IV), key, &block).expect("node 1 holds the key"),
        ct
    );
}
