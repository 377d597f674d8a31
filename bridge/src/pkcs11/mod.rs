//! The PKCS#11 node backend: a vendor library (or SoftHSM2) token reached through
//! a pool of logged-in sessions.

mod calls;
mod discover;
mod fixups;
mod host;
mod kinds;
mod library;
mod material_check;
mod node;
mod oaep;
mod op;
mod pool;
mod prehash;
mod reauth;
mod softhsm26;
mod truncate;
mod unwrap;

pub use library::Library;
pub use node::{Node, NodeConfig};
pub use unwrap::EPHEMERAL_LABEL;

use std::sync::atomic::{AtomicBool, Ordering};

static FORKED: AtomicBool = AtomicBool::new(false);

/// Called in a child after fork(): libraries loaded by the parent are forgotten and
/// re-initialised on next use, as the spec asks of a child that calls C_Initialize.
pub fn after_fork_in_child() {
    FORKED.store(true, Ordering::SeqCst);
    Library::forget_all_after_fork();
}

pub(crate) fn forked() -> bool {
    FORKED.load(Ordering::SeqCst)
}
