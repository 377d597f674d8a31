//! A key record's attributes (or a record-less key object's, which answers the same
//! ones), read in one C_GetAttributeValue round and named for people.

use super::vendor::*;
use crate::module::Error;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::CK_ULONG;

/// DER OIDs of the curves `--spec` offers.
pub const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

#[derive(Default)]
pub struct Record {
    pub id: Vec<u8>,
    pub alias: Option<String>,
    pub key_type: Option<KeyType>,
    pub value_len: Option<u64>,
    pub modulus_bits: Option<u64>,
    pub ec_params: Option<Vec<u8>>,
    pub origin: Option<CK_ULONG>,
    pub state: Option<CK_ULONG>,
    pub deletion_date: Option<CK_ULONG>,
    pub material_expiry: Option<CK_ULONG>,
    pub primary_version: Option<CK_ULONG>,
    pub created: Option<CK_ULONG>,
    pub default_key: Option<bool>,
}

impl Record {
    pub fn read(s: &Session, h: ObjectHandle) -> Result<Record, Error> {
        // Attributes a record does not answer come back as absent, not as an error.
        let attrs = s.get_attributes(
            h,
            &[
                AttributeType::Id,
                AttributeType::Label,
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::ModulusBits,
                AttributeType::EcParams,
                attr_type(CKA_KMSBRIDGE_ORIGIN),
                attr_type(CKA_KMSBRIDGE_KEY_STATE),
                attr_type(CKA_KMSBRIDGE_DELETION_DATE),
                attr_type(CKA_KMSBRIDGE_MATERIAL_EXPIRY),
                attr_type(CKA_KMSBRIDGE_PRIMARY_VERSION),
                attr_type(CKA_KMSBRIDGE_CREATED),
                attr_type(CKA_KMSBRIDGE_DEFAULT_KEY),
            ],
        )?;
        let mut r = Record::default();
        for a in attrs {
            match a {
                Attribute::Id(v) => r.id = v,
                Attribute::Label(v) => {
                    r.alias =
                        Some(String::from_utf8_lossy(&v).into_owned()).filter(|a| !a.is_empty())
                }
                Attribute::KeyType(k) => r.key_type = Some(k),
                Attribute::ValueLen(n) => r.value_len = Some(n.into()),
                Attribute::ModulusBits(n) => r.modulus_bits = Some(n.into()),
                Attribute::EcParams(p) => r.ec_params = Some(p),
                Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) => match t {
                    CKA_KMSBRIDGE_DEFAULT_KEY => r.default_key = v.first().map(|b| *b != 0),
                    _ => {
                        let n = as_ulong(&v);
                        match t {
                            CKA_KMSBRIDGE_ORIGIN => r.origin = n,
                            CKA_KMSBRIDGE_KEY_STATE => r.state = n,
                            CKA_KMSBRIDGE_DELETION_DATE => r.deletion_date = n,
                            CKA_KMSBRIDGE_MATERIAL_EXPIRY => r.material_expiry = n,
                            CKA_KMSBRIDGE_PRIMARY_VERSION => r.primary_version = n,
                            CKA_KMSBRIDGE_CREATED => r.created = n,
                            _ => {}
                        }
                    }
                },
                _ => {}
            }
        }
        Ok(r)
    }

    pub fn id_hex(&self) -> String {
        hex::encode(&self.id)
    }

    /// `aes-256`, `rsa-2048`, `ec-p256`: the `--spec` words.
    pub fn spec(&self) -> String {
        match self.key_type {
            Some(KeyType::AES) => match self.value_len {
                Some(n) => format!("aes-{}", n * 8),
                None => "aes".into(),
            },
            Some(KeyType::RSA) => match self.modulus_bits {
                Some(n) => format!("rsa-{n}"),
                None => "rsa".into(),
            },
            Some(KeyType::EC) => match self.ec_params.as_deref() {
                Some(p) => curve_name(p),
                None => "ec".into(),
            },
            Some(k) => k.to_string(),
            None => "?".into(),
        }
    }

    pub fn state_name(&self) -> String {
        self.state.map(state_name).unwrap_or_else(|| "?".into())
    }

    pub fn origin_name(&self) -> String {
        self.origin.map(origin_name).unwrap_or_else(|| "?".into())
    }
}

pub fn curve_name(params: &[u8]) -> String {
    match params {
        P256 => "ec-p256".into(),
        P384 => "ec-p384".into(),
        other => format!("ec ({})", hex::encode(other)),
    }
}
