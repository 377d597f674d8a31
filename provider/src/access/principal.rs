//! Who is logged in to the instance in this process, and what they may do. The
//! default access point (the user PIN) may do everything; any other is held to its
//! policy. Decisions are kept per object and action for at most a second (time-window
//! conditions), and dropped as soon as the access points are reloaded.

use super::names::Names;
use super::points::ApEntry;
use kmsbridge_access::credential::CredentialId;
use kmsbridge_access::{decide, visible, Action, Caller};
use kmsbridge_bridge::ObjectId;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The name the user PIN's access point goes by in logs and the audit trail.
pub(crate) const DEFAULT_NAME: &str = "default";
/// How long a decision is reused.
const DECISION_TTL_MS: u128 = 1000;

pub(crate) struct Principal {
    pub(crate) name: Arc<str>,
    /// None: the default access point, every right.
    pub(crate) credential: Option<CredentialId>,
    caller: Caller,
    decisions: RwLock<HashMap<(ObjectId, u8), Cached>>,
    born: Instant,
}

#[derive(Clone, Copy)]
struct Cached {
    allowed: bool,
    epoch: u64,
    at_ms: u128,
}

/// `visible` is cached beside the actions, under this code.
const VISIBLE: u8 = u8::MAX;

fn code(action: Action) -> u8 {
    Action::ALL
        .iter()
        .position(|a| *a == action)
        .map_or(VISIBLE - 1, |p| p as u8)
}

/// A denial, with the policy's words for the log and the audit trail.
pub(crate) struct Denial {
    pub(crate) reason: String,
}

impl Principal {
    pub(crate) fn default_access_point() -> Principal {
        Principal::new(DEFAULT_NAME.into(), None)
    }

    pub(crate) fn new(name: Arc<str>, credential: Option<CredentialId>) -> Principal {
        Principal {
            name,
            credential,
            caller: Caller::of_this_process(),
            decisions: RwLock::default(),
            born: Instant::now(),
        }
    }

    pub(crate) fn is_default(&self) -> bool {
        self.credential.is_none()
    }

    fn cached(&self, key: (ObjectId, u8), epoch: u64) -> Option<bool> {
        let c = *self.decisions.read().get(&key)?;
        let fresh = c.epoch == epoch
            && self.born.elapsed().as_millis().saturating_sub(c.at_ms) < DECISION_TTL_MS;
        fresh.then_some(c.allowed)
    }

    fn keep(&self, key: (ObjectId, u8), epoch: u64, allowed: bool) {
        let mut d = self.decisions.write();
        // Bounded: a process touching millions of objects starts over.
        if d.len() > 100_000 {
            d.clear();
        }
        d.insert(
            key,
            Cached {
                allowed,
                epoch,
                at_ms: self.born.elapsed().as_millis(),
            },
        );
    }

    /// The caller now (time-window conditions read `now`).
    fn caller_now(&self) -> Caller {
        Caller {
            now: SystemTime::now(),
            ..self.caller.clone()
        }
    }

    /// Whether the credential this login used is still in force.
    fn credential_valid(&self, ap: &ApEntry) -> bool {
        let Some(id) = self.credential else {
            return true;
        };
        ap.rec
            .credential(id)
            .and_then(|c| c.stored())
            .is_some_and(|s| {
                let now = SystemTime::now();
                s.not_after.is_none_or(|na| now <= na) && s.not_before.is_none_or(|nb| now >= nb)
            })
    }

    /// May this principal do `action` on the object named `names`?
    pub(crate) fn allows(
        &self,
        ap: impl FnOnce() -> Option<Arc<ApEntry>>,
        epoch: u64,
        obj: Option<ObjectId>,
        names: impl FnOnce() -> Arc<Names>,
        action: Action,
    ) -> Result<(), Denial> {
        if self.is_default() {
            return Ok(());
        }
        let key = obj.map(|o| (o, code(action)));
        if let Some(k) = key {
            if self.cached(k, epoch) == Some(true) {
                return Ok(());
            }
        }
        let Some(ap) = ap().filter(|ap| self.credential_valid(ap)) else {
            return Err(Denial {
                reason: "the access point or its credential is no longer in force".into(),
            });
        };
        let names = names();
        let d = decide(&ap.policy, &self.caller_now(), action, &names.resource());
        let allowed = d.is_allowed();
        if let Some(k) = key {
            self.keep(k, epoch, allowed);
        }
        if allowed {
            Ok(())
        } else {
            Err(Denial {
                reason: d.to_string(),
            })
        }
    }

    /// Does the object exist for this principal at all?
    pub(crate) fn sees(
        &self,
        ap: impl FnOnce() -> Option<Arc<ApEntry>>,
        epoch: u64,
        obj: ObjectId,
        names: impl FnOnce() -> Arc<Names>,
    ) -> bool {
        if self.is_default() {
            return true;
        }
        let key = (obj, VISIBLE);
        if let Some(v) = self.cached(key, epoch) {
            return v;
        }
        let v = ap()
            .filter(|ap| self.credential_valid(ap))
            .is_some_and(|ap| visible(&ap.policy, &self.caller_now(), &names().resource()));
        self.keep(key, epoch, v);
        v
    }
}
