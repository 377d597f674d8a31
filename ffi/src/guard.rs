//! The one choke point between the C ABI and the provider: a panic becomes
//! CKR_GENERAL_ERROR, an error becomes its CK_RV, and a failing call is logged
//! once with its function, code and cause.

use cryptoki_sys::{CKR_BUFFER_TOO_SMALL, CKR_GENERAL_ERROR, CKR_OK, CK_RV};
use kmsbridge_provider::error::{rv_name, Error, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub fn guard(func: &'static str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    // The application's errno is left as found (docs/HOST_PROCESS.md): the module's
    // own syscalls and the vendor libraries' set it freely.
    let _errno = KeepErrno::new();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            let rv = e.ck_rv();
            log_failure(func, rv, &e);
            rv
        }
        Err(_) => {
            tracing::error!(
                func,
                "panic caught at the C ABI; answering CKR_GENERAL_ERROR"
            );
            CKR_GENERAL_ERROR
        }
    }
}

fn log_failure(func: &'static str, rv: CK_RV, e: &Error) {
    // Expected flows (length answers, a missing object) are debug; the rest warn.
    let quiet = rv == CKR_BUFFER_TOO_SMALL || matches!(e, Error::Rule { .. });
    if quiet {
        tracing::debug!(func, rv = %rv_name(rv), "{e}");
    } else {
        tracing::warn!(func, rv = %rv_name(rv), "{e}");
    }
}

/// A provider error with just a code, for argument checks at the boundary.
pub fn bad(rv: CK_RV, why: &'static str) -> Error {
    Error::Rule { rv, why }
}

/// Restores the thread's errno on drop, after everything the call did (logging too).
struct KeepErrno(libc::c_int);

impl KeepErrno {
    fn new() -> KeepErrno {
        // SAFETY: the thread's errno location is valid for the thread's life.
        KeepErrno(unsafe { *errno() })
    }
}

impl Drop for KeepErrno {
    fn drop(&mut self) {
        // SAFETY: as in `new`, on the same thread.
        unsafe { *errno() = self.0 };
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno() -> *mut libc::c_int {
    // SAFETY: no preconditions; returns this thread's errno location.
    unsafe { libc::__errno_location() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn errno() -> *mut libc::c_int {
    // SAFETY: no preconditions; returns this thread's errno location.
    unsafe { libc::__error() }
}
