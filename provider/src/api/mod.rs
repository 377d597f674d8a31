//! The provider's PKCS#11 functions, one file per family. Each is the inner
//! `fn x(..) -> Result<_>` behind an `extern "C"` shell in ffi/.

mod crypto;
mod keys;
mod objects;
mod sessions;
mod slots;

pub use slots::{pad, LIBRARY_VERSION, MANUFACTURER};
