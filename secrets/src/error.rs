//! Typed errors: each names what is wrong, so the provider can map it to a CKR_* code
//! and the CLI can print it as is.

use crate::{Stage, VersionId};

/// What went wrong with a secret operation.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The secret name breaks the naming rules.
    #[error("invalid secret name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// A stage label breaks the naming rules.
    #[error("invalid stage {stage:?}: {reason}")]
    InvalidStage { stage: String, reason: &'static str },
    /// A version id is not 1-64 characters of [A-Za-z0-9-].
    #[error("invalid version id {id:?}: {reason}")]
    InvalidVersionId { id: String, reason: &'static str },
    /// A tag key or value, or the number of tags, is out of bounds.
    #[error("invalid tag {key:?}: {reason}")]
    InvalidTag { key: String, reason: &'static str },
    /// The description is longer than the limit.
    #[error("description is {len} characters, at most {max} allowed")]
    DescriptionTooLong { len: usize, max: usize },
    /// The value is empty or larger than the limit.
    #[error("secret value is {len} bytes, must be 1..={max}")]
    ValueSize { len: usize, max: usize },
    /// A different value was put under a version id that already exists.
    #[error("version {version} of secret {name} already exists with a different value")]
    VersionExists { name: String, version: VersionId },
    /// No version with that id.
    #[error("secret {name} has no version {version}")]
    VersionNotFound { name: String, version: VersionId },
    /// No version carries that stage.
    #[error("secret {name} has no version with stage {stage}")]
    StageNotFound { name: String, stage: Stage },
    /// A stage move named the wrong version to remove the stage from.
    #[error("stage {stage} of secret {name} is on version {actual}, not on {expected}")]
    StageNotOnVersion {
        name: String,
        stage: Stage,
        expected: VersionId,
        actual: VersionId,
    },
    /// A stage move would take a stage off a version without naming it.
    #[error("stage {stage} of secret {name} is on version {on}: name it as the version to remove it from")]
    StageAttached {
        name: String,
        stage: Stage,
        on: VersionId,
    },
    /// ACSCurrent must stay on exactly one version.
    #[error(
        "stage ACSCurrent of secret {name} can only be moved to another version, never removed"
    )]
    CurrentRemoved { name: String },
    /// A version would carry more stages than allowed.
    #[error("version {version} of secret {name} would carry more than {max} stages")]
    TooManyStages {
        name: String,
        version: VersionId,
        max: usize,
    },
    /// Every version is staged, so none can be evicted to make room.
    #[error("secret {name} has {max} versions and all carry a stage: remove a stage first")]
    TooManyVersions { name: String, max: usize },
    /// The secret is scheduled for deletion; restore it first.
    #[error("secret {name} is scheduled for deletion (after unix time {delete_after}); restore it first")]
    ScheduledForDeletion { name: String, delete_after: u64 },
    /// Restore of a secret not scheduled for deletion.
    #[error("secret {name} is not scheduled for deletion")]
    NotScheduledForDeletion { name: String },
    /// The recovery window is outside 7..=30 days.
    #[error("recovery window of {days} days: must be 7..=30")]
    RecoveryWindow { days: u32 },
    /// A rotation interval outside 1..=1000 days.
    #[error("rotation interval of {days} days: must be 1..=1000")]
    RotationInterval { days: u32 },
    /// The operation needs another secret type.
    #[error("secret {name} is of type {actual}, the operation needs {expected}")]
    WrongType {
        name: String,
        actual: &'static str,
        expected: &'static str,
    },
    /// The value was sealed under another wrapping key than the one offered.
    #[error("version {version} is wrapped under key {sealed_under}, not {offered}")]
    KeyMismatch {
        version: VersionId,
        sealed_under: String,
        offered: String,
    },
    /// Decryption or authentication failed: the record was altered or the key is wrong.
    #[error(
        "version {version} of secret {name} failed authentication (altered record or wrong key)"
    )]
    Tampered { name: String, version: VersionId },
    /// The wrapping key refused to wrap or unwrap a data key.
    #[error("data key wrapping failed: {0}")]
    Wrap(String),
    /// The OS random generator failed.
    #[error("random generator failed: {0}")]
    Random(String),
    /// A serialized record could not be read.
    #[error("secret record: {0}")]
    Record(String),
    /// A generation spec cannot produce a value.
    #[error("value generation: {0}")]
    Generation(String),
    /// Key material could not be turned into an OpenSSH key.
    #[error("ssh key: {0}")]
    Ssh(String),
    /// A database credential value is not the expected JSON.
    #[error("database credential: {0}")]
    Credential(String),
}

/// Result of the secrets model.
pub type Result<T, E = SecretError> = std::result::Result<T, E>;

pub(crate) fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| SecretError::Random(e.to_string()))
}
