//! The provider: instances (slots) and the front session table.

use crate::config::{Config, InstanceType};
use crate::error::{rule, Error, Result};
use crate::instance::{Admin, Instance};
use crate::objects::{Kind, ObjEntry};
use crate::session::{Session, SessionRef, SessionSlot};
use crate::session_table::SessionTable;
use cryptoki_sys::*;
use kmsbridge_bridge::pkcs11::NodeConfig;
use kmsbridge_bridge::Backend;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Provider {
    pub(crate) instances: Vec<Instance>,
    sessions: SessionTable,
    next_session: AtomicU64,
}

impl Provider {
    pub(crate) fn new(cfg: &Config) -> Result<Provider> {
        let mut instances = Vec::new();
        for (i, ic) in cfg.instances.iter().enumerate() {
            let slot = ic.slot.unwrap_or(i as u64) as CK_SLOT_ID;
            let (backend, admin): (Arc<dyn Backend>, Admin) = match ic.kind {
                InstanceType::Hardware => {
                    let nodes = ic
                        .nodes
                        .iter()
                        .enumerate()
                        .map(|(k, n)| NodeConfig {
                            name: format!("{}/node{k}", ic.name),
                            library: n.library.clone(),
                            token_label: n.token_label.clone(),
                            token_serial: n.token_serial.clone(),
                            credential_file: n.credential_file.clone(),
                            so_credential_file: n.so_credential_file.clone(),
                            pool_size: n.pool_size,
                            pool_wait: Duration::from_millis(ic.pool_wait_ms),
                            serial_calls: n.serial_calls,
                        })
                        .collect();
                    let mut cluster = kmsbridge_cluster::ClusterConfig {
                        quorum: ic.quorum,
                        ..Default::default()
                    };
                    if let Some(ms) = ic.call_timeout_ms {
                        cluster.call_timeout = Duration::from_millis(ms);
                    }
                    let hsm = kmsbridge_cluster::build_with(nodes, cluster)
                        .map_err(|e| Error::Config(format!("instance {}: {}", ic.name, e.0)))?;
                    let admin = Admin {
                        token: None,
                        cluster: Some(hsm.clone()),
                    };
                    (hsm, admin)
                }
                InstanceType::Software => {
                    let location = ic.store_location().ok_or_else(|| {
                        Error::Config(format!(
                            "instance {}: a software instance needs a store",
                            ic.name
                        ))
                    })?;
                    let cap = ic
                        .object_cache
                        .unwrap_or(kmsbridge_soft::DEFAULT_CACHE_OBJECTS);
                    let soft = Arc::new(kmsbridge_soft::SoftBackend::at(location, cap));
                    let admin = Admin {
                        token: Some(soft.clone()),
                        cluster: None,
                    };
                    (soft, admin)
                }
            };
            let mut instance = Instance::new(slot, ic, backend, admin)
                .map_err(|e| Error::Config(format!("instance {}: {e}", ic.name)))?;
            instance.quota = crate::quota::InstanceQuota::open(ic, &instance.serial)?;
            instances.push(instance);
        }
        Ok(Provider {
            instances,
            sessions: SessionTable::default(),
            next_session: AtomicU64::new(0),
        })
    }

    pub(crate) fn instance_index(&self, slot: CK_SLOT_ID) -> Result<usize> {
        self.instances
            .iter()
            .position(|i| i.slot_id == slot)
            .ok_or(Error::Rule {
                rv: CKR_SLOT_ID_INVALID,
                why: "no instance has this slot id",
            })
    }

    pub fn session(&self, h: CK_SESSION_HANDLE) -> Result<SessionRef> {
        self.sessions.get(h).ok_or(Error::Rule {
            rv: CKR_SESSION_HANDLE_INVALID,
            why: "unknown session handle",
        })
    }

    /// On an error path: CKR_SESSION_HANDLE_INVALID takes precedence over `e`.
    pub fn session_error_first(&self, h: CK_SESSION_HANDLE, e: Error) -> Error {
        match self.sessions_read(h, |_| ()) {
            Some(()) => e,
            None => Error::Rule {
                rv: CKR_SESSION_HANDLE_INVALID,
                why: "unknown session handle",
            },
        }
    }

    /// The instance at `idx`: a session's or slot's index always names one.
    pub(crate) fn instance(&self, idx: usize) -> Result<&Instance> {
        self.instances.get(idx).ok_or(Error::Rule {
            rv: CKR_GENERAL_ERROR,
            why: "an instance index names no instance",
        })
    }

