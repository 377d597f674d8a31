//! Routing: which node serves a call. Single-part work goes to the least-busy up
//! node that holds every object the call names; a node that fails with a
//! device-class error is marked down and the call retried on the next; a busy node
//! is skipped, and when all are busy the call backs off and tries again.

use crate::failover::{classify, Backoff, Class};
use crate::objects::{Entry, Identity, ABSENT, IDENTITY_ATTRS, UNKNOWN};
use crate::Inner;
use cryptoki_sys::*;
use kmsbridge_bridge::pkcs11::Node;
use kmsbridge_bridge::{AttrReq, Backend, Error, ObjectId, Result};
use std::cell::Cell;
use std::sync::Arc;

/// A call on node k (`usize`) with the named objects' handles there.
pub type NodeCall<'a, T> = dyn FnMut(usize, &Node, &[u64]) -> Result<T> + 'a;

/// The object a call named is not (or no longer) on any node that serves.
pub fn gone() -> Error {
    Error::rv(CKR_OBJECT_HANDLE_INVALID, "cluster object")
}

pub fn no_node() -> Error {
    Error::Unavailable("no cluster node is up".into())
}

/// A rotating start for ties, per thread: equally idle nodes take turns without a
/// shared counter.
fn tie_break(n: usize) -> usize {
    thread_local! { static NEXT: Cell<usize> = const { Cell::new(0) }; }
    NEXT.with(|c| {
        let v = c.get();
        c.set(v.wrapping_add(1));
        v % n.max(1)
    })
}

/// Requests for the identity attributes, with room for ordinary values.
pub fn identity_reqs() -> Vec<AttrReq> {
    IDENTITY_ATTRS
        .iter()
        .map(|t| AttrReq::new(*t, Some(256)))
        .collect()
}

impl Inner {
    pub fn entries(&self, objs: &[ObjectId]) -> Result<Vec<Arc<Entry>>> {
        objs.iter()
            .map(|o| self.table.get(*o).ok_or_else(gone))
            .collect()
    }

    /// Whether `e` may be on node `n` (without asking the node).
    fn may_hold(&self, e: &Entry, n: usize) -> bool {
        match e.home {
            Some((home, epoch)) => {
                home == n && self.members.get(n).is_some_and(|m| m.epoch() == epoch)
            }
            None => e.handle(n) != ABSENT,
        }
    }

    /// Read an object's identity on a node that knows its handle, once.
    pub fn identity(&self, obj: ObjectId, e: &Entry) -> Result<Identity> {
        if let Some(i) = e.identity() {
            return Ok(i);
        }
        for (n, m) in self.members.iter().enumerate() {
            let h = e.handle(n);
            if !m.is_up() || h == UNKNOWN || h == ABSENT {
                continue;
            }
            let mut reqs = identity_reqs();
            match m.call(self.cfg.call_timeout, |node| {
                node.get_attributes(h, &mut reqs)
            }) {
                Ok(_) => {
                    if let Some((_, ident)) = Identity::from_reqs(&reqs) {
                        self.table.set_identity(obj, ident.clone());
                        return Ok(ident);
                    }
                }
                Err(err) => self.note_failure(n, &err),
            }
        }
        Err(gone())
    }

    /// `obj`'s handle on node `n`, found by identity when not known yet;
    /// `None` when the node does not hold it.
    pub fn resolve(&self, obj: ObjectId, e: &Entry, n: usize) -> Result<Option<u64>> {
        if let Some((home, epoch)) = e.home {
            let alive = home == n && self.member(n)?.epoch() == epoch;
            return Ok(alive.then(|| e.handle(n)));
        }
        match e.handle(n) {
            ABSENT => return Ok(None),
            UNKNOWN => {}
            h => return Ok(Some(h)),
        }
        let ident = self.identity(obj, e)?;
        let m = self.member(n)?;
        let found = m.call(self.cfg.call_timeout, |node| node.find(&ident.template()))?;
        // An object another entry already names on this node is that entry's, not this
        // one: a rewrite (make the new object, destroy the old) leaves both sharing an
        // identity until the old goes, and the old one's destroy must not pick the new.
        let free: Vec<u64> = found
            .iter()
            .copied()
            .filter(|h| self.table.by_handle(n, *h).is_none_or(|o| o == obj))
            .collect();
        match free.first() {
            None => {
                e.set_handle(n, ABSENT);
                Ok(None)
            }
            Some(h) => {
                if free.len() > 1 {
                    tracing::warn!(node = %m.name(), "{} objects share one identity; using the first", free.len());
                }
                self.table.learn(obj, n, *h);
                Ok(Some(*h))
            }
        }
    }

