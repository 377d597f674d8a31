//! The process-global provider: created by C_Initialize, dropped by C_Finalize,
//! forgotten in a child after fork().

use crate::config::Config;
use crate::error::{rule, Error, Result};
use crate::provider::Provider;
use cryptoki_sys::*;
use parking_lot::lock_api::RawRwLock as _;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

static STATE: RwLock<Option<Arc<Provider>>> = RwLock::new(None);
static FORKED: AtomicBool = AtomicBool::new(false);
static ATFORK: Once = Once::new();

extern "C" fn fork_prepare() {
    // Hold the state lock across fork() so the child never inherits it half-taken.
    // SAFETY: released in fork_parent / fork_child, which always follow.
    unsafe { STATE.raw().lock_exclusive() };
}

extern "C" fn fork_parent() {
    // SAFETY: taken by fork_prepare in this thread.
    unsafe { STATE.raw().unlock_exclusive() };
}

extern "C" fn fork_child() {
    FORKED.store(true, Ordering::SeqCst);
    // SAFETY: taken by fork_prepare before fork(); the child's copy is ours to release.
    unsafe { STATE.raw().unlock_exclusive() };
}

/// The provider, or CKR_CRYPTOKI_NOT_INITIALIZED (also in a forked child).
pub fn get() -> Result<Arc<Provider>> {
    if FORKED.load(Ordering::Relaxed) {
        return rule(
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "forked child must call C_Initialize",
        );
    }
    STATE.read().clone().ok_or(Error::Rule {
        rv: CKR_CRYPTOKI_NOT_INITIALIZED,
        why: "C_Initialize has not been called",
    })
}

/// Build the provider from the configuration. Does no backend I/O.
pub fn initialize() -> Result<()> {
    ATFORK.call_once(|| {
        // SAFETY: registering plain extern "C" functions with no captured state.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    });
    let mut st = STATE.write();
    if FORKED.swap(false, Ordering::SeqCst) {
        // The parent's state and backend sessions are not ours: leave them untouched.
        if let Some(old) = st.take() {
            std::mem::forget(old);
        }
        kmsbridge_bridge::pkcs11::after_fork_in_child();
    }
    if st.is_some() {
        return rule(
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
            "C_Initialize called twice",
        );
    }
    let cfg = load_config()?;
    crate::log::init(&cfg.log);
    let provider = Provider::new(&cfg)?;
    tracing::info!(
        instances = provider.instances.len(),
        "kmsbridge initialised"
    );
    *st = Some(Arc::new(provider));
    Ok(())
}

fn load_config() -> Result<Config> {
    match std::env::var_os("KMSBRIDGE_CONF") {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            Config::load(&path).map_err(|e| {
                // No subscriber may exist yet: say it on stderr as well as in the log.
                eprintln!("kmsbridge: bad configuration: {e}");
                tracing::error!("bad configuration: {e}");
                Error::Config(e)
            })
        }
        None => Ok(Config::default()),
    }
}

pub fn finalize() -> Result<()> {
    if FORKED.load(Ordering::Relaxed) {
        return rule(
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "forked child must call C_Initialize",
        );
    }
    let old = STATE.write().take();
    match old {
        // Dropped here: sessions end and backends disconnect once in-flight calls finish.
        Some(p) => {
            p.close_everything();
            Ok(())
        }
        None => rule(
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "C_Finalize before C_Initialize",
        ),
    }
}
