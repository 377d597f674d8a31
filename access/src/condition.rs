//! Conditions of a statement: every one that is set must hold for the caller.

use std::fmt;
use std::time::SystemTime;

use serde::de::{self, Deserializer, Visitor};

use crate::{Caller, Cidr, Glob, PolicyError};

/// A user or group: a name, or a numeric id. A string of digits is read as an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Id(u32),
    Name(String),
}

impl Principal {
    /// Reads a name or a numeric id.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.is_empty() {
            return Err(PolicyError::BadPrincipal {
                given: String::new(),
                why: "empty",
            });
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(Principal::Id)
                .map_err(|_| PolicyError::BadPrincipal {
                    given: text.to_owned(),
                    why: "the id is out of range",
                });
        }
        Ok(Principal::Name(text.to_owned()))
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Id(id) => write!(f, "{id}"),
            Principal::Name(n) => f.write_str(n),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Principal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user or group name, or a numeric id")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Principal, E> {
                u32::try_from(v)
                    .map(Principal::Id)
                    .map_err(|_| E::custom(format!("id {v} is out of range")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Principal, E> {
                u32::try_from(v)
                    .map(Principal::Id)
                    .map_err(|_| E::custom(format!("id {v} is out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Principal, E> {
                Principal::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// An instant written as RFC 3339 UTC (`2026-01-31T00:00:00Z`), kept with its text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Timestamp {
    at: SystemTime,
    text: String,
}

impl Timestamp {
    /// Reads an RFC 3339 UTC time.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        humantime::parse_rfc3339(text)
            .map(|at| Timestamp {
                at,
                text: text.to_owned(),
            })
            .map_err(|e| PolicyError::BadTime {
                given: text.to_owned(),
                why: e.to_string(),
            })
    }

    /// The instant.
    pub fn at(&self) -> SystemTime {
        self.at
    }
}

impl TryFrom<String> for Timestamp {
    type Error = PolicyError;
    fn try_from(text: String) -> Result<Self, PolicyError> {
        Timestamp::parse(&text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A statement's conditions. An empty list or an absent bound places no constraint;
/// every constraint that is set must hold. The window is inclusive at both ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The caller's user is one of these (names or uids).
    #[serde(default)]
    pub users: Vec<Principal>,
    /// One of the caller's groups (primary or supplementary) is one of these.
    #[serde(default)]
    pub groups: Vec<Principal>,
    /// The caller's executable matches one of these absolute path patterns.
    #[serde(default)]
    pub executables: Vec<ExePattern>,
    /// Some address of the host lies in one of these ranges.
    #[serde(default)]
    pub networks: Vec<Cidr>,
    /// Not before this time.
    #[serde(default)]
    pub not_before: Option<Timestamp>,
    /// Not after this time.
    #[serde(default)]
    pub not_after: Option<Timestamp>,
}

/// An absolute executable path pattern (the glob of [`Glob`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ExePattern(Glob);

impl ExePattern {
    /// Reads an absolute path pattern.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if !text.starts_with('/') {
            return Err(PolicyError::BadGlob {
                given: text.to_owned(),
                why: "an executable pattern must be an absolute path".to_owned(),
            });
        }
        Glob::parse(text).map(ExePattern)
    }
}

impl TryFrom<String> for ExePattern {
    type Error = PolicyError;
    fn try_from(text: String) -> Result<Self, PolicyError> {
        ExePattern::parse(&text)
    }
}

impl fmt::Display for ExePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Conditions {
    /// `Ok` when every set condition holds; otherwise the first failing one, described for
    /// a log line (e.g. `executable /usr/bin/x not in [/opt/app/*]`).
    pub fn check(&self, caller: &Caller) -> Result<(), String> {
        if !self.users.is_empty() && !self.users.iter().any(|u| is_user(u, caller)) {
            let who = match &caller.user_name {
                Some(n) => format!("{n} ({})", caller.uid),
                None => caller.uid.to_string(),
            };
            return Err(format!("user {who} not in [{}]", list(&self.users)));
        }
        if !self.groups.is_empty() && !self.groups.iter().any(|g| in_group(g, caller)) {
            let theirs = if caller.group_names.is_empty() {
                let ids: Vec<u32> = std::iter::once(caller.gid)
                    .chain(caller.groups.iter().copied())
                    .collect();
                list(&ids)
            } else {
                list(&caller.group_names)
            };
            return Err(format!("groups ({theirs}) not in [{}]", list(&self.groups)));
        }
        if !self.executables.is_empty() {
            let exe = caller.exe.as_deref().and_then(|p| p.to_str());
            let ok = exe.is_some_and(|e| self.executables.iter().any(|p| p.0.matches(e)));
            if !ok {
                let shown = caller
                    .exe
                    .as_deref()
                    .map_or_else(|| "(unknown)".to_owned(), |p| p.display().to_string());
                return Err(format!(
                    "executable {shown} not in [{}]",
                    list(&self.executables)
                ));
            }
        }
        if !self.networks.is_empty()
            && !caller
                .addresses
                .iter()
                .any(|a| self.networks.iter().any(|n| n.contains(*a)))
        {
            return Err(format!("no host address in [{}]", list(&self.networks)));
        }
        if let Some(nb) = &self.not_before {
            if caller.now < nb.at {
                return Err(format!("before not_before {nb}"));
            }
        }
        if let Some(na) = &self.not_after {
            if caller.now > na.at {
                return Err(format!("after not_after {na}"));
            }
        }
        Ok(())
    }
}

fn is_user(p: &Principal, caller: &Caller) -> bool {
    match p {
        Principal::Id(id) => *id == caller.uid,
        Principal::Name(n) => caller.user_name.as_deref() == Some(n.as_str()),
    }
}

fn in_group(p: &Principal, caller: &Caller) -> bool {
    match p {
        Principal::Id(id) => caller.in_group(*id),
        Principal::Name(n) => caller.group_names.iter().any(|g| g == n),
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn conds(toml_text: &str) -> Conditions {
        toml::from_str(toml_text).unwrap()
    }

    fn alice() -> Caller {
        let mut c = Caller::new(1000, 100);
        c.groups = vec![20, 27];
        c.user_name = Some("alice".into());
        c.group_names = vec!["users".into(), "dialout".into(), "sudo".into()];
        c.exe = Some("/opt/app/bin/server".into());
        c.addresses = vec!["127.0.0.1".parse().unwrap(), "10.1.2.3".parse().unwrap()];
        c
    }

    #[test]
    fn empty_conditions_hold() {
        assert_eq!(Conditions::default().check(&alice()), Ok(()));
    }

    #[test]
    fn users_by_name_or_uid() {
        assert!(conds(r#"users = ["alice"]"#).check(&alice()).is_ok());
        assert!(conds("users = [1000]").check(&alice()).is_ok());
        assert!(conds(r#"users = ["1000"]"#).check(&alice()).is_ok());
        let err = conds(r#"users = ["bob", 1001]"#)
            .check(&alice())
            .unwrap_err();
        assert_eq!(err, "user alice (1000) not in [bob, 1001]");
    }

    #[test]
    fn groups_any_of_the_callers() {
        assert!(conds("groups = [100]").check(&alice()).is_ok(), "primary");
        assert!(
            conds("groups = [27]").check(&alice()).is_ok(),
            "supplementary"
        );
        assert!(conds(r#"groups = ["sudo"]"#).check(&alice()).is_ok());
        let err = conds(r#"groups = ["wheel", 28]"#)
            .check(&alice())
            .unwrap_err();
        assert_eq!(err, "groups (users, dialout, sudo) not in [wheel, 28]");
    }

    #[test]
    fn executables() {
        assert!(conds(r#"executables = ["/opt/app/*"]"#)
            .check(&alice())
            .is_ok());
        let err = conds(r#"executables = ["/usr/bin/openssl"]"#)
            .check(&alice())
            .unwrap_err();
        assert_eq!(
            err,
            "executable /opt/app/bin/server not in [/usr/bin/openssl]"
        );
        let mut unknown = alice();
        unknown.exe = None;
        let err = conds(r#"executables = ["/*"]"#)
            .check(&unknown)
            .unwrap_err();
        assert!(err.contains("(unknown)"), "fails closed: {err}");
        let err = toml::from_str::<Conditions>(r#"executables = ["bin/app"]"#).unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
    }

    #[test]
    fn networks_any_address_any_range() {
        assert!(conds(r#"networks = ["192.168.0.0/16", "10.0.0.0/8"]"#)
            .check(&alice())
            .is_ok());
        let err = conds(r#"networks = ["2001:db8::/32"]"#)
            .check(&alice())
            .unwrap_err();
        assert_eq!(err, "no host address in [2001:db8::/32]");
    }

    #[test]
    fn time_window_edges_are_inclusive() {
        let c = conds(
            r#"not_before = "2026-01-01T00:00:00Z"
               not_after = "2026-01-31T23:59:59Z""#,
        );
        let start = c.not_before.as_ref().unwrap().at();
        let end = c.not_after.as_ref().unwrap().at();
        let mut who = alice();
        for (at, ok) in [
            (start - Duration::from_nanos(1), false),
            (start, true),
            (end, true),
            (end + Duration::from_nanos(1), false),
        ] {
            who.now = at;
            assert_eq!(c.check(&who).is_ok(), ok, "{at:?}");
        }
        who.now = start - Duration::from_secs(1);
        assert_eq!(
            c.check(&who).unwrap_err(),
            "before not_before 2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn bad_values_and_unknown_fields_are_named() {
        let err = toml::from_str::<Conditions>(r#"not_before = "yesterday""#).unwrap_err();
        assert!(err.to_string().contains("\"yesterday\""), "{err}");
        assert!(
            toml::from_str::<Conditions>(r#"not_before = "2026-01-01T00:00:00+02:00""#).is_err(),
            "UTC only"
        );
        let err = toml::from_str::<Conditions>(r#"hosts = ["a"]"#).unwrap_err();
        assert!(err.to_string().contains("hosts"), "{err}");
        let err = toml::from_str::<Conditions>(r#"groups = ["4294967296"]"#).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = toml::from_str::<Conditions>("users = [-1]").unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = toml::from_str::<Conditions>(r#"networks = ["10.0.0.1/8"]"#).unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/8"), "{err}");
    }
}
