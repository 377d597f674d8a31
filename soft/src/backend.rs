//! `SoftBackend`: a software instance's `Backend`: objects from the durable store
//! (`kmsbridge-store`, through its `Store`), crypto in-module (`engine`).
//!
//! Token objects live in the store, shared by every process; this process caches
//! each object it has loaded with its prepared key, so the hot path (Init, then the
//! call) never touches the store or re-parses a key. The cache is dropped whenever
//! the store's version shows another commit, checked on finds and loads of objects
//! not yet cached (so an object created by another process is found at once).
//! Session objects never reach the store.

use crate::engine::{self, Prepared, SoftObject};
use cryptoki_sys::*;
use kmsbridge_bridge::admin::{TokenAdmin, TokenState};
use kmsbridge_bridge::backend::{Backend, ObjectId, Output};
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::op::{Cipher, Digesting, Signing, Verifying};
use kmsbridge_bridge::{Attr, AttrReq, Mechanism};
use kmsbridge_store::{Dek, ObjectRecord, Store};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// Session objects take ids from here up, far above any store row id.
const SESSION_IDS: ObjectId = 1 << 62;

/// An object as this process knows it, with its key prepared on first use.
struct Cached {
    obj: SoftObject,
    prepared: OnceLock<Arc<Prepared>>,
}

impl Cached {
    fn new(obj: SoftObject) -> Arc<Cached> {
        Arc::new(Cached {
            obj,
            prepared: OnceLock::new(),
        })
    }

    fn prepared(&self) -> Result<Arc<Prepared>> {
        if let Some(p) = self.prepared.get() {
            return Ok(p.clone());
        }
        let p = engine::prepare(&self.obj)?;
        Ok(self.prepared.get_or_init(|| p).clone())
    }
}

pub struct SoftBackend {
    location: kmsbridge_store::Location,
    store: OnceLock<Store>,
    opening: Mutex<()>,
    /// What the application's login unlocked; `None` when logged out.
    dek: RwLock<Option<Dek>>,
    /// Token objects loaded by this process, and the store version they reflect.
    cache: RwLock<HashMap<ObjectId, Arc<Cached>>>,
    cache_version: AtomicU64,
    session_objects: RwLock<HashMap<ObjectId, Arc<Cached>>>,
    next_session_id: AtomicU64,
}

fn record(id: ObjectId, obj: &SoftObject) -> ObjectRecord {
    ObjectRecord {
        id,
        class: obj.class(),
        private: obj.is_private(),
        attrs: obj
            .attrs()
            .map(|(t, v)| (t, Zeroizing::new(v.to_vec())))
            .collect(),
        withheld: Vec::new(),
    }
}

fn object(rec: ObjectRecord) -> SoftObject {
    SoftObject::from_attrs(
        rec.attrs
            .into_iter()
            .map(|(t, v)| (t, v.to_vec()))
            .collect(),
    )
}

/// Which attributes of `obj` the store must seal even on a public object: the key
/// material of keys. (A private object is sealed whole; a public data object's value
/// is public by the application's choice.)
fn sealed_attrs(obj: &SoftObject) -> impl Fn(u64) -> bool {
    let key = matches!(obj.class(), CKO_SECRET_KEY | CKO_PRIVATE_KEY);
    move |ty| key && SoftObject::is_secret_attr(ty)
}

fn matches(obj: &SoftObject, template: &[Attr]) -> bool {
    template
        .iter()
        .all(|a| obj.get(a.ty) == Some(a.value.as_slice()))
}

impl SoftBackend {
    /// A backend over the SQLite store in `dir`; nothing is opened until first use.
    pub fn new(dir: PathBuf) -> SoftBackend {
        SoftBackend::at(kmsbridge_store::Location::Dir(dir))
    }

    /// A backend over the store at `location` (a directory or a PostgreSQL database);
    /// nothing is opened until first use.
    pub fn at(location: kmsbridge_store::Location) -> SoftBackend {
        SoftBackend {
            location,
            store: OnceLock::new(),
            opening: Mutex::new(()),
            dek: RwLock::new(None),
            cache: RwLock::new(HashMap::new()),
            cache_version: AtomicU64::new(u64::MAX),
            session_objects: RwLock::new(HashMap::new()),
            next_session_id: AtomicU64::new(SESSION_IDS),
        }
    }

