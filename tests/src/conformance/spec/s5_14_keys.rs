//! Key management functions.

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.14", title: "Key management functions", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    r
}
