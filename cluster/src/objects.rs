//! The cluster's own object ids. Each names one object across the nodes: its handle
//! on each node (resolved lazily by identity for token objects), or, for a session
//! object, its one home node.

use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, AttrReq, ObjectId};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A handle slot not resolved on its node yet.
pub const UNKNOWN: u64 = 0;
/// The object is known to be missing on the node (until it is resynced).
pub const ABSENT: u64 = u64::MAX;

/// What names a token object on every node: the attributes kmsbridge keeps unique
/// (every key has a CKA_ID; data objects are named by application and label).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub class: CK_ULONG,
    pub id: Option<Vec<u8>>,
    pub label: Option<Vec<u8>>,
    pub key_type: Option<CK_ULONG>,
    pub application: Option<Vec<u8>>,
    /// A data object's CKA_OBJECT_ID: the module tags objects it replaces at every
    /// change (the records' generation) with a fresh one, so that an object and its
    /// replacement are told apart (a kept id stops answering when its object goes).
    pub object_id: Option<Vec<u8>>,
}

/// Attributes read to learn an object's identity and whether it is a token object.
pub const IDENTITY_ATTRS: [CK_ATTRIBUTE_TYPE; 7] = [
    CKA_TOKEN,
    CKA_CLASS,
    CKA_ID,
    CKA_LABEL,
    CKA_KEY_TYPE,
    CKA_APPLICATION,
    CKA_OBJECT_ID,
];

impl Identity {
    /// From answered `IDENTITY_ATTRS` requests: (is a token object, identity).
    pub fn from_reqs(reqs: &[AttrReq]) -> Option<(bool, Identity)> {
        let val = |i: usize| reqs.get(i).and_then(|r| r.value()).map(|v| v.to_vec());
        let ulong = |i: usize| {
            val(i)
                .and_then(|v| v.as_slice().try_into().ok())
                .map(CK_ULONG::from_ne_bytes)
        };
        let token = val(0).is_some_and(|v| v.first().is_some_and(|b| *b != 0));
        let class = ulong(1)?;
        Some((
            token,
            Identity {
                class,
                id: val(2),
                label: val(3),
                key_type: ulong(4),
                application: val(5),
                object_id: val(6),
            },
        ))
    }

    /// The find template that names this object on a node.
    pub fn template(&self) -> Vec<Attr> {
        let mut t = vec![
            Attr::bool(CKA_TOKEN, true),
            Attr::ulong(CKA_CLASS, self.class),
        ];
        if let Some(v) = &self.id {
            t.push(Attr::new(CKA_ID, v.clone()));
        }
        if let Some(v) = &self.label {
            t.push(Attr::new(CKA_LABEL, v.clone()));
        }
        if let Some(v) = self.key_type {
            t.push(Attr::ulong(CKA_KEY_TYPE, v));
        }
        if let Some(v) = &self.application {
            t.push(Attr::new(CKA_APPLICATION, v.clone()));
        }
        if let Some(v) = &self.object_id {
            t.push(Attr::new(CKA_OBJECT_ID, v.clone()));
        }
        t
    }
}

/// How the application sees a key the cluster made extractable only for the
/// trusted domain key (to replicate it): as it asked, not as the backend stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Backend CKA_EXTRACTABLE and CKA_WRAP_WITH_TRUSTED are TRUE on the cluster's
    /// behalf: the application sees CKA_EXTRACTABLE FALSE and may not wrap it.
    pub trusted_wrap: bool,
    pub local: bool,
    pub always_sensitive: bool,
}

impl View {
    pub const PLAIN: View = View {
        trusted_wrap: false,
        local: false,
        always_sensitive: false,
    };
}

pub struct Entry {
    pub token: bool,
    /// Read once, changed only when the application renames the object.
    identity: Mutex<Option<Identity>>,
    /// Per node: a backend handle, UNKNOWN or ABSENT.
    pub handles: Box<[AtomicU64]>,
    /// A session object's node and that node's epoch when it was made.
    pub home: Option<(usize, u64)>,
    pub view: OnceLock<View>,
}

impl Entry {
    pub fn identity(&self) -> Option<Identity> {
        self.identity.lock().clone()
    }
    pub fn handle(&self, node: usize) -> u64 {
        self.handles
            .get(node)
            .map_or(ABSENT, |h| h.load(Ordering::Acquire))
    }
    pub fn set_handle(&self, node: usize, h: u64) {
        if let Some(slot) = self.handles.get(node) {
            slot.store(h, Ordering::Release);
        }
    }
}

const SHARDS: usize = 16;

type Shard = RwLock<HashMap<ObjectId, Arc<Entry>>>;

pub struct Table {
    nodes: usize,
    next: AtomicU64,
    shards: Box<[Shard; SHARDS]>,
    /// (node, backend handle) → cluster id, to map what a node's find returns.
    reverse: Box<[Mutex<HashMap<u64, ObjectId>>]>,
    by_identity: Mutex<HashMap<Identity, ObjectId>>,
}

impl Table {
    pub fn new(nodes: usize) -> Table {
        Table {
            nodes,
            next: AtomicU64::new(1),
            shards: Box::new(std::array::from_fn(|_| RwLock::new(HashMap::new()))),
            reverse: (0..nodes).map(|_| Mutex::new(HashMap::new())).collect(),
            by_identity: Mutex::new(HashMap::new()),
        }
    }

    fn shard(&self, id: ObjectId) -> &Shard {
        #[allow(clippy::indexing_slicing)] // `% SHARDS` into an array of SHARDS
        &self.shards[(id as usize) % SHARDS]
    }

