//! The instance's side of its trail, read through the module as the user.

use crate::kms::refusal::refused;
use crate::kms::session;
use crate::kms::vendor::{attr_type, ulong};
use crate::module::Error;
use cryptoki::object::{Attribute, AttributeType};
use cryptoki_sys::{CKA_CLASS, CK_ATTRIBUTE_TYPE, CK_ULONG};
use kmsbridge_audit::Head;
use std::path::PathBuf;

pub const CKO_KMSBRIDGE_AUDIT: CK_ULONG = 0xCB42_0004;
pub const CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY: CK_ATTRIBUTE_TYPE = 0xCB42_0020;
pub const CKA_KMSBRIDGE_AUDIT_HEAD: CK_ATTRIBUTE_TYPE = 0xCB42_0021;
pub const CKA_KMSBRIDGE_AUDIT_DIR: CK_ATTRIBUTE_TYPE = 0xCB42_0022;
pub const CKA_KMSBRIDGE_AUDIT_INSTANCE: CK_ATTRIBUTE_TYPE = 0xCB42_0023;

/// What the instance holds of its trail.
pub struct Facts {
    /// DER SubjectPublicKeyInfo; empty while no checkpoint was ever signed.
    pub public_key: Vec<u8>,
    pub head: Option<Head>,
    pub dir: PathBuf,
    pub instance: String,
}

/// Logs in (`--pin` or KMSBRIDGE_USER_PIN) and reads the `CKO_KMSBRIDGE_AUDIT` object.
pub fn read(pin: Option<&str>) -> Result<Facts, Error> {
    let s = session::open(pin)?;
    let found = s.find_objects(&[ulong(CKA_CLASS, CKO_KMSBRIDGE_AUDIT)])?;
    let Some(h) = found.first() else {
        return Err(refused(
            "the instance shows no audit object (an older module, or not logged in)",
        ));
    };
    let types = [
        CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY,
        CKA_KMSBRIDGE_AUDIT_HEAD,
        CKA_KMSBRIDGE_AUDIT_DIR,
        CKA_KMSBRIDGE_AUDIT_INSTANCE,
    ];
    let wanted: Vec<AttributeType> = types.iter().map(|t| attr_type(*t)).collect();
    let mut f = Facts {
        public_key: Vec::new(),
        head: None,
        dir: PathBuf::new(),
        instance: String::new(),
    };
    for a in s.get_attributes(*h, &wanted)? {
        let Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) = a else {
            continue;
        };
        match t {
            CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY => f.public_key = v,
            CKA_KMSBRIDGE_AUDIT_HEAD if !v.is_empty() => {
                let head = serde_json::from_slice(&v).map_err(|e| {
                    refused(format!("the instance's audit head is unreadable: {e}"))
                })?;
                f.head = Some(head);
            }
            CKA_KMSBRIDGE_AUDIT_DIR => f.dir = PathBuf::from(String::from_utf8_lossy(&v).as_ref()),
            CKA_KMSBRIDGE_AUDIT_INSTANCE => f.instance = String::from_utf8_lossy(&v).into_owned(),
            _ => {}
        }
    }
    // The session ends here: the module flushes and signs what this login recorded.
    drop(s);
    Ok(f)
}

/// `--dir`, else the trail's directory as the instance names it.
pub fn dir(flag: Option<&str>, facts: Option<&Facts>) -> Result<PathBuf, Error> {
    if let Some(d) = flag {
        return Ok(PathBuf::from(d));
    }
    match facts {
        Some(f) if !f.dir.as_os_str().is_empty() => Ok(f.dir.clone()),
        _ => Err(refused(
            "auditing is off for this instance ([instance.audit] enabled = false)",
        )),
    }
}
