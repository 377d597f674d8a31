use super::*;

const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const PT: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                  30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
const ECB: &str = "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf\
                   43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4";
const IV: &str = "000102030405060708090a0b0c0d0e0f";
const CBC: &str = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
                   73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7";
const CBC_PAD_20: &str = "7649abac8119b246cee98e9b12e9197d2e013f890472d82217b17f45f6e7f539";
const CTR_IV: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
const CTR: &str = "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff\
                   5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee";
const GCM_KEY: &str = "feffe9928665731c6d6a8f9467308308";
const GCM_IV: &str = "cafebabefacedbaddecaf888";
const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM_PT: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                      1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_TC4: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                       21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091\
                       5bc94fbc3221a5db94fae95ae7121a47";
/// Test case 5: the same with a 64-bit IV cafebabefacedbad.
const GCM_TC5: &str = "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423\
                       73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598\
                       3612d2e79e3b0785561be14aaca2fccb";

fn key() -> SoftObject {
    secret(CKK_AES, &h(KEY))
}

fn kat(m: &Mechanism, k: &SoftObject, pt: &[u8], ct: &[u8], cuts: &[usize]) {
    assert_eq!(
        hx(&run(OpKind::Encrypt, m, Some(k), pt)),
        hx(ct),
        "single encrypt"
    );
    assert_eq!(
        hx(&run(OpKind::Decrypt, m, Some(k), ct)),
        hx(pt),
        "single decrypt"
    );
    let e = crypt_parts(OpKind::Encrypt, m, k, &chunks(pt, cuts));
    assert_eq!(hx(&e), hx(ct), "multi-part encrypt");
    let d = crypt_parts(OpKind::Decrypt, m, k, &chunks(ct, cuts));
    assert_eq!(hx(&d), hx(pt), "multi-part decrypt");
}

fn gcm(iv: &[u8], aad: &[u8], tag_bits: CK_ULONG) -> Mechanism {
    Mechanism {
        ty: CKM_AES_GCM,
        param: MechParam::Gcm {
            iv: iv.to_vec(),
            iv_bits: (iv.len() * 8) as CK_ULONG,
            aad: aad.to_vec(),
            tag_bits,
        },
    }
}

fn ctr(bits: CK_ULONG, cb: &[u8]) -> Mechanism {
    let mut p = bits.to_ne_bytes().to_vec();
    p.extend_from_slice(cb);
    flat(CKM_AES_CTR, &p)
}

#[test]
fn ecb_cbc_ctr_known_answers() {
    let k = key();
    kat(&mech(CKM_AES_ECB), &k, &h(PT), &h(ECB), &[16, 21, 40]);
    kat(
        &flat(CKM_AES_CBC, &h(IV)),
        &k,
        &h(PT),
        &h(CBC),
        &[7, 32, 33],
    );
    kat(&ctr(128, &h(CTR_IV)), &k, &h(PT), &h(CTR), &[5, 27, 50]);
    let short = &h(PT)[..23];
    assert_eq!(
        hx(&run(
            OpKind::Encrypt,
            &ctr(128, &h(CTR_IV)),
            Some(&k),
            short
        )),
        hx(&h(CTR)[..23])
    );
}

