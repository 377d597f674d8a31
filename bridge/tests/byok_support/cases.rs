//! The BYOK import cases, run against any backend: material wrapped outside by
//! openssl, unwrapped through the `Backend` trait, then put to use and checked by
//! openssl again.

use super::keys::*;
use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Backend, Mechanism, ObjectId};
use kmsbridge_testkit::der;
use kmsbridge_testkit::keys::random_bytes;
use kmsbridge_testkit::openssl::{self as ossl, Oaep, Scratch};
use std::path::PathBuf;

/// A backend with an import wrapping key pair (private: UNWRAP and DECRYPT).
pub struct Fixture {
    pub be: Box<dyn Backend>,
    /// Where the node and the software backend may differ: OAEP with a SHA-2 hash is
    /// composed over raw RSA (SoftHSM2 2.6 behind a `Node`, whose own is SHA-1 only).
    pub composes_sha2_oaep: bool,
    pub unwrapping: ObjectId,
    /// The wrapping public key as DER SubjectPublicKeyInfo, for openssl.
    pub spki: Vec<u8>,
}

impl Fixture {
    pub fn new(be: Box<dyn Backend>, composes_sha2_oaep: bool) -> Fixture {
        let (public, unwrapping) = rsa_unwrapping_pair(&*be, true, true);
        let spki = spki(&*be, public);
        Fixture {
            be,
            composes_sha2_oaep,
            unwrapping,
            spki,
        }
    }

    pub fn be(&self) -> &dyn Backend {
        &*self.be
    }

    fn spki_file(&self, s: &Scratch) -> PathBuf {
        s.write("wrapping.der", &self.spki)
    }
}

fn ck_hash(md: &str) -> (CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE) {
    match md {
        "sha1" => (CKM_SHA_1, CKG_MGF1_SHA1),
        "sha224" => (CKM_SHA224, CKG_MGF1_SHA224),
        "sha256" => (CKM_SHA256, CKG_MGF1_SHA256),
        "sha384" => (CKM_SHA384, CKG_MGF1_SHA384),
        "sha512" => (CKM_SHA512, CKG_MGF1_SHA512),
        _ => panic!("unknown hash {md}"),
    }
}

/// The CKM_RSA_PKCS_OAEP mechanism openssl's options describe.
pub fn oaep_mech(o: Oaep) -> Mechanism {
    Mechanism::oaep(ck_hash(o.md).0, ck_hash(o.mgf).1, o.label)
}

/// The CKM_RSA_AES_KEY_WRAP mechanism with that OAEP layer.
pub fn rsa_aes_mech(o: Oaep, aes_bytes: usize) -> Mechanism {
    assert!(o.label.is_empty(), "the RSA-AES blobs here carry no label");
    rsa_aes(aes_bytes as CK_ULONG * 8, ck_hash(o.md).0, ck_hash(o.mgf).1)
}

/// An imported AES key decrypts what openssl encrypted under the same material.
fn assert_aes_key_is(be: &dyn Backend, s: &Scratch, obj: ObjectId, material: &[u8]) {
    let iv = random_bytes(16);
    let pt = b"BYOK: the imported key decrypts openssl's ciphertext.".to_vec();
    let ct = ossl::aes_cbc_encrypt(s, material, &iv, &pt);
    assert_eq!(cbc_pad_decrypt(be, obj, &iv, &ct), pt, "CBC-PAD decryption");
    assert_eq!(attr_bool(be, obj, CKA_SENSITIVE), Some(true));
    assert_eq!(attr_bool(be, obj, CKA_EXTRACTABLE), Some(false));
    assert_eq!(
        attr(be, obj, CKA_VALUE),
        None,
        "the value must not be readable"
    );
}

/// CKM_RSA_PKCS_OAEP import of an AES-256 key.
pub fn oaep_imports_aes(fx: &Fixture, o: Oaep) {
    let s = Scratch::new();
    let key = random_bytes(32);
    let blob = ossl::oaep_encrypt(&s, &fx.spki_file(&s), o, &key);
    let obj = fx
        .be()
        .unwrap_key(&oaep_mech(o), fx.unwrapping, &blob, &aes_template(&[]))
        .unwrap_or_else(|e| panic!("OAEP {o:?} unwrap: {e}"));
    assert_aes_key_is(fx.be(), &s, obj, &key);
}

