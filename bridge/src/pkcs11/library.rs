//! One loaded vendor PKCS#11 library per path, initialised once with
//! `CKF_OS_LOCKING_OK` and finalised when its last user goes.

use super::host;
use crate::error::{check, Error, Result};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

pub struct Library {
    path: PathBuf,
    fl: *const CK_FUNCTION_LIST,
    /// False when the application had initialised the library itself: not ours to finalise.
    owns_init: bool,
    /// Serialises re-initialisations of this library (`reinitialize`).
    reinit: Mutex<()>,
    /// In the registry: only then does dropping it look there. A load that fails is
    /// dropped inside `get`, which holds the registry's lock.
    registered: bool,
    /// Closed on drop, except during process exit (see `crate::exit`): never dlclose then.
    lib: ManuallyDrop<libloading::Library>,
}

// SAFETY: the function list is immutable for the library's lifetime and the library
// was initialised with CKF_OS_LOCKING_OK, so its functions may be called from any thread.
unsafe impl Send for Library {}
// SAFETY: as above; we only read through `fl`.
unsafe impl Sync for Library {}

static LIBRARIES: Mutex<Option<HashMap<PathBuf, Weak<Library>>>> = Mutex::new(None);

/// `dlopen` flags for a vendor library: resolved now, its symbols kept out of the global
/// scope, and on glibc `RTLD_DEEPBIND`, so the library's references to its own functions
/// bind to itself rather than to a same-named export (`C_GetFunctionList`, OpenSSL's
/// symbols) of kmsbridge, the application or another module already loaded.
/// `RTLD_DEEPBIND` defeats interposers that rely on the global scope (AddressSanitizer's
/// allocator, `LD_PRELOAD` wrappers); `KMSBRIDGE_DEEPBIND=0` turns it off for them.
fn open_flags() -> std::ffi::c_int {
    let base = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let off = std::env::var_os("KMSBRIDGE_DEEPBIND").is_some_and(|v| v == "0");
        if !off {
            return base | libc::RTLD_DEEPBIND;
        }
    }
    base
}

impl Library {
    /// The shared, initialised library at `path`.
    pub fn get(path: &Path) -> Result<Arc<Library>> {
        let mut guard = LIBRARIES.lock();
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(lib) = map.get(path).and_then(Weak::upgrade) {
            return Ok(lib);
        }
        let mut lib = Library::load(path)?;
        lib.registered = true;
        let lib = Arc::new(lib);
        map.insert(path.to_path_buf(), Arc::downgrade(&lib));
        Ok(lib)
    }

    /// In a child after fork(): forget the parent's libraries without touching them
    /// (their sessions belong to the parent); the next `get` initialises afresh.
    pub fn forget_all_after_fork() {
        // A parent thread loading a library when fork() struck (a cluster probe, the
        // start-up thread) left the registry locked, and no thread of the child owns
        // it: before the child's C_Initialize, none of ours runs here.
        let mut guard = match LIBRARIES.try_lock() {
            Some(g) => g,
            None => {
                // SAFETY: the holder was a thread of the parent, absent in the child.
                unsafe { LIBRARIES.force_unlock() };
                LIBRARIES.lock()
            }
        };
        if let Some(map) = guard.as_mut() {
            for (_, weak) in map.drain() {
                if let Some(lib) = weak.upgrade() {
                    std::mem::forget(lib);
                }
            }
        }
    }

    fn load(path: &Path) -> Result<Library> {
        let unavailable = |what: String| Error::Unavailable(format!("{}: {what}", path.display()));
        // Loading may bring libcrypto in, and its initialisers (or C_Initialize below)
        // may queue errors: look for libcrypto before and after (docs/HOST_PROCESS.md).
        host::find_libcrypto();
        // SAFETY: loading a PKCS#11 library runs its initialisers; that is what the
        // configuration asked for.
        let lib = host::around(|| unsafe {
            libloading::os::unix::Library::open(Some(path), open_flags())
        })
        .map_err(|e| unavailable(e.to_string()))?;
        let lib = libloading::Library::from(lib);
        if host::find_libcrypto() {
            host::clear_errors();
        }
        // SAFETY: C_GetFunctionList has this signature in every PKCS#11 library.
        let get: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
            unsafe { lib.get(b"C_GetFunctionList\0") }
                .map_err(|e| unavailable(format!("no C_GetFunctionList: {e}")))?;
        let mut fl: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: `fl` is a valid out-pointer.
        let rv = host::around(|| unsafe { get(&mut fl) });
        if rv != CKR_OK || fl.is_null() {
            return Err(unavailable(format!("C_GetFunctionList returned 0x{rv:x}")));
        }
        let mut lib = Library {
            path: path.to_path_buf(),
            fl,
            owns_init: true,
            reinit: Mutex::new(()),
            registered: false,
            lib: ManuallyDrop::new(lib),
        };
        let mut rv = lib.initialize();
        if rv == CKR_CRYPTOKI_ALREADY_INITIALIZED {
            // The application (or a forked parent's copy) initialised it already.
            if crate::pkcs11::forked() {
                let _ = lib.finalize();
                rv = lib.initialize();
            } else {
                lib.owns_init = false;
                rv = CKR_OK;
            }
        }
        if host::find_libcrypto() {
            host::clear_errors();
        }
        check(rv, "C_Initialize").map_err(|e| unavailable(e.to_string()))?;
        // The library's start may have registered its exit-time teardown: ours must run
        // before it (crate::exit).
        crate::exit::watch();
        tracing::debug!(library = %path.display(), "backend library initialised");
        Ok(lib)
    }

