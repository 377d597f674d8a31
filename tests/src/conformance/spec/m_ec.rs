//! Mechanism parameters: EC (ECDSA, ECDH).

use super::{Rows, Section};

/// This section.
pub const SECTION: Section =
    Section { id: "M.ec", title: "Mechanism parameters: EC (ECDSA, ECDH)", rows };

fn rows() -> Rows {
    Rows::default()
}
