//! The PKCS#11 code of a `cryptoki` call's result, for assertions.

use cryptoki::error::{Error, RvError};
use std::fmt::Debug;

/// The PKCS#11 code of a failed `cryptoki` call. Panics if it succeeded.
#[track_caller]
pub fn err_of<T: Debug>(r: cryptoki::error::Result<T>) -> RvError {
    match r {
        Err(Error::Pkcs11(code, _)) => code,
        Err(other) => panic!("expected a PKCS#11 error code, got {other:?}"),
        Ok(v) => panic!("expected a PKCS#11 error, call succeeded with {v:?}"),
    }
}

/// `Ok(())` or the PKCS#11 code of a `cryptoki` call, for comparisons.
pub fn code_of<T>(r: &cryptoki::error::Result<T>) -> Result<(), RvError> {
    match r {
        Ok(_) => Ok(()),
        Err(Error::Pkcs11(code, _)) => Err(*code),
        Err(other) => panic!("expected a PKCS#11 result, got {other:?}"),
    }
}

/// The PKCS#11 code of a failed call; `None` when it succeeded (or failed outside
/// PKCS#11), for counting failures under load.
pub fn rv_of<T>(r: &cryptoki::error::Result<T>) -> Option<RvError> {
    match r {
        Err(Error::Pkcs11(rv, _)) => Some(*rv),
        _ => None,
    }
}