    /// `C_Finalize` then `C_Initialize` of this library alone: what brings back a
    /// node whose transport was lost (a p11-kit client stays `CKR_DEVICE_ERROR` after
    /// its server returns until re-initialised). Every session of the library is gone
    /// afterwards and its handles may be reused: callers must have forgotten them.
    /// A library the application initialised itself is not ours to finalise: a no-op.
    pub fn reinitialize(&self) -> Result<()> {
        if !self.owns_init {
            return Ok(());
        }
        let _g = self.reinit.lock();
        let _ = self.finalize();
        let rv = match self.initialize() {
            CKR_CRYPTOKI_ALREADY_INITIALIZED => CKR_OK,
            rv => rv,
        };
        check(rv, "C_Initialize")
            .map_err(|e| Error::Unavailable(format!("{}: {e}", self.path.display())))?;
        crate::exit::watch();
        tracing::info!(library = %self.path.display(), "backend library re-initialised");
        Ok(())
    }

    /// One call into the library. `entry` picks the function from the library's
    /// list; `call` calls it, in the caller's own `unsafe` block whose SAFETY line
    /// says which buffers and lengths that function may touch. A NULL entry answers
    /// `CKR_FUNCTION_NOT_SUPPORTED` without calling. The one way into a vendor
    /// library: the calling thread's error queue and signals are kept (`host`).
    #[inline]
    pub(crate) fn call<F>(
        &self,
        entry: impl FnOnce(&CK_FUNCTION_LIST) -> Option<F>,
        call: impl FnOnce(F) -> CK_RV,
    ) -> CK_RV {
        // Once the process exits, the library's teardown may have run (crate::exit):
        // an application thread still calling gets an error, not a crash.
        if crate::exit::exiting() {
            return CKR_DEVICE_ERROR;
        }
        match entry(self.functions()) {
            Some(f) => host::around(|| call(f)),
            None => CKR_FUNCTION_NOT_SUPPORTED,
        }
    }

    fn functions(&self) -> &CK_FUNCTION_LIST {
        // SAFETY: `fl` was returned non-NULL by C_GetFunctionList and stays valid
        // while `lib` is loaded.
        unsafe { &*self.fl }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Library {
    /// `C_Initialize` with `CKF_OS_LOCKING_OK`: the library may be called from any thread.
    fn initialize(&self) -> CK_RV {
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: std::ptr::null_mut(),
        };
        self.call(
            |l| l.C_Initialize,
            // SAFETY: the library reads `args`, which lives for the call, and keeps
            // no pointer into it (no mutex callbacks, pReserved NULL).
            |f| unsafe { f(std::ptr::from_mut(&mut args).cast()) },
        )
    }

    fn finalize(&self) -> CK_RV {
        self.call(
            |l| l.C_Finalize,
            // SAFETY: pReserved is NULL, as the spec requires; no buffer is passed.
            |f| unsafe { f(std::ptr::null_mut()) },
        )
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        if crate::exit::exiting() {
            // The library may be torn down already: neither finalise nor unload it.
            return;
        }
        if self.owns_init {
            let _ = self.finalize();
        }
        // SAFETY: dropped once, here, and `fl` (into the library) is not used after.
        unsafe { ManuallyDrop::drop(&mut self.lib) };
        if !self.registered {
            return;
        }
        if let Some(map) = LIBRARIES.lock().as_mut() {
            if map.get(&self.path).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.path);
            }
        }
    }
}
