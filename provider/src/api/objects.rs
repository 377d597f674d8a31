//! Object management: create, copy, destroy, attributes, find.

use crate::error::{rule, Result};
use crate::instance::{Instance, Login};
use crate::kms::attrs::is_vendor;
use crate::objects::{Kind, ObjEntry};
use crate::provider::Provider;
use crate::rules::{check_create, check_template, default_private};
use crate::session::FindState;
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_access::Action;
use kmsbridge_bridge::{attr, Attr, AttrReq, ObjectId};

impl Provider {
    /// Register a backend object made by session `h` and return its front handle.
    pub(crate) fn register(
        &self,
        inst: &Instance,
        id: ObjectId,
        h: CK_SESSION_HANDLE,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (handle, entry) = inst.discover(id)?;
        if !entry.token {
            inst.objects.set_owner(handle, h);
        }
        Ok(handle)
    }

    /// The session's instance and RW flag, for calls that need nothing else: one
    /// read of the session table, no session lock.
    pub(crate) fn ctx(&self, h: CK_SESSION_HANDLE) -> Result<(&Instance, bool)> {
        let (inst, rw) =
            self.sessions_read(h, |s| (s.inst, s.rw))
                .ok_or(crate::error::Error::Rule {
                    rv: CKR_SESSION_HANDLE_INVALID,
                    why: "unknown session handle",
                })?;
        Ok((self.instance(inst)?, rw))
    }

    pub fn create_object(&self, h: CK_SESSION_HANDLE, t: &[Attr]) -> Result<CK_OBJECT_HANDLE> {
        let (inst, rw) = self.ctx(h)?;
        let class = attr::find(t, CKA_CLASS).and_then(|a| a.as_ulong());
        if class == Some(CKO_KMSBRIDGE_ACCESS_POINT) {
            return crate::access::objects::create(inst, rw, t);
        }
        if class == Some(CKO_DATA) && crate::secrets::is_secret_template(t) {
            return crate::secrets::create(inst, rw, t);
        }
        if class == Some(CKO_KMSBRIDGE_KEY) {
            kms_writer(inst, rw)?;
            inst.access.allow_new(inst, t, Action::Generate)?;
            let r = crate::kms::create::create_record(inst, t)
                .and_then(|id| self.register(inst, id, h));
            let name = match r.as_ref().ok().and_then(|fh| inst.objects.get(*fh)) {
                Some(e) => crate::audit::hooks::object_name(inst, &e).to_string(),
                None => crate::audit::hooks::template_name(t),
            };
            inst.audit.lifecycle(None, "create", &name, r.is_ok());
            return r;
        }
        check_create(inst, rw, t, default_private(t))?;
        inst.access.allow_new(inst, t, Action::Generate)?;
        crate::rules::check_values(t)?;
        let id = inst.backend.create_object(t)?;
        self.register(inst, id, h)
    }

    pub fn copy_object(
        &self,
        h: CK_SESSION_HANDLE,
        obj: CK_OBJECT_HANDLE,
        t: &[Attr],
    ) -> Result<CK_OBJECT_HANDLE> {
        let (inst, rw) = self.ctx(h)?;
        let e = self.visible_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
        if e.kind != Kind::Plain {
            return rule(
                CKR_ACTION_PROHIBITED,
                "kmsbridge's own objects are not copied",
            );
        }
        keeps_kms_id(inst, &e, t)?;
        check_create(inst, rw, t, e.private)?;
        crate::rules::key_usage::check_usage_change(inst, &e, t)?;
        // A copy is a new object: allowed on what it is copied from, and under the
        // names it is given.
        inst.access.allow(inst, &e, Action::Generate)?;
        inst.access.allow_renamed(inst, &e, t, Action::Generate)?;
        let id = inst.backend.copy_object(e.id, t)?;
        self.register(inst, id, h)
    }

