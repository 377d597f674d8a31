//! Object management: create, copy, destroy, attributes, find.

use crate::error::{rule, Result};
use crate::instance::{Instance, Login};
use crate::objects::ObjEntry;
use crate::provider::Provider;
use crate::rules::{check_create, check_template, default_private};
use crate::session::FindState;
use cryptoki_sys::*;
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
        Ok((&self.instances[inst], rw))
    }

    pub fn create_object(&self, h: CK_SESSION_HANDLE, t: &[Attr]) -> Result<CK_OBJECT_HANDLE> {
        let (inst, rw) = self.ctx(h)?;
        check_create(inst, rw, t, default_private(t))?;
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
        check_create(inst, rw, t, e.private)?;
        let id = inst.backend.copy_object(e.id, t)?;
        self.register(inst, id, h)
    }

    pub fn destroy_object(&self, h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> Result<()> {
        let (inst, rw) = self.ctx(h)?;
        let e = self.visible_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
        if e.token && !rw {
            return rule(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            );
        }
        inst.backend.destroy_object(e.id)?;
        inst.objects.remove(obj);
        Ok(())
    }

    pub fn object_size(&self, h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> Result<u64> {
        let (inst, _) = self.ctx(h)?;
        let e = self.visible_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
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
        let e = self.visible_object(inst, obj, CKR_OBJECT_HANDLE_INVALID)?;
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
        check_template(t)?;
        crate::rules::check_trusted(inst, t)?;
        if e.token && !rw {
            return rule(
                CKR_SESSION_READ_ONLY,
                "token objects need a read/write session",
            );
        }
        inst.backend.set_attributes(e.id, t)?;
        // CKA_PRIVATE or CKA_TOKEN may change only through copy; nothing to refresh.
        Ok(())
    }

    pub fn find_init(&self, h: CK_SESSION_HANDLE, t: &[Attr]) -> Result<()> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        if s.find.is_some() {
            return rule(CKR_OPERATION_ACTIVE, "a find is active");
        }
        let inst = &self.instances[s.inst];
        let mut results = Vec::new();
        if t.iter().all(|a| a.ty < CKA_VENDOR_DEFINED) {
            let mut template = t.to_vec();
            let user = inst.login_state() == Login::User;
            if !user && attr::find(t, CKA_PRIVATE).is_none() {
                template.push(Attr::bool(CKA_PRIVATE, false));
            }
            for id in inst.backend.find(&template)? {
                let (fh, e): (CK_OBJECT_HANDLE, ObjEntry) = inst.discover(id)?;
                if inst.visible(&e) {
                    results.push(fh);
                }
            }
        }
        s.find = Some(FindState { results, pos: 0 });
        Ok(())
    }

    pub fn find_next(&self, h: CK_SESSION_HANDLE, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let s = self.session(h)?;
        let mut s = s.state.lock();
        let Some(f) = s.find.as_mut() else {
            return rule(CKR_OPERATION_NOT_INITIALIZED, "no find is active");
        };
        let end = (f.pos + max).min(f.results.len());
        let out = f.results[f.pos..end].to_vec();
        f.pos = end;
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
