//! Attribute rules: which attributes each kind of object has, their defaults, who may
//! set or change them, and which are hidden when a key is sensitive.
//!
//! Defaults follow SoftHSM2 2.6 (what applications written against it expect) with
//! one deliberate difference: `CKA_PRIVATE` defaults to false for public keys and
//! certificates (true for everything else), so that a public key made without a
//! template entry is readable without login, as the spec intends for public objects.
//! Usage flags (`CKA_ENCRYPT`, `CKA_SIGN`, `CKA_WRAP`, ...) default to true,
//! `CKA_DERIVE` to false, `CKA_SENSITIVE` to false, `CKA_EXTRACTABLE` to true.

use super::object::SoftObject;
use cryptoki_sys::*;
use kmsbridge_bridge::attr::{Attr, AttrReq};
use kmsbridge_bridge::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Ulong,
    Bytes,
    /// CK_DATE (8 characters) or empty.
    Date,
    /// A list of CK_MECHANISM_TYPE.
    Mechs,
}

/// C_SetAttributeValue may change it (subject to the one-way rules).
const MODIFIABLE: u16 = 1;
/// A C_CopyObject template may change it.
const COPY: u16 = 2;
/// C_CreateObject may not give it (the token computes it).
const NO_CREATE: u16 = 4;
/// Key generation, unwrapping and derivation may not give it (they compute it).
const NO_GENERATE: u16 = 8;
/// Hidden (CKR_ATTRIBUTE_SENSITIVE) while the key is sensitive or unextractable.
pub const SENSITIVE: u16 = 16;
/// May change only from false to true.
const TRUE_ONLY: u16 = 32;
/// May change only from true to false.
const FALSE_ONLY: u16 = 64;
/// Never given by the application.
const READ_ONLY: u16 = NO_CREATE | NO_GENERATE;

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub kind: Kind,
    pub flags: u16,
}

const fn s(kind: Kind, flags: u16) -> Option<Spec> {
    Some(Spec { kind, flags })
}

/// How an object comes to be; decides which attributes a template may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctx {
    Create,
    Generate,
    Unwrap,
    Derive,
}

/// Where a key came from, for CKA_LOCAL and the "always/never" attributes.
#[derive(Clone, Copy, Debug)]
pub enum Origin {
    Created,
    Generated(CK_MECHANISM_TYPE),
    Unwrapped,
    /// Derived from a base key with these CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE.
    Derived(bool, bool),
}

/// The rules for attribute `ty` on an object of `class` (and key type `kt`), or None
/// when such an object has no such attribute.
pub fn spec(
    class: CK_OBJECT_CLASS,
    kt: Option<CK_KEY_TYPE>,
    ty: CK_ATTRIBUTE_TYPE,
) -> Option<Spec> {
    use Kind::*;
    // Common to every object.
    match ty {
        CKA_CLASS => return s(Ulong, 0),
        CKA_TOKEN | CKA_PRIVATE => return s(Bool, COPY),
        CKA_MODIFIABLE => return s(Bool, COPY | FALSE_ONLY),
        CKA_DESTROYABLE => return s(Bool, COPY),
        CKA_COPYABLE => return s(Bool, COPY | MODIFIABLE | FALSE_ONLY),
        CKA_LABEL => return s(Bytes, MODIFIABLE | COPY),
        _ => {}
    }
    match class {
        CKO_DATA => match ty {
            CKA_APPLICATION | CKA_OBJECT_ID | CKA_VALUE => s(Bytes, 0),
            _ => None,
        },
        CKO_CERTIFICATE => match ty {
            CKA_CERTIFICATE_TYPE => s(Ulong, 0),
            CKA_TRUSTED => s(Bool, 0),
            CKA_CERTIFICATE_CATEGORY | CKA_JAVA_MIDP_SECURITY_DOMAIN => s(Ulong, 0),
            CKA_START_DATE | CKA_END_DATE => s(Date, MODIFIABLE | COPY),
            CKA_ID | CKA_SUBJECT | CKA_ISSUER | CKA_SERIAL_NUMBER => s(Bytes, MODIFIABLE | COPY),
            CKA_VALUE
            | CKA_URL
            | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
            | CKA_HASH_OF_ISSUER_PUBLIC_KEY => s(Bytes, 0),
            _ => None,
        },
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY => key_spec(class, kt, ty),
        _ => None,
    }
}

