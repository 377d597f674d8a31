//! One record of the trail, its field types, its canonical bytes and its hash.
//!
//! The field types are what keeps data out of the trail: names are [`Token`]s (a small
//! character set), object names and reasons are [`Text`] (bounded, no control
//! characters); there is no byte field anywhere, so no plaintext, key material, PIN or
//! client key can be handed to the trail as such.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The `prev` of the very first record of a trail: 32 zero bytes, in hex.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A name: an access point, an action, an instance. 1 to 128 characters from
/// `A-Z a-z 0-9 . _ - : @ /`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    /// Longest accepted name.
    pub const MAX: usize = 128;

    /// Checks `s` and wraps it.
    pub fn new(s: impl Into<String>) -> Result<Self, Error> {
        let s = s.into();
        let ok_char = |c: char| c.is_ascii_alphanumeric() || "._-:@/".contains(c);
        if s.is_empty() || s.len() > Self::MAX || !s.chars().all(ok_char) {
            return Err(Error::Invalid(format!(
                "name {s:?}: 1 to {} characters from A-Z a-z 0-9 . _ - : @ /",
                Self::MAX
            )));
        }
        Ok(Self(s))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Text: an object's name (key id, alias, secret name) or a reason (the caller's policy
/// text). At most 1024 characters, none of them a control character.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    /// Longest accepted text.
    pub const MAX: usize = 1024;

    /// Checks `s` and wraps it.
    pub fn new(s: impl Into<String>) -> Result<Self, Error> {
        let s = s.into();
        if s.chars().count() > Self::MAX || s.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "text of {} characters: at most {} and no control characters",
                s.chars().count(),
                Self::MAX
            )));
        }
        Ok(Self(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_conversions {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                Self::new(s)
            }
        }
        impl From<$t> for String {
            fn from(t: $t) -> String {
                t.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_conversions!(Token);
string_conversions!(Text);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    Login,
    LoginFailed,
    /// Key use, aggregated per second per access point, key and action (`count`).
    KeyUse,
    Denied,
    /// Enable, disable, schedule deletion, rotate, destroy.
    Lifecycle,
    Import,
    SecretRead,
    Admin,
    /// Written by the trail itself: a signed head ([`crate::Head`]).
    Checkpoint,
}

impl Event {
    /// The name as written in the trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login-failed",
            Self::KeyUse => "key-use",
            Self::Denied => "denied",
            Self::Lifecycle => "lifecycle",
            Self::Import => "import",
            Self::SecretRead => "secret-read",
            Self::Admin => "admin",
            Self::Checkpoint => "checkpoint",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    /// The name as written in the trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// What a caller hands the writer: a record without its place in the trail (sequence
/// number, time, instance, pid and chain are the writer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub access_point: Option<Token>,
    pub event: Event,
    pub action: Option<Token>,
    pub object: Option<Text>,
    /// For `key-use`: how many uses in `window`.
    pub count: Option<u64>,
    /// For aggregated records: the start of the second counted.
    pub window: Option<SystemTime>,
    pub result: Outcome,
    pub reason: Option<Text>,
}

impl Entry {
    /// An entry of `event` with `result` and nothing else set.
    pub fn new(event: Event, result: Outcome) -> Self {
        Self {
            access_point: None,
            event,
            action: None,
            object: None,
            count: None,
            window: None,
            result,
            reason: None,
        }
    }

    /// Sets the access point.
    pub fn access_point(mut self, ap: Token) -> Self {
        self.access_point = Some(ap);
        self
    }

    /// Sets the action.
    pub fn action(mut self, action: Token) -> Self {
        self.action = Some(action);
        self
    }

    /// Sets the object (key id, alias, secret name).
    pub fn object(mut self, object: Text) -> Self {
        self.object = Some(object);
        self
    }

    /// Sets the reason (the caller's policy text).
    pub fn reason(mut self, reason: Text) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// One line of the trail. The field order here is the order in the line, and therefore
/// the canonical bytes: do not reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub seq: u64,
    /// RFC 3339 UTC, milliseconds.
    pub time: String,
    pub instance: Token,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point: Option<Token>,
    pub pid: u32,
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Token>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    pub result: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// Checkpoints only: the hex signature over [`crate::Head::message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The previous record's `hash` (hex), [`GENESIS`] for the first.
    pub prev: String,
    /// Hex SHA-256 of the previous hash's 32 bytes followed by the canonical bytes.
    /// Empty while the record is being built (and then not serialized).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

/// RFC 3339 UTC with milliseconds, as in `time`.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Record {
    /// The canonical bytes: the line without its `hash` field (and without newline).
    pub fn canonical(&self) -> Result<Vec<u8>, Error> {
        let body = Record {
            hash: String::new(),
            ..self.clone()
        };
        serde_json::to_vec(&body).map_err(|e| Error::Invalid(format!("record: {e}")))
    }

    /// The hash this record must carry: SHA-256(prev hash bytes || canonical bytes).
    pub fn compute_hash(&self) -> Result<String, Error> {
        let prev = hex::decode(&self.prev)
            .ok()
            .filter(|p| p.len() == 32)
            .ok_or_else(|| Error::Invalid(format!("prev {:?} is not 32 hex bytes", self.prev)))?;
        let mut h = Sha256::new();
        h.update(&prev);
        h.update(self.canonical()?);
        Ok(hex::encode(h.finalize()))
    }

    /// Fills in `hash` and returns the line, newline included.
    pub fn seal(&mut self) -> Result<String, Error> {
        self.hash = self.compute_hash()?;
        self.line()
    }

    /// The record as written (newline included).
    pub fn line(&self) -> Result<String, Error> {
        let mut s =
            serde_json::to_string(self).map_err(|e| Error::Invalid(format!("record: {e}")))?;
        s.push('\n');
        Ok(s)
    }

    /// Reads one line (without its newline).
    pub fn parse(line: &str) -> Result<Self, Error> {
        serde_json::from_str(line).map_err(|e| Error::Invalid(format!("not a record: {e}")))
    }

    /// A one-line human form, e.g.
    /// `#12 2026-01-31T00:00:00.000Z inst denied app1 decrypt key/k1 denied: no statement`.
    pub fn human(&self) -> String {
        let mut s = format!(
            "#{} {} {} pid {} {}",
            self.seq,
            self.time,
            self.instance,
            self.pid,
            self.event.as_str()
        );
        for part in [
            self.access_point.as_ref().map(Token::as_str),
            self.action.as_ref().map(Token::as_str),
            self.object.as_ref().map(Text::as_str),
        ]
        .into_iter()
        .flatten()
        {
            s.push(' ');
            s.push_str(part);
        }
        if let Some(count) = self.count {
            s.push_str(&format!(" x{count}"));
        }
        s.push(' ');
        s.push_str(self.result.as_str());
        if let Some(reason) = &self.reason {
            s.push_str(": ");
            s.push_str(reason.as_str());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            seq: 1,
            time: format_time(SystemTime::UNIX_EPOCH),
            instance: Token::new("inst").unwrap(),
            access_point: Some(Token::new("app").unwrap()),
            pid: 7,
            event: Event::Denied,
            action: Some(Token::new("decrypt").unwrap()),
            object: Some(Text::new("alias/payments").unwrap()),
            count: None,
            window: None,
            result: Outcome::Denied,
            reason: Some(Text::new("no statement allows it").unwrap()),
            signature: None,
            prev: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn line_is_canonical_plus_hash_and_parses_back() {
        let mut r = sample();
        let line = r.seal().unwrap();
        assert_eq!(
            line,
            "{\"seq\":1,\"time\":\"1970-01-01T00:00:00.000Z\",\"instance\":\"inst\",\
             \"access_point\":\"app\",\"pid\":7,\"event\":\"denied\",\"action\":\"decrypt\",\
             \"object\":\"alias/payments\",\"result\":\"denied\",\
             \"reason\":\"no statement allows it\",\"prev\":\""
                .to_string()
                + GENESIS
                + "\",\"hash\":\""
                + &r.hash
                + "\"}\n"
        );
        let back = Record::parse(line.trim_end()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.compute_hash().unwrap(), r.hash);
    }

    #[test]
    fn hash_covers_every_field_and_the_chain() {
        let mut a = sample();
        a.seal().unwrap();
        let mut b = sample();
        b.pid = 8;
        b.seal().unwrap();
        let mut c = sample();
        c.prev = "11".repeat(32);
        c.seal().unwrap();
        assert_ne!(a.hash, b.hash);
        assert_ne!(a.hash, c.hash);
    }

    #[test]
    fn types_refuse_what_is_not_a_name_or_text() {
        assert!(Token::new("").is_err());
        assert!(Token::new("a b").is_err());
        assert!(Token::new("x".repeat(129)).is_err());
        assert!(Token::new("app-1/key_admin:x@y.z").is_ok());
        assert!(Text::new("line\nbreak").is_err());
        assert!(Text::new("\u{1f}").is_err());
        assert!(Text::new("y".repeat(1025)).is_err());
        assert!(Text::new("secret/prod/db password").is_ok());
        assert!(Record::parse("{\"seq\":1,\"extra\":2}").is_err());
    }

    #[test]
    fn human_form_names_the_parts() {
        let h = sample().human();
        assert_eq!(
            h,
            "#1 1970-01-01T00:00:00.000Z inst pid 7 denied app decrypt alias/payments denied: \
             no statement allows it"
        );
    }
}
