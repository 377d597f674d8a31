//! The audit service key: an EC P-256 key pair made inside the instance through its
//! backend on first need (token, private, sensitive, never extractable), whose CKA_ID
//! is a service id (`kmsbridge.svc.audit.<hex>`), so applications never see or use it.
//! It signs checkpoints with CKM_ECDSA over SHA-256 of the message. Which key it is,
//! and its public half, are kept in the hidden data object `audit.public`.
//!
//! Lookup and generation run inside the signer, which the trail calls under its
//! exclusive file lock: two processes of one host never make two keys. On a software
//! instance private objects exist only while someone is logged in; until then the key
//! is out of reach and checkpoints are deferred (never the records).

use super::head;
use crate::error::{rule, Result};
use crate::kms::ids::service_id;
use cryptoki_sys::*;
use kmsbridge_audit::Signer;
use kmsbridge_bridge::{Attr, AttrReq, Backend, Mechanism, ObjectId};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// DER of the P-256 curve OID, CKA_EC_PARAMS.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// SubjectPublicKeyInfo of an uncompressed P-256 point, up to the point's 65 bytes.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// After the key was out of reach, look again no sooner than this.
const RETRY_MS: u64 = 1_000;

pub(super) struct ServiceKey {
    backend: Arc<dyn Backend>,
    key: Mutex<Option<ObjectId>>,
    retry_at_ms: AtomicU64,
    /// Whether "checkpoints deferred" was logged since the last signature.
    deferral_logged: AtomicBool,
}

/// The key as the trail's signer.
pub(super) struct KeyRef(pub(super) Arc<ServiceKey>);

impl Signer for KeyRef {
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, String> {
        self.0.sign(message)
    }
}

impl ServiceKey {
    pub(super) fn new(backend: Arc<dyn Backend>) -> Self {
        ServiceKey {
            backend,
            key: Mutex::new(None),
            retry_at_ms: AtomicU64::new(0),
            deferral_logged: AtomicBool::new(false),
        }
    }

    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let key = self.key()?;
        let digest = Sha256::digest(message);
        let signed = (|| -> Result<Vec<u8>> {
            let mut op = self
                .backend
                .begin_sign(&Mechanism::simple(CKM_ECDSA), key)?;
            let mut out = [0u8; 132];
            let n = op.run(&digest, Some(&mut out[..]))?;
            Ok(out.get(..n).unwrap_or_default().to_vec())
        })();
        match signed {
            Ok(sig) => {
                self.deferral_logged.store(false, Ordering::Relaxed);
                Ok(sig)
            }
            Err(e) => {
                // The key may be out of reach now (logged out): look it up again later.
                *self.key.lock() = None;
                Err(format!("the audit key cannot sign now: {e}"))
            }
        }
    }

    fn key(&self) -> std::result::Result<ObjectId, String> {
        let mut cached = self.key.lock();
        if let Some(k) = *cached {
            return Ok(k);
        }
        let now = super::unix_ms();
        if now < self.retry_at_ms.load(Ordering::Relaxed) {
            return Err("the audit key was out of reach a moment ago".into());
        }
        match resolve(&*self.backend) {
            Ok(k) => {
                *cached = Some(k);
                Ok(k)
            }
            Err(e) => {
                self.retry_at_ms.store(now + RETRY_MS, Ordering::Relaxed);
                Err(format!("the audit key is out of reach: {e}"))
            }
        }
    }

    /// A checkpoint was deferred: said once until the key signs again.
    pub(super) fn deferred(&self, why: &str) {
        if !self.deferral_logged.swap(true, Ordering::Relaxed) {
            tracing::info!("audit checkpoints deferred until the audit key is reachable: {why}");
        }
    }

    /// The token was replaced: the key is another one now.
    pub(super) fn forget(&self) {
        *self.key.lock() = None;
        self.retry_at_ms.store(0, Ordering::Relaxed);
    }
}

/// The audit key named by `audit.public`, else a new one.
fn resolve(b: &dyn Backend) -> Result<ObjectId> {
    b.connect()?;
    if let Some((id, _)) = head::public_record(b)? {
        let found = b.find(&[
            Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            Attr::new(CKA_ID, id),
        ])?;
        return match found.first() {
            Some(k) => Ok(*k),
            // Never silently replaced: the trail's signatures would change key.
            None => rule(
                CKR_KEY_HANDLE_INVALID,
                "the audit key named by audit.public is missing",
            ),
        };
    }
    generate(b)
}

fn generate(b: &dyn Backend) -> Result<ObjectId> {
    let id = service_id(b, "audit")?;
    let label = b"kmsbridge audit key".to_vec();
    let public = [
        Attr::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_EC),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::new(CKA_ID, id.clone()),
        Attr::new(CKA_LABEL, label.clone()),
        Attr::new(CKA_EC_PARAMS, P256_PARAMS.to_vec()),
        Attr::bool(CKA_VERIFY, true),
    ];
    let private = [
        Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_EC),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_EXTRACTABLE, false),
        Attr::new(CKA_ID, id.clone()),
        Attr::new(CKA_LABEL, label),
        Attr::bool(CKA_SIGN, true),
    ];
    let m = Mechanism::simple(CKM_EC_KEY_PAIR_GEN);
    let (pu, pr) = b.generate_key_pair(&m, &public, &private)?;
    let mut req = [AttrReq::new(CKA_EC_POINT, Some(128))];
    b.get_attributes(pu, &mut req)?;
    let Some(spki) = req.first().and_then(|r| r.value()).and_then(spki_of_point) else {
        return rule(
            CKR_GENERAL_ERROR,
            "the audit key's public point is unreadable",
        );
    };
    head::save_public(b, &id, &spki)?;
    tracing::info!("audit service key made");
    Ok(pr)
}

/// SubjectPublicKeyInfo of a CKA_EC_POINT: DER OCTET STRING or the raw point.
pub(super) fn spki_of_point(v: &[u8]) -> Option<Vec<u8>> {
    let point = match v {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        [0x04, ..] if v.len() == 65 => v,
        _ => return None,
    };
    let mut spki = SPKI_PREFIX.to_vec();
    spki.extend_from_slice(point);
    Some(spki)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_of_either_point_form() {
        let mut raw = vec![0x04];
        raw.extend([7u8; 64]);
        let mut der = vec![0x04, 0x41];
        der.extend(&raw);
        let a = spki_of_point(&raw).unwrap();
        assert_eq!(a, spki_of_point(&der).unwrap());
        assert_eq!(a.len(), 91);
        assert_eq!(&a[a.len() - 65..], &raw[..]);
        assert!(spki_of_point(&[0x04, 1, 2]).is_none());
    }
}
