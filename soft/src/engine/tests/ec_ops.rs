use super::*;
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey};

const MSG: &[u8] = b"kmsbridge engine ECDSA";

fn raw_point(public: &SoftObject) -> Vec<u8> {
    ec_params::parse_octet_string(public.get(CKA_EC_POINT).unwrap())
        .unwrap()
        .to_vec()
}

#[test]
fn ecdsa_on_each_curve_interoperates() {
    for (params, len, alg) in [
        (ec_params::P256_OID, 32usize, &sig::ECDSA_P256_SHA256_FIXED),
        (ec_params::P384_OID, 48, &sig::ECDSA_P384_SHA384_FIXED),
        (ec_params::P521_OID, 66, &sig::ECDSA_P521_SHA512_FIXED),
    ] {
        let (public, private) = key_gen::ec_pair(params);
        let (m, hash) = match len {
            32 => (CKM_ECDSA_SHA256, CKM_SHA256),
            48 => (CKM_ECDSA_SHA384, CKM_SHA384),
            _ => (CKM_ECDSA_SHA512, CKM_SHA512),
        };
        let s = run(OpKind::Sign, &mech(m), Some(&private), MSG);
        assert_eq!(s.len(), 2 * len, "r || s");
        UnparsedPublicKey::new(alg, raw_point(&public))
            .verify(MSG, &s)
            .expect("aws-lc-rs verifies the engine's ECDSA");
        verify(&mech(m), &public, MSG, &s).unwrap();
        let dg = run(OpKind::Digest, &mech(hash), None, MSG);
        verify(&mech(CKM_ECDSA), &public, &dg, &s).unwrap();
        let raw = run(OpKind::Sign, &mech(CKM_ECDSA), Some(&private), &dg);
        verify(&mech(m), &public, MSG, &raw).unwrap();
        let multi = sign_parts(&mech(m), &private, &chunks(MSG, &[3, 9]));
        verify(&mech(m), &public, MSG, &multi).unwrap();
        let mut bad = s.clone();
        bad[5] ^= 1;
        assert_eq!(
            rv(verify(&mech(m), &public, MSG, &bad)),
            CKR_SIGNATURE_INVALID
        );
        assert_eq!(
            rv(verify(&mech(m), &public, MSG, &s[1..])),
            CKR_SIGNATURE_LEN_RANGE
        );
    }
}

#[test]
fn ecdsa_hashed_variants_and_truncation() {
    let (public, private) = key_gen::ec_pair(ec_params::P256_OID);
    for (m, hash) in [
        (CKM_ECDSA_SHA1, CKM_SHA_1),
        (CKM_ECDSA_SHA224, CKM_SHA224),
        (CKM_ECDSA_SHA384, CKM_SHA384),
        (CKM_ECDSA_SHA512, CKM_SHA512),
    ] {
        let s = run(OpKind::Sign, &mech(m), Some(&private), MSG);
        let dg = run(OpKind::Digest, &mech(hash), None, MSG);
        // Raw ECDSA over a longer hash truncates it (FIPS 186), like the hashed mechanism.
        verify(&mech(CKM_ECDSA), &public, &dg, &s).unwrap();
    }
    let mut o = signer(&mech(CKM_ECDSA), &private);
    assert_eq!(
        rv(o.update(b"x")),
        CKR_FUNCTION_NOT_SUPPORTED,
        "raw ECDSA is single-part"
    );
    let (_, rsa_private) = key_gen::rsa_pair(1024);
    assert_eq!(
        rv(begin(
            OpKind::Sign,
            &mech(CKM_ECDSA),
            Some(prep(&rsa_private))
        )),
        CKR_KEY_TYPE_INCONSISTENT
    );
    assert_eq!(
        rv(begin(
            OpKind::Sign,
            &flat(CKM_ECDSA, &[1]),
            Some(prep(&private))
        )),
        CKR_MECHANISM_PARAM_INVALID
    );
}

#[test]
fn ed25519_rfc8032_and_generated_keys() {
    // RFC 8032 7.1 test 1.
    let private = create(&[
        u(CKA_CLASS, CKO_PRIVATE_KEY),
        u(CKA_KEY_TYPE, CKK_EC_EDWARDS),
        v(CKA_EC_PARAMS, kmsbridge_bridge::ec::ED25519_NAME),
        v(
            CKA_VALUE,
            &h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        ),
    ])
    .unwrap();
    let public = create(&[
        u(CKA_CLASS, CKO_PUBLIC_KEY),
        u(CKA_KEY_TYPE, CKK_EC_EDWARDS),
        v(CKA_EC_PARAMS, ec_params::ED25519_OID),
        v(
            CKA_EC_POINT,
            &h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        ),
    ])
    .unwrap();
    let want = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    let s = run(OpKind::Sign, &mech(CKM_EDDSA), Some(&private), b"");
    assert_eq!(hx(&s), want);
    verify(&mech(CKM_EDDSA), &public, b"", &s).unwrap();
    assert_eq!(
        rv(verify(&mech(CKM_EDDSA), &public, b"x", &s)),
        CKR_SIGNATURE_INVALID
    );
    assert_eq!(
        rv(verify(&mech(CKM_EDDSA), &public, b"", &s[..63])),
        CKR_SIGNATURE_LEN_RANGE
    );
    let (gp, gs) = key_gen::ed_pair(ec_params::ED25519_OID);
    let s = run(OpKind::Sign, &mech(CKM_EDDSA), Some(&gs), MSG);
    let point = ec_params::ed_point_from_attr(gp.get(CKA_EC_POINT).unwrap()).unwrap();
    UnparsedPublicKey::new(&sig::ED25519, point)
        .verify(MSG, &s)
        .expect("aws-lc-rs verifies the engine's Ed25519");
    // Ed25519ctx and Ed25519ph round trip; pure with empty params is plain Ed25519.
    for (ph, ctx) in [(false, b"ctx".to_vec()), (true, vec![]), (false, vec![])] {
        let m = Mechanism {
            ty: CKM_EDDSA,
            param: MechParam::Eddsa { ph, context: ctx },
        };
        let s = run(OpKind::Sign, &m, Some(&gs), MSG);
        verify(&m, &gp, MSG, &s).unwrap();
    }
    let mut o = signer(&mech(CKM_EDDSA), &gs);
    assert_eq!(rv(o.update(b"x")), CKR_FUNCTION_NOT_SUPPORTED);
}

