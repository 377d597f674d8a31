//! The software token of a kmsbridge software instance: in-module crypto over
//! aws-lc-rs with the PKCS#11 object rules (`engine`), and [`SoftBackend`], the
//! `Backend` that keeps token objects in a durable encrypted store
//! (`kmsbridge-store`). See docs/SOFTWARE_CRYPTO.md.

mod backend;
mod cache;
pub mod engine;

pub use backend::SoftBackend;
pub use cache::DEFAULT_CACHE_OBJECTS;
