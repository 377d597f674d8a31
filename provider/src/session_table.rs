//! The table of open front sessions, sharded by handle so that threads working on
//! different sessions never write the same lock word.

use crate::handles::HandleMap;
use crate::session::{SessionRef, SessionSlot};
use crossbeam_utils::CachePadded;
use cryptoki_sys::CK_SESSION_HANDLE;
use parking_lot::RwLock;

const SHARDS: usize = 16;

type Shard = CachePadded<RwLock<HandleMap<CK_SESSION_HANDLE, SessionRef>>>;

/// Each shard on its own cache line: no false sharing between threads.
#[derive(Default)]
pub(crate) struct SessionTable {
    shards: [Shard; SHARDS],
}

impl SessionTable {
    #[allow(clippy::indexing_slicing)] // taken modulo the array's length: in range
    fn shard(&self, h: CK_SESSION_HANDLE) -> &Shard {
        &self.shards[h as usize % SHARDS]
    }

    pub(crate) fn get(&self, h: CK_SESSION_HANDLE) -> Option<SessionRef> {
        self.shard(h).read().get(&h).cloned()
    }

    /// Look at a session without taking a reference to it.
    pub(crate) fn read<T>(
        &self,
        h: CK_SESSION_HANDLE,
        f: impl FnOnce(&SessionSlot) -> T,
    ) -> Option<T> {
        self.shard(h).read().get(&h).map(|s| f(s))
    }

    pub(crate) fn insert(&self, h: CK_SESSION_HANDLE, s: SessionRef) {
        self.shard(h).write().insert(h, s);
    }

    pub(crate) fn remove(&self, h: CK_SESSION_HANDLE) -> Option<SessionRef> {
        self.shard(h).write().remove(&h)
    }

    /// Handles of the sessions `keep` selects.
    pub(crate) fn handles(&self, keep: impl Fn(&SessionSlot) -> bool) -> Vec<CK_SESSION_HANDLE> {
        self.shards
            .iter()
            .flat_map(|sh| {
                sh.read()
                    .iter()
                    .filter(|(_, s)| keep(s))
                    .map(|(h, _)| *h)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