fn ecdh(peer: &[u8], kdf: CK_ULONG, shared: &[u8]) -> Mechanism {
    Mechanism {
        ty: CKM_ECDH1_DERIVE,
        param: MechParam::Ecdh1 {
            kdf,
            shared: shared.to_vec(),
            public: peer.to_vec(),
        },
    }
}

#[test]
fn ecdh_both_sides_agree() {
    let (ap, a) = key_gen::ec_pair(ec_params::P256_OID);
    let (bp, bk) = key_gen::ec_pair(ec_params::P256_OID);
    let (pa, pb) = (raw_point(&ap), raw_point(&bp));
    let t = |kt: CK_KEY_TYPE, len: Option<CK_ULONG>| {
        let mut t = vec![
            u(CKA_CLASS, CKO_SECRET_KEY),
            u(CKA_KEY_TYPE, kt),
            b(CKA_EXTRACTABLE, true),
        ];
        t.extend(len.map(|l| u(CKA_VALUE_LEN, l)));
        t
    };
    let ab = derive(&ecdh(&pb, CKD_NULL, b""), &a, &t(CKK_GENERIC_SECRET, None)).unwrap();
    let ba = derive(&ecdh(&pa, CKD_NULL, b""), &bk, &t(CKK_GENERIC_SECRET, None)).unwrap();
    assert_eq!(ab.get(CKA_VALUE).map(|x| x.len()), Some(32));
    assert_eq!(ab.get(CKA_VALUE), ba.get(CKA_VALUE));
    assert!(!ab.flag(CKA_LOCAL));
    // Shorter keys keep the trailing bytes; DER-wrapped peer points are accepted too.
    let short = derive(
        &ecdh(&ec_params::octet_string(&pb), CKD_NULL, b""),
        &a,
        &t(CKK_AES, Some(16)),
    )
    .unwrap();
    assert_eq!(
        short.get(CKA_VALUE),
        Some(&ab.get(CKA_VALUE).unwrap()[16..])
    );
    let k1 = derive(
        &ecdh(&pb, CKD_SHA256_KDF, b"info"),
        &a,
        &t(CKK_AES, Some(32)),
    )
    .unwrap();
    let k2 = derive(
        &ecdh(&pa, CKD_SHA256_KDF, b"info"),
        &bk,
        &t(CKK_AES, Some(32)),
    )
    .unwrap();
    assert_eq!(k1.get(CKA_VALUE), k2.get(CKA_VALUE));
    assert_ne!(k1.get(CKA_VALUE), ab.get(CKA_VALUE));
    let r = derive(&ecdh(&pb, CKD_NULL, b""), &a, &t(CKK_AES, None));
    assert_eq!(rv(r), CKR_TEMPLATE_INCOMPLETE);
    let r = derive(
        &ecdh(&pb, CKD_NULL, b""),
        &a,
        &t(CKK_GENERIC_SECRET, Some(33)),
    );
    assert_eq!(rv(r), CKR_TEMPLATE_INCONSISTENT);
    let mut off = pb.clone();
    off[20] ^= 1;
    let r = derive(&ecdh(&off, CKD_NULL, b""), &a, &t(CKK_GENERIC_SECRET, None));
    assert_eq!(rv(r), CKR_MECHANISM_PARAM_INVALID);
    let r = derive(&ecdh(&pb, CKD_NULL, b"x"), &a, &t(CKK_GENERIC_SECRET, None));
    assert_eq!(rv(r), CKR_MECHANISM_PARAM_INVALID);
    let (_, no_derive) = generate_key_pair(
        &mech(CKM_EC_KEY_PAIR_GEN),
        &[v(CKA_EC_PARAMS, ec_params::P256_OID)],
        &[],
    )
    .unwrap();
    let r = derive(
        &ecdh(&pb, CKD_NULL, b""),
        &no_derive,
        &t(CKK_GENERIC_SECRET, None),
    );
    assert_eq!(rv(r), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(
        rv(derive(&ecdh(&pb, CKD_NULL, b""), &ap, &[])),
        CKR_KEY_TYPE_INCONSISTENT
    );
}
