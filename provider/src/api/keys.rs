//! Key generation, wrapping, unwrapping and derivation.

use crate::api::objects::kms_writer;
use crate::audit::hooks;
use crate::config::InstanceType;
use crate::error::{rule, Result};
use crate::instance::Instance;
use crate::objects::Kind;
use crate::provider::Provider;
use crate::rules::{
    check_class, check_create, check_curve, check_key_type, check_template, curve_refused,
    default_private, key_usage,
};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_access::Action;
use kmsbridge_bridge::{attr, mech, Attr, Mechanism, Output};

fn check_mech(inst: &Instance, m: &Mechanism) -> Result<()> {
    inst.check_mechanism(m.ty)
}

/// A fresh key id for a key or key pair that came without one: CKA_ID is the
/// KMS key id, shared by both halves of a pair.
fn key_id(inst: &Instance) -> Result<Vec<u8>> {
    let mut id = vec![0u8; 16];
    inst.backend.random(&mut id)?;
    Ok(id)
}

impl Provider {
    pub fn generate_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: &Mechanism,
        t: &[Attr],
    ) -> Result<CK_OBJECT_HANDLE> {
        let (inst, rw) = self.ctx(h)?;
        check_mech(inst, m)?;
        if !mech::is_key_gen(m.ty) {
            return rule(CKR_MECHANISM_INVALID, "not a key generation mechanism");
        }
        match m.ty {
            CKM_KMSBRIDGE_IMPORT_PARAMETERS => {
                kms_writer(inst, rw)?;
                inst.access.allow_new(inst, t, Action::Import)?;
                let r = crate::kms::import::parameters(inst, t);
                let name = hooks::template_name(t);
                hooks::admin_done(inst, "get-import-parameters", &name, &r);
                return self.register(inst, r?, h);
            }
            CKM_KMSBRIDGE_KEY_ROTATE => {
                kms_writer(inst, rw)?;
                inst.access.allow_new(inst, t, Action::Rotate)?;
                let r = crate::kms::rotate::rotate(inst, t);
                inst.audit
                    .lifecycle(None, "rotate", &hooks::template_name(t), r.is_ok());
                return self.register(inst, r?, h);
            }
            CKM_KMSBRIDGE_CLUSTER_INIT => {
                let r = crate::cluster_admin::init(inst, rw, t);
                hooks::admin_done(inst, "cluster-init", "cluster", &r);
                return self.register(inst, r?, h);
            }
            _ => {}
        }
        check_create(inst, rw, t, true)?;
        check_class(t, &[CKO_SECRET_KEY])?;
        let mut t = t.to_vec();
        if attr::find(&t, CKA_ID).is_none() {
            t.push(Attr::new(CKA_ID, key_id(inst)?));
        }
        inst.access.allow_new(inst, &t, Action::Generate)?;
        self.admit_for(h, inst, m.ty)?;
        let r = inst.backend.generate_key(m, &t);
        inst.audit
            .lifecycle(None, "create", &hooks::template_name(&t), r.is_ok());
        self.register(inst, r?, h)
    }

    pub fn generate_key_pair(
        &self,
        h: CK_SESSION_HANDLE,
        m: &Mechanism,
        public: &[Attr],
        private: &[Attr],
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let (inst, rw) = self.ctx(h)?;
        check_mech(inst, m)?;
        if !mech::is_key_pair_gen(m.ty) {
            return rule(CKR_MECHANISM_INVALID, "not a key pair mechanism");
        }
        check_create(inst, rw, public, false)?;
        check_create(inst, rw, private, true)?;
        check_class(public, &[CKO_PUBLIC_KEY])?;
        check_class(private, &[CKO_PRIVATE_KEY])?;
        let known_curve = check_curve(m.ty, public)?;
        if !known_curve && inst.kind != InstanceType::Hardware {
            return rule(CKR_CURVE_NOT_SUPPORTED, "curve not offered");
        }
        let (mut public, mut private) = (public.to_vec(), private.to_vec());
        match (
            attr::find(&public, CKA_ID).cloned(),
            attr::find(&private, CKA_ID).cloned(),
        ) {
            (None, None) => {
                let id = key_id(inst)?;
                public.push(Attr::new(CKA_ID, id.clone()));
                private.push(Attr::new(CKA_ID, id));
            }
            (Some(id), None) => private.push(id),
            (None, Some(id)) => public.push(id),
            (Some(_), Some(_)) => {}
        }
        inst.access.allow_new(inst, &public, Action::Generate)?;
        inst.access.allow_new(inst, &private, Action::Generate)?;
        self.admit_for(h, inst, m.ty)?;
        let mut r = inst.backend.generate_key_pair(m, &public, &private);
        if !known_curve {
            r = r.map_err(curve_refused);
        }
        let name = hooks::template_name(&private);
        inst.audit.lifecycle(None, "create", &name, r.is_ok());
        let (pu, pr) = r?;
        let hpu = self.register(inst, pu, h)?;
        let hpr = self.register(inst, pr, h)?;
        Ok((hpu, hpr))
    }

    pub fn wrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: &Mechanism,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: Output,
    ) -> Result<usize> {
        let (inst, _) = self.ctx(h)?;
        check_mech(inst, m)?;
        let w = self.key_object(inst, wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID)?;
        let k = self.key_object(inst, key, CKR_KEY_HANDLE_INVALID)?;
        inst.kms.check_use(inst, &w)?;
        inst.kms.check_use(inst, &k)?;
        // Both keys take part: the wrapping key wraps, the wrapped one leaves.
        inst.access.allow(inst, &w, Action::Wrap)?;
        inst.access.allow(inst, &k, Action::Wrap)?;
        check_key_type(m.ty, w.key_type, CKR_WRAPPING_KEY_TYPE_INCONSISTENT)?;
        key_usage::check_wrap(inst, &w, &k)?;
        self.admit_for(h, inst, m.ty)?;
        let counted = out.is_some();
        let n = inst.backend.wrap_key(m, w.id, k.id, out)?;
        if counted {
            inst.audit.key_used(w.id, "wrap");
            inst.audit.key_used(k.id, "export");
            inst.audit.flush_if_due();
        }
        Ok(n)
    }

    pub fn unwrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: &Mechanism,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        t: &[Attr],
    ) -> Result<CK_OBJECT_HANDLE> {
        let (inst, rw) = self.ctx(h)?;
        check_mech(inst, m)?;
        let u = self.key_object(inst, unwrapping, CKR_UNWRAPPING_KEY_HANDLE_INVALID)?;
        if u.kind == Kind::ImportPublic || attr::find(t, CKA_KMSBRIDGE_IMPORT_TOKEN).is_some() {
            kms_writer(inst, rw)?;
            inst.access.allow_new(inst, t, Action::Import)?;
            self.admit_for(h, inst, m.ty)?;
            let r = crate::kms::import::import(inst, m, &u, wrapped, t);
            let name = match &r {
                Ok(id) => inst.audit.name_of(*id).to_string(),
                Err(_) => hooks::template_name(t),
            };
            inst.audit.import(None, &name, r.is_ok());
            return self.register(inst, r?, h);
        }
        check_template(t)?;
        inst.kms.check_use(inst, &u)?;
        inst.access.allow(inst, &u, Action::Unwrap)?;
        check_key_type(m.ty, u.key_type, CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)?;
        check_create(inst, rw, t, default_private(t))?;
        check_class(t, &[CKO_SECRET_KEY, CKO_PRIVATE_KEY])?;
        let sensitive = key_usage::unwrap_template(inst, &u, t)?;
        let t = sensitive.as_deref().unwrap_or(t);
        inst.access.allow_new(inst, t, Action::Generate)?;
        self.admit_for(h, inst, m.ty)?;
        let id = inst.backend.unwrap_key(m, u.id, wrapped, t)?;
        inst.audit.key_used(u.id, "unwrap");
        inst.audit.flush_if_due();
        self.register(inst, id, h)
    }

    pub fn derive_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: &Mechanism,
        base: CK_OBJECT_HANDLE,
        t: &[Attr],
    ) -> Result<CK_OBJECT_HANDLE> {
        let (inst, rw) = self.ctx(h)?;
        check_mech(inst, m)?;
        let b = self.key_object(inst, base, CKR_KEY_HANDLE_INVALID)?;
        inst.kms.check_use(inst, &b)?;
        inst.access.allow(inst, &b, Action::Derive)?;
        check_key_type(m.ty, b.key_type, CKR_KEY_TYPE_INCONSISTENT)?;
        // ECDH takes the private half; the public key of the right type is not a base
        // key for it (as the software engine answers).
        if b.class != CKO_PRIVATE_KEY {
            return rule(
                CKR_KEY_TYPE_INCONSISTENT,
                "the base key is not a private key",
            );
        }
        check_create(inst, rw, t, true)?;
        check_class(t, &[CKO_SECRET_KEY])?;
        inst.access.allow_new(inst, t, Action::Generate)?;
        self.admit_for(h, inst, m.ty)?;
        let id = inst.backend.derive_key(m, b.id, t)?;
        inst.audit.key_used(b.id, "derive");
        inst.audit.flush_if_due();
        self.register(inst, id, h)
    }
}
