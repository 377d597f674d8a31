//! Shared by the BYOK import tests (`byok_node`, `byok_soft`): the cases, run against
//! any backend, and the backend-side key helpers they use. openssl, the party outside
//! that wraps the material, is in `kmsbridge_testkit::openssl`.

pub mod cases;
pub mod keys;
