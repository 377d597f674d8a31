//! Provider errors: every one maps to the `CK_RV` the application sees.

use cryptoki_sys::CK_RV;
pub use kmsbridge_bridge::error::rv_name;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PKCS#11 rule refused the call; the text says which.
    #[error("{}: {why}", rv_name(*.rv))]
    Rule { rv: CK_RV, why: &'static str },
    #[error(transparent)]
    Backend(#[from] kmsbridge_bridge::Error),
    #[error("{0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn ck_rv(&self) -> CK_RV {
        match self {
            Error::Rule { rv, .. } => *rv,
            Error::Backend(e) => e.ck_rv(),
            Error::Config(_) => cryptoki_sys::CKR_GENERAL_ERROR,
        }
    }

    /// The length a `CKR_BUFFER_TOO_SMALL` answer reports, if this is one.
    pub fn needed_len(&self) -> Option<usize> {
        match self {
            Error::Backend(kmsbridge_bridge::Error::BufferTooSmall(n)) => Some(*n),
            _ => None,
        }
    }
}

/// Refuse with a spec code and a short reason for the log.
pub(crate) fn rule<T>(rv: CK_RV, why: &'static str) -> Result<T> {
    Err(Error::Rule { rv, why })
}
