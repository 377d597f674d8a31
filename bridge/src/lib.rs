//! Backends behind the kmsbridge `Backend` boundary.
//!
//! The provider talks to an instance's keys only through [`Backend`] and
//! the operation traits of [`op`]. Backends know nothing of front handles, sessions or policy.

pub mod admin;
pub mod attr;
pub mod backend;
pub mod domain;
pub mod ec;
pub mod error;
pub mod exit;
pub mod material_check;
pub mod mech;
pub mod op;
pub mod pkcs11;
pub mod status;

pub use admin::{ClusterAdmin, TokenAdmin, TokenState};
pub use attr::{Attr, AttrReq};
pub use backend::{Backend, ObjectId, OpKind, Output};
pub use error::{Error, Result};
pub use mech::{MechParam, Mechanism};
pub use op::{Cipher, Digesting, Operation, Signing, Verifying};
pub use status::{NodeState, NodeStatus};

/// The raw PKCS#11 types; one set of types across every layer.
pub use cryptoki_sys as sys;
