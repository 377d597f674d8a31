//! Front sessions: virtual, thousands of them share the instance's backend pool.
//! One operation slot per kind, and one find operation.

use cryptoki_sys::*;
use kmsbridge_bridge::{OpKind, Operation};
use parking_lot::Mutex;
use std::sync::Arc;

/// A front session: where it belongs, fixed at open, beside its mutable state, so
/// calls that need only the instance take no session lock.
pub struct SessionSlot {
    pub(crate) inst: usize,
    pub(crate) rw: bool,
    pub(crate) state: Mutex<Session>,
}

pub(crate) type SessionRef = Arc<SessionSlot>;

pub(crate) struct Session {
    /// Index of the instance in the provider.
    pub(crate) inst: usize,
    pub(crate) rw: bool,
    /// One slot per kind, in the order `slot` names them.
    ops: [Option<ActiveOp>; 5],
    pub(crate) find: Option<FindState>,
}

pub(crate) struct ActiveOp {
    pub(crate) op: Box<dyn Operation>,
    /// Set once an Update has been called: single-part calls are refused then.
    pub(crate) multipart: bool,
}

pub(crate) struct FindState {
    pub(crate) results: Vec<CK_OBJECT_HANDLE>,
    pub(crate) pos: usize,
}

impl Session {
    pub(crate) fn new(inst: usize, rw: bool) -> Session {
        Session {
            inst,
            rw,
            ops: Default::default(),
            find: None,
        }
    }

    /// The operation slot of `kind`.
    fn slot(&mut self, kind: OpKind) -> &mut Option<ActiveOp> {
        let [encrypt, decrypt, sign, verify, digest] = &mut self.ops;
        match kind {
            OpKind::Encrypt => encrypt,
            OpKind::Decrypt => decrypt,
            OpKind::Sign => sign,
            OpKind::Verify => verify,
            OpKind::Digest => digest,
        }
    }

    pub(crate) fn op(&mut self, kind: OpKind) -> Option<&mut ActiveOp> {
        self.slot(kind).as_mut()
    }

    pub(crate) fn set_op(&mut self, kind: OpKind, op: Box<dyn Operation>) {
        *self.slot(kind) = Some(ActiveOp {
            op,
            multipart: false,
        });
    }

    /// End an operation; dropping it cancels any backend work still active.
    pub(crate) fn end_op(&mut self, kind: OpKind) {
        *self.slot(kind) = None;
    }

    pub(crate) fn end_all(&mut self) {
        self.ops = Default::default();
        self.find = None;
    }
}
