//! The quickstart's steps: each timed and printed, a key's attributes shown, and the
//! AES-GCM decryption both the main job and the BYOK step check.

use crate::module::Error;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use std::time::Instant;

pub(super) fn step<T>(name: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let t = Instant::now();
    let r = f();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    match &r {
        Ok(_) => println!("  ok   {name:<44} {ms:>9.2} ms"),
        Err(e) => println!("  FAIL {name:<44} {ms:>9.2} ms: {e}"),
    }
    r
}

pub(super) fn show(s: &Session, name: &str, h: ObjectHandle) -> Result<(), Error> {
    let attrs = s.get_attributes(
        h,
        &[
            AttributeType::Label,
            AttributeType::Id,
            AttributeType::KeyType,
            AttributeType::Token,
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::Local,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
        ],
    )?;
    let mut line = Vec::new();
    for a in attrs {
        match a {
            Attribute::Label(v) => line.push(format!("label={}", String::from_utf8_lossy(&v))),
            Attribute::Id(v) => line.push(format!("id={}", hex::encode(v))),
            Attribute::KeyType(k) => line.push(format!("type={k}")),
            Attribute::Token(b) => line.push(format!("token={b}")),
            Attribute::Sensitive(b) => line.push(format!("sensitive={b}")),
            Attribute::Extractable(b) => line.push(format!("extractable={b}")),
            Attribute::Local(b) => line.push(format!("local={b}")),
            Attribute::AlwaysSensitive(b) => line.push(format!("always_sensitive={b}")),
            Attribute::NeverExtractable(b) => line.push(format!("never_extractable={b}")),
            _ => {}
        }
    }
    println!("       {name}: {}", line.join(" "));
    Ok(())
}

/// Decrypts `ct` (ciphertext then 128-bit tag) with AES-GCM under `key` through the
/// module and checks it gives back `expected`; `mismatch` is the error when it does not.
pub(super) fn gcm_decrypt_check(
    s: &Session,
    key: ObjectHandle,
    mut iv: [u8; 12],
    aad: &[u8],
    ct: &[u8],
    expected: &[u8],
    mismatch: &str,
) -> Result<(), Error> {
    let pt = s.decrypt(
        &Mechanism::AesGcm(GcmParams::new(&mut iv, aad, 128.into())?),
        key,
        ct,
    )?;
    if pt != expected {
        return Err(mismatch.into());
    }
    Ok(())
}
