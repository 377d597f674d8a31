//! AES: key generation, ECB/CBC/CBC-PAD/CTR/GCM single- and multi-part, CMAC.

use super::raw_attr;
use crate::deviation::DECRYPT_FAILURE_CODE;
use crate::env::Env;
use crate::kat::*;
use crate::raw::rv;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{attr_bool, attr_ulong, gen_aes, import_aes};

/// Splits `data` at the given offsets (clamped), giving uneven chunks.
pub(crate) fn chunks<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts {
        let c = c.min(data.len()).max(start);
        out.push(&data[start..c]);
        start = c;
    }
    out.push(&data[start..]);
    out
}

/// Multi-part encryption over `parts`.
pub(crate) fn encrypt_parts(
    s: &Session,
    m: &Mechanism,
    k: ObjectHandle,
    parts: &[&[u8]],
) -> Vec<u8> {
    s.encrypt_init(m, k).expect("C_EncryptInit");
    let mut out = Vec::new();
    for p in parts {
        out.extend(s.encrypt_update(p).expect("C_EncryptUpdate"));
    }
    out.extend(s.encrypt_final().expect("C_EncryptFinal"));
    out
}

/// Multi-part decryption over `parts`.
pub(crate) fn decrypt_parts(
    s: &Session,
    m: &Mechanism,
    k: ObjectHandle,
    parts: &[&[u8]],
) -> Vec<u8> {
    s.decrypt_init(m, k).expect("C_DecryptInit");
    let mut out = Vec::new();
    for p in parts {
        out.extend(s.decrypt_update(p).expect("C_DecryptUpdate"));
    }
    out.extend(s.decrypt_final().expect("C_DecryptFinal"));
    out
}

/// Single- and multi-part encryption of `pt` give `ct`, and decryption gives `pt` back.
pub(crate) fn kat(
    s: &Session,
    m: &Mechanism,
    k: ObjectHandle,
    pt: &[u8],
    ct: &[u8],
    cuts: &[usize],
) {
    let name = m.mechanism_type();
    let got = s.encrypt(m, k, pt).unwrap_or_else(|e| panic!("{name} C_Encrypt: {e}"));
    assert_eq!(hex::encode(&got), hex::encode(ct), "{name} single-part encrypt");
    let got = s.decrypt(m, k, ct).unwrap_or_else(|e| panic!("{name} C_Decrypt: {e}"));
    assert_eq!(hex::encode(&got), hex::encode(pt), "{name} single-part decrypt");
    let got = encrypt_parts(s, m, k, &chunks(pt, cuts));
    assert_eq!(hex::encode(&got), hex::encode(ct), "{name} multi-part encrypt");
    let got = decrypt_parts(s, m, k, &chunks(ct, cuts));
    assert_eq!(hex::encode(&got), hex::encode(pt), "{name} multi-part decrypt");
}

fn kat_key(t: &Env) -> (Session, ObjectHandle) {
    let s = t.user_session();
    let k = import_aes(&s, &h(AES128_KEY));
    (s, k)
}

/// C_GenerateKey(AES): attributes of a generated, sensitive, unextractable key; it works.
pub fn aes_generate_key(t: &Env) {
    let s = t.user_session();
    for len in [16u64, 32] {
        let k = s
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(false),
                    Attribute::ValueLen(len.into()),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                ],
            )
            .expect("C_GenerateKey");
        assert_eq!(attr_ulong(&s, k, AttributeType::ValueLen), len);
        assert!(attr_bool(&s, k, AttributeType::Local), "generated key not CKA_LOCAL");
        assert!(attr_bool(&s, k, AttributeType::AlwaysSensitive));
        assert!(attr_bool(&s, k, AttributeType::NeverExtractable));
        let (code, _, mech) = raw_attr(t, s.handle(), k.handle(), CKA_KEY_GEN_MECHANISM, Some(8));
        assert_eq!(code, rv(CKR_OK));
        assert_eq!(mech, CKM_AES_KEY_GEN.to_ne_bytes(), "CKA_KEY_GEN_MECHANISM");
        let (code, _, _) = raw_attr(t, s.handle(), k.handle(), CKA_VALUE, Some(64));
        assert_eq!(code, rv(CKR_ATTRIBUTE_SENSITIVE));
        let m = Mechanism::AesCbcPad([9; 16]);
        let ct = s.encrypt(&m, k, b"generated key roundtrip").unwrap();
        assert_eq!(s.decrypt(&m, k, &ct).unwrap(), b"generated key roundtrip");
    }
    let incomplete = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::Token(false)]);
    assert_eq!(err_of(incomplete), RvError::TemplateIncomplete, "AES keygen without CKA_VALUE_LEN");
}

/// AES-ECB against SP 800-38A F.1.1.
pub fn aes_ecb(t: &Env) {
    let (s, k) = kat_key(t);
    kat(&s, &Mechanism::AesEcb, k, &h(AES_PT), &h(AES_ECB_CT), &[16, 21, 40]);
}

/// AES-CBC against SP 800-38A F.2.1.
pub fn aes_cbc(t: &Env) {
    let (s, k) = kat_key(t);
    let iv: [u8; 16] = h(AES_CBC_IV).try_into().unwrap();
    kat(&s, &Mechanism::AesCbc(iv), k, &h(AES_PT), &h(AES_CBC_CT), &[7, 32, 33]);
}

