//! An instance's HSM cluster. One node is returned bare as the instance's backend
//! (no overhead); several become a [`Cluster`]: the same `Backend` boundary with
//! routing (`route.rs`), failover (`failover.rs`), node health and status
//! (`health.rs`), the cluster's own object ids (`objects.rs`), replication of token
//! objects (`replicate.rs`) under a domain key (`domain.rs`), and resync of a
//! returning node (`resync.rs`).

mod backend;
mod domain;
mod failover;
mod gate;
mod health;
mod objects;
mod op;
mod replicate;
mod resync;
mod route;

pub use domain::DOMAIN_KEY_ID;
pub use kmsbridge_bridge::{NodeState, NodeStatus};

use health::Member;
use kmsbridge_bridge::pkcs11::{Node, NodeConfig};
use kmsbridge_bridge::{Backend, ClusterAdmin, ObjectId, Result};
use objects::Table;
use parking_lot::{RwLock, RwLockReadGuard};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

/// Why a cluster cannot be built from its configuration.
#[derive(Debug)]
pub struct ClusterConfigError(pub String);

/// How a cluster behaves; the defaults suit SoftHSM2 and common HSMs.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Nodes a token object write must reach before it is reported done;
    /// `None`: 2, or every node when there are fewer.
    pub quorum: Option<usize>,
    /// A backend call running longer than this marks its node down.
    pub call_timeout: Duration,
    /// Vendor return codes that mean "busy, try later" (retried with backoff).
    pub busy_codes: Vec<cryptoki_sys::CK_RV>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            quorum: None,
            call_timeout: Duration::from_secs(10),
            busy_codes: Vec::new(),
        }
    }
}

/// A backend over HSM nodes, which administers them too.
pub trait HsmBackend: Backend + ClusterAdmin {}

impl<T: Backend + ClusterAdmin> HsmBackend for T {}

/// The backend serving a hardware instance over `nodes`.
pub fn build(
    nodes: Vec<NodeConfig>,
) -> std::result::Result<Arc<dyn HsmBackend>, ClusterConfigError> {
    build_with(nodes, ClusterConfig::default())
}

pub fn build_with(
    nodes: Vec<NodeConfig>,
    cfg: ClusterConfig,
) -> std::result::Result<Arc<dyn HsmBackend>, ClusterConfigError> {
    match nodes.len() {
        0 => Err(ClusterConfigError(
            "a hardware instance needs at least one node".into(),
        )),
        1 => {
            let node = nodes.into_iter().next().map(Node::new);
            node.map(|n| Arc::new(n) as Arc<dyn HsmBackend>)
                .ok_or_else(|| ClusterConfigError("no node".into()))
        }
        _ => Ok(Arc::new(Cluster::new(nodes, cfg)?)),
    }
}

/// A cluster of two or more nodes behind one `Backend`.
pub struct Cluster {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub cfg: ClusterConfig,
    pub quorum: usize,
    pub members: Vec<Arc<Member>>,
    pub table: Table,
    /// Per node: the domain key's handle there (0: not looked up yet).
    pub domain: Vec<AtomicU64>,
    pub shut: AtomicBool,
    /// Token object writes hold this shared from before they pick their nodes until
    /// the cluster's table records the result; a resync's last pass holds it alone,
    /// so no write lands on the returning node half-seen by that pass (`resync.rs`).
    writes: RwLock<()>,
    /// The prober sleeps here between ticks. std's, not parking_lot's: parking_lot
    /// queues a sleeping thread in a process-wide table, and a child forked while the
    /// prober sleeps inherits an entry naming a thread it does not have; the child's
    /// own prober, reusing that thread's stack, then corrupts the queue and crashes.
    /// std's condvar waits on its own futex word and leaves nothing behind.
    prober: std::sync::Mutex<bool>,
    prober_wake: std::sync::Condvar,
}

