//! Interoperability of PKCS#8 with aws-lc-rs, and one prepared key shared by threads.

use super::*;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, UnparsedPublicKey};

const KWP_AIV: [u8; 4] = [0xa6, 0x59, 0x59, 0xa6];

#[test]
fn pkcs8_from_and_to_aws_lc_rs() {
    let kek = secret(CKK_AES, &[7; 32]);
    let k = prep(&kek);
    let m = mech(CKM_AES_KEY_WRAP_PAD);
    // aws-lc-rs makes a PKCS#8 P-256 key; the engine unwraps it and signs with it.
    let doc =
        EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let blob = wrap::kwp_wrap(k.aes().unwrap(), KWP_AIV, doc.as_ref()).unwrap();
    let key = unwrap(&m, &kek, &blob, &[u(CKA_CLASS, CKO_PRIVATE_KEY)]).unwrap();
    assert_eq!(attr_ulong(&key, CKA_KEY_TYPE), CKK_EC);
    assert_eq!(key.get(CKA_EC_PARAMS), Some(ec_params::P256_OID));
    let s = run(
        OpKind::Sign,
        &mech(CKM_ECDSA_SHA256),
        Some(&key),
        b"interop",
    );
    UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
        .verify(b"interop", &s)
        .expect("the unwrapped aws-lc-rs key signs for its public key");
    // aws-lc-rs makes an RSA key; the engine unwraps and signs.
    let rsa = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).unwrap();
    let blob = wrap::kwp_wrap(k.aes().unwrap(), KWP_AIV, der.as_ref()).unwrap();
    let key = unwrap(
        &m,
        &kek,
        &blob,
        &[u(CKA_CLASS, CKO_PRIVATE_KEY), u(CKA_KEY_TYPE, CKK_RSA)],
    )
    .unwrap();
    let s = run(
        OpKind::Sign,
        &mech(CKM_SHA256_RSA_PKCS),
        Some(&key),
        b"interop",
    );
    UnparsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, rsa.public_key().as_ref())
        .verify(b"interop", &s)
        .expect("the unwrapped aws-lc-rs RSA key signs");
    // The engine's PKCS#8 of a generated key parses in aws-lc-rs.
    let (_, ours) = key_gen::ec_pair(ec_params::P256_OID);
    let n = wrap(&m, &kek, &ours, None).unwrap();
    let mut blob = vec![0u8; n];
    wrap(&m, &kek, &ours, Some(&mut blob)).unwrap();
    let der = wrap::kwp_unwrap(k.aes().unwrap(), KWP_AIV, &blob).unwrap();
    EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .expect("aws-lc-rs reads it");
    // Trailing zero padding after the DER (what SoftHSM2's KWP leaves) is accepted.
    let mut padded = doc.as_ref().to_vec();
    padded.extend([0, 0, 0]);
    let blob = wrap::kwp_wrap(k.aes().unwrap(), KWP_AIV, &padded).unwrap();
    assert!(unwrap(&m, &kek, &blob, &[u(CKA_CLASS, CKO_PRIVATE_KEY)]).is_ok());
}

#[test]
fn one_prepared_key_serves_many_threads() {
    let (public, private) = key_gen::ec_pair(ec_params::P256_OID);
    let (rpub, rpriv) = key_gen::rsa_pair(2048);
    let aes_key = secret(CKK_AES, &[3; 32]);
    let (ep, rp, ap) = (prep(&private), prep(&rpriv), prep(&aes_key));
    let gcm = Mechanism {
        ty: CKM_AES_GCM,
        param: MechParam::Gcm {
            iv: vec![9; 12],
            iv_bits: 96,
            aad: vec![],
            tag_bits: 128,
        },
    };
    let expected = run(OpKind::Encrypt, &gcm, Some(&aes_key), &[1; 100]);
    let sigs: Vec<(Vec<u8>, Vec<u8>)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let (ep, rp, ap, gcm, expected) =
                    (ep.clone(), rp.clone(), ap.clone(), &gcm, &expected);
                s.spawn(move || {
                    let mut last = (Vec::new(), Vec::new());
                    for i in 0..50u8 {
                        let msg = [t as u8, i];
                        let mut o = begin_sign(&mech(CKM_ECDSA_SHA256), ep.clone()).unwrap();
                        let mut out = vec![0u8; 64];
                        o.run(&msg, Some(&mut out)).unwrap();
                        let mut g = begin_encrypt(gcm, ap.clone()).unwrap();
                        let mut ct = vec![0u8; 116];
                        g.run(&[1; 100], Some(&mut ct)).unwrap();
                        assert_eq!(&ct, expected);
                        if i % 10 == 0 {
                            let mut r = begin_sign(&mech(CKM_SHA256_RSA_PKCS), rp.clone()).unwrap();
                            let mut rs = vec![0u8; 256];
                            r.run(&msg, Some(&mut rs)).unwrap();
                            last = (out, rs);
                        }
                    }
                    last
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, (es, rs)) in sigs.iter().enumerate() {
        let msg = [t as u8, 40];
        verify(&mech(CKM_ECDSA_SHA256), &public, &msg, es).unwrap();
        verify(&mech(CKM_SHA256_RSA_PKCS), &rpub, &msg, rs).unwrap();
    }
}