#[test]
fn cbc_pad_known_answers_and_padding_errors() {
    let k = key();
    let m = flat(CKM_AES_CBC_PAD, &h(IV));
    kat(&m, &k, &h(PT)[..20], &h(CBC_PAD_20), &[3, 18]);
    let ct = run(OpKind::Encrypt, &m, Some(&k), &h(PT));
    assert_eq!(ct.len(), 80);
    assert_eq!(hx(&ct[..64]), CBC.replace(char::is_whitespace, ""));
    assert_eq!(
        crypt_parts(OpKind::Decrypt, &m, &k, &chunks(&ct, &[1, 17, 64])),
        h(PT)
    );
    assert_eq!(
        run(OpKind::Encrypt, &m, Some(&k), b"").len(),
        16,
        "empty input pads a block"
    );
    // A wrong last block: bad padding.
    let mut bad = ct.clone();
    bad[70] ^= 0x55;
    let mut o = dec(&m, &k);
    let mut out = vec![0u8; 80];
    assert_eq!(rv(o.run(&bad, Some(&mut out))), CKR_ENCRYPTED_DATA_INVALID);
    assert!(o.is_done());
    let mut o = dec(&m, &k);
    assert_eq!(
        rv(o.run(&ct[..79], Some(&mut out))),
        CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    // Exact-size buffer smaller than the bound still works (computed once, delivered).
    let mut o = dec(&m, &k);
    assert_eq!(o.run(&ct, None).unwrap(), 80, "bound");
    let mut small = vec![0u8; 10];
    assert_eq!(is_too_small(o.run(&ct, Some(&mut small))), 64);
    assert!(!o.is_done());
    let mut exact = vec![0u8; 64];
    assert_eq!(o.run(&ct, Some(&mut exact)).unwrap(), 64);
    assert_eq!(exact, h(PT));
    assert!(o.is_done());
}

#[test]
fn block_modes_refuse_partial_blocks() {
    let k = key();
    for m in [mech(CKM_AES_ECB), flat(CKM_AES_CBC, &h(IV))] {
        let mut o = enc(&m, &k);
        let mut out = [0u8; 32];
        assert_eq!(rv(o.run(&[0; 17], Some(&mut out))), CKR_DATA_LEN_RANGE);
        assert!(o.is_done());
        assert_eq!(
            rv(o.run(&[0; 16], Some(&mut out))),
            CKR_OPERATION_NOT_INITIALIZED
        );
        let mut o = dec(&m, &k);
        assert_eq!(
            rv(o.run(&[0; 17], Some(&mut out))),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
        let mut o = enc(&m, &k);
        assert_eq!(o.update(&[0; 20], Some(&mut out)).unwrap(), 16);
        assert_eq!(rv(o.finish(Some(&mut out))), CKR_DATA_LEN_RANGE);
    }
    let bad_iv = flat(CKM_AES_CBC, &[0; 8]);
    assert_eq!(
        rv(begin(OpKind::Encrypt, &bad_iv, Some(prep(&k)))),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        rv(begin(OpKind::Encrypt, &mech(CKM_AES_CBC), Some(prep(&k)))),
        CKR_MECHANISM_PARAM_INVALID
    );
}

#[test]
fn ctr_counter_bits() {
    let k = key();
    assert_eq!(
        rv(begin(OpKind::Encrypt, &ctr(0, &[0; 16]), Some(prep(&k)))),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        rv(begin(OpKind::Encrypt, &ctr(129, &[0; 16]), Some(prep(&k)))),
        CKR_MECHANISM_PARAM_INVALID
    );
    // 2 counter bits at value 2: two blocks left.
    let mut cb = [0u8; 16];
    cb[15] = 2;
    let m = ctr(2, &cb);
    assert_eq!(run(OpKind::Encrypt, &m, Some(&k), &[0; 32]).len(), 32);
    let mut o = enc(&m, &k);
    let mut out = [0u8; 33];
    assert_eq!(rv(o.run(&[0; 33], Some(&mut out))), CKR_DATA_LEN_RANGE);
}

#[test]
fn gcm_known_answers_single_and_multi_part() {
    let k = secret(CKK_AES, &h(GCM_KEY));
    let m = gcm(&h(GCM_IV), &h(GCM_AAD), 128);
    kat(&m, &k, &h(GCM_PT), &h(GCM_TC4), &[13, 16, 40]);
    let m5 = gcm(&h("cafebabefacedbad"), &h(GCM_AAD), 128);
    kat(&m5, &k, &h(GCM_PT), &h(GCM_TC5), &[1, 30]);
    let m96 = gcm(&h(GCM_IV), &h(GCM_AAD), 96);
    let ct = run(OpKind::Encrypt, &m96, Some(&k), &h(GCM_PT));
    assert_eq!(hx(&ct), hx(&h(GCM_TC4)[..60 + 12]), "truncated tag");
    assert_eq!(run(OpKind::Decrypt, &m96, Some(&k), &ct), h(GCM_PT));
}

#[test]
fn gcm_tag_failures_and_parameters() {
    let k = secret(CKK_AES, &h(GCM_KEY));
    let m = gcm(&h(GCM_IV), &h(GCM_AAD), 128);
    let mut bad = h(GCM_TC4);
    *bad.last_mut().unwrap() ^= 1;
    let mut o = dec(&m, &k);
    let mut out = vec![0u8; 100];
    assert_eq!(rv(o.run(&bad, Some(&mut out))), CKR_ENCRYPTED_DATA_INVALID);
    assert!(o.is_done());
    // Multi-part: nothing released before the final, which fails.
    let mut o = dec(&m, &k);
    assert_eq!(o.update(&bad[..50], Some(&mut out)).unwrap(), 0);
    assert_eq!(o.update(&bad[50..], Some(&mut out)).unwrap(), 0);
    assert_eq!(rv(o.finish(Some(&mut out))), CKR_ENCRYPTED_DATA_INVALID);
    let mut o = dec(&m, &k);
    assert_eq!(
        rv(o.run(&[0; 10], Some(&mut out))),
        CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    for tag in [0, 12, 136] {
        let r = begin(OpKind::Encrypt, &gcm(&[1; 12], b"", tag), Some(prep(&k)));
        assert_eq!(rv(r), CKR_MECHANISM_PARAM_INVALID, "tag bits {tag}");
    }
    assert_eq!(
        rv(begin(OpKind::Encrypt, &gcm(&[], b"", 128), Some(prep(&k)))),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        rv(begin(OpKind::Sign, &m, Some(prep(&k)))),
        CKR_MECHANISM_INVALID
    );
}

#[test]
fn cmac_known_answers() {
    let k = key();
    let msg = h(PT);
    for (len, mac) in [
        (0usize, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ] {
        let m = mech(CKM_AES_CMAC);
        let got = run(OpKind::Sign, &m, Some(&k), &msg[..len]);
        assert_eq!(hx(&got), mac, "CMAC of {len}");
        assert_eq!(hx(&sign_parts(&m, &k, &chunks(&msg[..len], &[3, 20]))), mac);
        verify(&m, &k, &msg[..len], &got).unwrap();
        let mut bad = got.clone();
        bad[0] ^= 0x80;
        assert_eq!(rv(verify(&m, &k, &msg[..len], &bad)), CKR_SIGNATURE_INVALID);
        assert_eq!(
            rv(verify(&m, &k, &msg[..len], &got[..15])),
            CKR_SIGNATURE_LEN_RANGE
        );
        let g = flat(CKM_AES_CMAC_GENERAL, &ulongs(&[8]));
        let short = run(OpKind::Sign, &g, Some(&k), &msg[..len]);
        assert_eq!(hx(&short), mac[..16]);
        verify(&g, &k, &msg[..len], &short).unwrap();
    }
    let g = flat(CKM_AES_CMAC_GENERAL, &ulongs(&[17]));
    assert_eq!(
        rv(begin(OpKind::Sign, &g, Some(prep(&k)))),
        CKR_MECHANISM_PARAM_INVALID
    );
}

#[test]
fn length_queries_and_short_buffers_keep_the_operation() {
    let k = key();
    let mut o = enc(&mech(CKM_AES_ECB), &k);
    assert_eq!(o.run(&h(PT), None).unwrap(), 64);
    assert_eq!(o.run(&h(PT), None).unwrap(), 64);
    let mut small = [0u8; 63];
    assert_eq!(is_too_small(o.run(&h(PT), Some(&mut small))), 64);
    assert!(!o.is_done());
    let mut out = [0u8; 64];
    assert_eq!(o.run(&h(PT), Some(&mut out)).unwrap(), 64);
    assert_eq!(hx(&out), hx(&h(ECB)));
    assert!(o.is_done());
    assert_eq!(
        rv(o.run(&h(PT), Some(&mut out))),
        CKR_OPERATION_NOT_INITIALIZED
    );
    let mut s = signer(&mech(CKM_AES_CMAC), &k);
    s.update(b"abc").unwrap();
    assert_eq!(s.finish(None).unwrap(), 16);
    let mut tiny = [0u8; 4];
    assert_eq!(is_too_small(s.finish(Some(&mut tiny))), 16);
    let mut mac = [0u8; 16];
    s.finish(Some(&mut mac)).unwrap();
    assert!(s.is_done());
}

#[test]
fn key_usage_type_and_allowed_mechanisms_are_enforced() {
    let no_encrypt = create(&[
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        v(CKA_VALUE, &[1; 16]),
        b(CKA_ENCRYPT, false),
    ])
    .unwrap();
    let r = begin(OpKind::Encrypt, &mech(CKM_AES_ECB), Some(prep(&no_encrypt)));
    assert_eq!(rv(r), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert!(begin(OpKind::Decrypt, &mech(CKM_AES_ECB), Some(prep(&no_encrypt))).is_ok());
    let k = key();
    let r = begin(OpKind::Sign, &mech(CKM_SHA256_HMAC), Some(prep(&k)));
    assert_eq!(rv(r), CKR_KEY_TYPE_INCONSISTENT);
    let r = begin(OpKind::Encrypt, &mech(CKM_SHA256), Some(prep(&k)));
    assert_eq!(rv(r), CKR_MECHANISM_INVALID);
    let only_cbc = create(&[
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        v(CKA_VALUE, &[1; 16]),
        v(CKA_ALLOWED_MECHANISMS, &ulongs(&[CKM_AES_CBC])),
    ])
    .unwrap();
    let r = begin(OpKind::Encrypt, &mech(CKM_AES_ECB), Some(prep(&only_cbc)));
    assert_eq!(rv(r), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert!(begin(
        OpKind::Encrypt,
        &flat(CKM_AES_CBC, &[0; 16]),
        Some(prep(&only_cbc))
    )
    .is_ok());
}
