//! The boundary every backend implements: a PKCS#11 node, a cluster of nodes, or
//! the in-module software store. Objects are named by [`ObjectId`], stable for the
//! life of the backend; the provider maps them to front handles.

use crate::op::{Cipher, Digesting, Signing, Verifying};
use crate::{Attr, AttrReq, Mechanism, Result};
use cryptoki_sys::{CK_MECHANISM_INFO, CK_MECHANISM_TYPE, CK_RV};

/// A backend's own stable name for an object.
pub type ObjectId = u64;

/// The kind of a multi-step operation; a front session holds one of each at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Digest,
}

/// Where an operation writes: `None` asks for the length only.
pub type Output<'a> = Option<&'a mut [u8]>;

/// Facts about the device behind an instance, for CK_TOKEN_INFO.
#[derive(Clone, Debug, Default)]
pub struct DeviceInfo {
    pub manufacturer: String,
    pub model: String,
    pub hardware_version: (u8, u8),
    pub firmware_version: (u8, u8),
    pub total_public_memory: Option<u64>,
    pub free_public_memory: Option<u64>,
    pub total_private_memory: Option<u64>,
    pub free_private_memory: Option<u64>,
}

pub trait Backend: Send + Sync {
    /// Connect if not yet connected (load, log in, open the pool). Idempotent.
    fn connect(&self) -> Result<()>;
    /// Release every backend resource for good (C_Finalize); later calls fail with
    /// CKR_CRYPTOKI_NOT_INITIALIZED. Operations in flight finish on what they hold.
    fn shutdown(&self);
    fn device_info(&self) -> Result<DeviceInfo>;
    /// Mechanisms the backend offers and the bridge can carry (or composes).
    fn mechanisms(&self) -> Result<Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>>;
    fn random(&self, out: &mut [u8]) -> Result<()>;
    fn seed_random(&self, seed: &[u8]) -> Result<()>;

    fn find(&self, template: &[Attr]) -> Result<Vec<ObjectId>>;
    /// Whether `get_attributes` on a token object answers from the token as it is now,
    /// so that one another process destroyed stops answering: a caller may then keep
    /// an object's id and re-read it instead of finding it again (a find scans every
    /// object on most tokens). False where reads may answer from a process's cache.
    fn live_reads(&self) -> bool {
        false
    }
    /// Whether a kept id whose object another process replaced may answer for the
    /// replacement when the two share what the backend names objects by (a cluster
    /// re-resolves a stale node handle by class, CKA_ID, label, application and
    /// CKA_OBJECT_ID). A caller keeping ids on such a backend keeps them only for
    /// objects made unique among those (e.g. a fresh CKA_OBJECT_ID each).
    fn reads_follow_identity(&self) -> bool {
        false
    }
    fn create_object(&self, template: &[Attr]) -> Result<ObjectId>;
    fn copy_object(&self, obj: ObjectId, template: &[Attr]) -> Result<ObjectId>;
    fn destroy_object(&self, obj: ObjectId) -> Result<()>;
    fn object_size(&self, obj: ObjectId) -> Result<u64>;
    /// Answers each request in place. `Ok(rv)` carries the call's code when it is one
    /// of the per-attribute outcomes (OK, SENSITIVE, TYPE_INVALID, BUFFER_TOO_SMALL).
    fn get_attributes(&self, obj: ObjectId, reqs: &mut [AttrReq]) -> Result<CK_RV>;
    fn set_attributes(&self, obj: ObjectId, template: &[Attr]) -> Result<()>;

    fn generate_key(&self, mech: &Mechanism, template: &[Attr]) -> Result<ObjectId>;
    fn generate_key_pair(
        &self,
        mech: &Mechanism,
        public: &[Attr],
        private: &[Attr],
    ) -> Result<(ObjectId, ObjectId)>;
    /// Wraps `key`; with `out == None` answers the length only.
    fn wrap_key(
        &self,
        mech: &Mechanism,
        wrapping: ObjectId,
        key: ObjectId,
        out: Output,
    ) -> Result<usize>;
    fn unwrap_key(
        &self,
        mech: &Mechanism,
        unwrapping: ObjectId,
        wrapped: &[u8],
        template: &[Attr],
    ) -> Result<ObjectId>;
    fn derive_key(&self, mech: &Mechanism, base: ObjectId, template: &[Attr]) -> Result<ObjectId>;

    /// Start an operation (C_EncryptInit ...); the backend checks mechanism and key
    /// as its Init would.
    fn begin_encrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>>;
    fn begin_decrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>>;
    fn begin_sign(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Signing>>;
    fn begin_verify(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Verifying>>;
    fn begin_digest(&self, mech: &Mechanism) -> Result<Box<dyn Digesting>>;
    /// C_DigestKey: feed `key`'s value to the digest `op` this backend began. By
    /// default the operation resolves the key itself (a PKCS#11 node's C_DigestKey);
    /// a backend whose operations cannot see objects overrides it.
    fn digest_key(&self, op: &mut dyn Digesting, key: ObjectId) -> Result<()> {
        op.update_key(key)
    }

    /// A salted check value of a key's material: equal for equal material, revealing
    /// nothing about it. Used to accept a re-import only with the same material.
    fn material_check(&self, obj: ObjectId, salt: &[u8]) -> Result<[u8; 32]>;
}
