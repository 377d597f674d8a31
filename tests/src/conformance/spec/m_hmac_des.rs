//! Mechanism parameters: HMAC general lengths, DES3.

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "M.hmac-des", title: "Mechanism parameters: HMAC general lengths, DES3", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    r
}
