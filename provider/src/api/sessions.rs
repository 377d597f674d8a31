//! Sessions, login and PINs.

use crate::audit::hooks;
use crate::error::{rule, Result};
use crate::instance::Login;
use crate::provider::Provider;
use cryptoki_sys::*;

/// Sessions one application may hold at once, over all instances.
pub(super) const MAX_SESSIONS: usize = 1 << 20;

impl Provider {
    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        let inst = self.instance_index(slot)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return rule(
                CKR_SESSION_PARALLEL_NOT_SUPPORTED,
                "CKF_SERIAL_SESSION must be set",
            );
        }
        let rw = flags & CKF_RW_SESSION != 0;
        if !rw && self.instance(inst)?.login_state() == Login::So {
            return rule(
                CKR_SESSION_READ_WRITE_SO_EXISTS,
                "the SO is logged in: sessions must be read/write",
            );
        }
        if self
            .instances
            .iter()
            .map(|i| i.session_count())
            .sum::<usize>()
            >= MAX_SESSIONS
        {
            return rule(CKR_SESSION_COUNT, "too many open sessions");
        }
        self.add_session(inst, rw)
    }

    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        self.remove_session(h)
    }

    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<()> {
        let inst = self.instance_index(slot)?;
        self.instance(inst)?.audit.flush();
        for h in self.sessions_of(inst) {
            let _ = self.remove_session(h);
        }
        Ok(())
    }

    pub fn session_info(&self, h: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO> {
        let slot = self.session(h)?;
        let s = slot.state.lock();
        let inst = self.instance(s.inst)?;
        let state = match (inst.login_state(), s.rw) {
            (Login::Public, false) => CKS_RO_PUBLIC_SESSION,
            (Login::Public, true) => CKS_RW_PUBLIC_SESSION,
            (Login::User, false) => CKS_RO_USER_FUNCTIONS,
            (Login::User, true) => CKS_RW_USER_FUNCTIONS,
            (Login::So, _) => CKS_RW_SO_FUNCTIONS,
        };
        Ok(CK_SESSION_INFO {
            slotID: inst.slot_id,
            state,
            flags: CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 },
            ulDeviceError: slot.device_error.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    pub fn login(&self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        self.login_as(h, user, pin, None)
    }

    /// C_LoginUser: `username` names the access point the client key belongs to.
    pub fn login_user(
        &self,
        h: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: &[u8],
        username: &[u8],
    ) -> Result<()> {
        let Ok(name) = std::str::from_utf8(username) else {
            return rule(CKR_ARGUMENTS_BAD, "the user name is not UTF-8");
        };
        // Named users are access points; other user types ignore the name.
        let name = (user == CKU_USER).then_some(name);
        self.login_as(h, user, pin, name)
    }

    fn login_as(
        &self,
        h: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: &[u8],
        username: Option<&str>,
    ) -> Result<()> {
        let inst_idx = self.session(h)?.inst;
        let inst = self.instance(inst_idx)?;
        let wanted = match user {
            CKU_USER => Login::User,
            CKU_SO => Login::So,
            CKU_CONTEXT_SPECIFIC => return self.context_login(h, pin),
            _ => return rule(CKR_USER_TYPE_INVALID, "unknown user type"),
        };
        match inst.login_state() {
            Login::Public => {}
            s if s == wanted => return rule(CKR_USER_ALREADY_LOGGED_IN, "already logged in"),
            _ => {
                return rule(
                    CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
                    "the other user is logged in",
                )
            }
        }
        if wanted == Login::So && inst.has_ro_session() {
            return rule(
                CKR_SESSION_READ_ONLY_EXISTS,
                "close read-only sessions before SO login",
            );
        }
        let principal = if wanted == Login::User {
            inst.access.login_user(inst, Some(pin), username).map(Some)
        } else {
            inst.access.counted_pin(inst, user, pin).map(|()| None)
        };
        let principal = principal
            .inspect_err(|e| inst.audit.login(None, false, &hooks::login_failed(user, e)))?;
        if !inst.log_in(wanted) {
            return rule(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "logged in meanwhile");
        }
        match principal {
            Some(p) => {
                tracing::info!(instance = %inst.name, access_point = %p.name, "login");
                inst.audit.set_access_point(Some(&p.name));
                inst.audit.login(None, true, hooks::user(user));
                inst.access.logged_in(p);
            }
            None => {
                inst.audit.login(None, true, hooks::user(user));
                tracing::info!(instance = %inst.name, user, "login");
            }
        }
        if wanted == Login::User {
            // The key records become readable now: read them here, once per login, so
            // the first use of a key pays no scan of the token (issue 14).
            inst.kms.refresh_now(inst);
        }
        Ok(())
    }

    /// C_Login(CKU_CONTEXT_SPECIFIC): authorise the one operation of this session
    /// that waits for it, with the secret that logs the user in (docs/ACCESS.md).
    /// A wrong secret leaves the operation waiting and counts against the lockout.
    fn context_login(&self, h: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let slot = self.session(h)?;
        let inst = self.instance(slot.inst)?;
        if slot.state.lock().ops.awaiting_login().is_none() {
            return rule(
                CKR_OPERATION_NOT_INITIALIZED,
                "no active operation needs a context-specific login",
            );
        }
        if inst.login_state() != Login::User {
            return rule(CKR_USER_NOT_LOGGED_IN, "the user is not logged in");
        }
        // Checked without the session lock: the check may count a lockout marker.
        let current = inst.access.principal_name();
        let who = inst
            .access
            .login_user(inst, Some(pin), current.as_deref())
            .inspect_err(|e| {
                inst.audit
                    .login(None, false, &hooks::login_failed(CKU_CONTEXT_SPECIFIC, e))
            })?;
        if current.as_deref().is_some_and(|c| *c != *who.name) {
            return rule(CKR_PIN_INCORRECT, "the secret is not this access point's");
        }
        inst.audit
            .login(None, true, hooks::user(CKU_CONTEXT_SPECIFIC));
        let mut state = slot.state.lock();
        match state.ops.awaiting_login() {
            Some(needs) => {
                *needs = false;
                Ok(())
            }
            // Ended meanwhile (C_SessionCancel, logout from another thread).
            None => rule(
                CKR_OPERATION_NOT_INITIALIZED,
                "the operation ended before the context login",
            ),
        }
    }

    pub fn logout(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let inst_idx = self.session(h)?.inst;
        let inst = self.instance(inst_idx)?;
        if let Some(ap) = inst.access.principal_name() {
            tracing::info!(instance = %inst.name, access_point = %ap, "logout");
        }
        if inst.log_out() == Login::Public {
            return rule(CKR_USER_NOT_LOGGED_IN, "not logged in");
        }
        inst.audit.finish();
        if let Some(token) = &inst.admin.token {
            token.logout();
        }
        // The spec: handles to private objects become invalid, and the application's
        // private session objects are destroyed.
        for e in inst.objects.take_private() {
            if e.owner.is_some() {
                if let Err(err) = inst.backend.destroy_object(e.id) {
                    tracing::warn!(instance = %inst.name, "could not destroy a private session object: {err}");
                }
            }
        }
        // Private objects become invisible; operations on them end with the login.
        for sh in self.sessions_of(inst_idx) {
            if let Ok(s) = self.session(sh) {
                s.state.lock().end_all();
            }
        }
        Ok(())
    }

    pub fn init_pin(&self, h: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        let (inst_idx, rw) = {
            let s = s.state.lock();
            (s.inst, s.rw)
        };
        let inst = self.instance(inst_idx)?;
        if inst.login_state() != Login::So || !rw {
            return rule(
                CKR_USER_NOT_LOGGED_IN,
                "C_InitPIN needs the SO in a read/write session",
            );
        }
        let r = match &inst.admin.token {
            Some(token) => token.init_pin(pin).map_err(Into::into),
            None => inst.set_pin(CKU_USER, pin).and_then(|()| {
                // C_InitPIN is the user PIN's unlock path (docs/ACCESS.md).
                crate::access::lockout::clear(&*inst.backend, crate::access::USER_PIN)?;
                inst.access.note_pin_failures(CKU_USER, 0);
                Ok(())
            }),
        };
        hooks::admin_done(inst, "init-pin", "user", &r);
        r
    }

    pub fn set_pin(&self, h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let s = self.session(h)?;
        let (inst_idx, rw) = {
            let s = s.state.lock();
            (s.inst, s.rw)
        };
        if !rw {
            return rule(CKR_SESSION_READ_ONLY, "C_SetPIN needs a read/write session");
        }
        let inst = self.instance(inst_idx)?;
        let user = if inst.login_state() == Login::So {
            CKU_SO
        } else {
            CKU_USER
        };
        let r = match &inst.admin.token {
            Some(token) => token.set_pin(user, old, new).map_err(Into::into),
            None => inst
                .check_pin(user, old)
                .and_then(|()| inst.set_pin(user, new)),
        };
        hooks::admin_done(inst, "set-pin", hooks::user(user), &r);
        r
    }
}