/// CKM_RSA_AES_KEY_WRAP import of an AES key of `target_len` bytes under an
/// ephemeral key of `eph_len` bytes.
pub fn rsa_aes_imports_aes(fx: &Fixture, o: Oaep, eph_len: usize, target_len: usize) {
    let s = Scratch::new();
    let key = random_bytes(target_len);
    let blob = ossl::rsa_aes_wrap(&s, &fx.spki_file(&s), o, eph_len, &key);
    let obj = fx
        .be()
        .unwrap_key(
            &rsa_aes_mech(o, eph_len),
            fx.unwrapping,
            &blob,
            &aes_template(&[]),
        )
        .unwrap_or_else(|e| panic!("RSA-AES {o:?} unwrap: {e}"));
    assert_aes_key_is(fx.be(), &s, obj, &key);
}

/// CKM_RSA_AES_KEY_WRAP import of an RSA-2048 PKCS#8 key, which then signs.
pub fn rsa_aes_imports_rsa(fx: &Fixture, o: Oaep) {
    let s = Scratch::new();
    let key = ossl::rsa_pkcs8(&s, "target");
    let blob = ossl::rsa_aes_wrap(&s, &fx.spki_file(&s), o, 32, &key.der);
    let obj = fx
        .be()
        .unwrap_key(
            &rsa_aes_mech(o, 32),
            fx.unwrapping,
            &blob,
            &private_template(CKK_RSA),
        )
        .unwrap_or_else(|e| panic!("RSA-AES {o:?} unwrap of RSA PKCS#8: {e}"));
    let data = b"signed by the imported RSA key";
    let sig = sign(fx.be(), CKM_SHA256_RSA_PKCS, obj, data);
    assert!(
        ossl::verify_sha256(&s, &key.public_pem, data, &sig),
        "openssl rejects the imported RSA key's signature"
    );
}

/// CKM_RSA_AES_KEY_WRAP import of an EC P-256 PKCS#8 key, which then signs.
pub fn rsa_aes_imports_ec(fx: &Fixture, o: Oaep) {
    let s = Scratch::new();
    let key = ossl::ec_p256_pkcs8(&s, "target");
    let blob = ossl::rsa_aes_wrap(&s, &fx.spki_file(&s), o, 32, &key.der);
    let obj = fx
        .be()
        .unwrap_key(
            &rsa_aes_mech(o, 32),
            fx.unwrapping,
            &blob,
            &private_template(CKK_EC),
        )
        .unwrap_or_else(|e| panic!("RSA-AES {o:?} unwrap of EC PKCS#8: {e}"));
    let data = b"signed by the imported EC key";
    let sig = sign(fx.be(), CKM_ECDSA_SHA256, obj, data);
    assert!(
        ossl::verify_sha256(&s, &key.public_pem, data, &der::ecdsa_sig(&sig)),
        "openssl rejects the imported EC key's signature"
    );
}

