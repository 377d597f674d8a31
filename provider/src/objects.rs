//! Front object handles: the provider's own, stable for the life of the process,
//! mapped to the backend's object ids. Backend handles never reach the application.

use crate::handles::HandleMap;
use crossbeam_utils::CachePadded;
use cryptoki_sys::{CK_KEY_TYPE, CK_OBJECT_CLASS, CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use kmsbridge_bridge::ObjectId;
use parking_lot::RwLock;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug)]
pub(crate) struct ObjEntry {
    pub(crate) id: ObjectId,
    pub(crate) token: bool,
    pub(crate) private: bool,
    pub(crate) class: CK_OBJECT_CLASS,
    /// CKA_KEY_TYPE of a key as read at discovery (never changes); `None` for other
    /// objects and the module's own.
    pub(crate) key_type: Option<CK_KEY_TYPE>,
    /// CKA_ALWAYS_AUTHENTICATE of a private key: each use needs a context-specific
    /// login (read at discovery, refreshed when the application sets it).
    pub(crate) always_auth: bool,
    /// The front session that owns a session object.
    pub(crate) owner: Option<CK_SESSION_HANDLE>,
    pub(crate) kind: Kind,
    /// Hash of the KMS key id (CKA_ID without a version suffix) of a key; 0 for none.
    pub(crate) kid: u64,
}

/// What an object is to the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An application's object.
    Plain,
    /// The module's own metadata (PIN hashes, import tokens): never shown.
    Meta,
    /// A KMS key record, shown as CKO_KMSBRIDGE_KEY to finds that ask for that class.
    Record,
    /// A service key: never shown, never used by applications.
    Service,
    /// An import wrapping public key: shown, used only as an import's unwrapping key.
    ImportPublic,
    /// An HSM node shown as CKO_KMSBRIDGE_NODE to finds that ask for that class; no
    /// backend object: `id` is the node's index (cluster_objects.rs).
    Node,
    /// An application access point shown to the SO as CKO_KMSBRIDGE_ACCESS_POINT;
    /// no backend object of its own: `kid` is its name's hash (access/objects.rs).
    AccessPoint,
    /// The instance's audit trail as CKO_KMSBRIDGE_AUDIT (audit/object.rs); no
    /// backend object.
    Audit,
    /// A secret (or one version of it) shown to the user as CKO_DATA of
    /// `kmsbridge.secret`; no backend object of its own: `kid` is its name's hash
    /// (secrets/mod.rs).
    Secret,
}

impl ObjEntry {
    /// Never shown to applications, whoever is logged in.
    pub(crate) fn hidden(&self) -> bool {
        matches!(self.kind, Kind::Meta | Kind::Service)
    }
}

pub(crate) struct ObjectTable {
    inner: RwLock<Inner>,
    /// Unique for the life of the process, so thread caches never confuse tables.
    id: u64,
    /// Bumped by every change to an existing entry (removal, new owner, clear): a
    /// thread's cached lookup is good while it is unchanged. Handles are never reused,
    /// so adding an entry needs no bump.
    changes: CachePadded<AtomicU64>,
}