    /// Mark a node down if `err` says it cannot serve.
    pub fn note_failure(&self, n: usize, err: &Error) {
        if classify(err, &self.cfg.busy_codes) != Class::Device {
            return;
        }
        if let Some(m) = self.members.get(n) {
            m.mark_down(&err.to_string());
            self.wake_prober();
        }
    }

    /// Run `f` on the least-busy up node holding every object in `objs`, with their
    /// handles there, failing over as the module's doc says. Returns the node used.
    pub fn route<const N: usize, T>(
        &self,
        objs: [ObjectId; N],
        mut f: impl FnMut(usize, &Node, [u64; N]) -> Result<T>,
    ) -> Result<(usize, T)> {
        self.route_excluding(&objs, 0, &mut |k, node, hs| {
            // One handle per object named, in order.
            let hs = <[u64; N]>::try_from(hs)
                .map_err(|_| Error::rv(CKR_GENERAL_ERROR, "cluster handles"))?;
            f(k, node, hs)
        })
    }

    pub fn route_excluding<T>(
        &self,
        objs: &[ObjectId],
        exclude: u64,
        f: &mut NodeCall<'_, T>,
    ) -> Result<(usize, T)> {
        let entries = self.entries(objs)?;
        let n = self.members.len();
        let mut excluded = exclude; // failed or not holding, for this call
        let mut busy = 0u64; // refused for now, this round
        let mut stale_once = 0u64;
        let mut last: Option<Error> = None;
        let mut backoff = Backoff::new();
        loop {
            let start = tie_break(n);
            let pick = (0..n)
                .map(|k| (start + k) % n)
                .filter(|&i| (excluded | busy) & (1 << i) == 0)
                .filter_map(|i| Some((i, self.members.get(i)?)))
                .filter(|(_, m)| m.is_up())
                .filter(|&(i, _)| entries.iter().all(|e| self.may_hold(e, i)))
                // Among equally busy nodes, one that knows every handle already: a node
                // that must first find an object by identity scans its whole token
                // (milliseconds at thousands of keys). Under load the spread by load
                // still sends work to the others, which then learn the handles.
                .min_by_key(|&(i, m)| (m.load(), entries.iter().any(|e| e.handle(i) == UNKNOWN)));
            let Some((i, m)) = pick else {
                if busy != 0 && backoff.wait() {
                    busy = 0;
                    continue;
                }
                return Err(last.unwrap_or_else(|| {
                    if self.members.iter().any(|m| m.is_up()) {
                        gone()
                    } else {
                        no_node()
                    }
                }));
            };
            m.picked();
            let mut handles = Vec::with_capacity(objs.len());
            let mut missing = false;
            for (o, e) in objs.iter().zip(&entries) {
                match self.resolve(*o, e, i) {
                    Ok(Some(h)) => handles.push(h),
                    Ok(None) => {
                        missing = true;
                        break;
                    }
                    Err(err) => {
                        self.note_failure(i, &err);
                        last = Some(err);
                        missing = true;
                        break;
                    }
                }
            }
            if missing {
                excluded |= 1 << i;
                continue;
            }
            let err = match m.call(self.cfg.call_timeout, |node| f(i, node, &handles)) {
                Ok(v) => return Ok((i, v)),
                Err(err) => err,
            };
            match classify(&err, &self.cfg.busy_codes) {
                Class::Final => return Err(err),
                Class::Device => {
                    m.mark_down(&err.to_string());
                    self.wake_prober();
                    excluded |= 1 << i;
                }
                Class::Transient => busy |= 1 << i,
                Class::StaleHandle => {
                    let token: Vec<_> =
                        objs.iter().zip(&entries).filter(|(_, e)| e.token).collect();
                    if token.is_empty() {
                        return Err(err);
                    }
                    if stale_once & (1 << i) == 0 {
                        // Renumbered or replaced behind our back: find them again there.
                        stale_once |= 1 << i;
                        for (_, e) in token {
                            e.set_handle(i, UNKNOWN);
                        }
                    } else {
                        excluded |= 1 << i;
                    }
                }
            }
            last = Some(err);
        }
    }
}
