//! An operation pinned to one pooled backend session from Init to its end.

use super::fixups::{self, FixCtx};
use super::pool::{Lease, Pool, PooledSession};
use crate::backend::{ObjectId, OpKind, Operation, Output};
use crate::error::{Error, Result};
use crate::Mechanism;
use cryptoki_sys::*;
use sha2::digest::DynDigest;
use std::borrow::Borrow;
use zeroize::Zeroizing;

pub struct NodeOp {
    s: PooledSession,
    kind: OpKind,
    done: bool,
    /// Set for a composed `CKM_ECDSA_SHA*`: data is hashed here, the backend signs raw.
    prehash: Option<Box<dyn DynDigest + Send>>,
    fix: FixCtx,
}

fn out_parts(out: &mut Output) -> (*mut u8, CK_ULONG) {
    match out {
        Some(b) => (b.as_mut_ptr(), b.len() as CK_ULONG),
        None => (std::ptr::null_mut(), 0),
    }
}

fn ptr(b: &[u8]) -> *mut u8 {
    b.as_ptr() as *mut u8
}

/// Picks one function of a library's list.
type Pick<F> = fn(&CK_FUNCTION_LIST) -> F;

/// The Init of a kind that takes a key (all but Digest): one signature for the four.
fn keyed_init(kind: OpKind) -> Option<Pick<CK_C_EncryptInit>> {
    let pick: Pick<CK_C_EncryptInit> = match kind {
        OpKind::Encrypt => |l| l.C_EncryptInit,
        OpKind::Decrypt => |l| l.C_DecryptInit,
        OpKind::Sign => |l| l.C_SignInit,
        OpKind::Verify => |l| l.C_VerifyInit,
        OpKind::Digest => return None,
    };
    Some(pick)
}

/// The single-part call of a kind that answers output (all but Verify), and its name.
fn single_part(kind: OpKind) -> Option<(Pick<CK_C_Encrypt>, &'static str)> {
    let pick: (Pick<CK_C_Encrypt>, &'static str) = match kind {
        OpKind::Encrypt => (|l| l.C_Encrypt, "C_Encrypt"),
        OpKind::Decrypt => (|l| l.C_Decrypt, "C_Decrypt"),
        OpKind::Sign => (|l| l.C_Sign, "C_Sign"),
        OpKind::Digest => (|l| l.C_Digest, "C_Digest"),
        OpKind::Verify => return None,
    };
    Some(pick)
}

/// The update of a kind that answers output (Encrypt, Decrypt), and its name.
fn update_with_output(kind: OpKind) -> Option<(Pick<CK_C_EncryptUpdate>, &'static str)> {
    let pick: (Pick<CK_C_EncryptUpdate>, &'static str) = match kind {
        OpKind::Encrypt => (|l| l.C_EncryptUpdate, "C_EncryptUpdate"),
        OpKind::Decrypt => (|l| l.C_DecryptUpdate, "C_DecryptUpdate"),
        _ => return None,
    };
    Some(pick)
}

/// The update of a kind that only takes input (Sign, Verify, Digest), and its name.
fn update_input_only(kind: OpKind) -> Option<(Pick<CK_C_SignUpdate>, &'static str)> {
    let pick: (Pick<CK_C_SignUpdate>, &'static str) = match kind {
        OpKind::Sign => (|l| l.C_SignUpdate, "C_SignUpdate"),
        OpKind::Verify => (|l| l.C_VerifyUpdate, "C_VerifyUpdate"),
        OpKind::Digest => (|l| l.C_DigestUpdate, "C_DigestUpdate"),
        _ => return None,
    };
    Some(pick)
}

/// The Final of a kind that answers output (all but Verify), and its name.
fn final_part(kind: OpKind) -> Option<(Pick<CK_C_EncryptFinal>, &'static str)> {
    let pick: (Pick<CK_C_EncryptFinal>, &'static str) = match kind {
        OpKind::Encrypt => (|l| l.C_EncryptFinal, "C_EncryptFinal"),
        OpKind::Decrypt => (|l| l.C_DecryptFinal, "C_DecryptFinal"),
        OpKind::Sign => (|l| l.C_SignFinal, "C_SignFinal"),
        OpKind::Digest => (|l| l.C_DigestFinal, "C_DigestFinal"),
        OpKind::Verify => return None,
    };
    Some(pick)
}

impl NodeOp {
    pub fn begin(
        s: PooledSession,
        kind: OpKind,
        backend_mech: &Mechanism,
        key: Option<ObjectId>,
        prehash: Option<Box<dyn DynDigest + Send>>,
    ) -> Result<NodeOp> {
        let h = s.handle();
        let key = key.unwrap_or(CK_INVALID_HANDLE);
        let init = |s: &PooledSession| {
            backend_mech.with_raw(|m| match keyed_init(kind) {
                Some(pick) => s.lib().call(
                    pick,
                    // SAFETY: the library reads the mechanism `m` (and its parameter),
                    // which lives for the call.
                    |f| unsafe { f(h, m, key) },
                ),
                None => s.lib().call(
                    |l| l.C_DigestInit,
                    // SAFETY: the library reads the mechanism `m`, which lives for the call.
                    |f| unsafe { f(h, m) },
                ),
            })
        };
        let mut rv = init(&s);
        if rv == CKR_OPERATION_ACTIVE {
            // A previous user's operation lingers (a library that did not let the
            // cancel end it): end every kind and retry once.
            cancel_all(&s);
            rv = init(&s);
        }
        if rv != CKR_OK {
            return Err(Error::rv(rv, init_name(kind)));
        }
        Ok(NodeOp {
            s,
            kind,
            done: false,
            prehash,
            fix: FixCtx::new(kind, backend_mech, Some(key)),
        })
    }

