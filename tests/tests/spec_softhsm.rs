//! The conformance suite's specification tables (tests/src/conformance/spec/) on
//! softhsm: one test per section, each running all its rows. Run with
//! `cargo nextest run --release -p kmsbridge-tests --test spec_softhsm`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

kmsbridge_tests::spec_suite!(spec_softhsm, kmsbridge_tests::Target::SoftHsm);
