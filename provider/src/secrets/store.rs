//! The instance's secrets as this process last read them: one private hidden data
//! object per secret (CKA_APPLICATION `kmsbridge.secretrec`, label = the name, value =
//! the TOML record of `kmsbridge_secrets::to_record`: metadata and sealed values, never
//! a plaintext or a data key in clear), plus a generation object rewritten at every
//! change. Each process re-reads the generation at most every 0.5 s and reloads when
//! it moved, so every process sees a change within 1 s. Hardware instances keep them
//! on the HSM (replicated by the cluster layer), software ones in the store.

use crate::error::{Error, Result};
use crate::hidden_objects;
use crate::objects::ObjectTable;
use crate::refresh::{fresh_generation, fresh_tag, read_generation, tag_attr, Refresher};
use crate::vendor::SECRET_RECORD_APPLICATION;
use kmsbridge_bridge::Backend;
use kmsbridge_secrets::{from_record, to_record, Secret};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Not a valid secret name (`#` is outside the name alphabet): no secret collides.
const GENERATION_LABEL: &str = "#generation";

#[derive(Default)]
struct Snapshot {
    generation: Vec<u8>,
    loaded: bool,
    by_name: BTreeMap<String, Arc<Secret>>,
}

#[derive(Default)]
pub(crate) struct Store {
    snap: RwLock<Snapshot>,
    refresh: Refresher,
}

impl Store {
    pub(crate) fn new() -> Store {
        Store::default()
    }

    /// One secret, as of at most 0.5 s ago.
    pub(crate) fn get(&self, backend: &dyn Backend, name: &str) -> Option<Arc<Secret>> {
        self.maybe_refresh(backend);
        self.snap.read().by_name.get(name).cloned()
    }

    /// One secret, read afresh (before a change).
    pub(crate) fn get_now(&self, backend: &dyn Backend, name: &str) -> Option<Arc<Secret>> {
        self.refresh_now(backend);
        self.snap.read().by_name.get(name).cloned()
    }

    /// Every secret, by name, as of at most 0.5 s ago.
    pub(crate) fn all(&self, backend: &dyn Backend) -> Vec<Arc<Secret>> {
        self.maybe_refresh(backend);
        self.snap.read().by_name.values().cloned().collect()
    }

    fn maybe_refresh(&self, backend: &dyn Backend) {
        self.refresh.maybe(|| self.reload(backend));
    }

    pub(crate) fn refresh_now(&self, backend: &dyn Backend) {
        self.refresh.now(|| self.reload(backend));
    }

    fn reload(&self, backend: &dyn Backend) {
        if let Err(e) = self.reload_if_moved(backend) {
            tracing::warn!("cannot read the secrets: {e}");
        }
    }

    fn reload_if_moved(&self, backend: &dyn Backend) -> Result<()> {
        let (gen_ids, generation) = read_generation(
            backend,
            SECRET_RECORD_APPLICATION,
            GENERATION_LABEL,
            &self.refresh.generation,
            true,
        )?;
        {
            let snap = self.snap.read();
            if snap.loaded && snap.generation == generation {
                return Ok(());
            }
        }
        let mut by_name = BTreeMap::new();
        for obj in backend.find(&hidden_objects::template(SECRET_RECORD_APPLICATION, None))? {
            if gen_ids.contains(&obj) {
                continue;
            }
            let v = hidden_objects::read_value(backend, obj)?;
            let parsed = std::str::from_utf8(&v)
                .map_err(|e| e.to_string())
                .and_then(|t| from_record(t).map_err(|e| e.to_string()));
            match parsed {
                Ok(s) => {
                    by_name.insert(s.name().to_string(), Arc::new(s));
                }
                Err(e) => tracing::warn!("a stored secret is unreadable: {e}"),
            }
        }
        *self.snap.write() = Snapshot {
            generation,
            loaded: true,
            by_name,
        };
        Ok(())
    }

    /// Store a secret's record and move the generation.
    pub(crate) fn save(
        &self,
        backend: &dyn Backend,
        objects: &ObjectTable,
        secret: &Secret,
    ) -> Result<()> {
        let text = to_record(secret).map_err(|e| Error::Config(e.to_string()))?;
        hidden_objects::write(
            backend,
            objects,
            SECRET_RECORD_APPLICATION,
            secret.name().as_str(),
            text.into_bytes(),
        )?;
        self.bump(backend, objects)
    }

    /// Remove a secret's record (purged after its recovery window).
    pub(crate) fn remove(
        &self,
        backend: &dyn Backend,
        objects: &ObjectTable,
        name: &str,
    ) -> Result<()> {
        for id in backend.find(&hidden_objects::template(
            SECRET_RECORD_APPLICATION,
            Some(name),
        ))? {
            backend.destroy_object(id)?;
        }
        self.bump(backend, objects)
    }

    fn bump(&self, backend: &dyn Backend, objects: &ObjectTable) -> Result<()> {
        let tag = fresh_tag(backend)?;
        let id = hidden_objects::write_with(
            backend,
            objects,
            SECRET_RECORD_APPLICATION,
            GENERATION_LABEL,
            hex::encode(fresh_generation(backend)?).into_bytes(),
            &[tag_attr(&tag)],
        )?;
        self.refresh.generation.wrote(id, tag);
        self.refresh_now(backend);
        Ok(())
    }
}
