//! One node as the cluster sees it: its state, its load, its last error, what it
//! missed while away. Load and the hang watchdog are plain atomics on the node's own
//! cache lines, so routing a call writes nothing other nodes' callers write.

use crate::gate::{Gate, Inside};
use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;
use kmsbridge_bridge::pkcs11::{Node, NodeConfig};
use kmsbridge_bridge::{Backend, Error, NodeState, NodeStatus, Result};
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The states live in the bridge (the provider shows any backend's nodes); stored
// here as one byte per node.
fn state_from_u8(v: u8) -> NodeState {
    match v {
        0 => NodeState::Up,
        2 => NodeState::Resyncing,
        _ => NodeState::Down,
    }
}

fn state_as_u8(s: NodeState) -> u8 {
    match s {
        NodeState::Up => 0,
        NodeState::Down => 1,
        NodeState::Resyncing => 2,
    }
}

pub struct Member {
    pub cfg: NodeConfig,
    /// No other member loads the same library: re-initialising it on return
    /// touches no other node.
    pub own_library: bool,
    /// Replaced by a fresh node when a lost node answers again: its old sessions
    /// (and, behind a server that restarted, its handles) are gone.
    node: ArcSwap<Node>,
    state: AtomicU8,
    /// Bumped each time the node goes down: session objects and operations made on
    /// an earlier epoch are dead.
    epoch: AtomicU64,
    load: CachePadded<AtomicUsize>,
    /// Calls and operations served since start, for status and tests.
    served: AtomicU64,
    /// Times routing picked it to answer a caller (the replicated writes and resync
    /// copies it takes are not counted): still while it is away or resyncing.
    routed: AtomicU64,
    /// Backend calls in flight and the last time one started on an idle node or
    /// ended (ms since `origin`): the watchdog sees a hung node by these.
    calls: CachePadded<AtomicUsize>,
    progress_ms: CachePadded<AtomicU64>,
    origin: Instant,
    last_error: Mutex<Option<String>>,
    pub missed: AtomicU64,
    /// Session objects made on it (found only by asking it).
    pub session_objects: AtomicUsize,
    pub probe: Mutex<Probe>,
    /// Every call into the node's library passes it (see gate.rs).
    pub gate: Gate,
    /// Held around each call when the node takes one call at a time.
    serial: Option<Mutex<()>>,
}

pub struct Probe {
    pub next: Instant,
    pub backoff: Duration,
    /// A probe of this node is running (on its own thread: a hung node's probe
    /// must not hold up the others').
    pub running: bool,
}

/// How long a re-initialisation waits for calls inside the node to leave.
const GATE_WAIT: Duration = Duration::from_secs(2);

pub const PROBE_FIRST: Duration = Duration::from_millis(100);
pub const PROBE_CAP: Duration = Duration::from_secs(5);

/// A node entered through its gate; leaves on drop.
pub struct Entered<'a> {
    node: Arc<Node>,
    _inside: Inside<'a>,
}

impl std::ops::Deref for Entered<'_> {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