fn key_spec(
    class: CK_OBJECT_CLASS,
    kt: Option<CK_KEY_TYPE>,
    ty: CK_ATTRIBUTE_TYPE,
) -> Option<Spec> {
    use Kind::*;
    let usage = MODIFIABLE | COPY;
    // Common to keys.
    match ty {
        CKA_KEY_TYPE => return s(Ulong, 0),
        CKA_ID => return s(Bytes, usage),
        CKA_START_DATE | CKA_END_DATE => return s(Date, usage),
        CKA_DERIVE => return s(Bool, usage),
        CKA_LOCAL | CKA_KEY_GEN_MECHANISM => {
            return s(if ty == CKA_LOCAL { Bool } else { Ulong }, READ_ONLY)
        }
        CKA_ALLOWED_MECHANISMS => return s(Mechs, 0),
        _ => {}
    }
    // Common to the class.
    let common = match class {
        CKO_PUBLIC_KEY => match ty {
            CKA_SUBJECT => s(Bytes, usage),
            CKA_ENCRYPT | CKA_VERIFY | CKA_VERIFY_RECOVER | CKA_WRAP => s(Bool, usage),
            CKA_TRUSTED => s(Bool, 0),
            _ => None,
        },
        CKO_PRIVATE_KEY => match ty {
            CKA_SUBJECT => s(Bytes, usage),
            CKA_DECRYPT | CKA_SIGN | CKA_SIGN_RECOVER | CKA_UNWRAP => s(Bool, usage),
            CKA_SENSITIVE => s(Bool, usage | TRUE_ONLY),
            CKA_EXTRACTABLE => s(Bool, usage | FALSE_ONLY),
            CKA_WRAP_WITH_TRUSTED => s(Bool, usage | TRUE_ONLY),
            CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE => s(Bool, READ_ONLY),
            CKA_ALWAYS_AUTHENTICATE => s(Bool, 0),
            _ => None,
        },
        _ => match ty {
            CKA_ENCRYPT | CKA_DECRYPT | CKA_SIGN | CKA_VERIFY | CKA_WRAP | CKA_UNWRAP => {
                s(Bool, usage)
            }
            CKA_SENSITIVE => s(Bool, usage | TRUE_ONLY),
            CKA_EXTRACTABLE => s(Bool, usage | FALSE_ONLY),
            CKA_WRAP_WITH_TRUSTED => s(Bool, usage | TRUE_ONLY),
            CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE => s(Bool, READ_ONLY),
            CKA_TRUSTED => s(Bool, 0),
            _ => None,
        },
    };
    if common.is_some() {
        return common;
    }
    // Specific to the key type.
    match (class, kt?) {
        (CKO_SECRET_KEY, _) => match ty {
            CKA_VALUE => s(Bytes, SENSITIVE | NO_GENERATE),
            CKA_VALUE_LEN => s(Ulong, 0),
            _ => None,
        },
        (CKO_PUBLIC_KEY, CKK_RSA) => match ty {
            CKA_MODULUS => s(Bytes, NO_GENERATE),
            CKA_MODULUS_BITS => s(Ulong, NO_CREATE),
            CKA_PUBLIC_EXPONENT => s(Bytes, 0),
            _ => None,
        },
        (CKO_PRIVATE_KEY, CKK_RSA) => match ty {
            CKA_MODULUS | CKA_PUBLIC_EXPONENT => s(Bytes, NO_GENERATE),
            CKA_PRIVATE_EXPONENT | CKA_PRIME_1 | CKA_PRIME_2 | CKA_EXPONENT_1 | CKA_EXPONENT_2
            | CKA_COEFFICIENT => s(Bytes, SENSITIVE | NO_GENERATE),
            _ => None,
        },
        (CKO_PUBLIC_KEY, CKK_EC | CKK_EC_EDWARDS) => match ty {
            CKA_EC_PARAMS => s(Bytes, 0),
            CKA_EC_POINT => s(Bytes, NO_GENERATE),
            _ => None,
        },
        (CKO_PRIVATE_KEY, CKK_EC | CKK_EC_EDWARDS) => match ty {
            CKA_EC_PARAMS => s(Bytes, 0),
            CKA_VALUE => s(Bytes, SENSITIVE | NO_GENERATE),
            _ => None,
        },
        _ => None,
    }
}

