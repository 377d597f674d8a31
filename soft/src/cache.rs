//! The software backend's bounded cache of token objects, each with its key prepared
//! on first use: least recently used out past the cap, kept current by the store's
//! change log (`Store::changes_since`) rather than by reloading everything.
//!
//! An evicted object's attributes and prepared key are zeroized when the last holder
//! lets go (an operation that began with the key keeps it until it ends). An evicted
//! object loads again from the store on its next use.

use crate::engine::{self, Prepared, SoftObject};
use hashlink::LruCache;
use kmsbridge_bridge::backend::ObjectId;
use kmsbridge_bridge::error::Result;
use kmsbridge_store::Changes;
use parking_lot::Mutex;
use std::sync::{Arc, OnceLock};

/// Token objects a process keeps by default (`object_cache` in the instance
/// configuration): about 3 KB each with a prepared AES key.
pub const DEFAULT_CACHE_OBJECTS: usize = 10_000;

/// The version of a cache that has not looked at the store yet.
const NEVER: u64 = u64::MAX;

/// An object as this process knows it, with its key prepared on first use.
pub(crate) struct Cached {
    pub(crate) obj: SoftObject,
    prepared: OnceLock<Arc<Prepared>>,
}

impl Cached {
    pub(crate) fn new(obj: SoftObject) -> Arc<Cached> {
        Arc::new(Cached {
            obj,
            prepared: OnceLock::new(),
        })
    }

    pub(crate) fn prepared(&self) -> Result<Arc<Prepared>> {
        if let Some(p) = self.prepared.get() {
            return Ok(p.clone());
        }
        let p = engine::prepare(&self.obj)?;
        Ok(self.prepared.get_or_init(|| p).clone())
    }
}

struct Inner {
    lru: LruCache<ObjectId, Arc<Cached>>,
    /// The store version the entries reflect (every change after it is still to
    /// be applied); [`NEVER`] before the first look.
    version: u64,
}

/// Token objects by id, at most `cap` of them.
pub(crate) struct ObjectCache {
    inner: Mutex<Inner>,
}

impl ObjectCache {
    pub(crate) fn new(cap: usize) -> ObjectCache {
        ObjectCache {
            inner: Mutex::new(Inner {
                lru: LruCache::new(cap.max(1)),
                version: NEVER,
            }),
        }
    }

    /// The object, made most recently used.
    pub(crate) fn get(&self, id: ObjectId) -> Option<Arc<Cached>> {
        self.inner.lock().lru.get(&id).cloned()
    }

    /// The store version the cache reflects, `None` before the first look. A load
    /// that read the store after this may be kept with [`ObjectCache::put_at`].
    pub(crate) fn version(&self) -> Option<u64> {
        let v = self.inner.lock().version;
        (v != NEVER).then_some(v)
    }

    /// Keep an object read from the store after the cache was at `version`, unless
    /// the cache moved on meanwhile (the row read may predate a change it applied).
    pub(crate) fn put_at(&self, version: Option<u64>, id: ObjectId, c: Arc<Cached>) {
        let mut inner = self.inner.lock();
        if version.unwrap_or(NEVER) == inner.version && inner.version != NEVER {
            inner.lru.insert(id, c);
        }
    }

    /// Keep an object this process just wrote (its next change, by anyone, is in the
    /// log and evicts it).
    pub(crate) fn put(&self, id: ObjectId, c: Arc<Cached>) {
        self.inner.lock().lru.insert(id, c);
    }

    pub(crate) fn remove(&self, id: ObjectId) {
        self.inner.lock().lru.remove(&id);
    }

    /// Forget everything (the store starts over, the backend shuts down).
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.lru.clear();
        inner.version = NEVER;
    }

    /// Keep only what `keep` accepts (private objects go at logout).
    pub(crate) fn retain(&self, keep: impl Fn(&Cached) -> bool) {
        self.inner.lock().lru.retain(|_, c| keep(c));
    }

    /// Apply what changed since `since` (the [`ObjectCache::version`] the caller
    /// asked the store about). Skipped if another thread moved the cache meanwhile.
    pub(crate) fn apply(&self, since: Option<u64>, changes: Changes) {
        let mut inner = self.inner.lock();
        if inner.version != since.unwrap_or(NEVER) {
            return;
        }
        match changes {
            Changes::Objects { version, ids } => {
                for id in ids {
                    inner.lru.remove(&id);
                }
                inner.version = version;
            }
            Changes::Reload { version } => {
                inner.lru.clear();
                inner.version = version;
            }
        }
    }

    /// How many objects are kept.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().lru.len()
    }
}
