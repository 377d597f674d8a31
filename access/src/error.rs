//! Errors from reading a policy: each names the offending string or field.

/// A policy (or one of its parts) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An action name that is not one of [`crate::Action`]'s names or groups.
    #[error("unknown action {given:?}; valid actions are: {valid}")]
    UnknownAction { given: String, valid: String },
    /// A resource pattern that is not `key/<id>`, `key/*`, `alias/<glob>` or `secret/<glob>`.
    #[error("bad resource pattern {given:?}: {why}")]
    BadResource { given: String, why: &'static str },
    /// A glob with a character other than `*` and `?` that looks like a wildcard.
    #[error("bad pattern {given:?}: {why}")]
    BadGlob { given: String, why: String },
    /// A user or group that is neither a name nor a numeric id.
    #[error("bad user or group {given:?}: {why}")]
    BadPrincipal { given: String, why: &'static str },
    /// A network range that is not `<address>/<prefix>`.
    #[error("bad network range {given:?}: {why}")]
    BadCidr { given: String, why: String },
    /// A timestamp that is not RFC 3339 UTC (e.g. `2026-01-31T00:00:00Z`).
    #[error("bad time {given:?}: {why}; expected RFC 3339 UTC such as 2026-01-31T00:00:00Z")]
    BadTime { given: String, why: String },
    /// A statement that cannot match anything (empty `actions` or `resources`), or whose
    /// time window ends before it starts.
    #[error("statement {index}{sid}: {why}")]
    BadStatement {
        index: usize,
        sid: String,
        why: String,
    },
    /// The TOML text itself (its message names the field and the line).
    #[error("policy: {0}")]
    Toml(String),
}
