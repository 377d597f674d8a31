//! Mechanism parameters: AES (ECB, CBC, CBC-PAD, CTR, GCM, CMAC, key wrap).

use super::{Rows, Section};

/// This section.
pub const SECTION: Section = Section {
    id: "M.aes",
    title: "Mechanism parameters: AES (ECB, CBC, CBC-PAD, CTR, GCM, CMAC, key wrap)",
    rows,
};

fn rows() -> Rows {
    Rows::default()
}
