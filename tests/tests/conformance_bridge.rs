//! The conformance suite through libkmsbridge.so (build it first:
//! `cargo build --release -p kmsbridge`).
//! Run with `cargo nextest run -p kmsbridge-tests conformance_bridge`.

kmsbridge_tests::conformance_suite!(conformance_bridge, kmsbridge_tests::Target::Bridge);
