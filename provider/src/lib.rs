//! PKCS#11 semantics of kmsbridge: instances as slots, tokens, sessions, login,
//! front object handles, operation state and attribute rules.
//!
//! The public surface is what the C ABI (ffi/) needs: the process-global provider
//! (`state`), the `Provider` functions it calls, errors and their codes, and the
//! library's identity (`api`). Everything else is this crate's own.

mod access;
pub mod api;
mod audit;
mod clock;
mod cluster_admin;
mod cluster_objects;
mod config;
pub mod error;
mod handles;
mod hidden_objects;
mod instance;
mod kms;
mod log;
mod objects;
mod pin;
mod provider;
mod quota;
mod refresh;
mod rules;
mod secrets;
mod session;
mod session_table;
mod start;
pub mod state;
mod vendor;

pub use error::{Error, Result};
pub use kmsbridge_bridge as bridge;
pub use provider::Provider;