/// Counts a call or an operation as load on a node while it lives.
pub struct LoadGuard {
    member: Arc<Member>,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.member.load.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Member {
    pub fn new(cfg: NodeConfig, own_library: bool) -> Member {
        let serial = cfg.serial_calls.then(|| Mutex::new(()));
        Member {
            own_library,
            node: ArcSwap::from_pointee(Node::new(cfg.clone())),
            cfg,
            state: AtomicU8::new(state_as_u8(NodeState::Up)),
            epoch: AtomicU64::new(0),
            load: CachePadded::new(AtomicUsize::new(0)),
            served: AtomicU64::new(0),
            routed: AtomicU64::new(0),
            calls: CachePadded::new(AtomicUsize::new(0)),
            progress_ms: CachePadded::new(AtomicU64::new(0)),
            origin: Instant::now(),
            last_error: Mutex::new(None),
            missed: AtomicU64::new(0),
            session_objects: AtomicUsize::new(0),
            probe: Mutex::new(Probe {
                next: Instant::now(),
                backoff: PROBE_FIRST,
                running: false,
            }),
            gate: Gate::default(),
            serial,
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The node, entered through its gate: refused while its library is being
    /// re-initialised.
    pub fn node(&self) -> Result<Entered<'_>> {
        let inside = self.gate.enter(self.name())?;
        Ok(Entered {
            node: self.node.load_full(),
            _inside: inside,
        })
    }

    /// The node's one-call-at-a-time turn, when it has that rule; waiting past
    /// `wait` (a call ahead hangs) is a device-class failure, so the caller moves on.
    pub fn turn(&self, wait: Duration) -> Result<Option<MutexGuard<'_, ()>>> {
        match &self.serial {
            None => Ok(None),
            Some(m) => m.try_lock_for(wait).map(Some).ok_or_else(|| {
                Error::Unavailable(format!(
                    "{}: a call ahead on this one-call-at-a-time node did not end",
                    self.name()
                ))
            }),
        }
    }

    /// The node without the gate, for tests and diagnostics.
    pub fn node_ungated(&self) -> Arc<Node> {
        self.node.load_full()
    }

    pub fn state(&self) -> NodeState {
        state_from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn is_up(&self) -> bool {
        self.state() == NodeState::Up
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    pub fn hold(self: &Arc<Self>) -> LoadGuard {
        self.load.fetch_add(1, Ordering::Relaxed);
        self.served.fetch_add(1, Ordering::Relaxed);
        LoadGuard {
            member: self.clone(),
        }
    }

    /// Routing picked this node to answer a call. Release: whoever reads the count
    /// (Acquire) sees the up state and zero lag routing saw before the pick.
    pub fn picked(&self) {
        self.routed.fetch_add(1, Ordering::Release);
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Run one backend call on this node, counted as load and watched for hangs. A
    /// call that outlived `timeout` marks the node down; its error becomes a device error.
    pub fn call<T>(
        self: &Arc<Self>,
        timeout: Duration,
        f: impl FnOnce(&Node) -> Result<T>,
    ) -> Result<T> {
        let node = self.node()?;
        let _turn = self.turn(timeout)?;
        let _load = self.hold();
        let t0 = Instant::now();
        self.call_started();
        let r = f(&node);
        self.call_ended();
        let took = t0.elapsed();
        if took > timeout {
            let why = format!("a call took {} ms", took.as_millis());
            self.mark_down(&why);
            if r.is_err() {
                return Err(Error::Unavailable(format!("{}: {why}", self.name())));
            }
        }
        r
    }

    pub fn call_started(&self) {
        if self.calls.fetch_add(1, Ordering::AcqRel) == 0 {
            self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    pub fn call_ended(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Relaxed);
        self.calls.fetch_sub(1, Ordering::AcqRel);
    }

    /// True when calls are in flight and none has started on an idle node or ended
    /// for `timeout`: something hangs.
    pub fn hung(&self, timeout: Duration) -> bool {
        self.calls.load(Ordering::Acquire) > 0
            && self
                .now_ms()
                .saturating_sub(self.progress_ms.load(Ordering::Relaxed))
                > timeout.as_millis() as u64
    }

    /// Take the node out of service (from up or resyncing); logged once per fall.
    pub fn mark_down(&self, why: &str) {
        *self.last_error.lock() = Some(why.to_string());
        let prev = self
            .state
            .swap(state_as_u8(NodeState::Down), Ordering::AcqRel);
        if state_from_u8(prev) != NodeState::Down {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            let mut p = self.probe.lock();
            p.backoff = PROBE_FIRST;
            p.next = Instant::now() + PROBE_FIRST;
            tracing::warn!(node = %self.name(), "cluster node down: {why}");
        }
    }

    pub fn set_state(&self, s: NodeState) {
        self.state.store(state_as_u8(s), Ordering::Release);
    }

    /// A fresh node for a lost one that may be back; connected, or the reason not.
    /// The lost node's sessions are forgotten, never closed, and its library (when no
    /// other member uses it) is re-initialised first: a p11-kit client answers
    /// `CKR_DEVICE_ERROR` to everything after its server died, even once the server
    /// is back, until `C_Finalize` + `C_Initialize`.
    pub fn reconnect(&self) -> Result<()> {
        let old = self.node.load_full();
        if self.own_library {
            let _closed = self.gate.close(GATE_WAIT).ok_or_else(|| {
                Error::Unavailable(format!(
                    "{}: calls are still inside its library",
                    self.name()
                ))
            })?;
            old.forget_sessions();
            old.reinitialize_library()?;
        } else {
            old.forget_sessions();
        }
        let fresh = Node::new(self.cfg.clone());
        fresh.connect()?;
        let mut one = [0u8; 1];
        fresh.random(&mut one)?;
        self.node.store(Arc::new(fresh));
        Ok(())
    }

    pub fn record_error(&self, why: &str) {
        *self.last_error.lock() = Some(why.to_string());
    }

    pub fn status(&self) -> NodeStatus {
        // The routed count first: a pick it includes was made on an up, resynced
        // node, so the state and lag read after it are never older than that.
        let routed = self.routed.load(Ordering::Acquire);
        NodeStatus {
            name: self.cfg.name.clone(),
            state: self.state(),
            load: self.load(),
            last_error: self.last_error.lock().clone(),
            lag: self.missed.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
            routed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(serial_calls: bool) -> Member {
        // Never connected: taking turns touches no library.
        Member::new(
            NodeConfig {
                name: "test/node0".into(),
                library: "/nonexistent/libvendor.so".into(),
                token_label: None,
                token_serial: None,
                credential_file: "/nonexistent/pin".into(),
                so_credential_file: None,
                pool_size: 1,
                pool_wait: Duration::from_millis(10),
                serial_calls,
            },
            true,
        )
    }

    #[test]
    fn a_one_call_at_a_time_node_turns_a_waiter_away_after_the_wait() {
        let m = member(true);
        let first = m.turn(Duration::ZERO).expect("free").expect("a turn");
        let t0 = Instant::now();
        let second = m.turn(Duration::from_millis(30));
        assert!(
            matches!(second, Err(Error::Unavailable(_))),
            "a device-class refusal"
        );
        assert!(t0.elapsed() >= Duration::from_millis(30), "it waited first");
        drop(first);
        assert!(m.turn(Duration::ZERO).expect("free again").is_some());
    }

    #[test]
    fn a_node_without_the_rule_takes_calls_side_by_side() {
        let m = member(false);
        let a = m.turn(Duration::ZERO).expect("no rule");
        let b = m.turn(Duration::ZERO).expect("no rule");
        assert!(a.is_none() && b.is_none());
    }
}