    pub fn get(&self, id: ObjectId) -> Option<Arc<Entry>> {
        self.shard(id).read().get(&id).cloned()
    }

    /// A new entry with the handles given per node (UNKNOWN elsewhere).
    pub fn insert(
        &self,
        token: bool,
        handles: &[(usize, u64)],
        home: Option<(usize, u64)>,
        identity: Option<Identity>,
        view: Option<View>,
    ) -> ObjectId {
        let fill = if token { UNKNOWN } else { ABSENT };
        let e = Entry {
            token,
            identity: Mutex::new(None),
            handles: (0..self.nodes).map(|_| AtomicU64::new(fill)).collect(),
            home,
            view: OnceLock::new(),
        };
        for (n, h) in handles {
            e.set_handle(*n, *h);
        }
        if let Some(v) = view {
            let _ = e.view.set(v);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Some(ident) = identity {
            self.by_identity.lock().insert(ident.clone(), id);
            *e.identity.lock() = Some(ident);
        }
        for (n, h) in handles {
            if let Some(rev) = self.reverse.get(*n) {
                rev.lock().insert(*h, id);
            }
        }
        self.shard(id).write().insert(id, Arc::new(e));
        id
    }

    pub fn remove(&self, id: ObjectId) -> Option<Arc<Entry>> {
        let e = self.shard(id).write().remove(&id)?;
        for (n, rev) in self.reverse.iter().enumerate() {
            let h = e.handle(n);
            if h != UNKNOWN && h != ABSENT {
                rev.lock().remove(&h);
            }
        }
        if let Some(ident) = e.identity() {
            let mut m = self.by_identity.lock();
            if m.get(&ident) == Some(&id) {
                m.remove(&ident);
            }
        }
        Some(e)
    }

    pub fn by_handle(&self, node: usize, h: u64) -> Option<ObjectId> {
        self.reverse.get(node)?.lock().get(&h).copied()
    }

    pub fn by_identity(&self, ident: &Identity) -> Option<ObjectId> {
        self.by_identity.lock().get(ident).copied()
    }

    /// Record a handle resolved on `node` for `id`.
    pub fn learn(&self, id: ObjectId, node: usize, h: u64) {
        if let Some(e) = self.get(id) {
            let old = e.handle(node);
            e.set_handle(node, h);
            if let Some(rev) = self.reverse.get(node) {
                let mut rev = rev.lock();
                // The old handle no longer names this entry: a find that returns it
                // must not map it here (the entry may go while that object stays).
                if old != h && old != UNKNOWN && old != ABSENT && rev.get(&old) == Some(&id) {
                    rev.remove(&old);
                }
                if h != UNKNOWN && h != ABSENT {
                    rev.insert(h, id);
                }
            }
        }
    }

    pub fn set_identity(&self, id: ObjectId, ident: Identity) {
        if let Some(e) = self.get(id) {
            let mut cur = e.identity.lock();
            if cur.is_none() {
                *cur = Some(ident.clone());
                self.by_identity.lock().entry(ident).or_insert(id);
            }
        }
    }

    /// The application changed attributes that name the object.
    pub fn rename(&self, id: ObjectId, ident: Identity) {
        if let Some(e) = self.get(id) {
            let old = e.identity.lock().replace(ident.clone());
            let mut m = self.by_identity.lock();
            if let Some(old) = old {
                if m.get(&old) == Some(&id) {
                    m.remove(&old);
                }
            }
            m.insert(ident, id);
        }
    }

    /// Forget every handle on `node` (it came back: its handles may be renumbered).
    pub fn forget_node(&self, node: usize) {
        for shard in self.shards.iter() {
            for e in shard.read().values() {
                if e.token {
                    e.set_handle(node, UNKNOWN);
                }
            }
        }
        if let Some(rev) = self.reverse.get(node) {
            rev.lock().clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_remove() {
        let t = Table::new(3);
        let ident = Identity {
            class: CKO_SECRET_KEY,
            id: Some(b"k".to_vec()),
            label: None,
            key_type: Some(CKK_AES),
            application: None,
            object_id: None,
        };
        let id = t.insert(true, &[(0, 7), (2, 9)], None, Some(ident.clone()), None);
        let e = t.get(id).expect("entry");
        assert_eq!((e.handle(0), e.handle(1), e.handle(2)), (7, UNKNOWN, 9));
        assert_eq!(t.by_handle(2, 9), Some(id));
        assert_eq!(t.by_identity(&ident), Some(id));
        t.learn(id, 1, 4);
        assert_eq!(t.by_handle(1, 4), Some(id));
        t.forget_node(1);
        assert_eq!(t.get(id).map(|e| e.handle(1)), Some(UNKNOWN));
        assert!(t.remove(id).is_some());
        assert_eq!(t.by_handle(0, 7), None);
        assert_eq!(t.by_identity(&ident), None);
        let s = t.insert(false, &[(1, 3)], Some((1, 0)), None, None);
        assert_eq!(t.get(s).map(|e| e.handle(0)), Some(ABSENT));
    }

    #[test]
    fn a_handle_learned_anew_no_longer_maps_to_the_entry_by_its_old_one() {
        let t = Table::new(2);
        let id = t.insert(true, &[(0, 7)], None, None, None);
        t.learn(id, 0, 8);
        assert_eq!(t.by_handle(0, 8), Some(id));
        assert_eq!(
            t.by_handle(0, 7),
            None,
            "the old handle still maps to the entry"
        );
        assert!(t.remove(id).is_some());
        assert_eq!(t.by_handle(0, 8), None);
    }
}
