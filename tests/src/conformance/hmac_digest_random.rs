//! Digests, HMAC-SHA-2 and random numbers.

use super::crypto_aes::chunks;
use crate::env::Env;
use crate::kat::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType};
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{attr_ulong, import_generic};

fn digest_mechs() -> [Mechanism<'static>; 5] {
    [Mechanism::Sha1, Mechanism::Sha224, Mechanism::Sha256, Mechanism::Sha384, Mechanism::Sha512]
}

fn hmac_mechs() -> [Mechanism<'static>; 3] {
    [Mechanism::Sha256Hmac, Mechanism::Sha384Hmac, Mechanism::Sha512Hmac]
}

/// SHA-1/224/256/384/512 of "abc" (FIPS 180) and SHA-256 of "", single-part, no login needed.
pub fn digests(t: &Env) {
    let s = t.ro_session();
    for (m, want) in digest_mechs().iter().zip(DIGEST_ABC) {
        let got = s.digest(m, b"abc").unwrap_or_else(|e| panic!("{}: {e}", m.mechanism_type()));
        assert_eq!(
            hex::encode(got),
            want.replace(char::is_whitespace, ""),
            "{}",
            m.mechanism_type()
        );
    }
    let empty = s.digest(&Mechanism::Sha256, b"").unwrap();
    assert_eq!(
        hex::encode(empty),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

/// Multi-part digests equal the KATs and the single-part digest of a large input.
pub fn digest_multipart(t: &Env) {
    let s = t.ro_session();
    for (m, want) in digest_mechs().iter().zip(DIGEST_ABC) {
        s.digest_init(m).unwrap();
        s.digest_update(b"a").unwrap();
        s.digest_update(b"").unwrap();
        s.digest_update(b"bc").unwrap();
        let got = s.digest_final().unwrap();
        assert_eq!(
            hex::encode(got),
            want.replace(char::is_whitespace, ""),
            "{}",
            m.mechanism_type()
        );
    }
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let single = s.digest(&Mechanism::Sha512, &big).unwrap();
    s.digest_init(&Mechanism::Sha512).unwrap();
    for part in big.chunks(4099) {
        s.digest_update(part).unwrap();
    }
    assert_eq!(s.digest_final().unwrap(), single, "1 MB in parts");
    assert_eq!(err_of(s.digest_final()), RvError::OperationNotInitialized, "after Final");
}

/// HMAC-SHA-256/384/512 against RFC 4231 test case 6, single- and multi-part; wrong MACs fail.
pub fn hmac_sha2(t: &Env) {
    let s = t.user_session();
    let key = import_generic(&s, &[HMAC_KEY_BYTE; HMAC_KEY_LEN]);
    for (m, want) in hmac_mechs().iter().zip(HMAC_TC6) {
        let name = m.mechanism_type();
        let want = want.replace(char::is_whitespace, "");
        let mac = s.sign(m, key, HMAC_DATA).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode(&mac), want, "{name}");
        s.verify(m, key, HMAC_DATA, &mac).unwrap_or_else(|e| panic!("{name} verify: {e}"));
        s.sign_init(m, key).unwrap();
        for part in chunks(HMAC_DATA, &[1, 17]) {
            s.sign_update(part).unwrap();
        }
        assert_eq!(hex::encode(s.sign_final().unwrap()), want, "{name} multi-part");
        let mut bad = mac.clone();
        bad[5] ^= 0x20;
        assert_eq!(err_of(s.verify(m, key, HMAC_DATA, &bad)), RvError::SignatureInvalid, "{name}");
        s.verify_init(m, key).unwrap();
        for part in chunks(HMAC_DATA, &[10]) {
            s.verify_update(part).unwrap();
        }
        assert_eq!(err_of(s.verify_final(&bad)), RvError::SignatureInvalid, "{name} multi-part");
    }
}

/// A generated generic secret works for HMAC-SHA-256.
pub fn hmac_generated_key(t: &Env) {
    let s = t.user_session();
    let key = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(32.into()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ],
        )
        .expect("C_GenerateKey (generic secret)");
    assert_eq!(attr_ulong(&s, key, AttributeType::ValueLen), 32);
    let mac = s.sign(&Mechanism::Sha256Hmac, key, b"data").unwrap();
    assert_eq!(mac.len(), 32);
    s.verify(&Mechanism::Sha256Hmac, key, b"data", &mac).unwrap();
    let refused = s.verify(&Mechanism::Sha256Hmac, key, b"Data", &mac);
    assert_eq!(err_of(refused), RvError::SignatureInvalid);
}

/// C_GenerateRandom fills buffers of any size with fresh bytes.
pub fn generate_random(t: &Env) {
    let s = t.ro_session();
    let a = s.generate_random_vec(32).expect("C_GenerateRandom");
    let b = s.generate_random_vec(32).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b, "two random draws are equal");
    let big = s.generate_random_vec(4096).unwrap();
    let mut seen = [false; 256];
    for x in &big {
        seen[*x as usize] = true;
    }
    assert!(seen.iter().filter(|x| **x).count() > 200, "4 KiB of random bytes use few values");
    let mut one = [0u8; 1];
    s.generate_random_slice(&mut one).expect("one random byte");
}
