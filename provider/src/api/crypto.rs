//! Cryptographic operations: Init pins a backend session, the call that ends the
//! operation releases it. Length queries and CKR_BUFFER_TOO_SMALL keep it active;
//! every other error ends it here, whatever the backend does with its own state.

use crate::audit::hooks;
use crate::error::{rule, Error, Result};
use crate::provider::Provider;
use crate::rules::check_key_type;
use crate::session::{Active, Ops};
use cryptoki_sys::*;
use kmsbridge_access::Action;
use kmsbridge_bridge::{Mechanism, ObjectId, OpKind, Operation, Output};

/// The policy action of an operation kind (C_DigestInit names no key).
fn action_of(kind: OpKind) -> Action {
    match kind {
        OpKind::Encrypt => Action::Encrypt,
        OpKind::Decrypt => Action::Decrypt,
        OpKind::Sign => Action::Sign,
        OpKind::Verify | OpKind::Digest => Action::Verify,
    }
}

/// One operation slot of a session.
type Slot<O> = fn(&mut Ops) -> &mut Option<Active<O>>;

impl Provider {
    /// False when session `h`'s instance does not list mechanism `ty` (C_GetMechanismList),
    /// so an Init refuses it (CKR_MECHANISM_INVALID) before reading its parameter; true
    /// when that cannot be told here (a bad session is answered after). Asked only for
    /// mechanisms that take a parameter: for the others the backend's own Init answers
    /// first anyway, and the list is not read on their hot path.
    pub fn offers(&self, h: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE) -> bool {
        use kmsbridge_bridge::mech::{param_kind, ParamKind};
        if matches!(param_kind(ty), None | Some(ParamKind::None)) {
            return true;
        }
        let Some(i) = self.sessions_read(h, |s| s.inst) else {
            return true;
        };
        let Ok(inst) = self.instance(i) else {
            return true;
        };
        match inst.backend.mechanisms() {
            Ok(list) => list.iter().any(|(t, _)| *t == ty),
            Err(_) => true,
        }
    }

    pub fn op_init(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        m: &Mechanism,
        key: Option<CK_OBJECT_HANDLE>,
    ) -> Result<()> {
        let slot = self.session(h)?;
        let mut s = slot.state.lock();
        if s.ops.is_active(kind) {
            return rule(CKR_OPERATION_ACTIVE, "an operation of this kind is active");
        }
        let inst = self.instance(s.inst)?;
        inst.check_mechanism(m.ty)?;
        let mut always_auth = false;
        let key_id: Option<ObjectId> = match key {
            Some(k) => {
                let e = self.key_object(inst, k, CKR_KEY_HANDLE_INVALID)?;
                inst.kms.check_use(inst, &e).inspect_err(|err| {
                    let (action, name) = (hooks::op_action(kind), hooks::object_name(inst, &e));
                    inst.audit.denied(None, action, &name, &hooks::reason(err));
                })?;
                inst.access.allow(inst, &e, action_of(kind))?;
                check_key_type(m.ty, e.key_type, CKR_KEY_TYPE_INCONSISTENT)?;
                always_auth = e.always_auth;
                Some(e.id)
            }
            None => None,
        };
        // Every Init but C_DigestInit names a key.
        let key = || match key_id {
            Some(id) => Ok(id),
            None => rule(CKR_KEY_HANDLE_INVALID, "the operation needs a key"),
        };
        // After every check, so a refused request costs no turn.
        crate::quota::admit_in(&slot, inst, m.ty)?;
        // Before the operation holds a backend session: writing may need one.
        inst.audit.flush_if_due();
        let b = &inst.backend;
        let ops = &mut s.ops;
        match kind {
            OpKind::Encrypt => ops.encrypt = Active::new(b.begin_encrypt(m, key()?)?),
            OpKind::Decrypt => ops.decrypt = Active::new(b.begin_decrypt(m, key()?)?),
            OpKind::Sign => ops.sign = Active::new(b.begin_sign(m, key()?)?),
            OpKind::Verify => ops.verify = Active::new(b.begin_verify(m, key()?)?),
            OpKind::Digest => ops.digest = Active::new(b.begin_digest(m)?),
        }
        if always_auth {
            ops.require_login(kind);
        }
        if let Some(id) = key_id {
            inst.audit.key_used(id, hooks::op_action(kind));
        }
        Ok(())
    }

