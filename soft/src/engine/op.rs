//! The operation traits implemented once for every mechanism, over two small
//! traits: [`Crypt`] (encrypt/decrypt, output per step: a [`Cipher`]) and [`Mac`]
//! (sign, verify, digest: absorb, then one output or check: a [`Signing`],
//! [`Verifying`] or [`Digesting`]).
//!
//! Semantics (`kmsbridge_bridge::op`): `out == None` is a length query that keeps the operation;
//! `CKR_BUFFER_TOO_SMALL` keeps it; every other error and every final success ends it.
//! A step whose output length is known only after computing it (CBC-PAD and RSA
//! decryption) computes once, and holds the result for the caller's retry with a
//! larger buffer when the first was too small.

use cryptoki_sys::*;
use kmsbridge_bridge::backend::{ObjectId, Output};
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::op::{Cipher, Digesting, Operation, Signing, Verifying};
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// C_Encrypt / C_Decrypt.
    Single,
    /// C_EncryptUpdate / C_DecryptUpdate.
    Update,
    /// C_EncryptFinal / C_DecryptFinal (no input).
    Final,
}

/// Encryption or decryption, step by step.
pub trait Crypt: Send {
    /// The most bytes the step produces for `n` bytes of input.
    fn bound(&self, phase: Phase, n: usize) -> usize;
    /// True when `bound` is the exact output length.
    fn exact(&self, _phase: Phase) -> bool {
        true
    }
    /// Run the step into `out`, which is at least `bound` long.
    fn step(&mut self, phase: Phase, input: &[u8], out: &mut [u8]) -> Result<usize>;
    /// Whether C_xxxUpdate/C_xxxFinal are offered.
    fn multipart(&self) -> bool {
        true
    }
}

/// Sign, verify or digest: data in, one output or check at the end.
pub trait Mac: Send {
    /// Exact length of the signature, MAC or digest.
    fn len(&self) -> usize;
    /// Whether C_xxxUpdate is offered.
    fn multipart(&self) -> bool {
        true
    }
    fn absorb(&mut self, data: &[u8]) -> Result<()>;
    /// The output over everything absorbed, into `out` (at least `len` long).
    fn sign(&mut self, out: &mut [u8]) -> Result<usize>;
    /// Check `sig` over everything absorbed.
    fn verify(&mut self, sig: &[u8]) -> Result<()>;
}

fn not_init<T>() -> Result<T> {
    Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "engine operation"))
}

fn single_part<T>() -> Result<T> {
    Err(Error::rv(
        CKR_FUNCTION_NOT_SUPPORTED,
        "mechanism is single-part only",
    ))
}

/// An encrypt or decrypt operation.
pub struct CryptOp<C> {
    inner: C,
    done: bool,
    held: Option<Zeroizing<Vec<u8>>>,
}

impl<C: Crypt + 'static> CryptOp<C> {
    pub fn boxed(inner: C) -> Box<dyn Cipher> {
        Box::new(CryptOp {
            inner,
            done: false,
            held: None,
        })
    }
}

impl<C: Crypt> CryptOp<C> {
    fn end<T>(&mut self, r: Result<T>) -> Result<T> {
        if !matches!(r, Err(Error::BufferTooSmall(_))) {
            self.done = true;
        }
        r
    }

    fn drive(&mut self, phase: Phase, input: &[u8], out: Output) -> Result<usize> {
        if self.done {
            return not_init();
        }
        let last = phase != Phase::Update;
        if let Some(held) = self.held.as_ref() {
            let n = held.len();
            return match out {
                None => Ok(n),
                Some(buf) if buf.len() < n => Err(Error::BufferTooSmall(n)),
                Some(buf) => {
                    put(buf, held)?;
                    self.held = None;
                    self.done = last;
                    Ok(n)
                }
            };
        }
        let bound = self.inner.bound(phase, input.len());
        let Some(buf) = out else {
            return Ok(bound);
        };
        if buf.len() >= bound {
            let r = self.inner.step(phase, input, buf);
            if r.is_err() || last {
                self.done = true;
            }
            return r;
        }
        if self.inner.exact(phase) {
            return Err(Error::BufferTooSmall(bound));
        }
        let mut tmp = Zeroizing::new(vec![0u8; bound]);
        match self.inner.step(phase, input, &mut tmp) {
            Ok(n) if n <= buf.len() => {
                put(buf, prefix(&tmp, n)?)?;
                self.done = last;
                Ok(n)
            }
            Ok(n) => {
                tmp.truncate(n);
                self.held = Some(tmp);
                Err(Error::BufferTooSmall(n))
            }
            Err(e) => self.end(Err(e)),
        }
    }
}

impl<C: Crypt> Operation for CryptOp<C> {
    fn is_done(&self) -> bool {
        self.done
    }
}

impl<C: Crypt> Cipher for CryptOp<C> {
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize> {
        self.drive(Phase::Single, input, out)
    }
    fn update(&mut self, input: &[u8], out: Output) -> Result<usize> {
        if !self.done && !self.inner.multipart() {
            return self.end(single_part());
        }
        self.drive(Phase::Update, input, out)
    }
    fn finish(&mut self, out: Output) -> Result<usize> {
        if !self.done && !self.inner.multipart() {
            return self.end(single_part());
        }
        self.drive(Phase::Final, &[], out)
    }
}

