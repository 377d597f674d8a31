//! The name a record gives an object: its KMS key id, the hex of CKA_ID without an
//! older version's `#vN`. Learned when the object gets its front handle (discovery
//! reads CKA_ID anyway), else read through the backend once; kept while the object has
//! a front handle or a key-use count waits for it, since a name is needed on the hot
//! path, where reading it again would take a backend session while the operation holds
//! one (with the pool exhausted, a stall). Names of objects gone are dropped in sweeps
//! (`Instance::discover`), so a process that makes and destroys objects does not grow.

use crate::kms::ids::split_version;
use cryptoki_sys::CKA_ID;
use kmsbridge_bridge::{AttrReq, Backend, ObjectId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// Entries kept before the cache starts again: far above what an instance holds
/// (issue 14 aims at 100,000 keys; about 100 bytes each).
const MAX: usize = 1 << 20;

#[derive(Default)]
pub(crate) struct Names {
    map: RwLock<HashMap<ObjectId, Arc<str>>>,
}

impl Names {
    pub(crate) fn of(&self, backend: &dyn Backend, id: ObjectId) -> Arc<str> {
        if let Some(n) = self.map.read().get(&id) {
            return n.clone();
        }
        let name: Arc<str> = read(backend, id).into();
        let mut map = self.map.write();
        if map.len() >= MAX {
            map.clear();
        }
        map.insert(id, name.clone());
        name
    }

    /// The name of `id` from its CKA_ID as just read (None: no CKA_ID).
    pub(crate) fn learn(&self, id: ObjectId, cka_id: Option<&[u8]>) {
        let name: Arc<str> = match cka_id {
            Some(v) if !v.is_empty() => hex::encode(split_version(v).0).into(),
            _ => "(no id)".into(),
        };
        let mut map = self.map.write();
        if map.len() >= MAX {
            map.clear();
        }
        map.insert(id, name);
    }

    pub(crate) fn clear(&self) {
        self.map.write().clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Keep only the names `keep` says are still needed.
    pub(crate) fn retain(&self, keep: impl Fn(ObjectId) -> bool) {
        self.map.write().retain(|id, _| keep(*id));
    }
}

fn read(backend: &dyn Backend, id: ObjectId) -> String {
    let mut req = [AttrReq::new(CKA_ID, Some(256))];
    match backend.get_attributes(id, &mut req) {
        Ok(_) => match req.first().and_then(|r| r.value()) {
            Some(v) if !v.is_empty() => hex::encode(split_version(v).0),
            _ => "(no id)".into(),
        },
        Err(_) => "(unreadable)".into(),
    }
}
