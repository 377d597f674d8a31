//! A KMS instance: one slot and token, its backend, its login state, its PINs and
//! its front object table.

use crate::access::Access;
use crate::config::{InstanceConfig, InstanceType};
use crate::error::{rule, Result};
use crate::hidden_objects;
use crate::kms::host::Host;
use crate::kms::registry::Registry;
use crate::kms::token::Token;
use crate::objects::{Kind, ObjEntry, ObjectTable};
use crate::pin::PinHash;
use crate::vendor::META_APPLICATION;
use cryptoki_sys::*;
use kmsbridge_bridge::{attr, Attr, AttrReq, Backend, ClusterAdmin, ObjectId, TokenAdmin};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

/// Names held beyond twice the live objects before a sweep (`Instance::sweep_names`).
const NAMES_SLACK: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Login {
    Public = 0,
    User = 1,
    So = 2,
}

impl Login {
    fn from_u8(v: u8) -> Login {
        match v {
            1 => Login::User,
            2 => Login::So,
            _ => Login::Public,
        }
    }
}

pub(crate) struct Instance {
    pub(crate) slot_id: CK_SLOT_ID,
    pub(crate) name: String,
    pub(crate) serial: String,
    pub(crate) kind: InstanceType,
    pub(crate) backend: Arc<dyn Backend>,
    /// What the backend offers beyond `Backend`.
    pub(crate) admin: Admin,
    pub(crate) objects: ObjectTable,
    /// KMS key records, states and import tokens kept in the instance.
    pub(crate) kms: Registry,
    pub(crate) import_token_ttl_s: u64,
    /// The legacy mechanisms (DES, 3DES) are offered (`legacy_mechanisms`).
    pub(crate) legacy_mechanisms: bool,
    /// The application's login state for this instance; read on every operation,
    /// so an atomic rather than a lock.
    login: AtomicU8,
    pins: Mutex<Pins>,
    pub(crate) rw_sessions: AtomicUsize,
    pub(crate) ro_sessions: AtomicUsize,
    /// Front handles of the node objects, by node index (0: none yet).
    pub(crate) node_handles: Mutex<Vec<CK_OBJECT_HANDLE>>,
    /// Access points, who is logged in and what they may do.
    pub(crate) access: Access,
    /// The host-wide operation quotas (provider/src/quota); none configured: `None`.
    pub(crate) quota: Option<crate::quota::InstanceQuota>,
    /// The instance's audit trail (docs/AUDIT.md), opened on its first event.
    pub(crate) audit: crate::audit::Trail,
    /// Secrets kept in the instance (docs/SECRETS.md).
    pub(crate) secrets: crate::secrets::Secrets,
}

/// An instance's backend capabilities beyond `Backend`, set where the backend is
/// built and its type is known.
pub(crate) struct Admin {
    /// A token that keeps its own PINs (software instances); without it, the
    /// instance's PINs are kept here.
    pub(crate) token: Option<Arc<dyn TokenAdmin>>,
    /// The HSM nodes (hardware instances).
    pub(crate) cluster: Option<Arc<dyn ClusterAdmin>>,
}

struct Pins {
    user: Option<String>,
    so: Option<String>,
}

fn pin_label(user: CK_USER_TYPE) -> &'static [u8] {
    if user == CKU_SO {
        b"pin.so"
    } else {
        b"pin.user"
    }
}

impl Instance {
    pub(crate) fn new(
        slot_id: CK_SLOT_ID,
        cfg: &InstanceConfig,
        backend: Arc<dyn Backend>,
        admin: Admin,
    ) -> Result<Instance> {
        let serial = cfg.serial.clone().unwrap_or_else(|| {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(cfg.name.as_bytes());
            hex::encode(digest.get(..8).unwrap_or(&digest))
        });
        let audit = crate::audit::Trail::new(cfg, &serial, backend.clone());
        Ok(Instance {
            audit,
            access: Access::new(cfg, &serial)?,
            slot_id,
            name: cfg.name.clone(),
            serial,
            kind: cfg.kind,
            backend,
            admin,
            objects: ObjectTable::default(),
            kms: Registry::default(),
            import_token_ttl_s: cfg.import_token_ttl_s,
            legacy_mechanisms: cfg.legacy_mechanisms,
            login: AtomicU8::new(Login::Public as u8),
            pins: Mutex::new(Pins {
                user: cfg.user_pin_hash.clone(),
                so: cfg.so_pin_hash.clone(),
            }),
            rw_sessions: AtomicUsize::new(0),
            ro_sessions: AtomicUsize::new(0),
            node_handles: Mutex::new(Vec::new()),
            quota: None,
            secrets: Default::default(),
        })
    }

