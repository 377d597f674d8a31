//! A bounded pool of logged-in backend sessions for one node token.
//!
//! Sessions are opened on demand up to the pool size and never closed while the
//! pool lives: closing SoftHSM2's last session logs the token out and renumbers
//! its object handles. A checked-out session is an RAII guard that returns it.

use super::library::Library;
use crate::error::{check, Error, Result};
use crossbeam_queue::ArrayQueue;
use cryptoki_sys::*;
use std::borrow::Borrow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct Pool {
    pub(crate) lib: Arc<Library>,
    slot: CK_SLOT_ID,
    name: String,
    size: usize,
    wait: Duration,
    /// Each thread first returns a session to, and borrows it back from, its own
    /// stash slot (a cache line of its own): the steady state writes no shared line.
    /// Other threads may take from any stash, so nothing is hoarded.
    stash: Box<[Stash]>,
    /// Idle sessions beyond the stashes: a lock-free queue.
    idle: ArrayQueue<CK_SESSION_HANDLE>,
    opened: AtomicUsize,
    /// Callers blocked on an empty, full-sized pool; only they take `wait_lock`.
    /// std's lock and condvar, not parking_lot's: a caller may wait here for
    /// `pool_wait`, and a child forked meanwhile would inherit parking_lot's
    /// process-wide queue entry for a thread it does not have.
    waiters: AtomicUsize,
    wait_lock: Mutex<()>,
    returned: Condvar,
    /// The library lost (or is about to lose) every session of this pool: its
    /// handles are forgotten, never closed, and it lends nothing more.
    abandoned: AtomicBool,
    /// Per-operation logins of keys with CKA_ALWAYS_AUTHENTICATE.
    pub(crate) reauth: super::reauth::Reauth,
}

const STASHES: usize = 64;

/// One idle session parked by a thread, on a cache line of its own. 0 is empty:
/// CK_INVALID_HANDLE is never a session.
#[derive(Default)]
#[repr(align(64))]
struct Stash(AtomicU64);

#[allow(clippy::useless_conversion)] // CK_SESSION_HANDLE is 32 bits on some targets
impl Stash {
    fn take(&self) -> Option<CK_SESSION_HANDLE> {
        match self.0.swap(0, Ordering::SeqCst) {
            0 => None,
            h => CK_SESSION_HANDLE::try_from(h).ok(),
        }
    }
    fn put(&self, h: CK_SESSION_HANDLE) -> bool {
        self.0
            .compare_exchange(0, u64::from(h), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// This thread's stash slot, assigned round-robin on first use.
fn my_stash() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STASHES;
    }
    MINE.try_with(|m| *m).unwrap_or(0)
}

impl Pool {
    pub fn new(
        lib: Arc<Library>,
        slot: CK_SLOT_ID,
        name: String,
        size: usize,
        wait: Duration,
    ) -> Self {
        let size = size.max(1);
        Pool {
            lib,
            slot,
            name,
            size,
            wait,
            stash: (0..STASHES).map(|_| Stash::default()).collect(),
            idle: ArrayQueue::new(size),
            opened: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            wait_lock: Mutex::new(()),
            returned: Condvar::new(),
            abandoned: AtomicBool::new(false),
            reauth: super::reauth::Reauth::default(),
        }
    }

    fn open_one(&self) -> Result<CK_SESSION_HANDLE> {
        let mut h: CK_SESSION_HANDLE = 0;
        let rv = self.lib.call(
            |l| l.C_OpenSession,
            // SAFETY: no application pointer and no notify callback; the library
            // writes the new handle to `h`, which lives for the call.
            |f| unsafe {
                f(
                    self.slot,
                    CKF_SERIAL_SESSION | CKF_RW_SESSION,
                    std::ptr::null_mut(),
                    None,
                    &mut h,
                )
            },
        );
        check(rv, "C_OpenSession")?;
        Ok(h)
    }

    /// Borrow a session for an operation that outlives this borrow of the pool.
    pub fn get(self: &Arc<Self>) -> Result<PooledSession> {
        let stash = my_stash();
        let handle = self.take(stash)?;
        Ok(Lease {
            pool: self.clone(),
            handle,
            stash,
        })
    }

    /// Borrow a session for one call.
    pub fn lend(&self) -> Result<Lease<&Pool>> {
        let stash = my_stash();
        let handle = self.take(stash)?;
        Ok(Lease {
            pool: self,
            handle,
            stash,
        })
    }

