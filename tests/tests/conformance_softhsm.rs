//! The conformance suite directly against SoftHSM2 (the reference run).
//! Run with `cargo nextest run -p kmsbridge-tests conformance_softhsm`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

kmsbridge_tests::conformance_suite!(conformance_softhsm, kmsbridge_tests::Target::SoftHsm);
