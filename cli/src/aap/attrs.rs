//! An access point as the module shows it to the SO (include/kmsbridge.h,
//! docs/ACCESS.md): the vendor class and attributes, and one object read into words.

use crate::kms::vendor::{as_ulong, attr_type, bytes, ulong};
use crate::module::Error;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::{CKA_CLASS, CK_ATTRIBUTE_TYPE, CK_ULONG};
use serde::{Deserialize, Serialize};

pub const CKO_KMSBRIDGE_ACCESS_POINT: CK_ULONG = 0xCB42_0003;

pub const CKA_KMSBRIDGE_CREATED: CK_ATTRIBUTE_TYPE = 0xCB42_000C;
pub const CKA_KMSBRIDGE_DESCRIPTION: CK_ATTRIBUTE_TYPE = 0xCB42_0013;
pub const CKA_KMSBRIDGE_CREDENTIALS: CK_ATTRIBUTE_TYPE = 0xCB42_0014;
pub const CKA_KMSBRIDGE_CREDENTIAL_ADD: CK_ATTRIBUTE_TYPE = 0xCB42_0015;
pub const CKA_KMSBRIDGE_NOT_BEFORE: CK_ATTRIBUTE_TYPE = 0xCB42_0016;
pub const CKA_KMSBRIDGE_NOT_AFTER: CK_ATTRIBUTE_TYPE = 0xCB42_0017;
pub const CKA_KMSBRIDGE_CREDENTIAL_REVOKE: CK_ATTRIBUTE_TYPE = 0xCB42_0018;
pub const CKA_KMSBRIDGE_CREDENTIAL_UNLOCK: CK_ATTRIBUTE_TYPE = 0xCB42_0019;
pub const CKA_KMSBRIDGE_CONFIGURED: CK_ATTRIBUTE_TYPE = 0xCB42_001A;

/// `CKA_CLASS = CKO_KMSBRIDGE_ACCESS_POINT`, raw: cryptoki's `ObjectClass` has no
/// vendor classes. The module finds access points only by templates naming it.
pub fn ap_class() -> Attribute {
    ulong(CKA_CLASS, CKO_KMSBRIDGE_ACCESS_POINT)
}

pub fn text(t: CK_ATTRIBUTE_TYPE, v: &str) -> Attribute {
    bytes(t, v.as_bytes())
}

/// One credential as CKA_KMSBRIDGE_CREDENTIALS lists it (never its hash).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    /// Unix seconds; 0 for none.
    #[serde(default)]
    pub not_before: u64,
    #[serde(default)]
    pub not_after: u64,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub failures: u64,
    #[serde(default)]
    pub locked: bool,
}

#[derive(Deserialize)]
struct CredentialList {
    #[serde(default)]
    credential: Vec<Credential>,
}

/// Reads the module's `[[credential]]` tables.
pub fn parse_credentials(text: &str) -> Result<Vec<Credential>, Error> {
    let list: CredentialList = toml::from_str(text).map_err(|e| {
        format!("the module's credential list does not parse ({e}): is libkmsbridge.so as new as this CLI?")
    })?;
    Ok(list.credential)
}

/// One access point, every attribute the SO can read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccessPoint {
    pub name: String,
    pub description: String,
    /// Unix seconds; 0 for one of the configuration file.
    pub created: u64,
    /// Defined in the configuration file (read-only through the module).
    pub configured: bool,
    /// The policy's TOML text as its author wrote it.
    pub policy: String,
    pub credentials: Vec<Credential>,
}

impl AccessPoint {
    pub fn read(s: &Session, h: ObjectHandle) -> Result<AccessPoint, Error> {
        let attrs = s.get_attributes(
            h,
            &[
                AttributeType::Label,
                AttributeType::Value,
                attr_type(CKA_KMSBRIDGE_DESCRIPTION),
                attr_type(CKA_KMSBRIDGE_CREATED),
                attr_type(CKA_KMSBRIDGE_CONFIGURED),
                attr_type(CKA_KMSBRIDGE_CREDENTIALS),
            ],
        )?;
        let mut ap = AccessPoint::default();
        let words = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        for a in attrs {
            match a {
                Attribute::Label(v) => ap.name = words(&v),
                Attribute::Value(v) => ap.policy = words(&v),
                Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) => match t {
                    CKA_KMSBRIDGE_DESCRIPTION => ap.description = words(&v),
                    CKA_KMSBRIDGE_CREATED => ap.created = as_ulong(&v).unwrap_or(0),
                    CKA_KMSBRIDGE_CONFIGURED => ap.configured = v.first().is_some_and(|b| *b != 0),
                    CKA_KMSBRIDGE_CREDENTIALS => ap.credentials = parse_credentials(&words(&v))?,
                    _ => {}
                },
                _ => {}
            }
        }
        Ok(ap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_module_credential_list() {
        let text = "[[credential]]\nid = \"0123456789abcdef\"\nnot_before = 0\nnot_after = 1800000000\ncreated = 5\nfailures = 3\nlocked = false\n\n[[credential]]\nid = \"fedcba9876543210\"\nnot_before = 0\nnot_after = 0\ncreated = 6\nfailures = 10\nlocked = true\n";
        let c = parse_credentials(text).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].id, "0123456789abcdef");
        assert_eq!(c[0].not_after, 1_800_000_000);
        assert_eq!(c[0].failures, 3);
        assert!(c[1].locked);
        assert!(parse_credentials("").unwrap().is_empty());
    }
}
