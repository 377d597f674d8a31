//! The table of open front sessions, sharded by handle so that threads working on
//! different sessions never write the same lock word.

use crate::handles::HandleMap;
use crate::session::{SessionRef, SessionSlot};
use crossbeam_utils::CachePadded;
use cryptoki_sys::CK_SESSION_HANDLE;
use parking_lot::RwLock;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARDS: usize = 16;

type Shard = CachePadded<RwLock<HandleMap<CK_SESSION_HANDLE, SessionRef>>>;

/// Each shard on its own cache line: no false sharing between threads.
pub struct SessionTable {
    shards: [Shard; SHARDS],
    /// Unique for the life of the process, so thread caches never mistake one
    /// provider's table for another's.
    id: u64,
    /// Bumped by every close: a thread's cached lookup is good while it is unchanged.
    /// Handles are never reused, so opening needs no bump.
    closes: CachePadded<AtomicU64>,
}

impl Default for SessionTable {
    fn default() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        SessionTable {
            shards: Default::default(),
            id: IDS.fetch_add(1, Ordering::Relaxed),
            closes: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

/// This thread's last lookup: (table id, close count, handle, instance, rw).
#[derive(Clone, Copy, Default)]
struct Cached {
    table: u64,
    closes: u64,
    handle: CK_SESSION_HANDLE,
    inst: usize,
    rw: bool,
}

thread_local! {
    static LAST: Cell<Cached> = Cell::new(Cached::default());
}

impl SessionTable {
    fn shard(&self, h: CK_SESSION_HANDLE) -> &Shard {
        &self.shards[h as usize % SHARDS]
    }

    pub fn get(&self, h: CK_SESSION_HANDLE) -> Option<SessionRef> {
        self.shard(h).read().get(&h).cloned()
    }

    /// Look at a session without taking a reference to it.
    pub fn read<T>(&self, h: CK_SESSION_HANDLE, f: impl FnOnce(&SessionSlot) -> T) -> Option<T> {
        self.shard(h).read().get(&h).map(|s| f(s))
    }

    pub fn insert(&self, h: CK_SESSION_HANDLE, s: SessionRef) {
        self.shard(h).write().insert(h, s);
    }

    pub fn remove(&self, h: CK_SESSION_HANDLE) -> Option<SessionRef> {
        let s = self.shard(h).write().remove(&h);
        self.closes.fetch_add(1, Ordering::AcqRel);
        s
    }

    /// The instance index and RW flag of an open session. Repeated calls on one
    /// thread for one session take no lock: the answer is cached until any close.
    pub fn place(&self, h: CK_SESSION_HANDLE) -> Option<(usize, bool)> {
        let closes = self.closes.load(Ordering::Acquire);
        let last = LAST.try_with(Cell::get).unwrap_or_default();
        if last.table == self.id && last.closes == closes && last.handle == h {
            return Some((last.inst, last.rw));
        }
        let (inst, rw) = self.read(h, |s| (s.inst, s.rw))?;
        let _ = LAST.try_with(|c| {
            c.set(Cached {
                table: self.id,
                closes,
                handle: h,
                inst,
                rw,
            })
        });
        Some((inst, rw))
    }

    /// Handles of the sessions `keep` selects.
    pub fn handles(&self, keep: impl Fn(&SessionSlot) -> bool) -> Vec<CK_SESSION_HANDLE> {
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
