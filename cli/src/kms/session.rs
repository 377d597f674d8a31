//! What every `key` and `import` command starts with: the module, the instance's slot,
//! a logged-in user session, and KEY (a hex id or an alias) found among the records.

use super::refusal::{explain, refused, Op};
use super::vendor::record_class;
use crate::module::{load, Error};
use cryptoki::context::Pkcs11;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

/// The user PIN: `--pin` if given, else KMSBRIDGE_USER_PIN. The copy read here is
/// zeroized; `AuthPin` zeroizes its own.
pub fn user_pin(flag: Option<&str>) -> Result<AuthPin, Error> {
    let pin = Zeroizing::new(match flag {
        Some(p) => p.to_string(),
        None => std::env::var("KMSBRIDGE_USER_PIN")
            .map_err(|_| super::args::usage("give --pin PIN or set KMSBRIDGE_USER_PIN"))?,
    });
    // A fresh exact-size allocation, so no reallocation leaves an unzeroized copy.
    let boxed: Box<str> = pin.as_str().into();
    Ok(AuthPin::new(boxed))
}

/// The slot whose token is labelled KMSBRIDGE_TOKEN_LABEL, else the first with a token.
pub fn find_slot(p11: &Pkcs11) -> Result<(Slot, String), Error> {
    let wanted = std::env::var("KMSBRIDGE_TOKEN_LABEL").ok();
    for slot in p11.get_slots_with_token()? {
        let label = p11.get_token_info(slot)?.label().to_string();
        if wanted.as_deref().is_none_or(|w| w == label) {
            return Ok((slot, label));
        }
    }
    Err(refused(match wanted {
        Some(w) => format!(
            "no instance has the token label {w:?} (KMSBRIDGE_TOKEN_LABEL): `kmsbridge slots` lists them"
        ),
        None => "the module serves no initialised instance: is KMSBRIDGE_CONF set?".into(),
    }))
}

/// A read/write session logged in as the user. The context travels inside the session.
pub fn open(pin_flag: Option<&str>) -> Result<Session, Error> {
    let pin = user_pin(pin_flag)?;
    let p11 = load()?;
    let (slot, _) = find_slot(&p11)?;
    let s = p11.open_rw_session(slot)?;
    s.login(UserType::User, Some(&pin))
        .map_err(|e| explain(e, Op::Login))?;
    Ok(s)
}

/// Every key record, in the order the instance returns them.
pub fn records(s: &Session) -> Result<Vec<ObjectHandle>, Error> {
    s.find_objects(&[record_class()])
        .map_err(|e| explain(e, Op::Find))
}

/// The record of key `id` as it is now: read again after a change rather than trusting
/// an earlier handle, and a key an application made has one after its first change.
pub fn current(s: &Session, id: &[u8], fallback: ObjectHandle) -> Result<ObjectHandle, Error> {
    let found = s
        .find_objects(&[record_class(), Attribute::Id(id.to_vec())])
        .map_err(|e| explain(e, Op::Find))?;
    Ok(found.first().copied().unwrap_or(fallback))
}

/// What KEY named.
pub struct Target {
    pub handle: ObjectHandle,
    /// A record (else a key object an application made, which gets a record on first need).
    pub is_record: bool,
}

/// KEY as a hex key id, then as an alias; records first, then key objects without one.
pub fn resolve(s: &Session, key: &str) -> Result<Target, Error> {
    let id = hex::decode(key).ok().filter(|b| !b.is_empty());
    let by = |extra: Attribute, class: Option<Attribute>| -> Result<Vec<ObjectHandle>, Error> {
        let mut t = vec![extra];
        t.extend(class);
        s.find_objects(&t).map_err(|e| explain(e, Op::Find))
    };
    let mut candidates: Vec<Attribute> = Vec::new();
    if let Some(id) = &id {
        candidates.push(Attribute::Id(id.clone()));
    }
    candidates.push(Attribute::Label(key.as_bytes().to_vec()));
    for a in &candidates {
        let found = by(a.clone(), Some(record_class()))?;
        match found.as_slice() {
            [h] => {
                return Ok(Target {
                    handle: *h,
                    is_record: true,
                })
            }
            [] => {}
            many => {
                return Err(refused(format!(
                    "{key:?} names {} keys: give the key id instead (`kmsbridge key list`)",
                    many.len()
                )))
            }
        }
    }
    // A key an application made (no record yet): its secret or private key object.
    for a in &candidates {
        let mut found = by(a.clone(), Some(Attribute::Class(ObjectClass::SECRET_KEY)))?;
        found.extend(by(
            a.clone(),
            Some(Attribute::Class(ObjectClass::PRIVATE_KEY)),
        )?);
        match found.as_slice() {
            [h] => {
                return Ok(Target {
                    handle: *h,
                    is_record: false,
                })
            }
            [] => {}
            many => {
                return Err(refused(format!(
                    "{key:?} names {} key objects: give the key id instead",
                    many.len()
                )))
            }
        }
    }
    Err(refused(format!(
        "no key has the id or alias {key:?}: `kmsbridge key list` shows the KMS keys"
    )))
}
