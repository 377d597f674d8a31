//! Database credentials as secret values: JSON as AWS writes it,
//! `{"engine":"postgres","host":..,"port":..,"username":..,"password":..,"dbname":..}`,
//! and single fields of any JSON value (`NAME.field` in `secret exec`).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, SecretError};

/// A database credential. Unknown fields are kept (AWS adds some, e.g. `masterarn`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct DbCredential {
    /// `postgres` (the only engine with rotation targets so far).
    pub engine: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login role.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Database to connect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbname: Option<String>,
    /// Other fields, kept as they are.
    #[serde(flatten)]
    #[zeroize(skip)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for DbCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredential")
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("dbname", &self.dbname)
            .finish_non_exhaustive()
    }
}

impl DbCredential {
    /// Parses a secret value.
    pub fn from_value(value: &[u8]) -> Result<Self> {
        let c: Self = serde_json::from_slice(value).map_err(|e| {
            SecretError::Credential(format!(
                "not the JSON of a database credential: {}",
                e.classify_name()
            ))
        })?;
        if c.username.is_empty() {
            return Err(SecretError::Credential("username is empty".into()));
        }
        Ok(c)
    }

    /// The secret value (compact JSON).
    pub fn to_value(&self) -> Result<Zeroizing<Vec<u8>>> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|e| SecretError::Credential(e.to_string()))
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

// serde_json's messages quote the offending input, which may be the password.
impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "a field is missing or of the wrong type",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// One top-level field of a JSON object value, as text (strings as they are, numbers
/// and booleans printed), for `NAME.field`.
pub fn json_field(value: &[u8], field: &str) -> Result<Zeroizing<String>> {
    let v: serde_json::Value = serde_json::from_slice(value).map_err(|e| {
        SecretError::Credential(format!("value is not JSON: {}", e.classify_name()))
    })?;
    let found = v
        .get(field)
        .ok_or_else(|| SecretError::Credential(format!("value has no field {field:?}")))?;
    Ok(Zeroizing::new(match found {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => {
            return Err(SecretError::Credential(format!(
                "field {field:?} is not a string, number or boolean"
            )))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_fields() {
        let v = br#"{"engine":"postgres","host":"127.0.0.1","port":5432,"username":"app","password":"p'w\"","dbname":"orders","masterarn":"admin"}"#;
        let c = DbCredential::from_value(v).unwrap();
        assert_eq!(
            (c.username.as_str(), c.port, c.password.as_str()),
            ("app", 5432, "p'w\"")
        );
        assert_eq!(
            c.extra.get("masterarn").and_then(|x| x.as_str()),
            Some("admin")
        );
        let back = DbCredential::from_value(&c.to_value().unwrap()).unwrap();
        assert!(back == c);
        assert!(!format!("{c:?}").contains("p'w"));
        assert_eq!(&*json_field(v, "port").unwrap(), "5432");
        assert_eq!(&*json_field(v, "password").unwrap(), "p'w\"");
        assert!(json_field(v, "nope")
            .unwrap_err()
            .to_string()
            .contains("nope"));
        let e = DbCredential::from_value(br#"{"password":"s3cr3t-value"}"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}
