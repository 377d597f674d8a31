//! Secrets in the instance (docs/SECRETS.md, issue 13): kept as hidden records
//! ([`store`]), their values sealed under a KMS key inside the backend ([`wrapper`]),
//! shown to the logged-in user as CKO_DATA objects with CKA_APPLICATION
//! `kmsbridge.secret` ([`view`] reads and finds, [`change`] creates, puts, moves
//! stages, rotates and deletes). A front object names a secret and a selector (the
//! `ACSCurrent` version, another stage, or a version id); it has no backend object.

mod change;
mod info;
mod store;
mod view;
mod wrapper;

pub(crate) use change::{create, destroy, set};
pub(crate) use view::{find, get, is_secret_template};

use crate::error::{rule, Result};
use crate::instance::Instance;
use crate::kms::ids::hash_id;
use crate::objects::{Kind, ObjEntry};
use cryptoki_sys::*;
use kmsbridge_secrets::{SecretError, Selector};
use parking_lot::Mutex;
use std::collections::HashMap;

/// What a front secret object names.
#[derive(Clone, Debug)]
pub(crate) struct SecretRef {
    pub(crate) name: String,
    pub(crate) sel: Selector,
}

pub(crate) struct Secrets {
    pub(crate) store: store::Store,
    /// Front handles by (name, selector), and what each handle names.
    handles: Mutex<Handles>,
}

#[derive(Default)]
struct Handles {
    by_key: HashMap<String, CK_OBJECT_HANDLE>,
    refs: HashMap<CK_OBJECT_HANDLE, SecretRef>,
    /// Names by hash (an entry's `kid`).
    names: HashMap<u64, String>,
}

impl Default for Secrets {
    fn default() -> Self {
        Secrets {
            store: store::Store::new(),
            handles: Mutex::default(),
        }
    }
}

fn key(name: &str, sel: &Selector) -> String {
    match sel {
        Selector::Stage(s) => format!("{name}\ns:{s}"),
        Selector::Version(v) => format!("{name}\nv:{v}"),
    }
}

impl Secrets {
    /// The front handle of secret `name` as selected by `sel`, the same while the user
    /// stays logged in.
    pub(crate) fn handle(&self, inst: &Instance, name: &str, sel: &Selector) -> CK_OBJECT_HANDLE {
        let k = key(name, sel);
        let mut g = self.handles.lock();
        if let Some(h) = g.by_key.get(&k).copied() {
            if inst.objects.get(h).is_some_and(|e| e.kind == Kind::Secret) {
                return h;
            }
            g.refs.remove(&h);
        }
        let kid = hash_id(name.as_bytes());
        let h = inst.objects.insert_unbound(ObjEntry {
            id: kid,
            token: true,
            private: true,
            class: CKO_DATA,
            key_type: None,
            always_auth: false,
            owner: None,
            kind: Kind::Secret,
            kid,
        });
        g.by_key.insert(k, h);
        g.names.insert(kid, name.to_string());
        g.refs.insert(
            h,
            SecretRef {
                name: name.to_string(),
                sel: sel.clone(),
            },
        );
        h
    }

    /// What front handle `h` names.
    pub(crate) fn of_handle(&self, h: CK_OBJECT_HANDLE) -> Result<SecretRef> {
        match self.handles.lock().refs.get(&h) {
            Some(r) => Ok(r.clone()),
            None => rule(CKR_OBJECT_HANDLE_INVALID, "no such secret object"),
        }
    }

    /// Whether the application may see the secret object `e` now: the user is logged
    /// in and the access point's policy speaks of the secret.
    pub(crate) fn visible(&self, inst: &Instance, e: &ObjEntry) -> bool {
        if inst.login_state() != crate::instance::Login::User {
            return false;
        }
        let name = self.handles.lock().names.get(&e.kid).cloned();
        name.is_some_and(|n| inst.access.sees_secret(inst, &n))
    }
}

/// The PKCS#11 code of a refused secret operation; the model's words go to the log
/// (they name the secret, version and stage, never a value).
pub(crate) fn refused<T>(name: &str, e: SecretError) -> Result<T> {
    tracing::warn!(secret = %name, "secret operation refused: {e}");
    let (rv, why) = match e {
        SecretError::VersionExists { .. } => (
            CKR_ATTRIBUTE_VALUE_INVALID,
            "this version id exists with a different value",
        ),
        SecretError::ScheduledForDeletion { .. } => (
            CKR_ACTION_PROHIBITED,
            "the secret is scheduled for deletion: restore it first",
        ),
        SecretError::NotScheduledForDeletion { .. } => (
            CKR_ACTION_PROHIBITED,
            "the secret is not scheduled for deletion",
        ),
        SecretError::TooManyVersions { .. } => (
            CKR_ACTION_PROHIBITED,
            "every version carries a stage: remove one first",
        ),
        SecretError::KeyMismatch { .. }
        | SecretError::Tampered { .. }
        | SecretError::Wrap(_)
        | SecretError::Record(_)
        | SecretError::Random(_) => (
            CKR_FUNCTION_FAILED,
            "the secret's value cannot be sealed or opened",
        ),
        SecretError::VersionNotFound { .. } | SecretError::StageNotFound { .. } => {
            (CKR_ATTRIBUTE_VALUE_INVALID, "no such version or stage")
        }
        _ => (
            CKR_ATTRIBUTE_VALUE_INVALID,
            "the secret refuses this value or change",
        ),
    };
    rule(rv, why)
}
