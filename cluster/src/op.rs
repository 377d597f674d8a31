//! An operation pinned to the node where it began. A single-part call whose node
//! fails before producing output starts again on another node; once data went to
//! the node (an update), the operation can only end, with CKR_DEVICE_REMOVED.

use crate::failover::{classify, Class};
use crate::health::{LoadGuard, Member};
use crate::route::gone;
use crate::Inner;
use cryptoki_sys::*;
use kmsbridge_bridge::pkcs11::Node;
use kmsbridge_bridge::{
    Backend, Cipher, Digesting, Error, Mechanism, ObjectId, Operation, Output, Result, Signing,
    Verifying,
};
use std::sync::Arc;

/// Starts an operation of one kind on a node, with the key's handle there (none for
/// a digest).
pub type Start<O> = fn(&Node, &Mechanism, Option<ObjectId>) -> Result<Box<O>>;

/// The node's missing key answers as the library does for an invalid handle.
fn key_or_invalid(key: Option<ObjectId>) -> ObjectId {
    key.unwrap_or(CK_INVALID_HANDLE)
}

pub fn encrypt(n: &Node, m: &Mechanism, key: Option<ObjectId>) -> Result<Box<dyn Cipher>> {
    n.begin_encrypt(m, key_or_invalid(key))
}

pub fn decrypt(n: &Node, m: &Mechanism, key: Option<ObjectId>) -> Result<Box<dyn Cipher>> {
    n.begin_decrypt(m, key_or_invalid(key))
}

pub fn sign(n: &Node, m: &Mechanism, key: Option<ObjectId>) -> Result<Box<dyn Signing>> {
    n.begin_sign(m, key_or_invalid(key))
}

pub fn verify(n: &Node, m: &Mechanism, key: Option<ObjectId>) -> Result<Box<dyn Verifying>> {
    n.begin_verify(m, key_or_invalid(key))
}

pub fn digest(n: &Node, m: &Mechanism, _: Option<ObjectId>) -> Result<Box<dyn Digesting>> {
    n.begin_digest(m)
}

/// An operation of one kind (`O`: its trait object) on the cluster.
pub struct ClusterOp<O: ?Sized> {
    inner: Arc<Inner>,
    node: usize,
    /// Node `node` itself.
    member: Arc<Member>,
    epoch: u64,
    /// `None` only while dropping.
    op: Option<Box<O>>,
    _load: LoadGuard,
    start: Start<O>,
    mech: Mechanism,
    key: Option<ObjectId>,
    /// Nodes this operation already lost.
    lost: u64,
    /// Data went to the node: the operation cannot move.
    pinned: bool,
    ended: bool,
}

fn removed() -> Error {
    Error::rv(CKR_DEVICE_REMOVED, "cluster node of the operation lost")
}

impl<O: ?Sized + Operation> ClusterOp<O> {
    pub fn begin(
        inner: &Arc<Inner>,
        start: Start<O>,
        mech: &Mechanism,
        key: Option<ObjectId>,
        lost: u64,
    ) -> Result<ClusterOp<O>> {
        let objs: Vec<ObjectId> = key.into_iter().collect();
        let (node, op) = inner.route_excluding(&objs, lost, &mut |_, n, hs| {
            start(n, mech, hs.first().copied())
        })?;
        let m = inner.member(node)?;
        Ok(ClusterOp {
            inner: inner.clone(),
            node,
            member: m.clone(),
            epoch: m.epoch(),
            op: Some(op),
            _load: m.hold(),
            start,
            mech: mech.clone(),
            key,
            lost,
            pinned: false,
            ended: false,
        })
    }

    fn alive(&self) -> bool {
        self.member.is_up() && self.member.epoch() == self.epoch
    }

    /// One call on the pinned node, watched like any other.
    fn step<T>(&mut self, f: impl FnOnce(&mut O) -> Result<T>) -> Result<T> {
        if self.ended || !self.alive() {
            self.ended = true;
            return Err(removed());
        }
        let m = self.member.clone();
        let r = match (m.gate.enter(m.name()), self.op.as_mut()) {
            (Ok(_inside), Some(op)) => match m.turn(self.inner.cfg.call_timeout) {
                Ok(_turn) => {
                    m.call_started();
                    let r = f(op.as_mut());
                    m.call_ended();
                    r
                }
                Err(e) => Err(e),
            },
            (Err(e), _) => Err(e),
            (_, None) => Err(removed()),
        };
        if let Err(e) = &r {
            if classify(e, &self.inner.cfg.busy_codes) == Class::Device {
                self.inner.note_failure(self.node, e);
                self.ended = true;
            }
        }
        r
    }