    fn store(&self) -> Result<&Store> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let _g = self.opening.lock();
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let s = kmsbridge_store::open_at(&self.location)?;
        tracing::info!(store = %self.location, "software store opened");
        Ok(self.store.get_or_init(|| s))
    }

    /// Drop cached token objects if any process committed since they were loaded.
    fn refresh(&self) -> Result<()> {
        let v = self.store()?.version()?;
        if self.cache_version.swap(v, Ordering::AcqRel) != v {
            self.cache.write().clear();
        }
        Ok(())
    }

    fn with_dek<T>(&self, f: impl FnOnce(Option<&Dek>) -> Result<T>) -> Result<T> {
        let dek = self.dek.read();
        f(dek.as_ref())
    }

    fn load(&self, id: ObjectId) -> Result<Arc<Cached>> {
        if id >= SESSION_IDS {
            return self
                .session_objects
                .read()
                .get(&id)
                .cloned()
                .ok_or(Error::rv(
                    CKR_OBJECT_HANDLE_INVALID,
                    "no such session object",
                ));
        }
        if let Some(c) = self.cache.read().get(&id) {
            return Ok(c.clone());
        }
        self.refresh()?;
        let rec = self.with_dek(|dek| self.store()?.load(dek, id))?;
        let c = Cached::new(object(rec));
        self.cache.write().insert(id, c.clone());
        Ok(c)
    }

    /// Keep a new object: token objects in the store, session objects in memory.
    fn keep(&self, obj: SoftObject) -> Result<ObjectId> {
        if !obj.is_token() {
            let id = self.next_session_id.fetch_add(1, Ordering::Relaxed);
            self.session_objects.write().insert(id, Cached::new(obj));
            return Ok(id);
        }
        let secret = sealed_attrs(&obj);
        let id = self.with_dek(|dek| self.store()?.insert(dek, &record(0, &obj), &secret))?;
        self.cache.write().insert(id, Cached::new(obj));
        Ok(id)
    }

    fn replace(&self, id: ObjectId, obj: SoftObject) -> Result<()> {
        if id >= SESSION_IDS {
            self.session_objects.write().insert(id, Cached::new(obj));
            return Ok(());
        }
        let secret = sealed_attrs(&obj);
        self.with_dek(|dek| self.store()?.update(dek, &record(id, &obj), &secret))?;
        self.cache.write().insert(id, Cached::new(obj));
        Ok(())
    }
}

impl Backend for SoftBackend {
    fn connect(&self) -> Result<()> {
        self.store().map(|_| ())
    }

    fn shutdown(&self) {
        *self.dek.write() = None;
        self.cache.write().clear();
        self.session_objects.write().clear();
    }

    fn device_info(&self) -> Result<kmsbridge_bridge::backend::DeviceInfo> {
        Ok(kmsbridge_bridge::backend::DeviceInfo {
            manufacturer: "kmsbridge".into(),
            model: "software".into(),
            ..Default::default()
        })
    }

    fn mechanisms(&self) -> Result<Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>> {
        Ok(engine::mechanisms())
    }

    fn random(&self, out: &mut [u8]) -> Result<()> {
        engine::random(out)
    }

    fn seed_random(&self, _seed: &[u8]) -> Result<()> {
        // The DRBG reseeds itself from the OS; an application's seed adds nothing.
        Err(Error::rv(CKR_RANDOM_SEED_NOT_SUPPORTED, "C_SeedRandom"))
    }

    fn find(&self, template: &[Attr]) -> Result<Vec<ObjectId>> {
        self.refresh()?;
        let mut found = Vec::new();
        for (id, _class, private) in self.store()?.list()? {
            if private && self.dek.read().is_none() {
                continue;
            }
            match self.load(id) {
                Ok(c) if matches(&c.obj, template) => found.push(id),
                Ok(_) => {}
                // Deleted by another process since the listing.
                Err(e) if e.ck_rv() == CKR_OBJECT_HANDLE_INVALID => {}
                Err(e) => return Err(e),
            }
        }
        let sessions = self.session_objects.read();
        let mut ids: Vec<ObjectId> = sessions
            .iter()
            .filter(|(_, c)| matches(&c.obj, template))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        found.extend(ids);
        Ok(found)
    }

    fn create_object(&self, template: &[Attr]) -> Result<ObjectId> {
        self.keep(engine::create(template)?)
    }

    fn copy_object(&self, obj: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let src = self.load(obj)?;
        self.keep(engine::copy(&src.obj, template)?)
    }

    fn destroy_object(&self, obj: ObjectId) -> Result<()> {
        if self.load(obj)?.obj.get_bool(CKA_DESTROYABLE) == Some(false) {
            return Err(Error::rv(CKR_ACTION_PROHIBITED, "CKA_DESTROYABLE is false"));
        }
        if obj >= SESSION_IDS {
            return match self.session_objects.write().remove(&obj) {
                Some(_) => Ok(()),
                None => Err(Error::rv(
                    CKR_OBJECT_HANDLE_INVALID,
                    "no such session object",
                )),
            };
        }
        self.store()?.delete(obj)?;
        self.cache.write().remove(&obj);
        Ok(())
    }

    fn object_size(&self, obj: ObjectId) -> Result<u64> {
        Ok(self.load(obj)?.obj.size())
    }

    fn get_attributes(&self, obj: ObjectId, reqs: &mut [AttrReq]) -> Result<CK_RV> {
        Ok(engine::get_attributes(&self.load(obj)?.obj, reqs))
    }

    fn set_attributes(&self, obj: ObjectId, template: &[Attr]) -> Result<()> {
        let mut updated = self.load(obj)?.obj.clone();
        engine::set_attributes(&mut updated, template)?;
        self.replace(obj, updated)
    }

