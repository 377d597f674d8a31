//! RSA: key pairs, PKCS#1 v1.5 (raw and hashed), PSS, OAEP, encryption.

use super::crypto_aes::chunks;
use super::{raw_attr, raw_sign, raw_sign_parts, raw_verify};
use crate::deviation::{DECRYPT_FAILURE_CODE, RSA_DATA_LEN};
use crate::env::Env;
use crate::kat::{h, DIGEST_INFO};
use crate::raw::rv;
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{attr_bool, attr_bytes, attr_ulong, digest, gen_rsa};

const MSG: &[u8] = b"kmsbridge conformance: the quick brown fox jumps over the lazy dog";

/// The five hashes: digest mechanism, MGF1, digest length, PKCS#1 v1.5 and PSS mechanisms.
pub(crate) const HASHES: [(MechanismType, usize); 5] = [
    (MechanismType::SHA1, 20),
    (MechanismType::SHA224, 28),
    (MechanismType::SHA256, 32),
    (MechanismType::SHA384, 48),
    (MechanismType::SHA512, 64),
];

fn mgf(i: usize) -> PkcsMgfType {
    [
        PkcsMgfType::MGF1_SHA1,
        PkcsMgfType::MGF1_SHA224,
        PkcsMgfType::MGF1_SHA256,
        PkcsMgfType::MGF1_SHA384,
        PkcsMgfType::MGF1_SHA512,
    ][i]
}

fn pkcs_hashed(i: usize) -> Mechanism<'static> {
    match i {
        0 => Mechanism::Sha1RsaPkcs,
        1 => Mechanism::Sha224RsaPkcs,
        2 => Mechanism::Sha256RsaPkcs,
        3 => Mechanism::Sha384RsaPkcs,
        _ => Mechanism::Sha512RsaPkcs,
    }
}

const PSS_HASHED: [CK_MECHANISM_TYPE; 5] = [
    CKM_SHA1_RSA_PKCS_PSS,
    CKM_SHA224_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA384_RSA_PKCS_PSS,
    CKM_SHA512_RSA_PKCS_PSS,
];

fn pss_params(i: usize) -> PkcsPssParams {
    PkcsPssParams { hash_alg: HASHES[i].0, mgf: mgf(i), s_len: (HASHES[i].1 as u64).into() }
}

/// A raw CK_MECHANISM for SHAx_RSA_PKCS_PSS (`cryptoki` cannot name SHA224_RSA_PKCS_PSS).
fn pss_hashed(i: usize, p: &mut CK_RSA_PKCS_PSS_PARAMS) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: PSS_HASHED[i],
        pParameter: p as *mut CK_RSA_PKCS_PSS_PARAMS as *mut _,
        ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
    }
}

fn raw_pss_params(i: usize) -> CK_RSA_PKCS_PSS_PARAMS {
    CK_RSA_PKCS_PSS_PARAMS {
        hashAlg: HASHES[i].0.into(),
        mgf: [CKG_MGF1_SHA1, CKG_MGF1_SHA224, CKG_MGF1_SHA256, CKG_MGF1_SHA384, CKG_MGF1_SHA512][i],
        sLen: HASHES[i].1 as CK_ULONG,
    }
}

fn pair(t: &Env) -> (Session, ObjectHandle, ObjectHandle) {
    let s = t.user_session();
    let (public, private) = gen_rsa(&s, 2048, b"rsa-conformance");
    (s, public, private)
}

/// DigestInfo(hash_i(msg)), the input of raw CKM_RSA_PKCS for a hashed signature.
fn digest_info(s: &Session, i: usize, msg: &[u8]) -> Vec<u8> {
    let mut di = h(DIGEST_INFO[i]);
    di.extend(digest(s, HASHES[i].0, msg));
    di
}

