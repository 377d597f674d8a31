//! Secrets through PKCS#11 (docs/SECRETS.md): CKO_DATA objects of `kmsbridge.secret`,
//! put with C_CreateObject, read by CKA_VALUE, versions and stages by vendor attributes.

use crate::kms::*;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// The CKA_APPLICATION of secrets.
pub const APPLICATION: &[u8] = b"kmsbridge.secret";

/// A vendor attribute.
pub fn vattr(ty: u64, value: &[u8]) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value.to_vec()))
}

/// A vendor CK_ULONG attribute.
pub fn vattr_ulong(ty: u64, value: u64) -> Attribute {
    vattr(ty, &(value as cryptoki_sys::CK_ULONG).to_ne_bytes())
}

fn base(name: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Application(APPLICATION.to_vec()),
        Attribute::Label(name.as_bytes().to_vec()),
    ]
}

/// Put `value` into secret `name` (made if missing), optionally under `version`.
pub fn put(
    s: &Session,
    name: &str,
    value: &[u8],
    version: Option<&str>,
) -> cryptoki::error::Result<ObjectHandle> {
    let mut t = base(name);
    t.push(Attribute::Value(value.to_vec()));
    if let Some(v) = version {
        t.push(vattr(CKA_KMSBRIDGE_SECRET_VERSION_ID, v.as_bytes()));
    }
    s.create_object(&t)
}

/// Put with extra attributes in the template.
pub fn put_with(
    s: &Session,
    name: &str,
    value: &[u8],
    extra: Vec<Attribute>,
) -> cryptoki::error::Result<ObjectHandle> {
    let mut t = base(name);
    t.push(Attribute::Value(value.to_vec()));
    t.extend(extra);
    s.create_object(&t)
}

/// Find a secret's object: `ACSCurrent`, or another stage, or a version id.
pub fn find(
    s: &Session,
    name: &str,
    stage: Option<&str>,
    version: Option<&str>,
) -> Vec<ObjectHandle> {
    let mut t = base(name);
    if let Some(st) = stage {
        t.push(vattr(CKA_KMSBRIDGE_SECRET_STAGE, st.as_bytes()));
    }
    if let Some(v) = version {
        t.push(vattr(CKA_KMSBRIDGE_SECRET_VERSION_ID, v.as_bytes()));
    }
    s.find_objects(&t).expect("C_FindObjects (secrets)")
}

/// CKA_VALUE of an object; `cryptoki` leaves out a sensitive attribute, reported here
/// as CKR_ATTRIBUTE_SENSITIVE.
pub fn value(s: &Session, h: ObjectHandle) -> cryptoki::error::Result<Vec<u8>> {
    match s.get_attributes(h, &[AttributeType::Value])?.pop() {
        Some(Attribute::Value(v)) => Ok(v),
        None => Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::AttributeSensitive,
            cryptoki::context::Function::GetAttributeValue,
        )),
        other => panic!("CKA_VALUE: {other:?}"),
    }
}

/// A text vendor attribute of an object.
pub fn text(s: &Session, h: ObjectHandle, ty: u64) -> String {
    match s
        .get_attributes(h, &[AttributeType::VendorDefined(ty)])
        .expect("read a vendor attribute")
        .pop()
    {
        Some(Attribute::VendorDefined((_, v))) => String::from_utf8(v).unwrap(),
        other => panic!("vendor attribute {ty:#x}: {other:?}"),
    }
}

/// The secret's metadata (CKA_KMSBRIDGE_SECRET_INFO).
pub fn info(s: &Session, h: ObjectHandle) -> serde_json::Value {
    serde_json::from_str(&text(s, h, CKA_KMSBRIDGE_SECRET_INFO)).unwrap()
}

/// The current value of secret `name`.
pub fn current(s: &Session, name: &str) -> Vec<u8> {
    let h = *find(s, name, None, None).first().unwrap_or_else(|| panic!("secret {name} not found"));
    value(s, h).unwrap()
}
