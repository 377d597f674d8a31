//! The `extern "C"` shells, one file per function family. Each checks its raw
//! arguments, converts them, and calls the provider inside the guard.

pub mod crypto;
pub mod general;
pub mod keys;
pub mod message;
pub mod objects;
pub mod sessions;
pub mod slots;
