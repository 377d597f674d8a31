//! The instance's access points as this process last read them: those stored in the
//! instance (hidden data objects, one per access point, public so they can be read
//! before a login) and those of the configuration file. A change writes a fresh
//! generation value beside them; each process re-reads it at most every 0.5 s and
//! reloads when it moved, so a revocation reaches every process within 1 s.

use super::record::ApRecord;
use crate::error::{Error, Result};
use crate::hidden_objects;
use crate::kms::ids::hash_id;
use crate::refresh::{fresh_generation, fresh_tag, read_generation, tag_attr, Refresher};
use crate::vendor::ACCESS_APPLICATION;
use cryptoki_sys::*;
use kmsbridge_access::credential::CredentialId;
use kmsbridge_access::Policy;
use kmsbridge_bridge::{Attr, Backend, ObjectId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const GENERATION_LABEL: &str = "aap.generation";

/// One access point in force.
pub(crate) struct ApEntry {
    pub(crate) rec: ApRecord,
    pub(crate) policy: Policy,
    /// Defined in the configuration file: read-only through PKCS#11.
    pub(crate) configured: bool,
}

#[derive(Default)]
struct Snapshot {
    generation: Vec<u8>,
    loaded: bool,
    by_name: HashMap<String, Arc<ApEntry>>,
}

pub(crate) struct Points {
    configured: Vec<Arc<ApEntry>>,
    snap: RwLock<Snapshot>,
    refresh: Refresher,
    /// Bumped at every reload: decisions cached under an older value are stale.
    epoch: AtomicU64,
}

/// A stored or configured record made ready: its policy parsed.
pub(crate) fn entry(rec: ApRecord, configured: bool) -> std::result::Result<ApEntry, String> {
    let policy = if rec.policy.trim().is_empty() {
        Policy::default()
    } else {
        Policy::from_toml(&rec.policy).map_err(|e| e.to_string())?
    };
    Ok(ApEntry {
        rec,
        policy,
        configured,
    })
}

impl Points {
    pub(crate) fn new(configured: Vec<ApEntry>) -> Points {
        Points {
            configured: configured.into_iter().map(Arc::new).collect(),
            snap: RwLock::default(),
            refresh: Refresher::default(),
            epoch: AtomicU64::new(1),
        }
    }

    /// Changes at every reload: what was decided under another value is stale.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self, backend: &dyn Backend, name: &str) -> Option<Arc<ApEntry>> {
        if let Some(c) = self.configured.iter().find(|c| c.rec.name == name) {
            return Some(c.clone());
        }
        self.maybe_refresh(backend);
        self.snap.read().by_name.get(name).cloned()
    }

    /// The access point holding credential `id`.
    pub(crate) fn by_credential(
        &self,
        backend: &dyn Backend,
        id: CredentialId,
    ) -> Option<Arc<ApEntry>> {
        if let Some(c) = self
            .configured
            .iter()
            .find(|c| c.rec.credential(id).is_some())
        {
            return Some(c.clone());
        }
        self.refresh_now(backend);
        let snap = self.snap.read();
        snap.by_name
            .values()
            .find(|e| e.rec.credential(id).is_some())
            .cloned()
    }

    /// The access point whose name hashes to `kid` (a front object's).
    pub(crate) fn by_hash(&self, backend: &dyn Backend, kid: u64) -> Option<Arc<ApEntry>> {
        self.all(backend)
            .into_iter()
            .find(|e| hash_id(e.rec.name.as_bytes()) == kid)
    }

    /// Every access point, read afresh; configured ones win over stored ones of the
    /// same name.
    pub(crate) fn all(&self, backend: &dyn Backend) -> Vec<Arc<ApEntry>> {
        self.refresh_now(backend);
        let mut out = self.configured.clone();
        let snap = self.snap.read();
        let mut stored: Vec<&Arc<ApEntry>> = snap
            .by_name
            .values()
            .filter(|e| !self.configured.iter().any(|c| c.rec.name == e.rec.name))
            .collect();
        stored.sort_by(|a, b| a.rec.name.cmp(&b.rec.name));
        out.extend(stored.into_iter().cloned());
        out
    }

    /// Re-read the access points if the last look is older than 0.5 s.
    pub(crate) fn tick(&self, backend: &dyn Backend) {
        self.maybe_refresh(backend);
    }

    fn maybe_refresh(&self, backend: &dyn Backend) {
        self.refresh.maybe(|| self.reload(backend));
    }

    pub(crate) fn refresh_now(&self, backend: &dyn Backend) {
        self.refresh.now(|| self.reload(backend));
    }

    fn reload(&self, backend: &dyn Backend) {
        if let Err(e) = self.reload_if_moved(backend) {
            tracing::warn!("cannot read the access points: {e}");
        }
    }

    fn reload_if_moved(&self, backend: &dyn Backend) -> Result<()> {
        let (_, generation) = read_generation(
            backend,
            ACCESS_APPLICATION,
            GENERATION_LABEL,
            &self.refresh.generation,
            false,
        )?;
        {
            let snap = self.snap.read();
            if snap.loaded && snap.generation == generation {
                return Ok(());
            }
        }
        let mut by_name = HashMap::new();
        let mut t = hidden_objects::template(ACCESS_APPLICATION, None);
        t.push(Attr::bool(CKA_PRIVATE, false));
        for obj in backend.find(&t)? {
            let v = hidden_objects::read_value(backend, obj)?;
            let Some(rec) = ApRecord::decode(&v) else {
                continue;
            };
            match entry(rec, false) {
                Ok(e) => {
                    by_name.insert(e.rec.name.clone(), Arc::new(e));
                }
                Err(why) => tracing::warn!("a stored access point is unreadable: {why}"),
            }
        }
        *self.snap.write() = Snapshot {
            generation,
            loaded: true,
            by_name,
        };
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Store a record (public hidden data object) and move the generation.
    pub(crate) fn save(&self, backend: &dyn Backend, rec: &ApRecord) -> Result<ObjectId> {
        let id = write_public(
            backend,
            &rec.name,
            rec.encode().map_err(Error::Config)?,
            &[],
        )?;
        self.bump(backend)?;
        Ok(id)
    }

    pub(crate) fn remove(&self, backend: &dyn Backend, name: &str) -> Result<()> {
        for id in backend.find(&hidden_objects::template(ACCESS_APPLICATION, Some(name)))? {
            backend.destroy_object(id)?;
        }
        self.bump(backend)
    }

    fn bump(&self, backend: &dyn Backend) -> Result<()> {
        let tag = fresh_tag(backend)?;
        let id = write_public(
            backend,
            GENERATION_LABEL,
            fresh_generation(backend)?,
            &[tag_attr(&tag)],
        )?;
        self.refresh.generation.wrote(id, tag);
        self.refresh_now(backend);
        Ok(())
    }
}

/// Write a public hidden data object of the access application: readable before any
/// login (a login looks its credential up here). New first, then the old ones go.
fn write_public(
    backend: &dyn Backend,
    label: &str,
    value: Vec<u8>,
    extra: &[Attr],
) -> Result<ObjectId> {
    let find = hidden_objects::template(ACCESS_APPLICATION, Some(label));
    let old = backend.find(&find)?;
    let mut t = find.clone();
    t.extend([
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, false),
        Attr::bool(CKA_MODIFIABLE, true),
        Attr::new(CKA_VALUE, value),
    ]);
    t.extend_from_slice(extra);
    let id = backend.create_object(&t)?;
    for o in old {
        hidden_objects::destroy_replaced(backend, o, &find)?;
    }
    Ok(id)
}
