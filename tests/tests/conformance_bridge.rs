//! The conformance suite through libkmsbridge.so (build it first:
//! `cargo build --release -p kmsbridge`).
//! Run with `cargo nextest run -p kmsbridge-tests conformance_bridge`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

// Cases whose SoftHSM2 deviation kmsbridge cannot mend run as
// `conformance_bridge::forwarded_shNN::<case>` (tests/DEVIATIONS.md, "Forwarded by kmsbridge").
kmsbridge_tests::conformance_suite!(
    conformance_bridge,
    kmsbridge_tests::Target::Bridge,
    forwarding
);
