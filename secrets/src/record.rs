//! The stored form of a secret: one TOML record per secret (the provider keeps it as a
//! hidden data object), with a format version. Values inside are sealed
//! ([`crate::envelope`]); the record holds no plaintext and no data key in clear.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SecretError};
use crate::Secret;

/// The record format this crate writes.
pub const RECORD_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Record {
    format: u32,
    secret: Secret,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

/// Serializes a secret.
pub fn to_record(secret: &Secret) -> Result<String> {
    toml::to_string(&Record {
        format: RECORD_FORMAT,
        secret: secret.clone(),
    })
    .map_err(|e| SecretError::Record(e.to_string()))
}

/// Reads a record, refusing other formats and records that break the invariants.
pub fn from_record(text: &str) -> Result<Secret> {
    let f: FormatOnly = toml::from_str(text)
        .map_err(|e| SecretError::Record(format!("no format field: {}", e.message())))?;
    if f.format != RECORD_FORMAT {
        return Err(SecretError::Record(format!(
            "record format {} is not supported (this build reads {RECORD_FORMAT})",
            f.format
        )));
    }
    let r: Record =
        toml::from_str(text).map_err(|e| SecretError::Record(e.message().to_owned()))?;
    r.secret.check()?;
    Ok(r.secret)
}
