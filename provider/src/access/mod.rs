//! Application access points in the instance (docs/ACCESS.md): who is logged in
//! ([`principal`]), by which credential ([`login`], counted by [`lockout`]), what the
//! policy says they may see and do with each object ([`names`] → the `access` crate),
//! and the SO's view of the access points as objects ([`objects`]). The access points
//! themselves live in the instance ([`points`], [`record`]).

mod host_lock;
pub(crate) mod lockout;
mod login;
mod names;
pub(crate) mod objects;
mod points;
mod principal;
mod record;

use crate::config::InstanceConfig;
use crate::error::{rule, Error, Result};
use crate::instance::Instance;
use crate::objects::{Kind, ObjEntry};
use arc_swap::ArcSwapOption;
use cryptoki_sys::*;
use kmsbridge_access::Action;
use kmsbridge_bridge::{Attr, ObjectId};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

pub(crate) use login::{client_key_file, USER_PIN};
pub(crate) use names::Names;
pub(crate) use principal::{Principal, DEFAULT_NAME};
pub(crate) use record::{valid_name, ApRecord, CredRecord};

/// Wrong secrets a credential (or a hardware instance's user PIN) takes before it locks.
pub(crate) const DEFAULT_MAX_FAILED_LOGINS: u32 = 10;

pub(crate) struct Access {
    points: points::Points,
    principal: ArcSwapOption<Principal>,
    names: names::NameCache,
    /// The user PIN logs in as the default access point, with every right.
    pub(crate) default_enabled: bool,
    pub(crate) max_failures: u32,
    /// The user PIN's wrong-attempt count as this process last saw it (hardware
    /// instances; C_GetTokenInfo never waits on an HSM to learn it).
    pin_failures: AtomicUsize,
    so_pin_failures: AtomicUsize,
    /// The serial of the principal logged in when it is held to a policy, else 0: the
    /// hot path's first look, before any shared pointer is loaded.
    held: AtomicU64,
    /// The wrong-key count of the credential this process last tried, plus one (0:
    /// none tried yet).
    credential_failures: AtomicUsize,
    /// Front handles of the access point objects, by name hash (the SO's view).
    pub(crate) handles: parking_lot::Mutex<std::collections::HashMap<u64, CK_OBJECT_HANDLE>>,
    /// Orders this host's processes counting a wrong attempt (host_lock.rs says why).
    host_lock: host_lock::HostLock,
}

impl Access {
    pub(crate) fn new(cfg: &InstanceConfig, serial: &str) -> Result<Access> {
        let mut configured = Vec::new();
        for ap in &cfg.access_points {
            let e = points::entry(ap.record(), true)
                .map_err(|e| Error::Config(format!("access point {}: {e}", ap.name)))?;
            configured.push(e);
        }
        Ok(Access {
            points: points::Points::new(configured),
            principal: ArcSwapOption::const_empty(),
            names: names::NameCache::default(),
            default_enabled: cfg.default_access_point,
            max_failures: cfg.max_failed_logins,
            pin_failures: AtomicUsize::new(0),
            so_pin_failures: AtomicUsize::new(0),
            held: AtomicU64::new(0),
            credential_failures: AtomicUsize::new(0),
            handles: Default::default(),
            host_lock: host_lock::HostLock::new(&crate::quota::identity(cfg, serial)),
        })
    }

    /// Its name, for the audit trail and quotas.
    pub(crate) fn principal_name(&self) -> Option<Arc<str>> {
        self.principal.load().as_ref().map(|p| p.name.clone())
    }

    pub(crate) fn log_out(&self) {
        self.held.store(0, Ordering::Release);
        self.principal.store(None);
    }

    /// The hot path: true when nothing restricts this object for `code` now (no
    /// policy in force, or this thread allowed it recently under the same access
    /// points). False means: ask the slow path.
    fn fast_ok(&self, inst: &Instance, e: &ObjEntry, code: u8) -> bool {
        let serial = self.held.load(Ordering::Acquire);
        if serial == 0 {
            return true;
        }
        self.points.tick(&*inst.backend);
        principal::recent_hit(serial, self.points.epoch(), e.id, code)
    }

