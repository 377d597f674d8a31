use super::*;

const ABC: [(CK_MECHANISM_TYPE, &str); 5] = [
    (CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
    (
        CKM_SHA224,
        "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
    ),
    (
        CKM_SHA256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ),
    (
        CKM_SHA384,
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
         8086072ba1e7cc2358baeca134c825a7",
    ),
    (
        CKM_SHA512,
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
];

#[test]
fn digests_of_abc() {
    for (m, want) in ABC {
        let want: String = want.split_whitespace().collect();
        assert_eq!(hx(&run(OpKind::Digest, &mech(m), None, b"abc")), want);
        let mut o = begin_digest(&mech(m)).unwrap();
        o.update(b"a").unwrap();
        o.update(b"bc").unwrap();
        let n = o.finish(None).unwrap();
        let mut out = vec![0u8; n];
        o.finish(Some(&mut out)).unwrap();
        assert_eq!(hx(&out), want);
    }
    assert_eq!(
        rv(begin(OpKind::Digest, &mech(CKM_AES_ECB), None)),
        CKR_MECHANISM_INVALID
    );
    let k = secret(CKK_GENERIC_SECRET, b"abc");
    assert_eq!(digest_key_value(&k).unwrap(), b"abc");
    let (public, _) = key_gen::ec_pair(ec_params::P256_OID);
    assert_eq!(rv(digest_key_value(&public)), CKR_KEY_INDIGESTIBLE);
}

/// RFC 4231 test case 6.
const TC6: [(CK_MECHANISM_TYPE, &str); 3] = [
    (
        CKM_SHA256_HMAC,
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        CKM_SHA384_HMAC,
        "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6\
         0c2ef6ab4030fe8296248df163f44952",
    ),
    (
        CKM_SHA512_HMAC,
        "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
         6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
    ),
];

#[test]
fn hmac_known_answers_and_checks() {
    let k = secret(CKK_GENERIC_SECRET, &[0xaa; 131]);
    let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
    for (m, want) in TC6 {
        let want: String = want.split_whitespace().collect();
        let mac = run(OpKind::Sign, &mech(m), Some(&k), data);
        assert_eq!(hx(&mac), want);
        assert_eq!(hx(&sign_parts(&mech(m), &k, &chunks(data, &[5, 30]))), want);
        verify(&mech(m), &k, data, &mac).unwrap();
        let mut bad = mac.clone();
        bad[3] ^= 1;
        assert_eq!(rv(verify(&mech(m), &k, data, &bad)), CKR_SIGNATURE_INVALID);
        assert_eq!(
            rv(verify(&mech(m), &k, data, &mac[1..])),
            CKR_SIGNATURE_LEN_RANGE
        );
    }
    let g = flat(CKM_SHA256_HMAC_GENERAL, &ulongs(&[12]));
    let short = run(OpKind::Sign, &g, Some(&k), data);
    assert_eq!(hx(&short), &TC6[0].1[..24]);
    verify(&g, &k, data, &short).unwrap();
    let g = flat(CKM_SHA256_HMAC_GENERAL, &ulongs(&[33]));
    assert_eq!(
        rv(begin(OpKind::Sign, &g, Some(prep(&k)))),
        CKR_MECHANISM_PARAM_INVALID
    );
    // An HMAC key type of another hash does not fit.
    let k384 = secret(CKK_SHA384_HMAC, &[1; 48]);
    assert_eq!(
        rv(begin(
            OpKind::Sign,
            &mech(CKM_SHA256_HMAC),
            Some(prep(&k384))
        )),
        CKR_KEY_TYPE_INCONSISTENT
    );
    assert!(begin(OpKind::Sign, &mech(CKM_SHA384_HMAC), Some(prep(&k384))).is_ok());
}