impl Default for ObjectTable {
    fn default() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        ObjectTable {
            inner: RwLock::default(),
            id: IDS.fetch_add(1, Ordering::Relaxed),
            changes: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

/// This thread's last lookup: (table id, change count, handle, entry). Operations
/// look the same key up again and again; the cache keeps them off the shared lock.
type LastLookup = Option<(u64, u64, CK_OBJECT_HANDLE, ObjEntry)>;

thread_local! {
    static LAST: Cell<LastLookup> = const { Cell::new(None) };
}

#[derive(Default)]
struct Inner {
    next: CK_OBJECT_HANDLE,
    by_handle: HandleMap<CK_OBJECT_HANDLE, ObjEntry>,
    by_id: HandleMap<ObjectId, CK_OBJECT_HANDLE>,
    /// (owning session, handle) of every session object: closing a session finds its
    /// objects without visiting every object the process knows.
    owned: BTreeSet<(CK_SESSION_HANDLE, CK_OBJECT_HANDLE)>,
}

impl Inner {
    /// Add an entry under a new handle.
    fn add(&mut self, h: CK_OBJECT_HANDLE, entry: ObjEntry) {
        if let Some(s) = entry.owner {
            self.owned.insert((s, h));
        }
        self.by_handle.insert(h, entry);
    }

    /// Take an entry out of every index.
    fn take(&mut self, h: CK_OBJECT_HANDLE) -> Option<ObjEntry> {
        let e = self.by_handle.remove(&h)?;
        // An unbound entry's id is no backend id: leave the object of that id alone.
        if self.by_id.get(&e.id) == Some(&h) {
            self.by_id.remove(&e.id);
        }
        if let Some(s) = e.owner {
            self.owned.remove(&(s, h));
        }
        Some(e)
    }
}

impl ObjectTable {
    pub(crate) fn get(&self, h: CK_OBJECT_HANDLE) -> Option<ObjEntry> {
        let changes = self.changes.load(Ordering::Acquire);
        if let Ok(Some((table, seen, handle, e))) = LAST.try_with(Cell::get) {
            if table == self.id && seen == changes && handle == h {
                return Some(e);
            }
        }
        let e = self.inner.read().by_handle.get(&h).copied()?;
        let _ = LAST.try_with(|c| c.set(Some((self.id, changes, h, e))));
        Some(e)
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn handle_of(&self, id: ObjectId) -> Option<CK_OBJECT_HANDLE> {
        self.inner.read().by_id.get(&id).copied()
    }

    /// How many backend objects have a front handle.
    pub(crate) fn bound(&self) -> usize {
        self.inner.read().by_id.len()
    }

    /// Whether backend object `id` has a front handle, for many ids under one lock.
    pub(crate) fn with_bound<R>(&self, f: impl FnOnce(&dyn Fn(ObjectId) -> bool) -> R) -> R {
        let t = self.inner.read();
        f(&|id| t.by_id.contains_key(&id))
    }

    /// The front handle of `entry.id`, allocating one on first sight.
    pub(crate) fn insert(&self, entry: ObjEntry) -> CK_OBJECT_HANDLE {
        let mut t = self.inner.write();
        if let Some(h) = t.by_id.get(&entry.id).copied() {
            return h;
        }
        t.next += 1;
        let h = t.next;
        t.add(h, entry);
        t.by_id.insert(entry.id, h);
        h
    }

    /// A front handle for an entry that names no backend object (a node): never
    /// found by a backend id.
    pub(crate) fn insert_unbound(&self, entry: ObjEntry) -> CK_OBJECT_HANDLE {
        let mut t = self.inner.write();
        t.next += 1;
        let h = t.next;
        t.add(h, entry);
        h
    }

    pub(crate) fn remove(&self, h: CK_OBJECT_HANDLE) -> Option<ObjEntry> {
        let e = self.inner.write().take(h)?;
        self.changed();
        Some(e)
    }

    /// Session objects owned by `session`.
    pub(crate) fn owned_by(&self, session: CK_SESSION_HANDLE) -> Vec<CK_OBJECT_HANDLE> {
        let t = self.inner.read();
        t.owned
            .range((session, CK_OBJECT_HANDLE::MIN)..=(session, CK_OBJECT_HANDLE::MAX))
            .map(|(_, h)| *h)
            .collect()
    }
}

impl ObjectTable {
    /// Record a new CKA_ALWAYS_AUTHENTICATE of the object at `h`.
    pub(crate) fn set_always_auth(&self, h: CK_OBJECT_HANDLE, on: bool) {
        if let Some(e) = self.inner.write().by_handle.get_mut(&h) {
            e.always_auth = on;
        }
        self.changed();
    }

    pub(crate) fn set_owner(&self, h: CK_OBJECT_HANDLE, owner: CK_SESSION_HANDLE) {
        let mut t = self.inner.write();
        if let Some(e) = t.by_handle.get_mut(&h) {
            let old = e.owner.replace(owner);
            if let Some(s) = old {
                t.owned.remove(&(s, h));
            }
            t.owned.insert((owner, h));
        }
        drop(t);
        self.changed();
    }
}

impl ObjectTable {
    /// Forget every private object (their handles become invalid) and return them.
    pub(crate) fn take_private(&self) -> Vec<ObjEntry> {
        let mut t = self.inner.write();
        self.changed();
        let handles: Vec<CK_OBJECT_HANDLE> = t
            .by_handle
            .iter()
            .filter(|(_, e)| e.private && !e.hidden())
            .map(|(h, _)| *h)
            .collect();
        handles.into_iter().filter_map(|h| t.take(h)).collect()
    }
}

impl ObjectTable {
    /// A backend object was replaced by another (a record rewritten): its front
    /// handle now names the new one.
    pub(crate) fn rebind(&self, old: ObjectId, new: ObjectId) {
        let mut t = self.inner.write();
        if let Some(h) = t.by_id.remove(&old) {
            if let Some(e) = t.by_handle.get_mut(&h) {
                e.id = new;
            }
            t.by_id.insert(new, h);
        }
        drop(t);
        self.changed();
    }

    /// Forget one backend object if it has a front handle (destroyed elsewhere).
    pub(crate) fn forget(&self, id: ObjectId) {
        let h = self.inner.read().by_id.get(&id).copied();
        if let Some(h) = h {
            self.remove(h);
        }
    }
}

impl ObjectTable {
    /// Forget every object (the token was re-initialised).
    pub(crate) fn clear(&self) {
        let mut t = self.inner.write();
        t.by_handle.clear();
        t.by_id.clear();
        t.owned.clear();
        self.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: ObjectId, private: bool) -> ObjEntry {
        ObjEntry {
            id,
            token: false,
            private,
            class: cryptoki_sys::CKO_SECRET_KEY,
            key_type: None,
            owner: None,
            kind: Kind::Plain,
            kid: 0,
            always_auth: false,
        }
    }

    #[test]
    fn a_sessions_objects_are_found_by_owner_and_nothing_else() {
        let t = ObjectTable::default();
        let hs: Vec<_> = (1..=1000)
            .map(|id| t.insert(entry(id, id % 2 == 0)))
            .collect();
        for (i, h) in hs.iter().enumerate() {
            t.set_owner(*h, 1 + (i as CK_SESSION_HANDLE % 3));
        }
        let mut of2 = t.owned_by(2);
        of2.sort_unstable();
        let want: Vec<_> = hs.iter().copied().skip(1).step_by(3).collect();
        assert_eq!(of2, want);
        // A new owner moves the object; a removed one is no one's.
        t.set_owner(want[0], 1);
        t.remove(want[1]);
        assert!(!t.owned_by(2).contains(&want[0]));
        assert!(!t.owned_by(2).contains(&want[1]));
        assert_eq!(t.owned_by(2).len(), want.len() - 2);
        // Logout takes the private ones out of the owner index too.
        t.take_private();
        assert!(t
            .owned_by(2)
            .iter()
            .all(|h| t.get(*h).is_some_and(|e| !e.private)));
        assert_eq!(t.owned_by(4), Vec::<CK_OBJECT_HANDLE>::new());
        t.clear();
        assert!(t.owned_by(1).is_empty());
    }
}
