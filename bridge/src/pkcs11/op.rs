//! An operation pinned to one pooled backend session from Init to its end.

use super::fixups::{self, FixCtx};
use super::library::p11;
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
            backend_mech.with_raw(|m| match kind {
                OpKind::Encrypt => p11!(s.lib(), C_EncryptInit(h, m, key)),
                OpKind::Decrypt => p11!(s.lib(), C_DecryptInit(h, m, key)),
                OpKind::Sign => p11!(s.lib(), C_SignInit(h, m, key)),
                OpKind::Verify => p11!(s.lib(), C_VerifyInit(h, m, key)),
                OpKind::Digest => p11!(s.lib(), C_DigestInit(h, m)),
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
        let rv = p11!(
            self.lib(),
            C_GenerateRandom(self.s.handle(), out.as_mut_ptr(), out.len() as CK_ULONG)
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
    let _ = match kind {
        OpKind::Encrypt => p11!(s.lib(), C_EncryptFinal(h, out, &mut len)),
        OpKind::Decrypt => p11!(s.lib(), C_DecryptFinal(h, out, &mut len)),
        OpKind::Sign => p11!(s.lib(), C_SignFinal(h, out, &mut len)),
        OpKind::Verify => p11!(s.lib(), C_VerifyFinal(h, out, 1)),
        OpKind::Digest => p11!(s.lib(), C_DigestFinal(h, out, &mut len)),
    };
    len = scratch.len() as CK_ULONG;
    let _ = match kind {
        OpKind::Encrypt => p11!(s.lib(), C_Encrypt(h, empty, 0, out, &mut len)),
        OpKind::Decrypt => p11!(s.lib(), C_Decrypt(h, empty, 0, out, &mut len)),
        OpKind::Sign => p11!(s.lib(), C_Sign(h, empty, 0, out, &mut len)),
        OpKind::Verify => p11!(s.lib(), C_Verify(h, empty, 0, out, 1)),
        OpKind::Digest => p11!(s.lib(), C_Digest(h, empty, 0, out, &mut len)),
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
        let (rv, f) = match self.kind {
            OpKind::Encrypt => (
                p11!(self.lib(), C_Encrypt(h, ptr(data), n, op, &mut len)),
                "C_Encrypt",
            ),
            OpKind::Decrypt => (
                p11!(self.lib(), C_Decrypt(h, ptr(data), n, op, &mut len)),
                "C_Decrypt",
            ),
            OpKind::Sign => (
                p11!(self.lib(), C_Sign(h, ptr(data), n, op, &mut len)),
                "C_Sign",
            ),
            OpKind::Digest => (
                p11!(self.lib(), C_Digest(h, ptr(data), n, op, &mut len)),
                "C_Digest",
            ),
            OpKind::Verify => return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "run")),
        };
        self.settle(rv, len, query, f, data.len())
    }

    fn update_out(&mut self, input: &[u8], mut out: Output) -> Result<usize> {
        let h = self.s.handle();
        let (op, mut len) = out_parts(&mut out);
        let n = input.len() as CK_ULONG;
        let (rv, f) = match self.kind {
            OpKind::Encrypt => (
                p11!(self.lib(), C_EncryptUpdate(h, ptr(input), n, op, &mut len)),
                "C_EncryptUpdate",
            ),
            OpKind::Decrypt => (
                p11!(self.lib(), C_DecryptUpdate(h, ptr(input), n, op, &mut len)),
                "C_DecryptUpdate",
            ),
            _ => return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "update")),
        };
        // An update always leaves the operation active unless it failed.
        match rv {
            CKR_OK => Ok(len as usize),
            _ => self.settle(rv, len, true, f, input.len()),
        }
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        if let Some(hash) = self.prehash.as_mut() {
            hash.update(input);
            return Ok(());
        }
        let h = self.s.handle();
        let n = input.len() as CK_ULONG;
        let (rv, f) = match self.kind {
            OpKind::Sign => (
                p11!(self.lib(), C_SignUpdate(h, ptr(input), n)),
                "C_SignUpdate",
            ),
            OpKind::Verify => (
                p11!(self.lib(), C_VerifyUpdate(h, ptr(input), n)),
                "C_VerifyUpdate",
            ),
            OpKind::Digest => (
                p11!(self.lib(), C_DigestUpdate(h, ptr(input), n)),
                "C_DigestUpdate",
            ),
            _ => return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "update")),
        };
        if rv != CKR_OK {
            return self.end(rv, f);
        }
        Ok(())
    }

    fn update_key(&mut self, key: ObjectId) -> Result<()> {
        let h = self.s.handle();
        let rv = p11!(self.lib(), C_DigestKey(h, key));
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
            let rv = p11!(
                self.lib(),
                C_Sign(h, ptr(&digest), digest.len() as CK_ULONG, op, &mut len)
            );
            return self.settle(rv, len, query, "C_Sign", digest.len());
        }
        let (rv, f) = match self.kind {
            OpKind::Encrypt => (
                p11!(self.lib(), C_EncryptFinal(h, op, &mut len)),
                "C_EncryptFinal",
            ),
            OpKind::Decrypt => (
                p11!(self.lib(), C_DecryptFinal(h, op, &mut len)),
                "C_DecryptFinal",
            ),
            OpKind::Sign => (
                p11!(self.lib(), C_SignFinal(h, op, &mut len)),
                "C_SignFinal",
            ),
            OpKind::Digest => (
                p11!(self.lib(), C_DigestFinal(h, op, &mut len)),
                "C_DigestFinal",
            ),
            OpKind::Verify => return Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "finish")),
        };
        self.settle(rv, len, query, f, 0)
    }

    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        let h = self.s.handle();
        let digest = self.prehashed(Some(data));
        let data: &[u8] = digest.as_deref().unwrap_or(data);
        let rv = p11!(
            self.lib(),
            C_Verify(
                h,
                ptr(data),
                data.len() as CK_ULONG,
                ptr(signature),
                signature.len() as CK_ULONG
            )
        );
        self.end(rv, "C_Verify")
    }

    fn verify_finish(&mut self, signature: &[u8]) -> Result<()> {
        let h = self.s.handle();
        if let Some(digest) = self.prehashed(None) {
            let rv = p11!(
                self.lib(),
                C_Verify(
                    h,
                    ptr(&digest),
                    digest.len() as CK_ULONG,
                    ptr(signature),
                    signature.len() as CK_ULONG
                )
            );
            return self.end(rv, "C_Verify");
        }
        let rv = p11!(
            self.lib(),
            C_VerifyFinal(h, ptr(signature), signature.len() as CK_ULONG)
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