/// Every corruption of either layer answers CKR_WRAPPED_KEY_INVALID; impossible
/// lengths CKR_WRAPPED_KEY_LEN_RANGE.
pub fn corrupted_blobs_are_refused(fx: &Fixture) {
    let s = Scratch::new();
    let spki = fx.spki_file(&s);
    let key = random_bytes(32);
    let unwrap = |m: &Mechanism, blob: &[u8]| {
        rv(fx
            .be()
            .unwrap_key(m, fx.unwrapping, blob, &aes_template(&[])))
    };
    for o in [Oaep::SHA1, Oaep::SHA256] {
        let blob = ossl::oaep_encrypt(&s, &spki, o, &key);
        for pos in [0, 1, 100, 255] {
            let mut bad = blob.clone();
            bad[pos] ^= 0x01;
            assert_eq!(
                unwrap(&oaep_mech(o), &bad),
                CKR_WRAPPED_KEY_INVALID,
                "OAEP {o:?} byte {pos}"
            );
        }
        // An integer not below the modulus.
        assert_eq!(
            unwrap(&oaep_mech(o), &[0xff; 256]),
            CKR_WRAPPED_KEY_INVALID,
            "OAEP {o:?} 0xff…"
        );
        assert_eq!(
            unwrap(&oaep_mech(o), &blob[1..]),
            CKR_WRAPPED_KEY_LEN_RANGE,
            "OAEP {o:?} short blob"
        );

        let blob = ossl::rsa_aes_wrap(&s, &spki, o, 32, &key);
        let m = rsa_aes_mech(o, 32);
        // The OAEP layer, then the RFC 5649 layer (its integrity block, its last byte).
        for pos in [3, 200, 256, 256 + 39] {
            let mut bad = blob.clone();
            bad[pos] ^= 0x80;
            assert_eq!(
                unwrap(&m, &bad),
                CKR_WRAPPED_KEY_INVALID,
                "RSA-AES {o:?} byte {pos}"
            );
        }
        for len in [255, 256, 256 + 8, 256 + 39] {
            assert_eq!(
                unwrap(&m, &blob[..len]),
                CKR_WRAPPED_KEY_LEN_RANGE,
                "RSA-AES {o:?} of {len} bytes"
            );
        }
    }
    // OAEP of the wrong label; RSA-AES whose ephemeral key is not ulAESKeyBits long.
    let with_label = Oaep {
        label: b"label",
        ..Oaep::SHA256
    };
    let blob = ossl::oaep_encrypt(&s, &spki, with_label, &key);
    assert_eq!(
        unwrap(&oaep_mech(Oaep::SHA256), &blob),
        CKR_WRAPPED_KEY_INVALID
    );
    let blob = ossl::rsa_aes_wrap(&s, &spki, Oaep::SHA256, 32, &key);
    assert_eq!(
        unwrap(&rsa_aes_mech(Oaep::SHA256, 16), &blob),
        CKR_WRAPPED_KEY_INVALID,
        "ephemeral key of the wrong size"
    );
}

/// Bad CK_RSA_AES_KEY_WRAP_PARAMS answer CKR_MECHANISM_PARAM_INVALID.
pub fn bad_params_are_refused(fx: &Fixture) {
    let s = Scratch::new();
    let blob = ossl::rsa_aes_wrap(&s, &fx.spki_file(&s), Oaep::SHA256, 32, &[7u8; 32]);
    for m in [
        rsa_aes(100, CKM_SHA256, CKG_MGF1_SHA256),
        rsa_aes(256, CKM_MD5, CKG_MGF1_SHA256),
        rsa_aes(256, CKM_SHA256, 0x77),
        Mechanism::simple(CKM_RSA_AES_KEY_WRAP),
    ] {
        let r = fx
            .be()
            .unwrap_key(&m, fx.unwrapping, &blob, &aes_template(&[]));
        assert_eq!(rv(r), CKR_MECHANISM_PARAM_INVALID, "{m:?}");
    }
}

/// RSA-AES is listed for unwrapping only, and C_WrapKey refuses it.
pub fn rsa_aes_is_unwrap_only(fx: &Fixture) {
    let mechs = fx.be().mechanisms().expect("mechanisms");
    let (_, info) = mechs
        .iter()
        .find(|(t, _)| *t == CKM_RSA_AES_KEY_WRAP)
        .expect("CKM_RSA_AES_KEY_WRAP listed");
    assert_eq!(info.flags, CKF_UNWRAP);
    assert!(info.ulMaxKeySize >= 2048, "{info:?}");
    let (public, _) = rsa_unwrapping_pair(fx.be(), true, true);
    let secret = fx
        .be()
        .create_object(&[
            u(CKA_CLASS, CKO_SECRET_KEY),
            u(CKA_KEY_TYPE, CKK_AES),
            b(CKA_TOKEN, false),
            b(CKA_EXTRACTABLE, true),
            v(CKA_VALUE, &[1u8; 32]),
        ])
        .expect("an extractable AES key");
    let mut out = vec![0u8; 1024];
    let m = rsa_aes_mech(Oaep::SHA256, 32);
    let r = fx.be().wrap_key(&m, public, secret, Some(&mut out));
    assert_eq!(rv(r), CKR_MECHANISM_INVALID);
}

