//! The outside of a BYOK import, done by the `openssl` command-line tool as a KMS
//! customer would: the wrapping public key as PEM (built from `CKA_MODULUS` and
//! `CKA_PUBLIC_EXPONENT`), OAEP and RFC 5649 wrapping, AES-CBC, key generation and
//! signature checks. Each call works in its own temporary directory.

use crate::env::Env;
use crate::kms::*;
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use std::path::Path;
use std::process::Command;

/// Runs `openssl args...` in `dir`; panics with its stderr when it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("kmsbridge-byok-").tempdir().expect("temporary directory")
}

fn put(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

fn get(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

/// A DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | len.len() as u8);
        out.extend(len);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER of the unsigned big-endian `v`.
fn der_uint(v: &[u8]) -> Vec<u8> {
    let first = v.iter().position(|b| *b != 0).unwrap_or(v.len().saturating_sub(1));
    let mut content = v[first..].to_vec();
    if content.is_empty() || content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    der(0x02, &content)
}

/// `SubjectPublicKeyInfo` DER of an RSA public key.
pub fn rsa_spki_der(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let algorithm = der(0x30, &[der(0x06, RSA_ENCRYPTION), vec![0x05, 0x00]].concat());
    let key = der(0x30, &[der_uint(modulus), der_uint(exponent)].concat());
    let bits = der(0x03, &[&[0u8][..], &key].concat());
    der(0x30, &[algorithm, bits].concat())
}

/// An ECDSA signature `r || s` (PKCS#11's form) as DER `ECDSA-Sig-Value` (openssl's).
pub fn ecdsa_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    der(0x30, &[der_uint(r), der_uint(s)].concat())
}

/// The import wrapping public key as PEM: our DER, converted (and so checked) by openssl.
pub fn public_pem(p: &ImportParams) -> Vec<u8> {
    let dir = scratch();
    put(dir.path(), "pub.der", &rsa_spki_der(&p.modulus, &p.exponent));
    openssl(dir.path(), &["pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem"]);
    get(dir.path(), "pub.pem")
}

/// `openssl pkeyutl -encrypt` with OAEP, MGF1 with the same hash `md`, no label.
pub fn oaep_encrypt(pem: &[u8], md: &str, data: &[u8]) -> Vec<u8> {
    let dir = scratch();
    put(dir.path(), "pub.pem", pem);
    put(dir.path(), "in.bin", data);
    let md = format!("rsa_oaep_md:{md}");
    let mgf = md.replace("rsa_oaep_md", "rsa_mgf1_md");
    #[rustfmt::skip]
    openssl(dir.path(), &[
        "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem",
        "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", &md, "-pkeyopt", &mgf,
        "-in", "in.bin", "-out", "out.bin",
    ]);
    get(dir.path(), "out.bin")
}

/// RFC 5649 (AES key wrap with padding) of `data` under the AES-256 key `kek`.
pub fn aes_kwp(kek: &[u8], data: &[u8]) -> Vec<u8> {
    let dir = scratch();
    put(dir.path(), "in.bin", data);
    #[rustfmt::skip]
    openssl(dir.path(), &[
        "enc", "-id-aes256-wrap-pad", "-K", &hex::encode(kek), "-iv", "A65959A6",
        "-in", "in.bin", "-out", "out.bin",
    ]);
    get(dir.path(), "out.bin")
}

/// The blob of an import of `material` with `alg` under the import wrapping key `pem`.
/// RSA-AES key wrap: a fresh AES-256 key OAEP'd, followed by the RFC 5649 wrap under it.
pub fn wrap(pem: &[u8], alg: Wrapping, material: &[u8]) -> Vec<u8> {
    if !alg.is_rsa_aes() {
        return oaep_encrypt(pem, alg.openssl_md(), material);
    }
    let ephemeral = random(32);
    let mut blob = oaep_encrypt(pem, alg.openssl_md(), &ephemeral);
    blob.extend(aes_kwp(&ephemeral, material));
    blob
}

/// `openssl enc -aes-256-cbc` (PKCS#7 padding, as `CKM_AES_CBC_PAD`), or `-d`.
pub fn aes_256_cbc(decrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let dir = scratch();
    put(dir.path(), "in.bin", data);
    let (key, iv) = (hex::encode(key), hex::encode(iv));
    let mut args = vec!["enc", "-aes-256-cbc", "-K", &key, "-iv", &iv];
    if decrypt {
        args.push("-d");
    }
    args.extend(["-in", "in.bin", "-out", "out.bin"]);
    openssl(dir.path(), &args);
    get(dir.path(), "out.bin")
}

/// A private key made by `openssl genpkey` (`-algorithm RSA|EC` and its option):
/// (PKCS#8 `PrivateKeyInfo` DER, public key PEM).
pub fn genpkey(algorithm: &str, option: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = scratch();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", algorithm, "-pkeyopt", option, "-out", "key.pem"]);
    #[rustfmt::skip]
    openssl(d, &["pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.p8"]);
    openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    (get(d, "key.p8"), get(d, "pub.pem"))
}

/// `openssl dgst -sha256 -verify`: does `sig` (DER for EC) sign `data` under `pem`?
pub fn verify_sha256(pem: &[u8], data: &[u8], sig: &[u8]) -> bool {
    let dir = scratch();
    put(dir.path(), "pub.pem", pem);
    put(dir.path(), "data.bin", data);
    put(dir.path(), "sig.bin", sig);
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "data.bin"])
        .current_dir(dir.path())
        .output()
        .expect("run openssl dgst");
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK")
}

