//! The conformance suite's specification tables (tests/src/conformance/spec/) on a
//! software instance whose store is a PostgreSQL database (docs/POSTGRES_STORE.md), each
//! section's rig with its own throw-away server. Run with
//! `cargo nextest run --release -p kmsbridge-tests --test spec_software_pg` (not in
//! ci/test: its cost is in docs/CONFORMANCE.md).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

kmsbridge_tests::spec_suite!(spec_software_pg, kmsbridge_tests::env::software_on_postgres());
