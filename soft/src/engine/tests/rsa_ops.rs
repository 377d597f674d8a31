use super::*;
use aws_lc_rs::signature::{self as sig, RsaPublicKeyComponents};

const MSG: &[u8] = b"kmsbridge engine: the quick brown fox jumps over the lazy dog";

const HASHED: [(
    CK_MECHANISM_TYPE,
    CK_MECHANISM_TYPE,
    CK_MECHANISM_TYPE,
    CK_ULONG,
    CK_ULONG,
); 5] = [
    (
        CKM_SHA_1,
        CKM_SHA1_RSA_PKCS,
        CKM_SHA1_RSA_PKCS_PSS,
        CKG_MGF1_SHA1,
        20,
    ),
    (
        CKM_SHA224,
        CKM_SHA224_RSA_PKCS,
        CKM_SHA224_RSA_PKCS_PSS,
        CKG_MGF1_SHA224,
        28,
    ),
    (
        CKM_SHA256,
        CKM_SHA256_RSA_PKCS,
        CKM_SHA256_RSA_PKCS_PSS,
        CKG_MGF1_SHA256,
        32,
    ),
    (
        CKM_SHA384,
        CKM_SHA384_RSA_PKCS,
        CKM_SHA384_RSA_PKCS_PSS,
        CKG_MGF1_SHA384,
        48,
    ),
    (
        CKM_SHA512,
        CKM_SHA512_RSA_PKCS,
        CKM_SHA512_RSA_PKCS_PSS,
        CKG_MGF1_SHA512,
        64,
    ),
];

fn pair() -> &'static (SoftObject, SoftObject) {
    static PAIR: std::sync::OnceLock<(SoftObject, SoftObject)> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| key_gen::rsa_pair(2048))
}

fn digest_info(i: usize, msg: &[u8]) -> Vec<u8> {
    let hash = digest::Hash::from_mech(HASHED[i].0).unwrap();
    let mut di = hash.digest_info_prefix().to_vec();
    di.extend(run(OpKind::Digest, &mech(HASHED[i].0), None, msg));
    di
}

fn pss(m: CK_MECHANISM_TYPE, i: usize, salt: CK_ULONG) -> Mechanism {
    flat(m, &ulongs(&[HASHED[i].0, HASHED[i].3, salt]))
}

fn components(public: &SoftObject) -> RsaPublicKeyComponents<Vec<u8>> {
    RsaPublicKeyComponents {
        n: public.get(CKA_MODULUS).unwrap().to_vec(),
        e: public.get(CKA_PUBLIC_EXPONENT).unwrap().to_vec(),
    }
}