/// RSA-2048 pair: public attributes on both halves, same CKA_ID, private parts sensitive.
pub fn rsa_generate_key_pair(t: &Env) {
    let (s, public, private) = pair(t);
    let n_pub = attr_bytes(&s, public, AttributeType::Modulus);
    assert_eq!(n_pub.len(), 256, "2048-bit modulus");
    assert_eq!(
        attr_bytes(&s, private, AttributeType::Modulus),
        n_pub,
        "CKA_MODULUS on the private key"
    );
    assert_eq!(attr_bytes(&s, public, AttributeType::PublicExponent), [1, 0, 1]);
    assert_eq!(
        attr_bytes(&s, private, AttributeType::PublicExponent),
        [1, 0, 1],
        "CKA_PUBLIC_EXPONENT on the private key"
    );
    assert_eq!(attr_ulong(&s, public, AttributeType::ModulusBits), 2048);
    assert_eq!(attr_bytes(&s, public, AttributeType::Id), b"rsa-conformance");
    assert_eq!(attr_bytes(&s, private, AttributeType::Id), b"rsa-conformance");
    assert!(
        attr_bool(&s, private, AttributeType::Local) && attr_bool(&s, public, AttributeType::Local)
    );
    assert!(!attr_bool(&s, private, AttributeType::AlwaysAuthenticate), "CKA_ALWAYS_AUTHENTICATE");
    assert!(attr_bool(&s, private, AttributeType::Private));
    let (code, len, _) = raw_attr(t, s.handle(), private.handle(), CKA_PRIVATE_EXPONENT, Some(512));
    assert_eq!(code, rv(CKR_ATTRIBUTE_SENSITIVE), "CKA_PRIVATE_EXPONENT of a sensitive key");
    assert_eq!(len, CK_UNAVAILABLE_INFORMATION);
    let (code, _, class) = raw_attr(t, s.handle(), private.handle(), CKA_CLASS, Some(8));
    assert_eq!((code, class), (rv(CKR_OK), CKO_PRIVATE_KEY.to_ne_bytes().to_vec()));
}

/// Raw CKM_RSA_PKCS sign/verify over a DigestInfo; wrong signature and oversized data fail.
pub fn rsa_pkcs_sign_verify(t: &Env) {
    let (s, public, private) = pair(t);
    let di = digest_info(&s, 2, MSG);
    let sig = s.sign(&Mechanism::RsaPkcs, private, &di).expect("C_Sign (RSA_PKCS)");
    assert_eq!(sig.len(), 256);
    assert_eq!(s.sign(&Mechanism::RsaPkcs, private, &di).unwrap(), sig, "v1.5 is deterministic");
    s.verify(&Mechanism::RsaPkcs, public, &di, &sig).expect("C_Verify (RSA_PKCS)");
    let mut bad = sig.clone();
    bad[100] ^= 1;
    let refused = s.verify(&Mechanism::RsaPkcs, public, &di, &bad);
    assert_eq!(err_of(refused), RvError::SignatureInvalid);
    let too_long = err_of(s.sign(&Mechanism::RsaPkcs, private, &[1u8; 246]));
    let dev = &RSA_DATA_LEN;
    t.expect_spec(
        "RSA_PKCS over k-11 bytes",
        too_long,
        RvError::DataLenRange,
        dev,
        RvError::GeneralError,
    );
}

/// SHAx_RSA_PKCS equals raw RSA_PKCS over DigestInfo; single- and multi-part; wrong data fails.
pub fn rsa_pkcs_hashed_variants(t: &Env) {
    let (s, public, private) = pair(t);
    for i in 0..HASHES.len() {
        let m = pkcs_hashed(i);
        let name = m.mechanism_type();
        let sig = s.sign(&m, private, MSG).unwrap_or_else(|e| panic!("{name}: {e}"));
        let raw = s.sign(&Mechanism::RsaPkcs, private, &digest_info(&s, i, MSG)).unwrap();
        assert_eq!(hex::encode(&sig), hex::encode(raw), "{name} differs from RSA_PKCS(DigestInfo)");
        s.verify(&m, public, MSG, &sig).unwrap_or_else(|e| panic!("{name} verify: {e}"));
        s.sign_init(&m, private).unwrap();
        for part in chunks(MSG, &[1, 40]) {
            s.sign_update(part).unwrap();
        }
        assert_eq!(s.sign_final().unwrap(), sig, "{name} multi-part");
        s.verify_init(&m, public).unwrap();
        for part in chunks(MSG, &[30]) {
            s.verify_update(part).unwrap();
        }
        s.verify_final(&sig).unwrap_or_else(|e| panic!("{name} C_VerifyFinal: {e}"));
        let refused = s.verify(&m, public, b"other data", &sig);
        assert_eq!(err_of(refused), RvError::SignatureInvalid, "{name} over other data");
    }
}

