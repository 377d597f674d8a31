//! The conformance suite through libkmsbridge.so on a software instance (keys
//! in-module, in the durable store). Build first: `cargo build --release`.
//! Run with `cargo nextest run -p kmsbridge-tests conformance_software`.

kmsbridge_tests::conformance_suite!(conformance_software, kmsbridge_tests::Target::Software);
