//! Mechanism parameters: RSA (PKCS, PSS, OAEP).

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "M.rsa", title: "Mechanism parameters: RSA (PKCS, PSS, OAEP)", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    r
}
