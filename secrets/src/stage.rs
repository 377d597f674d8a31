//! Staging labels: `ACSCurrent`, `ACSPrevious`, `ACSPending` and custom ones.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SecretError};

/// Most stages one version may carry (as AWS).
pub const MAX_STAGES_PER_VERSION: usize = 20;
/// Longest stage label.
pub const MAX_STAGE_LEN: usize = 256;

/// A staging label. A label is on at most one version of a secret at a time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Stage(String);

impl Stage {
    /// The version applications use; on exactly one version of every secret.
    pub const CURRENT: &'static str = "ACSCurrent";
    /// The version that was current before the last promotion.
    pub const PREVIOUS: &'static str = "ACSPrevious";
    /// The version a rotation is bringing in.
    pub const PENDING: &'static str = "ACSPending";

    /// A stage label: 1-256 printable ASCII characters without spaces. The AWS spellings
    /// `AWSCURRENT`, `AWSPREVIOUS` and `AWSPENDING` (any case) name the three system
    /// stages, so scripts written for AWS work.
    pub fn new(label: &str) -> Result<Self> {
        let bad = |reason| SecretError::InvalidStage {
            stage: label.to_owned(),
            reason,
        };
        if label.is_empty() || label.len() > MAX_STAGE_LEN {
            return Err(bad("must be 1-256 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("only printable ASCII without spaces"));
        }
        let canonical = match label.to_ascii_uppercase().as_str() {
            "AWSCURRENT" | "ACSCURRENT" => Self::CURRENT,
            "AWSPREVIOUS" | "ACSPREVIOUS" => Self::PREVIOUS,
            "AWSPENDING" | "ACSPENDING" => Self::PENDING,
            _ => label,
        };
        Ok(Self(canonical.to_owned()))
    }

    /// `ACSCurrent`.
    pub fn current() -> Self {
        Self(Self::CURRENT.to_owned())
    }

    /// `ACSPrevious`.
    pub fn previous() -> Self {
        Self(Self::PREVIOUS.to_owned())
    }

    /// `ACSPending`.
    pub fn pending() -> Self {
        Self(Self::PENDING.to_owned())
    }

    /// Whether this is `ACSCurrent`.
    pub fn is_current(&self) -> bool {
        self.0 == Self::CURRENT
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Stage {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self> {
        Self::new(&s)
    }
}

impl From<Stage> for String {
    fn from(s: Stage) -> String {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Stage::new("AWSCURRENT").unwrap(), Stage::current());
        assert_eq!(Stage::new("acspending").unwrap(), Stage::pending());
        assert_eq!(Stage::new("blue").unwrap().as_str(), "blue");
        assert!(Stage::new("").is_err());
        assert!(Stage::new("a b").is_err());
        assert!(Stage::new(&"x".repeat(257)).is_err());
    }
}