impl Cluster {
    pub fn new(
        nodes: Vec<NodeConfig>,
        cfg: ClusterConfig,
    ) -> std::result::Result<Cluster, ClusterConfigError> {
        let n = nodes.len();
        if n > 64 {
            return Err(ClusterConfigError(format!(
                "{n} nodes: a cluster has at most 64"
            )));
        }
        let quorum = cfg.quorum.unwrap_or(2).clamp(1, n);
        if cfg.quorum.is_some_and(|q| q > n || q == 0) {
            return Err(ClusterConfigError(format!(
                "quorum {:?} impossible with {n} nodes",
                cfg.quorum
            )));
        }
        let inner = Arc::new(Inner {
            cfg,
            quorum,
            members: nodes
                .iter()
                .map(|c| {
                    let own = nodes.iter().filter(|o| o.library == c.library).count() == 1;
                    Arc::new(Member::new(c.clone(), own))
                })
                .collect(),
            table: Table::new(n),
            domain: (0..n).map(|_| AtomicU64::new(0)).collect(),
            shut: AtomicBool::new(false),
            writes: RwLock::new(()),
            prober: std::sync::Mutex::new(false),
            prober_wake: std::sync::Condvar::new(),
        });
        resync::spawn_prober(Arc::downgrade(&inner));
        Ok(Cluster { inner })
    }

    /// Each node's state, load, last error and lag, for `kmsbridge cluster status`.
    pub fn status(&self) -> Vec<NodeStatus> {
        self.inner.members.iter().map(|m| m.status()).collect()
    }

    /// The backend handle of a cluster object on node `node`, if it is there:
    /// for tests and diagnostics that look at one node directly.
    pub fn node_handle(&self, obj: ObjectId, node: usize) -> Result<Option<u64>> {
        let e = self.inner.table.get(obj).ok_or_else(route::gone)?;
        self.inner.resolve(obj, &e, node)
    }

    /// Node `k` itself, for tests and diagnostics.
    pub fn node(&self, k: usize) -> Option<Arc<Node>> {
        self.inner.members.get(k).map(|m| m.node_ungated())
    }

    /// Take node `k` out of service (maintenance): it gets no traffic and misses
    /// writes until the prober finds it answering and resyncs it.
    pub fn drain(&self, k: usize, why: &str) {
        if let Some(m) = self.inner.members.get(k) {
            m.mark_down(why);
            // Not before the probe backoff: writes made meanwhile are what resync shows.
            self.inner.wake_prober();
        }
    }

    pub fn quorum(&self) -> usize {
        self.inner.quorum
    }
}

impl Inner {
    /// Member `n`. Node numbers come from `members` itself, so a miss is a broken
    /// invariant: CKR_GENERAL_ERROR.
    pub fn member(&self, n: usize) -> Result<&Arc<Member>> {
        self.members.get(n).ok_or_else(|| {
            kmsbridge_bridge::Error::rv(cryptoki_sys::CKR_GENERAL_ERROR, "cluster node number")
        })
    }

    /// A token object write's turn, taken once at the write's entry (never nested:
    /// the lock is fair, so a nested take behind a waiting resync would deadlock).
    pub fn write_turn(&self) -> RwLockReadGuard<'_, ()> {
        self.writes.read()
    }

    pub fn wake_prober(&self) {
        *self.prober.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.prober_wake.notify_one();
    }

    /// Wait for a wake-up or `d`; false once the cluster is shut down.
    pub fn prober_sleep(&self, d: Duration) -> bool {
        let mut woke = self.prober.lock().unwrap_or_else(PoisonError::into_inner);
        if !*woke {
            woke = match self.prober_wake.wait_timeout(woke, d) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *woke = false;
        !self.shut.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/CLUSTER.md and CONFIG.md: `call_timeout_ms` defaults to 10000 and
    /// `quorum` to 2 (the provider takes both from here when the config has none).
    #[test]
    fn the_documented_defaults() {
        let d = ClusterConfig::default();
        assert_eq!(
            d.call_timeout,
            Duration::from_millis(10_000),
            "call_timeout_ms"
        );
        assert_eq!(d.quorum, None, "quorum unset: 2, or every node when fewer");
        assert!(
            d.busy_codes.is_empty(),
            "no configuration key sets busy codes"
        );
    }
}
