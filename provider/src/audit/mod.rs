//! The instance's audit trail (docs/AUDIT.md): the events the provider records, over
//! `kmsbridge-audit`. One [`Trail`] per instance, opened on its first event.
//!
//! - `health.rs`: what happens when the trail cannot be written (operations go on; one
//!   error line per burst; the loss is written into the trail once it works again);
//! - `service_key.rs`: the audit service key that signs checkpoints, inside the instance;
//! - `head.rs`: the latest signed head and the public key, kept in the instance;
//! - `names.rs`: the name a record gives an object (its KMS key id);
//! - `object.rs`: `CKO_KMSBRIDGE_AUDIT`, how `kmsbridge audit verify` reads them;
//! - `hooks.rs`: small helpers for the call sites in `api/`.

mod head;
mod health;
pub(crate) mod hooks;
mod hot;
mod names;
pub(crate) mod object;
mod service_key;

use crate::config::{AuditDurability, InstanceConfig, InstanceType};
use health::Health;
use kmsbridge_audit::{
    Aggregator, Config, Durability, Entry, Error, Event, Outcome, Text, Token, Writer,
};
use kmsbridge_bridge::{Backend, ObjectId};
use parking_lot::RwLock;
use service_key::ServiceKey;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// After a failed open, the next try waits this long (events meanwhile are counted as
/// lost, not retried one by one).
const REOPEN_AFTER_MS: u64 = 2_000;

/// One instance's trail.
pub(crate) struct Trail {
    /// `None`: auditing is off for this instance.
    cfg: Option<Config>,
    backend: Arc<dyn Backend>,
    key: Arc<ServiceKey>,
    open: RwLock<Option<Arc<Open>>>,
    reopen_at_ms: AtomicU64,
    /// The unix second of the last look for due key-use windows.
    flushed_s: AtomicU64,
    health: Health,
    pub(crate) names: names::Names,
    /// The front handle of the `CKO_KMSBRIDGE_AUDIT` object (0: none yet).
    pub(crate) object_handle: parking_lot::Mutex<cryptoki_sys::CK_OBJECT_HANDLE>,
    /// The access point logged in: records that name none get it.
    access_point: arc_swap::ArcSwapOption<Token>,
    /// Key use counted per thread before it reaches the aggregator.
    hot: hot::Hot,
    /// Moves with every change of `access_point`: the per-thread counters compare it.
    ap_gen: AtomicU64,
}

struct Open {
    writer: Arc<Writer>,
    uses: Aggregator,
}

impl Trail {
    pub(crate) fn new(cfg: &InstanceConfig, serial: &str, backend: Arc<dyn Backend>) -> Trail {
        let a = &cfg.audit;
        let dir = a.dir.clone().unwrap_or_else(|| default_dir(cfg, serial));
        let instance = token(&cfg.name);
        if a.enabled && instance.is_none() {
            tracing::error!(instance = %cfg.name, "audit: no usable instance name; auditing is off");
        }
        let wc = instance.filter(|_| a.enabled).map(|instance| {
            let mut wc = Config::new(dir, instance);
            wc.checkpoint_every = a.checkpoint_every;
            wc.checkpoint_interval = Duration::from_secs(a.checkpoint_interval_s);
            wc.max_segment_bytes = a.max_segment_bytes;
            wc.durability = match a.durability {
                AuditDurability::Fsync => Durability::Fsync,
                AuditDurability::Buffered => Durability::Buffered,
            };
            wc
        });
        Trail {
            cfg: wc,
            key: Arc::new(ServiceKey::new(backend.clone())),
            backend,
            open: RwLock::new(None),
            reopen_at_ms: AtomicU64::new(0),
            flushed_s: AtomicU64::new(0),
            health: Health::default(),
            names: names::Names::default(),
            object_handle: parking_lot::Mutex::new(0),
            access_point: arc_swap::ArcSwapOption::const_empty(),
            hot: hot::Hot::default(),
            ap_gen: AtomicU64::new(0),
        }
    }

