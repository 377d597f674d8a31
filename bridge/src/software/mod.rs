//! The software backend: in-module crypto (`engine`) over a durable encrypted store (`store`).

mod backend;
pub mod engine;
pub mod store;

pub use backend::SoftBackend;
