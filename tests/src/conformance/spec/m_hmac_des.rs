//! Mechanism parameters: HMAC general lengths, DES3.

use super::{Rows, Section};

/// This section.
pub const SECTION: Section =
    Section { id: "M.hmac-des", title: "Mechanism parameters: HMAC general lengths, DES3", rows };

fn rows() -> Rows {
    Rows::default()
}
