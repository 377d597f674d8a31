use super::*;

fn aes(value: &[u8]) -> SoftObject {
    secret(CKK_AES, value)
}

fn unwrap_secret(
    m: &Mechanism,
    kek: &SoftObject,
    blob: &[u8],
    kt: CK_KEY_TYPE,
) -> kmsbridge_bridge::Result<SoftObject> {
    unwrap(
        m,
        kek,
        blob,
        &[u(CKA_CLASS, CKO_SECRET_KEY), u(CKA_KEY_TYPE, kt)],
    )
}

fn wrap_all(m: &Mechanism, kek: &SoftObject, key: &SoftObject) -> Vec<u8> {
    let n = wrap(m, kek, key, None).expect("wrap length");
    let mut out = vec![0u8; n];
    let got = wrap(m, kek, key, Some(&mut out)).expect("wrap");
    out.truncate(got);
    out
}

#[test]
fn rfc3394_known_answer() {
    let kek = aes(&h("000102030405060708090a0b0c0d0e0f"));
    let key = aes(&h("00112233445566778899aabbccddeeff"));
    let m = mech(CKM_AES_KEY_WRAP);
    let blob = wrap_all(&m, &kek, &key);
    assert_eq!(
        hx(&blob),
        "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"
    );
    let back = unwrap_secret(&m, &kek, &blob, CKK_AES).unwrap();
    assert_eq!(back.get(CKA_VALUE), key.get(CKA_VALUE));
    assert!(!back.flag(CKA_LOCAL));
    let mut bad = blob.clone();
    bad[0] ^= 1;
    assert_eq!(
        rv(unwrap_secret(&m, &kek, &bad, CKK_AES)),
        CKR_WRAPPED_KEY_INVALID
    );
    assert_eq!(
        rv(unwrap_secret(&m, &kek, &blob[..20], CKK_AES)),
        CKR_WRAPPED_KEY_LEN_RANGE
    );
    let odd = secret(CKK_GENERIC_SECRET, &[1; 20]);
    assert_eq!(rv(wrap(&m, &kek, &odd, None)), CKR_KEY_SIZE_RANGE);
}

