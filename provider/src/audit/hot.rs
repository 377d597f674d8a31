//! Key use counted on the hot path: each thread keeps one counter for the (second,
//! key, action, access point) it used last, so an application repeating an operation
//! pays a compare and an uncontended atomic add. A counter moves to the trail's
//! aggregator when its thread uses something else, and every counter at the trail's
//! once-a-second flush and at logout or C_Finalize (the counters are registered with
//! the trail, so no thread's counts are stranded in it).

use kmsbridge_audit::Token;
use kmsbridge_bridge::ObjectId;
use parking_lot::Mutex;
use std::cell::{RefCell, UnsafeCell};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What one counter counts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct HotKey {
    pub(super) second: u64,
    pub(super) obj: ObjectId,
    pub(super) action: &'static str,
    /// The generation of the access point logged in (see `Trail::set_access_point`).
    ap_gen: u64,
}

/// Counts moved out of a counter: what, who, how many.
pub(super) type Drained = (HotKey, Option<Arc<Token>>, u64);

/// One thread's counter. Its key and access point change only in its own thread and
/// only under `switch`; the drain reads them under `switch` too. The count is atomic:
/// the owner adds without the lock, the drain takes it with a swap.
struct Cell {
    switch: Mutex<()>,
    key: UnsafeCell<Option<HotKey>>,
    ap: UnsafeCell<Option<Arc<Token>>>,
    count: AtomicU64,
}

// SAFETY: `key` and `ap` are written only by the owning thread while it holds
// `switch`, and read by other threads only while they hold `switch`; the owner's
// unlocked reads race with no write (it is the only writer). `count` is atomic.
unsafe impl Sync for Cell {}
// SAFETY: every field is Send (Arc<Token> is, Token being plain data).
unsafe impl Send for Cell {}

impl Cell {
    fn new() -> Cell {
        Cell {
            switch: Mutex::new(()),
            key: UnsafeCell::new(None),
            ap: UnsafeCell::new(None),
            count: AtomicU64::new(0),
        }
    }
}

/// The counters of one trail.
pub(super) struct Hot {
    id: u64,
    cells: Mutex<Vec<Arc<Cell>>>,
}

thread_local! {
    /// This thread's counter of each trail it counted for: (trail id, counter).
    static MINE: RefCell<Vec<(u64, Arc<Cell>)>> = const { RefCell::new(Vec::new()) };
}

impl Default for Hot {
    fn default() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Hot {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            cells: Mutex::new(Vec::new()),
        }
    }
}