/// Secret key types the engine keeps.
pub fn secret_key_type_known(kt: CK_KEY_TYPE) -> bool {
    matches!(
        kt,
        CKK_AES
            | CKK_DES2
            | CKK_DES3
            | CKK_GENERIC_SECRET
            | CKK_SHA_1_HMAC
            | CKK_SHA224_HMAC
            | CKK_SHA256_HMAC
            | CKK_SHA384_HMAC
            | CKK_SHA512_HMAC
    )
}

fn defaults(class: CK_OBJECT_CLASS) -> Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> {
    let t = |ty| (ty, vec![1u8]);
    let f = |ty| (ty, vec![0u8]);
    let e = |ty| (ty, Vec::new());
    let mut v = vec![
        f(CKA_TOKEN),
        if matches!(class, CKO_PUBLIC_KEY | CKO_CERTIFICATE) {
            f(CKA_PRIVATE)
        } else {
            t(CKA_PRIVATE)
        },
        t(CKA_MODIFIABLE),
        t(CKA_COPYABLE),
        t(CKA_DESTROYABLE),
        e(CKA_LABEL),
    ];
    let key = [e(CKA_ID), e(CKA_START_DATE), e(CKA_END_DATE), f(CKA_DERIVE)];
    match class {
        CKO_DATA => v.extend([e(CKA_APPLICATION), e(CKA_OBJECT_ID), e(CKA_VALUE)]),
        CKO_CERTIFICATE => v.extend([
            f(CKA_TRUSTED),
            (CKA_CERTIFICATE_CATEGORY, 0 as CK_ULONG).into_attr(),
            (CKA_JAVA_MIDP_SECURITY_DOMAIN, 0 as CK_ULONG).into_attr(),
            e(CKA_START_DATE),
            e(CKA_END_DATE),
            e(CKA_ID),
            e(CKA_SUBJECT),
            e(CKA_ISSUER),
            e(CKA_SERIAL_NUMBER),
            e(CKA_URL),
            e(CKA_HASH_OF_SUBJECT_PUBLIC_KEY),
            e(CKA_HASH_OF_ISSUER_PUBLIC_KEY),
        ]),
        CKO_PUBLIC_KEY => {
            v.extend(key);
            v.extend([
                e(CKA_SUBJECT),
                t(CKA_ENCRYPT),
                t(CKA_VERIFY),
                t(CKA_VERIFY_RECOVER),
                t(CKA_WRAP),
                f(CKA_TRUSTED),
            ]);
        }
        CKO_PRIVATE_KEY => {
            v.extend(key);
            v.extend([
                e(CKA_SUBJECT),
                f(CKA_SENSITIVE),
                t(CKA_DECRYPT),
                t(CKA_SIGN),
                t(CKA_SIGN_RECOVER),
                t(CKA_UNWRAP),
                t(CKA_EXTRACTABLE),
                f(CKA_WRAP_WITH_TRUSTED),
                f(CKA_ALWAYS_AUTHENTICATE),
            ]);
        }
        CKO_SECRET_KEY => {
            v.extend(key);
            v.extend([
                f(CKA_SENSITIVE),
                t(CKA_ENCRYPT),
                t(CKA_DECRYPT),
                t(CKA_SIGN),
                t(CKA_VERIFY),
                t(CKA_WRAP),
                t(CKA_UNWRAP),
                t(CKA_EXTRACTABLE),
                f(CKA_WRAP_WITH_TRUSTED),
                f(CKA_TRUSTED),
            ]);
        }
        _ => {}
    }
    v
}

trait IntoAttr {
    fn into_attr(self) -> (CK_ATTRIBUTE_TYPE, Vec<u8>);
}
impl IntoAttr for (CK_ATTRIBUTE_TYPE, CK_ULONG) {
    fn into_attr(self) -> (CK_ATTRIBUTE_TYPE, Vec<u8>) {
        (self.0, self.1.to_ne_bytes().to_vec())
    }
}

