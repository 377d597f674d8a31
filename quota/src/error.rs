//! Errors from reading a quota configuration and from opening the shared bucket file.

use std::path::PathBuf;

/// A quota configuration that cannot be used; each names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field whose value is out of range, e.g. `access_points.payments.symmetric.burst`.
    #[error("quota: {field}: {why}")]
    Field { field: String, why: String },
    /// The TOML text itself (its message names the field and the line).
    #[error("quota: {0}")]
    Toml(String),
}

/// The shared bucket file could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No directory for the file: none of `/dev/shm`, `$XDG_RUNTIME_DIR`, the temporary
    /// directory is usable.
    #[error("quota: no directory for the shared bucket file (tried /dev/shm, $XDG_RUNTIME_DIR, the temporary directory)")]
    NoDirectory,
    /// A system call on the file failed.
    #[error("quota: {path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    /// The file belongs to another user or others may read or write it; it is never used
    /// nor touched.
    #[error("quota: {path}: not ours: {why}")]
    NotOurs { path: PathBuf, why: String },
    /// The file is not a bucket file of this layout (bad magic, version, size, limits).
    /// [`crate::Quota::open`] replaces such a file; a read-only view reports it.
    #[error("quota: {path}: corrupt shared bucket file: {why}")]
    Corrupt { path: PathBuf, why: String },
}
