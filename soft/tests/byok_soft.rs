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

shared_byok_tests!();
