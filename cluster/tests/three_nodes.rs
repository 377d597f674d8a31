//! A cluster of three SoftHSM2 tokens: routing, replication of token objects, the
//! domain key, and create-then-use at once.

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
use kmsbridge_bridge::{Attr, Backend, Mechanism};
use kmsbridge_cluster::Cluster;
use std::sync::OnceLock;
use support::keys::aes_template;
use support::ops::{bool_attr, ecb};
use support::rig::{rig, Rig};

fn fx() -> &'static (Rig, Cluster) {
    static FX: OnceLock<(Rig, Cluster)> = OnceLock::new();
    FX.get_or_init(|| {
        let rig = rig(3);
        let c = rig.cluster();
        let pins: Vec<&[u8]> = rig.nodes.iter().map(|t| t.so_pin.as_bytes()).collect();
        c.init_domain_key(&pins).expect("init domain key");
        (rig, c)
    })
}

#[test]
fn token_objects_land_on_every_node() {
    let (_, c) = fx();
    let t = [
        Attr::ulong(CKA_CLASS, CKO_DATA),
        Attr::bool(CKA_TOKEN, true),
        Attr::new(CKA_LABEL, b"replicated-data".to_vec()),
        Attr::new(CKA_APPLICATION, b"cluster-test".to_vec()),
        Attr::new(CKA_VALUE, b"hello".to_vec()),
    ];
    let obj = c.create_object(&t).expect("create");
    for k in 0..3 {
        let node = c.node(k).expect("node");
        let found = node.find(&t[..4]).expect("find on node");
        assert_eq!(found.len(), 1, "node {k}");
        assert_eq!(c.node_handle(obj, k).expect("resolve"), Some(found[0]));
    }
    c.destroy_object(obj).expect("destroy");
    for k in 0..3 {
        let node = c.node(k).expect("node");
        assert!(node.find(&t[..4]).expect("find").is_empty(), "node {k}");
    }
}

#[test]
fn created_aes_key_encrypts_alike_on_each_node() {
    let (_, c) = fx();
    let value = [0x42u8; 32];
    let key = c
        .create_object(&aes_template(b"aes-created", Some(&value)))
        .expect("create aes");
    let block = [9u8; 16];
    let via_cluster = ecb(c, key, &block);
    for k in 0..3 {
        let node = c.node(k).expect("node");
        let h = c.node_handle(key, k).expect("resolve").expect("on node");
        assert_eq!(ecb(node.as_ref(), h, &block), via_cluster, "node {k}");
    }
}

#[test]
fn generated_non_extractable_key_is_on_every_node_wrapped_only_with_trusted() {
    let (_, c) = fx();
    let mut t = aes_template(b"aes-generated", None);
    t.push(Attr::bool(CKA_EXTRACTABLE, false));
    t.push(Attr::bool(CKA_WRAP, true));
    let key = c
        .generate_key(&Mechanism::simple(CKM_AES_KEY_GEN), &t)
        .expect("generate");
    let block = [3u8; 16];
    let via_cluster = ecb(c, key, &block);
    for k in 0..3 {
        let node = c.node(k).expect("node");
        let h = c.node_handle(key, k).expect("resolve").expect("on node");
        assert_eq!(
            bool_attr(node.as_ref(), h, CKA_WRAP_WITH_TRUSTED),
            Some(true),
            "node {k}"
        );
        assert_eq!(
            ecb(node.as_ref(), h, &block),
            via_cluster,
            "same material on node {k}"
        );
    }
    assert_eq!(bool_attr(c, key, CKA_EXTRACTABLE), Some(false));
    assert_eq!(bool_attr(c, key, CKA_NEVER_EXTRACTABLE), Some(true));
    assert_eq!(bool_attr(c, key, CKA_LOCAL), Some(true));
    // Wrapping it out by the application is refused, even under a key of its own.
    let mut wt = aes_template(b"app-wrapper", Some(&[1u8; 32]));
    wt.push(Attr::bool(CKA_WRAP, true));
    let wrapper = c.create_object(&wt).expect("wrapping key");
    let err = c
        .wrap_key(&Mechanism::simple(CKM_AES_KEY_WRAP), wrapper, key, None)
        .expect_err("wrap refused");
    assert_eq!(err.ck_rv(), CKR_KEY_UNEXTRACTABLE);
    let err = c
        .set_attributes(key, &[Attr::bool(CKA_EXTRACTABLE, true)])
        .expect_err("cannot become extractable");
    assert_eq!(err.ck_rv(), CKR_ATTRIBUTE_READ_ONLY);
}

