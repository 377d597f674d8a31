//! What a caller wants to do: the [`Action`]s and the patterns a policy names them by.

use std::fmt;

use crate::PolicyError;

/// One thing an application can ask the module to do with a key or a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Wrap,
    Unwrap,
    Derive,
    /// Generating or creating a key or object (`generate`; `create` is accepted as a synonym).
    Generate,
    // Key administration (the `key-admin` group).
    Enable,
    Disable,
    ScheduleDeletion,
    Rotate,
    Import,
    /// Changing a key's attributes (label, id, usage) or destroying an application's
    /// own object: key administration too.
    Update,
    /// Reading a secret's value.
    SecretRead,
    /// Creating, changing or deleting a secret.
    SecretAdmin,
}

impl Action {
    /// Every action, in the order they are listed in error messages.
    pub const ALL: [Action; 16] = [
        Action::Encrypt,
        Action::Decrypt,
        Action::Sign,
        Action::Verify,
        Action::Wrap,
        Action::Unwrap,
        Action::Derive,
        Action::Generate,
        Action::Enable,
        Action::Disable,
        Action::ScheduleDeletion,
        Action::Rotate,
        Action::Import,
        Action::Update,
        Action::SecretRead,
        Action::SecretAdmin,
    ];

    /// The name a policy uses for this action.
    pub fn name(self) -> &'static str {
        match self {
            Action::Encrypt => "encrypt",
            Action::Decrypt => "decrypt",
            Action::Sign => "sign",
            Action::Verify => "verify",
            Action::Wrap => "wrap",
            Action::Unwrap => "unwrap",
            Action::Derive => "derive",
            Action::Generate => "generate",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::ScheduleDeletion => "schedule-deletion",
            Action::Rotate => "rotate",
            Action::Import => "import",
            Action::Update => "update",
            Action::SecretRead => "secret-read",
            Action::SecretAdmin => "secret-admin",
        }
    }

    /// Whether this action is one of the six in the `key-admin` group.
    pub fn is_key_admin(self) -> bool {
        matches!(
            self,
            Action::Enable
                | Action::Disable
                | Action::ScheduleDeletion
                | Action::Rotate
                | Action::Import
                | Action::Update
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An entry of a statement's `actions`: one action, the `key-admin` group, or `*` (all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum ActionPattern {
    One(Action),
    KeyAdmin,
    Any,
}

impl ActionPattern {
    /// Reads a policy's action name; an unknown name is refused with the valid ones listed.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        match text {
            "*" => return Ok(ActionPattern::Any),
            "key-admin" => return Ok(ActionPattern::KeyAdmin),
            "create" => return Ok(ActionPattern::One(Action::Generate)),
            _ => {}
        }
        Action::ALL
            .into_iter()
            .find(|a| a.name() == text)
            .map(ActionPattern::One)
            .ok_or_else(|| PolicyError::UnknownAction {
                given: text.to_owned(),
                valid: valid_names(),
            })
    }

    /// Whether `action` is covered by this pattern.
    pub fn matches(self, action: Action) -> bool {
        match self {
            ActionPattern::One(a) => a == action,
            ActionPattern::KeyAdmin => action.is_key_admin(),
            ActionPattern::Any => true,
        }
    }
}

impl TryFrom<String> for ActionPattern {
    type Error = PolicyError;
    fn try_from(text: String) -> Result<Self, PolicyError> {
        ActionPattern::parse(&text)
    }
}

impl fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionPattern::One(a) => f.write_str(a.name()),
            ActionPattern::KeyAdmin => f.write_str("key-admin"),
            ActionPattern::Any => f.write_str("*"),
        }
    }
}

fn valid_names() -> String {
    let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    names.extend(["create", "key-admin", "*"]);
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for a in Action::ALL {
            assert_eq!(ActionPattern::parse(a.name()), Ok(ActionPattern::One(a)));
            assert_eq!(a.to_string(), a.name());
        }
    }

    #[test]
    fn create_is_generate() {
        assert_eq!(
            ActionPattern::parse("create"),
            Ok(ActionPattern::One(Action::Generate))
        );
    }

    #[test]
    fn key_admin_matches_exactly_the_six() {
        let p = ActionPattern::parse("key-admin").unwrap();
        let admin: Vec<Action> = Action::ALL.into_iter().filter(|a| p.matches(*a)).collect();
        assert_eq!(
            admin,
            [
                Action::Enable,
                Action::Disable,
                Action::ScheduleDeletion,
                Action::Rotate,
                Action::Import,
                Action::Update
            ]
        );
    }

    #[test]
    fn star_matches_all_and_one_matches_one() {
        let any = ActionPattern::parse("*").unwrap();
        assert!(Action::ALL.into_iter().all(|a| any.matches(a)));
        let enc = ActionPattern::parse("encrypt").unwrap();
        assert!(enc.matches(Action::Encrypt));
        assert!(!enc.matches(Action::Decrypt));
    }

    #[test]
    fn unknown_action_names_itself_and_the_valid_ones() {
        let err = ActionPattern::parse("encrpyt").unwrap_err().to_string();
        assert!(err.contains("\"encrpyt\""), "{err}");
        assert!(err.contains("encrypt, decrypt"), "{err}");
        assert!(err.contains("key-admin"), "{err}");
        // Case matters: names are lower-case.
        assert!(ActionPattern::parse("Encrypt").is_err());
        assert!(ActionPattern::parse("").is_err());
    }
}
