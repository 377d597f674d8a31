//! Down nodes are probed in the background with backoff; one that answers again is
//! brought up to date from an up node — objects it missed are copied (sensitive
//! keys wrapped under the domain key), objects destroyed meanwhile are destroyed,
//! changed attributes are set — and only then takes traffic again. While it
//! resyncs it takes no writes: a write and the resync's copy of the same object
//! would both land on it. Two passes: the first alongside writes, the second with
//! them held off (`Inner::write_turn`), after which the node is up.

use crate::domain::DOMAIN_KEY_ID;
use crate::health::{Member, PROBE_CAP};
use crate::objects::Identity;
use crate::replicate::{copy_between, read_values};
use crate::route::identity_reqs;
use crate::Inner;
use cryptoki_sys::*;
use kmsbridge_bridge::pkcs11::Node;
use kmsbridge_bridge::NodeState;
use kmsbridge_bridge::{Attr, Backend, Result};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(50);

pub fn spawn_prober(weak: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("kmsbridge-cluster-probe".into())
        .spawn(move || loop {
            // During process exit the nodes' libraries may be torn down: probe no more.
            if kmsbridge_bridge::exit::exiting() {
                return;
            }
            let Some(inner) = weak.upgrade() else { return };
            inner.tick();
            if !inner.prober_sleep(TICK) {
                return;
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the cluster prober: {e}; lost nodes stay down");
    }
}

/// Mutable attributes compared on resync (identity attributes name the object).
const COMPARED: [CK_ATTRIBUTE_TYPE; 14] = [
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_DERIVE,
    CKA_SIGN_RECOVER,
    CKA_VERIFY_RECOVER,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_SENSITIVE,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_VALUE,
];

/// Every token object on a node by identity (the domain key aside: it is made
/// per node by `cluster init` and never copied). One identity names one object, but
/// an application's C_CopyObject may make two alike; all are kept.
fn inventory(node: &Node) -> Result<HashMap<Identity, Vec<u64>>> {
    let mut out: HashMap<Identity, Vec<u64>> = HashMap::new();
    for h in node.find(&[Attr::bool(CKA_TOKEN, true)])? {
        let mut reqs = identity_reqs();
        if skip_vanished(node.get_attributes(h, &mut reqs))?.is_none() {
            continue;
        }
        if let Some((_, ident)) = Identity::from_reqs(&reqs) {
            if ident.id.as_deref() == Some(DOMAIN_KEY_ID) {
                continue;
            }
            out.entry(ident).or_default().push(h);
        }
    }
    Ok(out)
}

/// An object destroyed between a find and the next call on it (by this process
/// before the last pass holds writes off, or by another process at any time) is
/// left out of this pass: `Ok(None)`. Any other error fails the pass.
fn skip_vanished<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(kmsbridge_bridge::Error::Rv {
            rv: CKR_OBJECT_HANDLE_INVALID,
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn compared(node: &Node, h: u64) -> Result<Vec<(CK_ATTRIBUTE_TYPE, Option<Vec<u8>>)>> {
    read_values(node, h, &COMPARED)
}

impl Inner {
    fn tick(self: &Arc<Self>) {
        let now = Instant::now();
        for (k, m) in self.members.iter().enumerate() {
            match m.state() {
                NodeState::Up => {
                    if m.hung(self.cfg.call_timeout) {
                        m.mark_down("a call has been hanging past the call timeout");
                    }
                }
                NodeState::Resyncing => {}
                NodeState::Down => {
                    {
                        let mut p = m.probe.lock();
                        if p.running || p.next > now {
                            continue;
                        }
                        p.running = true;
                    }
                    // Each probe on its own thread: re-initialising a hung node's
                    // library can block for as long as the node hangs.
                    let inner = Arc::clone(self);
                    let member = Arc::clone(m);
                    let spawned = std::thread::Builder::new()
                        .name(format!("kmsbridge-probe-{k}"))
                        .spawn(move || {
                            inner.try_return(k, &member);
                            member.probe.lock().running = false;
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(node = %m.name(), "cannot start a probe: {e}");
                        m.probe.lock().running = false;
                    }
                }
            }
        }
    }

    /// Probe node `k` (`m`); if it answers, resync it and let it serve.
    fn try_return(&self, k: usize, m: &Member) {
        // Its handles may be renumbered (a restarted server): learn them anew.
        self.table.forget_node(k);
        self.forget_domain_key(k);
        let res = m.reconnect().and_then(|()| {
            m.set_state(NodeState::Resyncing);
            // The first pass copies the bulk while writes go on. A resyncing node
            // takes no writes (they count as its lag), so the pass races none on
            // it; what changes on the up nodes meanwhile the second pass catches.
            let first = self.resync(k)?;
            // The second pass runs with writes held off: writes still running (one
            // that picked this node before it fell may even have reached it during
            // the first pass) end first, none begins until the node is up, and
            // what the pass compares cannot change under it.
            let alone = self.writes.write();
            let second = self.resync(k)?;
            // A write that reached it meanwhile may have left a handle the second
            // pass destroyed as an extra copy: look its objects up afresh.
            self.table.forget_node(k);
            m.missed.store(0, Ordering::Relaxed);
            m.set_state(NodeState::Up);
            drop(alone);
            Ok(first + second)
        });
        match res {
            Ok(n) => {
                m.probe.lock().backoff = crate::health::PROBE_FIRST;
                tracing::info!(node = %m.name(), changes = n, "cluster node resynced and serving");
            }
            Err(e) => {
                // The node answers but cannot be brought up to date (or does not
                // answer): it stays out of service, so say why (a lost node's
                // failed probes are not worth a line each).
                if m.state() == NodeState::Resyncing {
                    tracing::warn!(node = %m.name(), "cluster node answers but resync failed: {e}");
                }
                m.set_state(NodeState::Down);
                m.record_error(&format!("probe: {e}"));
                let mut p = m.probe.lock();
                p.next = Instant::now() + p.backoff;
                p.backoff = (p.backoff * 2).min(PROBE_CAP);
            }
        }
    }

    /// Bring node `k` to what an up node holds; returns the number of changes.
    pub fn resync(&self, k: usize) -> Result<usize> {
        let mut others = self.members.iter().enumerate();
        let Some((r, rm)) = others.find(|(i, m)| *i != k && m.is_up()) else {
            // Nothing to compare with: the first node back is the cluster's truth,
            // unless it missed writes that a node still away took. Serving from it
            // would lose them, and the nodes that hold them, resynced from it on their
            // return, would destroy them: it waits for one of those to come back.
            let mine = self.member(k)?.missed.load(Ordering::Relaxed);
            let better = self
                .members
                .iter()
                .enumerate()
                .any(|(i, m)| i != k && m.missed.load(Ordering::Relaxed) < mine);
            if better {
                return Err(kmsbridge_bridge::Error::Unavailable(format!(
                    "missed {mine} writes that a node still away holds; waiting for it"
                )));
            }
            return Ok(0);
        };
        let (from, to) = (rm.node()?, self.member(k)?.node()?);
        let theirs = inventory(&from)?;
        let mine = inventory(&to)?;
        let mut changes = 0;
        // Destroyed meanwhile, or one copy too many (a write and a copy of the same
        // object: a write that reached this node during the first pass).
        for (ident, hks) in &mine {
            let keep = theirs.get(ident).map_or(0, Vec::len);
            for hk in hks.iter().skip(keep) {
                if skip_vanished(to.destroy_object(*hk))?.is_some() {
                    changes += 1;
                }
            }
        }
        for (ident, hrs) in &theirs {
            let hks = mine.get(ident).map_or(&[][..], Vec::as_slice);
            for (i, hr) in hrs.iter().enumerate() {
                let Some(hk) = hks.get(i) else {
                    if skip_vanished(copy_between(self, r, &from, *hr, k, &to))?.is_some() {
                        changes += 1;
                    }
                    continue;
                };
                let (Some(a), Some(b)) = (
                    skip_vanished(compared(&from, *hr))?,
                    skip_vanished(compared(&to, *hk))?,
                ) else {
                    continue;
                };
                let diff: Vec<Attr> = a
                    .iter()
                    .zip(&b)
                    .filter(|(x, y)| x.1.is_some() && x.1 != y.1)
                    .filter_map(|(x, _)| x.1.clone().map(|v| Attr::new(x.0, v)))
                    .collect();
                if !diff.is_empty() && to.set_attributes(*hk, &diff).is_err() {
                    // Not settable (read-only now): replace the copy.
                    to.destroy_object(*hk)?;
                    copy_between(self, r, &from, *hr, k, &to)?;
                }
                changes += usize::from(!diff.is_empty());
            }
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::PROBE_FIRST;
    use crate::objects::Table;
    use kmsbridge_bridge::pkcs11::NodeConfig;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    /// A one-node `Inner` whose node cannot be reached (no library), and no prober
    /// thread: the test drives the probes.
    fn unreachable() -> Arc<Inner> {
        let cfg = NodeConfig {
            name: "test/node0".into(),
            library: "/nonexistent/libvendor.so".into(),
            token_label: None,
            token_serial: None,
            credential_file: "/nonexistent/pin".into(),
            so_credential_file: None,
            pool_size: 1,
            pool_wait: Duration::from_millis(10),
            serial_calls: false,
        };
        Arc::new(Inner {
            cfg: crate::ClusterConfig::default(),
            quorum: 1,
            members: vec![Arc::new(Member::new(cfg, true))],
            table: Table::new(1),
            domain: vec![AtomicU64::new(0)],
            writes: parking_lot::RwLock::new(()),
            shut: AtomicBool::new(false),
            prober: std::sync::Mutex::new(false),
            prober_wake: std::sync::Condvar::new(),
        })
    }

    /// docs/CLUSTER.md: a down node is probed "with a growing backoff (100 ms to
    /// 5 s)". Each failed probe sets the next one that much later and doubles the
    /// wait up to the cap; read from the schedule itself, no clock bound.
    #[test]
    fn a_down_node_is_probed_with_a_backoff_doubling_from_100_ms_to_5_s() {
        let inner = unreachable();
        let m = Arc::clone(&inner.members[0]);
        m.mark_down("test");
        {
            let p = m.probe.lock();
            assert_eq!(p.backoff, PROBE_FIRST, "the first wait");
            assert_eq!(PROBE_FIRST, Duration::from_millis(100));
        }
        let expected = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000];
        for (i, want) in expected.map(Duration::from_millis).into_iter().enumerate() {
            let before = Instant::now();
            inner.try_return(0, &m);
            let after = Instant::now();
            assert_eq!(m.state(), NodeState::Down, "an unreachable node stays down");
            // `next` was set to "now + wait" between `before` and `after`.
            let next = m.probe.lock().next;
            let (shortest, longest) = (next.saturating_duration_since(after), next - before);
            assert!(
                shortest <= want && want <= longest,
                "after failed probe {}: the next in {shortest:?}..{longest:?}, not {want:?}",
                i + 1
            );
        }
        // The prober starts no probe before its time.
        m.probe.lock().next = Instant::now() + Duration::from_secs(3600);
        inner.tick();
        assert!(!m.probe.lock().running, "a probe before its time");
    }
}
