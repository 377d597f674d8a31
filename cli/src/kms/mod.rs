//! The KMS key model's commands (`key`, `import`), each a plain PKCS#11 client of the
//! module through the surface docs/KEYS.md specifies.

pub mod args;
pub mod byok_wrap;
pub mod describe;
pub mod import;
pub mod key;
pub mod record;
pub mod refusal;
pub mod rsa_aes_unwrap;
pub mod session;
pub mod time;
pub mod vendor;
