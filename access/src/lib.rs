//! Application access points (AAP): which application may do what to which key or
//! secret, under which conditions. This crate is the model and its evaluation only; it
//! knows nothing of PKCS#11, stores or backends (the provider wires it in).
//!
//! # The model
//!
//! An **access point** is an application identity of an instance. It holds one or more
//! **credentials** ([`credential`]) and a **policy** ([`Policy`]).
//!
//! A policy is a list of **statements**. Each statement has an **effect** (`allow`, the
//! default, or `deny`), **actions**, **resources** and **conditions**:
//!
//! - **actions** ([`Action`]): `encrypt`, `decrypt`, `sign`, `verify`, `wrap`, `unwrap`,
//!   `derive`, `generate` (synonym `create`), the key administration actions `enable`,
//!   `disable`, `schedule-deletion`, `rotate`, `import`, `update` (changing a key's
//!   attributes; the group `key-admin` names all six), `secret-read`, `secret-admin`, and `*` for every action. Any other name is
//!   refused, with the valid names listed.
//! - **resources** ([`ResourcePattern`]): `key/<id>` (that key exactly), `key/*` (every
//!   key), `alias/<pattern>` (a key with at least one alias matching), `secret/<pattern>`.
//! - **patterns** ([`Glob`]): `*` matches any run of characters, including none and
//!   including `/` (as in AWS IAM, so `secret/prod/*` covers the `prod/` tree); `?` matches
//!   exactly one character; every other character is literal, and `[ ] { } \` are refused.
//! - **conditions** ([`Conditions`]), every one that is set must hold: `users` (names or
//!   uids), `groups` (names or gids; any of the process's groups counts), `executables`
//!   (absolute path patterns), `networks` (CIDR ranges, IPv4 and IPv6; holds when any
//!   address of the host is in any range), `not_before` / `not_after` (RFC 3339 UTC,
//!   inclusive). They are checked against a [`Caller`], gathered once per login by
//!   [`Caller::of_this_process`]; what cannot be learned fails closed.
//!
//! # Evaluation
//!
//! [`decide`] answers one request (caller, action, resource):
//!
//! 1. A `deny` statement that covers the action and resource and whose conditions hold
//!    refuses it, whatever any `allow` says.
//! 2. Otherwise an `allow` statement that covers it with its conditions holding allows it.
//! 3. Otherwise it is refused.
//!
//! The [`Decision`] says which statement decided, or — when no allow applied — the first
//! allow statement that would have applied and its first failing condition, e.g.
//! `denied: statement 0 (only-app) would allow it but executable /usr/bin/x not in
//! [/opt/app/*]`, for the audit trail and the refusal log line.
//!
//! [`visible`] answers whether an object exists for the caller at all: some allow statement
//! covers it (for any action) with its conditions holding, and no `deny` of `*` covers it.
//! Objects outside the policy are invisible (not found).
//!
//! # Configuration
//!
//! ```toml
//! [[statement]]
//! sid = "payments"
//! actions = ["encrypt", "decrypt"]
//! resources = ["alias/payments-*"]
//! [statement.conditions]
//! users = ["payments", 1001]
//! executables = ["/opt/payments/*"]
//! networks = ["10.0.0.0/8", "fd00::/8"]
//!
//! [[statement]]
//! effect = "deny"
//! actions = ["key-admin"]
//! resources = ["key/*"]
//! ```
//!
//! Unknown fields, actions, malformed patterns and ranges are refused by name.
//!
//! # Credentials
//!
//! A client key looks like `kb1.<credential id>.<secret>` (see [`credential`]): the id
//! tells login which stored credential to check, so one slow hash is computed per attempt.
//! Only a salted Argon2id hash of the secret is stored, with an optional validity window.

mod action;
mod caller;
mod cidr;
mod condition;
pub mod credential;
mod error;
mod glob;
mod policy;
mod resource;

pub use action::{Action, ActionPattern};
pub use caller::Caller;
pub use cidr::Cidr;
pub use condition::{Conditions, ExePattern, Principal, Timestamp};
pub use error::PolicyError;
pub use glob::Glob;
pub use policy::{decide, visible, Decision, Effect, Policy, Statement, StatementRef};
pub use resource::{Resource, ResourcePattern};
