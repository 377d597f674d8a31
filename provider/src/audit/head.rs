//! What the instance keeps of its trail, outside the trail's files: the latest signed
//! head (`audit.head`, so a truncated trail is found out) and the audit key's id and
//! public half (`audit.public`). Both are hidden data objects (`kmsbridge.meta`,
//! private): on a software store sealed under the user's PIN, on an HSM its own.

use crate::error::Result;
use crate::hidden_objects::{read_value, template, write};
use crate::objects::ObjectTable;
use crate::vendor::META_APPLICATION;
use kmsbridge_audit::{segments, Head, HeadSink};
use kmsbridge_bridge::Backend;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const HEAD: &str = "audit.head";
const PUBLIC: &str = "audit.public";

/// The trail's head sink: every new head goes into the instance — but only one that
/// extends the head kept there. A trail cut or rewritten before that head would
/// otherwise have its next checkpoint replace the evidence: the kept head stays, and
/// `kmsbridge audit verify` names where the trail left it.
pub(super) struct Store {
    backend: Arc<dyn Backend>,
    dir: PathBuf,
}

impl Store {
    pub(super) fn new(backend: Arc<dyn Backend>, dir: PathBuf) -> Self {
        Store { backend, dir }
    }
}

impl HeadSink for Store {
    fn publish(&self, head: &Head) -> std::result::Result<(), String> {
        let b = &*self.backend;
        let kept = head_json(b)
            .map_err(|e| e.to_string())?
            .and_then(|v| serde_json::from_slice::<Head>(&v).ok());
        if let Some(old) = kept.filter(|old| old.instance == head.instance) {
            if head.seq <= old.seq || !holds(&self.dir, &old) {
                return Err(format!(
                    "the trail no longer holds the signed head at seq {} the instance keeps \
                     (cut or rewritten); that head stays",
                    old.seq
                ));
            }
        }
        let json = serde_json::to_vec(head).map_err(|e| e.to_string())?;
        save(b, HEAD, json).map_err(|e| e.to_string())
    }
}

/// Whether the trail in `dir` still has `head`'s checkpoint record, by its seq and
/// hash. Only the file that must hold it is read (segments are named by their last
/// seq), line prefixes compared without parsing.
fn holds(dir: &Path, head: &Head) -> bool {
    let Ok(files) = segments(dir) else {
        return false;
    };
    let last_seq = |p: &Path| -> Option<u64> {
        p.file_name()?
            .to_str()?
            .strip_prefix("audit-")?
            .strip_suffix(".log")?
            .parse()
            .ok()
    };
    let Some(file) = files
        .iter()
        .find(|p| last_seq(p).is_none_or(|last| last >= head.seq))
    else {
        return false;
    };
    let Ok(f) = std::fs::File::open(file) else {
        return false;
    };
    let start = format!("{{\"seq\":{},", head.seq);
    let end = format!("\"hash\":\"{}\"}}", head.hash);
    BufReader::new(f)
        .lines()
        .map_while(std::result::Result::ok)
        .find(|l| l.starts_with(&start))
        .is_some_and(|l| l.ends_with(&end))
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
