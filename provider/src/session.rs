//! Front sessions: virtual, thousands of them share the instance's backend pool.
//! One operation slot per kind, and one find operation.

use cryptoki_sys::*;
use kmsbridge_bridge::{Cipher, Digesting, OpKind, Signing, Verifying};
use parking_lot::Mutex;
use std::sync::Arc;

/// A front session: where it belongs, fixed at open, beside its mutable state, so
/// calls that need only the instance take no session lock.
pub struct SessionSlot {
    pub(crate) inst: usize,
    pub(crate) rw: bool,
    pub(crate) state: Mutex<Session>,
    /// `CK_SESSION_INFO.ulDeviceError`: set by a quota refusal (provider/src/quota).
    pub(crate) device_error: std::sync::atomic::AtomicU64,
}

pub(crate) type SessionRef = Arc<SessionSlot>;

pub(crate) struct Session {
    /// Index of the instance in the provider.
    pub(crate) inst: usize,
    pub(crate) rw: bool,
    pub(crate) ops: Ops,
    pub(crate) find: Option<FindState>,
}

/// The active operations: one slot per kind, each of its kind's trait.
#[derive(Default)]
pub(crate) struct Ops {
    pub(crate) encrypt: Option<Active<dyn Cipher>>,
    pub(crate) decrypt: Option<Active<dyn Cipher>>,
    pub(crate) sign: Option<Active<dyn Signing>>,
    pub(crate) verify: Option<Active<dyn Verifying>>,
    pub(crate) digest: Option<Active<dyn Digesting>>,
}

pub(crate) struct Active<O: ?Sized> {
    pub(crate) op: Box<O>,
    /// Set once an Update has been called: single-part calls are refused then.
    pub(crate) multipart: bool,
    /// The key has CKA_ALWAYS_AUTHENTICATE and no C_Login(CKU_CONTEXT_SPECIFIC) has
    /// authorised this operation yet.
    pub(crate) needs_login: bool,
}

impl<O: ?Sized> Active<O> {
    pub(crate) fn new(op: Box<O>) -> Option<Active<O>> {
        Some(Active {
            op,
            multipart: false,
            needs_login: false,
        })
    }
}

impl Ops {
    pub(crate) fn is_active(&self, kind: OpKind) -> bool {
        match kind {
            OpKind::Encrypt => self.encrypt.is_some(),
            OpKind::Decrypt => self.decrypt.is_some(),
            OpKind::Sign => self.sign.is_some(),
            OpKind::Verify => self.verify.is_some(),
            OpKind::Digest => self.digest.is_some(),
        }
    }

    /// The active operation waiting for a context-specific login, if any: only
    /// private-key operations (sign, decrypt) use keys that may ask for one.
    pub(crate) fn awaiting_login(&mut self) -> Option<&mut bool> {
        [
            self.sign.as_mut().map(|a| &mut a.needs_login),
            self.decrypt.as_mut().map(|a| &mut a.needs_login),
        ]
        .into_iter()
        .flatten()
        .find(|n| **n)
    }

    /// Mark the operation of `kind` as needing a context-specific login.
    pub(crate) fn require_login(&mut self, kind: OpKind) {
        match kind {
            OpKind::Sign => {
                if let Some(a) = self.sign.as_mut() {
                    a.needs_login = true;
                }
            }
            OpKind::Decrypt => {
                if let Some(a) = self.decrypt.as_mut() {
                    a.needs_login = true;
                }
            }
            _ => {}
        }
    }

    /// End an operation; dropping it cancels any backend work still active.
    pub(crate) fn end(&mut self, kind: OpKind) {
        match kind {
            OpKind::Encrypt => self.encrypt = None,
            OpKind::Decrypt => self.decrypt = None,
            OpKind::Sign => self.sign = None,
            OpKind::Verify => self.verify = None,
            OpKind::Digest => self.digest = None,
        }
    }
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
            ops: Ops::default(),
            find: None,
        }
    }

    pub(crate) fn end_all(&mut self) {
        self.ops = Ops::default();
        self.find = None;
    }
}
