//! `SoftBackend`: a software instance's `Backend`: objects from the durable store
//! (`kmsbridge-store`, through its `Store`), crypto in-module (`engine`).
//!
//! Token objects live in the store, shared by every process; this process caches
//! the objects it has used with their prepared keys (a bounded cache, least recently
//! used out: `cache`), so the hot path (Init, then the call) never touches the store
//! or re-parses a key. A find asks the store's index for candidates (the template's
//! class and indexed attributes, `Store::find`) and checks only those, loading them
//! lazily. Finds and loads of objects not cached first apply the store's change log
//! (`Store::changes_since`): what another process committed is seen at once, at the
//! cost of that commit. Session objects never reach the store.

use crate::cache::{Cached, ObjectCache, DEFAULT_CACHE_OBJECTS};
use crate::engine::{self, SoftObject};
use cryptoki_sys::*;
use kmsbridge_bridge::admin::{TokenAdmin, TokenState};
use kmsbridge_bridge::backend::{Backend, ObjectId, Output};
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::op::{Cipher, Digesting, Signing, Verifying};
use kmsbridge_bridge::{Attr, AttrReq, Mechanism};
use kmsbridge_store::{Changes, Dek, ObjectRecord, Store};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Rows given index terms per write after a login, for a store from before the index.
const REINDEX_BATCH: usize = 1000;
use zeroize::Zeroizing;

/// Session objects take ids from here up, far above any store row id.
const SESSION_IDS: ObjectId = 1 << 62;

pub struct SoftBackend {
    location: kmsbridge_store::Location,
    store: OnceLock<Store>,
    opening: Mutex<()>,
    /// What the application's login unlocked; `None` when logged out.
    dek: RwLock<Option<Dek>>,
    /// Token objects used by this process, and the store version they reflect.
    cache: ObjectCache,
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
        SoftBackend::with_cache(dir, DEFAULT_CACHE_OBJECTS)
    }

    /// A backend over the SQLite store in `dir` that keeps at most `cache_objects`
    /// token objects in memory (at least 1).
    pub fn with_cache(dir: PathBuf, cache_objects: usize) -> SoftBackend {
        SoftBackend::at(kmsbridge_store::Location::Dir(dir), cache_objects)
    }

    /// A backend over the store at `location` (a directory or a PostgreSQL database)
    /// that keeps at most `cache_objects` token objects in memory; nothing is opened
    /// until first use.
    pub fn at(location: kmsbridge_store::Location, cache_objects: usize) -> SoftBackend {
        SoftBackend {
            location,
            store: OnceLock::new(),
            opening: Mutex::new(()),
            dek: RwLock::new(None),
            cache: ObjectCache::new(cache_objects),
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

    /// Drop cached token objects that any process changed since they were loaded:
    /// the change log's ids, or everything when the log cannot say.
    fn refresh(&self) -> Result<()> {
        let store = self.store()?;
        let since = self.cache.version();
        let changes = match since {
            Some(v) => store.changes_since(v)?,
            None => Changes::Reload {
                version: store.version()?,
            },
        };
        self.cache.apply(since, changes);
        Ok(())
    }

    /// Token objects held in memory now (for tests and benches).
    pub fn cached_objects(&self) -> usize {
        self.cache.len()
    }

    /// Store secret or private keys made elsewhere (by the engine) in one commit: the bulk path of
    /// benches and imports. Those only (`CKR_TEMPLATE_INCONSISTENT` otherwise), their
    /// material sealed; private ones need a login.
    pub fn insert_token_objects(&self, objs: &[SoftObject]) -> Result<Vec<ObjectId>> {
        if objs
            .iter()
            .any(|o| !o.is_token() || !matches!(o.class(), CKO_SECRET_KEY | CKO_PRIVATE_KEY))
        {
            return Err(Error::rv(
                CKR_TEMPLATE_INCONSISTENT,
                "token secret or private keys only",
            ));
        }
        let recs: Vec<ObjectRecord> = objs.iter().map(|o| record(0, o)).collect();
        let secret = SoftObject::is_secret_attr;
        self.with_dek(|dek| self.store()?.insert_many(dek, &recs, secret))
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
        if let Some(c) = self.cache.get(id) {
            return Ok(c);
        }
        self.refresh()?;
        self.load_fresh(id)
    }

    /// Load a token object not cached, right after a refresh.
    fn load_fresh(&self, id: ObjectId) -> Result<Arc<Cached>> {
        if let Some(c) = self.cache.get(id) {
            return Ok(c);
        }
        let seen = self.cache.version();
        let rec = self.with_dek(|dek| self.store()?.load(dek, id))?;
        let c = Cached::new(object(rec));
        self.cache.put_at(seen, id, c.clone());
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
        self.cache.put(id, Cached::new(obj));
        Ok(id)
    }

    fn replace(&self, id: ObjectId, obj: SoftObject) -> Result<()> {
        if id >= SESSION_IDS {
            self.session_objects.write().insert(id, Cached::new(obj));
            return Ok(());
        }
        let secret = sealed_attrs(&obj);
        self.with_dek(|dek| self.store()?.update(dek, &record(id, &obj), &secret))?;
        self.cache.put(id, Cached::new(obj));
        Ok(())
    }
}

impl SoftBackend {
    /// Give index terms to rows from before the index (a store upgraded from schema
    /// 1), in batches; nothing to do (one indexed query) on a current store. Best
    /// effort: rows left without terms are still found, as candidates of every find.
    fn reindex(&self, dek: &Dek) {
        let Ok(store) = self.store() else { return };
        loop {
            match store.reindex(dek, REINDEX_BATCH) {
                Ok(0) => break,
                Ok(n) => tracing::info!(
                    objects = n,
                    "software store: indexed objects from an older schema"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "software store: indexing older objects failed");
                    break;
                }
            }
        }
    }
}

impl Backend for SoftBackend {
    fn connect(&self) -> Result<()> {
        self.store().map(|_| ())
    }

    fn shutdown(&self) {
        *self.dek.write() = None;
        self.cache.clear();
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
        let class = template
            .iter()
            .find(|a| a.ty == CKA_CLASS)
            .and_then(|a| a.as_ulong());
        let pairs: Vec<(u64, &[u8])> = template
            .iter()
            .map(|a| (a.ty, a.value.as_slice()))
            .collect();
        let candidates = self.with_dek(|dek| self.store()?.find(dek, class, &pairs))?;
        let mut found = Vec::new();
        for id in candidates {
            match self.load_fresh(id) {
                Ok(c) if matches(&c.obj, template) => found.push(id),
                Ok(_) => {}
                // Deleted by another process since the lookup, or a logout meanwhile.
                Err(e)
                    if matches!(
                        e.ck_rv(),
                        CKR_OBJECT_HANDLE_INVALID | CKR_USER_NOT_LOGGED_IN
                    ) => {}
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
        self.cache.remove(obj);
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
        self.reindex(&dek);
        *self.dek.write() = Some(dek);
        Ok(())
    }

    fn logout(&self) {
        *self.dek.write() = None;
        // Private objects must not stay usable from the cache.
        self.cache.retain(|c| !c.obj.is_private());
    }

    fn init_token(&self, so_pin: &[u8], label: &str) -> Result<()> {
        self.store()?.init_token(so_pin, label)?;
        *self.dek.write() = None;
        self.cache.clear();
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
                self.reindex(&dek);
                *self.dek.write() = Some(dek);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