    /// One use of backend object `obj` for `action` by the access point logged in:
    /// counted in this thread (no I/O, no backend call, no shared lock), written per
    /// second by [`Trail::flush_if_due`].
    pub(crate) fn key_used(&self, obj: ObjectId, action: &'static str) {
        if self.cfg.is_none() {
            return;
        }
        let second = hot::coarse_unix_secs();
        let ap_gen = self.ap_gen.load(Ordering::Acquire);
        let ap = || self.access_point.load_full();
        if let Some(d) = self.hot.count(second, obj, action, ap_gen, ap) {
            match self.current() {
                Some(open) => self.aggregate(&open, vec![d]),
                None => self.health.lost(d.2),
            }
        }
    }

    /// Write the key-use counts of seconds that are over, at most once a second. Called
    /// before an operation takes its backend session: writing (and signing a
    /// checkpoint) may need one.
    pub(crate) fn flush_if_due(&self) {
        if self.cfg.is_none() {
            return;
        }
        if self.flushed_s.load(Ordering::Relaxed) < hot::coarse_unix_secs() {
            if let Some(open) = self.get() {
                self.flush_due(&open);
            }
        }
    }

    /// Counts moved out of the per-thread counters into the aggregator.
    fn aggregate(&self, open: &Open, drained: Vec<hot::Drained>) {
        for (k, ap, n) in drained {
            let name = self.names.of(&*self.backend, k.obj);
            if let (Some(object), Some(action)) = (text(&name), token(k.action)) {
                open.uses
                    .record_uses(k.second, ap.as_deref(), &object, &action, n);
            }
        }
    }

    /// Who is logged in now (`None` after a logout): the access point of the records
    /// whose call names none.
    pub(crate) fn set_access_point(&self, name: Option<&str>) {
        self.access_point.store(name.and_then(token).map(Arc::new));
        self.ap_gen.fetch_add(1, Ordering::AcqRel);
    }

    /// The record's entry, the logged-in access point filled in when `ap` is `None`.
    fn entry(
        &self,
        ap: Option<&str>,
        event: Event,
        result: Outcome,
        action: Option<&str>,
        object: Option<&str>,
        reason: &str,
    ) -> Entry {
        let mut e = entry(ap, event, result, action, object, reason);
        if e.access_point.is_none() {
            e.access_point = self.access_point.load().as_deref().cloned();
        }
        e
    }

    /// The trail's directory and instance name, when auditing is on.
    pub(crate) fn location(&self) -> Option<(&std::path::Path, &str)> {
        self.cfg
            .as_ref()
            .map(|c| (c.dir.as_path(), c.instance.as_str()))
    }

    pub(crate) fn login(&self, ap: Option<&str>, ok: bool, reason: &str) {
        let (event, result) = if ok {
            (Event::Login, Outcome::Ok)
        } else {
            (Event::LoginFailed, Outcome::Failed)
        };
        self.write(self.entry(ap, event, result, None, None, reason));
    }

    pub(crate) fn denied(&self, ap: Option<&str>, action: &str, object: &str, reason: &str) {
        self.write(self.entry(
            ap,
            Event::Denied,
            Outcome::Denied,
            Some(action),
            Some(object),
            reason,
        ));
    }

    pub(crate) fn lifecycle(&self, ap: Option<&str>, action: &str, object: &str, ok: bool) {
        self.write(self.entry(
            ap,
            Event::Lifecycle,
            outcome(ok),
            Some(action),
            Some(object),
            "",
        ));
    }

    pub(crate) fn import(&self, ap: Option<&str>, object: &str, ok: bool) {
        self.write(self.entry(
            ap,
            Event::Import,
            outcome(ok),
            Some("import"),
            Some(object),
            "",
        ));
    }

