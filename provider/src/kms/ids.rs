//! Key ids on a backend token: a KMS key's id, its older versions' ids (`id#vN`),
//! service-key ids, and what a backend object is to the module by its attributes.

use crate::objects::Kind;
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::Backend;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// Backend CKA_ID prefix of import wrapping key pairs.
pub(crate) const IMPORT_SERVICE_PREFIX: &[u8] = b"kmsbridge.svc.import.";

/// A fresh service-key id `kmsbridge.svc.<purpose>.<16 hex>` on this backend.
pub(crate) fn service_id(backend: &dyn Backend, purpose: &str) -> crate::error::Result<Vec<u8>> {
    let mut nonce = [0u8; 8];
    backend.random(&mut nonce)?;
    let mut id = SERVICE_ID_PREFIX.to_vec();
    id.extend_from_slice(format!("{purpose}.{}", hex::encode(nonce)).as_bytes());
    Ok(id)
}

/// A key id's hash for the object table (keyed per process, never 0).
pub(crate) fn hash_id(id: &[u8]) -> u64 {
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut h = KEYS.get_or_init(Default::default).build_hasher();
    h.write(id);
    h.finish().max(1)
}

/// CKA_ID of an older version: id + "#v" + N.
pub(crate) fn version_id(id: &[u8], v: CK_ULONG) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend_from_slice(VERSION_SEPARATOR);
    out.extend_from_slice(v.to_string().as_bytes());
    out
}

/// Split an older version's CKA_ID into the key id and its version.
pub(crate) fn split_version(id: &[u8]) -> (&[u8], Option<CK_ULONG>) {
    let sep = VERSION_SEPARATOR;
    let pos = id.windows(sep.len()).rposition(|w| w == sep);
    if let Some((key, rest)) = pos.and_then(|p| id.split_at_checked(p)) {
        let digits = rest.strip_prefix(sep).unwrap_or_default();
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            if let Some(v) = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
            {
                return (key, Some(v));
            }
        }
    }
    (id, None)
}

/// What a backend object is to the module, from attributes read on first sight.
pub(crate) fn classify(
    class: CK_OBJECT_CLASS,
    application: Option<&[u8]>,
    id: Option<&[u8]>,
    label: Option<&[u8]>,
) -> (Kind, u64) {
    if class == CKO_DATA {
        return match application {
            Some(a)
                if [
                    META_APPLICATION,
                    IMPORT_APPLICATION,
                    ACCESS_APPLICATION,
                    LOCKOUT_APPLICATION,
                    SECRET_RECORD_APPLICATION,
                ]
                .contains(&a) =>
            {
                (Kind::Meta, 0)
            }
            Some(a) if a == KEY_APPLICATION => {
                let id = label
                    .and_then(|l| std::str::from_utf8(l).ok())
                    .and_then(|l| hex::decode(l).ok())
                    .unwrap_or_default();
                (Kind::Record, hash_id(&id))
            }
            _ => (Kind::Plain, 0),
        };
    }
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return (Kind::Plain, 0);
    };
    if id.starts_with(SERVICE_ID_PREFIX) {
        if class == CKO_PUBLIC_KEY && id.starts_with(IMPORT_SERVICE_PREFIX) {
            return (Kind::ImportPublic, 0);
        }
        return (Kind::Service, 0);
    }
    (Kind::Plain, hash_id(split_version(id).0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip() {
        let v = version_id(b"abc", 12);
        assert_eq!(v, b"abc#v12");
        assert_eq!(split_version(&v), (&b"abc"[..], Some(12)));
        assert_eq!(split_version(b"abc#v"), (&b"abc#v"[..], None));
        assert_eq!(split_version(b"plain"), (&b"plain"[..], None));
    }

    #[test]
    fn service_keys_are_classified() {
        let svc = b"kmsbridge.svc.import.00ff";
        assert_eq!(
            classify(CKO_PRIVATE_KEY, None, Some(svc), None).0,
            Kind::Service
        );
        assert_eq!(
            classify(CKO_PUBLIC_KEY, None, Some(svc), None).0,
            Kind::ImportPublic
        );
        assert_eq!(
            classify(CKO_SECRET_KEY, None, Some(b"k#v2"), None).1,
            classify(CKO_SECRET_KEY, None, Some(b"k"), None).1
        );
        assert_eq!(
            classify(CKO_DATA, Some(KEY_APPLICATION), None, Some(b"6b")).0,
            Kind::Record
        );
    }
}