/// The unwrapping key needs CKA_UNWRAP; over SoftHSM2 the composed SHA-2 OAEP also
/// needs CKA_DECRYPT (raw RSA), answered as SoftHSM2 would.
pub fn unwrapping_key_permissions(fx: &Fixture) {
    let s = Scratch::new();
    let key = random_bytes(32);
    let (public, no_unwrap) = rsa_unwrapping_pair(fx.be(), false, true);
    let spki1 = s.write("p1.der", &spki(fx.be(), public));
    for o in [Oaep::SHA1, Oaep::SHA256] {
        let blob = ossl::oaep_encrypt(&s, &spki1, o, &key);
        let r = fx
            .be()
            .unwrap_key(&oaep_mech(o), no_unwrap, &blob, &aes_template(&[]));
        assert_eq!(rv(r), CKR_KEY_FUNCTION_NOT_PERMITTED, "OAEP {o:?}");
        let blob = ossl::rsa_aes_wrap(&s, &spki1, o, 32, &key);
        let r = fx
            .be()
            .unwrap_key(&rsa_aes_mech(o, 32), no_unwrap, &blob, &aes_template(&[]));
        assert_eq!(rv(r), CKR_KEY_FUNCTION_NOT_PERMITTED, "RSA-AES {o:?}");
    }
    let (public, no_decrypt) = rsa_unwrapping_pair(fx.be(), true, false);
    let spki2 = s.write("p2.der", &spki(fx.be(), public));
    for o in [Oaep::SHA1, Oaep::SHA256] {
        let blob = ossl::oaep_encrypt(&s, &spki2, o, &key);
        let r = fx
            .be()
            .unwrap_key(&oaep_mech(o), no_decrypt, &blob, &aes_template(&[]));
        let blob = ossl::rsa_aes_wrap(&s, &spki2, o, 32, &key);
        let r2 = fx
            .be()
            .unwrap_key(&rsa_aes_mech(o, 32), no_decrypt, &blob, &aes_template(&[]));
        let composed = fx.composes_sha2_oaep && o.md != "sha1";
        for r in [r, r2] {
            match r {
                Ok(_) => assert!(!composed, "composed OAEP {o:?} needs CKA_DECRYPT"),
                Err(e) => {
                    assert!(composed, "OAEP {o:?} without CKA_DECRYPT: {e}");
                    assert_eq!(e.ck_rv(), CKR_KEY_FUNCTION_NOT_PERMITTED);
                }
            }
        }
    }
}

fn check(fx: &Fixture, obj: ObjectId, salt: &[u8]) -> [u8; 32] {
    fx.be()
        .material_check(obj, salt)
        .unwrap_or_else(|e| panic!("material_check: {e}"))
}

/// Check values: equal for equal material however it came in, different for
/// different material or salt, and the documented HMAC.
pub fn material_check_of_aes(fx: &Fixture) {
    let s = Scratch::new();
    let spki = fx.spki_file(&s);
    let salt = random_bytes(16);
    let key = random_bytes(32);
    let other = random_bytes(32);
    let t = aes_template(&[]);
    let via_oaep = fx
        .be()
        .unwrap_key(
            &oaep_mech(Oaep::SHA1),
            fx.unwrapping,
            &ossl::oaep_encrypt(&s, &spki, Oaep::SHA1, &key),
            &t,
        )
        .expect("OAEP import");
    let via_rsa_aes = fx
        .be()
        .unwrap_key(
            &rsa_aes_mech(Oaep::SHA256, 32),
            fx.unwrapping,
            &ossl::rsa_aes_wrap(&s, &spki, Oaep::SHA256, 32, &key),
            &t,
        )
        .expect("RSA-AES import");
    let via_oaep_sha256 = fx
        .be()
        .unwrap_key(
            &oaep_mech(Oaep::SHA256),
            fx.unwrapping,
            &ossl::oaep_encrypt(&s, &spki, Oaep::SHA256, &other),
            &t,
        )
        .expect("OAEP SHA-256 import");
    let a = check(fx, via_oaep, &salt);
    assert_eq!(a, check(fx, via_rsa_aes, &salt), "same material");
    assert_ne!(a, check(fx, via_oaep_sha256, &salt), "different material");
    assert_ne!(a, check(fx, via_oaep, &random_bytes(16)), "different salt");
    let mut prefix = b"kmsbridge.mc1.secret\0".to_vec();
    prefix.extend_from_slice(&(CKK_AES as u32).to_be_bytes());
    assert_eq!(a.to_vec(), ossl::hmac_sha256(&salt, &[&prefix, &key]));
    assert_eq!(
        rv(fx.be().material_check(via_oaep, &[1u8; 8])),
        CKR_ARGUMENTS_BAD,
        "short salt"
    );
}