    fn generate_key(&self, mech: &Mechanism, template: &[Attr]) -> Result<ObjectId> {
        self.keep(engine::generate_key(mech, template)?)
    }

    fn generate_key_pair(
        &self,
        mech: &Mechanism,
        public: &[Attr],
        private: &[Attr],
    ) -> Result<(ObjectId, ObjectId)> {
        let (pu, pr) = engine::generate_key_pair(mech, public, private)?;
        let pu = self.keep(pu)?;
        match self.keep(pr) {
            Ok(pr) => Ok((pu, pr)),
            Err(e) => {
                let _ = self.destroy_object(pu);
                Err(e)
            }
        }
    }

    fn wrap_key(
        &self,
        mech: &Mechanism,
        wrapping: ObjectId,
        key: ObjectId,
        out: Output,
    ) -> Result<usize> {
        let w = self.load(wrapping)?;
        let k = self.load(key)?;
        engine::wrap(mech, &w.obj, &k.obj, out)
    }

    fn unwrap_key(
        &self,
        mech: &Mechanism,
        unwrapping: ObjectId,
        wrapped: &[u8],
        template: &[Attr],
    ) -> Result<ObjectId> {
        let u = self.load(unwrapping)?;
        self.keep(engine::unwrap(mech, &u.obj, wrapped, template)?)
    }

    fn derive_key(&self, mech: &Mechanism, base: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let b = self.load(base)?;
        self.keep(engine::derive(mech, &b.obj, template)?)
    }

    fn material_check(&self, obj: ObjectId, salt: &[u8]) -> Result<[u8; 32]> {
        engine::material_check(&self.load(obj)?.obj, salt)
    }

    fn begin_encrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>> {
        engine::begin_encrypt(mech, self.load(key)?.prepared()?)
    }

    fn begin_decrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>> {
        engine::begin_decrypt(mech, self.load(key)?.prepared()?)
    }

    fn begin_sign(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Signing>> {
        engine::begin_sign(mech, self.load(key)?.prepared()?)
    }

    fn begin_verify(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Verifying>> {
        engine::begin_verify(mech, self.load(key)?.prepared()?)
    }

    fn begin_digest(&self, mech: &Mechanism) -> Result<Box<dyn Digesting>> {
        engine::begin_digest(mech)
    }

    /// The engine's digest cannot resolve an object id: the key's value is fed here.
    fn digest_key(&self, op: &mut dyn Digesting, key: ObjectId) -> Result<()> {
        let cached = self.load(key)?;
        op.update(engine::digest_key_value(&cached.obj)?)
    }
}

impl TokenAdmin for SoftBackend {
    fn token_state(&self) -> Result<TokenState> {
        let info = self.store()?.token()?;
        let pin_flags = info.flags()
            & (CKF_USER_PIN_COUNT_LOW
                | CKF_USER_PIN_FINAL_TRY
                | CKF_USER_PIN_LOCKED
                | CKF_SO_PIN_COUNT_LOW
                | CKF_SO_PIN_FINAL_TRY
                | CKF_SO_PIN_LOCKED);
        Ok(TokenState {
            initialized: info.initialized,
            label: Some(info.label),
            user_pin_initialized: info.user_pin_initialized,
            pin_flags,
        })
    }

    fn login(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let dek = self.store()?.login(user, pin)?;
        *self.dek.write() = Some(dek);
        Ok(())
    }

    fn logout(&self) {
        *self.dek.write() = None;
        // Private objects must not stay usable from the cache.
        self.cache.write().retain(|_, c| !c.obj.is_private());
    }

    fn init_token(&self, so_pin: &[u8], label: &str) -> Result<()> {
        self.store()?.init_token(so_pin, label)?;
        *self.dek.write() = None;
        self.cache.write().clear();
        self.session_objects.write().clear();
        Ok(())
    }

    fn init_pin(&self, pin: &[u8]) -> Result<()> {
        self.with_dek(|dek| {
            let dek = dek.ok_or(Error::rv(CKR_USER_NOT_LOGGED_IN, "C_InitPIN needs the SO"))?;
            self.store()?.init_user_pin(dek, pin)
        })
    }

    fn set_pin(&self, user: CK_USER_TYPE, old: &[u8], new: &[u8]) -> Result<()> {
        self.store()?.set_pin(user, old, new)
    }

    fn seal_for_credential(&self, kek: &[u8; 32], credential: &[u8]) -> Result<Vec<u8>> {
        self.with_dek(|dek| {
            let dek = dek.ok_or(Error::rv(
                CKR_USER_NOT_LOGGED_IN,
                "adding a credential needs a login that unlocked the token",
            ))?;
            self.store()?.seal_credential_slot(dek, kek, credential)
        })
    }

    fn login_credential(&self, kek: &[u8; 32], credential: &[u8], slot: &[u8]) -> Result<bool> {
        match self.store()?.open_credential_slot(kek, credential, slot)? {
            Some(dek) => {
                *self.dek.write() = Some(dek);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
