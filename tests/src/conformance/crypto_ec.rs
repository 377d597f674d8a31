//! Elliptic curves: P-256/384/521 pairs, ECDSA raw and hashed, Ed25519 and EdDSA.

use super::crypto_aes::chunks;
use super::crypto_rsa::HASHES;
use super::raw_attr;
use crate::deviation::HASHED_ECDSA;
use crate::env::Env;
use crate::raw::rv;
use cryptoki::error::RvError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::AttributeType;
use cryptoki_sys::*;
use kmsbridge_testkit::codes::{code_of, err_of};
use kmsbridge_testkit::keys::*;

const MSG: &[u8] = b"kmsbridge conformance: elliptic curves sign this message";

fn hashed_ecdsa(i: usize) -> Mechanism<'static> {
    match i {
        0 => Mechanism::EcdsaSha1,
        1 => Mechanism::EcdsaSha224,
        2 => Mechanism::EcdsaSha256,
        3 => Mechanism::EcdsaSha384,
        _ => Mechanism::EcdsaSha512,
    }
}

fn eddsa() -> Mechanism<'static> {
    Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
}

/// P-256/384/521 pairs: same CKA_ID on both halves, curve and point attributes, sensitive value.
pub fn ec_key_pairs_share_id(t: &Env) {
    let s = t.user_session();
    for c in NIST_CURVES {
        let id = format!("ec-{}", c.name).into_bytes();
        let (public, private) = gen_ec(&s, &c, &id);
        assert_eq!(attr_bytes(&s, public, AttributeType::Id), id, "{}: public CKA_ID", c.name);
        assert_eq!(attr_bytes(&s, private, AttributeType::Id), id, "{}: private CKA_ID", c.name);
        assert_eq!(attr_bytes(&s, public, AttributeType::EcParams), c.params);
        assert_eq!(attr_bytes(&s, private, AttributeType::EcParams), c.params, "{}", c.name);
        let point = ec_point_raw(&attr_bytes(&s, public, AttributeType::EcPoint));
        assert_eq!(point.len(), 2 * c.field_len + 1, "{}: uncompressed point", c.name);
        assert_eq!(point[0], 0x04, "{}: uncompressed point tag", c.name);
        assert!(!attr_bool(&s, private, AttributeType::AlwaysAuthenticate));
        assert!(attr_bool(&s, private, AttributeType::Local));
        let (code, _, _) = raw_attr(t, s.handle(), private.handle(), CKA_VALUE, Some(128));
        assert_eq!(code, rv(CKR_ATTRIBUTE_SENSITIVE), "{}: private value", c.name);
        let (code, _, kt) = raw_attr(t, s.handle(), private.handle(), CKA_KEY_TYPE, Some(8));
        assert_eq!((code, kt), (rv(CKR_OK), CKK_EC.to_ne_bytes().to_vec()));
    }
}

/// Raw CKM_ECDSA over a digest on each curve: signature size, verify, tampering, bad length.
pub fn ecdsa_raw(t: &Env) {
    let s = t.user_session();
    for c in NIST_CURVES {
        let (public, private) = gen_ec(&s, &c, b"ecdsa-raw");
        let dg = digest(&s, MechanismType::SHA256, MSG);
        let sig = s.sign(&Mechanism::Ecdsa, private, &dg).expect("C_Sign (ECDSA)");
        assert_eq!(sig.len(), 2 * c.field_len, "{}: r || s length", c.name);
        s.verify(&Mechanism::Ecdsa, public, &dg, &sig).expect("C_Verify (ECDSA)");
        let mut bad = sig.clone();
        bad[3] ^= 0x10;
        let refused = s.verify(&Mechanism::Ecdsa, public, &dg, &bad);
        assert_eq!(err_of(refused), RvError::SignatureInvalid, "{}: tampered", c.name);
        let other = digest(&s, MechanismType::SHA256, b"other");
        let refused = s.verify(&Mechanism::Ecdsa, public, &other, &sig);
        assert_eq!(err_of(refused), RvError::SignatureInvalid, "{}: other digest", c.name);
        let refused = s.verify(&Mechanism::Ecdsa, public, &dg, &sig[1..]);
        assert_eq!(err_of(refused), RvError::SignatureLenRange, "{}: short signature", c.name);
    }
}