pub fn material_check_of_rsa(fx: &Fixture) {
    let s = Scratch::new();
    let spki = fx.spki_file(&s);
    let salt = random_bytes(32);
    let key = ossl::rsa_pkcs8(&s, "k1");
    let other = ossl::rsa_pkcs8(&s, "k2");
    let import = |der: &[u8], o: Oaep| {
        fx.be()
            .unwrap_key(
                &rsa_aes_mech(o, 32),
                fx.unwrapping,
                &ossl::rsa_aes_wrap(&s, &spki, o, 32, der),
                &private_template(CKK_RSA),
            )
            .expect("RSA-AES import of RSA")
    };
    let (a, b, c) = (
        import(&key.der, Oaep::SHA1),
        import(&key.der, Oaep::SHA256),
        import(&other.der, Oaep::SHA256),
    );
    let ca = check(fx, a, &salt);
    assert_eq!(ca, check(fx, b, &salt), "same material");
    assert_ne!(ca, check(fx, c, &salt), "different material");
    let n = attr(fx.be(), a, CKA_MODULUS).expect("CKA_MODULUS");
    let e = attr(fx.be(), a, CKA_PUBLIC_EXPONENT).expect("CKA_PUBLIC_EXPONENT");
    let mut canon = b"kmsbridge.mc1.rsa\0".to_vec();
    canon.extend_from_slice(&(n.len() as u32).to_be_bytes());
    canon.extend_from_slice(&n);
    canon.extend_from_slice(&e);
    assert_eq!(n[0] & 0x80, 0x80, "a 2048-bit modulus has no leading zero");
    assert_eq!(ca.to_vec(), ossl::hmac_sha256(&salt, &[&canon]));
}

pub fn material_check_of_ec(fx: &Fixture) {
    let s = Scratch::new();
    let spki = fx.spki_file(&s);
    let salt = random_bytes(16);
    let key = ossl::ec_p256_pkcs8(&s, "k1");
    let other = ossl::ec_p256_pkcs8(&s, "k2");
    let import = |der: &[u8]| {
        fx.be()
            .unwrap_key(
                &rsa_aes_mech(Oaep::SHA256, 32),
                fx.unwrapping,
                &ossl::rsa_aes_wrap(&s, &spki, Oaep::SHA256, 32, der),
                &private_template(CKK_EC),
            )
            .expect("RSA-AES import of EC")
    };
    let (a, b, c) = (import(&key.der), import(&key.der), import(&other.der));
    let ca = check(fx, a, &salt);
    assert_eq!(ca, check(fx, b, &salt), "same material");
    assert_ne!(ca, check(fx, c, &salt), "different material");
    // The documented form: the curve OID and the public point openssl reports.
    ossl::openssl(&[
        "pkey",
        "-pubin",
        "-in",
        key.public_pem.to_str().expect("path"),
        "-outform",
        "DER",
        "-out",
        s.path("ec.pub.der").to_str().expect("path"),
    ]);
    let spki_der = s.read("ec.pub.der");
    let point = &spki_der[spki_der.len() - 65..];
    assert_eq!(point[0], 0x04);
    let oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let mut canon = b"kmsbridge.mc1.ec\0".to_vec();
    canon.extend_from_slice(&(oid.len() as u32).to_be_bytes());
    canon.extend_from_slice(&oid);
    canon.extend_from_slice(point);
    assert_eq!(ca.to_vec(), ossl::hmac_sha256(&salt, &[&canon]));
}