    /// Bytes of an RSA key's modulus, read on this operation's session.
    pub fn modulus_len(&self, key: ObjectId) -> Option<usize> {
        fixups::modulus_len(&self.s, key)
    }

    /// Random bytes from the backend, on this operation's session.
    pub fn random(&self, out: &mut [u8]) -> Result<()> {
        let rv = self.lib().call(
            |l| l.C_GenerateRandom,
            // SAFETY: the library writes `out.len()` bytes to `out`, which lives for
            // the call.
            |f| unsafe { f(self.s.handle(), out.as_mut_ptr(), out.len() as CK_ULONG) },
        );
        crate::error::check(rv, "C_GenerateRandom")
    }

    fn lib(&self) -> &super::Library {
        self.s.lib()
    }

    /// Record the outcome of a call that may leave the operation active.
    fn settle(
        &mut self,
        rv: CK_RV,
        len: CK_ULONG,
        length_query: bool,
        func: &'static str,
        input_len: usize,
    ) -> Result<usize> {
        let rv = fixups::correct(&self.s, &self.fix, rv, input_len);
        match rv {
            CKR_OK => {
                if !length_query {
                    self.done = true;
                }
                Ok(len as usize)
            }
            CKR_BUFFER_TOO_SMALL => Err(Error::BufferTooSmall(len as usize)),
            _ => {
                self.done = true;
                Err(Error::rv(rv, func))
            }
        }
    }

    fn end(&mut self, rv: CK_RV, func: &'static str) -> Result<()> {
        let rv = fixups::correct(&self.s, &self.fix, rv, 0);
        self.done = true;
        crate::error::check(rv, func)
    }

    fn prehashed(&self, data: Option<&[u8]>) -> Option<Box<[u8]>> {
        let h = self.prehash.as_ref()?;
        let mut h = h.box_clone();
        if let Some(d) = data {
            h.update(d);
        }
        Some(h.finalize())
    }

    /// C_Verify of `data` against `signature`, ending the operation.
    fn verify_once(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        let h = self.s.handle();
        let rv = self.lib().call(
            |l| l.C_Verify,
            // SAFETY: the library reads `data.len()` bytes at `data` and
            // `signature.len()` bytes at `signature`; both live for the call.
            |f| unsafe {
                f(
                    h,
                    ptr(data),
                    data.len() as CK_ULONG,
                    ptr(signature),
                    signature.len() as CK_ULONG,
                )
            },
        );
        self.end(rv, "C_Verify")
    }
}

fn init_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Encrypt => "C_EncryptInit",
        OpKind::Decrypt => "C_DecryptInit",
        OpKind::Sign => "C_SignInit",
        OpKind::Verify => "C_VerifyInit",
        OpKind::Digest => "C_DigestInit",
    }
}

/// End an active backend operation. PKCS#11 2.40 has no cancel call, and libraries
/// differ in which errors end an operation (SoftHSM2 keeps it after
/// CKR_ARGUMENTS_BAD). So finish it for real into a scratch buffer, then try the
/// single-part form with empty input; whichever applies ends it, the other answers
/// an error that changes nothing. The result is discarded and zeroized.
pub(super) fn cancel<P: Borrow<Pool>>(s: &Lease<P>, kind: OpKind) {
    if s.forgotten() {
        return;
    }
    let h = s.handle();
    let mut scratch = Zeroizing::new(vec![0u8; 8192]);
    let out = scratch.as_mut_ptr();
    let mut len = scratch.len() as CK_ULONG;
    let empty = scratch.as_mut_ptr();
    let _ = match final_part(kind) {
        Some((pick, _)) => s.lib().call(
            pick,
            // SAFETY: the library writes at most `len` (= `scratch.len()`) bytes to
            // `out`, in `scratch`, and the length to `len`; both live for the call.
            |f| unsafe { f(h, out, &mut len) },
        ),
        None => s.lib().call(
            |l| l.C_VerifyFinal,
            // SAFETY: the library reads one byte of signature at `out`, in `scratch`,
            // which lives for the call.
            |f| unsafe { f(h, out, 1) },
        ),
    };
    len = scratch.len() as CK_ULONG;
    let _ = match single_part(kind) {
        Some((pick, _)) => s.lib().call(
            pick,
            // SAFETY: no input (length 0); the library writes at most `len`
            // (= `scratch.len()`) bytes to `out`, in `scratch`, and the length to
            // `len`; both live for the call.
            |f| unsafe { f(h, empty, 0, out, &mut len) },
        ),
        None => s.lib().call(
            |l| l.C_Verify,
            // SAFETY: no data (length 0); the library reads one byte of signature at
            // `out`, in `scratch`, which lives for the call.
            |f| unsafe { f(h, empty, 0, out, 1) },
        ),
    };
}