#[test]
fn rfc5649_vectors_for_every_length() {
    let kek = aes(&h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"));
    for m in [mech(CKM_AES_KEY_WRAP_PAD), mech(CKM_AES_KEY_WRAP_KWP)] {
        for (value, blob) in [
            (
                "c37b7e6492584340bed12207808941155068f738",
                "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
            ),
            ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
            (
                "00112233445566778899aabbccddeeff",
                "3d5096111d227d3c97f6a8d619ccf2ee7912eebeb1b41e43",
            ),
        ] {
            let key = secret(CKK_GENERIC_SECRET, &h(value));
            assert_eq!(hx(&wrap_all(&m, &kek, &key)), blob, "KWP of {value}");
            let back = unwrap_secret(&m, &kek, &h(blob), CKK_GENERIC_SECRET).unwrap();
            assert_eq!(hx(back.get(CKA_VALUE).unwrap()), value);
            assert_eq!(attr_ulong(&back, CKA_VALUE_LEN) as usize, value.len() / 2);
            let mut bad = h(blob);
            bad[3] ^= 1;
            assert_eq!(
                rv(unwrap_secret(&m, &kek, &bad, CKK_GENERIC_SECRET)),
                CKR_WRAPPED_KEY_INVALID
            );
        }
    }
    // A blob claiming more than its blocks hold is refused, one code.
    let k = prep(&kek);
    let lying = wrap::kw_wrap(
        k.aes().unwrap(),
        [0xa6, 0x59, 0x59, 0xa6, 0, 0, 0, 40],
        &[0; 16],
    )
    .unwrap();
    let r = unwrap_secret(
        &mech(CKM_AES_KEY_WRAP_PAD),
        &kek,
        &lying,
        CKK_GENERIC_SECRET,
    );
    assert_eq!(rv(r), CKR_WRAPPED_KEY_INVALID);
}

#[test]
fn private_keys_wrap_as_pkcs8() {
    let kek = generate_key(&mech(CKM_AES_KEY_GEN), &[u(CKA_VALUE_LEN, 32)]).unwrap();
    let m = mech(CKM_AES_KEY_WRAP_PAD);
    let (rp, rs) = key_gen::rsa_pair(2048);
    let (ep, es) = key_gen::ec_pair(ec_params::P384_OID);
    let (dp, ds) = key_gen::ed_pair(ec_params::ED25519_OID);
    for (public, private, kt, sm) in [
        (rp, rs, CKK_RSA, mech(CKM_SHA256_RSA_PKCS)),
        (ep, es, CKK_EC, mech(CKM_ECDSA_SHA256)),
        (dp, ds, CKK_EC_EDWARDS, mech(CKM_EDDSA)),
    ] {
        let blob = wrap_all(&m, &kek, &private);
        assert!(blob.len() > 40);
        let t = [
            u(CKA_CLASS, CKO_PRIVATE_KEY),
            u(CKA_KEY_TYPE, kt),
            b(CKA_SENSITIVE, true),
            b(CKA_SIGN, true),
        ];
        let back = unwrap(&m, &kek, &blob, &t).unwrap();
        assert!(!back.flag(CKA_LOCAL) && back.flag(CKA_SENSITIVE));
        assert!(!back.flag(CKA_ALWAYS_SENSITIVE));
        let s = run(OpKind::Sign, &sm, Some(&back), b"unwrapped");
        verify(&sm, &public, b"unwrapped", &s).expect("the unwrapped key signs for the original");
        let wrong = [
            u(CKA_CLASS, CKO_PRIVATE_KEY),
            u(CKA_KEY_TYPE, if kt == CKK_RSA { CKK_EC } else { CKK_RSA }),
        ];
        assert_eq!(
            rv(unwrap(&m, &kek, &blob, &wrong)),
            CKR_TEMPLATE_INCONSISTENT
        );
    }
    // Not PKCS#8.
    let junk = wrap::kwp_wrap(
        prep(&kek).aes().unwrap(),
        [0xa6, 0x59, 0x59, 0xa6],
        b"not a key at all",
    )
    .unwrap();
    let r = unwrap(&m, &kek, &junk, &[u(CKA_CLASS, CKO_PRIVATE_KEY)]);
    assert_eq!(rv(r), CKR_WRAPPED_KEY_INVALID);
}

#[test]
fn rsa_wraps_secret_keys() {
    let (public, private) = key_gen::rsa_pair(2048);
    let key = generate_key(&mech(CKM_AES_KEY_GEN), &[u(CKA_VALUE_LEN, 32)]).unwrap();
    for m in [
        mech(CKM_RSA_PKCS),
        Mechanism::oaep(CKM_SHA256, CKG_MGF1_SHA256, b""),
    ] {
        let blob = wrap_all(&m, &public, &key);
        assert_eq!(blob.len(), 256);
        let back = unwrap_secret(&m, &private, &blob, CKK_AES).unwrap();
        assert_eq!(back.get(CKA_VALUE), key.get(CKA_VALUE));
        let mut bad = blob.clone();
        bad[10] ^= 1;
        assert_eq!(
            rv(unwrap_secret(&m, &private, &bad, CKK_AES)),
            CKR_WRAPPED_KEY_INVALID
        );
        assert_eq!(
            rv(unwrap_secret(&m, &private, &blob[1..], CKK_AES)),
            CKR_WRAPPED_KEY_LEN_RANGE
        );
        assert_eq!(
            rv(wrap(&m, &private, &key, None)),
            CKR_WRAPPING_KEY_TYPE_INCONSISTENT
        );
        assert_eq!(
            rv(unwrap_secret(&m, &public, &blob, CKK_AES)),
            CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT
        );
    }
    assert_eq!(
        rv(wrap(&mech(CKM_RSA_PKCS), &public, &private, None)),
        CKR_KEY_SIZE_RANGE
    );
}

#[test]
fn wrap_refusals_and_length_rules() {
    let kek = aes(&[9; 16]);
    let m = mech(CKM_AES_KEY_WRAP);
    let locked = generate_key(
        &mech(CKM_AES_KEY_GEN),
        &[u(CKA_VALUE_LEN, 16), b(CKA_EXTRACTABLE, false)],
    )
    .unwrap();
    assert_eq!(rv(wrap(&m, &kek, &locked, None)), CKR_KEY_UNEXTRACTABLE);
    let no_wrap = generate_key(
        &mech(CKM_AES_KEY_GEN),
        &[u(CKA_VALUE_LEN, 16), b(CKA_WRAP, false)],
    )
    .unwrap();
    let target = aes(&[5; 16]);
    assert_eq!(
        rv(wrap(&m, &no_wrap, &target, None)),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    let hmac_key = secret(CKK_GENERIC_SECRET, &[1; 16]);
    assert_eq!(
        rv(wrap(&m, &hmac_key, &target, None)),
        CKR_WRAPPING_KEY_TYPE_INCONSISTENT
    );
    let (public, _) = key_gen::ec_pair(ec_params::P256_OID);
    assert_eq!(rv(wrap(&m, &kek, &public, None)), CKR_KEY_NOT_WRAPPABLE);
    let trusted_only = create(&[
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        v(CKA_VALUE, &[1; 16]),
        b(CKA_WRAP_WITH_TRUSTED, true),
    ])
    .unwrap();
    assert_eq!(
        rv(wrap(&m, &kek, &trusted_only, None)),
        CKR_KEY_NOT_WRAPPABLE
    );
    assert_eq!(
        rv(wrap(&mech(CKM_AES_ECB), &kek, &target, None)),
        CKR_MECHANISM_INVALID
    );
    assert_eq!(wrap(&m, &kek, &target, None).unwrap(), 24);
    let mut small = [0u8; 23];
    assert_eq!(is_too_small(wrap(&m, &kek, &target, Some(&mut small))), 24);
    // Unwrap: class required, value may not be given, KEK needs CKA_UNWRAP.
    let blob = wrap_all(&m, &kek, &target);
    assert_eq!(rv(unwrap(&m, &kek, &blob, &[])), CKR_TEMPLATE_INCOMPLETE);
    let t = [
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        v(CKA_VALUE, &[1; 16]),
    ];
    assert_eq!(rv(unwrap(&m, &kek, &blob, &t)), CKR_ATTRIBUTE_READ_ONLY);
    let no_unwrap = create(&[
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        v(CKA_VALUE, &[9; 16]),
        b(CKA_UNWRAP, false),
    ])
    .unwrap();
    assert_eq!(
        rv(unwrap_secret(&m, &no_unwrap, &blob, CKK_AES)),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    // CKA_VALUE_LEN truncates a generic secret; an AES key of the wrong length is refused.
    let t = [
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
        u(CKA_VALUE_LEN, 10),
    ];
    assert_eq!(
        unwrap(&m, &kek, &blob, &t).unwrap().get(CKA_VALUE),
        Some(&[5u8; 10][..])
    );
    let t = [
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        u(CKA_VALUE_LEN, 10),
    ];
    assert_eq!(rv(unwrap(&m, &kek, &blob, &t)), CKR_WRAPPED_KEY_INVALID);
}