/// PSS with each hash: hashed and raw variants agree, salted signatures differ, tampering fails.
pub fn rsa_pss(t: &Env) {
    let (s, public, private) = pair(t);
    let (hs, pubh, privh) = (s.handle(), public.handle(), private.handle());
    for (i, (hash, _)) in HASHES.iter().enumerate() {
        let p = pss_params(i);
        let mut rp = raw_pss_params(i);
        let mut m = pss_hashed(i, &mut rp);
        let name = format!("PSS with {hash}");
        let sig = raw_sign(t, hs, &mut m, privh, MSG).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(sig.len(), 256);
        let again = raw_sign(t, hs, &mut m, privh, MSG).unwrap();
        assert_ne!(sig, again, "{name}: salted signatures must differ");
        assert_eq!(raw_verify(t, hs, &mut m, pubh, MSG, &sig), rv(CKR_OK), "{name} verify");
        let dg = digest(&s, *hash, MSG);
        s.verify(&Mechanism::RsaPkcsPss(p), public, &dg, &sig)
            .unwrap_or_else(|e| panic!("RSA_PKCS_PSS over the digest rejects {name}: {e}"));
        let raw = s.sign(&Mechanism::RsaPkcsPss(p), private, &dg).unwrap();
        let code = raw_verify(t, hs, &mut m, pubh, MSG, &raw);
        assert_eq!(code, rv(CKR_OK), "{name} rejects RSA_PKCS_PSS over the digest");
        let mut bad = sig.clone();
        bad[7] ^= 4;
        let code = raw_verify(t, hs, &mut m, pubh, MSG, &bad);
        assert_eq!(code, rv(CKR_SIGNATURE_INVALID), "{name} tampered");
        let multi = raw_sign_parts(t, hs, &mut m, privh, &chunks(MSG, &[10, 11])).unwrap();
        assert_eq!(raw_verify(t, hs, &mut m, pubh, MSG, &multi), rv(CKR_OK), "{name} multi-part");
    }
}

/// OAEP (SHA-1, MGF1-SHA1, no label): randomized, round-trips, bounded input; a tampered
/// ciphertext answers CKR_ENCRYPTED_DATA_INVALID (SoftHSM2: [`DECRYPT_FAILURE_CODE`]).
pub fn rsa_oaep(t: &Env) {
    let (s, public, private) = pair(t);
    let p =
        PkcsOaepParams::new(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, PkcsOaepSource::empty());
    let m = Mechanism::RsaPkcsOaep(p);
    let ct = s.encrypt(&m, public, MSG).expect("C_Encrypt (OAEP)");
    assert_eq!(ct.len(), 256);
    assert_ne!(s.encrypt(&m, public, MSG).unwrap(), ct, "OAEP must be randomized");
    assert_eq!(s.decrypt(&m, private, &ct).expect("C_Decrypt (OAEP)"), MSG);
    let max = vec![0x42u8; 256 - 2 * 20 - 2];
    let ct_max = s.encrypt(&m, public, &max).expect("OAEP of the longest message");
    assert_eq!(s.decrypt(&m, private, &ct_max).unwrap(), max);
    let too_long = err_of(s.encrypt(&m, public, &[0x42; 215]));
    let dev = &RSA_DATA_LEN;
    t.expect_spec(
        "OAEP over k-2h-2 bytes",
        too_long,
        RvError::DataLenRange,
        dev,
        RvError::GeneralError,
    );
    let mut bad = ct.clone();
    // The last byte: the integer stays below the modulus, only the OAEP decoding fails.
    bad[255] ^= 1;
    let code = err_of(s.decrypt(&m, private, &bad));
    let what = "OAEP decryption of a tampered ciphertext";
    let dev = &DECRYPT_FAILURE_CODE;
    t.expect_spec(what, code, RvError::EncryptedDataInvalid, dev, RvError::GeneralError);
}

/// PKCS#1 v1.5 encryption round trip.
pub fn rsa_pkcs_encrypt_decrypt(t: &Env) {
    let (s, public, private) = pair(t);
    let ct = s.encrypt(&Mechanism::RsaPkcs, public, MSG).expect("C_Encrypt (RSA_PKCS)");
    assert_eq!(ct.len(), 256);
    assert_ne!(s.encrypt(&Mechanism::RsaPkcs, public, MSG).unwrap(), ct, "random padding");
    assert_eq!(s.decrypt(&Mechanism::RsaPkcs, private, &ct).unwrap(), MSG);
}

/// Multi-part verify with a wrong signature answers CKR_SIGNATURE_INVALID and ends the operation.
pub fn rsa_verify_multipart_wrong_signature(t: &Env) {
    let (s, public, private) = pair(t);
    let m = Mechanism::Sha256RsaPkcs;
    let sig = s.sign(&m, private, MSG).unwrap();
    let mut bad = sig.clone();
    bad[255] ^= 1;
    s.verify_init(&m, public).unwrap();
    s.verify_update(&MSG[..5]).unwrap();
    s.verify_update(&MSG[5..]).unwrap();
    assert_eq!(err_of(s.verify_final(&bad)), RvError::SignatureInvalid);
    assert_eq!(err_of(s.verify_update(MSG)), RvError::OperationNotInitialized, "op ended");
    s.verify_init(&m, public).unwrap();
    s.verify_update(MSG).unwrap();
    assert_eq!(err_of(s.verify_final(&sig[..255])), RvError::SignatureLenRange, "short signature");
    s.verify_init(&m, public).unwrap();
    s.verify_update(MSG).unwrap();
    s.verify_final(&sig).expect("the right signature after wrong ones");
}