/// End whatever operation a session may hold: before an Init that found one active.
pub(super) fn cancel_all<P: Borrow<Pool>>(s: &Lease<P>) {
    for kind in [
        OpKind::Encrypt,
        OpKind::Decrypt,
        OpKind::Sign,
        OpKind::Verify,
        OpKind::Digest,
    ] {
        cancel(s, kind);
    }
}

impl Operation for NodeOp {
    fn run(&mut self, input: &[u8], mut out: Output) -> Result<usize> {
        let h = self.s.handle();
        let (op, mut len) = out_parts(&mut out);
        let query = op.is_null();
        let digest = self.prehashed(Some(input));
        let data: &[u8] = digest.as_deref().unwrap_or(input);
        let n = data.len() as CK_ULONG;
        let Some((pick, func)) = single_part(self.kind) else {
            return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "run"));
        };
        let rv = self.lib().call(
            pick,
            // SAFETY: the library reads `n` bytes at `data`, writes at most `len` bytes
            // to `op` (none when NULL: a length query) and the result's length to
            // `len`; all live for the call.
            |f| unsafe { f(h, ptr(data), n, op, &mut len) },
        );
        self.settle(rv, len, query, func, data.len())
    }

    fn update_out(&mut self, input: &[u8], mut out: Output) -> Result<usize> {
        let h = self.s.handle();
        let (op, mut len) = out_parts(&mut out);
        let n = input.len() as CK_ULONG;
        let Some((pick, func)) = update_with_output(self.kind) else {
            return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "update"));
        };
        let rv = self.lib().call(
            pick,
            // SAFETY: the library reads `n` bytes at `input`, writes at most `len`
            // bytes to `op` (none when NULL: a length query) and the output's length
            // to `len`; all live for the call.
            |f| unsafe { f(h, ptr(input), n, op, &mut len) },
        );
        // An update always leaves the operation active unless it failed.
        match rv {
            CKR_OK => Ok(len as usize),
            _ => self.settle(rv, len, true, func, input.len()),
        }
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        if let Some(hash) = self.prehash.as_mut() {
            hash.update(input);
            return Ok(());
        }
        let h = self.s.handle();
        let n = input.len() as CK_ULONG;
        let Some((pick, func)) = update_input_only(self.kind) else {
            return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "update"));
        };
        let rv = self.lib().call(
            pick,
            // SAFETY: the library reads `n` bytes at `input`, which lives for the call.
            |f| unsafe { f(h, ptr(input), n) },
        );
        if rv != CKR_OK {
            return self.end(rv, func);
        }
        Ok(())
    }

    fn update_key(&mut self, key: ObjectId) -> Result<()> {
        let h = self.s.handle();
        let rv = self.lib().call(
            |l| l.C_DigestKey,
            // SAFETY: handles only; no buffer is passed.
            |f| unsafe { f(h, key) },
        );
        if rv != CKR_OK {
            return self.end(rv, "C_DigestKey");
        }
        Ok(())
    }

    fn finish(&mut self, mut out: Output) -> Result<usize> {
        let h = self.s.handle();
        let (op, mut len) = out_parts(&mut out);
        let query = op.is_null();
        if let Some(digest) = self.prehashed(None) {
            let rv = self.lib().call(
                |l| l.C_Sign,
                // SAFETY: the library reads `digest.len()` bytes at `digest`, writes at
                // most `len` bytes to `op` (none when NULL: a length query) and the
                // signature's length to `len`; all live for the call.
                |f| unsafe { f(h, ptr(&digest), digest.len() as CK_ULONG, op, &mut len) },
            );
            return self.settle(rv, len, query, "C_Sign", digest.len());
        }
        let Some((pick, func)) = final_part(self.kind) else {
            return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "finish"));
        };
        let rv = self.lib().call(
            pick,
            // SAFETY: the library writes at most `len` bytes to `op` (none when NULL: a
            // length query) and the output's length to `len`; both live for the call.
            |f| unsafe { f(h, op, &mut len) },
        );
        self.settle(rv, len, query, func, 0)
    }

    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        let digest = self.prehashed(Some(data));
        let data: &[u8] = digest.as_deref().unwrap_or(data);
        self.verify_once(data, signature)
    }

    fn verify_finish(&mut self, signature: &[u8]) -> Result<()> {
        if let Some(digest) = self.prehashed(None) {
            return self.verify_once(&digest, signature);
        }
        let h = self.s.handle();
        let rv = self.lib().call(
            |l| l.C_VerifyFinal,
            // SAFETY: the library reads `signature.len()` bytes at `signature`, which
            // lives for the call.
            |f| unsafe { f(h, ptr(signature), signature.len() as CK_ULONG) },
        );
        self.end(rv, "C_VerifyFinal")
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

impl Drop for NodeOp {
    fn drop(&mut self) {
        if !self.done {
            cancel(&self.s, self.kind);
        }
    }
}
