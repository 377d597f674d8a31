//! The AFL++ target: `p11fuzz DIR`, DIR made by `p11run prepare KIND DIR` (and
//! DIR.cmplog likewise).
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
    let mut dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| fail("usage: p11fuzz DIR"));
    // AFL++ (as cargo afl fuzz runs it, -c0) runs a second, CMPLOG process of this
    // binary beside the fuzzing one: it gets an instance of its own (DIR.cmplog, made
    // by fuzz/run), so that neither sees the other's sessions, logins and objects.
    if std::env::var_os("__AFL_CMPLOG_SHM_ID").is_some() {
        dir.push_str(".cmplog");
    }
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
