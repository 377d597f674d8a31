//! Mechanism parameters: RSA (PKCS, PSS, OAEP).

use super::{Rows, Section};

/// This section.
pub const SECTION: Section =
    Section { id: "M.rsa", title: "Mechanism parameters: RSA (PKCS, PSS, OAEP)", rows };

fn rows() -> Rows {
    Rows::default()
}
