//! Test support shared by every test crate of the workspace.
//!
//! - [`rig`]: an isolated SoftHSM2 store and kmsbridge config made by
//!   `ci/softhsm/setup` (its `export` lines parsed), optionally N nodes with faults.
//! - [`tokens`]: SoftHSM2 tokens made straight with `softhsm2-util`, for tests that
//!   load SoftHSM2 or the fault shim themselves (no kmsbridge config).
//! - [`module`]: a PKCS#11 module loaded the way an application does it, slot lookup
//!   and login.
//! - [`keys`]: key-making and attribute helpers over `cryptoki`.
//! - [`codes`]: the PKCS#11 code of a `cryptoki` result.
//! - [`harness`]: tests that run several processes (children re-run the test binary).
//! - [`postgres`]: a throw-away PostgreSQL server (`initdb` + `pg_ctl`, loopback port).
//! - [`scratch`], [`openssl`], [`der`]: scratch directories, and openssl as the party
//!   outside that wraps key material for import.
//!
//! It depends on no kmsbridge crate: the crates under test dev-depend on it.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod codes;
pub mod der;
pub mod harness;
pub mod keys;
pub mod module;
pub mod openssl;
pub mod postgres;
pub mod rig;
pub mod scratch;
pub mod tokens;
