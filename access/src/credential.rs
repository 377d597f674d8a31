//! Client keys: the secrets an application logs in with, and how they are stored.
//!
//! A client key is `kb1.<id>.<secret>`:
//! - `kb1` names this format (version 1);
//! - `<id>` is the credential id, 16 lower-case hex digits (8 random bytes). Login finds
//!   the stored credential by it, so exactly one slow hash is computed per attempt and a
//!   wrong-key counter can be kept per credential;
//! - `<secret>` is 32 random bytes (256 bits) in unpadded base64url (43 characters).
//!
//! Leading and trailing whitespace (a credential file's newline) is ignored. The key is
//! shown once, at creation; only the id, a random 16-byte salt and the Argon2id hash of the
//! secret are stored ([`StoredCredential`]), with an optional validity window.
//!
//! Hash cost: Argon2id, 19 MiB, 2 passes, 1 lane — the OWASP minimum. Measured on the
//! development machine (release build, 2 cores): 17–20 ms per verification, 44 ms with
//! both cores busy with a build; acceptable once per login.
//! The secret already has 256 bits of entropy; the slow hash protects against a stolen
//! store, not a guessable secret.

use std::fmt;
use std::time::SystemTime;

use argon2::{Algorithm, Argon2, Params, Version};
use base64ct::{Base64UrlUnpadded, Encoding};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const PREFIX: &str = "kb1";
const SECRET_LEN: usize = 32;
/// The base64url length of [`SECRET_LEN`] bytes, unpadded.
const SECRET_TEXT_LEN: usize = 43;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// Why a client key was not accepted, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("malformed client key: {0}")]
    Malformed(&'static str),
    #[error("wrong client key")]
    WrongKey,
    #[error("the credential is not valid yet")]
    NotYetValid,
    #[error("the credential has expired")]
    Expired,
    #[error("the credential's validity window ends before it starts")]
    BadWindow,
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// A credential's public identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialId(pub [u8; 8]);

impl CredentialId {
    /// Reads 16 lower-case hex digits.
    pub fn parse(text: &str) -> Result<Self, CredentialError> {
        let bad = CredentialError::Malformed("the id must be 16 lower-case hex digits");
        if text.len() != 16 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad);
        }
        let mut id = [0u8; 8];
        hex::decode_to_slice(text, &mut id).map_err(|_| bad)?;
        Ok(CredentialId(id))
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A client key: its id and its secret. The secret is wiped on drop and never printed.
pub struct ClientKey {
    id: CredentialId,
    secret: Zeroizing<[u8; SECRET_LEN]>,
}

impl ClientKey {
    /// A new key with a random id and a random secret.
    pub fn generate() -> Result<ClientKey, CredentialError> {
        let mut id = [0u8; 8];
        random(&mut id)?;
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        random(secret.as_mut())?;
        Ok(ClientKey {
            id: CredentialId(id),
            secret,
        })
    }

    /// Reads `kb1.<id>.<secret>`; anything else is refused with what is wrong.
    pub fn parse(text: &str) -> Result<ClientKey, CredentialError> {
        let mut parts = text.trim().split('.');
        let (Some(prefix), Some(id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CredentialError::Malformed(
                "expected three dot-separated parts: kb1.<id>.<secret>",
            ));
        };
        if prefix != PREFIX {
            return Err(CredentialError::Malformed("it does not start with kb1."));
        }
        let id = CredentialId::parse(id)?;
        if secret.len() != SECRET_TEXT_LEN {
            return Err(CredentialError::Malformed(
                "the secret must be 43 base64url characters",
            ));
        }
        let mut bytes = Zeroizing::new([0u8; SECRET_LEN]);
        let decoded = Base64UrlUnpadded::decode(secret, bytes.as_mut())
            .map_err(|_| CredentialError::Malformed("the secret is not base64url"))?;
        if decoded.len() != SECRET_LEN {
            return Err(CredentialError::Malformed(
                "the secret must be 43 base64url characters",
            ));
        }
        Ok(ClientKey { id, secret: bytes })
    }

    /// The id login looks the stored credential up by.
    pub fn id(&self) -> CredentialId {
        self.id
    }

    /// A 256-bit key derived from the secret for `purpose` (HMAC-SHA256): what a store
    /// seals its data key under for this credential. The secret has 256 bits of
    /// entropy, so no slow derivation is needed; the purpose keeps uses apart.
    pub fn derive_key(&self, purpose: &[u8]) -> Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut out = Zeroizing::new([0u8; 32]);
        if let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_ref()) {
            mac.update(purpose);
            mac.update(&self.id.0);
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// The key as the application is given it (shown once; wiped on drop).
    pub fn to_text(&self) -> Result<Zeroizing<String>, CredentialError> {
        let mut buf = Zeroizing::new([0u8; SECRET_TEXT_LEN]);
        let secret = Base64UrlUnpadded::encode(self.secret.as_ref(), buf.as_mut())
            .map_err(|_| CredentialError::Malformed("the secret does not fit its encoding"))?;
        let mut text = Zeroizing::new(String::with_capacity(64));
        text.push_str(PREFIX);
        text.push('.');
        text.push_str(&self.id.to_string());
        text.push('.');
        text.push_str(secret);
        Ok(text)
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The Argon2id cost a hash was made with (stored with it, so the cost can be raised
/// later without breaking existing credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
}

impl HashCost {
    /// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: HashCost = HashCost {
        memory_kib: 19 * 1024,
        passes: 2,
        lanes: 1,
    };

    fn hash(
        &self,
        secret: &[u8],
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; HASH_LEN]>, CredentialError> {
        let hash_err = |e: argon2::Error| CredentialError::Hash(e.to_string());
        let params = Params::new(self.memory_kib, self.passes, self.lanes, Some(HASH_LEN))
            .map_err(hash_err)?;
        let mut out = Zeroizing::new([0u8; HASH_LEN]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(secret, salt, out.as_mut())
            .map_err(hash_err)?;
        Ok(out)
    }
}

/// What is kept of a client key: its id, salt, hash, cost and validity window.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredential {
    pub id: CredentialId,
    pub salt: [u8; SALT_LEN],
    pub hash: [u8; HASH_LEN],
    pub cost: HashCost,
    /// Not valid before this instant (inclusive).
    pub not_before: Option<SystemTime>,
    /// Not valid after this instant (inclusive).
    pub not_after: Option<SystemTime>,
}

impl StoredCredential {
    /// Hashes `key` with a fresh salt at the default cost.
    pub fn new(
        key: &ClientKey,
        not_before: Option<SystemTime>,
        not_after: Option<SystemTime>,
    ) -> Result<StoredCredential, CredentialError> {
        StoredCredential::with_cost(key, HashCost::DEFAULT, not_before, not_after)
    }

    /// Hashes `key` with a fresh salt at `cost`.
    pub fn with_cost(
        key: &ClientKey,
        cost: HashCost,
        not_before: Option<SystemTime>,
        not_after: Option<SystemTime>,
    ) -> Result<StoredCredential, CredentialError> {
        if let (Some(nb), Some(na)) = (not_before, not_after) {
            if na < nb {
                return Err(CredentialError::BadWindow);
            }
        }
        let mut salt = [0u8; SALT_LEN];
        random(&mut salt)?;
        let hash = cost.hash(key.secret.as_ref(), &salt)?;
        Ok(StoredCredential {
            id: key.id,
            salt,
            hash: *hash,
            cost,
            not_before,
            not_after,
        })
    }

    /// Checks `key` against this credential at `now`. The hash is compared in constant
    /// time, and before the window, so an expired credential says so only to the holder of
    /// its key.
    pub fn verify(&self, key: &ClientKey, now: SystemTime) -> Result<(), CredentialError> {
        let hash = self.cost.hash(key.secret.as_ref(), &self.salt)?;
        let same = hash.as_ref().ct_eq(&self.hash) & key.id.0.ct_eq(&self.id.0);
        if !bool::from(same) {
            return Err(CredentialError::WrongKey);
        }
        if self.not_before.is_some_and(|nb| now < nb) {
            return Err(CredentialError::NotYetValid);
        }
        if self.not_after.is_some_and(|na| now > na) {
            return Err(CredentialError::Expired);
        }
        Ok(())
    }
}

/// The prefix of a stored credential's text form.
const STORED_PREFIX: &str = "kb1-argon2id";

impl StoredCredential {
    /// The text a store or a configuration file keeps (no validity window):
    /// `kb1-argon2id$<id>$<memory KiB>$<passes>$<lanes>$<salt hex>$<hash hex>`.
    pub fn to_text(&self) -> String {
        format!(
            "{STORED_PREFIX}${}${}${}${}${}${}",
            self.id,
            self.cost.memory_kib,
            self.cost.passes,
            self.cost.lanes,
            hex::encode(self.salt),
            hex::encode(self.hash)
        )
    }

    /// Reads [`StoredCredential::to_text`]'s form. A cost outside sane bounds is refused,
    /// so a tampered record cannot turn a login into a denial of service.
    pub fn from_text(
        text: &str,
        not_before: Option<SystemTime>,
        not_after: Option<SystemTime>,
    ) -> Result<StoredCredential, CredentialError> {
        let bad = CredentialError::Malformed(
            "expected kb1-argon2id$<id>$<memory>$<passes>$<lanes>$<salt hex>$<hash hex>",
        );
        let parts: Vec<&str> = text.trim().split('$').collect();
        let [prefix, id, m, t, p, salt, hash] = parts.as_slice() else {
            return Err(bad);
        };
        if *prefix != STORED_PREFIX {
            return Err(bad);
        }
        let mut s = [0u8; SALT_LEN];
        let mut h = [0u8; HASH_LEN];
        hex::decode_to_slice(salt, &mut s).map_err(|_| bad.clone())?;
        hex::decode_to_slice(hash, &mut h).map_err(|_| bad.clone())?;
        let num = |v: &str| v.parse::<u32>().map_err(|_| bad.clone());
        let cost = HashCost {
            memory_kib: num(m)?,
            passes: num(t)?,
            lanes: num(p)?,
        };
        if !(8..=1 << 20).contains(&cost.memory_kib)
            || !(1..=16).contains(&cost.passes)
            || !(1..=8).contains(&cost.lanes)
        {
            return Err(CredentialError::Malformed("the hash cost is out of bounds"));
        }
        Ok(StoredCredential {
            id: CredentialId::parse(id)?,
            salt: s,
            hash: h,
            cost,
            not_before,
            not_after,
        })
    }
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("id", &self.id)
            .field("salt", &"<redacted>")
            .field("hash", &"<redacted>")
            .field("cost", &self.cost)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish()
    }
}

fn random(buf: &mut [u8]) -> Result<(), CredentialError> {
    getrandom::fill(buf).map_err(|e| CredentialError::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A cheap cost so the tests stay fast; the default is measured separately.
    const CHEAP: HashCost = HashCost {
        memory_kib: 64,
        passes: 1,
        lanes: 1,
    };

    fn stored(key: &ClientKey) -> StoredCredential {
        StoredCredential::with_cost(key, CHEAP, None, None).unwrap()
    }

    #[test]
    fn stored_text_round_trips_and_refuses_bad_costs() {
        let key = ClientKey::generate().unwrap();
        let cred = stored(&key);
        let back = StoredCredential::from_text(&cred.to_text(), None, None).unwrap();
        assert_eq!(back, cred);
        assert!(back.verify(&key, SystemTime::now()).is_ok());
        let huge = cred.to_text().replacen("$64$", "$99999999$", 1);
        assert!(StoredCredential::from_text(&huge, None, None).is_err());
        assert!(StoredCredential::from_text("kb1-argon2id$x", None, None).is_err());
    }

    #[test]
    fn derived_keys_follow_the_secret_and_the_purpose() {
        let key = ClientKey::generate().unwrap();
        let again = ClientKey::parse(&key.to_text().unwrap()).unwrap();
        let other = ClientKey::generate().unwrap();
        assert_eq!(*key.derive_key(b"a"), *again.derive_key(b"a"));
        assert_ne!(*key.derive_key(b"a"), *key.derive_key(b"b"));
        assert_ne!(*key.derive_key(b"a"), *other.derive_key(b"a"));
    }

    #[test]
    fn round_trip() {
        let key = ClientKey::generate().unwrap();
        let text = key.to_text().unwrap();
        assert!(text.starts_with(&format!("kb1.{}.", key.id())));
        assert_eq!(text.len(), 3 + 1 + 16 + 1 + 43);
        let cred = stored(&key);
        let parsed = ClientKey::parse(&format!("{}\n", text.as_str())).unwrap();
        assert_eq!(parsed.id(), key.id());
        assert_eq!(cred.verify(&parsed, SystemTime::now()), Ok(()));
    }

    #[test]
    fn default_cost_round_trip() {
        // The cost of a verification is a benchmark's business, not a test's.
        let key = ClientKey::generate().unwrap();
        let cred = StoredCredential::new(&key, None, None).unwrap();
        assert_eq!(cred.cost, HashCost::DEFAULT);
        assert_eq!(cred.verify(&key, SystemTime::now()), Ok(()));
    }

    #[test]
    fn wrong_key_refused() {
        let key = ClientKey::generate().unwrap();
        let cred = stored(&key);
        let other = ClientKey::generate().unwrap();
        assert_eq!(
            cred.verify(&other, SystemTime::now()),
            Err(CredentialError::WrongKey)
        );
        // Same id, other secret.
        let text = key.to_text().unwrap();
        let mut forged = text.to_string();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'E' } else { 'A' });
        let forged = ClientKey::parse(&forged).unwrap();
        assert_eq!(
            cred.verify(&forged, SystemTime::now()),
            Err(CredentialError::WrongKey)
        );
        // Same secret, other id.
        let moved = ClientKey {
            id: CredentialId([0; 8]),
            secret: key.secret.clone(),
        };
        assert_eq!(
            cred.verify(&moved, SystemTime::now()),
            Err(CredentialError::WrongKey)
        );
    }

    #[test]
    fn validity_window_edges() {
        let key = ClientKey::generate().unwrap();
        let nb = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let na = nb + Duration::from_secs(3600);
        let cred = StoredCredential::with_cost(&key, CHEAP, Some(nb), Some(na)).unwrap();
        let ns = Duration::from_nanos(1);
        assert_eq!(
            cred.verify(&key, nb - ns),
            Err(CredentialError::NotYetValid)
        );
        assert_eq!(cred.verify(&key, nb), Ok(()));
        assert_eq!(cred.verify(&key, na), Ok(()));
        assert_eq!(cred.verify(&key, na + ns), Err(CredentialError::Expired));
        let other = ClientKey::generate().unwrap();
        assert_eq!(
            cred.verify(&other, na + ns),
            Err(CredentialError::WrongKey),
            "the window is only told to the key's holder"
        );
        assert_eq!(
            StoredCredential::with_cost(&key, CHEAP, Some(na), Some(nb)).unwrap_err(),
            CredentialError::BadWindow
        );
    }

    #[test]
    fn malformed_keys_refused() {
        let good = ClientKey::generate()
            .unwrap()
            .to_text()
            .unwrap()
            .to_string();
        let (_, secret) = good.rsplit_once('.').unwrap();
        let cases = [
            String::new(),
            "kb1".to_owned(),
            format!("kb2.0123456789abcdef.{secret}"),
            format!("kb1.0123456789ABCDEF.{secret}"),
            format!("kb1.0123456789abcde.{secret}"),
            format!("kb1.0123456789abcdeg.{secret}"),
            format!("kb1.0123456789abcdef.{}", &secret[1..]),
            format!("kb1.0123456789abcdef.{secret}A"),
            format!("kb1.0123456789abcdef.{}+", &secret[1..]),
            format!("kb1.0123456789abcdef.{}=", &secret[1..]),
            format!("kb1.0123456789abcdef.{secret}.x"),
        ];
        for bad in cases {
            let err = ClientKey::parse(&bad).unwrap_err();
            assert!(matches!(err, CredentialError::Malformed(_)), "{bad}: {err}");
            assert!(err.to_string().starts_with("malformed client key: "));
        }
    }

    #[test]
    fn non_canonical_base64_refused() {
        // 43 characters carry 258 bits; the 2 spare bits of the last one must be zero.
        let s = format!("kb1.0123456789abcdef.{}B", "A".repeat(42));
        assert!(ClientKey::parse(&s).is_err());
        let s = format!("kb1.0123456789abcdef.{}A", "A".repeat(42));
        assert!(ClientKey::parse(&s).is_ok());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = ClientKey::generate().unwrap();
        let text = key.to_text().unwrap();
        let (_, secret) = text.rsplit_once('.').unwrap();
        let cred = stored(&key);
        for shown in [format!("{key:?}"), format!("{key:#?}"), format!("{cred:?}")] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains(&hex::encode(cred.hash)), "{shown}");
            assert!(!shown.contains(&hex::encode(cred.salt)), "{shown}");
            assert!(
                !shown.contains(&format!("{:?}", &key.secret[..4])),
                "{shown}"
            );
            assert!(shown.contains("<redacted>"));
            assert!(shown.contains(&key.id().to_string()) || shown.contains("CredentialId"));
        }
    }

    #[test]
    fn ids_are_random() {
        let a = ClientKey::generate().unwrap();
        let b = ClientKey::generate().unwrap();
        assert_ne!(a.id(), b.id());
        assert_ne!(*a.secret, *b.secret);
    }
}