    /// Run `f` on the session's active operation in `slot`, ending it unless it
    /// stays active by the spec's rules.
    fn with_op<O: ?Sized + Operation, T>(
        &self,
        h: CK_SESSION_HANDLE,
        slot: Slot<O>,
        multipart: bool,
        f: impl FnOnce(&mut O) -> kmsbridge_bridge::Result<T>,
    ) -> Result<T> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        let slot = slot(&mut s.ops);
        let Some(active) = slot.as_mut() else {
            return rule(
                CKR_OPERATION_NOT_INITIALIZED,
                "no operation of this kind is active",
            );
        };
        if active.needs_login {
            // The spec: a call using the key without the context login fails, and
            // like any failing call (length queries included) it ends the operation.
            *slot = None;
            return rule(
                CKR_USER_NOT_LOGGED_IN,
                "the key needs C_Login(CKU_CONTEXT_SPECIFIC) for each operation",
            );
        }
        if multipart {
            active.multipart = true;
        }
        let r = f(active.op.as_mut());
        let keep = match &r {
            Ok(_) => !active.op.is_done(),
            Err(e) => matches!(e, kmsbridge_bridge::Error::BufferTooSmall(_)),
        };
        if !keep {
            *slot = None;
        }
        r.map_err(Error::from)
    }

    /// End an operation without running it (a call refused for bad arguments).
    pub fn op_abort(&self, h: CK_SESSION_HANDLE, kind: OpKind) {
        if let Ok(s) = self.session(h) {
            s.state.lock().ops.end(kind);
        }
    }

    pub fn encrypt(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.encrypt, false, |op| op.run(input, out))
    }

    pub fn encrypt_update(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.encrypt, true, |op| op.update(input, out))
    }

    pub fn encrypt_final(&self, h: CK_SESSION_HANDLE, out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.encrypt, true, |op| op.finish(out))
    }

    pub fn decrypt(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.decrypt, false, |op| op.run(input, out))
    }

    pub fn decrypt_update(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.decrypt, true, |op| op.update(input, out))
    }

    pub fn decrypt_final(&self, h: CK_SESSION_HANDLE, out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.decrypt, true, |op| op.finish(out))
    }

    pub fn sign(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.sign, false, |op| op.run(input, out))
    }

    pub fn sign_update(&self, h: CK_SESSION_HANDLE, input: &[u8]) -> Result<()> {
        self.with_op(h, |o| &mut o.sign, true, |op| op.update(input))
    }

    pub fn sign_final(&self, h: CK_SESSION_HANDLE, out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.sign, true, |op| op.finish(out))
    }

    pub fn verify(&self, h: CK_SESSION_HANDLE, data: &[u8], sig: &[u8]) -> Result<()> {
        self.with_op(h, |o| &mut o.verify, false, |op| op.verify(data, sig))
    }

    pub fn verify_update(&self, h: CK_SESSION_HANDLE, input: &[u8]) -> Result<()> {
        self.with_op(h, |o| &mut o.verify, true, |op| op.update(input))
    }

    pub fn verify_final(&self, h: CK_SESSION_HANDLE, sig: &[u8]) -> Result<()> {
        self.with_op(h, |o| &mut o.verify, true, |op| op.finish(sig))
    }

    pub fn digest(&self, h: CK_SESSION_HANDLE, input: &[u8], out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.digest, false, |op| op.run(input, out))
    }

    pub fn digest_update(&self, h: CK_SESSION_HANDLE, input: &[u8]) -> Result<()> {
        self.with_op(h, |o| &mut o.digest, true, |op| op.update(input))
    }

    pub fn digest_final(&self, h: CK_SESSION_HANDLE, out: Output) -> Result<usize> {
        self.with_op(h, |o| &mut o.digest, true, |op| op.finish(out))
    }

    pub fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        let (inst, _) = self.ctx(h)?;
        let id = match self
            .key_object(inst, key, CKR_KEY_HANDLE_INVALID)
            .and_then(|e| inst.kms.check_use(inst, &e).map(|_| e))
            // The digest of a key's value depends on the key as a wrap would.
            .and_then(|e| inst.access.allow(inst, &e, Action::Wrap).map(|_| e))
        {
            Ok(e) => e.id,
            Err(e) => {
                self.op_abort(h, OpKind::Digest);
                return Err(e);
            }
        };
        let backend = &inst.backend;
        self.with_op(h, |o| &mut o.digest, true, |op| backend.digest_key(op, id))
    }

    pub fn generate_random(&self, h: CK_SESSION_HANDLE, out: &mut [u8]) -> Result<()> {
        let (inst, _) = self.ctx(h)?;
        Ok(inst.backend.random(out)?)
    }

    /// C_SeedRandom: no instance mixes an application's seed into its generator (the
    /// software DRBG reseeds from the OS; an HSM's generator serves every application of
    /// the instance), so both kinds answer CKR_RANDOM_SEED_NOT_SUPPORTED alike.
    pub fn seed_random(&self, h: CK_SESSION_HANDLE, _seed: &[u8]) -> Result<()> {
        self.ctx(h)?;
        rule(
            CKR_RANDOM_SEED_NOT_SUPPORTED,
            "application seeds are not mixed into the instance's generator",
        )
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
                s.ops.end(kind);
            }
        }
        if flags & CKF_FIND_OBJECTS != 0 {
            s.find = None;
        }
        Ok(())
    }
}
