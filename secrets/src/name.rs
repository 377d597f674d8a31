//! Secret names, tags and descriptions, with the limits of AWS Secrets Manager.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SecretError};

/// Longest secret name.
pub const MAX_NAME_LEN: usize = 512;
/// Most tags on one secret.
pub const MAX_TAGS: usize = 50;
/// Longest tag key.
pub const MAX_TAG_KEY_LEN: usize = 128;
/// Longest tag value.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 2048;

/// A secret's name: 1-512 of `A-Z a-z 0-9 / _ + = . @ -`, as AWS allows. `/` builds a
/// path (`prod/db/orders`) that `secret/prod/*` in an access policy covers; it may not
/// start or end the name nor repeat, so each name has one spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Checks `name` against the rules.
    pub fn new(name: &str) -> Result<Self> {
        let bad = |reason| SecretError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(bad("longer than 512 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
        {
            return Err(bad("only A-Z a-z 0-9 and / _ + = . @ - are allowed"));
        }
        if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
            return Err(bad("'/' may not start or end the name nor repeat"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The access-policy resource name: `secret/<name>`.
    pub fn resource(&self) -> String {
        format!("secret/{}", self.0)
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SecretName {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self> {
        Self::new(&s)
    }
}

impl From<SecretName> for String {
    fn from(n: SecretName) -> String {
        n.0
    }
}

/// Checks a tag set: at most 50 tags, keys 1-128 characters, values up to 256, no key
/// starting with `aws:` or `kmsbridge:` (reserved for the system, as in AWS).
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(SecretError::InvalidTag {
            key: String::new(),
            reason: "more than 50 tags",
        });
    }
    for (k, v) in tags {
        let bad = |reason| SecretError::InvalidTag {
            key: k.clone(),
            reason,
        };
        let klen = k.chars().count();
        if klen == 0 || klen > MAX_TAG_KEY_LEN {
            return Err(bad("key must be 1-128 characters"));
        }
        if v.chars().count() > MAX_TAG_VALUE_LEN {
            return Err(bad("value longer than 256 characters"));
        }
        if k.starts_with("aws:") || k.starts_with("kmsbridge:") {
            return Err(bad("keys starting aws: or kmsbridge: are reserved"));
        }
        if k.chars().chain(v.chars()).any(char::is_control) {
            return Err(bad("control characters are not allowed"));
        }
    }
    Ok(())
}

/// Checks a description's length.
pub fn check_description(d: &str) -> Result<()> {
    let len = d.chars().count();
    if len > MAX_DESCRIPTION_LEN {
        return Err(SecretError::DescriptionTooLong {
            len,
            max: MAX_DESCRIPTION_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "prod/db/orders", "x_y+z=1.2@host-3", &"n".repeat(512)] {
            assert!(SecretName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a b",
            "ä",
            "a*",
            "a\n",
            &"n".repeat(513),
        ] {
            assert!(
                matches!(SecretName::new(bad), Err(SecretError::InvalidName { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            SecretName::new("prod/x").unwrap().resource(),
            "secret/prod/x"
        );
    }

    #[test]
    fn tags_and_description() {
        let mut t = BTreeMap::new();
        t.insert("team".to_owned(), "payments".to_owned());
        check_tags(&t).unwrap();
        t.insert("aws:x".to_owned(), String::new());
        assert!(check_tags(&t).unwrap_err().to_string().contains("aws:x"));
        let many: BTreeMap<_, _> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_tags(&many).is_err());
        check_description(&"d".repeat(2048)).unwrap();
        assert_eq!(
            check_description(&"d".repeat(2049)),
            Err(SecretError::DescriptionTooLong {
                len: 2049,
                max: 2048
            })
        );
    }
}
