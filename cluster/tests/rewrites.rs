//! A hidden data object is rewritten by making the new object (same class, application
//! and label: the same cluster identity) and then destroying the old. A view that
//! found the old one on a single node (as another process does) must destroy the old
//! on every node, never the new one where both share the identity (issue 14: the
//! cluster client pass's access points diverged between nodes this way).

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// The parts of `tests/support/` this test uses.
mod support {
    pub mod rig;
}

use kmsbridge_bridge::pkcs11::{Node, NodeConfig};
use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Attr, AttrReq, Backend};
use kmsbridge_testkit::tokens::SOFTHSM2_LIBRARY;
use std::path::PathBuf;
use std::time::Duration;
use support::rig::{rig, Rig};

const APP: &[u8] = b"rewrite.test";
const LABEL: &[u8] = b"record";

fn template() -> Vec<Attr> {
    vec![
        Attr::ulong(CKA_CLASS, CKO_DATA),
        Attr::new(CKA_APPLICATION, APP.to_vec()),
        Attr::new(CKA_LABEL, LABEL.to_vec()),
    ]
}

fn object(value: &[u8]) -> Vec<Attr> {
    let mut t = template();
    t.extend([
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::new(CKA_VALUE, value.to_vec()),
    ]);
    t
}

/// Node `k` alone, as a vendor tool would see it.
fn node(rig: &Rig, k: usize) -> Node {
    let token = &rig.nodes[k];
    let n = Node::new(NodeConfig {
        name: format!("direct/node{k}"),
        library: PathBuf::from(SOFTHSM2_LIBRARY),
        token_label: Some(token.label.clone()),
        token_serial: None,
        credential_file: token.pin_file.clone(),
        so_credential_file: Some(token.so_pin_file.clone()),
        pool_size: 2,
        pool_wait: Duration::from_secs(5),
        serial_calls: false,
    });
    n.connect().expect("connect node");
    n
}

/// The values of the objects named by `template()` on a backend.
fn values(b: &dyn Backend) -> Vec<Vec<u8>> {
    b.find(&template())
        .expect("find")
        .into_iter()
        .map(|h| {
            let mut r = [AttrReq::new(CKA_VALUE, Some(64))];
            b.get_attributes(h, &mut r).expect("read value");
            r[0].value().expect("a value").to_vec()
        })
        .collect()
}

/// Write the old object on node `k` from another process (pkcs11-tool), as another
/// kmsbridge process's replication does: this process's SoftHSM2 has given it no handle
/// yet, so where this process then finds it beside a new object it made, the old one
/// gets the higher handle and SoftHSM2 returns the new one first.
fn write_elsewhere(rig: &Rig, k: usize, value: &[u8]) {
    let token = &rig.nodes[k];
    let file = std::env::temp_dir().join(format!("kmsbridge-rewrite-{}-{k}", std::process::id()));
    std::fs::write(&file, value).unwrap();
    let out = std::process::Command::new("pkcs11-tool")
        .args(["--module", SOFTHSM2_LIBRARY, "--token-label", &token.label])
        .args(["--login", "--pin", &token.user_pin, "--write-object"])
        .arg(&file)
        .args(["--type", "data", "--private"])
        .args(["--label", std::str::from_utf8(LABEL).unwrap()])
        .args(["--application-label", std::str::from_utf8(APP).unwrap()])
        .output()
        .expect("run pkcs11-tool");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "pkcs11-tool --write-object: {out:?}");
}

#[test]
fn a_rewrite_by_a_view_that_found_the_old_object_on_one_node_keeps_the_new_on_every_node() {
    let rig = rig(3);
    let nodes: Vec<Node> = (0..3).map(|k| node(&rig, k)).collect();
    for round in 1..=3u8 {
        let old_value = format!("old{round}").into_bytes();
        for k in 0..3 {
            write_elsewhere(&rig, k, &old_value);
        }
        // A fresh view (another process): it knows the old object on the node its
        // find went to only.
        let view = rig.cluster();
        let old = view.find(&template()).expect("find old");
        assert_eq!(old.len(), 1, "round {round}: one object before: {old:?}");
        let value = format!("new{round}").into_bytes();
        view.create_object(&object(&value)).expect("create new");
        view.destroy_object(old[0]).expect("destroy old");
        for (k, n) in nodes.iter().enumerate() {
            assert_eq!(
                values(n),
                vec![value.clone()],
                "round {round}: node {k} holds what the rewrite left"
            );
        }
        // Clear for the next round, from outside.
        for n in &nodes {
            for h in n.find(&template()).unwrap() {
                n.destroy_object(h).unwrap();
            }
        }
    }
}