    /// Look at a session without taking a reference to it.
    pub(crate) fn sessions_read<T>(
        &self,
        h: CK_SESSION_HANDLE,
        f: impl FnOnce(&SessionSlot) -> T,
    ) -> Option<T> {
        self.sessions.read(h, f)
    }

    pub(crate) fn add_session(&self, inst: usize, rw: bool) -> Result<CK_SESSION_HANDLE> {
        let i = self.instance(inst)?;
        let h = self.next_session.fetch_add(1, Ordering::Relaxed) + 1;
        if rw { &i.rw_sessions } else { &i.ro_sessions }.fetch_add(1, Ordering::Relaxed);
        let slot = SessionSlot {
            inst,
            rw,
            state: Mutex::new(Session::new(inst, rw)),
            device_error: Default::default(),
        };
        self.sessions.insert(h, Arc::new(slot));
        Ok(h)
    }

    /// Remove a session: its operations end, its session objects are destroyed,
    /// and closing the instance's last session logs the application out.
    pub(crate) fn remove_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.sessions.remove(h).ok_or(Error::Rule {
            rv: CKR_SESSION_HANDLE_INVALID,
            why: "unknown session handle",
        })?;
        let mut s = s.state.lock();
        s.end_all();
        let inst = self.instance(s.inst)?;
        if s.rw {
            &inst.rw_sessions
        } else {
            &inst.ro_sessions
        }
        .fetch_sub(1, Ordering::Relaxed);
        for obj in inst.objects.owned_by(h) {
            if let Some(e) = inst.objects.remove(obj) {
                if let Err(err) = inst.backend.destroy_object(e.id) {
                    tracing::warn!(session = h, "could not destroy a session object: {err}");
                }
            }
        }
        if inst.session_count() == 0 {
            inst.log_out();
            inst.audit.flush();
        }
        Ok(())
    }

    pub(crate) fn sessions_of(&self, inst: usize) -> Vec<CK_SESSION_HANDLE> {
        self.sessions.handles(|s| s.inst == inst)
    }

    /// An object the application may use now, or `invalid`.
    pub(crate) fn visible_object(
        &self,
        inst: &Instance,
        h: CK_OBJECT_HANDLE,
        invalid: CK_RV,
    ) -> Result<ObjEntry> {
        match inst.objects.get(h) {
            Some(e) if inst.visible(&e) => Ok(e),
            _ => rule(invalid, "no such object visible to this session"),
        }
    }

    /// An object whose attributes the application may read: a visible one, or a
    /// service key whose handle the module gave out (the cluster domain key), which
    /// finds never show and no operation may use.
    pub(crate) fn readable_object(
        &self,
        inst: &Instance,
        h: CK_OBJECT_HANDLE,
        invalid: CK_RV,
    ) -> Result<ObjEntry> {
        match inst.objects.get(h) {
            Some(e) if inst.visible(&e) => Ok(e),
            Some(e) if e.kind == Kind::Service && (!e.private || self.user_in(inst)) => Ok(e),
            _ => rule(invalid, "no such object visible to this session"),
        }
    }

    /// An object named as a key: readable and a key object at all. Service keys pass
    /// here and are refused by the key-use check with CKR_KEY_FUNCTION_NOT_PERMITTED.
    pub(crate) fn key_object(
        &self,
        inst: &Instance,
        h: CK_OBJECT_HANDLE,
        invalid: CK_RV,
    ) -> Result<ObjEntry> {
        let e = self.readable_object(inst, h, invalid)?;
        if matches!(e.kind, Kind::Node | Kind::Audit | Kind::Secret) {
            return rule(invalid, "a node, audit or secret object is not a key");
        }
        // An application object of a non-key class (a data object, a certificate) is no key
        // handle: the code the software engine gives, checked before any backend call.
        let key_class = matches!(e.class, CKO_SECRET_KEY | CKO_PUBLIC_KEY | CKO_PRIVATE_KEY);
        if e.kind == Kind::Plain && !key_class {
            return rule(invalid, "the object is not a key");
        }
        Ok(e)
    }

    fn user_in(&self, inst: &Instance) -> bool {
        inst.login_state() == crate::instance::Login::User
    }

    /// Release every backend (pools, vendor libraries) at C_Finalize.
    pub(crate) fn shutdown_backends(&self) {
        for i in &self.instances {
            i.backend.shutdown();
        }
    }

    pub(crate) fn close_everything(&self) {
        let all = self.sessions.handles(|_| true);
        for h in all {
            let _ = self.remove_session(h);
        }
    }
}