    /// The mechanism is one kmsbridge carries and this instance offers (legacy
    /// mechanisms only where the instance keeps them); else CKR_MECHANISM_INVALID.
    pub(crate) fn check_mechanism(&self, ty: CK_MECHANISM_TYPE) -> Result<()> {
        if kmsbridge_bridge::mech::param_kind(ty).is_none() {
            return rule(CKR_MECHANISM_INVALID, "mechanism not carried by kmsbridge");
        }
        if kmsbridge_bridge::mech::is_legacy(ty) {
            if !self.legacy_mechanisms {
                return rule(
                    CKR_MECHANISM_INVALID,
                    "legacy mechanisms are hidden on this instance",
                );
            }
            // Judged here, before any key check, so a backend without them (the
            // software instance) answers as for any mechanism it does not offer.
            if !self.backend.mechanisms()?.iter().any(|(t, _)| *t == ty) {
                return rule(
                    CKR_MECHANISM_INVALID,
                    "mechanism not offered by this instance",
                );
            }
        }
        Ok(())
    }

    pub(crate) fn login_state(&self) -> Login {
        Login::from_u8(self.login.load(Ordering::Acquire))
    }

    /// Move from Public to `to`; false if another login won the race.
    pub(crate) fn log_in(&self, to: Login) -> bool {
        self.login
            .compare_exchange(
                Login::Public as u8,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Back to Public; returns the state left.
    pub(crate) fn log_out(&self) -> Login {
        self.access.log_out();
        self.audit.set_access_point(None);
        Login::from_u8(self.login.swap(Login::Public as u8, Ordering::AcqRel))
    }

    pub(crate) fn user_pin_initialized(&self) -> bool {
        self.pins.lock().user.is_some()
    }

    fn meta_template(user: CK_USER_TYPE) -> Vec<Attr> {
        vec![
            Attr::ulong(CKA_CLASS, CKO_DATA),
            Attr::new(CKA_APPLICATION, META_APPLICATION.to_vec()),
            Attr::new(CKA_LABEL, pin_label(user).to_vec()),
        ]
    }

    /// The PIN hash in force: one stored in the instance by C_InitPIN/C_SetPIN
    /// overrides the configured one, so every process agrees.
    fn current_hash(&self, user: CK_USER_TYPE) -> Result<Option<String>> {
        let found = self.backend.find(&Self::meta_template(user))?;
        if let Some(id) = found.first() {
            self.remember_meta(*id);
            let mut req = [AttrReq::new(CKA_VALUE, Some(256))];
            self.backend.get_attributes(*id, &mut req)?;
            if let Some(v) = req[0].value() {
                return Ok(Some(String::from_utf8_lossy(v).into_owned()));
            }
        }
        let pins = self.pins.lock();
        Ok(if user == CKU_SO {
            pins.so.clone()
        } else {
            pins.user.clone()
        })
    }

    fn remember_meta(&self, id: ObjectId) {
        self.objects.insert(ObjEntry {
            id,
            token: true,
            private: true,
            class: CKO_DATA,
            key_type: None,
            always_auth: false,
            owner: None,
            kind: Kind::Meta,
            kid: 0,
        });
    }

    /// Check a front PIN against its slow hash.
    pub(crate) fn check_pin(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        self.backend.connect()?;
        if let Some(token) = &self.admin.token {
            return Ok(token.login(user, pin)?);
        }
        let Some(hash) = self.current_hash(user)? else {
            return rule(CKR_USER_PIN_NOT_INITIALIZED, "no PIN is set for this user");
        };
        let hash = PinHash::parse(&hash).map_err(crate::error::Error::Config)?;
        if hash.verify(pin) {
            Ok(())
        } else {
            rule(CKR_PIN_INCORRECT, "wrong PIN")
        }
    }

    /// Set a front PIN: stored in the instance as a hidden metadata object.
    pub(crate) fn set_pin(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        if pin.len() < 4 || pin.len() > 255 {
            return rule(CKR_PIN_LEN_RANGE, "PINs are 4 to 255 bytes");
        }
        let mut salt = [0u8; 16];
        self.backend.random(&mut salt)?;
        let encoded = PinHash::new(pin, salt).encode();
        let label = std::str::from_utf8(pin_label(user)).unwrap_or("pin.user");
        let id = hidden_objects::write(
            &*self.backend,
            &self.objects,
            META_APPLICATION,
            label,
            encoded.clone().into_bytes(),
        )?;
        self.remember_meta(id);
        let mut pins = self.pins.lock();
        if user == CKU_SO {
            pins.so = Some(encoded);
        } else {
            pins.user = Some(encoded);
        }
        Ok(())
    }

    /// The front handle of a backend object, learning its visibility on first sight.
    pub(crate) fn discover(&self, id: ObjectId) -> Result<(CK_OBJECT_HANDLE, ObjEntry)> {
        if let Some(h) = self.objects.handle_of(id) {
            if let Some(e) = self.objects.get(h) {
                return Ok((h, e));
            }
        }
        let mut reqs = [
            AttrReq::new(CKA_TOKEN, Some(1)),
            AttrReq::new(CKA_PRIVATE, Some(1)),
            AttrReq::new(CKA_CLASS, Some(std::mem::size_of::<CK_ULONG>())),
            AttrReq::new(CKA_APPLICATION, Some(64)),
            AttrReq::new(CKA_ID, Some(256)),
            AttrReq::new(CKA_LABEL, Some(256)),
            AttrReq::new(CKA_KEY_TYPE, Some(std::mem::size_of::<CK_ULONG>())),
            AttrReq::new(CKA_ALWAYS_AUTHENTICATE, Some(1)),
        ];
        self.backend.get_attributes(id, &mut reqs)?;
        let flag = |r: &AttrReq| r.value().is_some_and(|v| v.first() == Some(&1));
        let class = reqs[2]
            .value()
            .and_then(|v| v.try_into().ok())
            .map(CK_ULONG::from_ne_bytes)
            .unwrap_or(CKO_DATA);
        let (kind, kid) =
            crate::kms::ids::classify(class, reqs[3].value(), reqs[4].value(), reqs[5].value());
        let entry = ObjEntry {
            id,
            token: flag(&reqs[0]),
            private: flag(&reqs[1]),
            class,
            key_type: match class {
                CKO_SECRET_KEY | CKO_PUBLIC_KEY | CKO_PRIVATE_KEY => reqs[6]
                    .value()
                    .and_then(|v| v.try_into().ok())
                    .map(CK_ULONG::from_ne_bytes),
                _ => None,
            },
            always_auth: class == CKO_PRIVATE_KEY && flag(&reqs[7]),
            owner: None,
            kind,
            kid,
        };
        let h = self.objects.insert(entry);
        // The audit trail names the object by what was just read: naming it later,
        // on the hot path, would need a backend session while the operation holds one.
        self.audit.names.learn(id, reqs[4].value());
        self.sweep_names();
        Ok((h, entry))
    }

    /// The audit trail's and the access policy's names of objects that are gone go
    /// once they outnumber the live ones: each sweep halves what is held at least, so
    /// its cost spreads over the discoveries that filled it.
    fn sweep_names(&self) {
        let held = self.audit.names.len().max(self.access.names_held());
        if held <= 2 * self.objects.bound() + NAMES_SLACK {
            return;
        }
        self.objects.with_bound(|live| {
            self.audit.keep_names(live);
            self.access.keep_names(live);
        });
    }

    /// Whether the application may see this object now: not the module's own, not
    /// private without the user, and within the policy of the access point logged in.
    pub(crate) fn visible(&self, e: &ObjEntry) -> bool {
        if e.kind == Kind::AccessPoint {
            return self.login_state() == Login::So;
        }
        if e.kind == Kind::Secret {
            return self.secrets.visible(self, e);
        }
        !e.hidden()
            && (!e.private || self.login_state() == Login::User)
            && self.access.sees(self, e)
    }

    /// Any read-only session open on the instance?
    pub(crate) fn has_ro_session(&self) -> bool {
        self.ro_sessions.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn session_count(&self) -> usize {
        self.rw_sessions.load(Ordering::Relaxed) + self.ro_sessions.load(Ordering::Relaxed)
    }
}

impl Token for Instance {
    fn name(&self) -> &str {
        &self.name
    }
    fn backend(&self) -> &dyn Backend {
        &*self.backend
    }
    fn objects(&self) -> &ObjectTable {
        &self.objects
    }
    fn user_logged_in(&self) -> bool {
        self.login_state() == Login::User
    }
    fn import_token_ttl_s(&self) -> u64 {
        self.import_token_ttl_s
    }
    fn discover(&self, id: ObjectId) -> Result<(CK_OBJECT_HANDLE, ObjEntry)> {
        Instance::discover(self, id)
    }
}

impl Host for Instance {
    fn kms(&self) -> &Registry {
        &self.kms
    }
}

/// The value of a boolean attribute in a template, if present and well formed.
pub(crate) fn template_bool(t: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    attr::find(t, ty).and_then(|a| a.as_bool())
}
