//! Version ids and versions.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::envelope::SealedValue;
use crate::error::{random, Result, SecretError};
use crate::Stage;

/// A version id: 1-64 of `[A-Za-z0-9-]`. Generated ids are random UUIDs (version 4);
/// a caller may bring its own (AWS's `ClientRequestToken`), which makes a put
/// idempotent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VersionId(String);

impl VersionId {
    /// Checks a caller's version id.
    pub fn new(id: &str) -> Result<Self> {
        let bad = |reason| SecretError::InvalidVersionId {
            id: id.to_owned(),
            reason,
        };
        if id.is_empty() || id.len() > 64 {
            return Err(bad("must be 1-64 characters"));
        }
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad("only A-Z a-z 0-9 and - are allowed"));
        }
        Ok(Self(id.to_owned()))
    }

    /// A fresh random UUID (version 4) from the OS generator.
    pub fn random() -> Result<Self> {
        let mut b = [0u8; 16];
        random(&mut b)?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or_default().to_owned();
        Ok(Self(format!(
            "{}-{}-{}-{}-{}",
            part(0..8),
            part(8..12),
            part(12..16),
            part(16..20),
            part(20..32)
        )))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for VersionId {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self> {
        Self::new(&s)
    }
}

impl From<VersionId> for String {
    fn from(v: VersionId) -> String {
        v.0
    }
}

/// One version of a secret: its id, when it was made, its stages and its sealed value.
/// A version without stages is *deprecated* and the first to be evicted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The version id.
    pub id: VersionId,
    /// Unix seconds when it was put.
    pub created: u64,
    /// Its stages (possibly none).
    #[serde(default)]
    pub stages: BTreeSet<Stage>,
    /// The value, envelope-encrypted.
    pub sealed: SealedValue,
}

impl Version {
    /// Whether the version carries `stage`.
    pub fn has(&self, stage: &Stage) -> bool {
        self.stages.contains(stage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_uuids() {
        let a = VersionId::random().unwrap();
        let b = VersionId::random().unwrap();
        assert_ne!(a, b);
        let s = a.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!("89ab".contains(&s[19..20]));
        VersionId::new(s).unwrap();
        assert!(VersionId::new("a b").is_err());
        assert!(VersionId::new(&"a".repeat(65)).is_err());
    }
}
