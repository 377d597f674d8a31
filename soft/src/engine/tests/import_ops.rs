//! BYOK import pieces: CKM_RSA_AES_KEY_WRAP unwrap, material check values, EC public
//! point recovery. (Interoperability with openssl: soft/tests/byok_soft.rs.)

use super::*;
use kmsbridge_bridge::ec::public_point_from_signatures;
use kmsbridge_bridge::material_check::{self as mc, Pads};

fn import_pair() -> (SoftObject, SoftObject) {
    generate_key_pair(
        &mech(CKM_RSA_PKCS_KEY_PAIR_GEN),
        &[
            u(CKA_MODULUS_BITS, 2048),
            v(CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
            b(CKA_WRAP, true),
        ],
        &[b(CKA_UNWRAP, true), b(CKA_SENSITIVE, true)],
    )
    .expect("RSA key pair")
}

fn oaep_sha256() -> Mechanism {
    Mechanism::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"")
}

fn rsa_aes(aes_bits: CK_ULONG) -> Mechanism {
    Mechanism {
        ty: CKM_RSA_AES_KEY_WRAP,
        param: MechParam::RsaAesKeyWrap {
            aes_bits,
            hash: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            source: CKZ_DATA_SPECIFIED,
            source_data: Vec::new(),
        },
    }
}

fn wrap_all(m: &Mechanism, kek: &SoftObject, key: &SoftObject) -> Vec<u8> {
    let mut out = vec![0u8; 4096];
    let n = wrap(m, kek, key, Some(&mut out)).expect("wrap");
    out.truncate(n);
    out
}

/// OAEP(ephemeral key) ‖ RFC 5649 wrap of `target` under it, made with the engine.
fn rsa_aes_blob(public: &SoftObject, eph: &[u8], target: &SoftObject) -> Vec<u8> {
    let eph = create(&[
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        b(CKA_WRAP, true),
        v(CKA_VALUE, eph),
    ])
    .expect("ephemeral key");
    let mut blob = wrap_all(&oaep_sha256(), public, &eph);
    blob.extend(wrap_all(&mech(CKM_AES_KEY_WRAP_PAD), &eph, target));
    blob
}

#[test]
fn rsa_aes_unwraps_secret_and_private_keys() {
    let (public, private) = import_pair();
    let target = secret(CKK_AES, &[0x42; 24]);
    let blob = rsa_aes_blob(&public, &[7; 32], &target);
    let t = [u(CKA_CLASS, CKO_SECRET_KEY), u(CKA_KEY_TYPE, CKK_AES)];
    let got = unwrap(&rsa_aes(256), &private, &blob, &t).expect("RSA-AES unwrap");
    assert_eq!(got.get(CKA_VALUE), Some(&[0x42u8; 24][..]));
    assert_eq!(got.get_ulong(CKA_VALUE_LEN), Some(24));

    let (_, ec_private) = key_gen::ec_pair(ec_params::P384_OID);
    let ec_private = {
        let mut k = ec_private;
        k.set_bool(CKA_EXTRACTABLE, true);
        k
    };
    let blob = rsa_aes_blob(&public, &[9; 16], &ec_private);
    let t = [u(CKA_CLASS, CKO_PRIVATE_KEY)];
    let got = unwrap(&rsa_aes(128), &private, &blob, &t).expect("RSA-AES unwrap of EC");
    assert_eq!(got.get(CKA_VALUE), ec_private.get(CKA_VALUE));
    assert_eq!(got.get(CKA_EC_PARAMS), Some(ec_params::P384_OID));
}

