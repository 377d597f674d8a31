//! Application access points (AAP): which application may do what to which key or
//! secret, under which conditions. This crate is the model and its evaluation only; it
//! knows nothing of PKCS#11, stores or backends (the provider wires it in).

mod action;
mod caller;
mod cidr;
mod condition;
mod error;
mod glob;
mod policy;
mod resource;

pub use action::{Action, ActionPattern};
pub use caller::Caller;
pub use cidr::Cidr;
pub use condition::{Conditions, ExePattern, Principal, Timestamp};
pub use error::PolicyError;
pub use glob::Glob;
pub use policy::{decide, visible, Decision, Effect, Policy, Statement, StatementRef};
pub use resource::{Resource, ResourcePattern};