    /// A secret's value was read (or refused): `object` is `secret/<name>`, `detail`
    /// the version id or stage read, never the value.
    pub(crate) fn secret_read(&self, ap: Option<&str>, object: &str, ok: bool, detail: &str) {
        self.write(self.entry(
            ap,
            Event::SecretRead,
            outcome(ok),
            Some("secret-read"),
            Some(object),
            detail,
        ));
    }

    pub(crate) fn admin(
        &self,
        ap: Option<&str>,
        action: &str,
        object: &str,
        ok: bool,
        reason: &str,
    ) {
        self.write(self.entry(
            ap,
            Event::Admin,
            outcome(ok),
            Some(action),
            Some(object),
            reason,
        ));
    }

    /// Writes every key-use count (logout, C_CloseAllSessions, the last session closed,
    /// C_Finalize).
    pub(crate) fn flush(&self) {
        let drained = self.hot.drain(u64::MAX);
        let open = if drained.is_empty() {
            self.current()
        } else {
            self.get()
        };
        let Some(open) = open else {
            self.health.lost(drained.iter().map(|d| d.2).sum());
            return;
        };
        self.aggregate(&open, drained);
        match open.uses.flush_all() {
            Ok(_) => self.health.ok(&open.writer),
            Err(e) => self.failed(&e, 0),
        }
    }

    /// [`Trail::flush`], then a signed checkpoint when the audit key can sign (logout,
    /// C_Finalize): what this process did is signed before it leaves.
    pub(crate) fn finish(&self) {
        self.flush();
        let Some(open) = self.current() else {
            return;
        };
        if let Err(e) = open.writer.checkpoint() {
            self.failed(&e, 0);
        }
    }

    /// Drop the names of objects `live` says are gone, keeping those a key-use count
    /// not yet written still needs.
    pub(crate) fn keep_names(&self, live: &dyn Fn(ObjectId) -> bool) {
        let pending = self.hot.pending();
        self.names.retain(|id| live(id) || pending.contains(&id));
    }

    /// The name a record gives backend object `id` (its KMS key id).
    pub(crate) fn name_of(&self, id: ObjectId) -> Arc<str> {
        self.names.of(&*self.backend, id)
    }

    /// The open trail, if auditing is on (opening it on first need).
    fn get(&self) -> Option<Arc<Open>> {
        if let Some(o) = self.open.read().as_ref() {
            return Some(o.clone());
        }
        let cfg = self.cfg.as_ref()?;
        let now = unix_ms();
        if now < self.reopen_at_ms.load(Ordering::Relaxed) {
            return None;
        }
        let mut slot = self.open.write();
        if let Some(o) = slot.as_ref() {
            return Some(o.clone());
        }
        let sink = head::Store::new(self.backend.clone(), cfg.dir.clone());
        match Writer::open(
            cfg.clone(),
            Box::new(service_key::KeyRef(self.key.clone())),
            Some(Box::new(sink)),
        ) {
            Ok(w) => {
                let writer = Arc::new(w);
                let shards = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
                let open = Arc::new(Open {
                    uses: Aggregator::new(writer.clone(), shards),
                    writer,
                });
                *slot = Some(open.clone());
                Some(open)
            }
            Err(e) => {
                self.reopen_at_ms
                    .store(now + REOPEN_AFTER_MS, Ordering::Relaxed);
                drop(slot);
                self.failed(&e, 0);
                None
            }
        }
    }

    /// The trail if it is open already (flush has nothing to do otherwise).
    fn current(&self) -> Option<Arc<Open>> {
        self.open.read().clone()
    }

    fn write(&self, e: Entry) {
        let Some(open) = self.get() else {
            self.health.lost(1);
            return;
        };
        match open.writer.append(std::slice::from_ref(&e)) {
            Ok(done) => {
                if let Some(why) = done.deferred {
                    self.key.deferred(&why);
                }
                self.health.ok(&open.writer);
            }
            Err(err) => self.failed(&err, 1),
        }
        self.flush_due(&open);
    }

