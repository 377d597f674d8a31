//! A policy (statements of effect × actions × resources × conditions) and its evaluation.

use std::fmt;

use crate::{Action, ActionPattern, Caller, Conditions, PolicyError, Resource, ResourcePattern};

/// What a matching statement does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// One rule: `effect` applies to `actions` on `resources` when all `conditions` hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// An optional name, shown in decisions and logs.
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub effect: Effect,
    pub actions: Vec<ActionPattern>,
    pub resources: Vec<ResourcePattern>,
    #[serde(default)]
    pub conditions: Conditions,
}

impl Statement {
    fn covers(&self, action: Action, resource: &Resource<'_>) -> bool {
        self.actions.iter().any(|a| a.matches(action)) && self.covers_resource(resource)
    }

    fn covers_resource(&self, resource: &Resource<'_>) -> bool {
        self.resources.iter().any(|r| r.matches(resource))
    }
}

/// An access point's policy, read from TOML:
///
/// ```toml
/// [[statement]]
/// sid = "payments-app"
/// actions = ["encrypt", "decrypt"]
/// resources = ["alias/payments-*"]
/// conditions = { users = ["payments"], networks = ["10.0.0.0/8"] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, rename = "statement")]
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Reads and checks a policy; the error names the field, the line and the bad value.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// Refuses statements that could never match: no actions, no resources, or a window
    /// that closes before it opens.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (index, s) in self.statements.iter().enumerate() {
            let bad = |why: &str| PolicyError::BadStatement {
                index,
                sid: s
                    .sid
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                why: why.to_owned(),
            };
            if s.actions.is_empty() {
                return Err(bad("`actions` is empty"));
            }
            if s.resources.is_empty() {
                return Err(bad("`resources` is empty"));
            }
            if let (Some(nb), Some(na)) = (&s.conditions.not_before, &s.conditions.not_after) {
                if na.at() < nb.at() {
                    return Err(bad("`not_after` is before `not_before`"));
                }
            }
        }
        Ok(())
    }
}

/// Which statement, for logs: its index and, if it has one, its sid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementRef<'p> {
    pub index: usize,
    pub sid: Option<&'p str>,
}

impl<'p> StatementRef<'p> {
    fn of(index: usize, s: &'p Statement) -> Self {
        StatementRef {
            index,
            sid: s.sid.as_deref(),
        }
    }
}

impl fmt::Display for StatementRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sid {
            Some(sid) => write!(f, "statement {} ({sid})", self.index),
            None => write!(f, "statement {}", self.index),
        }
    }
}

/// The outcome of [`decide`], with the reason for the audit trail and the refusal log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'p> {
    /// Allowed by this statement (the first allow that matched with its conditions holding).
    Allowed(StatementRef<'p>),
    /// An explicit deny matched, with its conditions holding.
    DeniedBy(StatementRef<'p>),
    /// No allow statement matched. `unmet` is the first allow statement that covered the
    /// action and resource but whose conditions failed, with the first failing condition.
    NotAllowed {
        unmet: Option<(StatementRef<'p>, String)>,
    },
}

impl Decision<'_> {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed(s) => write!(f, "allowed by {s}"),
            Decision::DeniedBy(s) => write!(f, "denied by {s}"),
            Decision::NotAllowed { unmet: None } => f.write_str("denied: no statement allows it"),
            Decision::NotAllowed {
                unmet: Some((s, why)),
            } => write!(f, "denied: {s} would allow it but {why}"),
        }
    }
}

/// Decides whether `caller` may do `action` on `resource`. An explicit deny whose
/// conditions hold wins over any allow; without a matching allow the answer is no.
pub fn decide<'p>(
    policy: &'p Policy,
    caller: &Caller,
    action: Action,
    resource: &Resource<'_>,
) -> Decision<'p> {
    let mut allowed = None;
    let mut unmet = None;
    for (i, s) in policy.statements.iter().enumerate() {
        if !s.covers(action, resource) {
            continue;
        }
        match (s.effect, s.conditions.check(caller)) {
            (Effect::Deny, Ok(())) => return Decision::DeniedBy(StatementRef::of(i, s)),
            (Effect::Deny, Err(_)) => {}
            (Effect::Allow, Ok(())) => {
                allowed.get_or_insert(StatementRef::of(i, s));
            }
            (Effect::Allow, Err(why)) => {
                if unmet.is_none() {
                    unmet = Some((StatementRef::of(i, s), why));
                }
            }
        }
    }
    match allowed {
        Some(s) => Decision::Allowed(s),
        None => Decision::NotAllowed { unmet },
    }
}

