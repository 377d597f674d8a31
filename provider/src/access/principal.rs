//! Who is logged in to the instance in this process, and what they may do. The
//! default access point (the user PIN) may do everything; any other is held to its
//! policy. Decisions are kept per object and action for at most a second (time-window
//! conditions), and dropped as soon as the access points are reloaded. The last few
//! positive decisions of each thread are also kept in a thread-local list, so the
//! operation a thread repeats costs a few compares, not a lock.

use super::names::Names;
use super::points::ApEntry;
use crate::clock::coarse_ms;
use kmsbridge_access::credential::CredentialId;
use kmsbridge_access::{decide, visible, Action, Caller};
use kmsbridge_bridge::ObjectId;
use parking_lot::RwLock;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// The name the user PIN's access point goes by in logs and the audit trail.
pub(crate) const DEFAULT_NAME: &str = "default";
/// How long a decision is reused when time matters to it (a window in the policy, or a
/// credential that expires).
const DECISION_TTL_MS: u64 = 1000;
/// Until when a decision that no clock can change is reused.
const FOREVER: u64 = u64::MAX;

pub(crate) struct Principal {
    pub(crate) name: Arc<str>,
    /// None: the default access point, every right.
    pub(crate) credential: Option<CredentialId>,
    /// The process as conditions see it; not gathered for the default access point,
    /// which no condition holds.
    caller: Option<Caller>,
    decisions: RwLock<HashMap<(ObjectId, u8), Cached>>,
    /// Unique per login in this process: thread-local decisions name it.
    serial: u64,
}

#[derive(Clone, Copy)]
struct Cached {
    allowed: bool,
    epoch: u64,
    until_ms: u64,
}

/// One positive decision a thread made recently.
#[derive(Clone, Copy, Default)]
struct Recent {
    serial: u64,
    epoch: u64,
    obj: ObjectId,
    code: u8,
    until_ms: u64,
}

const RECENT: usize = 4;

struct Recents {
    list: [Recent; RECENT],
    next: usize,
}

thread_local! {
    static RECENTS: RefCell<Recents> = const {
        RefCell::new(Recents {
            list: [Recent { serial: 0, epoch: 0, obj: 0, code: 0, until_ms: 0 }; RECENT],
            next: 0,
        })
    };
}

/// Whether this thread allowed `code` on `obj` for principal `serial` under access
/// points `epoch` recently enough to answer the same again.
pub(super) fn recent_hit(serial: u64, epoch: u64, obj: ObjectId, code: u8) -> bool {
    RECENTS
        .try_with(|r| {
            // An allowed action implies the object is visible (a deny of `*` would
            // have refused the action too).
            r.borrow().list.iter().any(|e| {
                e.obj == obj
                    && (e.code == code || code == VISIBLE)
                    && e.serial == serial
                    && e.epoch == epoch
                    && (e.until_ms == FOREVER || coarse_ms() < e.until_ms)
            })
        })
        .unwrap_or(false)
}

fn remember_recent(e: Recent) {
    let _ = RECENTS.try_with(|r| {
        let mut r = r.borrow_mut();
        let next = r.next;
        if let Some(slot) = r.list.get_mut(next % RECENT) {
            *slot = e;
        }
        r.next = (next + 1) % RECENT;
    });
}

/// The code `visible` decisions are cached under.
pub(super) const VISIBLE_CODE: u8 = VISIBLE;

/// The code of an action in the caches.
pub(super) fn action_code(action: Action) -> u8 {
    code(action)
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
        static SERIALS: AtomicU64 = AtomicU64::new(1);
        Principal {
            name,
            credential,
            caller: credential.map(|_| Caller::of_this_process()),
            decisions: RwLock::default(),
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(crate) fn is_default(&self) -> bool {
        self.credential.is_none()
    }

    /// Unique per login; 0 for the default access point (held to no policy).
    pub(crate) fn serial(&self) -> u64 {
        if self.is_default() {
            0
        } else {
            self.serial
        }
    }

    fn cached(&self, key: (ObjectId, u8), epoch: u64) -> Option<bool> {
        if recent_hit(self.serial, epoch, key.0, key.1) {
            return Some(true);
        }
        let c = *self.decisions.read().get(&key)?;
        let fresh = c.epoch == epoch && (c.until_ms == FOREVER || coarse_ms() < c.until_ms);
        if fresh && c.allowed {
            remember_recent(Recent {
                serial: self.serial,
                epoch,
                obj: key.0,
                code: key.1,
                until_ms: c.until_ms,
            });
        }
        fresh.then_some(c.allowed)
    }

    fn keep(&self, key: (ObjectId, u8), epoch: u64, allowed: bool, timed: bool) {
        let until_ms = if timed {
            coarse_ms().saturating_add(DECISION_TTL_MS)
        } else {
            FOREVER
        };
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
                until_ms,
            },
        );
    }

    /// Whether a clock can change this access point's decisions.
    fn timed(&self, ap: &ApEntry) -> bool {
        let window =
            |c: &kmsbridge_access::Conditions| c.not_before.is_some() || c.not_after.is_some();
        ap.policy.statements.iter().any(|s| window(&s.conditions))
            || self
                .credential
                .and_then(|id| ap.rec.credential(id))
                .is_some_and(|c| c.not_before != 0 || c.not_after != 0)
    }

    /// The caller now (time-window conditions read `now`).
    fn caller_now(&self) -> Caller {
        Caller {
            now: SystemTime::now(),
            ..self.caller.clone().unwrap_or_else(Caller::of_this_process)
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
                reason: "denied: the access point or its credential is no longer in force".into(),
            });
        };
        let names = names();
        let d = decide(&ap.policy, &self.caller_now(), action, &names.resource());
        let allowed = d.is_allowed();
        if let Some(k) = key {
            self.keep(k, epoch, allowed, self.timed(&ap));
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
        let ap = ap().filter(|ap| self.credential_valid(ap));
        let v = ap
            .as_ref()
            .is_some_and(|ap| visible(&ap.policy, &self.caller_now(), &names().resource()));
        self.keep(key, epoch, v, ap.is_some_and(|ap| self.timed(&ap)));
        v
    }

    /// Does an object outside the object table (a secret) exist for this principal?
    pub(crate) fn sees_uncached(
        &self,
        ap: impl FnOnce() -> Option<Arc<ApEntry>>,
        names: &Names,
    ) -> bool {
        if self.is_default() {
            return true;
        }
        ap().filter(|ap| self.credential_valid(ap))
            .is_some_and(|ap| visible(&ap.policy, &self.caller_now(), &names.resource()))
    }
}