    /// A session handle: idle, newly opened if the pool has room, or waited for a
    /// bounded time.
    fn take(&self, stash: usize) -> Result<CK_SESSION_HANDLE> {
        if let Some(h) = self.stash.get(stash).and_then(Stash::take) {
            return Ok(h);
        }
        let mut deadline: Option<Instant> = None;
        loop {
            if self.is_abandoned() {
                return Err(Error::Unavailable(format!(
                    "{}: the node's sessions were lost",
                    self.name
                )));
            }
            if let Some(h) = self.idle.pop() {
                return Ok(h);
            }
            let n = self.opened.load(Ordering::SeqCst);
            if n < self.size {
                if self
                    .opened
                    .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return self.open_one().inspect_err(|_| {
                        self.opened.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                continue;
            }
            // Only a caller that must wait reads the clock or takes a lock.
            let until = *deadline.get_or_insert_with(|| Instant::now() + self.wait);
            let g = self
                .wait_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.waiters.fetch_add(1, Ordering::SeqCst);
            // Re-check after announcing ourselves: a return in between would not wake us.
            if let Some(h) = self.idle.pop().or_else(|| self.steal()) {
                self.waiters.fetch_sub(1, Ordering::SeqCst);
                return Ok(h);
            }
            let left = until.saturating_duration_since(Instant::now());
            let timed_out = match self.returned.wait_timeout(g, left) {
                Ok((_, r)) => r.timed_out(),
                Err(poisoned) => poisoned.into_inner().1.timed_out(),
            };
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if timed_out && self.idle.is_empty() {
                return Err(Error::PoolExhausted {
                    node: self.name.clone(),
                    size: self.size,
                    waited_ms: self.wait.as_millis() as u64,
                });
            }
        }
    }

    /// Any session stashed by another thread.
    fn steal(&self) -> Option<CK_SESSION_HANDLE> {
        self.stash.iter().find_map(Stash::take)
    }

    fn put(&self, h: CK_SESSION_HANDLE, stash: usize) {
        if self.is_abandoned() {
            // Forgotten: a re-initialised library may have given the number to another.
            self.wake();
            return;
        }
        match self.stash.get(stash) {
            Some(mine) if mine.put(h) => {
                // A caller that began waiting meanwhile must not miss it: hand it over.
                if self.waiters.load(Ordering::SeqCst) == 0 {
                    return;
                }
                match mine.take() {
                    Some(h) => self.enqueue(h),
                    None => return self.wake(),
                }
            }
            // The stash is occupied (`my_stash` is always in range): the shared queue.
            _ => self.enqueue(h),
        }
        self.wake();
    }

    fn enqueue(&self, h: CK_SESSION_HANDLE) {
        // Capacity equals the most sessions ever opened, so there is always room.
        if self.idle.push(h).is_err() {
            tracing::error!(pool = %self.name, "session pool overfull; closing a session");
            self.close(h);
            self.opened.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn close(&self, h: CK_SESSION_HANDLE) {
        let _ = self.lib.call(
            |l| l.C_CloseSession,
            // SAFETY: a handle only; no buffer is passed.
            |f| unsafe { f(h) },
        );
    }

    fn wake(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _g = self
                .wait_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.returned.notify_one();
        }
    }

    /// Close every idle session (C_Finalize); sessions still lent out close with the pool.
    pub fn close_idle(&self) {
        while let Some(h) = self.idle.pop().or_else(|| self.steal()) {
            self.close(h);
            self.opened.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Forget every session without closing it: the node's connection was lost and
    /// its library is about to be re-initialised, after which the same numbers may name
    /// sessions of a new pool. Leases still out are forgotten when returned.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        while self.idle.pop().or_else(|| self.steal()).is_some() {}
        let _g = self
            .wait_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.returned.notify_all();
    }

    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Sessions opened so far, and of those currently lent out.
    pub fn usage(&self) -> (usize, usize) {
        let opened = self.opened.load(Ordering::SeqCst);
        let stashed = self
            .stash
            .iter()
            .filter(|s| s.0.load(Ordering::Relaxed) != 0)
            .count();
        (opened, opened.saturating_sub(self.idle.len() + stashed))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.is_abandoned() || crate::exit::exiting() {
            // Abandoned: the sessions are not ours. Exiting: the library may be torn down.
            return;
        }
        // Every lease holds the pool alive, so all sessions are idle here.
        while let Some(h) = self.idle.pop().or_else(|| self.steal()) {
            self.close(h);
        }
    }
}

/// A borrowed backend session; returns to the pool when dropped.
pub struct Lease<P: Borrow<Pool>> {
    pool: P,
    handle: CK_SESSION_HANDLE,
    /// The borrowing thread's stash slot, where the session goes back.
    stash: usize,
}

/// A lease that may outlive the borrow of its pool (an operation's).
pub type PooledSession = Lease<Arc<Pool>>;

impl<P: Borrow<Pool>> Lease<P> {
    pub fn handle(&self) -> CK_SESSION_HANDLE {
        self.handle
    }
    pub fn lib(&self) -> &Library {
        &self.pool.borrow().lib
    }
    pub(crate) fn reauth(&self) -> &super::reauth::Reauth {
        &self.pool.borrow().reauth
    }
    /// The pool forgot its sessions: this handle may name someone else's now.
    pub fn forgotten(&self) -> bool {
        self.pool.borrow().is_abandoned()
    }
}

impl<P: Borrow<Pool>> Drop for Lease<P> {
    fn drop(&mut self) {
        self.pool.borrow().put(self.handle, self.stash);
    }
}