    pub fn destroy_object(&self, h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> Result<()> {
        let (inst, rw) = self.ctx(h)?;
        let e = self.visible_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
        if matches!(e.kind, Kind::Node | Kind::Audit) {
            return rule(
                CKR_ACTION_PROHIBITED,
                "node and audit objects are not destroyed",
            );
        }
        if e.kind == Kind::AccessPoint {
            return crate::access::objects::destroy(inst, rw, obj, &e);
        }
        if e.kind == Kind::Secret {
            return crate::secrets::destroy(inst, rw, obj);
        }
        if e.token && !rw {
            return rule(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            );
        }
        if e.kind == Kind::Record || inst.kms.get(inst, e.kid).is_some() {
            return rule(
                CKR_ACTION_PROHIBITED,
                "KMS keys are deleted by scheduling their deletion",
            );
        }
        inst.access.allow(inst, &e, Action::ScheduleDeletion)?;
        inst.backend.destroy_object(e.id)?;
        inst.objects.remove(obj);
        inst.access.renamed(&e);
        Ok(())
    }

    pub fn object_size(&self, h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> Result<u64> {
        let (inst, _) = self.ctx(h)?;
        let e = self.readable_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
        if matches!(e.kind, Kind::Node | Kind::Audit | Kind::Secret) {
            // No backend object behind it: its size is not known.
            // CK_UNAVAILABLE_INFORMATION once narrowed to CK_ULONG, whatever its width.
            return Ok(u64::MAX);
        }
        Ok(inst.backend.object_size(e.id)?)
    }

    /// Answers every request in place; returns the call's code (OK, SENSITIVE,
    /// TYPE_INVALID or BUFFER_TOO_SMALL) as the spec orders them.
    pub fn get_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        obj: CK_OBJECT_HANDLE,
        reqs: &mut [AttrReq],
    ) -> Result<CK_RV> {
        let (inst, _) = self.ctx(h)?;
        let e = self.readable_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
        if e.kind == Kind::Node {
            return crate::cluster_objects::get(inst, &e, reqs);
        }
        if e.kind == Kind::AccessPoint {
            return crate::access::objects::get(inst, &e, reqs);
        }
        if e.kind == Kind::Secret {
            return crate::secrets::get(inst, obj, &e, reqs);
        }
        if e.kind == Kind::Audit {
            return crate::audit::object::get(inst, reqs);
        }
        let value_len = e.kid != 0 && reqs.iter().any(|r| r.ty == CKA_VALUE_LEN);
        if e.kind == Kind::Record || value_len || reqs.iter().any(|r| is_vendor(r.ty)) {
            return crate::kms::attrs::get(inst, &e, reqs);
        }
        Ok(inst.backend.get_attributes(e.id, reqs)?)
    }

    pub fn set_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        obj: CK_OBJECT_HANDLE,
        t: &[Attr],
    ) -> Result<()> {
        let (inst, rw) = self.ctx(h)?;
        let e = self.visible_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
        if matches!(e.kind, Kind::Node | Kind::Audit) {
            return rule(
                CKR_ACTION_PROHIBITED,
                "node and audit objects do not change",
            );
        }
        if e.kind == Kind::AccessPoint {
            return crate::access::objects::set(inst, rw, &e, t);
        }
        if e.kind == Kind::Secret {
            return crate::secrets::set(inst, rw, obj, t);
        }
        if e.kind == Kind::Record || t.iter().any(|a| is_vendor(a.ty)) {
            if t.iter().any(|a| !is_vendor(a.ty)) && e.kind != Kind::Record {
                return rule(
                    CKR_TEMPLATE_INCONSISTENT,
                    "kmsbridge attributes are set on their own",
                );
            }
            kms_writer(inst, rw)?;
            inst.access
                .allow(inst, &e, crate::access::lifecycle_action(t))?;
            let (action, name) = (
                crate::audit::hooks::state_change(inst, &e, t),
                crate::audit::hooks::object_name(inst, &e),
            );
            let r = crate::kms::lifecycle::set(inst, &e, t);
            inst.audit.lifecycle(None, action, &name, r.is_ok());
            return r;
        }
        check_template(t)?;
        crate::rules::check_trusted(inst, t)?;
        if e.token && !rw {
            return rule(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            );
        }
        if e.kind != Kind::Plain {
            return rule(CKR_ACTION_PROHIBITED, "kmsbridge's own keys do not change");
        }
        crate::kms::rotate::check_older_version(inst, &e, t)?;
        keeps_kms_id(inst, &e, t)?;
        crate::rules::key_usage::check_usage_change(inst, &e, t)?;
        inst.access.allow(inst, &e, Action::Update)?;
        // The new names must be within the policy too.
        inst.access.allow_renamed(inst, &e, t, Action::Update)?;
        inst.backend.set_attributes(e.id, t)?;
        inst.access.renamed(&e);
        if let Some(on) = attr::find(t, CKA_ALWAYS_AUTHENTICATE).and_then(|a| a.as_bool()) {
            if e.class == CKO_PRIVATE_KEY {
                inst.objects.set_always_auth(obj, on);
            }
        }
        // CKA_PRIVATE or CKA_TOKEN may change only through copy; nothing to refresh.
        Ok(())
    }