/// Whether `resource` exists for `caller` at all: some allow statement covers it (for any
/// action) with its conditions holding, and no deny of every action (`*`) covers it with
/// its conditions holding. Objects outside the policy are invisible.
pub fn visible(policy: &Policy, caller: &Caller, resource: &Resource<'_>) -> bool {
    let mut allowed = false;
    for s in &policy.statements {
        if !s.covers_resource(resource) || s.conditions.check(caller).is_err() {
            continue;
        }
        match s.effect {
            Effect::Allow => allowed = true,
            Effect::Deny if s.actions.contains(&ActionPattern::Any) => return false,
            Effect::Deny => {}
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(text: &str) -> Policy {
        Policy::from_toml(text).unwrap()
    }

    fn caller() -> Caller {
        let mut c = Caller::new(1000, 1000);
        c.user_name = Some("app".into());
        c.exe = Some("/usr/bin/x".into());
        c
    }

    const KEY: Resource<'static> = Resource::Key {
        id: "k1",
        aliases: &[],
    };

    #[test]
    fn allow_matches_action_and_resource() {
        let p = pol(r#"[[statement]]
               sid = "enc"
               actions = ["encrypt"]
               resources = ["key/k1"]"#);
        let d = decide(&p, &caller(), Action::Encrypt, &KEY);
        assert_eq!(
            d,
            Decision::Allowed(StatementRef {
                index: 0,
                sid: Some("enc")
            })
        );
        assert_eq!(d.to_string(), "allowed by statement 0 (enc)");
        assert!(!decide(&p, &caller(), Action::Decrypt, &KEY).is_allowed());
        let other = Resource::Key {
            id: "k2",
            aliases: &[],
        };
        assert!(!decide(&p, &caller(), Action::Encrypt, &other).is_allowed());
    }

    #[test]
    fn empty_policy_denies_everything() {
        let p = Policy::default();
        let d = decide(&p, &caller(), Action::Encrypt, &KEY);
        assert_eq!(d, Decision::NotAllowed { unmet: None });
        assert_eq!(d.to_string(), "denied: no statement allows it");
        assert!(!visible(&p, &caller(), &KEY));
    }

    #[test]
    fn deny_beats_allow_in_any_order() {
        for (first, second) in [("allow", "deny"), ("deny", "allow")] {
            let p = pol(&format!(
                r#"[[statement]]
                   effect = "{first}"
                   actions = ["*"]
                   resources = ["key/*"]
                   [[statement]]
                   effect = "{second}"
                   actions = ["key-admin"]
                   resources = ["key/k1"]"#
            ));
            let admin = decide(&p, &caller(), Action::ScheduleDeletion, &KEY);
            assert!(matches!(admin, Decision::DeniedBy(_)), "{first}/{second}");
            assert!(admin.to_string().starts_with("denied by statement"));
        }
    }

    #[test]
    fn deny_applies_only_when_its_conditions_hold() {
        let p = pol(r#"[[statement]]
               actions = ["encrypt"]
               resources = ["key/*"]
               [[statement]]
               effect = "deny"
               actions = ["encrypt"]
               resources = ["key/*"]
               conditions = { users = ["mallory"] }"#);
        assert!(decide(&p, &caller(), Action::Encrypt, &KEY).is_allowed());
        let mut m = caller();
        m.user_name = Some("mallory".into());
        assert!(!decide(&p, &m, Action::Encrypt, &KEY).is_allowed());
    }

    #[test]
    fn refusal_names_the_first_failing_condition() {
        let p = pol(r#"[[statement]]
               sid = "only-app"
               actions = ["sign"]
               resources = ["key/*"]
               conditions = { executables = ["/opt/app/*", "/usr/local/bin/app"] }"#);
        let d = decide(&p, &caller(), Action::Sign, &KEY);
        assert_eq!(
            d.to_string(),
            "denied: statement 0 (only-app) would allow it but \
             executable /usr/bin/x not in [/opt/app/*, /usr/local/bin/app]"
        );
    }

    #[test]
    fn a_later_allow_can_allow_after_an_unmet_one() {
        let p = pol(r#"[[statement]]
               actions = ["sign"]
               resources = ["key/*"]
               conditions = { users = ["root"] }
               [[statement]]
               actions = ["sign"]
               resources = ["key/k1"]"#);
        let d = decide(&p, &caller(), Action::Sign, &KEY);
        assert_eq!(
            d,
            Decision::Allowed(StatementRef {
                index: 1,
                sid: None
            })
        );
    }

    #[test]
    fn visibility() {
        let aliases = vec!["payments-eu".to_owned()];
        let pay = Resource::Key {
            id: "p1",
            aliases: &aliases,
        };
        let p = pol(r#"[[statement]]
               actions = ["verify"]
               resources = ["alias/payments-*"]
               [[statement]]
               actions = ["encrypt"]
               resources = ["secret/x", "key/hidden-by-condition"]
               conditions = { users = ["root"] }"#);
        assert!(
            visible(&p, &caller(), &pay),
            "any allowed action makes it visible"
        );
        assert!(!visible(&p, &caller(), &KEY), "outside the policy");
        let hidden = Resource::Key {
            id: "hidden-by-condition",
            aliases: &[],
        };
        assert!(!visible(&p, &caller(), &hidden), "conditions must hold");

        let p = pol(r#"[[statement]]
               actions = ["*"]
               resources = ["key/*"]
               [[statement]]
               effect = "deny"
               actions = ["*"]
               resources = ["key/k1"]
               [[statement]]
               effect = "deny"
               actions = ["sign"]
               resources = ["alias/payments-*"]"#);
        assert!(
            !visible(&p, &caller(), &KEY),
            "denied every action: invisible"
        );
        assert!(
            visible(&p, &caller(), &pay),
            "denied one action: still visible"
        );
    }

    #[test]
    fn toml_errors_name_the_field() {
        let err = Policy::from_toml(
            r#"[[statement]]
               actions = ["encrypt"]
               resources = ["key/*"]
               efect = "deny""#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("efect"), "{err}");
        let err = Policy::from_toml(
            r#"[[statement]]
               actions = ["encrypt", "frobnicate"]
               resources = ["key/*"]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("frobnicate") && err.contains("valid actions"),
            "{err}"
        );
        let err = Policy::from_toml(
            r#"[[statement]]
               effect = "maybe"
               actions = ["encrypt"]
               resources = ["key/*"]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("maybe"), "{err}");
        let err = Policy::from_toml("[[statement]]\nresources = [\"key/*\"]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("actions"), "{err}");
        let err = Policy::from_toml("[[statements]]").unwrap_err().to_string();
        assert!(err.contains("statements"), "{err}");
    }

    #[test]
    fn the_crate_docs_example_reads_and_decides() {
        let p = pol(r#"[[statement]]
sid = "payments"
actions = ["encrypt", "decrypt"]
resources = ["alias/payments-*"]
[statement.conditions]
users = ["payments", 1001]
executables = ["/opt/payments/*"]
networks = ["10.0.0.0/8", "fd00::/8"]

[[statement]]
effect = "deny"
actions = ["key-admin"]
resources = ["key/*"]"#);
        let aliases = vec!["payments-eu".to_owned()];
        let key = Resource::Key {
            id: "k9",
            aliases: &aliases,
        };
        let mut app = Caller::new(1001, 1001);
        app.exe = Some("/opt/payments/bin/api".into());
        app.addresses = vec!["fd00::17".parse().unwrap()];
        assert!(decide(&p, &app, Action::Encrypt, &key).is_allowed());
        assert!(matches!(
            decide(&p, &app, Action::Rotate, &key),
            Decision::DeniedBy(_)
        ));
        app.addresses = vec!["192.0.2.1".parse().unwrap()];
        assert_eq!(
            decide(&p, &app, Action::Encrypt, &key).to_string(),
            "denied: statement 0 (payments) would allow it but \
             no host address in [10.0.0.0/8, fd00::/8]"
        );
    }

    #[test]
    fn statements_that_match_nothing_are_refused() {
        let err = Policy::from_toml(
            r#"[[statement]]
               sid = "s"
               actions = []
               resources = ["key/*"]"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "statement 0 (s): `actions` is empty");
        let err = Policy::from_toml(
            r#"[[statement]]
               actions = ["sign"]
               resources = ["key/*"]
               conditions = { not_before = "2026-02-01T00:00:00Z", not_after = "2026-01-01T00:00:00Z" }"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not_after"), "{err}");
    }
}
