//! Errors of writing and reading the trail (verification has its own, [`crate::Broken`]).

use std::path::{Path, PathBuf};

/// The trail could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("audit trail {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The last record of the trail cannot be read, so the chain cannot go on; the
    /// writer refuses to append rather than start a second chain.
    #[error("audit trail {path}: the last record cannot be read: {why}")]
    Tail { path: PathBuf, why: String },
    /// A value that cannot go into a record (a bad name, a control character, an entry
    /// that claims to be a checkpoint).
    #[error("audit: {0}")]
    Invalid(String),
    /// The signer could not sign a checkpoint, or the head sink refused it.
    #[error("audit checkpoint: {0}")]
    Checkpoint(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn tail(path: &Path, why: String) -> Self {
        Self::Tail {
            path: path.to_path_buf(),
            why,
        }
    }
}