    pub fn find_init(&self, h: CK_SESSION_HANDLE, t: &[Attr]) -> Result<()> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        if s.find.is_some() {
            return rule(CKR_OPERATION_ACTIVE, "a find is active");
        }
        let inst = self.instance(s.inst)?;
        let results = self.find_objects(inst, t)?;
        s.find = Some(FindState { results, pos: 0 });
        Ok(())
    }

    pub fn find_next(&self, h: CK_SESSION_HANDLE, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        let Some(f) = s.find.as_mut() else {
            return rule(CKR_OPERATION_NOT_INITIALIZED, "no find is active");
        };
        let out: Vec<CK_OBJECT_HANDLE> = f.results.iter().skip(f.pos).take(max).copied().collect();
        f.pos += out.len();
        Ok(out)
    }

    pub fn find_final(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        if s.find.take().is_none() {
            return rule(CKR_OPERATION_NOT_INITIALIZED, "no find is active");
        }
        Ok(())
    }
}

impl Provider {
    /// The objects a find template selects, in the order the backend gives them.
    fn find_objects(&self, inst: &Instance, t: &[Attr]) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let user = inst.login_state() == Login::User;
        let (vendor, mut std): (Vec<Attr>, Vec<Attr>) =
            t.iter().cloned().partition(|a| is_vendor(a.ty));
        let class = attr::find(&std, CKA_CLASS).and_then(|a| a.as_ulong());
        if class == Some(CKO_KMSBRIDGE_NODE) {
            // Nodes: public, read live, never a backend's objects.
            return Ok(crate::cluster_objects::find(inst, t));
        }
        if class == Some(CKO_KMSBRIDGE_ACCESS_POINT) {
            return crate::access::objects::find(inst, t);
        }
        if class == Some(CKO_KMSBRIDGE_AUDIT) {
            return crate::audit::object::find(inst, t);
        }
        if crate::secrets::is_secret_template(t) {
            return crate::secrets::find(inst, t);
        }
        let mut results = Vec::new();
        if class == Some(CKO_KMSBRIDGE_KEY) {
            // Key records: private, so only for the user.
            if !user {
                return Ok(results);
            }
            for s in inst.kms.all(inst) {
                let (fh, e) = inst.discover(s.obj)?;
                let std_ok = std.iter().all(|a| {
                    crate::kms::attrs::record_value(&s.rec, a.ty).as_deref() == Some(&a.value[..])
                });
                if std_ok && inst.visible(&e) && crate::kms::attrs::matches(inst, &e, &vendor)? {
                    results.push(fh);
                }
            }
            return Ok(results);
        }
        if attr::find(&vendor, CKA_KMSBRIDGE_DEFAULT_KEY).and_then(|a| a.as_bool()) == Some(true) {
            if !user {
                return Ok(results);
            }
            let d = crate::kms::create::default_key(inst)?;
            if attr::find(&std, CKA_ID).is_none() {
                std.push(Attr::new(CKA_ID, d.rec.id_bytes()));
            }
        }
        crate::kms::rotate::version_template(inst, &mut std, &vendor);
        if !user && attr::find(&std, CKA_PRIVATE).is_none() {
            std.push(Attr::bool(CKA_PRIVATE, false));
        }
        for id in inst.backend.find(&std)? {
            let (fh, e): (CK_OBJECT_HANDLE, ObjEntry) = inst.discover(id)?;
            let shown = matches!(e.kind, Kind::Plain | Kind::ImportPublic);
            if shown && inst.visible(&e) && crate::kms::attrs::matches(inst, &e, &vendor)? {
                results.push(fh);
            }
        }
        // Secrets are CKO_DATA objects like any other to finds by class and label.
        if class.is_none_or(|c| c == CKO_DATA) && vendor.is_empty() {
            results.extend(crate::secrets::find(inst, t)?);
        }
        Ok(results)
    }
}

/// A KMS key's objects keep its id: a new CKA_ID would take them out of the key's
/// lifecycle (a disabled key renamed would be usable again elsewhere).
fn keeps_kms_id(inst: &Instance, e: &ObjEntry, t: &[Attr]) -> Result<()> {
    if attr::find(t, CKA_ID).is_some() && inst.kms.get(inst, e.kid).is_some() {
        return rule(
            CKR_ATTRIBUTE_READ_ONLY,
            "a KMS key's objects keep its key id",
        );
    }
    Ok(())
}

/// Changes to KMS keys need the user and a read/write session.
pub(crate) fn kms_writer(inst: &Instance, rw: bool) -> Result<()> {
    if !rw {
        return rule(
            CKR_SESSION_READ_ONLY,
            "KMS key changes need a read/write session",
        );
    }
    if inst.login_state() != Login::User {
        return rule(
            CKR_USER_NOT_LOGGED_IN,
            "KMS key changes need the user logged in",
        );
    }
    Ok(())
}
