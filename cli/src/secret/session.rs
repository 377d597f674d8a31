//! What every `secret` command starts with: a read/write session logged in as the user
//! (`--pin`, KMSBRIDGE_USER_PIN, or a client key in KMSBRIDGE_CLIENT_KEY_FILE), and the
//! secret objects the module shows (CKO_DATA of `kmsbridge.secret`).

use crate::kms::args::usage;
use crate::kms::refusal::refused;
use crate::kms::session::{find_slot, user_pin};
use crate::module::{load, Error};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use zeroize::Zeroizing;

pub const APPLICATION: &[u8] = b"kmsbridge.secret";

// include/kmsbridge.h
pub const CKA_KMSBRIDGE_PENDING_WINDOW_DAYS: u64 = 0xCB42_0004;
pub const CKA_KMSBRIDGE_DESCRIPTION: u64 = 0xCB42_0013;
pub const VERSION_ID: u64 = 0xCB42_0030;
pub const STAGES: u64 = 0xCB42_0031;
pub const STAGE: u64 = 0xCB42_0032;
pub const TYPE: u64 = 0xCB42_0035;
pub const INFO: u64 = 0xCB42_0036;
pub const KMS_KEY: u64 = 0xCB42_0037;
pub const GENERATION: u64 = 0xCB42_0038;
pub const ROTATION_DAYS: u64 = 0xCB42_0039;
pub const ROTATION: u64 = 0xCB42_003A;
pub const RESTORE: u64 = 0xCB42_003B;
pub const NEW: u64 = 0xCB42_003C;

/// The flags every `secret` command takes.
pub const FLAGS: &[&str] = &["--pin"];

pub fn vattr(ty: u64, value: &[u8]) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty as _), value.to_vec()))
}

pub fn vulong(ty: u64, value: u64) -> Attribute {
    vattr(ty, &(value as cryptoki_sys::CK_ULONG).to_ne_bytes())
}

/// A R/W session logged in as the user: a PIN if one is given, else the client key
/// of KMSBRIDGE_CLIENT_KEY_FILE (the module reads it on an empty login).
pub fn open(pin_flag: Option<&str>) -> Result<Session, Error> {
    let p11 = load()?;
    let (slot, _) = find_slot(&p11)?;
    let s = p11.open_rw_session(slot)?;
    let pin = if pin_flag.is_some() || std::env::var_os("KMSBRIDGE_USER_PIN").is_some() {
        Some(user_pin(pin_flag)?)
    } else if std::env::var_os("KMSBRIDGE_CLIENT_KEY_FILE").is_some() {
        None
    } else {
        return Err(usage(
            "give --pin PIN, set KMSBRIDGE_USER_PIN, or set KMSBRIDGE_CLIENT_KEY_FILE to a client key file",
        ));
    };
    s.login(UserType::User, pin.as_ref())
        .map_err(|e| refused(format!("logging in: {}", words(&e))))?;
    Ok(s)
}

/// A module answer in words for the operator.
pub fn words(e: &P11Error) -> String {
    match e {
        P11Error::Pkcs11(rv, _) => {
            let hint = match rv {
                RvError::KeyFunctionNotPermitted => {
                    " (the access point's policy does not allow it: secret-read or secret-admin on secret/<name>)"
                }
                RvError::PinIncorrect => " (wrong PIN or client key)",
                RvError::ActionProhibited => " (see the module's log for the rule)",
                RvError::AttributeValueInvalid => " (a value was refused: see the module's log)",
                RvError::AttributeSensitive => " (not readable: no secret-read, or the secret is scheduled for deletion)",
                _ => "",
            };
            format!("{rv:?}{hint}")
        }
        other => other.to_string(),
    }
}

fn base(name: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Application(APPLICATION.to_vec()),
        Attribute::Label(name.as_bytes().to_vec()),
    ]
}

