//! BYOK import (KMS ImportKeyMaterial) on the node backend over a real SoftHSM2 2.6
//! token: CKM_RSA_PKCS_OAEP with SHA-1 (SoftHSM2's own) and SHA-2 (composed over raw
//! RSA), CKM_RSA_AES_KEY_WRAP (composed: SoftHSM2 has none), and material_check.
//! One token serves every test of this binary (SOFTHSM2_CONF is process-wide).

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod byok_support;

use byok_support::cases::{self, Fixture};
use byok_support::keys::{rv, v};
use kmsbridge_bridge::pkcs11::{Node, NodeConfig, EPHEMERAL_LABEL};
use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::Backend;
use kmsbridge_testkit::openssl::{self as ossl, Oaep};
use kmsbridge_testkit::rig::{setup, RigOptions};
use kmsbridge_testkit::scratch::temp_dir;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A node over a new SoftHSM2 token made by `ci/softhsm/setup`, connected.
/// `SOFTHSM2_CONF` is set for the whole process, so a test binary holds at most one.
fn softhsm_node() -> Node {
    let dir = temp_dir("kmsbridge-byok-hsm-");
    let vars = setup(&dir, &RigOptions::default());
    let var = |k: &str| {
        vars.get(k)
            .unwrap_or_else(|| panic!("setup did not export {k}"))
    };
    std::env::set_var("SOFTHSM2_CONF", var("SOFTHSM2_CONF"));
    let node = Node::new(NodeConfig {
        name: "byok/node0".into(),
        library: PathBuf::from(var("SOFTHSM2_MODULE")),
        token_label: Some(var("SOFTHSM2_TOKEN_LABEL").clone()),
        token_serial: None,
        credential_file: dir.join("node0.pin"),
        so_credential_file: Some(dir.join("node0.so.pin")),
        pool_size: 8,
        pool_wait: Duration::from_secs(30),
        serial_calls: false,
    });
    node.connect().expect("connect to SoftHSM2");
    node
}

/// Objects with this label (the bridge's temporary keys carry one).
fn count_labelled(be: &dyn Backend, label: &[u8]) -> usize {
    be.find(&[v(CKA_LABEL, label)])
        .expect("C_FindObjects")
        .len()
}

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| Fixture::new(Box::new(softhsm_node()), true))
}

shared_byok_tests!();

#[test]
fn oaep_sha1_with_a_label_is_composed() {
    let o = Oaep {
        label: b"label",
        ..Oaep::SHA1
    };
    cases::oaep_imports_aes(fx(), o);
}

/// The EC route signs in the backend: a key without CKA_SIGN has no check value.
#[test]
fn material_check_of_ec_without_sign_is_not_supported() {
    let s = ossl::Scratch::new();
    let key = ossl::ec_p256_pkcs8(&s, "ec");
    let spki = s.write("w.der", &fx().spki);
    let blob = ossl::rsa_aes_wrap(&s, &spki, Oaep::SHA256, 32, &key.der);
    let mut t = byok_support::keys::private_template(CKK_EC);
    t.retain(|a| a.ty != CKA_SIGN);
    t.push(byok_support::keys::b(CKA_SIGN, false));
    let obj = fx()
        .be()
        .unwrap_key(
            &cases::rsa_aes_mech(Oaep::SHA256, 32),
            fx().unwrapping,
            &blob,
            &t,
        )
        .expect("RSA-AES import of EC");
    let r = fx().be().material_check(obj, &[9u8; 16]);
    assert_eq!(rv(r), CKR_FUNCTION_NOT_SUPPORTED);
}

/// The ephemeral AES keys of RSA-AES unwraps are destroyed on every path.
#[test]
fn no_ephemeral_key_outlives_its_unwrap() {
    cases::rsa_aes_imports_aes(fx(), Oaep::SHA1, 32, 32);
    cases::rsa_aes_imports_aes(fx(), Oaep::SHA256, 32, 32);
    cases::corrupted_blobs_are_refused(fx());
    // Other tests unwrap concurrently: wait for a moment with none in flight.
    let end = Instant::now() + Duration::from_secs(20);
    while count_labelled(fx().be(), EPHEMERAL_LABEL) != 0 {
        assert!(Instant::now() < end, "ephemeral RSA-AES keys left behind");
        std::thread::sleep(Duration::from_millis(20));
    }
}
