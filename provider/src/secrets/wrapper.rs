//! The `KeyWrapper` of secrets: a version's data key is encrypted with AES-256-GCM
//! under a KMS key of the instance (its default key unless the secret names another),
//! inside the backend, so on a hardware instance the CMK never leaves the HSM.
//! CKM_AES_GCM is offered by SoftHSM2 and by the software engine alike (CKM_AES_KEY_WRAP_PAD
//! is not an encryption mechanism on SoftHSM2, and wrapping needs a key object).
//!
//! Blob: `1` (format), the key version (u32 big-endian) that wrapped it, a 96-bit IV
//! from the backend's generator, the ciphertext and the 128-bit tag. The AAD binds the
//! purpose and the key id, so a blob moved to another key fails.

use crate::kms::host::Host;
use crate::kms::ids::version_id;
use crate::kms::record::unix_now;
use crate::kms::registry::Stored;
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, MechParam, Mechanism, ObjectId};
use kmsbridge_secrets::{KeyWrapper, SecretError};
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const AAD: &[u8] = b"kmsbridge.secret.dek.v1";

pub(crate) struct CmkWrapper<'a> {
    inst: &'a dyn Host,
    key: Stored,
}

fn err(msg: &str) -> SecretError {
    SecretError::Wrap(msg.to_string())
}

impl<'a> CmkWrapper<'a> {
    /// The wrapper over `key_id` (hex), or over the instance's default key.
    pub(crate) fn new(inst: &'a dyn Host, key_id: Option<&str>) -> crate::error::Result<Self> {
        let key = match key_id {
            None => crate::kms::create::default_key(inst)?,
            Some(hex_id) => {
                let id = hex::decode(hex_id).unwrap_or_else(|_| hex_id.as_bytes().to_vec());
                match inst.kms().by_id(inst, &id) {
                    Some(s) => s,
                    None => {
                        return crate::error::rule(
                            CKR_ATTRIBUTE_VALUE_INVALID,
                            "no KMS key of this id for the secret",
                        )
                    }
                }
            }
        };
        if key.rec.key_type != CKK_AES || key.rec.size != 32 {
            return crate::error::rule(
                CKR_KEY_TYPE_INCONSISTENT,
                "a secret's KMS key is an AES-256 key",
            );
        }
        Ok(CmkWrapper { inst, key })
    }

    fn aad(&self) -> Vec<u8> {
        let mut a = AAD.to_vec();
        a.extend_from_slice(self.key.rec.id.as_bytes());
        a
    }

    /// The backend object of version `v` of the key (the primary keeps the bare id).
    fn object(&self, v: u32) -> Result<ObjectId, SecretError> {
        let rec = &self.key.rec;
        if !rec.usable(unix_now()) {
            return Err(err("the secret's KMS key is not enabled"));
        }
        let id = if CK_ULONG::from(v) == rec.primary_version.max(1) {
            rec.id_bytes()
        } else {
            version_id(&rec.id_bytes(), CK_ULONG::from(v))
        };
        let found = self
            .inst
            .backend()
            .find(&[
                Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attr::new(CKA_ID, id),
            ])
            .map_err(|_| err("cannot look the KMS key up"))?;
        found
            .first()
            .copied()
            .ok_or_else(|| err("the KMS key version is gone"))
    }

    fn mech(&self, iv: &[u8]) -> Mechanism {
        Mechanism {
            ty: CKM_AES_GCM,
            param: MechParam::Gcm {
                iv: iv.to_vec(),
                iv_bits: (IV_LEN * 8) as CK_ULONG,
                aad: self.aad(),
                tag_bits: (TAG_LEN * 8) as CK_ULONG,
            },
        }
    }
}

impl KeyWrapper for CmkWrapper<'_> {
    fn wrap(&self, dek: &[u8]) -> kmsbridge_secrets::Result<Vec<u8>> {
        let version = u32::try_from(self.key.rec.primary_version.max(1))
            .map_err(|_| err("key version out of range"))?;
        let obj = self.object(version)?;
        let mut iv = [0u8; IV_LEN];
        self.inst
            .backend()
            .random(&mut iv)
            .map_err(|_| err("no random IV"))?;
        let mut op = self
            .inst
            .backend()
            .begin_encrypt(&self.mech(&iv), obj)
            .map_err(|e| err(&format!("cannot start wrapping: {e}")))?;
        let mut out = vec![0u8; dek.len() + TAG_LEN];
        let n = op
            .run(dek, Some(&mut out))
            .map_err(|e| err(&format!("wrapping failed: {e}")))?;
        out.truncate(n);
        let mut blob = vec![FORMAT];
        blob.extend_from_slice(&version.to_be_bytes());
        blob.extend_from_slice(&iv);
        blob.extend_from_slice(&out);
        Ok(blob)
    }

    fn unwrap(&self, blob: &[u8]) -> kmsbridge_secrets::Result<Zeroizing<Vec<u8>>> {
        let bad = || err("the wrapped data key is malformed or altered");
        let (format, rest) = blob.split_first().ok_or_else(bad)?;
        if *format != FORMAT {
            return Err(bad());
        }
        let (v, rest) = rest.split_at_checked(4).ok_or_else(bad)?;
        let version = u32::from_be_bytes(v.try_into().map_err(|_| bad())?);
        let (iv, ct) = rest.split_at_checked(IV_LEN).ok_or_else(bad)?;
        if ct.len() < TAG_LEN {
            return Err(bad());
        }
        let obj = self.object(version)?;
        let mut op = self
            .inst
            .backend()
            .begin_decrypt(&self.mech(iv), obj)
            .map_err(|e| err(&format!("cannot start unwrapping: {e}")))?;
        let mut out = Zeroizing::new(vec![0u8; ct.len()]);
        let n = op.run(ct, Some(&mut out)).map_err(|_| bad())?;
        out.truncate(n);
        Ok(out)
    }

    fn key_id(&self) -> String {
        self.key.rec.id.clone()
    }
}
