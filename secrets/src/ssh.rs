//! SSH keys as secrets: the OpenSSH private key format (`openssh-key-v1`, unencrypted:
//! the secret's envelope is the protection) and `authorized_keys` lines, for Ed25519
//! (seed + public key) and RSA (PKCS#8 DER, as the software engine exports it).

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64ct::{Base64, Encoding};
use zeroize::Zeroizing;

use crate::der;
use crate::error::{random, Result, SecretError};
use crate::rotation::{RotationTarget, TargetError, Values};

const MAGIC: &[u8] = b"openssh-key-v1\0";
const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END: &str = "-----END OPENSSH PRIVATE KEY-----";

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(s);
}

/// An SSH mpint from unsigned big-endian bytes: minimal, with a zero byte when the top
/// bit is set.
fn mpint(out: &mut Vec<u8>, unsigned: &[u8]) {
    let start = unsigned
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(unsigned.len());
    let digits = unsigned.get(start..).unwrap_or_default();
    let mut v = Zeroizing::new(Vec::with_capacity(digits.len() + 1));
    if digits.first().is_some_and(|&b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(digits);
    string(out, &v);
}

/// Wraps the private section and the public blob into the PEM text.
fn assemble(public_blob: &[u8], private_keys: &[u8], comment: &str) -> Result<Zeroizing<String>> {
    let mut check = [0u8; 4];
    random(&mut check)?;
    let mut section = Zeroizing::new(Vec::with_capacity(private_keys.len() + 64));
    section.extend_from_slice(&check);
    section.extend_from_slice(&check);
    section.extend_from_slice(private_keys);
    string(&mut section, comment.as_bytes());
    let mut pad = 1u8;
    while section.len() % 8 != 0 {
        section.push(pad);
        pad = pad.wrapping_add(1);
    }
    let mut body = Zeroizing::new(Vec::with_capacity(section.len() + public_blob.len() + 64));
    body.extend_from_slice(MAGIC);
    string(&mut body, b"none");
    string(&mut body, b"none");
    string(&mut body, b"");
    body.extend_from_slice(&1u32.to_be_bytes());
    string(&mut body, public_blob);
    string(&mut body, &section);
    let b64 = Zeroizing::new(Base64::encode_string(&body));
    let mut pem = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 70 + 80));
    pem.push_str(BEGIN);
    pem.push('\n');
    for line in b64.as_bytes().chunks(70) {
        pem.push_str(std::str::from_utf8(line).map_err(|e| SecretError::Ssh(e.to_string()))?);
        pem.push('\n');
    }
    pem.push_str(END);
    pem.push('\n');
    Ok(pem)
}

fn ed25519_public_blob(public: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(51);
    string(&mut b, b"ssh-ed25519");
    string(&mut b, public);
    b
}

/// The OpenSSH private key for an Ed25519 key given its 32-byte seed and public key.
pub fn ed25519_private(seed: &[u8], public: &[u8], comment: &str) -> Result<Zeroizing<String>> {
    if seed.len() != 32 || public.len() != 32 {
        return Err(SecretError::Ssh(
            "Ed25519 seed and public key must be 32 bytes each".into(),
        ));
    }
    let mut keys = Zeroizing::new(Vec::with_capacity(160));
    string(&mut keys, b"ssh-ed25519");
    string(&mut keys, public);
    let mut both = Zeroizing::new(Vec::with_capacity(64));
    both.extend_from_slice(seed);
    both.extend_from_slice(public);
    string(&mut keys, &both);
    assemble(&ed25519_public_blob(public), &keys, comment)
}

/// The OpenSSH private key for an RSA key given as PKCS#8 (or PKCS#1) DER.
pub fn rsa_private(der: &[u8], comment: &str) -> Result<Zeroizing<String>> {
    let k = der::rsa_private(der)?;
    let mut public = Vec::with_capacity(k.n.len() + 32);
    string(&mut public, b"ssh-rsa");
    mpint(&mut public, &k.e);
    mpint(&mut public, &k.n);
    let mut keys = Zeroizing::new(Vec::with_capacity(k.n.len() * 4));
    string(&mut keys, b"ssh-rsa");
    mpint(&mut keys, &k.n);
    mpint(&mut keys, &k.e);
    mpint(&mut keys, &k.d);
    mpint(&mut keys, &k.iqmp);
    mpint(&mut keys, &k.p);
    mpint(&mut keys, &k.q);
    assemble(&public, &keys, comment)
}

/// Which key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshKeyKind {
    /// Ed25519.
    Ed25519,
    /// RSA of 2048, 3072 or 4096 bits.
    Rsa(u32),
}

