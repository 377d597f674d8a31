//! The name a record gives an object: its KMS key id, the hex of CKA_ID without an
//! older version's `#vN`. Read through the backend once per object and cached; kept
//! apart so that a richer name (with the alias) can replace it.

use crate::kms::ids::split_version;
use cryptoki_sys::CKA_ID;
use kmsbridge_bridge::{AttrReq, Backend, ObjectId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// Entries kept before the cache starts again (objects come and go).
const MAX: usize = 16_384;

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

    pub(crate) fn clear(&self) {
        self.map.write().clear();
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
