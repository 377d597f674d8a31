//! Front object handles: the provider's own, stable for the life of the process,
//! mapped to the backend's object ids. Backend handles never reach the application.

use crate::handles::HandleMap;
use cryptoki_sys::{CK_OBJECT_CLASS, CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use kmsbridge_bridge::ObjectId;
use parking_lot::RwLock;

#[derive(Clone, Copy, Debug)]
pub struct ObjEntry {
    pub id: ObjectId,
    pub token: bool,
    pub private: bool,
    pub class: CK_OBJECT_CLASS,
    /// The front session that owns a session object.
    pub owner: Option<CK_SESSION_HANDLE>,
    /// The module's own metadata objects: never shown to applications.
    pub hidden: bool,
}

#[derive(Default)]
pub struct ObjectTable {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    next: CK_OBJECT_HANDLE,
    by_handle: HandleMap<CK_OBJECT_HANDLE, ObjEntry>,
    by_id: HandleMap<ObjectId, CK_OBJECT_HANDLE>,
}

impl ObjectTable {
    pub fn get(&self, h: CK_OBJECT_HANDLE) -> Option<ObjEntry> {
        self.inner.read().by_handle.get(&h).copied()
    }

    pub fn handle_of(&self, id: ObjectId) -> Option<CK_OBJECT_HANDLE> {
        self.inner.read().by_id.get(&id).copied()
    }

    /// The front handle of `entry.id`, allocating one on first sight.
    pub fn insert(&self, entry: ObjEntry) -> CK_OBJECT_HANDLE {
        let mut t = self.inner.write();
        if let Some(h) = t.by_id.get(&entry.id).copied() {
            return h;
        }
        t.next += 1;
        let h = t.next;
        t.by_handle.insert(h, entry);
        t.by_id.insert(entry.id, h);
        h
    }

    pub fn remove(&self, h: CK_OBJECT_HANDLE) -> Option<ObjEntry> {
        let mut t = self.inner.write();
        let e = t.by_handle.remove(&h)?;
        t.by_id.remove(&e.id);
        Some(e)
    }

    /// Session objects owned by `session`.
    pub fn owned_by(&self, session: CK_SESSION_HANDLE) -> Vec<CK_OBJECT_HANDLE> {
        let t = self.inner.read();
        t.by_handle
            .iter()
            .filter(|(_, e)| e.owner == Some(session))
            .map(|(h, _)| *h)
            .collect()
    }
}

impl ObjectTable {
    pub fn set_owner(&self, h: CK_OBJECT_HANDLE, owner: CK_SESSION_HANDLE) {
        if let Some(e) = self.inner.write().by_handle.get_mut(&h) {
            e.owner = Some(owner);
        }
    }
}

impl ObjectTable {
    /// Forget every private object (their handles become invalid) and return them.
    pub fn take_private(&self) -> Vec<ObjEntry> {
        let mut t = self.inner.write();
        let handles: Vec<CK_OBJECT_HANDLE> = t
            .by_handle
            .iter()
            .filter(|(_, e)| e.private && !e.hidden)
            .map(|(h, _)| *h)
            .collect();
        handles
            .into_iter()
            .filter_map(|h| {
                let e = t.by_handle.remove(&h)?;
                t.by_id.remove(&e.id);
                Some(e)
            })
            .collect()
    }
}

impl ObjectTable {
    /// Forget every object (the token was re-initialised).
    pub fn clear(&self) {
        let mut t = self.inner.write();
        t.by_handle.clear();
        t.by_id.clear();
    }
}