    /// Objects a policy speaks of: the application's keys and the KMS key records.
    fn governed(e: &ObjEntry) -> bool {
        matches!(e.kind, Kind::Plain | Kind::Record)
    }

    /// Does the object exist for whoever is logged in?
    pub(crate) fn sees(&self, inst: &Instance, e: &ObjEntry) -> bool {
        if !Self::governed(e) || self.fast_ok(inst, e, principal::VISIBLE_CODE) {
            return true;
        }
        let guard = self.principal.load();
        let Some(p) = guard.as_ref() else {
            return true;
        };
        if p.is_default() {
            return true;
        }
        self.points.tick(&*inst.backend);
        p.sees(
            || self.points.get(&*inst.backend, &p.name),
            self.points.epoch(),
            e.id,
            || self.names.get(inst, e),
        )
    }

    /// May whoever is logged in do `action` with this object? Refusals answer
    /// CKR_KEY_FUNCTION_NOT_PERMITTED and are logged with the policy's reason.
    pub(crate) fn allow(&self, inst: &Instance, e: &ObjEntry, action: Action) -> Result<()> {
        if !Self::governed(e) || self.fast_ok(inst, e, principal::action_code(action)) {
            return Ok(());
        }
        let guard = self.principal.load();
        let Some(p) = guard.as_ref() else {
            return Ok(());
        };
        if p.is_default() {
            return Ok(());
        }
        self.points.tick(&*inst.backend);
        let names = std::cell::OnceCell::new();
        let name = || names.get_or_init(|| self.names.get(inst, e)).clone();
        p.allows(
            || self.points.get(&*inst.backend, &p.name),
            self.points.epoch(),
            Some(e.id),
            name,
            action,
        )
        .or_else(|d| self.refuse(inst, p, action, &name(), d.reason))
    }

    /// May whoever is logged in do `action` giving object `e` the names in `t` (a
    /// copy, or a change of label or id)? Names `t` leaves out stay the object's.
    pub(crate) fn allow_renamed(
        &self,
        inst: &Instance,
        e: &ObjEntry,
        t: &[Attr],
        action: Action,
    ) -> Result<()> {
        if !Self::governed(e)
            || self
                .principal
                .load()
                .as_ref()
                .is_none_or(|p| p.is_default())
        {
            return Ok(());
        }
        let old = self.names.get(inst, e);
        let new = Names::of_template(t);
        let has = |ty| kmsbridge_bridge::attr::find(t, ty).is_some();
        let merged = Names {
            id: if has(CKA_ID) { new.id } else { old.id.clone() },
            aliases: if has(CKA_LABEL) {
                new.aliases
            } else {
                old.aliases.clone()
            },
            secret: None,
        };
        self.allow_names(inst, merged, action)
    }

    /// May whoever is logged in do `action` making an object of template `t`?
    pub(crate) fn allow_new(&self, inst: &Instance, t: &[Attr], action: Action) -> Result<()> {
        self.allow_names(inst, Names::of_template(t), action)
    }

    fn allow_names(&self, inst: &Instance, names: Names, action: Action) -> Result<()> {
        let guard = self.principal.load();
        let Some(p) = guard.as_ref() else {
            return Ok(());
        };
        if p.is_default() {
            return Ok(());
        }
        self.points.tick(&*inst.backend);
        let names = Arc::new(names);
        p.allows(
            || self.points.get(&*inst.backend, &p.name),
            self.points.epoch(),
            None,
            || names.clone(),
            action,
        )
        .or_else(|d| self.refuse(inst, p, action, &names, d.reason))
    }

    /// May whoever is logged in do `action` (secret-read, secret-admin) on secret
    /// `name`? Not cached per object: secrets are not in the object table by backend id.
    pub(crate) fn allow_secret(&self, inst: &Instance, name: &str, action: Action) -> Result<()> {
        self.allow_names(inst, Names::of_secret(name), action)
    }

