//! `kmsbridge audit verify`: the whole trail against the instance's audit key and the
//! head it holds. Exit 0 with a summary, or 1 naming the first bad record.

use super::instance;
use crate::kms::args::Args;
use crate::kms::refusal::refused;
use crate::module::Error;
use kmsbridge_audit::{verify_dir, Broken, Verifier, LOCK};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The SubjectPublicKeyInfo prefix of a P-256 key (the 65-byte point follows).
const SPKI_PREFIX_LEN: usize = 26;

/// Checks checkpoint signatures with the audit key's public half (none: every
/// signature fails, as it must when the instance never signed one).
struct AuditKey(Option<VerifyingKey>);

impl Verifier for AuditKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let (Some(key), Ok(sig)) = (&self.0, Signature::from_slice(signature)) else {
            return false;
        };
        key.verify_prehash(&Sha256::digest(message), &sig).is_ok()
    }
}

fn key_of(spki: &[u8]) -> Result<Option<VerifyingKey>, Error> {
    if spki.is_empty() {
        return Ok(None);
    }
    let point = spki
        .get(SPKI_PREFIX_LEN..)
        .filter(|p| spki.len() == SPKI_PREFIX_LEN + 65 && p.first() == Some(&4))
        .ok_or_else(|| refused("the instance's audit key is not an EC P-256 key"))?;
    VerifyingKey::from_sec1_bytes(point)
        .map(Some)
        .map_err(|e| refused(format!("the instance's audit key is unreadable: {e}")))
}

pub fn run(a: &Args, json: bool) -> Result<(), Error> {
    let facts = instance::read(a.flag("--pin"))?;
    let dir = instance::dir(a.flag("--dir"), Some(&facts))?;
    let key = AuditKey(key_of(&facts.public_key)?);
    let result = {
        // A shared lock: no writer is half-way through a line while the files are read.
        let _lock = shared_lock(&dir);
        verify_dir(&dir, &key, facts.head.as_ref())
    };
    match result {
        Ok(s) => {
            if json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                let signed = match &s.last_checkpoint {
                    Some(h) => format!("last signed checkpoint at seq {}", h.seq),
                    None => "no signed checkpoint yet".into(),
                };
                println!(
                    "audit trail {} of instance {:?}: OK — {} records in {} files, last seq {}; {signed}; {} records after it (chained, not yet signed); the instance's head (seq {}) is in the trail",
                    dir.display(),
                    facts.instance,
                    s.records,
                    s.files,
                    s.last_seq,
                    s.unsigned_tail,
                    facts.head.as_ref().map_or("none".into(), |h| h.seq.to_string()),
                );
            }
            Ok(())
        }
        Err(b) => {
            if json {
                println!("{}", serde_json::to_string(&b)?);
            }
            Err(refused(describe(&b)))
        }
    }
}

pub fn describe(b: &Broken) -> String {
    format!(
        "audit trail broken: {} line {}{}: {}",
        b.file.display(),
        b.line,
        b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
        b.why
    )
}

/// A shared `flock` on the trail's lock file, released on drop (none if it cannot be
/// had: verification then reads what is there).
pub struct SharedLock(Option<std::fs::File>);

pub fn shared_lock(dir: &Path) -> SharedLock {
    let Ok(f) = std::fs::File::open(dir.join(LOCK)) else {
        return SharedLock(None);
    };
    // SAFETY: the descriptor belongs to `f`, open for this call.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) };
    SharedLock((rc == 0).then_some(f))
}

impl Drop for SharedLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            // SAFETY: the descriptor belongs to `f`, still open here.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}
