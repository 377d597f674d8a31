//! What an action is done to: a [`Resource`] (a key or a secret), and the
//! [`ResourcePattern`]s a policy names resources by.

use std::fmt;

use crate::{Glob, PolicyError};

/// The object a request touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// A key: its id and its aliases (bare names, without the `alias/` prefix).
    Key { id: &'a str, aliases: &'a [String] },
    /// A secret, by name.
    Secret { name: &'a str },
}

/// An entry of a statement's `resources`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum ResourcePattern {
    /// `key/<id>`: exactly that key (no wildcards in an id).
    Key(String),
    /// `key/*`: every key.
    AnyKey,
    /// `alias/<glob>`: a key with at least one alias matching.
    Alias(Glob),
    /// `secret/<glob>`: a secret whose name matches.
    Secret(Glob),
}

impl ResourcePattern {
    /// Reads a policy's resource pattern.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let bad = |why| PolicyError::BadResource {
            given: text.to_owned(),
            why,
        };
        let glob = |rest: &str| {
            Glob::parse(rest).map_err(|e| match e {
                PolicyError::BadGlob { why, .. } => PolicyError::BadGlob {
                    given: text.to_owned(),
                    why,
                },
                other => other,
            })
        };
        let (kind, rest) = text
            .split_once('/')
            .ok_or_else(|| bad("expected key/<id>, key/*, alias/<pattern> or secret/<pattern>"))?;
        match kind {
            "key" if rest == "*" => Ok(ResourcePattern::AnyKey),
            "key" if rest.is_empty() => Err(bad("empty key id")),
            "key" if rest.contains(['*', '?']) => Err(bad(
                "a key id takes no wildcards; use key/* or alias/<pattern>",
            )),
            "key" => Ok(ResourcePattern::Key(rest.to_owned())),
            "alias" => glob(rest).map(ResourcePattern::Alias),
            "secret" => glob(rest).map(ResourcePattern::Secret),
            _ => Err(bad("the kind must be key, alias or secret")),
        }
    }

    /// Whether `resource` is covered by this pattern.
    pub fn matches(&self, resource: &Resource<'_>) -> bool {
        match (self, resource) {
            (ResourcePattern::Key(want), Resource::Key { id, .. }) => want == id,
            (ResourcePattern::AnyKey, Resource::Key { .. }) => true,
            (ResourcePattern::Alias(g), Resource::Key { aliases, .. }) => {
                aliases.iter().any(|a| g.matches(a))
            }
            (ResourcePattern::Secret(g), Resource::Secret { name }) => g.matches(name),
            _ => false,
        }
    }
}

impl TryFrom<String> for ResourcePattern {
    type Error = PolicyError;
    fn try_from(text: String) -> Result<Self, PolicyError> {
        ResourcePattern::parse(&text)
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourcePattern::Key(id) => write!(f, "key/{id}"),
            ResourcePattern::AnyKey => f.write_str("key/*"),
            ResourcePattern::Alias(g) => write!(f, "alias/{g}"),
            ResourcePattern::Secret(g) => write!(f, "secret/{g}"),
        }
    }
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Key { id, .. } => write!(f, "key/{id}"),
            Resource::Secret { name } => write!(f, "secret/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ResourcePattern {
        ResourcePattern::parse(s).unwrap()
    }

    #[test]
    fn key_id_is_exact() {
        let aliases = vec![];
        let k = Resource::Key {
            id: "1234abcd",
            aliases: &aliases,
        };
        assert!(p("key/1234abcd").matches(&k));
        assert!(!p("key/1234abc").matches(&k));
        assert!(!p("key/1234abcde").matches(&k));
    }

    #[test]
    fn any_key_covers_keys_not_secrets() {
        let k = Resource::Key {
            id: "x",
            aliases: &[],
        };
        assert!(p("key/*").matches(&k));
        assert!(!p("key/*").matches(&Resource::Secret { name: "x" }));
    }

    #[test]
    fn alias_matches_when_any_alias_matches() {
        let aliases = vec!["billing-old".to_owned(), "payments.prod".to_owned()];
        let k = Resource::Key {
            id: "k1",
            aliases: &aliases,
        };
        assert!(p("alias/payments.*").matches(&k));
        assert!(p("alias/billing-???").matches(&k));
        assert!(!p("alias/hr-*").matches(&k));
        let bare = Resource::Key {
            id: "k2",
            aliases: &[],
        };
        assert!(!p("alias/*").matches(&bare), "no alias, no match");
    }

    #[test]
    fn secret_glob() {
        let s = Resource::Secret {
            name: "prod/db/password",
        };
        assert!(p("secret/prod/*").matches(&s));
        assert!(p("secret/*").matches(&s));
        assert!(!p("secret/dev/*").matches(&s));
        assert!(!p("secret/*").matches(&Resource::Key {
            id: "prod/db/password",
            aliases: &[]
        }));
    }

    #[test]
    fn bad_patterns_are_refused_by_name() {
        for bad in [
            "key/",
            "key/ab*",
            "alias/",
            "secret/a[b]",
            "keys/x",
            "nothing",
        ] {
            let err = ResourcePattern::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["key/abc", "key/*", "alias/app-*", "secret/prod/?"] {
            assert_eq!(p(s).to_string(), s);
        }
    }
}