    /// Writes the key-use counts of seconds that are over, at most once a second.
    fn flush_due(&self, open: &Open) {
        let now = SystemTime::now();
        let s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.flushed_s.load(Ordering::Relaxed) >= s
            || self.flushed_s.swap(s, Ordering::Relaxed) >= s
        {
            return;
        }
        self.aggregate(open, self.hot.drain(s));
        match open.uses.flush_due(now) {
            Ok(_) => {}
            // The counts stay in the aggregator for the next flush: nothing lost yet.
            Err(e) => self.failed(&e, 0),
        }
    }

    /// An append failed: `lost` records were not written (0 when the records are kept
    /// for a later try, or were written and only the head could not be saved).
    fn failed(&self, e: &Error, lost: u64) {
        match e {
            Error::Checkpoint(why) => self.health.head_not_saved(why),
            _ => {
                self.health.lost(lost);
                self.health.error(e);
            }
        }
    }

    /// C_InitToken replaced the instance's token, and with it the audit key and head:
    /// the old trail can no longer be verified against the instance. It is moved aside
    /// (`<dir>.before-init-<unix seconds>`) and a new trail starts.
    pub(crate) fn token_replaced(&self) {
        let Some(cfg) = &self.cfg else {
            return;
        };
        self.key.forget();
        let mut slot = self.open.write();
        *slot = None;
        self.names.clear();
        if cfg.dir.exists() {
            let secs = unix_ms() / 1000;
            let mut aside = cfg.dir.clone().into_os_string();
            aside.push(format!(".before-init-{secs}"));
            if let Err(e) = std::fs::rename(&cfg.dir, PathBuf::from(&aside)) {
                tracing::error!(dir = %cfg.dir.display(), "audit: cannot move the old trail aside: {e}");
            }
        }
    }
}

/// Software: `<store>/audit`; hardware: `$XDG_STATE_HOME/kmsbridge/audit/<serial>`,
/// else `~/.local/state/kmsbridge/audit/<serial>`.
fn default_dir(cfg: &InstanceConfig, serial: &str) -> PathBuf {
    if cfg.kind == InstanceType::Software {
        if let Some(store) = &cfg.store {
            return store.join("audit");
        }
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"));
    state.join("kmsbridge/audit").join(sanitize(serial))
}

fn outcome(ok: bool) -> Outcome {
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

fn entry(
    ap: Option<&str>,
    event: Event,
    result: Outcome,
    action: Option<&str>,
    object: Option<&str>,
    reason: &str,
) -> Entry {
    Entry {
        access_point: ap.and_then(token),
        action: action.and_then(token),
        object: object.and_then(text),
        reason: Some(reason).filter(|r| !r.is_empty()).and_then(text),
        ..Entry::new(event, result)
    }
}

/// A name as the trail takes it: characters it refuses become `_`, at most 128.
fn sanitize(s: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || "._-:@/".contains(c);
    let mut out: String = s
        .chars()
        .take(Token::MAX)
        .map(|c| if ok(c) { c } else { '_' })
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A name for the trail; `None` only if even its sanitized form is refused.
fn token(s: &str) -> Option<Token> {
    Token::new(s).or_else(|_| Token::new(sanitize(s))).ok()
}

/// Text for the trail: control characters dropped, at most 1024 characters.
fn text(s: &str) -> Option<Text> {
    Text::new(s).ok().or_else(|| {
        let clean: String = s
            .chars()
            .filter(|c| !c.is_control())
            .take(Text::MAX)
            .collect();
        Text::new(clean).ok()
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_text_are_made_acceptable() {
        let t = |s: &str| token(s).map(|t| t.as_str().to_string());
        assert_eq!(t("app 1").as_deref(), Some("app_1"));
        assert_eq!(t("").as_deref(), Some("_"));
        assert_eq!(t(&"x".repeat(300)).map(|t| t.len()), Some(128));
        assert_eq!(
            text("a\nb").map(|t| t.as_str().to_string()).as_deref(),
            Some("ab")
        );
    }
}
