//! Mechanism parameters: EC (ECDSA, ECDH).

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "M.ec", title: "Mechanism parameters: EC (ECDSA, ECDH)", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    r
}
