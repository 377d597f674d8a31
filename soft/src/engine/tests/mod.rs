//! Engine tests: known-answer vectors (NIST, RFC), round trips, interoperability
//! with aws-lc-rs's own verifiers, every error code the engine promises, and the
//! length-query / short-buffer rules of operations.

mod aes_ops;
mod ec_ops;
mod hash_ops;
mod import_ops;
mod key_gen;
mod object_rules;
mod rsa_ops;
mod shared;
mod wrap_ops;

use super::*;
use cryptoki_sys::*;
use kmsbridge_bridge::attr::{Attr, AttrReq};
use kmsbridge_bridge::backend::OpKind;
use kmsbridge_bridge::error::Error;
use kmsbridge_bridge::op::{Cipher, Operation, Signing, Verifying};
use kmsbridge_bridge::{MechParam, Mechanism};
use std::sync::Arc;

/// Hex to bytes (test vectors).
pub fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn hx(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn rv<T>(r: kmsbridge_bridge::Result<T>) -> CK_RV {
    match r {
        Ok(_) => panic!("expected an error, got success"),
        Err(e) => e.ck_rv(),
    }
}

pub fn b(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Attr {
    Attr::bool(ty, v)
}
pub fn u(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::ulong(ty, v)
}
pub fn v(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr::new(ty, v.to_vec())
}

pub fn mech(ty: CK_MECHANISM_TYPE) -> Mechanism {
    Mechanism::simple(ty)
}
pub fn flat(ty: CK_MECHANISM_TYPE, p: &[u8]) -> Mechanism {
    Mechanism {
        ty,
        param: MechParam::Flat(zeroize::Zeroizing::new(p.to_vec())),
    }
}
pub fn ulongs(vals: &[CK_ULONG]) -> Vec<u8> {
    vals.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// A secret key by value, usable for everything, extractable.
pub fn secret(kt: CK_KEY_TYPE, value: &[u8]) -> SoftObject {
    create(&[
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, kt),
        v(CKA_VALUE, value),
    ])
    .expect("create secret key")
}

pub fn prep(o: &SoftObject) -> Arc<Prepared> {
    prepare(o).expect("prepare")
}

pub fn enc(m: &Mechanism, key: &SoftObject) -> Box<dyn Cipher> {
    begin_encrypt(m, prep(key)).expect("begin")
}
pub fn dec(m: &Mechanism, key: &SoftObject) -> Box<dyn Cipher> {
    begin_decrypt(m, prep(key)).expect("begin")
}
pub fn signer(m: &Mechanism, key: &SoftObject) -> Box<dyn Signing> {
    begin_sign(m, prep(key)).expect("begin")
}
pub fn verifier(m: &Mechanism, key: &SoftObject) -> Box<dyn Verifying> {
    begin_verify(m, prep(key)).expect("begin")
}

/// The Init of `kind` alone (its checks); the operation is dropped.
pub fn begin(
    kind: OpKind,
    m: &Mechanism,
    key: Option<Arc<Prepared>>,
) -> kmsbridge_bridge::Result<()> {
    let key = || key.clone().expect("a key");
    match kind {
        OpKind::Encrypt => begin_encrypt(m, key()).map(drop),
        OpKind::Decrypt => begin_decrypt(m, key()).map(drop),
        OpKind::Sign => begin_sign(m, key()).map(drop),
        OpKind::Verify => begin_verify(m, key()).map(drop),
        OpKind::Digest => begin_digest(m).map(drop),
    }
}

/// One single-part call with a length query first.
fn single<O: Operation + ?Sized>(
    mut o: Box<O>,
    call: impl Fn(&mut O, Option<&mut [u8]>) -> kmsbridge_bridge::Result<usize>,
) -> Vec<u8> {
    let n = call(&mut o, None).expect("length query");
    assert!(!o.is_done(), "a length query ended the operation");
    let mut out = vec![0u8; n];
    let got = call(&mut o, Some(&mut out)).expect("run");
    assert!(o.is_done());
    out.truncate(got);
    out
}

/// Single-part encrypt/decrypt/sign/digest with a length query first.
pub fn run(kind: OpKind, m: &Mechanism, key: Option<&SoftObject>, input: &[u8]) -> Vec<u8> {
    let key = || key.expect("a key");
    match kind {
        OpKind::Encrypt => single(enc(m, key()), |o, out| o.run(input, out)),
        OpKind::Decrypt => single(dec(m, key()), |o, out| o.run(input, out)),
        OpKind::Sign => single(signer(m, key()), |o, out| o.run(input, out)),
        OpKind::Digest => {
            let o = begin_digest(m).expect("begin");
            single(o, |o, out| o.run(input, out))
        }
        OpKind::Verify => panic!("verify answers no output"),
    }
}

/// Multi-part encrypt/decrypt over `parts`.
pub fn crypt_parts(kind: OpKind, m: &Mechanism, key: &SoftObject, parts: &[&[u8]]) -> Vec<u8> {
    let mut o = match kind {
        OpKind::Encrypt => enc(m, key),
        OpKind::Decrypt => dec(m, key),
        _ => panic!("not a cipher kind"),
    };
    let mut out = Vec::new();
    for p in parts {
        let n = o.update(p, None).expect("update length");
        let mut buf = vec![0u8; n];
        let got = o.update(p, Some(&mut buf)).expect("update");
        out.extend_from_slice(&buf[..got]);
    }
    let n = o.finish(None).expect("final length");
    let mut buf = vec![0u8; n];
    let got = o.finish(Some(&mut buf)).expect("final");
    out.extend_from_slice(&buf[..got]);
    assert!(o.is_done());
    out
}

/// Multi-part sign over `parts`.
pub fn sign_parts(m: &Mechanism, key: &SoftObject, parts: &[&[u8]]) -> Vec<u8> {
    let mut o = signer(m, key);
    for p in parts {
        o.update(p).expect("update");
    }
    let n = o.finish(None).expect("final length");
    let mut out = vec![0u8; n];
    let got = o.finish(Some(&mut out)).expect("final");
    out.truncate(got);
    out
}

pub fn verify(
    m: &Mechanism,
    key: &SoftObject,
    data: &[u8],
    sig: &[u8],
) -> kmsbridge_bridge::Result<()> {
    verifier(m, key).verify(data, sig)
}

/// Uneven chunks of `data` cut at the offsets.
pub fn chunks<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts {
        let c = c.min(data.len()).max(start);
        out.push(&data[start..c]);
        start = c;
    }
    out.push(&data[start..]);
    out
}

/// One attribute as C_GetAttributeValue answers it.
pub fn attr(o: &SoftObject, ty: CK_ATTRIBUTE_TYPE) -> (CK_RV, Option<Vec<u8>>) {
    let mut r = [AttrReq::new(ty, Some(1024))];
    let code = get_attributes(o, &mut r);
    (code, r[0].value().map(|v| v.to_vec()))
}

pub fn attr_ulong(o: &SoftObject, ty: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
    o.get_ulong(ty).expect("ulong attribute")
}

pub fn is_too_small<T>(r: kmsbridge_bridge::Result<T>) -> usize {
    match r {
        Err(Error::BufferTooSmall(n)) => n,
        Err(e) => panic!("expected BufferTooSmall, got {e}"),
        Ok(_) => panic!("expected BufferTooSmall, got success"),
    }
}