fn err(rv: CK_RV, what: &'static str) -> Error {
    Error::rv(rv, what)
}

/// Check a value's shape against its kind.
fn check_kind(kind: Kind, v: &[u8]) -> Result<()> {
    let good = match kind {
        Kind::Bool => v.len() == 1,
        Kind::Ulong => v.len() == std::mem::size_of::<CK_ULONG>(),
        Kind::Bytes => true,
        Kind::Date => v.is_empty() || v.len() == 8,
        Kind::Mechs => v.len().is_multiple_of(std::mem::size_of::<CK_ULONG>()),
    };
    if good {
        Ok(())
    } else {
        Err(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "attribute value of the wrong size",
        ))
    }
}

/// Refuse a template that names one attribute twice with different values.
pub fn check_duplicates(template: &[Attr]) -> Result<()> {
    for (i, a) in template.iter().enumerate() {
        if template
            .iter()
            .take(i)
            .any(|b| b.ty == a.ty && b.value != a.value)
        {
            return Err(err(CKR_TEMPLATE_INCONSISTENT, "attribute given twice"));
        }
    }
    Ok(())
}

/// A ulong attribute of a template.
pub fn ulong(template: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Result<Option<CK_ULONG>> {
    match kmsbridge_bridge::attr::find(template, ty) {
        None => Ok(None),
        Some(a) => a.as_ulong().map(Some).ok_or(err(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "ulong attribute of the wrong size",
        )),
    }
}

/// An object of `class`/`kt` from defaults and `template`, checked for context `ctx`.
/// Attributes the template gives for CKA_CLASS and CKA_KEY_TYPE must agree.
/// Key material and computed attributes are the caller's to add.
pub fn build(
    class: CK_OBJECT_CLASS,
    kt: Option<CK_KEY_TYPE>,
    template: &[Attr],
    ctx: Ctx,
) -> Result<SoftObject> {
    check_duplicates(template)?;
    let mut obj = SoftObject::from_attrs(defaults(class));
    obj.set_ulong(CKA_CLASS, class);
    if let Some(kt) = kt {
        obj.set_ulong(CKA_KEY_TYPE, kt);
    }
    for a in template {
        let Some(sp) = spec(class, kt, a.ty) else {
            return Err(err(
                CKR_ATTRIBUTE_TYPE_INVALID,
                "attribute not of this object",
            ));
        };
        check_kind(sp.kind, &a.value)?;
        match a.ty {
            CKA_CLASS if a.as_ulong() != Some(class) => {
                return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_CLASS"))
            }
            CKA_KEY_TYPE if a.as_ulong() != kt => {
                return Err(err(CKR_TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE"))
            }
            _ => {}
        }
        let forbidden = match ctx {
            Ctx::Create => sp.flags & NO_CREATE != 0,
            _ => sp.flags & NO_GENERATE != 0,
        };
        if forbidden {
            return Err(err(CKR_ATTRIBUTE_READ_ONLY, "attribute set by the token"));
        }
        obj.set(a.ty, a.value.to_vec());
    }
    // The spec: a key that asks for the PIN at each use must be private. The
    // provider enforces the per-use login (C_Login of CKU_CONTEXT_SPECIFIC).
    if obj.flag(CKA_ALWAYS_AUTHENTICATE) && !obj.flag(CKA_PRIVATE) {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_ALWAYS_AUTHENTICATE needs CKA_PRIVATE",
        ));
    }
    Ok(obj)
}

/// TEMPLATE_INCOMPLETE unless `obj` has every attribute in `required`.
pub fn require(obj: &SoftObject, required: &[CK_ATTRIBUTE_TYPE]) -> Result<()> {
    if required.iter().all(|t| obj.has(*t)) {
        Ok(())
    } else {
        Err(err(
            CKR_TEMPLATE_INCOMPLETE,
            "a required attribute is missing",
        ))
    }
}

/// Set the attributes a key's origin decides.
pub fn finish_key(obj: &mut SoftObject, origin: Origin) {
    if !matches!(
        obj.class(),
        CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY
    ) {
        return;
    }
    let (local, mech) = match origin {
        Origin::Generated(m) => (true, m),
        _ => (false, CK_UNAVAILABLE_INFORMATION),
    };
    obj.set_bool(CKA_LOCAL, local);
    obj.set_ulong(CKA_KEY_GEN_MECHANISM, mech);
    if obj.class() == CKO_PUBLIC_KEY {
        return;
    }
    let sensitive = obj.flag(CKA_SENSITIVE);
    let extractable = obj.get_bool(CKA_EXTRACTABLE).unwrap_or(true);
    let (always, never) = match origin {
        Origin::Generated(_) => (sensitive, !extractable),
        Origin::Created | Origin::Unwrapped => (false, false),
        Origin::Derived(a, n) => (a && sensitive, n && !extractable),
    };
    obj.set_bool(CKA_ALWAYS_SENSITIVE, always);
    obj.set_bool(CKA_NEVER_EXTRACTABLE, never);
}

/// C_GetAttributeValue: answers each request in place and returns the call's code
/// (the first per-attribute failure, or CKR_OK).
pub fn get_attributes(obj: &SoftObject, reqs: &mut [AttrReq]) -> CK_RV {
    let hide = obj.hides_secrets();
    let (class, kt) = (obj.class(), obj.key_type());
    let mut rv = CKR_OK;
    for r in reqs.iter_mut() {
        let one = match obj.get(r.ty) {
            None => {
                r.len = CK_UNAVAILABLE_INFORMATION;
                CKR_ATTRIBUTE_TYPE_INVALID
            }
            Some(_)
                if hide && spec(class, kt, r.ty).is_some_and(|sp| sp.flags & SENSITIVE != 0) =>
            {
                r.len = CK_UNAVAILABLE_INFORMATION;
                CKR_ATTRIBUTE_SENSITIVE
            }
            Some(v) => r.answer(v),
        };
        if rv == CKR_OK {
            rv = one;
        }
    }
    rv
}

/// Check one change of `obj`'s attribute against its rules (`copy`: for C_CopyObject).
fn check_change(obj: &SoftObject, a: &Attr, copy: bool) -> Result<()> {
    let Some(sp) = spec(obj.class(), obj.key_type(), a.ty) else {
        return Err(err(
            CKR_ATTRIBUTE_TYPE_INVALID,
            "attribute not of this object",
        ));
    };
    check_kind(sp.kind, &a.value)?;
    let unchanged = obj.get(a.ty) == Some(&a.value[..]);
    let allowed = sp.flags & if copy { COPY } else { MODIFIABLE } != 0;
    if unchanged {
        return Ok(());
    }
    if !allowed {
        return Err(err(CKR_ATTRIBUTE_READ_ONLY, "attribute may not change"));
    }
    let (old, new) = (obj.flag(a.ty), a.as_bool().unwrap_or(false));
    if sp.flags & TRUE_ONLY != 0 && old && !new {
        return Err(err(
            CKR_ATTRIBUTE_READ_ONLY,
            "attribute may only become true",
        ));
    }
    if sp.flags & FALSE_ONLY != 0 && !old && new {
        return Err(err(
            CKR_ATTRIBUTE_READ_ONLY,
            "attribute may only become false",
        ));
    }
    Ok(())
}

/// C_SetAttributeValue: all changes or none.
pub fn set_attributes(obj: &mut SoftObject, template: &[Attr]) -> Result<()> {
    if !obj.get_bool(CKA_MODIFIABLE).unwrap_or(true) {
        return Err(err(CKR_ACTION_PROHIBITED, "object is not modifiable"));
    }
    check_duplicates(template)?;
    for a in template {
        check_change(obj, a, false)?;
    }
    for a in template {
        obj.set(a.ty, a.value.to_vec());
    }
    Ok(())
}

/// C_CopyObject: a copy with the template's changes.
pub fn copy(obj: &SoftObject, template: &[Attr]) -> Result<SoftObject> {
    if !obj.get_bool(CKA_COPYABLE).unwrap_or(true) {
        return Err(err(CKR_ACTION_PROHIBITED, "object is not copyable"));
    }
    check_duplicates(template)?;
    for a in template {
        check_change(obj, a, true)?;
    }
    let mut copy = obj.clone();
    for a in template {
        copy.set(a.ty, a.value.to_vec());
    }
    Ok(copy)
}
