//! The committed fuzz corpus (seeds and regression inputs) replayed against a
//! software instance without AFL: no input breaks a contract or the harness.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kmsbridge_fuzz::{replay, rig, seeds};

#[test]
fn corpus_replays_clean_on_a_software_instance() {
    let runs = replay::replay(rig::Kind::Software, 3).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        runs >= 3 * seeds::all().len(),
        "only {runs} runs: is fuzz/corpus/seed there?"
    );
}

/// fuzz/corpus/seed is what `p11run seeds` writes today (regenerate it after changing
/// the input format or the seeds: `target/release/p11run seeds fuzz/corpus/seed`).
#[test]
fn committed_seeds_are_current() {
    for (name, bytes) in seeds::all() {
        let path = replay::corpus_dir().join("seed").join(name);
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            committed,
            bytes,
            "{} differs from seeds::all()",
            path.display()
        );
    }
}
