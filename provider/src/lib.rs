//! PKCS#11 semantics of kmsbridge: instances as slots, tokens, sessions, login,
//! front object handles, operation state and attribute rules.

pub mod api;
pub mod cluster_admin;
pub mod cluster_objects;
pub mod config;
pub mod error;
pub mod handles;
pub mod hidden_objects;
pub mod instance;
pub mod kms;
pub mod log;
pub mod objects;
pub mod pin;
pub mod provider;
pub mod rules;
pub mod session;
pub mod session_table;
pub mod state;
pub mod vendor;

pub use error::{Error, Result};
pub use kmsbridge_bridge as bridge;
pub use provider::Provider;
