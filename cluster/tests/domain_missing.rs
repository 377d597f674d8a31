//! A multi-node cluster without a provisioned domain key refuses token key
//! generation (it could not replicate the key) and still takes created keys.

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
    pub mod rig;
}

use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Backend, Mechanism};
use support::keys::aes_template;
use support::rig::rig;

#[test]
fn token_key_generation_needs_the_domain_key() {
    let rig = rig(2);
    let c = rig.cluster();
    assert_eq!(c.quorum(), 2);
    let err = c
        .generate_key(
            &Mechanism::simple(CKM_AES_KEY_GEN),
            &aes_template(b"no-domain", None),
        )
        .expect_err("refused");
    assert_eq!(err.ck_rv(), CKR_DEVICE_ERROR);
    for k in 0..2 {
        let node = c.node(k).expect("node");
        let t = aes_template(b"no-domain", None);
        assert!(
            node.find(&t[2..3]).expect("find").is_empty(),
            "nothing left on node {k}"
        );
    }
    c.create_object(&aes_template(b"created", Some(&[1u8; 16])))
        .expect("created keys need no domain key");
    // Once provisioned, the same call succeeds.
    c.init_domain_key_from_config().expect("init");
    c.generate_key(
        &Mechanism::simple(CKM_AES_KEY_GEN),
        &aes_template(b"with-domain", None),
    )
    .expect("generated");
}
