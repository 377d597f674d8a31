//! Keys with `CKA_ALWAYS_AUTHENTICATE` on a node token: the token wants a
//! `C_Login(CKU_CONTEXT_SPECIFIC)` after each sign or decrypt Init. The application's
//! context login is checked by the provider against its own front secret; the node's
//! session gives the token the node's own PIN, so the token's check never reaches
//! (or depends on) the application.

use super::library::Library;
use crate::backend::{ObjectId, OpKind};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// What a pool knows of its keys' CKA_ALWAYS_AUTHENTICATE, and the PIN file for it.
#[derive(Default)]
pub struct Reauth {
    /// The node's credential file (its user PIN); unset: never log in per operation.
    credential: OnceLock<PathBuf>,
    /// Keys read once: handles are stable while the pool's sessions stay open.
    known: RwLock<HashMap<ObjectId, bool>>,
}

impl Reauth {
    pub fn set_credential(&self, path: PathBuf) {
        let _ = self.credential.set(path);
    }

    /// The key's attribute changed (or the key went): read it afresh next time.
    pub fn forget(&self, key: ObjectId) {
        self.known.write().remove(&key);
    }

    /// After an Init of `kind` with `key` on session `h`: the context login the
    /// token wants, if the key asks for one.
    pub fn after_init(
        &self,
        lib: &Library,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        key: ObjectId,
    ) -> Result<()> {
        if !matches!(kind, OpKind::Sign | OpKind::Decrypt) || key == CK_INVALID_HANDLE {
            return Ok(());
        }
        let Some(path) = self.credential.get() else {
            return Ok(());
        };
        let cached = self.known.read().get(&key).copied();
        let needed = match cached {
            Some(n) => n,
            None => {
                let n = read_flag(lib, h, key);
                self.known.write().insert(key, n);
                n
            }
        };
        if !needed {
            return Ok(());
        }
        let pin =
            Zeroizing::new(std::fs::read(path).map_err(|e| {
                Error::Unavailable(format!("credential file {}: {e}", path.display()))
            })?);
        let pin = pin.trim_ascii_end();
        let rv = lib.call(
            |l| l.C_Login,
            // SAFETY: the library reads `pin.len()` bytes at `pin`, which lives for
            // the call.
            |f| unsafe {
                f(
                    h,
                    CKU_CONTEXT_SPECIFIC,
                    pin.as_ptr() as *mut u8,
                    pin.len() as CK_ULONG,
                )
            },
        );
        crate::error::check(rv, "C_Login(CKU_CONTEXT_SPECIFIC)")
    }
}

/// CKA_ALWAYS_AUTHENTICATE of `key`; false when the token does not answer it.
fn read_flag(lib: &Library, h: CK_SESSION_HANDLE, key: ObjectId) -> bool {
    let mut v: CK_BBOOL = 0;
    let mut t = [CK_ATTRIBUTE {
        type_: CKA_ALWAYS_AUTHENTICATE,
        pValue: (&mut v as *mut CK_BBOOL).cast(),
        ulValueLen: 1,
    }];
    let rv = lib.call(
        |l| l.C_GetAttributeValue,
        // SAFETY: the library writes at most one byte to `v`, through `t`, and the
        // length into `t`; both live for the call.
        |f| unsafe { f(h, key, t.as_mut_ptr(), 1) },
    );
    rv == CKR_OK && v == CK_TRUE
}
