//! Process exit. An application (or a library such as OpenSSL 3's pkcs11 provider) may
//! call `C_Finalize` from an exit handler that runs after the backend libraries' own
//! exit-time teardown (C++ static destructors, OpenSSL's cleanup): calling into them
//! then crashes. Exit handlers run in the reverse order of their registration, so the
//! module registers [`watch`]'s handler again after each backend library starts: it
//! then runs before any teardown registered so far, and marks the process as exiting.
//! From then on nothing calls into a backend library (`C_Finalize` leaks instead).

use std::sync::atomic::{AtomicBool, Ordering};

static EXITING: AtomicBool = AtomicBool::new(false);

extern "C" fn mark_exiting() {
    EXITING.store(true, Ordering::SeqCst);
}

/// (Re-)registers the exit handler that marks the process as exiting. Call it at
/// `C_Initialize` and right after a backend library is loaded and initialised. Each call
/// adds one small entry to the C library's exit list: calls must stay rare.
pub fn watch() {
    // SAFETY: registers a plain extern "C" function that only stores to a static; it
    // stays valid as long as this library is mapped (an unload runs it first).
    let rv = unsafe { libc::atexit(mark_exiting) };
    if rv != 0 {
        tracing::warn!("atexit failed: C_Finalize at exit may call into torn-down backends");
    }
}

/// True once the process has begun exiting (`exit()` or a return from `main`).
pub fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
}
