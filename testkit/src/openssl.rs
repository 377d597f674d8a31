//! The outside world of an import: blobs, keys, ciphertexts and signature checks
//! made by the `openssl` command line, in a scratch directory per call.

use crate::keys::random_bytes;
use crate::scratch::temp_dir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory for one case's files.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new scratch directory, removed on drop (or at exit).
    pub fn new() -> Scratch {
        Scratch(temp_dir("kmsbridge-byok-ossl-"))
    }
    /// The path of the file `name` in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    /// Writes the file `name`; returns its path.
    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).expect("write scratch file");
        p
    }
    /// Reads the file `name`.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read scratch file")
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `openssl args…`; panics with its stderr on failure. Returns stdout.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// HMAC-SHA256 keyed by `salt` over `parts` (an independent check of the
/// documented canonical forms).
pub fn hmac_sha256(salt: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let s = Scratch::new();
    let input = s.write("mac.in", &parts.concat());
    let key = format!("hexkey:{}", hex::encode(salt));
    openssl(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &key,
        "-binary",
        "-out",
        p(&s.path("mac.out")),
        p(&input),
    ]);
    s.read("mac.out")
}

/// OAEP as the KMS wrapping algorithms use it: MGF1 with `mgf`, optional label.
#[derive(Clone, Copy, Debug)]
pub struct Oaep {
    pub md: &'static str,
    pub mgf: &'static str,
    pub label: &'static [u8],
}

impl Oaep {
    pub const SHA1: Oaep = Oaep { md: "sha1", mgf: "sha1", label: b"" };
    pub const SHA256: Oaep = Oaep { md: "sha256", mgf: "sha256", label: b"" };
}

/// `data` OAEP-encrypted under the DER SubjectPublicKeyInfo at `spki`.
pub fn oaep_encrypt(s: &Scratch, spki: &Path, o: Oaep, data: &[u8]) -> Vec<u8> {
    let input = s.write("oaep.in", data);
    let out = s.path("oaep.out");
    let md = format!("rsa_oaep_md:{}", o.md);
    let mgf = format!("rsa_mgf1_md:{}", o.mgf);
    let label = format!("rsa_oaep_label:{}", hex::encode(o.label));
    let mut args = vec![
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        p(spki),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        &md,
        "-pkeyopt",
        &mgf,
        "-in",
        p(&input),
        "-out",
        p(&out),
    ];
    if !o.label.is_empty() {
        args.extend(["-pkeyopt", &label]);
    }
    openssl(&args);
    s.read("oaep.out")
}

/// RFC 5649 wrap of `data` under the AES key `kek`.
pub fn kwp_wrap(s: &Scratch, kek: &[u8], data: &[u8]) -> Vec<u8> {
    let input = s.write("kwp.in", data);
    let out = s.path("kwp.out");
    let cipher = format!("-id-aes{}-wrap-pad", kek.len() * 8);
    openssl(&[
        "enc",
        &cipher,
        "-K",
        &hex::encode(kek),
        "-iv",
        "A65959A6",
        "-in",
        p(&input),
        "-out",
        p(&out),
    ]);
    s.read("kwp.out")
}

/// A KMS RSA_AES_KEY_WRAP blob: a fresh AES key of `aes_bytes` OAEP-encrypted,
/// followed by the RFC 5649 wrap of `material` under it.
pub fn rsa_aes_wrap(
    s: &Scratch,
    spki: &Path,
    o: Oaep,
    aes_bytes: usize,
    material: &[u8],
) -> Vec<u8> {
    let eph = random_bytes(aes_bytes);
    let mut blob = oaep_encrypt(s, spki, o, &eph);
    blob.extend(kwp_wrap(s, &eph, material));
    blob
}

/// A new private key as PKCS#8 DER, and its public key as a PEM file.
pub struct Pkcs8 {
    pub der: Vec<u8>,
    pub public_pem: PathBuf,
}

/// `openssl genpkey` with `opts` (e.g. RSA 2048, EC P-256), as PKCS#8 DER.
pub fn genpkey(s: &Scratch, name: &str, alg: &str, opt: &str) -> Pkcs8 {
    let pem = s.path(&format!("{name}.pem"));
    let der = s.path(&format!("{name}.p8"));
    let public_pem = s.path(&format!("{name}.pub.pem"));
    openssl(&["genpkey", "-algorithm", alg, "-pkeyopt", opt, "-out", p(&pem)]);
    openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", p(&pem), "-outform", "DER", "-out", p(&der)]);
    openssl(&["pkey", "-in", p(&pem), "-pubout", "-out", p(&public_pem)]);
    Pkcs8 { der: std::fs::read(&der).expect("read PKCS#8"), public_pem }
}

pub fn rsa_pkcs8(s: &Scratch, name: &str) -> Pkcs8 {
    genpkey(s, name, "RSA", "rsa_keygen_bits:2048")
}

pub fn ec_p256_pkcs8(s: &Scratch, name: &str) -> Pkcs8 {
    genpkey(s, name, "EC", "ec_paramgen_curve:P-256")
}

/// `openssl enc -aes-N-cbc` (PKCS#7 padding) of `data`.
pub fn aes_cbc_encrypt(s: &Scratch, key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let input = s.write("cbc.in", data);
    let out = s.path("cbc.out");
    let cipher = format!("-aes-{}-cbc", key.len() * 8);
    openssl(&[
        "enc",
        &cipher,
        "-K",
        &hex::encode(key),
        "-iv",
        &hex::encode(iv),
        "-in",
        p(&input),
        "-out",
        p(&out),
    ]);
    s.read("cbc.out")
}

/// `openssl dgst -sha256 -verify` of a DER signature (RSA PKCS#1 v1.5 or ECDSA).
pub fn verify_sha256(s: &Scratch, public_pem: &Path, data: &[u8], sig: &[u8]) -> bool {
    let input = s.write("sig.data", data);
    let sig = s.write("sig.bin", sig);
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", p(public_pem), "-signature", p(&sig), p(&input)])
        .output()
        .expect("run openssl");
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK")
}