#[test]
fn pkcs1_raw_equals_hashed_and_verifies_elsewhere() {
    let (public, private) = pair();
    for (i, row) in HASHED.iter().enumerate() {
        let hashed = run(OpKind::Sign, &mech(row.1), Some(private), MSG);
        let raw = run(
            OpKind::Sign,
            &mech(CKM_RSA_PKCS),
            Some(private),
            &digest_info(i, MSG),
        );
        assert_eq!(hx(&hashed), hx(&raw), "mechanism {i}");
        assert_eq!(
            sign_parts(&mech(row.1), private, &chunks(MSG, &[1, 40])),
            hashed
        );
        verify(&mech(row.1), public, MSG, &hashed).unwrap();
        verify(&mech(CKM_RSA_PKCS), public, &digest_info(i, MSG), &hashed).unwrap();
        assert_eq!(
            rv(verify(&mech(row.1), public, b"other", &hashed)),
            CKR_SIGNATURE_INVALID
        );
    }
    let s = run(OpKind::Sign, &mech(CKM_SHA256_RSA_PKCS), Some(private), MSG);
    components(public)
        .verify(&sig::RSA_PKCS1_2048_8192_SHA256, MSG, &s)
        .expect("aws-lc-rs verifies the engine's PKCS#1 v1.5 signature");
    let mut bad = s.clone();
    bad[100] ^= 1;
    assert_eq!(
        rv(verify(&mech(CKM_SHA256_RSA_PKCS), public, MSG, &bad)),
        CKR_SIGNATURE_INVALID
    );
    assert_eq!(
        rv(verify(&mech(CKM_SHA256_RSA_PKCS), public, MSG, &s[..255])),
        CKR_SIGNATURE_LEN_RANGE
    );
    let mut o = signer(&mech(CKM_RSA_PKCS), private);
    let mut out = vec![0u8; 256];
    assert_eq!(rv(o.run(&[1; 246], Some(&mut out))), CKR_DATA_LEN_RANGE);
    assert!(o.is_done());
    // Raw mechanisms are single-part.
    let mut o = signer(&mech(CKM_RSA_PKCS), private);
    assert_eq!(rv(o.update(b"x")), CKR_FUNCTION_NOT_SUPPORTED);
    assert!(o.is_done());
    // Key usage: a public key does not sign.
    assert_eq!(
        rv(begin(OpKind::Sign, &mech(CKM_RSA_PKCS), Some(prep(public)))),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
}

#[test]
fn pss_hashed_and_raw_agree_and_verify_elsewhere() {
    let (public, private) = pair();
    for (i, row) in HASHED.iter().enumerate() {
        let salt = row.4;
        let hm = pss(row.2, i, salt);
        let rm = pss(CKM_RSA_PKCS_PSS, i, salt);
        let s1 = run(OpKind::Sign, &hm, Some(private), MSG);
        let s2 = run(OpKind::Sign, &hm, Some(private), MSG);
        assert_ne!(s1, s2, "salted");
        let dg = run(OpKind::Digest, &mech(row.0), None, MSG);
        verify(&rm, public, &dg, &s1).unwrap();
        let s3 = run(OpKind::Sign, &rm, Some(private), &dg);
        verify(&hm, public, MSG, &s3).unwrap();
        let mut bad = s1.clone();
        bad[7] ^= 4;
        assert_eq!(rv(verify(&hm, public, MSG, &bad)), CKR_SIGNATURE_INVALID);
        let multi = sign_parts(&hm, private, &chunks(MSG, &[10, 11]));
        verify(&hm, public, MSG, &multi).unwrap();
    }
    let s = run(
        OpKind::Sign,
        &pss(CKM_SHA256_RSA_PKCS_PSS, 2, 32),
        Some(private),
        MSG,
    );
    components(public)
        .verify(&sig::RSA_PSS_2048_8192_SHA256, MSG, &s)
        .expect("aws-lc-rs verifies the engine's PSS signature");
    // Salt 0 works; a mismatched hash or oversized salt does not.
    let s0 = run(
        OpKind::Sign,
        &pss(CKM_SHA256_RSA_PKCS_PSS, 2, 0),
        Some(private),
        MSG,
    );
    verify(&pss(CKM_SHA256_RSA_PKCS_PSS, 2, 0), public, MSG, &s0).unwrap();
    let wrong = flat(
        CKM_SHA256_RSA_PKCS_PSS,
        &ulongs(&[CKM_SHA_1, CKG_MGF1_SHA1, 20]),
    );
    assert_eq!(
        rv(begin(OpKind::Sign, &wrong, Some(prep(private)))),
        CKR_MECHANISM_PARAM_INVALID
    );
    let big = pss(CKM_SHA256_RSA_PKCS_PSS, 2, 300);
    assert_eq!(
        rv(begin(OpKind::Sign, &big, Some(prep(private)))),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut o = signer(&pss(CKM_RSA_PKCS_PSS, 2, 32), private);
    let mut out = vec![0u8; 256];
    assert_eq!(
        rv(o.run(&[0; 31], Some(&mut out))),
        CKR_DATA_LEN_RANGE,
        "raw PSS takes a digest"
    );
}

#[test]
fn oaep_round_trips_bounds_and_one_error_code() {
    let (public, private) = pair();
    for (m, hlen) in [
        (Mechanism::oaep(CKM_SHA_1, CKG_MGF1_SHA1, b""), 20),
        (Mechanism::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"label"), 32),
        (Mechanism::oaep(CKM_SHA512, CKG_MGF1_SHA1, b""), 64),
    ] {
        let ct = run(OpKind::Encrypt, &m, Some(public), MSG);
        assert_eq!(ct.len(), 256);
        assert_ne!(
            run(OpKind::Encrypt, &m, Some(public), MSG),
            ct,
            "randomized"
        );
        assert_eq!(run(OpKind::Decrypt, &m, Some(private), &ct), MSG);
        let max = vec![0x42u8; 256 - 2 * hlen - 2];
        let ct = run(OpKind::Encrypt, &m, Some(public), &max);
        assert_eq!(run(OpKind::Decrypt, &m, Some(private), &ct), max);
        let mut o = enc(&m, public);
        let mut out = vec![0u8; 256];
        assert_eq!(
            rv(o.run(&vec![0; max.len() + 1], Some(&mut out))),
            CKR_DATA_LEN_RANGE
        );
        for pos in [0usize, 1, 100, 255] {
            let mut bad = ct.clone();
            bad[pos] ^= 0x40;
            let mut o = dec(&m, private);
            assert_eq!(
                rv(o.run(&bad, Some(&mut out))),
                CKR_ENCRYPTED_DATA_INVALID,
                "byte {pos}"
            );
        }
        let mut o = dec(&m, private);
        assert_eq!(
            rv(o.run(&ct[1..], Some(&mut out))),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
    }
    // A different label is the same single error.
    let ct = run(
        OpKind::Encrypt,
        &Mechanism::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"a"),
        Some(public),
        MSG,
    );
    let mut o = dec(&Mechanism::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"b"), private);
    let mut out = vec![0u8; 256];
    assert_eq!(rv(o.run(&ct, Some(&mut out))), CKR_ENCRYPTED_DATA_INVALID);
    // Decryption into a buffer of the message's exact size.
    let m = Mechanism::oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"");
    let ct = run(OpKind::Encrypt, &m, Some(public), b"hi");
    let mut o = dec(&m, private);
    let mut two = [0u8; 2];
    assert_eq!(o.run(&ct, Some(&mut two)).unwrap(), 2);
    assert_eq!(&two, b"hi");
    let bad = Mechanism::oaep(CKM_SHA256, 0x99, b"");
    assert_eq!(
        rv(begin(OpKind::Encrypt, &bad, Some(prep(public)))),
        CKR_MECHANISM_PARAM_INVALID
    );
}

