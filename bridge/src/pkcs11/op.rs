//! An operation pinned to one pooled backend session from Init to its end.

use super::fixups::{self, FixCtx};
use super::kinds::{self, Absorbs, Answers, Ciphers, Kind};
use super::pool::{Lease, Pool, PooledSession};
use crate::backend::{ObjectId, OpKind, Output};
use crate::error::{Error, Result};
use crate::op::{Cipher, Digesting, Operation, Signing, Verifying};
use crate::Mechanism;
use cryptoki_sys::*;
use sha2::digest::DynDigest;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::sync::Arc;
use zeroize::Zeroizing;

/// An operation of kind `K` ([`kinds`]): it implements `K`'s trait alone.
pub struct NodeOp<K> {
    s: PooledSession,
    done: bool,
    /// Set for a composed `CKM_ECDSA_SHA*`: data is hashed here, the backend signs raw.
    prehash: Option<Box<dyn DynDigest + Send>>,
    fix: FixCtx,
    kind: PhantomData<K>,
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

impl<K: Kind> NodeOp<K> {
    pub fn begin(
        s: PooledSession,
        backend_mech: &Mechanism,
        key: ObjectId,
        prehash: Option<Box<dyn DynDigest + Send>>,
    ) -> Result<NodeOp<K>> {
        let h = s.handle();
        let init = |s: &PooledSession| backend_mech.with_raw(|m| K::init(s.lib(), h, m, key));
        let mut rv = init(&s);
        if rv == CKR_OPERATION_ACTIVE {
            // A previous user's operation lingers (a library that did not let the
            // cancel end it): end every kind and retry once.
            cancel_all(&s);
            rv = init(&s);
        }
        if rv != CKR_OK {
            return Err(Error::rv(rv, K::INIT));
        }
        s.reauth().after_init(s.lib(), h, K::KIND, key)?;
        Ok(NodeOp {
            s,
            done: false,
            prehash,
            fix: FixCtx::new(K::KIND, backend_mech, Some(key)),
            kind: PhantomData,
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
}

impl<K: Answers> NodeOp<K> {
    /// The single-part call (C_Encrypt, C_Decrypt, C_Sign, C_Digest) on `data`.
    fn single(&mut self, data: &[u8], mut out: Output) -> Result<usize> {
        let h = self.s.handle();
        let (op, mut len) = out_parts(&mut out);
        let query = op.is_null();
        let n = data.len() as CK_ULONG;
        let (pick, func) = K::RUN;
        if let Some(rv) = fixups::refuse(&self.s, &self.fix, data.len()) {
            return self.settle(rv, 0, false, func, data.len());
        }
        let rv = self.lib().call(
            pick,
            // SAFETY: the library reads `n` bytes at `data`, writes at most `len` bytes
            // to `op` (none when NULL: a length query) and the result's length to
            // `len`; all live for the call.
            |f| unsafe { f(h, ptr(data), n, op, &mut len) },
        );
        self.settle(rv, len, query, func, data.len())
    }

    /// The final call (C_EncryptFinal, C_DecryptFinal, C_SignFinal, C_DigestFinal).
    fn last(&mut self, mut out: Output) -> Result<usize> {
        let h = self.s.handle();
        let (op, mut len) = out_parts(&mut out);
        let query = op.is_null();
        let (pick, func) = K::FINAL;
        let rv = self.lib().call(
            pick,
            // SAFETY: the library writes at most `len` bytes to `op` (none when NULL: a
            // length query) and the output's length to `len`; both live for the call.
            |f| unsafe { f(h, op, &mut len) },
        );
        self.settle(rv, len, query, func, 0)
    }
}

impl<K: Absorbs> NodeOp<K> {
    /// The update of a kind that answers only at the end (sign, verify, digest).
    fn absorb(&mut self, input: &[u8]) -> Result<()> {
        if let Some(hash) = self.prehash.as_mut() {
            hash.update(input);
            return Ok(());
        }
        let h = self.s.handle();
        let n = input.len() as CK_ULONG;
        let (pick, func) = K::UPDATE;
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
    let Some(((run, _), (fin, _))) = kinds::answers(kind) else {
        let _ = s.lib().call(
            |l| l.C_VerifyFinal,
            // SAFETY: the library reads one byte of signature at `out`, in `scratch`,
            // which lives for the call.
            |f| unsafe { f(h, out, 1) },
        );
        let _ = s.lib().call(
            |l| l.C_Verify,
            // SAFETY: no data (length 0); the library reads one byte of signature at
            // `out`, in `scratch`, which lives for the call.
            |f| unsafe { f(h, empty, 0, out, 1) },
        );
        return;
    };
    let _ = s.lib().call(
        fin,
        // SAFETY: the library writes at most `len` (= `scratch.len()`) bytes to
        // `out`, in `scratch`, and the length to `len`; both live for the call.
        |f| unsafe { f(h, out, &mut len) },
    );
    len = scratch.len() as CK_ULONG;
    let _ = s.lib().call(
        run,
        // SAFETY: no input (length 0); the library writes at most `len`
        // (= `scratch.len()`) bytes to `out`, in `scratch`, and the length to `len`;
        // both live for the call.
        |f| unsafe { f(h, empty, 0, out, &mut len) },
    );
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

/// A signing or verifying operation on `pool`; a composed `CKM_ECDSA_SHA*`
/// (`composed_ecdsa`: the library signs raw ECDSA only) hashes here.
pub fn begin_signature<K: Absorbs>(
    pool: &Arc<Pool>,
    composed_ecdsa: bool,
    mech: &Mechanism,
    key: ObjectId,
) -> Result<NodeOp<K>> {
    if composed_ecdsa {
        if let Some(hash) = super::prehash::hash_for(mech.ty) {
            let raw = Mechanism::simple(CKM_ECDSA);
            return NodeOp::begin(pool.get()?, &raw, key, Some(hash));
        }
    }
    NodeOp::begin(pool.get()?, mech, key, None)
}

impl<K: Kind> Operation for NodeOp<K> {
    fn is_done(&self) -> bool {
        self.done
    }
}

impl<K: Ciphers> Cipher for NodeOp<K> {
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize> {
        self.single(input, out)
    }

    fn update(&mut self, input: &[u8], mut out: Output) -> Result<usize> {
        let h = self.s.handle();
        let (op, mut len) = out_parts(&mut out);
        let n = input.len() as CK_ULONG;
        let (pick, func) = K::UPDATE;
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

    fn finish(&mut self, out: Output) -> Result<usize> {
        self.last(out)
    }
}

impl Signing for NodeOp<kinds::Sign> {
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize> {
        let digest = self.prehashed(Some(input));
        self.single(digest.as_deref().unwrap_or(input), out)
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.absorb(input)
    }

    fn finish(&mut self, out: Output) -> Result<usize> {
        // A composed ECDSA signs the digest of everything absorbed, single-part.
        match self.prehashed(None) {
            Some(digest) => self.single(&digest, out),
            None => self.last(out),
        }
    }
}

impl NodeOp<kinds::Verify> {
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

impl Verifying for NodeOp<kinds::Verify> {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        let digest = self.prehashed(Some(data));
        self.verify_once(digest.as_deref().unwrap_or(data), signature)
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.absorb(input)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
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
}

impl Digesting for NodeOp<kinds::Digest> {
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize> {
        self.single(input, out)
    }

    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.absorb(input)
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

    fn finish(&mut self, out: Output) -> Result<usize> {
        self.last(out)
    }
}

impl<K> Drop for NodeOp<K> {
    fn drop(&mut self) {
        if !self.done {
            cancel(&self.s, self.fix.kind);
        }
    }
}
