//! Key management functions.

use super::{Rows, Section};

/// This section.
pub const SECTION: Section = Section { id: "5.14", title: "Key management functions", rows };

fn rows() -> Rows {
    Rows::default()
}