    /// Does secret `name` exist for whoever is logged in (any action on it allowed)?
    pub(crate) fn sees_secret(&self, inst: &Instance, name: &str) -> bool {
        let guard = self.principal.load();
        let Some(p) = guard.as_ref() else {
            return true;
        };
        if p.is_default() {
            return true;
        }
        self.points.tick(&*inst.backend);
        p.sees_uncached(
            || self.points.get(&*inst.backend, &p.name),
            &Names::of_secret(name),
        )
    }

    fn refuse(
        &self,
        inst: &Instance,
        p: &Principal,
        action: Action,
        names: &Names,
        reason: String,
    ) -> Result<()> {
        tracing::warn!(
            instance = %inst.name,
            access_point = %p.name,
            action = %action,
            object = %names.display(),
            "{reason}"
        );
        inst.audit
            .denied(None, action.name(), &names.display(), &reason);
        rule(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "the access point's policy does not allow it",
        )
    }

    /// Names read of objects that may be gone: how many, and drop those `live` says are.
    pub(crate) fn names_held(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn keep_names(&self, live: &dyn Fn(ObjectId) -> bool) {
        self.names.retain(live);
    }

    /// An object's label or id changed: its names are read again.
    pub(crate) fn renamed(&self, e: &ObjEntry) {
        self.names.forget(e.id);
    }
}

/// The action of a KMS lifecycle change, by the state it asks for.
pub(crate) fn lifecycle_action(t: &[Attr]) -> Action {
    use crate::vendor::*;
    let state = kmsbridge_bridge::attr::find(t, CKA_KMSBRIDGE_KEY_STATE).and_then(|a| a.as_ulong());
    match state {
        Some(KMSBRIDGE_STATE_ENABLED) => Action::Enable,
        Some(KMSBRIDGE_STATE_DISABLED) => Action::Disable,
        Some(KMSBRIDGE_STATE_PENDING_DELETION) => Action::ScheduleDeletion,
        _ if kmsbridge_bridge::attr::find(t, CKA_KMSBRIDGE_DELETION_DATE).is_some()
            || kmsbridge_bridge::attr::find(t, CKA_KMSBRIDGE_PENDING_WINDOW_DAYS).is_some() =>
        {
            Action::ScheduleDeletion
        }
        _ => Action::Update,
    }
}

impl Access {
    pub(crate) fn note_pin_failures(&self, user: CK_USER_TYPE, n: usize) {
        if user == CKU_SO {
            self.so_pin_failures.store(n, Ordering::Relaxed);
        } else {
            self.pin_failures.store(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn note_credential_failures(&self, n: usize) {
        self.credential_failures.store(n + 1, Ordering::Relaxed);
    }

    /// CKF_USER_PIN_* flags of the credential this application logs in with: the one
    /// it last tried, else the one in its KMSBRIDGE_CLIENT_KEY_FILE; None if neither.
    pub(crate) fn credential_flags(&self, inst: &Instance) -> Option<CK_FLAGS> {
        let seen = self.credential_failures.load(Ordering::Relaxed);
        let failures = match seen.checked_sub(1) {
            Some(n) => n,
            None => {
                let id = login::file_credential_id()?;
                lockout::failures(&*inst.backend, &id).ok()?
            }
        };
        Some(lockout::pin_flags(failures, self.max_failures))
    }

    /// CKF_USER_PIN_* and CKF_SO_PIN_* flags of a hardware instance's front PINs.
    pub(crate) fn pin_flags(&self) -> CK_FLAGS {
        let user = lockout::pin_flags(self.pin_failures.load(Ordering::Relaxed), self.max_failures);
        let so = lockout::pin_flags(
            self.so_pin_failures.load(Ordering::Relaxed),
            self.max_failures,
        );
        // The SO flags are the user flags shifted (CKF_SO_PIN_COUNT_LOW = USER << 4).
        user | (so << 4)
    }
}
