//! The KMS key model (docs/KEYS.md): records, lifecycle, import, rotation, the
//! default key and service keys, over any backend.

pub(crate) mod attrs;
pub(crate) mod changes;
pub(crate) mod create;
pub(crate) mod host;
pub(crate) mod ids;
pub(crate) mod import;
pub(crate) mod lifecycle;
pub(crate) mod record;
pub(crate) mod registry;
pub(crate) mod rotate;
pub(crate) mod token;
