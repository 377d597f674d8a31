//! Envelope encryption of version values.
//!
//! Each value is sealed with AES-256-GCM under a fresh random 256-bit data key; the
//! associated data binds the format version, the secret name, the version id and the
//! wrapping key's id, so a ciphertext moved to another secret or version, or relabelled
//! with another key, fails authentication. The data key is then wrapped by a
//! [`KeyWrapper`] — in the provider a CMK inside the backend, so on a hardware instance
//! the CMK never leaves the HSM — and only the wrapped form is kept. Data keys and
//! plaintexts live in [`Zeroizing`] buffers.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{random, Result, SecretError};
use crate::{SecretName, VersionId};

/// The envelope format this crate writes (and the only one it reads).
pub const ENVELOPE_FORMAT: u8 = 1;
/// Length of a data key.
pub const DEK_LEN: usize = 32;
/// Largest value a version holds (as AWS: 64 KiB).
pub const MAX_VALUE_LEN: usize = 65536;
const TAG_LEN: usize = 16;
const AAD_LABEL: &[u8] = b"kmsbridge.secret.value";

/// Wraps and unwraps data keys under a key-encryption key (the CMK). The provider
/// implements it with a CMK inside the backend; [`LocalKeyWrapper`] holds a key in
/// memory (tests, and callers that have one).
pub trait KeyWrapper {
    /// Wraps a 32-byte data key; the blob is opaque to this crate.
    fn wrap(&self, dek: &[u8]) -> Result<Vec<u8>>;
    /// Unwraps a blob made by [`KeyWrapper::wrap`]; a blob that was altered must fail.
    fn unwrap(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// The wrapping key's id (the CMK's key id), recorded beside each wrapped key.
    fn key_id(&self) -> String;
}

/// A value sealed under a data key, with the data key wrapped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedValue {
    /// Envelope format version ([`ENVELOPE_FORMAT`]).
    pub format: u8,
    /// The wrapping key's id.
    pub key_id: String,
    /// The data key, wrapped.
    #[serde(with = "crate::b64")]
    pub wrapped_key: Vec<u8>,
    /// The GCM nonce.
    #[serde(with = "crate::b64")]
    pub nonce: Vec<u8>,
    /// The ciphertext with its 16-byte tag appended.
    #[serde(with = "crate::b64")]
    pub ciphertext: Vec<u8>,
}

// Never print a sealed value's bytes, even encrypted: logs are scanned for them.
impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedValue")
            .field("format", &self.format)
            .field("key_id", &self.key_id)
            .field("len", &self.ciphertext.len().saturating_sub(TAG_LEN))
            .finish_non_exhaustive()
    }
}

fn aad(format: u8, name: &SecretName, version: &VersionId, key_id: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(64 + name.as_str().len());
    a.extend_from_slice(AAD_LABEL);
    a.push(format);
    for part in [
        name.as_str().as_bytes(),
        version.as_str().as_bytes(),
        key_id.as_bytes(),
    ] {
        a.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        a.extend_from_slice(part);
    }
    a
}

fn gcm_key(dek: &[u8]) -> Result<LessSafeKey> {
    let k = UnboundKey::new(&AES_256_GCM, dek)
        .map_err(|_| SecretError::Wrap("data key is not 32 bytes".into()))?;
    Ok(LessSafeKey::new(k))
}

/// Checks a value's size (1..=64 KiB).
pub fn check_value(value: &[u8]) -> Result<()> {
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Err(SecretError::ValueSize {
            len: value.len(),
            max: MAX_VALUE_LEN,
        });
    }
    Ok(())
}

/// Seals `value` for version `version` of secret `name` under a fresh data key.
pub fn seal(
    wrapper: &dyn KeyWrapper,
    name: &SecretName,
    version: &VersionId,
    value: &[u8],
) -> Result<SealedValue> {
    check_value(value)?;
    let mut dek = Zeroizing::new([0u8; DEK_LEN]);
    random(dek.as_mut())?;
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;
    let key_id = wrapper.key_id();
    let aad = aad(ENVELOPE_FORMAT, name, version, &key_id);
    let mut buf = Zeroizing::new(Vec::with_capacity(value.len() + TAG_LEN));
    buf.extend_from_slice(value);
    gcm_key(dek.as_ref())?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut *buf,
        )
        .map_err(|_| SecretError::Wrap("AES-GCM seal failed".into()))?;
    let wrapped_key = wrapper.wrap(dek.as_ref())?;
    Ok(SealedValue {
        format: ENVELOPE_FORMAT,
        key_id,
        wrapped_key,
        nonce: nonce.to_vec(),
        ciphertext: buf.to_vec(),
    })
}

