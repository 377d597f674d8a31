//! Routing over three SoftHSM2 nodes, in a process of its own so that no other
//! test's load skews the counts: single-part work spreads over the idle nodes.

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
fn single_part_signs_spread_over_nodes() {
    let rig = rig(3);
    let c = &rig.cluster();
    let key = c
        .create_object(&[
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            Attr::new(CKA_ID, b"hmac-spread".to_vec()),
            Attr::bool(CKA_TOKEN, true),
            Attr::bool(CKA_SIGN, true),
            Attr::new(CKA_VALUE, vec![7u8; 32]),
        ])
        .expect("create hmac key");
    let before: Vec<u64> = c.status().iter().map(|s| s.served).collect();
    let mut sigs = Vec::new();
    for _ in 0..30 {
        let mut op = c
            .begin_sign(&Mechanism::simple(CKM_SHA256_HMAC), key)
            .expect("begin");
        let mut out = [0u8; 32];
        op.run(b"spread me", Some(&mut out)).expect("sign");
        sigs.push(out);
    }
    assert!(sigs.windows(2).all(|w| w[0] == w[1]), "same key everywhere");
    let after: Vec<u64> = c.status().iter().map(|s| s.served).collect();
    let per_node: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    eprintln!(
        "signs per node (calls + operations): {per_node:?}; {:?}",
        c.status()
    );
    assert!(
        per_node.iter().all(|n| *n >= 10),
        "every node served: {per_node:?}"
    );
}