#[test]
fn rsa_aes_refusals() {
    let (public, private) = import_pair();
    let target = secret(CKK_AES, &[0x42; 32]);
    let blob = rsa_aes_blob(&public, &[7; 32], &target);
    let t = [u(CKA_CLASS, CKO_SECRET_KEY), u(CKA_KEY_TYPE, CKK_AES)];
    // ulAESKeyBits differs from the ephemeral key's size.
    assert_eq!(
        rv(unwrap(&rsa_aes(192), &private, &blob, &t)),
        CKR_WRAPPED_KEY_INVALID
    );
    assert_eq!(
        rv(unwrap(&rsa_aes(100), &private, &blob, &t)),
        CKR_MECHANISM_PARAM_INVALID
    );
    for pos in [0, 255, 256, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[pos] ^= 4;
        assert_eq!(
            rv(unwrap(&rsa_aes(256), &private, &bad, &t)),
            CKR_WRAPPED_KEY_INVALID,
            "byte {pos}"
        );
    }
    for len in [256, 256 + 8, blob.len() - 1] {
        assert_eq!(
            rv(unwrap(&rsa_aes(256), &private, &blob[..len], &t)),
            CKR_WRAPPED_KEY_LEN_RANGE,
            "{len} bytes"
        );
    }
    // Unwrap only.
    let mut out = vec![0u8; 1024];
    assert_eq!(
        rv(wrap(&rsa_aes(256), &public, &target, Some(&mut out))),
        CKR_MECHANISM_INVALID
    );
    let listed = mechanisms()
        .into_iter()
        .find(|(t, _)| *t == CKM_RSA_AES_KEY_WRAP)
        .expect("listed");
    assert_eq!(listed.1.flags, CKF_UNWRAP);
}

/// The node backend's recovery (bridge's `ec`, over RustCrypto) against aws-lc's signatures.
#[test]
fn ec_public_points_are_recovered_from_two_signatures() {
    for (params, len) in [
        (ec_params::P256_OID, 32),
        (ec_params::P384_OID, 48),
        (ec_params::P521_OID, 66),
    ] {
        let (public, private) = key_gen::ec_pair(params);
        let private = {
            let mut k = private;
            k.set_bool(CKA_SIGN, true);
            k
        };
        let (d1, d2) = ([1u8; 32], [2u8; 32]);
        let s1 = run(OpKind::Sign, &mech(CKM_ECDSA), Some(&private), &d1);
        let s2 = run(OpKind::Sign, &mech(CKM_ECDSA), Some(&private), &d2);
        assert_eq!(s1.len(), 2 * len);
        let (oid, point) =
            public_point_from_signatures(params, [(&d1, &s1), (&d2, &s2)]).expect("recovered");
        assert_eq!(oid, params);
        let want = ec_params::parse_octet_string(public.get(CKA_EC_POINT).expect("point"))
            .expect("DER point");
        assert_eq!(point, want);
        // A signature of another digest names no single key.
        let e = public_point_from_signatures(params, [(&d1, &s1), (&d1, &s2)]);
        assert_eq!(rv(e), CKR_GENERAL_ERROR);
    }
}

#[test]
fn check_values_follow_the_canonical_forms() {
    let salt = [5u8; 16];
    let pads = Pads::new(&salt).expect("salt");

    let aes = secret(CKK_AES, &[3; 16]);
    let mut prefix = mc::secret_prefix(CKK_AES);
    prefix.extend_from_slice(&[3; 16]);
    assert_eq!(material_check(&aes, &salt).unwrap(), pads.hmac(&[&prefix]));

    let (public, private) = key_gen::ec_pair(ec_params::P256_OID);
    let point = ec_params::parse_octet_string(public.get(CKA_EC_POINT).unwrap()).unwrap();
    assert_eq!(
        material_check(&private, &salt).unwrap(),
        pads.hmac(&[&mc::ec(ec_params::P256_OID, point)])
    );

    let (public, private) = key_gen::ed_pair(ec_params::ED25519_OID);
    let point: [u8; 32] = ec_params::ed_point_from_attr(public.get(CKA_EC_POINT).unwrap()).unwrap();
    assert_eq!(
        material_check(&private, &salt).unwrap(),
        pads.hmac(&[&mc::ed25519(&point)])
    );

    assert_eq!(
        rv(material_check(&public, &salt)),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    let data = create(&[u(CKA_CLASS, CKO_DATA), v(CKA_VALUE, b"x")]).unwrap();
    assert_eq!(rv(material_check(&data, &salt)), CKR_KEY_HANDLE_INVALID);
    assert_eq!(rv(material_check(&aes, &[1; 4])), CKR_ARGUMENTS_BAD);
}
