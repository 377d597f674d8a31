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

/// Open a R/W session and log the SO in.
pub fn so_session(t: &crate::Env) -> Session {
    let s = t.rw_session();
    s.login(UserType::So, Some(&t.so_auth())).expect("SO login");
    s
}

/// An access point with one fresh credential, made by the SO in a session of its own;
/// the client key's text.
pub fn make_point(t: &crate::Env, name: &str, policy: &str) -> String {
    let s = so_session(t);
    let ap = create(&s, name, policy).unwrap_or_else(|e| panic!("create {name}: {e}"));
    let key = add_credential(&s, ap);
    s.logout().unwrap();
    key
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `secs` (unix) as RFC 3339 UTC, the form policy time windows take.
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date of a day count (H. Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// A condition of a policy statement, and whether it holds for this test process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// No condition.
    None,
    /// `users`: this process's uid, or another one.
    Users(bool),
    /// `groups`: this process's gid, or another one.
    Groups(bool),
    /// `executables`: a glob matching this test binary, or a folder it is not in.
    Exe(bool),
    /// `networks`: 127.0.0.0/8 (the host has loopback), or TEST-NET-3.
    Net(bool),
    /// A time window around now, or one that ended an hour ago.
    Time(bool),
}

impl Cond {
    /// Every condition, holding and not.
    pub const ALL: [Cond; 11] = [
        Cond::None,
        Cond::Users(true),
        Cond::Users(false),
        Cond::Groups(true),
        Cond::Groups(false),
        Cond::Exe(true),
        Cond::Exe(false),
        Cond::Net(true),
        Cond::Net(false),
        Cond::Time(true),
        Cond::Time(false),
    ];

    /// Whether it holds for this process.
    pub fn holds(self) -> bool {
        match self {
            Cond::None => true,
            Cond::Users(h) | Cond::Groups(h) | Cond::Exe(h) | Cond::Net(h) | Cond::Time(h) => h,
        }
    }

    /// The `[statement.conditions]` table, or nothing.
    pub fn toml(self) -> String {
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
        let now = unix_now();
        let body = match self {
            Cond::None => return String::new(),
            Cond::Users(true) => format!("users = [{uid}]"),
            Cond::Users(false) => format!("users = [{}]", uid + 4242),
            Cond::Groups(true) => format!("groups = [{gid}]"),
            Cond::Groups(false) => format!("groups = [{}]", gid + 4242),
            Cond::Exe(true) => {
                // The test binary is target/release/deps/NAME-HASH.
                let name = exe.file_name().unwrap().to_str().unwrap();
                let stem = name.rsplit_once('-').map_or(name, |(s, _)| s);
                format!("executables = [\"{}/{stem}-*\"]", exe.parent().unwrap().display())
            }
            Cond::Exe(false) => "executables = [\"/nonexistent/kmsbridge-apps/*\"]".into(),
            Cond::Net(true) => "networks = [\"127.0.0.0/8\"]".into(),
            Cond::Net(false) => "networks = [\"203.0.113.0/24\"]".into(),
            Cond::Time(true) => format!(
                "not_before = \"{}\"\nnot_after = \"{}\"",
                rfc3339(now - 3600),
                rfc3339(now + 3600)
            ),
            Cond::Time(false) => format!(
                "not_before = \"{}\"\nnot_after = \"{}\"",
                rfc3339(now - 7200),
                rfc3339(now - 3600)
            ),
        };
        format!("[statement.conditions]\n{body}\n")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    }
}
