//! Cryptographic operations: Init pins a backend session, the call that ends the
//! operation releases it. Length queries and CKR_BUFFER_TOO_SMALL keep it active;
//! every other error ends it here, whatever the backend does with its own state.

use crate::error::{rule, Error, Result};
use crate::provider::Provider;
use cryptoki_sys::*;
use kmsbridge_bridge::{mech, Mechanism, ObjectId, OpKind, Operation, Output};

impl Provider {
    pub fn op_init(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        m: &Mechanism,
        key: Option<CK_OBJECT_HANDLE>,
    ) -> Result<()> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        if s.op(kind).is_some() {
            return rule(CKR_OPERATION_ACTIVE, "an operation of this kind is active");
        }
        if mech::param_kind(m.ty).is_none() {
            return rule(CKR_MECHANISM_INVALID, "mechanism not carried by kmsbridge");
        }
        let inst = self.instance(s.inst)?;
        let key_id: Option<ObjectId> = match key {
            Some(k) => {
                let e = self.key_object(inst, k, CKR_KEY_HANDLE_INVALID)?;
                inst.kms.check_use(inst, &e)?;
                Some(e.id)
            }
            None => None,
        };
        let op = inst.backend.begin(kind, m, key_id)?;
        s.set_op(kind, op);
        Ok(())
    }

    /// Run `f` on the session's active operation of `kind`, ending it unless it
    /// stays active by the spec's rules.
    fn with_op<T>(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        multipart: bool,
        f: impl FnOnce(&mut dyn Operation) -> kmsbridge_bridge::Result<T>,
    ) -> Result<T> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        let Some(active) = s.op(kind) else {
            return rule(
                CKR_OPERATION_NOT_INITIALIZED,
                "no operation of this kind is active",
            );
        };
        if multipart {
            active.multipart = true;
        }
        let r = f(active.op.as_mut());
        let keep = match &r {
            Ok(_) => !active.op.is_done(),
            Err(e) => matches!(e, kmsbridge_bridge::Error::BufferTooSmall(_)),
        };
        if !keep {
            s.end_op(kind);
        }
        r.map_err(Error::from)
    }

    /// End an operation without running it (a call refused for bad arguments).
    pub fn op_abort(&self, h: CK_SESSION_HANDLE, kind: OpKind) {
        if let Ok(s) = self.session(h) {
            s.state.lock().end_op(kind);
        }
    }

    pub fn op_run(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: Output,
    ) -> Result<usize> {
        self.with_op(h, kind, false, |op| op.run(input, out))
    }

    pub fn op_update_out(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: Output,
    ) -> Result<usize> {
        self.with_op(h, kind, true, |op| op.update_out(input, out))
    }

    pub fn op_update(&self, h: CK_SESSION_HANDLE, kind: OpKind, input: &[u8]) -> Result<()> {
        self.with_op(h, kind, true, |op| op.update(input))
    }

    pub fn op_final(&self, h: CK_SESSION_HANDLE, kind: OpKind, out: Output) -> Result<usize> {
        self.with_op(h, kind, true, |op| op.finish(out))
    }

    pub fn verify(&self, h: CK_SESSION_HANDLE, data: &[u8], sig: &[u8]) -> Result<()> {
        self.with_op(h, OpKind::Verify, false, |op| op.verify(data, sig))
    }

    pub fn verify_final(&self, h: CK_SESSION_HANDLE, sig: &[u8]) -> Result<()> {
        self.with_op(h, OpKind::Verify, true, |op| op.verify_finish(sig))
    }

    pub fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        let (inst, _) = self.ctx(h)?;
        let id = match self
            .key_object(inst, key, CKR_KEY_HANDLE_INVALID)
            .and_then(|e| inst.kms.check_use(inst, &e).map(|_| e))
        {
            Ok(e) => e.id,
            Err(e) => {
                self.op_abort(h, OpKind::Digest);
                return Err(e);
            }
        };
        self.with_op(h, OpKind::Digest, true, |op| op.update_key(id))
    }

    pub fn generate_random(&self, h: CK_SESSION_HANDLE, out: &mut [u8]) -> Result<()> {
        let (inst, _) = self.ctx(h)?;
        Ok(inst.backend.random(out)?)
    }

    pub fn seed_random(&self, h: CK_SESSION_HANDLE, seed: &[u8]) -> Result<()> {
        let (inst, _) = self.ctx(h)?;
        Ok(inst.backend.seed_random(seed)?)
    }

    /// C_SessionCancel: end the operations named by `flags`.
    pub fn session_cancel(&self, h: CK_SESSION_HANDLE, flags: CK_FLAGS) -> Result<()> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        for (flag, kind) in [
            (CKF_ENCRYPT, OpKind::Encrypt),
            (CKF_DECRYPT, OpKind::Decrypt),
            (CKF_SIGN, OpKind::Sign),
            (CKF_VERIFY, OpKind::Verify),
            (CKF_DIGEST, OpKind::Digest),
        ] {
            if flags & flag != 0 {
                s.end_op(kind);
            }
        }
        if flags & CKF_FIND_OBJECTS != 0 {
            s.find = None;
        }
        Ok(())
    }
}
