//! Keys and operations through the `Backend` trait, as the provider would call it.

use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Attr, AttrReq, Backend, MechParam, Mechanism, ObjectId};

pub fn b(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Attr {
    Attr::bool(ty, v)
}
pub fn u(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::ulong(ty, v)
}
pub fn v(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr::new(ty, v.to_vec())
}

/// The code of a failed call.
pub fn rv<T>(r: kmsbridge_bridge::Result<T>) -> CK_RV {
    match r {
        Ok(_) => panic!("expected an error, got success"),
        Err(e) => e.ck_rv(),
    }
}

/// An attribute's value, `None` when the backend does not give it.
pub fn attr(be: &dyn Backend, obj: ObjectId, ty: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    let mut q = [AttrReq::new(ty, None)];
    if be.get_attributes(obj, &mut q).ok()? != CKR_OK {
        return None;
    }
    let mut q = [AttrReq::new(ty, Some(q[0].len as usize))];
    if be.get_attributes(obj, &mut q).ok()? != CKR_OK {
        return None;
    }
    q[0].value().map(|v| v.to_vec())
}

pub fn attr_bool(be: &dyn Backend, obj: ObjectId, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    attr(be, obj, ty).map(|v| v == [1])
}

/// An RSA-2048 import wrapping pair made in the backend: (public, private).
pub fn rsa_unwrapping_pair(be: &dyn Backend, unwrap: bool, decrypt: bool) -> (ObjectId, ObjectId) {
    let public = [
        b(CKA_TOKEN, false),
        u(CKA_MODULUS_BITS, 2048),
        v(CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
        b(CKA_ENCRYPT, true),
        b(CKA_WRAP, true),
    ];
    let private = [
        b(CKA_TOKEN, false),
        b(CKA_PRIVATE, true),
        b(CKA_SENSITIVE, true),
        b(CKA_EXTRACTABLE, false),
        b(CKA_UNWRAP, unwrap),
        b(CKA_DECRYPT, decrypt),
    ];
    be.generate_key_pair(
        &Mechanism::simple(CKM_RSA_PKCS_KEY_PAIR_GEN),
        &public,
        &private,
    )
    .expect("C_GenerateKeyPair RSA-2048")
}

/// The public key's DER SubjectPublicKeyInfo.
pub fn spki(be: &dyn Backend, public: ObjectId) -> Vec<u8> {
    let n = attr(be, public, CKA_MODULUS).expect("CKA_MODULUS");
    let e = attr(be, public, CKA_PUBLIC_EXPONENT).expect("CKA_PUBLIC_EXPONENT");
    kmsbridge_testkit::der::rsa_spki(&n, &e)
}

pub fn rsa_aes(
    aes_bits: CK_ULONG,
    hash: CK_MECHANISM_TYPE,
    mgf: CK_RSA_PKCS_MGF_TYPE,
) -> Mechanism {
    Mechanism {
        ty: CKM_RSA_AES_KEY_WRAP,
        param: MechParam::RsaAesKeyWrap {
            aes_bits,
            hash,
            mgf,
            source: CKZ_DATA_SPECIFIED,
            source_data: Vec::new(),
        },
    }
}

/// What an import asks for an AES key: a session key, sensitive, not extractable.
pub fn aes_template(extra: &[Attr]) -> Vec<Attr> {
    let mut t = vec![
        u(CKA_CLASS, CKO_SECRET_KEY),
        u(CKA_KEY_TYPE, CKK_AES),
        b(CKA_TOKEN, false),
        b(CKA_PRIVATE, true),
        b(CKA_SENSITIVE, true),
        b(CKA_EXTRACTABLE, false),
        b(CKA_ENCRYPT, true),
        b(CKA_DECRYPT, true),
    ];
    t.extend_from_slice(extra);
    t
}

/// A private key template for an import of type `kt`.
pub fn private_template(kt: CK_KEY_TYPE) -> Vec<Attr> {
    vec![
        u(CKA_CLASS, CKO_PRIVATE_KEY),
        u(CKA_KEY_TYPE, kt),
        b(CKA_TOKEN, false),
        b(CKA_PRIVATE, true),
        b(CKA_SENSITIVE, true),
        b(CKA_EXTRACTABLE, false),
        b(CKA_SIGN, true),
    ]
}

/// Single-part CKM_AES_CBC_PAD decryption.
pub fn cbc_pad_decrypt(be: &dyn Backend, key: ObjectId, iv: &[u8], ct: &[u8]) -> Vec<u8> {
    let m = Mechanism {
        ty: CKM_AES_CBC_PAD,
        param: MechParam::Flat(zeroize::Zeroizing::new(iv.to_vec())),
    };
    let mut op = be
        .begin_decrypt(&m, key)
        .expect("C_DecryptInit AES-CBC-PAD");
    let mut out = vec![0u8; ct.len()];
    let n = op.run(ct, Some(&mut out)).expect("C_Decrypt");
    out.truncate(n);
    out
}

/// Single-part signature.
pub fn sign(be: &dyn Backend, mech: CK_MECHANISM_TYPE, key: ObjectId, data: &[u8]) -> Vec<u8> {
    let mut op = be
        .begin_sign(&Mechanism::simple(mech), key)
        .expect("C_SignInit");
    let mut out = vec![0u8; 512];
    let n = op.run(data, Some(&mut out)).expect("C_Sign");
    out.truncate(n);
    out
}
