//! An object in memory: attribute type → value bytes.

use cryptoki_sys::*;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A PKCS#11 object as the engine keeps it: every attribute the object has, with
/// `CK_ULONG` values native-endian and `CK_BBOOL` values one byte, as an application
/// would read them. Values are zeroized on drop.
#[derive(Clone, Default)]
pub struct SoftObject {
    attrs: BTreeMap<CK_ATTRIBUTE_TYPE, Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for SoftObject {
    // Values are never printed: they may be key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<String> = self.attrs.keys().map(|t| format!("0x{t:x}")).collect();
        write!(
            f,
            "SoftObject(class 0x{:x}, [{}])",
            self.class(),
            types.join(", ")
        )
    }
}

impl SoftObject {
    /// An object from stored attributes, as `attrs()` gave them (no checks: the store
    /// holds only what the engine made).
    pub fn from_attrs(attrs: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>) -> SoftObject {
        SoftObject {
            attrs: attrs
                .into_iter()
                .map(|(t, v)| (t, Zeroizing::new(v)))
                .collect(),
        }
    }

    /// Every attribute, in type order.
    pub fn attrs(&self) -> impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &[u8])> {
        self.attrs.iter().map(|(t, v)| (*t, v.as_slice()))
    }

    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.attrs.get(&ty).map(|v| v.as_slice())
    }

    pub fn has(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.attrs.contains_key(&ty)
    }

    pub fn get_bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
        match self.get(ty)? {
            [b] => Some(*b != 0),
            _ => None,
        }
    }

    /// A boolean attribute, false when absent.
    pub fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.get_bool(ty).unwrap_or(false)
    }

    pub fn get_ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        let b: [u8; std::mem::size_of::<CK_ULONG>()] = self.get(ty)?.try_into().ok()?;
        Some(CK_ULONG::from_ne_bytes(b))
    }

    pub fn set(&mut self, ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) {
        self.attrs.insert(ty, Zeroizing::new(value));
    }

    pub fn set_bool(&mut self, ty: CK_ATTRIBUTE_TYPE, v: bool) {
        self.set(ty, vec![v as u8]);
    }

    pub fn set_ulong(&mut self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) {
        self.set(ty, v.to_ne_bytes().to_vec());
    }

    pub fn remove(&mut self, ty: CK_ATTRIBUTE_TYPE) {
        self.attrs.remove(&ty);
    }

    /// CKA_CLASS, or `CK_UNAVAILABLE_INFORMATION` for an object without one.
    pub fn class(&self) -> CK_OBJECT_CLASS {
        self.get_ulong(CKA_CLASS)
            .unwrap_or(CK_UNAVAILABLE_INFORMATION)
    }

    /// CKA_KEY_TYPE of a key.
    pub fn key_type(&self) -> Option<CK_KEY_TYPE> {
        self.get_ulong(CKA_KEY_TYPE)
    }

    pub fn is_token(&self) -> bool {
        self.flag(CKA_TOKEN)
    }

    pub fn is_private(&self) -> bool {
        self.flag(CKA_PRIVATE)
    }

    /// Bytes the object takes (C_GetObjectSize): the sum of its values.
    pub fn size(&self) -> u64 {
        self.attrs.values().map(|v| v.len() as u64 + 16).sum()
    }

    /// Attributes that hold secrets and must be sealed at rest, whatever the class:
    /// CKA_VALUE (secret and private keys, and data objects, which hold KMS secrets)
    /// and the private RSA components.
    pub fn is_secret_attr(ty: CK_ATTRIBUTE_TYPE) -> bool {
        matches!(
            ty,
            CKA_VALUE
                | CKA_PRIVATE_EXPONENT
                | CKA_PRIME_1
                | CKA_PRIME_2
                | CKA_EXPONENT_1
                | CKA_EXPONENT_2
                | CKA_COEFFICIENT
        )
    }

    /// True when the object's secret attributes may not be read (sensitive or
    /// unextractable key).
    pub fn hides_secrets(&self) -> bool {
        matches!(self.class(), CKO_SECRET_KEY | CKO_PRIVATE_KEY)
            && (self.flag(CKA_SENSITIVE) || !self.get_bool(CKA_EXTRACTABLE).unwrap_or(true))
    }
}