/// AES-CBC-PAD (PKCS#7) against OpenSSL, with uneven parts on both sides.
pub fn aes_cbc_pad(t: &Env) {
    let (s, k) = kat_key(t);
    let iv: [u8; 16] = h(AES_CBC_IV).try_into().unwrap();
    let pt = &h(AES_PT)[..20];
    kat(&s, &Mechanism::AesCbcPad(iv), k, pt, &h(AES_CBC_PAD_20_CT), &[3, 18]);
    let full = h(AES_PT);
    let m = Mechanism::AesCbcPad(iv);
    let ct = s.encrypt(&m, k, &full).unwrap();
    assert_eq!(ct.len(), 80, "64 bytes pad to 80 (a whole padding block)");
    assert_eq!(hex::encode(&ct[..64]), hex::encode(h(AES_CBC_CT)));
    assert_eq!(decrypt_parts(&s, &m, k, &chunks(&ct, &[1, 17, 64])), full);
}

/// AES-CTR (128-bit counter) against SP 800-38A F.5.1.
pub fn aes_ctr(t: &Env) {
    let (s, k) = kat_key(t);
    let params = CK_AES_CTR_PARAMS { ulCounterBits: 128, cb: h(AES_CTR_IV).try_into().unwrap() };
    let m = Mechanism::VendorDefined(VendorDefinedMechanism::new(
        MechanismType::AES_CTR,
        Some(&params),
    ));
    kat(&s, &m, k, &h(AES_PT), &h(AES_CTR_CT), &[5, 27, 50]);
    let short = &h(AES_PT)[..23];
    let ct = s.encrypt(&m, k, short).unwrap();
    assert_eq!(hex::encode(ct), hex::encode(&h(AES_CTR_CT)[..23]), "CTR of a partial block");
}

/// AES-GCM single-part against test case 4; wrong tag fails; shorter tags.
pub fn aes_gcm(t: &Env) {
    let s = t.user_session();
    let k = import_aes(&s, &h(GCM_KEY));
    let (aad, pt, ct) = (h(GCM_AAD), h(GCM_PT), h(GCM_CT_TAG));
    let mut iv = h(GCM_IV);
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap());
    let got = s.encrypt(&m, k, &pt).expect("C_Encrypt (GCM)");
    assert_eq!(hex::encode(got), hex::encode(&ct), "GCM ciphertext || tag");
    assert_eq!(s.decrypt(&m, k, &ct).expect("C_Decrypt (GCM)"), pt);
    let mut bad = ct.clone();
    *bad.last_mut().unwrap() ^= 1;
    let refused = err_of(s.decrypt(&m, k, &bad));
    let dev = &DECRYPT_FAILURE_CODE;
    t.expect_spec(
        "GCM wrong tag",
        refused,
        RvError::EncryptedDataInvalid,
        dev,
        RvError::GeneralError,
    );
    let mut iv = h(GCM_IV);
    let m96 = Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 96.into()).unwrap());
    let got = s.encrypt(&m96, k, &pt).unwrap();
    assert_eq!(got.len(), pt.len() + 12, "96-bit tag length");
    assert_eq!(hex::encode(&got), hex::encode(&ct[..pt.len() + 12]), "truncated tag");
    let g = gen_aes(&s, 32);
    let mut iv = [3u8; 12];
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap());
    let sealed = s.encrypt(&m, g, b"gcm with a generated key").unwrap();
    assert_eq!(s.decrypt(&m, g, &sealed).unwrap(), b"gcm with a generated key");
}

/// AES-GCM multi-part against test case 4.
pub fn aes_gcm_multipart(t: &Env) {
    let s = t.user_session();
    let k = import_aes(&s, &h(GCM_KEY));
    let (aad, pt, ct) = (h(GCM_AAD), h(GCM_PT), h(GCM_CT_TAG));
    let mut iv = h(GCM_IV);
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap());
    let got = encrypt_parts(&s, &m, k, &chunks(&pt, &[13, 16, 40]));
    assert_eq!(hex::encode(got), hex::encode(&ct), "GCM multi-part ciphertext || tag");
    let got = decrypt_parts(&s, &m, k, &chunks(&ct, &[1, 30, 60]));
    assert_eq!(hex::encode(got), hex::encode(&pt), "GCM multi-part decrypt");
}

/// AES-CMAC against RFC 4493, single- and multi-part; a wrong MAC is CKR_SIGNATURE_INVALID.
pub fn aes_cmac(t: &Env) {
    let (s, k) = kat_key(t);
    let msg = h(AES_PT);
    for (len, mac) in AES_CMAC {
        let m = &msg[..len];
        let got = s.sign(&Mechanism::AesCMac, k, m).expect("C_Sign (CMAC)");
        assert_eq!(hex::encode(&got), mac, "CMAC of {len} bytes");
        s.verify(&Mechanism::AesCMac, k, m, &got).expect("C_Verify (CMAC)");
        s.sign_init(&Mechanism::AesCMac, k).unwrap();
        for part in chunks(m, &[3, 20]) {
            s.sign_update(part).expect("C_SignUpdate (CMAC)");
        }
        assert_eq!(hex::encode(s.sign_final().unwrap()), mac, "multi-part CMAC of {len}");
        s.verify_init(&Mechanism::AesCMac, k).unwrap();
        for part in chunks(m, &[9]) {
            s.verify_update(part).unwrap();
        }
        s.verify_final(&got).expect("C_VerifyFinal (CMAC)");
        let mut bad = got.clone();
        bad[0] ^= 0x80;
        let refused = s.verify(&Mechanism::AesCMac, k, m, &bad);
        assert_eq!(err_of(refused), RvError::SignatureInvalid, "wrong CMAC");
    }
}
