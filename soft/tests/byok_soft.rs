//! BYOK import (KMS ImportKeyMaterial) on the software backend: CKM_RSA_PKCS_OAEP
//! with any SHA hash, CKM_RSA_AES_KEY_WRAP, and material_check, in the engine.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// Shared with bridge/tests/byok_node.rs.
#[path = "../../bridge/tests/byok_support/mod.rs"]
mod byok_support;

use byok_support::cases::{self, Fixture};
use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Backend, TokenAdmin};
use kmsbridge_soft::SoftBackend;
use kmsbridge_testkit::openssl::Oaep;
use kmsbridge_testkit::scratch::temp_dir;
use std::sync::OnceLock;

/// A software backend over a new store, initialised and logged in as the user.
fn soft_backend() -> SoftBackend {
    let dir = temp_dir("kmsbridge-byok-soft-");
    let b = SoftBackend::new(dir.join("store"));
    b.connect().expect("open the store");
    b.init_token(b"so-pin-0000", "byok").expect("init_token");
    b.login(CKU_SO, b"so-pin-0000").expect("SO login");
    b.init_pin(b"user-pin-1111").expect("init_pin");
    b.logout();
    b.login(CKU_USER, b"user-pin-1111").expect("user login");
    b
}

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| Fixture::new(Box::new(soft_backend()), false))
}

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
    let o = Oaep {
        md: "sha384",
        mgf: "sha256",
        label: b"kmsbridge",
    };
    cases::oaep_imports_aes(fx(), o);
}

#[test]
fn rsa_aes_imports_aes_keys() {
    for o in [Oaep::SHA1, Oaep::SHA256] {
        for target in [16, 32] {
            cases::rsa_aes_imports_aes(fx(), o, 32, target);
        }
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
