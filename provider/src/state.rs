//! The process-global provider: created by C_Initialize, dropped by C_Finalize,
//! forgotten in a child after fork().

use crate::config::Config;
use crate::error::{rule, Error, Result};
use crate::provider::Provider;
use cryptoki_sys::*;
use parking_lot::lock_api::RawRwLock as _;
use parking_lot::RwLock;
use std::cell::RefCell;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// The generation of STATE: bumped by every C_Initialize and C_Finalize.
static GEN: AtomicU64 = AtomicU64::new(0);

/// Each thread's view of the provider. The hot path reads GEN (a line no call
/// writes) and this thread-local: no shared atomic is written per call.
#[derive(Default)]
struct Cache {
    gen: u64,
    provider: Option<Arc<Provider>>,
    /// Providers replaced while a `ProviderRef` of this thread was alive; freed once
    /// none is.
    retired: Vec<Arc<Provider>>,
    live: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The provider for the length of one call on this thread.
pub struct ProviderRef {
    p: NonNull<Provider>,
    /// This thread's cache, which keeps the provider alive; a raw pointer so that
    /// dropping the reference needs no second thread-local lookup. Also makes the
    /// reference neither Send nor Sync.
    cache: *const RefCell<Cache>,
}

impl Deref for ProviderRef {
    type Target = Provider;
    fn deref(&self) -> &Provider {
        // SAFETY: the pointee is owned by an Arc in this thread's cache (current or
        // retired), which is not released while any ProviderRef of the thread lives.
        unsafe { self.p.as_ref() }
    }
}

impl Drop for ProviderRef {
    fn drop(&mut self) {
        // SAFETY: the cache is this thread's thread-local, alive while the thread runs,
        // and a ProviderRef never leaves its thread.
        let cell = unsafe { &*self.cache };
        let mut c = cell.borrow_mut();
        c.live -= 1;
        if c.live == 0 && !c.retired.is_empty() {
            let retired = std::mem::take(&mut c.retired);
            drop(c);
            drop(retired);
        }
    }
}

/// The provider, or CKR_CRYPTOKI_NOT_INITIALIZED (also in a forked child).
pub fn get() -> Result<ProviderRef> {
    if FORKED.load(Ordering::Relaxed) {
        return rule(
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "forked child must call C_Initialize",
        );
    }
    let gen = GEN.load(Ordering::Acquire);
    let found = CACHE.try_with(|cell| {
        let mut c = cell.borrow_mut();
        if c.gen != gen || c.provider.is_none() {
            let current = STATE.read().clone();
            if let Some(old) = c.provider.take() {
                c.retired.push(old);
            }
            c.gen = gen;
            c.provider = current;
        }
        let p = c.provider.as_deref().map(NonNull::from);
        if p.is_some() {
            c.live += 1;
        }
        if c.live == 0 {
            c.retired.clear();
        }
        p.map(|p| (p, cell as *const RefCell<Cache>))
    });
    match found {
        Ok(Some((p, cache))) => Ok(ProviderRef { p, cache }),
        _ => rule(
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "C_Initialize has not been called",
        ),
    }
}

/// Build the provider from the configuration and start its backends
/// (`start::start_backends`). In a forked child, the same, afresh.
pub fn initialize() -> Result<()> {
    ATFORK.call_once(|| {
        // SAFETY: registering plain extern "C" functions with no captured state.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    });
    // Before the application's exit handlers registered from now on: see `finalize`.
    kmsbridge_bridge::exit::watch();
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
    let provider = Arc::new(Provider::new(&cfg)?);
    tracing::info!(
        instances = provider.instances.len(),
        "kmsbridge initialised"
    );
    *st = Some(provider.clone());
    GEN.fetch_add(1, Ordering::AcqRel);
    // Other threads may use the module while its backends start: they wait for the
    // same connections.
    drop(st);
    crate::start::start_backends(&provider, &cfg);
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
        None => Ok(Config::embedded()),
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
    GEN.fetch_add(1, Ordering::AcqRel);
    if kmsbridge_bridge::exit::exiting() {
        // From an exit handler (OpenSSL 3's pkcs11 provider finalises from its own):
        // backend libraries and this thread's locals may be torn down already. Touch
        // nothing; the process is ending, so the provider is leaked, never dropped.
        // Key-use counts not yet written (docs/AUDIT.md) are lost with it.
        return match old {
            Some(p) => {
                std::mem::forget(p);
                Ok(())
            }
            None => rule(
                CKR_CRYPTOKI_NOT_INITIALIZED,
                "C_Finalize before C_Initialize",
            ),
        };
    }
    match old {
        // Sessions end and backends disconnect now; calls still in flight on other
        // threads finish on what they hold, and threads drop their cached reference
        // on their next call.
        Some(p) => {
            p.close_everything();
            for i in &p.instances {
                i.audit.finish();
            }
            p.shutdown_backends();
            Ok(())
        }
        None => rule(
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "C_Finalize before C_Initialize",
        ),
    }
}

/// CKR_OK when initialised: for functions that only need to say so.
pub fn check() -> Result<()> {
    get().map(drop)
}
