//! Raw access to a loaded module's function list, for calls the `cryptoki` crate
//! cannot make (NULL pointers, short buffers, bogus handles, C_GetObjectSize).
//!
//! The library is opened a second time with `dlopen`, which returns the same
//! loaded instance, so raw calls share the state `cryptoki` initialised.

use cryptoki::error::Rv;
use cryptoki_sys::{CK_FUNCTION_LIST, CK_FUNCTION_LIST_PTR, CK_RV};
use std::path::Path;

/// The module's `CK_FUNCTION_LIST`, as returned by `C_GetFunctionList`.
pub struct Raw {
    _lib: cryptoki_sys::Pkcs11,
    list: CK_FUNCTION_LIST_PTR,
}

// SAFETY: `list` points to the module's immutable function table, which lives as long as
// the library stays loaded (`_lib`); after C_Initialize with CKF_OS_LOCKING_OK the module's
// functions may be called from any thread.
unsafe impl Send for Raw {}
// SAFETY: as above; the table is only read.
unsafe impl Sync for Raw {}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raw").field("list", &self.list).finish()
    }
}

impl Raw {
    /// Opens `path` and asks it for its function list.
    pub fn open(path: &Path) -> Raw {
        // SAFETY: loading a PKCS#11 module runs its constructors; that is what we test.
        let lib = unsafe { cryptoki_sys::Pkcs11::new(path) }
            .unwrap_or_else(|e| panic!("dlopen {}: {e}", path.display()));
        let get = *lib
            .C_GetFunctionList
            .as_ref()
            .unwrap_or_else(|e| panic!("{} has no C_GetFunctionList: {e}", path.display()));
        let mut list: CK_FUNCTION_LIST_PTR = std::ptr::null_mut();
        // SAFETY: valid out pointer.
        let rv = unsafe { get(&mut list) };
        assert_eq!(rv, cryptoki_sys::CKR_OK, "C_GetFunctionList failed: {:?}", Rv::from(rv));
        assert!(!list.is_null(), "C_GetFunctionList returned a NULL list");
        Raw { _lib: lib, list }
    }

    /// The library as `dlopen`ed, for symbols outside the function list
    /// (`C_GetInterfaceList`, `C_GetInterface`).
    pub fn lib(&self) -> &cryptoki_sys::Pkcs11 {
        &self._lib
    }

    /// The function table. Entries are `Option`s; [`crate::ck!`] unwraps them.
    pub fn list(&self) -> &CK_FUNCTION_LIST {
        // SAFETY: the module keeps its table alive while it is loaded, and `_lib` keeps it loaded.
        unsafe { &*self.list }
    }
}

/// A return code in readable form (`Rv::Ok` or `Rv::Error(RvError::...)`).
pub fn rv(code: CK_RV) -> Rv {
    Rv::from(code)
}

/// Calls a raw entry point: `ck!(env, C_Encrypt, h, data, len, out, &mut out_len)`.
/// Evaluates to the readable [`Rv`]. A NULL table entry fails the test.
#[macro_export]
macro_rules! ck {
    ($env:expr, $func:ident $(, $arg:expr)* $(,)?) => {{
        let f = $env
            .raw
            .list()
            .$func
            .unwrap_or_else(|| panic!(concat!(stringify!($func), " is NULL in the function list")));
        #[allow(unused_unsafe, clippy::macro_metavars_in_unsafe)]
        // SAFETY: the caller passes pointers valid for the call, or deliberately bad ones
        // the module must reject without touching.
        let code = unsafe { f($($arg),*) };
        $crate::raw::rv(code)
    }};
}
