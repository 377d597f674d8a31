//! A token key with CKA_ALWAYS_AUTHENTICATE on a 3-node cluster: its replicas keep
//! the attribute on every node, so whichever node serves a read or an operation, the
//! application is told the same and the token asks the same (issue 10). In-process
//! rig: every node a SoftHSM2 token behind the fault shim.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use kmsbridge_testkit::keys::attr_bool;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::cluster::{provision_domain_key, NodeTokens};
use kmsbridge_tests::conformance::context_login::always_authenticate_cycle;
use kmsbridge_tests::env::{Env, Target};

const ID: &[u8] = b"cluster-always-auth";

#[test]
fn an_always_authenticate_key_keeps_the_attribute_on_every_node() {
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    provision_domain_key(&rig);
    let t = Env::with_rig(Target::Bridge, rig);

    // Through kmsbridge: the whole context-login cycle on the replicated token key.
    always_authenticate_cycle(&t, true, ID);
    let s = t.logged_in();
    let private = s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(ID.to_vec())])
        .expect("find the private key");
    assert_eq!(private.len(), 1, "one private key through kmsbridge");
    // Reads are routed across the nodes: each one must say the same.
    for i in 0..9 {
        assert!(
            attr_bool(&s, private[0], AttributeType::AlwaysAuthenticate),
            "read {i} of CKA_ALWAYS_AUTHENTICATE through the cluster"
        );
    }
    drop(s);
    t.ctx.clone().finalize().expect("C_Finalize before looking at the nodes");

    // Straight on each node's token: one replica, with the attribute.
    let nodes = NodeTokens::open(t.rig());
    for k in 0..t.rig().nodes() {
        let n = nodes.session(k, UserType::User);
        let found = n
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(ID.to_vec())])
            .expect("find on a node");
        assert_eq!(found.len(), 1, "node {k} holds one replica of the private key");
        assert!(
            attr_bool(&n, found[0], AttributeType::AlwaysAuthenticate),
            "node {k}: the replica keeps CKA_ALWAYS_AUTHENTICATE"
        );
    }
    nodes.finish();
}