#[test]
fn pkcs1_and_raw_encryption() {
    let (public, private) = pair();
    let m = mech(CKM_RSA_PKCS);
    let ct = run(OpKind::Encrypt, &m, Some(public), MSG);
    assert_ne!(run(OpKind::Encrypt, &m, Some(public), MSG), ct);
    assert_eq!(run(OpKind::Decrypt, &m, Some(private), &ct), MSG);
    let mut bad = ct.clone();
    bad[5] ^= 1;
    let mut o = dec(&m, private);
    let mut out = vec![0u8; 256];
    assert_eq!(rv(o.run(&bad, Some(&mut out))), CKR_ENCRYPTED_DATA_INVALID);
    let x = mech(CKM_RSA_X_509);
    let ct = run(OpKind::Encrypt, &x, Some(public), b"raw");
    let pt = run(OpKind::Decrypt, &x, Some(private), &ct);
    assert_eq!(pt.len(), 256);
    assert_eq!(&pt[253..], b"raw");
    let s = run(OpKind::Sign, &x, Some(private), b"raw");
    verify(&x, public, b"raw", &s).unwrap();
    assert_eq!(rv(verify(&x, public, b"raw!", &s)), CKR_SIGNATURE_INVALID);
    let mut o = signer(&x, private);
    assert_eq!(
        rv(o.run(&[0xff; 256], Some(&mut out))),
        CKR_DATA_INVALID,
        "not below the modulus"
    );
    let mut o = enc(&m, public);
    assert_eq!(rv(o.update(b"x", None)), CKR_FUNCTION_NOT_SUPPORTED);
}
