//! Access points through PKCS#11, as `kmsbridge aap` drives them: the SO's
//! CKO_KMSBRIDGE_ACCESS_POINT objects (include/kmsbridge.h), client keys, and
//! configuration edits for the instance under test.

use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kmsbridge_access::credential::ClientKey;
use std::path::Path;

pub use crate::kms::{
    CKA_KMSBRIDGE_CREDENTIALS, CKA_KMSBRIDGE_CREDENTIAL_ADD, CKA_KMSBRIDGE_CREDENTIAL_REVOKE,
    CKA_KMSBRIDGE_CREDENTIAL_UNLOCK, CKA_KMSBRIDGE_DESCRIPTION, CKA_KMSBRIDGE_NOT_AFTER,
    CKA_KMSBRIDGE_NOT_BEFORE, CKO_KMSBRIDGE_ACCESS_POINT,
};

fn vendor(ty: u64, value: Vec<u8>) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value))
}

/// `CKA_CLASS = CKO_KMSBRIDGE_ACCESS_POINT` (`cryptoki` has no vendor classes).
fn ap_class() -> Attribute {
    Attribute::VendorDefined((
        AttributeType::Class,
        CKO_KMSBRIDGE_ACCESS_POINT.to_ne_bytes().to_vec(),
    ))
}

/// Create an access point (the session's SO must be logged in, R/W).
pub fn create(s: &Session, name: &str, policy: &str) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        ap_class(),
        Attribute::Label(name.as_bytes().to_vec()),
        Attribute::Value(policy.as_bytes().to_vec()),
    ])
}

/// The handle of an access point by name, if the SO sees it.
pub fn find(s: &Session, name: &str) -> Option<ObjectHandle> {
    s.find_objects(&[ap_class(), Attribute::Label(name.as_bytes().to_vec())])
        .expect("C_FindObjects (access points)")
        .first()
        .copied()
}

/// A fresh client key, added to the access point; its text.
pub fn add_credential(s: &Session, ap: ObjectHandle) -> String {
    let key = ClientKey::generate().unwrap();
    let text = key.to_text().unwrap().to_string();
    s.update_attributes(ap, &[vendor(CKA_KMSBRIDGE_CREDENTIAL_ADD, text.as_bytes().to_vec())])
        .expect("add a credential");
    text
}

/// The credential id of a client key's text.
pub fn credential_id(key: &str) -> String {
    key.split('.').nth(1).unwrap().to_string()
}

/// A client key of the same id with another secret: a wrong guess at that credential.
pub fn wrong_key(key: &str, n: u64) -> String {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&n.to_le_bytes());
    secret[8] = 0xA5;
    let b64: String = {
        use std::fmt::Write;
        // base64url without padding of 32 bytes is 43 characters.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        let mut bits = 0u32;
        let mut n_bits = 0;
        for b in secret {
            bits = (bits << 8) | b as u32;
            n_bits += 8;
            while n_bits >= 6 {
                n_bits -= 6;
                out.write_char(ALPHABET[((bits >> n_bits) & 63) as usize] as char).unwrap();
            }
        }
        if n_bits > 0 {
            out.write_char(ALPHABET[((bits << (6 - n_bits)) & 63) as usize] as char).unwrap();
        }
        out
    };
    format!("kb1.{}.{b64}", credential_id(key))
}

pub fn revoke(s: &Session, ap: ObjectHandle, id: &str) -> cryptoki::error::Result<()> {
    s.update_attributes(ap, &[vendor(CKA_KMSBRIDGE_CREDENTIAL_REVOKE, id.as_bytes().to_vec())])
}

pub fn unlock(s: &Session, ap: ObjectHandle, id: &str) -> cryptoki::error::Result<()> {
    s.update_attributes(ap, &[vendor(CKA_KMSBRIDGE_CREDENTIAL_UNLOCK, id.as_bytes().to_vec())])
}

/// The CKA_KMSBRIDGE_CREDENTIALS text of an access point.
pub fn credentials(s: &Session, ap: ObjectHandle) -> String {
    let attrs = s
        .get_attributes(ap, &[AttributeType::VendorDefined(CKA_KMSBRIDGE_CREDENTIALS)])
        .expect("read the credentials");
    match attrs.first() {
        Some(Attribute::VendorDefined((_, v))) => String::from_utf8(v.clone()).unwrap(),
        other => panic!("credentials: {other:?}"),
    }
}

/// Log in with a client key as the PIN.
pub fn login_key(s: &Session, key: &str) -> cryptoki::error::Result<()> {
    s.login(UserType::User, Some(&AuthPin::new(key.to_string().into())))
}

/// Add `lines` to the first `[[instance]]` table of the configuration file.
pub fn configure(conf: &Path, lines: &str) {
    let text = std::fs::read_to_string(conf).unwrap();
    let at = text.find("[[instance]]\n").expect("an [[instance]] table") + "[[instance]]\n".len();
    let mut out = text[..at].to_string();
    out.push_str(lines);
    out.push('\n');
    out.push_str(&text[at..]);
    std::fs::write(conf, out).unwrap();
}
