//! Application access points (AAP): which application may do what to which key or
//! secret. This crate is the model and its evaluation only; it knows nothing of PKCS#11,
//! stores or backends (the provider wires it in).

mod action;
mod error;
mod glob;
mod resource;

pub use action::{Action, ActionPattern};
pub use error::PolicyError;
pub use glob::Glob;
pub use resource::{Resource, ResourcePattern};
