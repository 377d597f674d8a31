//! The conformance suite through libkmsbridge.so on a software instance whose store is
//! a PostgreSQL database (docs/POSTGRES_STORE.md): the same cases as
//! `conformance_software`, each rig with its own throw-away server. Build first:
//! `cargo build --release`. Run with `cargo nextest run -p kmsbridge-tests conformance_software_pg`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

kmsbridge_tests::conformance_suite!(
    conformance_software_pg,
    kmsbridge_tests::env::software_on_postgres()
);
