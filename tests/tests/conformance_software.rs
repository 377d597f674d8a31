//! The conformance suite through libkmsbridge.so on a software instance (keys
//! in-module, in the durable store). Build first: `cargo build --release`.
//! Run with `cargo nextest run -p kmsbridge-tests conformance_software`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

kmsbridge_tests::conformance_suite!(conformance_software, kmsbridge_tests::Target::Software);