/// Generates a key pair in-process (aws-lc-rs) and returns its OpenSSH private key.
/// The provider generates through its engine and calls [`ed25519_private`] /
/// [`rsa_private`] itself; this serves tests and callers without a backend.
pub fn generate(kind: SshKeyKind, comment: &str) -> Result<Zeroizing<String>> {
    let fail = |m: &str| SecretError::Ssh(format!("key generation failed: {m}"));
    match kind {
        SshKeyKind::Ed25519 => {
            let pair = Ed25519KeyPair::generate().map_err(|_| fail("Ed25519"))?;
            let seed = pair.seed().map_err(|_| fail("Ed25519 seed"))?;
            let seed = seed.as_be_bytes().map_err(|_| fail("Ed25519 seed"))?;
            ed25519_private(seed.as_ref(), pair.public_key().as_ref(), comment)
        }
        SshKeyKind::Rsa(bits) => {
            use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
            let size = match bits {
                2048 => KeySize::Rsa2048,
                3072 => KeySize::Rsa3072,
                4096 => KeySize::Rsa4096,
                _ => {
                    return Err(SecretError::Ssh(format!(
                        "RSA size {bits}: use 2048, 3072 or 4096"
                    )))
                }
            };
            let pair = RsaKeyPair::generate(size).map_err(|_| fail("RSA"))?;
            let der = pair.as_der().map_err(|_| fail("RSA export"))?;
            rsa_private(der.as_ref(), comment)
        }
    }
}

/// Reader over the SSH wire encoding.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (a, b) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| SecretError::Ssh("OpenSSH key truncated".into()))?;
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<usize> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| SecretError::Ssh("OpenSSH key truncated".into()))?;
        Ok(u32::from_be_bytes(b) as usize)
    }
    fn string(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()?;
        self.take(n)
    }
}

/// The public key blob and the comment of an unencrypted OpenSSH private key.
fn parse_private(pem: &str) -> Result<(Vec<u8>, String)> {
    let bad = |m: &str| SecretError::Ssh(format!("not an unencrypted OpenSSH private key: {m}"));
    let inner = pem
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|s| s.strip_suffix(END))
        .ok_or_else(|| bad("no BEGIN/END OPENSSH PRIVATE KEY lines"))?;
    let b64: Zeroizing<String> =
        Zeroizing::new(inner.chars().filter(|c| !c.is_whitespace()).collect());
    let body = Zeroizing::new(Base64::decode_vec(&b64).map_err(|_| bad("bad base64"))?);
    let mut w = Wire(
        body.strip_prefix(MAGIC)
            .ok_or_else(|| bad("no openssh-key-v1 magic"))?,
    );
    if w.string()? != b"none" || w.string()? != b"none" {
        return Err(bad("encrypted keys are not supported"));
    }
    w.string()?;
    if w.u32()? != 1 {
        return Err(bad("exactly one key expected"));
    }
    let public = w.string()?.to_vec();
    let mut s = Wire(w.string()?);
    let (c1, c2) = (s.u32()?, s.u32()?);
    if c1 != c2 {
        return Err(bad("check integers differ"));
    }
    let kind = s.string()?;
    let fields = match kind {
        b"ssh-ed25519" => 2,
        b"ssh-rsa" => 6,
        _ => return Err(bad("key type is neither ssh-ed25519 nor ssh-rsa")),
    };
    for _ in 0..fields {
        s.string()?;
    }
    let comment = String::from_utf8_lossy(s.string()?).into_owned();
    Ok((public, comment))
}

/// The `authorized_keys` line (`ssh-ed25519 AAAA… comment`) of an OpenSSH private key.
pub fn authorized_key(private_pem: &str) -> Result<String> {
    let (public, comment) = parse_private(private_pem)?;
    let kind = Wire(&public)
        .string()
        .map(|k| String::from_utf8_lossy(k).into_owned())?;
    let mut line = format!("{kind} {}", Base64::encode_string(&public));
    if !comment.is_empty() {
        line.push(' ');
        line.push_str(&comment);
    }
    Ok(line)
}

/// Rotation of an SSH key secret: a new key pair of the same kind. Installing the new
/// public key on hosts is left to the caller (set and test do nothing here).
pub struct SshKeyTarget {
    /// The kind of key to make.
    pub kind: SshKeyKind,
    /// The comment on the key.
    pub comment: String,
}

impl RotationTarget for SshKeyTarget {
    fn create_value(&mut self, _current: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, TargetError> {
        let pem = generate(self.kind, &self.comment).map_err(|e| TargetError(e.to_string()))?;
        Ok(Zeroizing::new(pem.as_bytes().to_vec()))
    }
    fn set(&mut self, _values: &Values<'_>) -> Result<(), TargetError> {
        Ok(())
    }
    fn test(&mut self, _values: &Values<'_>) -> Result<(), TargetError> {
        Ok(())
    }
}
