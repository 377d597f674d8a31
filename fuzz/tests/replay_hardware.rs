//! The committed fuzz corpus (seeds and regression inputs) replayed against a
//! hardware instance over SoftHSM2 without AFL.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kmsbridge_fuzz::{replay, rig, seeds};

#[test]
fn corpus_replays_clean_on_a_hardware_instance() {
    let runs = replay::replay(rig::Kind::Hardware, 3).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        runs >= 3 * seeds::all().len(),
        "only {runs} runs: is fuzz/corpus/seed there?"
    );
}
