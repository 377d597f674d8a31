//! Token objects as the engine sees them ([`ObjectRecord`]) and as a store keeps them
//! ([`ObjectRow`]): clear attributes (public objects only), the list of sealed attribute
//! types, and the seal, made and opened here so a store writes rows only.

use zeroize::Zeroizing;

use crate::pins::Dek;
use crate::seal;
use kmsbridge_bridge::{Error, ObjectId, Result};

/// An object as the engine sees it. Values are in clear in memory only (zeroized on
/// drop); the store seals what must be sealed on the way to disk.
#[derive(Clone, Default)]
pub struct ObjectRecord {
    /// Assigned by the store on insert (ignored there); names the object otherwise.
    pub id: ObjectId,
    /// `CKA_CLASS`.
    pub class: u64,
    /// `CKA_PRIVATE`: every attribute of a private object is sealed.
    pub private: bool,
    /// `(CK_ATTRIBUTE_TYPE, value)`. A load gives the clear ones first, then the sealed
    /// ones, each in the order they were stored.
    pub attrs: Vec<(u64, Zeroizing<Vec<u8>>)>,
    /// On a load without the DEK: the types of the public object's sealed attributes,
    /// which are not in `attrs`. Empty otherwise; ignored by insert and update.
    pub withheld: Vec<u64>,
}

impl ObjectRecord {
    /// The value of an attribute, if present.
    pub fn get(&self, ty: u64) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_slice())
    }
}

impl std::fmt::Debug for ObjectRecord {
    // Values are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<String> = self.attrs.iter().map(|(t, _)| format!("0x{t:x}")).collect();
        f.debug_struct("ObjectRecord")
            .field("id", &self.id)
            .field("class", &self.class)
            .field("private", &self.private)
            .field("attrs", &types)
            .field("withheld", &self.withheld)
            .finish()
    }
}

/// A record split into what is stored in clear and what is sealed.
pub(crate) struct Split<'a> {
    pub clear: Vec<u8>,
    pub sealed: Vec<(u64, &'a [u8])>,
    pub sealed_types: Vec<u64>,
}

pub(crate) fn split<'a>(rec: &'a ObjectRecord, secret: &dyn Fn(u64) -> bool) -> Result<Split<'a>> {
    let is_sealed = |ty: u64| rec.private || secret(ty);
    let clear = seal::encode(
        rec.attrs
            .iter()
            .filter(|(t, _)| !is_sealed(*t))
            .map(|(t, v)| (*t, v.as_slice())),
    )?;
    let sealed: Vec<(u64, &[u8])> = rec
        .attrs
        .iter()
        .filter(|(t, _)| is_sealed(*t))
        .map(|(t, v)| (*t, v.as_slice()))
        .collect();
    let sealed_types = sealed.iter().map(|(t, _)| *t).collect();
    Ok(Split {
        clear,
        sealed,
        sealed_types,
    })
}

/// An object row as a store keeps it. Bytes only; encoded, sealed and opened here.
#[derive(Clone)]
pub struct ObjectRow {
    /// The object's random 128-bit uid, bound into its seal.
    pub uid: Vec<u8>,
    /// `CKA_CLASS`.
    pub class: u64,
    /// `CKA_PRIVATE`.
    pub private: bool,
    /// The encoded clear attributes (none for a private object).
    pub clear: Vec<u8>,
    /// The encoded list of the sealed attributes' types.
    pub sealed_types: Vec<u8>,
    /// The seal of the sealed attributes, if there are any (always, on a private object).
    pub sealed: Option<Vec<u8>>,
}

pub(crate) fn corrupt(id: ObjectId, what: &'static str) -> Error {
    tracing::error!(
        id,
        what,
        "store: object failed its checks (tampered with or corrupt)"
    );
    Error::rv(cryptoki_sys::CKR_DEVICE_ERROR, what)
}

pub(crate) fn no_object() -> Error {
    Error::rv(
        cryptoki_sys::CKR_OBJECT_HANDLE_INVALID,
        "store: no such object",
    )
}

/// Seal `attrs` as the sealed part of object `id`.
pub(crate) fn seal_part(
    dek: &Dek,
    token_uid: &[u8; seal::UID_LEN],
    uid: &[u8],
    id: ObjectId,
    class: u64,
    private: bool,
    attrs: &[(u64, &[u8])],
) -> Result<Vec<u8>> {
    let aad = seal::object_aad(token_uid, uid, id, class, private);
    let it = attrs.iter().map(|(t, v)| (*t, *v));
    let len = seal::encoded_len(it.clone());
    let mut result = Ok(());
    let blob = seal::seal_with(&dek.key, &aad, len, |b| {
        result = seal::encode_into(it, b);
    })?;
    result.map(|()| blob)
}

/// Open the sealed part of a row; checks that the sealed types match the clear list.
pub(crate) fn open_part(
    dek: &Dek,
    token_uid: &[u8; seal::UID_LEN],
    id: ObjectId,
    row: &ObjectRow,
    blob: &[u8],
) -> Option<Vec<(u64, Zeroizing<Vec<u8>>)>> {
    let aad = seal::object_aad(token_uid, &row.uid, id, row.class, row.private);
    let plain = seal::open(&dek.key, &aad, blob)?;
    let attrs = seal::decode(&plain)?;
    let types = seal::decode_types(&row.sealed_types)?;
    (attrs.len() == types.len() && attrs.iter().zip(&types).all(|((a, _), b)| a == b))
        .then_some(attrs)
}
