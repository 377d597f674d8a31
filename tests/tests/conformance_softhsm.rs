//! The conformance suite directly against SoftHSM2 (the reference run).
//! Run with `cargo nextest run -p kmsbridge-tests conformance_softhsm`.

kmsbridge_tests::conformance_suite!(conformance_softhsm, kmsbridge_tests::Target::SoftHsm);