pub enum Which<'a> {
    Current,
    Stage(&'a str),
    Version(&'a str),
}

/// The object of secret `name` selected by `which`; a refusal naming it when absent.
pub fn find(s: &Session, name: &str, which: &Which) -> Result<ObjectHandle, Error> {
    let mut t = base(name);
    match which {
        Which::Current => {}
        Which::Stage(st) => t.push(vattr(STAGE, st.as_bytes())),
        Which::Version(v) => t.push(vattr(VERSION_ID, v.as_bytes())),
    }
    let found = s
        .find_objects(&t)
        .map_err(|e| refused(format!("looking up secret {name}: {}", words(&e))))?;
    match (found.first(), which) {
        (Some(h), _) => Ok(*h),
        (None, Which::Current) => Err(refused(format!(
            "no secret {name} (or the access point does not see it)"
        ))),
        (None, Which::Stage(st)) => Err(refused(format!(
            "secret {name} has no version with stage {st}"
        ))),
        (None, Which::Version(v)) => Err(refused(format!("secret {name} has no version {v}"))),
    }
}

/// Does a secret of this name exist for this session?
pub fn exists(s: &Session, name: &str) -> Result<bool, Error> {
    Ok(!s.find_objects(&base(name))?.is_empty())
}

/// Every secret object (ACSCurrent) this session sees.
pub fn all(s: &Session) -> Result<Vec<ObjectHandle>, Error> {
    Ok(s.find_objects(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Application(APPLICATION.to_vec()),
    ])?)
}

/// CKA_VALUE, in a zeroizing buffer.
pub fn value(s: &Session, h: ObjectHandle, name: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let attrs = s
        .get_attributes(h, &[AttributeType::Value])
        .map_err(|e| refused(format!("reading secret {name}: {}", words(&e))))?;
    match attrs.into_iter().next() {
        Some(Attribute::Value(v)) => Ok(Zeroizing::new(v)),
        _ => Err(refused(format!(
            "reading secret {name}: CKR_ATTRIBUTE_SENSITIVE (no secret-read on secret/{name}, or it is scheduled for deletion)"
        ))),
    }
}

/// A text vendor attribute.
pub fn text(s: &Session, h: ObjectHandle, ty: u64) -> Result<String, Error> {
    match s
        .get_attributes(h, &[AttributeType::VendorDefined(ty as _)])?
        .into_iter()
        .next()
    {
        Some(Attribute::VendorDefined((_, v))) => Ok(String::from_utf8_lossy(&v).into_owned()),
        _ => Ok(String::new()),
    }
}

/// CKA_KMSBRIDGE_SECRET_INFO as JSON.
pub fn info(s: &Session, h: ObjectHandle) -> Result<serde_json::Value, Error> {
    Ok(serde_json::from_str(&text(s, h, INFO)?)?)
}

/// Put `value` into `name` (C_CreateObject); the version id the module gave it.
pub fn put(s: &Session, name: &str, value: &[u8], extra: Vec<Attribute>) -> Result<String, Error> {
    let mut t = base(name);
    t.push(Attribute::Value(value.to_vec()));
    t.extend(extra);
    let named = t.iter().any(|a| matches!(a, Attribute::VendorDefined((AttributeType::VendorDefined(ty), _)) if *ty == VERSION_ID));
    let h = s.create_object(&t).map_err(|e| match e {
        P11Error::Pkcs11(RvError::AttributeValueInvalid, _) if named => refused(format!(
            "putting a value into secret {name}: this version id exists with a different value (the same value again would succeed)"
        )),
        e => refused(format!("putting a value into secret {name}: {}", words(&e))),
    })?;
    text(s, h, VERSION_ID)
}

/// C_SetAttributeValue on the secret's current object.
pub fn set(s: &Session, name: &str, attrs: &[Attribute], what: &str) -> Result<(), Error> {
    let h = find(s, name, &Which::Current)?;
    s.update_attributes(h, attrs)
        .map_err(|e| refused(format!("{what} secret {name}: {}", words(&e))))
}

/// A field of the module's JSON (Null when absent).
pub fn at<'a>(v: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    static NULL: serde_json::Value = serde_json::Value::Null;
    v.pointer(path).unwrap_or(&NULL)
}
