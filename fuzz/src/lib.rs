//! Coverage-guided fuzzing of libkmsbridge's C ABI (docs/FUZZING.md).
//!
//! A fuzz input is a small program of PKCS#11 calls (`exec`), with templates,
//! mechanisms and buffers of every shape (`values`), run in-process against the
//! module's own function list over a software or a hardware instance (`rig`). The
//! AFL++ target is `src/bin/p11fuzz.rs`; `p11run` prepares instances and replays
//! inputs without AFL (the CI replay and the leak check use it).

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod exec;
pub mod fixtures;
pub mod input;
pub mod mech;
pub mod misc;
pub mod replay;
pub mod rig;
pub mod seeds;
pub mod values;

/// True when `KMSBRIDGE_FUZZ_TRACE` is set: every call and its return code go to
/// standard error (to read what an input does; never set while fuzzing).
pub fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("KMSBRIDGE_FUZZ_TRACE").is_some())
}

/// Reports a broken contract and aborts, so that AFL records the input as a crash.
pub fn fail(why: &str) -> ! {
    eprintln!("kmsbridge-fuzz: {why}");
    std::process::abort()
}

/// Resident set size of this process in KiB (Linux), for the leak check.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