    /// Start again elsewhere after the node failed before the operation moved data.
    fn restart(&mut self) -> Result<()> {
        let lost = self.lost | (1 << self.node);
        let fresh = ClusterOp::begin(&self.inner, self.start, &self.mech, self.key, lost)?;
        *self = fresh;
        Ok(())
    }

    /// A single-part call: transparently moved when the node is lost first.
    fn single<T>(&mut self, mut f: impl FnMut(&mut O) -> Result<T>) -> Result<T> {
        for _ in 0..self.inner.members.len() {
            if !self.pinned && (self.ended || !self.alive()) {
                self.restart()?;
            }
            match self.step(&mut f) {
                Err(e) if !self.pinned && self.ended => {
                    tracing::info!("operation moved off a lost node: {e}");
                }
                Err(e) if self.ended => return Err(map_lost(e)),
                r => return r,
            }
        }
        Err(removed())
    }

    fn multi<T>(&mut self, f: impl FnOnce(&mut O) -> Result<T>) -> Result<T> {
        self.pinned = true;
        let r = self.step(f);
        match r {
            Err(e) if self.ended => Err(map_lost(e)),
            r => r,
        }
    }

    /// A final call: without updates before it (empty data) it may move like a
    /// single-part call.
    fn last<T>(&mut self, f: impl FnMut(&mut O) -> Result<T>) -> Result<T> {
        if !self.pinned {
            return self.single(f);
        }
        self.multi(f)
    }
}

impl<O: ?Sized> Drop for ClusterOp<O> {
    /// Ending the node's operation calls into its library: through the gate. If the
    /// library is being re-initialised the operation's session is gone anyway, and
    /// is left alone rather than touched mid-way.
    fn drop(&mut self) {
        let Some(op) = self.op.take() else { return };
        let m = &self.member;
        match m.gate.enter(m.name()) {
            Ok(_inside) => match m.turn(self.inner.cfg.call_timeout) {
                Ok(_turn) => drop(op),
                Err(_) => std::mem::forget(op),
            },
            Err(_) => std::mem::forget(op),
        }
    }
}

/// What an operation ended by its node's loss reports.
fn map_lost(e: Error) -> Error {
    match e {
        Error::Rv {
            rv: CKR_DEVICE_REMOVED,
            ..
        } => e,
        _ => removed(),
    }
}

impl<O: ?Sized + Operation> Operation for ClusterOp<O> {
    fn is_done(&self) -> bool {
        self.ended || self.op.as_ref().is_none_or(|op| op.is_done())
    }
}

impl Cipher for ClusterOp<dyn Cipher> {
    fn run(&mut self, input: &[u8], mut out: Output) -> Result<usize> {
        self.single(|op| op.run(input, out.as_deref_mut()))
    }

    fn update(&mut self, input: &[u8], out: Output) -> Result<usize> {
        self.multi(|op| op.update(input, out))
    }

    fn finish(&mut self, mut out: Output) -> Result<usize> {
        self.last(|op| op.finish(out.as_deref_mut()))
    }
}

impl Signing for ClusterOp<dyn Signing> {
    fn run(&mut self, input: &[u8], mut out: Output) -> Result<usize> {
        self.single(|op| op.run(input, out.as_deref_mut()))
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.multi(|op| op.update(input))
    }

    fn finish(&mut self, mut out: Output) -> Result<usize> {
        self.last(|op| op.finish(out.as_deref_mut()))
    }
}

impl Verifying for ClusterOp<dyn Verifying> {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.single(|op| op.verify(data, signature))
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.multi(|op| op.update(input))
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        self.last(|op| op.finish(signature))
    }
}

impl Digesting for ClusterOp<dyn Digesting> {
    fn run(&mut self, input: &[u8], mut out: Output) -> Result<usize> {
        self.single(|op| op.run(input, out.as_deref_mut()))
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.multi(|op| op.update(input))
    }

    fn update_key(&mut self, key: ObjectId) -> Result<()> {
        let e = self.inner.table.get(key).ok_or_else(gone)?;
        let h = self
            .inner
            .resolve(key, &e, self.node)?
            .ok_or(Error::rv(CKR_KEY_HANDLE_INVALID, "C_DigestKey"))?;
        self.multi(|op| op.update_key(h))
    }

    fn finish(&mut self, mut out: Output) -> Result<usize> {
        self.last(|op| op.finish(out.as_deref_mut()))
    }
}