/// CKM_ECDSA_SHA* agree with raw ECDSA over the digest, single- and multi-part (kmsbridge
/// hashes in-module); SoftHSM2 2.6 refuses them ([`HASHED_ECDSA`]).
pub fn ecdsa_hashed_variants(t: &Env) {
    let s = t.user_session();
    for c in NIST_CURVES {
        let (public, private) = gen_ec(&s, &c, b"ecdsa-hashed");
        for (i, (hash, _)) in HASHES.iter().enumerate() {
            let m = hashed_ecdsa(i);
            let name = format!("{} {}", c.name, m.mechanism_type());
            let signed = s.sign(&m, private, MSG);
            t.expect_spec(
                &name,
                code_of(&signed),
                Ok(()),
                &HASHED_ECDSA,
                Err(RvError::MechanismInvalid),
            );
            let Ok(sig) = signed else {
                let v = s.verify_init(&m, public);
                t.expect_spec(
                    &name,
                    code_of(&v),
                    Ok(()),
                    &HASHED_ECDSA,
                    Err(RvError::MechanismInvalid),
                );
                continue;
            };
            assert_eq!(sig.len(), 2 * c.field_len, "{name}: signature length");
            let dg = digest(&s, *hash, MSG);
            s.verify(&Mechanism::Ecdsa, public, &dg, &sig)
                .unwrap_or_else(|e| panic!("{name}: raw ECDSA over the digest rejects it: {e}"));
            let raw = s.sign(&Mechanism::Ecdsa, private, &dg).unwrap();
            s.verify(&m, public, MSG, &raw)
                .unwrap_or_else(|e| panic!("{name}: rejects raw ECDSA over the digest: {e}"));
            s.sign_init(&m, private).unwrap();
            for part in chunks(MSG, &[4, 33]) {
                s.sign_update(part).unwrap();
            }
            let multi = s.sign_final().unwrap();
            s.verify(&m, public, MSG, &multi).unwrap_or_else(|e| panic!("{name} multi-part: {e}"));
            let mut bad = sig.clone();
            bad[0] ^= 1;
            s.verify_init(&m, public).unwrap();
            for part in chunks(MSG, &[20]) {
                s.verify_update(part).unwrap();
            }
            assert_eq!(
                err_of(s.verify_final(&bad)),
                RvError::SignatureInvalid,
                "{name} multi-part"
            );
            let refused = s.verify(&m, public, b"other message", &sig);
            assert_eq!(err_of(refused), RvError::SignatureInvalid, "{name} other message");
        }
    }
}

/// Ed25519 pair: same CKA_ID, CKK_EC_EDWARDS, 32-byte public point.
pub fn ed25519_key_pair(t: &Env) {
    let s = t.user_session();
    let (public, private) = gen_ed25519(&s, b"ed25519");
    assert_eq!(attr_bytes(&s, public, AttributeType::Id), b"ed25519");
    assert_eq!(attr_bytes(&s, private, AttributeType::Id), b"ed25519");
    for key in [public, private] {
        let params = attr_bytes(&s, key, AttributeType::EcParams);
        assert!(
            params == ED25519_PARAMS || params == b"\x13\x0cedwards25519",
            "CKA_EC_PARAMS is neither the Ed25519 OID nor PrintableString edwards25519: {params:02x?}"
        );
    }
    let point = ec_point_raw(&attr_bytes(&s, public, AttributeType::EcPoint));
    assert_eq!(point.len(), 32, "Ed25519 public key length");
    let (code, _, kt) = raw_attr(t, s.handle(), public.handle(), CKA_KEY_TYPE, Some(8));
    assert_eq!((code, kt), (rv(CKR_OK), CKK_EC_EDWARDS.to_ne_bytes().to_vec()));
    assert!(!attr_bool(&s, private, AttributeType::AlwaysAuthenticate));
}

/// Pure Ed25519: 64-byte deterministic signatures that verify; tampering fails.
pub fn eddsa_sign_verify(t: &Env) {
    let s = t.user_session();
    let (public, private) = gen_ed25519(&s, b"eddsa");
    let sig = s.sign(&eddsa(), private, MSG).expect("C_Sign (EDDSA)");
    assert_eq!(sig.len(), 64);
    assert_eq!(s.sign(&eddsa(), private, MSG).unwrap(), sig, "Ed25519 is deterministic");
    s.verify(&eddsa(), public, MSG, &sig).expect("C_Verify (EDDSA)");
    let mut bad = sig.clone();
    bad[40] ^= 2;
    assert_eq!(err_of(s.verify(&eddsa(), public, MSG, &bad)), RvError::SignatureInvalid);
    let refused = s.verify(&eddsa(), public, b"other", &sig);
    assert_eq!(err_of(refused), RvError::SignatureInvalid);
    let empty = s.sign(&eddsa(), private, b"").expect("EdDSA of an empty message");
    s.verify(&eddsa(), public, b"", &empty).unwrap();
}
