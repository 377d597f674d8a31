//! What the instance keeps of its trail, outside the trail's files: the latest signed
//! head (`audit.head`, so a truncated trail is found out) and the audit key's id and
//! public half (`audit.public`). Both are hidden data objects (`kmsbridge.meta`,
//! private): on a software store sealed under the user's PIN, on an HSM its own.

use crate::error::Result;
use crate::hidden_objects::{read_value, template, write};
use crate::objects::ObjectTable;
use crate::vendor::META_APPLICATION;
use kmsbridge_audit::{Head, HeadSink};
use kmsbridge_bridge::Backend;
use std::sync::Arc;

const HEAD: &str = "audit.head";
const PUBLIC: &str = "audit.public";

/// The trail's head sink: every new head goes into the instance.
pub(super) struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    pub(super) fn new(backend: Arc<dyn Backend>) -> Self {
        Store { backend }
    }
}

impl HeadSink for Store {
    fn publish(&self, head: &Head) -> std::result::Result<(), String> {
        let json = serde_json::to_vec(head).map_err(|e| e.to_string())?;
        save(&*self.backend, HEAD, json).map_err(|e| e.to_string())
    }
}

/// Writes hidden object `label`. No front handle ever names these objects, so the
/// handle table `write` would rebind is a throwaway one.
fn save(b: &dyn Backend, label: &str, value: Vec<u8>) -> Result<()> {
    write(b, &ObjectTable::default(), META_APPLICATION, label, value).map(drop)
}

fn load(b: &dyn Backend, label: &str) -> Result<Option<Vec<u8>>> {
    match b.find(&template(META_APPLICATION, Some(label)))?.first() {
        Some(id) => read_value(b, *id).map(Some),
        None => Ok(None),
    }
}

/// The latest head as JSON, if a checkpoint was ever signed.
pub(crate) fn head_json(b: &dyn Backend) -> Result<Option<Vec<u8>>> {
    load(b, HEAD)
}

/// `audit.public`: `<key id hex> <SubjectPublicKeyInfo hex>`.
pub(crate) fn public_record(b: &dyn Backend) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let Some(v) = load(b, PUBLIC)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&v);
    let parsed = text
        .split_once(' ')
        .and_then(|(id, spki)| Some((hex::decode(id).ok()?, hex::decode(spki.trim()).ok()?)));
    match parsed {
        Some(p) => Ok(Some(p)),
        None => crate::error::rule(cryptoki_sys::CKR_GENERAL_ERROR, "audit.public is malformed"),
    }
}

pub(super) fn save_public(b: &dyn Backend, id: &[u8], spki: &[u8]) -> Result<()> {
    let v = format!("{} {}", hex::encode(id), hex::encode(spki));
    save(b, PUBLIC, v.into_bytes())
}