/// A sign, verify or digest operation.
pub struct MacOp<M> {
    inner: M,
    done: bool,
}

/// What a [`MacOp`] is started as: a signing, verifying or digesting operation.
pub trait MacKind {
    fn of<M: Mac + 'static>(inner: M) -> Box<Self>;
}

impl MacKind for dyn Signing {
    fn of<M: Mac + 'static>(inner: M) -> Box<Self> {
        Box::new(MacOp { inner, done: false })
    }
}

impl MacKind for dyn Verifying {
    fn of<M: Mac + 'static>(inner: M) -> Box<Self> {
        Box::new(MacOp { inner, done: false })
    }
}

impl MacKind for dyn Digesting {
    fn of<M: Mac + 'static>(inner: M) -> Box<Self> {
        Box::new(MacOp { inner, done: false })
    }
}

impl<M: Mac> MacOp<M> {
    fn end<T>(&mut self, r: Result<T>) -> Result<T> {
        if !matches!(r, Err(Error::BufferTooSmall(_))) {
            self.done = true;
        }
        r
    }

    fn output(&mut self, data: Option<&[u8]>, out: Output) -> Result<usize> {
        if self.done {
            return not_init();
        }
        let n = self.inner.len();
        let Some(buf) = out else {
            return Ok(n);
        };
        if buf.len() < n {
            return Err(Error::BufferTooSmall(n));
        }
        let r = match data {
            Some(d) => self.inner.absorb(d).and_then(|_| self.inner.sign(buf)),
            None => self.inner.sign(buf),
        };
        self.end(r)
    }

    fn absorb(&mut self, input: &[u8]) -> Result<()> {
        if self.done {
            return not_init();
        }
        if !self.inner.multipart() {
            return self.end(single_part());
        }
        let r = self.inner.absorb(input);
        if r.is_err() {
            self.done = true;
        }
        r
    }
}

impl<M: Mac> Operation for MacOp<M> {
    fn is_done(&self) -> bool {
        self.done
    }
}

impl<M: Mac> Signing for MacOp<M> {
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize> {
        self.output(Some(input), out)
    }
    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.absorb(input)
    }
    fn finish(&mut self, out: Output) -> Result<usize> {
        self.output(None, out)
    }
}

impl<M: Mac> Verifying for MacOp<M> {
    fn verify(&mut self, data: &[u8], sig: &[u8]) -> Result<()> {
        if self.done {
            return not_init();
        }
        let r = self.inner.absorb(data).and_then(|_| self.inner.verify(sig));
        self.end(r)
    }
    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.absorb(input)
    }
    fn finish(&mut self, sig: &[u8]) -> Result<()> {
        if self.done {
            return not_init();
        }
        let r = self.inner.verify(sig);
        self.end(r)
    }
}

impl<M: Mac> Digesting for MacOp<M> {
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize> {
        self.output(Some(input), out)
    }
    fn update(&mut self, input: &[u8]) -> Result<()> {
        self.absorb(input)
    }
    /// The engine cannot resolve an object id: the backend digests a key by passing
    /// its value (`engine::digest_key_value`) to `update`.
    fn update_key(&mut self, _: ObjectId) -> Result<()> {
        self.end(Err(Error::rv(
            CKR_FUNCTION_NOT_SUPPORTED,
            "update_key is resolved by the backend",
        )))
    }
    fn finish(&mut self, out: Output) -> Result<usize> {
        self.output(None, out)
    }
}

/// Input collected for a mechanism that needs all of it at once.
#[derive(Default)]
pub struct Collect(pub Zeroizing<Vec<u8>>);

impl Collect {
    pub fn push(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
    }
    pub fn take(&mut self) -> Zeroizing<Vec<u8>> {
        std::mem::take(&mut self.0)
    }
}

/// The first `n` bytes of `out`, which callers size by `Crypt::bound` or `Mac::len`;
/// `CKR_BUFFER_TOO_SMALL` (with the length needed) if it is shorter.
pub fn head(out: &mut [u8], n: usize) -> Result<&mut [u8]> {
    out.get_mut(..n).ok_or(Error::BufferTooSmall(n))
}

/// Copy `v` to the start of `out` (see [`head`]); its length.
pub fn put(out: &mut [u8], v: &[u8]) -> Result<usize> {
    head(out, v.len())?.copy_from_slice(v);
    Ok(v.len())
}

/// `v[..n]` for an `n` this code computed itself: `CKR_GENERAL_ERROR` if it is not.
pub fn prefix(v: &[u8], n: usize) -> Result<&[u8]> {
    v.get(..n)
        .ok_or(Error::rv(CKR_GENERAL_ERROR, "engine: length past the end"))
}

/// CKR_SIGNATURE_INVALID unless `ok`.
pub fn sig_check(ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::rv(CKR_SIGNATURE_INVALID, "signature check"))
    }
}
