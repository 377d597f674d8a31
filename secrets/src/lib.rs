//! Secrets Manager model for kmsbridge (issue 13): versioned, staged secrets whose
//! values are envelope-encrypted under a wrapping key (the instance's CMK), value
//! generation, SSH key formats and the backend-agnostic rotation state machine. Like
//! `kmsbridge-access`, it knows nothing of PKCS#11 sessions or storage: the provider
//! keeps one [`record`] per secret as a hidden object and implements [`KeyWrapper`]
//! with a CMK inside its backend. See docs/SECRETS.md.
//!
//! - [`Secret`] ([`secret`]): name ([`SecretName`]), [`SecretType`], description, tags,
//!   CMK id, versions ([`Version`], [`VersionId`]) with stages ([`Stage`]), deletion
//!   with a 7–30 day recovery window. Operations return [`SecretError`]s naming what is
//!   wrong.
//! - [`envelope`]: AES-256-GCM under a fresh data key per version, the data key wrapped
//!   by a [`KeyWrapper`].
//! - [`generate`]: generated values ([`GenerationSpec`]).
//! - [`ssh`]: OpenSSH private keys and `authorized_keys` lines.
//! - [`rotation`]: create → set → test → finish against a [`RotationTarget`].
//! - [`dbcred`]: database credentials as JSON ([`DbCredential`]).

mod b64;
pub mod dbcred;
mod der;
pub mod envelope;
mod error;
pub mod generate;
mod name;
pub mod record;
pub mod rotation;
pub mod secret;
pub mod ssh;
mod stage;
mod version;

pub use dbcred::{json_field, DbCredential};
pub use envelope::{KeyWrapper, LocalKeyWrapper, SealedValue};
pub use error::{Result, SecretError};
pub use generate::{GenerateTarget, GenerationSpec};
pub use name::{
    check_description, check_tags, SecretName, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, MAX_TAGS,
};
pub use record::{from_record, to_record, RECORD_FORMAT};
pub use rotation::{
    rotate, RotationError, RotationReport, RotationState, RotationStep, RotationTarget,
    TargetError, Values,
};
pub use secret::{Deletion, PutOutcome, Secret, SecretType, Selector, MAX_VERSIONS};
pub use stage::{Stage, MAX_STAGES_PER_VERSION};
pub use version::{Version, VersionId};
