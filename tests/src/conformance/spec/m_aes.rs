//! Mechanism parameters: AES (ECB, CBC, CBC-PAD, CTR, GCM, CMAC, key wrap).

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section {
    id: "M.aes",
    title: "Mechanism parameters: AES (ECB, CBC, CBC-PAD, CTR, GCM, CMAC, key wrap)",
    rows,
};

fn rows() -> Rows {
    let mut r = Rows::default();
    r
}
