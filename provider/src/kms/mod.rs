//! The KMS key model (docs/KEYS.md): records, lifecycle, import, rotation, the
//! default key and service keys, over any backend.

pub mod attrs;
pub mod create;
pub mod host;
pub mod ids;
pub mod import;
pub mod lifecycle;
pub mod record;
pub mod registry;
pub mod rotate;
pub mod token;