/// Opens a sealed value of version `version` of secret `name`. Any altered byte (wrapped
/// key, nonce, ciphertext, tag, or the name, version id or key id it is bound to) fails.
pub fn open(
    wrapper: &dyn KeyWrapper,
    name: &SecretName,
    version: &VersionId,
    sealed: &SealedValue,
) -> Result<Zeroizing<Vec<u8>>> {
    let tampered = || SecretError::Tampered {
        name: name.to_string(),
        version: version.clone(),
    };
    if sealed.format != ENVELOPE_FORMAT {
        return Err(SecretError::Record(format!(
            "envelope format {} of version {version} is not supported (this build reads {ENVELOPE_FORMAT})",
            sealed.format
        )));
    }
    let offered = wrapper.key_id();
    if sealed.key_id != offered {
        return Err(SecretError::KeyMismatch {
            version: version.clone(),
            sealed_under: sealed.key_id.clone(),
            offered,
        });
    }
    let nonce: [u8; NONCE_LEN] = sealed.nonce.as_slice().try_into().map_err(|_| tampered())?;
    let dek = wrapper
        .unwrap(&sealed.wrapped_key)
        .map_err(|_| tampered())?;
    if dek.len() != DEK_LEN {
        return Err(tampered());
    }
    let aad = aad(sealed.format, name, version, &sealed.key_id);
    let mut buf = Zeroizing::new(sealed.ciphertext.clone());
    let len = gcm_key(&dek)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut buf,
        )
        .map_err(|_| tampered())?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// A [`KeyWrapper`] over a 256-bit key held in memory: AES-256-GCM, blob = nonce ‖
/// wrapped key ‖ tag, the key id as associated data.
pub struct LocalKeyWrapper {
    id: String,
    key: Zeroizing<[u8; DEK_LEN]>,
}

impl LocalKeyWrapper {
    /// A wrapper over `key`, named `id`.
    pub fn new(id: &str, key: [u8; DEK_LEN]) -> Self {
        Self {
            id: id.to_owned(),
            key: Zeroizing::new(key),
        }
    }

    /// A wrapper over a fresh random key.
    pub fn random(id: &str) -> Result<Self> {
        let mut key = [0u8; DEK_LEN];
        random(&mut key)?;
        let w = Self::new(id, key);
        zeroize::Zeroize::zeroize(&mut key);
        Ok(w)
    }
}

impl KeyWrapper for LocalKeyWrapper {
    fn wrap(&self, dek: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let mut buf = Zeroizing::new(dek.to_vec());
        gcm_key(self.key.as_ref())?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.id.as_bytes()),
                &mut *buf,
            )
            .map_err(|_| SecretError::Wrap("AES-GCM seal failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&buf);
        Ok(blob)
    }

    fn unwrap(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (nonce, ct) = blob
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| SecretError::Wrap("wrapped key too short".into()))?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| SecretError::Wrap("wrapped key too short".into()))?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = gcm_key(self.key.as_ref())?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SecretError::Wrap(format!("wrapped key does not open under {}", self.id)))?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    fn key_id(&self) -> String {
        self.id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (LocalKeyWrapper, SecretName, VersionId) {
        (
            LocalKeyWrapper::random("cmk-1").unwrap(),
            SecretName::new("prod/db").unwrap(),
            VersionId::random().unwrap(),
        )
    }

    #[test]
    fn round_trip_and_fresh_keys() {
        let (w, n, v) = setup();
        let a = seal(&w, &n, &v, b"hunter2").unwrap();
        let b = seal(&w, &n, &v, b"hunter2").unwrap();
        assert_ne!(a.wrapped_key, b.wrapped_key, "a fresh data key per seal");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!a.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(&*open(&w, &n, &v, &a).unwrap(), b"hunter2");
        assert!(!format!("{a:?}").contains(&hex::encode(&a.ciphertext)));
    }

    #[test]
    fn every_byte_is_authenticated() {
        let (w, n, v) = setup();
        let s = seal(&w, &n, &v, b"the value").unwrap();
        for field in 0..3 {
            let len = [s.wrapped_key.len(), s.nonce.len(), s.ciphertext.len()][field];
            for i in 0..len {
                let mut t = s.clone();
                let buf = match field {
                    0 => &mut t.wrapped_key,
                    1 => &mut t.nonce,
                    _ => &mut t.ciphertext,
                };
                buf[i] ^= 0x01;
                assert!(
                    matches!(open(&w, &n, &v, &t), Err(SecretError::Tampered { .. })),
                    "field {field} byte {i} flipped was accepted"
                );
            }
        }
        // The associated data: name, version, key id and format.
        let other = SecretName::new("prod/dc").unwrap();
        assert!(matches!(
            open(&w, &other, &v, &s),
            Err(SecretError::Tampered { .. })
        ));
        let v2 = VersionId::random().unwrap();
        assert!(matches!(
            open(&w, &n, &v2, &s),
            Err(SecretError::Tampered { .. })
        ));
        let mut t = s.clone();
        t.key_id = "cmk-2".into();
        assert!(matches!(
            open(&w, &n, &v, &t),
            Err(SecretError::KeyMismatch { .. })
        ));
        let w2 = LocalKeyWrapper::new("cmk-1", [7; 32]);
        assert!(matches!(
            open(&w2, &n, &v, &s),
            Err(SecretError::Tampered { .. })
        ));
        let mut t = s.clone();
        t.format = 2;
        assert!(matches!(open(&w, &n, &v, &t), Err(SecretError::Record(_))));
        let mut t = s;
        t.ciphertext.pop();
        assert!(open(&w, &n, &v, &t).is_err());
    }

    #[test]
    fn sizes() {
        let (w, n, v) = setup();
        assert!(matches!(
            seal(&w, &n, &v, b""),
            Err(SecretError::ValueSize { .. })
        ));
        assert!(seal(&w, &n, &v, &vec![1; MAX_VALUE_LEN]).is_ok());
        assert!(seal(&w, &n, &v, &vec![1; MAX_VALUE_LEN + 1]).is_err());
    }
}
