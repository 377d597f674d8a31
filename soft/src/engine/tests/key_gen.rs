use super::*;

pub fn rsa_pair(bits: CK_ULONG) -> (SoftObject, SoftObject) {
    generate_key_pair(
        &mech(CKM_RSA_PKCS_KEY_PAIR_GEN),
        &[
            u(CKA_MODULUS_BITS, bits),
            v(CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
        ],
        &[b(CKA_SENSITIVE, true)],
    )
    .expect("RSA key pair")
}

pub fn ec_pair(params: &[u8]) -> (SoftObject, SoftObject) {
    generate_key_pair(
        &mech(CKM_EC_KEY_PAIR_GEN),
        &[v(CKA_EC_PARAMS, params)],
        &[b(CKA_DERIVE, true)],
    )
    .expect("EC key pair")
}

pub fn ed_pair(params: &[u8]) -> (SoftObject, SoftObject) {
    generate_key_pair(
        &mech(CKM_EC_EDWARDS_KEY_PAIR_GEN),
        &[v(CKA_EC_PARAMS, params)],
        &[],
    )
    .expect("Ed25519 key pair")
}

#[test]
fn generated_aes_key_attributes() {
    let k = generate_key(
        &mech(CKM_AES_KEY_GEN),
        &[
            u(CKA_VALUE_LEN, 32),
            b(CKA_SENSITIVE, true),
            b(CKA_EXTRACTABLE, false),
        ],
    )
    .unwrap();
    assert_eq!(k.get(CKA_VALUE).map(|x| x.len()), Some(32));
    assert!(k.flag(CKA_LOCAL) && k.flag(CKA_ALWAYS_SENSITIVE) && k.flag(CKA_NEVER_EXTRACTABLE));
    assert_eq!(attr_ulong(&k, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
    assert_eq!(attr_ulong(&k, CKA_KEY_TYPE), CKK_AES);
    assert_eq!(attr(&k, CKA_VALUE).0, CKR_ATTRIBUTE_SENSITIVE);
    let plain = generate_key(&mech(CKM_AES_KEY_GEN), &[u(CKA_VALUE_LEN, 16)]).unwrap();
    assert!(!plain.flag(CKA_ALWAYS_SENSITIVE) && !plain.flag(CKA_NEVER_EXTRACTABLE));
    assert_ne!(plain.get(CKA_VALUE), k.get(CKA_VALUE));
}

#[test]
fn generate_key_errors() {
    let g = |m, t: &[Attr]| generate_key(&mech(m), t);
    assert_eq!(rv(g(CKM_AES_KEY_GEN, &[])), CKR_TEMPLATE_INCOMPLETE);
    assert_eq!(
        rv(g(CKM_AES_KEY_GEN, &[u(CKA_VALUE_LEN, 20)])),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        rv(g(
            CKM_AES_KEY_GEN,
            &[u(CKA_VALUE_LEN, 16), v(CKA_VALUE, &[0; 16])]
        )),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv(g(
            CKM_AES_KEY_GEN,
            &[u(CKA_VALUE_LEN, 16), u(CKA_CLASS, CKO_DATA)]
        )),
        CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        rv(g(
            CKM_AES_KEY_GEN,
            &[u(CKA_VALUE_LEN, 16), u(CKA_KEY_TYPE, CKK_GENERIC_SECRET)]
        )),
        CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        rv(g(CKM_SHA256, &[u(CKA_VALUE_LEN, 16)])),
        CKR_MECHANISM_INVALID
    );
    let gs = g(CKM_GENERIC_SECRET_KEY_GEN, &[u(CKA_VALUE_LEN, 48)]).unwrap();
    assert_eq!(attr_ulong(&gs, CKA_KEY_TYPE), CKK_GENERIC_SECRET);
    assert_eq!(attr_ulong(&gs, CKA_VALUE_LEN), 48);
    assert_eq!(
        rv(g(CKM_GENERIC_SECRET_KEY_GEN, &[u(CKA_VALUE_LEN, 0)])),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
}

#[test]
fn rsa_pair_attributes() {
    let (public, private) = rsa_pair(2048);
    assert_eq!(public.get(CKA_MODULUS).map(|n| n.len()), Some(256));
    assert_eq!(attr_ulong(&public, CKA_MODULUS_BITS), 2048);
    assert_eq!(private.get(CKA_MODULUS), public.get(CKA_MODULUS));
    assert_eq!(private.get(CKA_PUBLIC_EXPONENT), Some(&[1u8, 0, 1][..]));
    assert!(public.flag(CKA_LOCAL) && private.flag(CKA_LOCAL));
    assert!(!public.is_private() && private.is_private());
    assert!(private.flag(CKA_ALWAYS_SENSITIVE) && !private.flag(CKA_NEVER_EXTRACTABLE));
    assert!(!private.flag(CKA_ALWAYS_AUTHENTICATE));
    assert_eq!(
        attr_ulong(&private, CKA_KEY_GEN_MECHANISM),
        CKM_RSA_PKCS_KEY_PAIR_GEN
    );
    for t in [CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_COEFFICIENT] {
        assert_eq!(attr(&private, t).0, CKR_ATTRIBUTE_SENSITIVE);
    }
    assert_eq!(attr(&private, CKA_MODULUS).0, CKR_OK);
    let gen = |t: &[Attr]| generate_key_pair(&mech(CKM_RSA_PKCS_KEY_PAIR_GEN), t, &[]);
    assert_eq!(rv(gen(&[])), CKR_TEMPLATE_INCOMPLETE);
    assert_eq!(rv(gen(&[u(CKA_MODULUS_BITS, 512)])), CKR_KEY_SIZE_RANGE);
    assert_eq!(
        rv(gen(&[
            u(CKA_MODULUS_BITS, 2048),
            v(CKA_PUBLIC_EXPONENT, &[2])
        ])),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        rv(gen(&[u(CKA_MODULUS_BITS, 2048), v(CKA_MODULUS, &[1])])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    // A created public key gets CKA_MODULUS_BITS; a damaged private key is refused.
    let created = create(&[
        u(CKA_CLASS, CKO_PUBLIC_KEY),
        u(CKA_KEY_TYPE, CKK_RSA),
        v(CKA_MODULUS, public.get(CKA_MODULUS).unwrap()),
        v(CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
    ])
    .unwrap();
    assert_eq!(attr_ulong(&created, CKA_MODULUS_BITS), 2048);
    let mut t: Vec<Attr> = private
        .attrs()
        .filter(|(t, _)| {
            !matches!(
                *t,
                CKA_LOCAL | CKA_KEY_GEN_MECHANISM | CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE
            )
        })
        .map(|(t, val)| v(t, val))
        .collect();
    assert!(create(&t).is_ok(), "a private key by value");
    for a in t.iter_mut().filter(|a| a.ty == CKA_PRIME_1) {
        let mut x = a.value.to_vec();
        x[10] ^= 1;
        *a = v(CKA_PRIME_1, &x);
    }
    assert_eq!(rv(create(&t)), CKR_ATTRIBUTE_VALUE_INVALID);
}

#[test]
fn ec_pair_attributes_and_curves() {
    for (params, len) in [
        (ec_params::P256_OID, 32usize),
        (ec_params::P384_OID, 48),
        (ec_params::P521_OID, 66),
    ] {
        let (public, private) = ec_pair(params);
        let point = public.get(CKA_EC_POINT).unwrap();
        let raw = ec_params::point_from_attr(point, prep(&private).ec().unwrap().curve()).unwrap();
        assert_eq!(
            raw.len(),
            1 + 2 * len,
            "uncompressed point in a DER OCTET STRING"
        );
        assert_eq!(private.get(CKA_EC_PARAMS), Some(params));
        assert_eq!(private.get(CKA_VALUE).map(|x| x.len()), Some(len));
        assert!(private.flag(CKA_DERIVE));
        assert_eq!(
            attr_ulong(&public, CKA_KEY_GEN_MECHANISM),
            CKM_EC_KEY_PAIR_GEN
        );
    }
    let gen = |p: &[u8]| generate_key_pair(&mech(CKM_EC_KEY_PAIR_GEN), &[v(CKA_EC_PARAMS, p)], &[]);
    let secp256k1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    assert_eq!(rv(gen(&secp256k1)), CKR_CURVE_NOT_SUPPORTED);
    assert_eq!(rv(gen(b"nonsense")), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(rv(gen(ec_params::ED25519_OID)), CKR_TEMPLATE_INCONSISTENT);
    assert_eq!(
        rv(generate_key_pair(&mech(CKM_EC_KEY_PAIR_GEN), &[], &[])),
        CKR_TEMPLATE_INCOMPLETE
    );
    // Ed25519 with either form of the parameters.
    for p in [ec_params::ED25519_OID, kmsbridge_bridge::ec::ED25519_NAME] {
        let (public, private) = ed_pair(p);
        assert_eq!(public.get(CKA_EC_POINT).map(|x| x.len()), Some(34));
        assert_eq!(private.get(CKA_VALUE).map(|x| x.len()), Some(32));
        assert_eq!(private.get(CKA_EC_PARAMS), Some(p));
    }
}

#[test]
fn created_ec_keys_are_checked_and_normalized() {
    // P-256 generator G = 1·G.
    let g = h(
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
               4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    );
    let public = |point: &[u8]| {
        create(&[
            u(CKA_CLASS, CKO_PUBLIC_KEY),
            u(CKA_KEY_TYPE, CKK_EC),
            v(CKA_EC_PARAMS, ec_params::P256_OID),
            v(CKA_EC_POINT, point),
        ])
    };
    let bare = public(&g).unwrap();
    assert_eq!(
        bare.get(CKA_EC_POINT),
        Some(&ec_params::octet_string(&g)[..]),
        "stored as DER"
    );
    assert!(public(&ec_params::octet_string(&g)).is_ok());
    let mut off = g.clone();
    off[40] ^= 1;
    assert_eq!(
        rv(public(&off)),
        CKR_ATTRIBUTE_VALUE_INVALID,
        "point off the curve"
    );
    let mut one = vec![0u8; 32];
    one[31] = 1;
    let private = create(&[
        u(CKA_CLASS, CKO_PRIVATE_KEY),
        u(CKA_KEY_TYPE, CKK_EC),
        v(CKA_EC_PARAMS, ec_params::P256_OID),
        v(CKA_VALUE, &one),
    ])
    .unwrap();
    // A signature by d = 1 verifies under G.
    let digest = [0x42u8; 32];
    let sig = run(OpKind::Sign, &mech(CKM_ECDSA), Some(&private), &digest);
    verify(&mech(CKM_ECDSA), &bare, &digest, &sig).expect("d = 1 signs for G");
    let zero = create(&[
        u(CKA_CLASS, CKO_PRIVATE_KEY),
        u(CKA_KEY_TYPE, CKK_EC),
        v(CKA_EC_PARAMS, ec_params::P256_OID),
        v(CKA_VALUE, &[0u8; 32]),
    ]);
    assert_eq!(rv(zero), CKR_ATTRIBUTE_VALUE_INVALID);
}

#[test]
fn always_authenticate_private_keys() {
    let gen = |private: &[Attr]| {
        generate_key_pair(
            &mech(CKM_EC_KEY_PAIR_GEN),
            &[v(CKA_EC_PARAMS, ec_params::P256_OID)],
            private,
        )
    };
    let (_, private) = gen(&[b(CKA_ALWAYS_AUTHENTICATE, true)]).unwrap();
    assert!(private.flag(CKA_ALWAYS_AUTHENTICATE) && private.is_private());
    // The spec: only a private object may ask for the PIN at each use.
    assert_eq!(
        rv(gen(&[
            b(CKA_ALWAYS_AUTHENTICATE, true),
            b(CKA_PRIVATE, false)
        ])),
        CKR_TEMPLATE_INCONSISTENT
    );
}
