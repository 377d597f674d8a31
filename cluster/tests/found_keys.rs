//! A key this process did not make (found, its handles on the other nodes unknown): at
//! idle its first use goes to the node that answered the find, which knows its handle,
//! instead of a node that must first find it by identity, a scan of that node's whole
//! token (issue 14). In a process of its own so that no other test's load skews the
//! counts.

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

use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Attr, Backend, Mechanism};
use support::rig::rig;

#[test]
fn a_found_keys_first_use_goes_to_a_node_that_knows_it() {
    let rig = rig(3);
    let maker = rig.cluster();
    maker
        .create_object(&[
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            Attr::new(CKA_ID, b"found-elsewhere".to_vec()),
            Attr::bool(CKA_TOKEN, true),
            Attr::bool(CKA_SIGN, true),
            Attr::new(CKA_VALUE, vec![7u8; 32]),
        ])
        .expect("create hmac key");
    // Another view of the same nodes, as another process has: no handle known yet.
    let c = rig.cluster();
    let served = || -> Vec<u64> { c.status().iter().map(|s| s.served).collect() };
    let before = served();
    let found = c
        .find(&[
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::new(CKA_ID, b"found-elsewhere".to_vec()),
        ])
        .expect("find");
    assert_eq!(found.len(), 1, "found once: {found:?}");
    let mut op = c
        .begin_sign(&Mechanism::simple(CKM_SHA256_HMAC), found[0])
        .expect("begin");
    let mut out = [0u8; 32];
    op.run(b"first use", Some(&mut out)).expect("sign");
    let per_node: Vec<u64> = served().iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(
        per_node.iter().filter(|n| **n > 0).count(),
        1,
        "the find and the first use on one node: {per_node:?}"
    );
}