#[test]
fn session_objects_live_on_one_node_and_are_found() {
    let (_, c) = fx();
    let t = [
        Attr::ulong(CKA_CLASS, CKO_DATA),
        Attr::bool(CKA_TOKEN, false),
        Attr::new(CKA_LABEL, b"session-data".to_vec()),
        Attr::new(CKA_VALUE, b"s".to_vec()),
    ];
    let obj = c.create_object(&t).expect("create");
    let on: Vec<bool> = (0..3)
        .map(|k| c.node_handle(obj, k).expect("resolve").is_some())
        .collect();
    assert_eq!(on.iter().filter(|b| **b).count(), 1, "{on:?}");
    for _ in 0..6 {
        assert_eq!(c.find(&t[..3]).expect("find"), vec![obj]);
    }
    c.destroy_object(obj).expect("destroy");
}

#[test]
fn a_thousand_creates_are_usable_at_once() {
    let (_, c) = fx();
    let block = [5u8; 16];
    let mut failures = 0;
    for i in 0..1000u32 {
        let id = format!("cycle-{i}");
        let key = c
            .create_object(&aes_template(id.as_bytes(), Some(&[i as u8; 32])))
            .expect("create");
        let mut op = match c.begin_encrypt(&Mechanism::simple(CKM_AES_ECB), key) {
            Ok(op) => op,
            Err(e) => {
                eprintln!("cycle {i}: {e}");
                failures += 1;
                continue;
            }
        };
        let mut out = [0u8; 16];
        if let Err(e) = op.run(&block, Some(&mut out)) {
            eprintln!("cycle {i}: {e}");
            failures += 1;
        }
        drop(op);
        c.destroy_object(key).expect("destroy");
    }
    assert_eq!(failures, 0);
}

#[test]
fn generated_key_pair_signs_alike_on_every_node() {
    let (_, c) = fx();
    let id = b"rsa-pair".to_vec();
    let public = [
        Attr::bool(CKA_TOKEN, true),
        Attr::new(CKA_ID, id.clone()),
        Attr::bool(CKA_VERIFY, true),
        Attr::ulong(CKA_MODULUS_BITS, 2048),
        Attr::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
    ];
    let private = [
        Attr::bool(CKA_TOKEN, true),
        Attr::new(CKA_ID, id.clone()),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_EXTRACTABLE, false),
        Attr::bool(CKA_SIGN, true),
    ];
    let (pu, pr) = c
        .generate_key_pair(
            &Mechanism::simple(CKM_RSA_PKCS_KEY_PAIR_GEN),
            &public,
            &private,
        )
        .expect("generate pair");
    let sign = |b: &dyn Backend, key| {
        let mut op = b
            .begin_sign(&Mechanism::simple(CKM_SHA256_RSA_PKCS), key)
            .expect("begin");
        let mut out = vec![0u8; 256];
        let n = op.run(b"message", Some(&mut out)).expect("sign");
        out.truncate(n);
        out
    };
    let reference = sign(c, pr);
    for k in 0..3 {
        let node = c.node(k).expect("node");
        let h = c
            .node_handle(pr, k)
            .expect("resolve")
            .expect("private on node");
        assert_eq!(
            sign(node.as_ref(), h),
            reference,
            "node {k}: same key (PKCS#1 v1.5 is deterministic)"
        );
        assert!(
            c.node_handle(pu, k).expect("resolve").is_some(),
            "public on node {k}"
        );
    }
    assert_eq!(bool_attr(c, pr, CKA_EXTRACTABLE), Some(false));
}
