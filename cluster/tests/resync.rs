//! A node taken out of service (drained) misses writes; when the prober finds it
//! answering it is resynced — objects created meanwhile copied, destroyed ones
//! destroyed, changed attributes set — before it serves again. This drains the node
//! administratively; losing it for real (a killed node) waits for the fault rig.

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
use kmsbridge_cluster::NodeState;
use std::time::{Duration, Instant};
use support::keys::aes_template;
use support::ops::{bool_attr, ecb};
use support::rig::rig;

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
    c.drain(2, "test: drained");
    assert_eq!(c.status()[2].state, NodeState::Down);
    let mut t = aes_template(b"made-while-away", None);
    t.push(Attr::bool(CKA_EXTRACTABLE, false));
    let made = c
        .generate_key(&Mechanism::simple(CKM_AES_KEY_GEN), &t)
        .expect("generate while a node is away");
    c.destroy_object(doomed).expect("destroy while away");
    c.set_attributes(kept, &[Attr::bool(CKA_DECRYPT, false)])
        .expect("change while away");
    // The prober may find the node answering while these writes run (a busy
    // machine): it then takes the rest as writes. Either way it must end up with all.
    let away = c.status();
    if away[2].state == NodeState::Down {
        assert!(away[2].lag >= 3, "{:?}", away[2]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.status()[2].state != NodeState::Up {
        assert!(Instant::now() < deadline, "not back: {:?}", c.status()[2]);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.status()[2].lag, 0);
    let node = c.node(2).expect("node");
    let h = c.node_handle(made, 2).expect("resolve").expect("copied");
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
    let hk = c.node_handle(kept, 2).expect("resolve").expect("kept");
    assert_eq!(
        bool_attr(node.as_ref(), hk, CKA_DECRYPT),
        Some(false),
        "change applied"
    );
}
