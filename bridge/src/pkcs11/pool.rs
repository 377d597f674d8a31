//! A bounded pool of logged-in backend sessions for one node token.
//!
//! Sessions are opened on demand up to the pool size and never closed while the
//! pool lives: closing SoftHSM2's last session logs the token out and renumbers
//! its object handles. A checked-out session is an RAII guard that returns it.

use super::library::{p11, Library};
use crate::error::{check, Error, Result};
use cryptoki_sys::*;
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Pool {
    pub(crate) lib: Arc<Library>,
    slot: CK_SLOT_ID,
    name: String,
    size: usize,
    wait: Duration,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<CK_SESSION_HANDLE>,
    opened: usize,
}

impl Pool {
    pub fn new(
        lib: Arc<Library>,
        slot: CK_SLOT_ID,
        name: String,
        size: usize,
        wait: Duration,
    ) -> Self {
        Pool {
            lib,
            slot,
            name,
            size: size.max(1),
            wait,
            state: Mutex::new(PoolState {
                idle: Vec::with_capacity(size),
                opened: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn open_one(&self) -> Result<CK_SESSION_HANDLE> {
        let mut h: CK_SESSION_HANDLE = 0;
        let rv = p11!(
            self.lib,
            C_OpenSession(
                self.slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                std::ptr::null_mut(),
                None,
                &mut h
            )
        );
        check(rv, "C_OpenSession")?;
        Ok(h)
    }

    /// Borrow a session, opening one if the pool has room, else waiting a bounded time.
    pub fn get(self: &Arc<Self>) -> Result<PooledSession> {
        let deadline = Instant::now() + self.wait;
        let mut st = self.state.lock();
        loop {
            if let Some(h) = st.idle.pop() {
                return Ok(PooledSession {
                    pool: self.clone(),
                    handle: h,
                });
            }
            if st.opened < self.size {
                st.opened += 1;
                drop(st);
                return match self.open_one() {
                    Ok(h) => Ok(PooledSession {
                        pool: self.clone(),
                        handle: h,
                    }),
                    Err(e) => {
                        self.state.lock().opened -= 1;
                        Err(e)
                    }
                };
            }
            if self.returned.wait_until(&mut st, deadline).timed_out() && st.idle.is_empty() {
                return Err(Error::PoolExhausted {
                    node: self.name.clone(),
                    size: self.size,
                    waited_ms: self.wait.as_millis() as u64,
                });
            }
        }
    }

    fn put(&self, h: CK_SESSION_HANDLE) {
        self.state.lock().idle.push(h);
        self.returned.notify_one();
    }

    /// Sessions opened so far, and of those currently lent out.
    pub fn usage(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.opened, st.opened - st.idle.len())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Every guard holds the pool alive, so all sessions are idle here.
        for h in self.state.get_mut().idle.drain(..) {
            let _ = p11!(self.lib, C_CloseSession(h));
        }
    }
}

/// A borrowed backend session; returns to the pool when dropped.
pub struct PooledSession {
    pool: Arc<Pool>,
    handle: CK_SESSION_HANDLE,
}

impl PooledSession {
    pub fn handle(&self) -> CK_SESSION_HANDLE {
        self.handle
    }
    pub fn lib(&self) -> &Library {
        &self.pool.lib
    }
}

impl Drop for PooledSession {
    fn drop(&mut self) {
        self.pool.put(self.handle);
    }
}