impl Hot {
    /// Count one use; what the thread's counter held before, when it counted
    /// something else, is handed back for the aggregator. `ap` gives the access
    /// point of generation `ap_gen`, asked for only when the counter changes.
    pub(super) fn count(
        &self,
        second: u64,
        obj: ObjectId,
        action: &'static str,
        ap_gen: u64,
        ap: impl FnOnce() -> Option<Arc<Token>>,
    ) -> Option<Drained> {
        let key = HotKey {
            second,
            obj,
            action,
            ap_gen,
        };
        MINE.try_with(|mine| {
            let mut mine = mine.borrow_mut();
            let at = match mine.iter().position(|(id, _)| *id == self.id) {
                Some(at) => at,
                None => {
                    // This thread's first use for this trail: a counter, registered.
                    let c = Arc::new(Cell::new());
                    self.cells.lock().push(c.clone());
                    mine.push((self.id, c));
                    mine.len() - 1
                }
            };
            let (_, cell) = mine.get(at)?;
            // SAFETY: this thread owns the counter and is its only writer (see Cell).
            if unsafe { *cell.key.get() } == Some(key) {
                cell.count.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            let _g = cell.switch.lock();
            let n = cell.count.swap(1, Ordering::Relaxed);
            // SAFETY: the owner, holding `switch`: no other thread reads or writes now.
            let (old_key, old_ap) = unsafe {
                (
                    (*cell.key.get()).replace(key),
                    std::mem::replace(&mut *cell.ap.get(), ap()),
                )
            };
            old_key.filter(|_| n > 0).map(|k| (k, old_ap, n))
        })
        .ok()
        .flatten()
    }

    /// The objects whose uses are counted and not yet drained.
    pub(super) fn pending(&self) -> HashSet<ObjectId> {
        let cells = self.cells.lock();
        let mut out = HashSet::new();
        for c in cells.iter() {
            let _g = c.switch.lock();
            // SAFETY: `switch` is held: the owner cannot change the key.
            let key = unsafe { *c.key.get() };
            if let Some(k) = key.filter(|_| c.count.load(Ordering::Relaxed) > 0) {
                out.insert(k.obj);
            }
        }
        out
    }

    /// Every count of a second before `before` (all of them with `u64::MAX`). The
    /// counters of threads that have ended go once they are empty.
    pub(super) fn drain(&self, before: u64) -> Vec<Drained> {
        let mut cells = self.cells.lock();
        let mut out = Vec::new();
        for c in cells.iter() {
            let _g = c.switch.lock();
            // SAFETY: `switch` is held: the owner cannot change key or access point.
            let (key, ap) = unsafe { (*c.key.get(), (*c.ap.get()).clone()) };
            if let Some(k) = key.filter(|k| k.second < before) {
                let n = c.count.swap(0, Ordering::Relaxed);
                if n > 0 {
                    out.push((k, ap, n));
                }
            }
        }
        cells.retain(|c| Arc::strong_count(c) > 1 || c.count.load(Ordering::Relaxed) > 0);
        out
    }
}

/// Seconds of the coarse real-time clock (the key-use windows are wall-clock seconds).
pub(super) fn coarse_unix_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_use_is_counted_in_place_and_drained_once() {
        let hot = Hot::default();
        let ap = || Some(Arc::new(Token::new("app").unwrap()));
        assert!(hot.count(10, 1, "encrypt", 1, ap).is_none());
        assert!(hot.count(10, 1, "encrypt", 1, ap).is_none());
        // Another key: the first counter comes back with its count.
        let (k, who, n) = hot.count(10, 2, "encrypt", 1, ap).unwrap();
        assert_eq!((k.obj, k.action, n), (1, "encrypt", 2));
        assert_eq!(who.as_deref().map(Token::as_str), Some("app"));
        // Only what is older than the second asked for is drained.
        assert!(hot.drain(10).is_empty());
        let d = hot.drain(u64::MAX);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].0.obj, d[0].2), (2, 1));
        assert!(hot.drain(u64::MAX).is_empty(), "drained once");
        // After a drain the same key counts again from zero.
        assert!(hot.count(10, 2, "encrypt", 1, ap).is_none());
        assert_eq!(hot.drain(u64::MAX).first().map(|d| d.2), Some(1));
    }

    #[test]
    fn pending_names_the_objects_whose_counts_are_not_drained() {
        let hot = Hot::default();
        let ap = || None;
        assert!(hot.pending().is_empty());
        assert!(hot.count(10, 3, "sign", 0, ap).is_none());
        assert_eq!(hot.pending().into_iter().collect::<Vec<_>>(), vec![3]);
        hot.drain(u64::MAX);
        assert!(hot.pending().is_empty(), "a drained count needs no name");
    }

    #[test]
    fn threads_count_apart_and_all_are_drained_while_they_count() {
        let hot = Arc::new(Hot::default());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let hot = hot.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        assert!(hot.count(5, 7, "sign", 0, || None).is_none());
                    }
                })
            })
            .collect();
        // Drains racing the counting lose nothing and count nothing twice.
        let drainer = {
            let (hot, stop) = (hot.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut got = 0;
                while !stop.load(Ordering::Relaxed) {
                    got += hot.drain(u64::MAX).iter().map(|d| d.2).sum::<u64>();
                }
                got
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let got = drainer.join().unwrap();
        let rest: u64 = hot.drain(u64::MAX).iter().map(|d| d.2).sum();
        assert_eq!(got + rest, 400_000);
    }
}
