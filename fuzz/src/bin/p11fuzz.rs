//! The AFL++ target: `p11fuzz DIR`, DIR made by `p11run prepare KIND DIR`.
//! Persistent mode: one process runs programs until AFL restarts it; the module is
//! initialised once per process, in the process AFL forked (never before the fork).

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kmsbridge_fuzz::{exec, fail, rig};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| fail("usage: p11fuzz DIR"));
    let (user, so) = rig::load(std::path::Path::new(&dir)).unwrap_or_else(|e| fail(&e));
    let mut ctx = None;
    afl::fuzz!(|data: &[u8]| {
        if ctx.is_none() {
            ctx = Some(rig::start(user.clone(), so.clone()).unwrap_or_else(|e| fail(&e)));
        }
        if let Some(c) = ctx.as_mut() {
            if let Err(e) = exec::run(c, data) {
                fail(&e);
            }
        }
    });
}