/// The whole BYOK flow for key `id`: GetParametersForImport (must succeed), the blob
/// made by openssl with `alg`, ImportKeyMaterial with `extra` in the template.
pub fn import_material(
    t: &Env,
    s: &Session,
    id: &[u8],
    alg: Wrapping,
    material: &[u8],
    extra: &[Attribute],
) -> Result<ObjectHandle, RvError> {
    let p = import_parameters(s, id, None)
        .unwrap_or_else(|e| panic!("C_GenerateKey (CKM_KMSBRIDGE_IMPORT_PARAMETERS): {e}"));
    let blob = wrap(&public_pem(&p), alg, material);
    import(t, s, p.public, alg, &blob, &import_template(id, &p.token, extra))
}

/// An AES-256 key of origin EXTERNAL holding `material`, imported with RSAES_OAEP_SHA_1
/// (which SoftHSM2 does itself, so this works on every instance): the key's handle.
pub fn external_aes(t: &Env, s: &Session, id: &[u8], label: &str, material: &[u8]) -> ObjectHandle {
    create_record(s, KMSBRIDGE_ORIGIN_EXTERNAL, Spec::Aes(32), id, label)
        .unwrap_or_else(|e| panic!("C_CreateObject (record of origin EXTERNAL): {e}"));
    import_material(t, s, id, Wrapping::OaepSha1, material, &[])
        .unwrap_or_else(|e| panic!("import (RSAES_OAEP_SHA_1): {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// openssl reads our SubjectPublicKeyInfo back with the same modulus.
    #[test]
    fn spki_der_is_read_by_openssl() {
        let mut n = random(256);
        n[0] |= 0x80;
        n[255] |= 1;
        let dir = scratch();
        put(dir.path(), "pub.der", &rsa_spki_der(&n, &[1, 0, 1]));
        let out = openssl(
            dir.path(),
            &["rsa", "-pubin", "-inform", "DER", "-in", "pub.der", "-noout", "-modulus"],
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.trim(), format!("Modulus={}", hex::encode_upper(&n)));
    }

    #[test]
    fn der_integers() {
        assert_eq!(der_uint(&[0, 0, 0x7f]), vec![2, 1, 0x7f]);
        assert_eq!(der_uint(&[0, 0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(der_uint(&[0, 0]), vec![2, 1, 0]);
        assert_eq!(der(4, &[0; 200])[..3], [4, 0x81, 200]);
    }
}
