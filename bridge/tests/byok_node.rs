//! BYOK import (KMS ImportKeyMaterial) on the node backend over a real SoftHSM2 2.6
//! token: CKM_RSA_PKCS_OAEP with SHA-1 (SoftHSM2's own) and SHA-2 (composed over raw
//! RSA), CKM_RSA_AES_KEY_WRAP (composed: SoftHSM2 has none), and material_check.
//! One token serves every test of this binary (SOFTHSM2_CONF is process-wide).

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod byok_support;

use byok_support::cases::{self, Fixture, Kind};
use byok_support::keys::{count_labelled, rv};
use byok_support::openssl::Oaep;
use byok_support::rig::softhsm_node;
use kmsbridge_bridge::pkcs11::EPHEMERAL_LABEL;
use kmsbridge_bridge::sys::*;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| Fixture::new(Box::new(softhsm_node()), Kind::Node))
}

const SHA384_MGF1_SHA256_LABEL: Oaep = Oaep {
    md: "sha384",
    mgf: "sha256",
    label: b"kmsbridge",
};

#[test]
fn oaep_sha1_imports_aes_256() {
    cases::oaep_imports_aes(fx(), Oaep::SHA1);
}

#[test]
fn oaep_sha2_imports_aes_256() {
    for md in ["sha224", "sha256", "sha384", "sha512"] {
        let o = Oaep {
            md,
            mgf: md,
            label: b"",
        };
        cases::oaep_imports_aes(fx(), o);
    }
    cases::oaep_imports_aes(fx(), SHA384_MGF1_SHA256_LABEL);
}

#[test]
fn oaep_sha1_with_a_label_is_composed() {
    let o = Oaep {
        label: b"label",
        ..Oaep::SHA1
    };
    cases::oaep_imports_aes(fx(), o);
}

#[test]
fn rsa_aes_imports_aes_keys() {
    for o in [Oaep::SHA1, Oaep::SHA256] {
        for target in [16, 32] {
            cases::rsa_aes_imports_aes(fx(), o, 32, target);
        }
        // A 128-bit ephemeral key.
        cases::rsa_aes_imports_aes(fx(), o, 16, 32);
    }
}

#[test]
fn rsa_aes_imports_rsa_pkcs8() {
    cases::rsa_aes_imports_rsa(fx(), Oaep::SHA1);
    cases::rsa_aes_imports_rsa(fx(), Oaep::SHA256);
}

#[test]
fn rsa_aes_imports_ec_pkcs8() {
    cases::rsa_aes_imports_ec(fx(), Oaep::SHA1);
    cases::rsa_aes_imports_ec(fx(), Oaep::SHA256);
}

#[test]
fn corrupted_blobs_are_refused() {
    cases::corrupted_blobs_are_refused(fx());
}

#[test]
fn bad_params_are_refused() {
    cases::bad_params_are_refused(fx());
}

#[test]
fn rsa_aes_is_unwrap_only() {
    cases::rsa_aes_is_unwrap_only(fx());
}

#[test]
fn unwrapping_key_permissions() {
    cases::unwrapping_key_permissions(fx());
}

#[test]
fn material_check_of_aes() {
    cases::material_check_of_aes(fx());
}

#[test]
fn material_check_of_rsa() {
    cases::material_check_of_rsa(fx());
}

#[test]
fn material_check_of_ec() {
    cases::material_check_of_ec(fx());
}

/// The EC route signs in the backend: a key without CKA_SIGN has no check value.
#[test]
fn material_check_of_ec_without_sign_is_not_supported() {
    let s = byok_support::openssl::Scratch::new();
    let key = byok_support::openssl::ec_p256_pkcs8(&s, "ec");
    let spki = s.write("w.der", &fx().spki);
    let blob = byok_support::openssl::rsa_aes_wrap(&s, &spki, Oaep::SHA256, 32, &key.der);
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
