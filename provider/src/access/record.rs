//! What the instance keeps of an access point: its name, description, policy text and
//! credentials (hashes only), as a hidden data object per access point.

use kmsbridge_access::credential::{CredentialId, StoredCredential};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One access point as stored (and as configured).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApRecord {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    /// The policy as its author wrote it (TOML, `[[statement]]` tables).
    #[serde(default)]
    pub(crate) policy: String,
    #[serde(default)]
    pub(crate) created: u64,
    #[serde(default, rename = "credential")]
    pub(crate) credentials: Vec<CredRecord>,
}

/// One credential: the hash of its client key's secret, never the key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredRecord {
    /// `StoredCredential::to_text`: `kb1-argon2id$<id>$<m>$<t>$<p>$<salt>$<hash>`.
    pub(crate) hash: String,
    /// Unix seconds; 0 for none.
    #[serde(default)]
    pub(crate) not_before: u64,
    #[serde(default)]
    pub(crate) not_after: u64,
    #[serde(default)]
    pub(crate) created: u64,
    /// Software instances: the token's data key sealed for this credential (hex).
    #[serde(default)]
    pub(crate) slot: String,
}

/// A name an access point may have: what a CLI argument and a file name can carry.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn to_time(secs: u64) -> Option<SystemTime> {
    (secs != 0).then(|| UNIX_EPOCH + Duration::from_secs(secs))
}

impl CredRecord {
    pub(crate) fn from_stored(c: &StoredCredential, created: u64, slot: &[u8]) -> CredRecord {
        let secs = |t: Option<SystemTime>| {
            t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs())
        };
        CredRecord {
            hash: c.to_text(),
            not_before: secs(c.not_before),
            not_after: secs(c.not_after),
            created,
            slot: hex::encode(slot),
        }
    }

    /// The credential id, or None for a malformed hash string.
    pub(crate) fn id(&self) -> Option<CredentialId> {
        self.stored().map(|s| s.id)
    }

    pub(crate) fn stored(&self) -> Option<StoredCredential> {
        StoredCredential::from_text(
            &self.hash,
            to_time(self.not_before),
            to_time(self.not_after),
        )
        .ok()
    }

    pub(crate) fn slot(&self) -> Vec<u8> {
        hex::decode(&self.slot).unwrap_or_default()
    }
}

impl ApRecord {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        toml::to_string(self)
            .map(String::into_bytes)
            .map_err(|e| format!("access point record: {e}"))
    }

    pub(crate) fn decode(v: &[u8]) -> Option<ApRecord> {
        toml::from_str(std::str::from_utf8(v).ok()?).ok()
    }

    pub(crate) fn credential(&self, id: CredentialId) -> Option<&CredRecord> {
        self.credentials.iter().find(|c| c.id() == Some(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsbridge_access::credential::{ClientKey, HashCost};

    #[test]
    fn credentials_round_trip_through_the_record() {
        let key = ClientKey::generate().unwrap();
        let cheap = HashCost {
            memory_kib: 64,
            passes: 1,
            lanes: 1,
        };
        let stored = StoredCredential::with_cost(&key, cheap, None, None).unwrap();
        let rec = ApRecord {
            name: "app".into(),
            credentials: vec![CredRecord::from_stored(&stored, 5, b"slot")],
            ..Default::default()
        };
        let back = ApRecord::decode(&rec.encode().unwrap()).unwrap();
        let c = back.credential(key.id()).unwrap();
        assert_eq!(c.stored().unwrap(), stored);
        assert_eq!(c.slot(), b"slot");
        assert!(c.stored().unwrap().verify(&key, SystemTime::now()).is_ok());
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("payments-01.prod_x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
