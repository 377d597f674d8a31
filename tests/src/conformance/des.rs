//! DES and 3DES, the legacy mechanisms (docs/FUNCTIONS.md): 3DES known answers
//! (SP 800-67), key generation and creation by value, CBC-PAD, the key type against
//! the mechanism, and the instance setting `legacy_mechanisms = false` that hides
//! them. A hardware instance carries what its token lists; the software instance
//! offers 3DES ECB/CBC/CBC-PAD in-module and refuses single DES and CKM_DES3_CMAC
//! with CKR_MECHANISM_INVALID (checked in `des3_ecb_kat` on that target).

use super::crypto_aes::{chunks, decrypt_parts, kat};
use super::rawop::*;
use crate::ck;
use crate::deviation::{DECRYPT_FAILURE_CODE, KEY_VALUE_LEN};
use crate::env::{Env, Target};
use crate::kat::*;
use crate::raw::rv;
use cryptoki::context::{CInitializeArgs, CInitializeFlags};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::keys::{attr_bool, import_aes};
use kmsbridge_testkit::module::find_slot;

/// The 3DES mechanisms SoftHSM2 2.6 lists (built over OpenSSL 3, it lists no single
/// DES: a hardware instance carries single DES where its token lists it).
const TDES: [CK_MECHANISM_TYPE; 5] =
    [CKM_DES2_KEY_GEN, CKM_DES3_KEY_GEN, CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD];

/// Every DES and 3DES mechanism kmsbridge carries.
const LEGACY: [CK_MECHANISM_TYPE; 10] = [
    CKM_DES_KEY_GEN,
    CKM_DES2_KEY_GEN,
    CKM_DES3_KEY_GEN,
    CKM_DES_ECB,
    CKM_DES_CBC,
    CKM_DES_CBC_PAD,
    CKM_DES3_ECB,
    CKM_DES3_CBC,
    CKM_DES3_CBC_PAD,
    CKM_DES3_CMAC,
];

/// The software instance offers 3DES (two- and three-key ECB, CBC, CBC-PAD) but no
/// single DES (a broken cipher) and no CKM_DES3_CMAC: none of those is listed, and
/// each answers CKR_MECHANISM_INVALID to C_GenerateKey, C_EncryptInit and
/// C_SignInit before the key is looked at (here a 3DES key).
fn software_refuses_single_des(t: &Env) {
    let listed = mechanism_types(t);
    for m in [CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD, CKM_DES3_CMAC] {
        assert!(!listed.contains(&m), "software instance lists {m:#x}");
    }
    let s = t.user_session();
    let hs = s.handle();
    let des3 = import_des3(&s, &h(TDES_KEY)).handle();
    let invalid = rv(CKR_MECHANISM_INVALID);
    let mut out = 0;
    let mut m = mech(CKM_DES_KEY_GEN);
    let code = ck!(t, C_GenerateKey, hs, &mut m, std::ptr::null_mut(), 0, &mut out);
    assert_eq!(code, invalid, "software instance: C_GenerateKey(CKM_DES_KEY_GEN)");
    let mut m = mech(CKM_DES_ECB);
    let code = ck!(t, C_EncryptInit, hs, &mut m, des3);
    assert_eq!(code, invalid, "software instance: C_EncryptInit(CKM_DES_ECB)");
    let mut iv = [0u8; 8];
    let mut m = mech_with(CKM_DES_CBC_PAD, &mut iv);
    let code = ck!(t, C_DecryptInit, hs, &mut m, des3);
    assert_eq!(code, invalid, "software instance: C_DecryptInit(CKM_DES_CBC_PAD)");
    let mut m = mech(CKM_DES3_CMAC);
    let code = ck!(t, C_SignInit, hs, &mut m, des3);
    assert_eq!(code, invalid, "software instance: C_SignInit(CKM_DES3_CMAC)");
}

/// The slot's mechanism list by raw calls (`cryptoki` drops types it does not know,
/// CKM_DES2_KEY_GEN among them).
fn mechanism_types(t: &Env) -> Vec<CK_MECHANISM_TYPE> {
    let mut n: CK_ULONG = 0;
    let slot = t.slot.id();
    let code = ck!(t, C_GetMechanismList, slot, std::ptr::null_mut(), &mut n);
    assert_eq!(code, OK, "C_GetMechanismList (count)");
    let mut list = vec![0; n as usize];
    let code = ck!(t, C_GetMechanismList, slot, list.as_mut_ptr(), &mut n);
    assert_eq!(code, OK, "C_GetMechanismList");
    list.truncate(n as usize);
    list
}

/// A session 3DES key made from `value` (C_CreateObject with a 24-byte CKA_VALUE).
fn import_des3(s: &Session, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::DES3),
        Attribute::Token(false),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ])
    .expect("C_CreateObject (DES3 key by value)")
}

fn tdes_iv() -> [u8; 8] {
    h(TDES_CBC_IV).try_into().unwrap()
}

/// 3DES-ECB against the SP 800-67 Rev. 1 example, on a key created by value; the
/// mechanisms are listed with encrypt and decrypt.
pub fn des3_ecb_kat(t: &Env) {
    let listed = mechanism_types(t);
    for m in TDES {
        assert!(listed.contains(&m), "{} does not list 3DES mechanism {m:#x}", t.target.name());
    }
    if t.target == Target::Software {
        software_refuses_single_des(t);
    }
    let info = t.ctx.get_mechanism_info(t.slot, MechanismType::DES3_ECB).expect("info");
    assert!(info.encrypt() && info.decrypt(), "CKM_DES3_ECB flags: {info:?}");
    let s = t.user_session();
    let k = import_des3(&s, &h(TDES_KEY));
    kat(&s, &Mechanism::Des3Ecb, k, &h(TDES_PT), &h(TDES_ECB_CT), &[5, 8, 17]);
}

/// 3DES-CBC over the SP 800-67 key and plaintext (ciphertext: OpenSSL).
pub fn des3_cbc_kat(t: &Env) {
    let s = t.user_session();
    let k = import_des3(&s, &h(TDES_KEY));
    kat(&s, &Mechanism::Des3Cbc(tdes_iv()), k, &h(TDES_PT), &h(TDES_CBC_CT), &[3, 16]);
}

/// 3DES-CBC-PAD (PKCS#7) against OpenSSL, uneven parts, a whole padding block for
/// block-aligned input, and a corrupted last block refused as
/// CKR_ENCRYPTED_DATA_INVALID.
pub fn des3_cbc_pad_round_trip(t: &Env) {
    let s = t.user_session();
    let k = import_des3(&s, &h(TDES_KEY));
    let m = Mechanism::Des3CbcPad(tdes_iv());
    let pt = &h(TDES_PT)[..20];
    kat(&s, &m, k, pt, &h(TDES_CBC_PAD_20_CT), &[1, 9]);
    let full = h(TDES_PT);
    let ct = s.encrypt(&m, k, &full).unwrap();
    assert_eq!(ct.len(), 32, "24 bytes pad to 32 (a whole padding block)");
    assert_eq!(hex::encode(&ct[..24]), hex::encode(h(TDES_CBC_CT)));
    assert_eq!(decrypt_parts(&s, &m, k, &chunks(&ct, &[7, 8, 30])), full);
    // The padding block decrypts to garbage: not a valid PKCS#7 padding.
    let mut bad = h(TDES_CBC_PAD_20_CT);
    bad[15] ^= 0x01;
    s.decrypt_init(&m, k).expect("C_DecryptInit");
    let mut out = vec![0u8; 64];
    let mut len = out.len() as CK_ULONG;
    let (p, n) = (bad.as_mut_ptr(), bad.len() as CK_ULONG);
    let code = ck!(t, C_Decrypt, s.handle(), p, n, out.as_mut_ptr(), &mut len);
    let (spec, dev) = (rv(CKR_ENCRYPTED_DATA_INVALID), &DECRYPT_FAILURE_CODE);
    t.expect_spec("3DES-CBC-PAD, broken padding", code, spec, dev, rv(CKR_GENERAL_ERROR));
}

/// C_GenerateKey with CKM_DES3_KEY_GEN and CKM_DES2_KEY_GEN: a local key of the
/// right type that encrypts and decrypts; single DES likewise where listed.
pub fn des3_generate_key(t: &Env) {
    let s = t.user_session();
    let cases = [
        (Mechanism::Des3KeyGen, KeyType::DES3, CKM_DES3_KEY_GEN, Mechanism::Des3CbcPad([7; 8])),
        (Mechanism::Des2KeyGen, KeyType::DES2, CKM_DES2_KEY_GEN, Mechanism::Des3CbcPad([7; 8])),
        (Mechanism::DesKeyGen, KeyType::DES, CKM_DES_KEY_GEN, Mechanism::DesCbcPad([7; 8])),
    ];
    let listed = mechanism_types(t);
    for (gen, kt, gen_ty, use_m) in cases {
        if !listed.contains(&gen_ty) {
            assert_eq!(gen_ty, CKM_DES_KEY_GEN, "3DES key generation must be listed");
            continue;
        }
        let k = s
            .generate_key(
                &gen,
                &[
                    Attribute::Token(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Sensitive(true),
                ],
            )
            .unwrap_or_else(|e| panic!("C_GenerateKey({gen_ty:#x}): {e}"));
        let attrs = s.get_attributes(k, &[AttributeType::KeyType]).unwrap();
        assert!(
            matches!(attrs.first(), Some(Attribute::KeyType(got)) if *got == kt),
            "CKA_KEY_TYPE of a {gen_ty:#x} key: {attrs:?}"
        );
        assert!(attr_bool(&s, k, AttributeType::Local), "generated key not CKA_LOCAL");
        let (code, _, mech) =
            super::raw_attr(t, s.handle(), k.handle(), CKA_KEY_GEN_MECHANISM, Some(8));
        assert_eq!(code, rv(CKR_OK));
        assert_eq!(mech, gen_ty.to_ne_bytes(), "CKA_KEY_GEN_MECHANISM");
        let ct = s.encrypt(&use_m, k, b"legacy key roundtrip");
        // SoftHSM2 over OpenSSL 3 (no legacy provider) lists single DES but cannot run
        // it: the key is made, its use answers CKR_MECHANISM_INVALID, and the hardware
        // instance carries that answer as it is.
        let single_des_unrun = matches!(
            &ct,
            Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::MechanismInvalid, _))
        );
        if gen_ty == CKM_DES_KEY_GEN && single_des_unrun {
            continue;
        }
        let ct = ct.unwrap();
        assert_eq!(s.decrypt(&use_m, k, &ct).unwrap(), b"legacy key roundtrip");
    }
}

/// A key of the wrong type for the mechanism is CKR_KEY_TYPE_INCONSISTENT: an AES
/// key under CKM_DES3_ECB, a 3DES key under CKM_AES_ECB and CKM_DES_ECB (the software
/// instance offers no single DES: CKR_MECHANISM_INVALID there). A DES3 CKA_VALUE that
/// is not 24 bytes is CKR_ATTRIBUTE_VALUE_INVALID.
pub fn des3_key_type_inconsistent(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let aes = import_aes(&s, &h(AES128_KEY)).handle();
    let des3 = import_des3(&s, &h(TDES_KEY)).handle();
    let inconsistent = rv(CKR_KEY_TYPE_INCONSISTENT);
    let single_des = match t.target {
        Target::Software => rv(CKR_MECHANISM_INVALID),
        Target::SoftHsm | Target::Bridge => inconsistent,
    };
    for (m, key, want, what) in [
        (CKM_DES3_ECB, aes, inconsistent, "C_EncryptInit(CKM_DES3_ECB, AES key)"),
        (CKM_AES_ECB, des3, inconsistent, "C_EncryptInit(CKM_AES_ECB, DES3 key)"),
        (CKM_DES_ECB, des3, single_des, "C_EncryptInit(CKM_DES_ECB, DES3 key)"),
    ] {
        let mut m = mech(m);
        assert_eq!(ck!(t, C_EncryptInit, hs, &mut m, key), want, "{what}");
    }
    let mut m = mech(CKM_DES3_ECB);
    assert_eq!(ck!(t, C_EncryptInit, hs, &mut m, des3), OK, "the right key type");
    let short = s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::DES3),
        Attribute::Token(false),
        Attribute::Value(h(TDES_KEY)[..16].to_vec()),
    ]);
    let got = kmsbridge_testkit::codes::code_of(&short);
    let spec = Err(cryptoki::error::RvError::AttributeValueInvalid);
    t.expect_spec("16-byte CKK_DES3 CKA_VALUE", got, spec, &KEY_VALUE_LEN, Ok(()));
}

/// `legacy_mechanisms = false` in the instance's configuration: after C_Initialize
/// no DES or 3DES mechanism is listed, their info and C_GenerateKey answer
/// CKR_MECHANISM_INVALID, and AES still works. SoftHSM2 has no such setting: there
/// the case checks that it lists them.
pub fn legacy_mechanisms_hidden(t: &Env) {
    if t.target == Target::SoftHsm {
        let listed = mechanism_types(t);
        assert!(TDES.iter().all(|m| listed.contains(m)), "SoftHSM2 lists 3DES");
        return;
    }
    let conf = std::path::PathBuf::from(t.rig().var("KMSBRIDGE_CONF"));
    let text = std::fs::read_to_string(&conf).unwrap();
    let marked = text.replacen("[[instance]]\n", "[[instance]]\nlegacy_mechanisms = false\n", 1);
    assert_ne!(marked, text, "no [[instance]] table in {}", conf.display());
    std::fs::write(&conf, marked).unwrap();
    assert_eq!(ck!(t, C_Finalize, std::ptr::null_mut()), OK, "C_Finalize");
    t.ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let slot = find_slot(&t.ctx, &t.label).expect("token after C_Initialize");
    assert_eq!(slot, t.slot);
    let listed = mechanism_types(t);
    for m in LEGACY {
        assert!(!listed.contains(&m), "legacy mechanism {m:#x} listed with the setting off");
        let mut info = CK_MECHANISM_INFO::default();
        let code = ck!(t, C_GetMechanismInfo, t.slot.id(), m, &mut info);
        assert_eq!(code, rv(CKR_MECHANISM_INVALID), "C_GetMechanismInfo({m:#x})");
    }
    assert!(listed.contains(&CKM_AES_ECB), "AES is still listed");
    let s = t.user_session();
    let mut out = 0;
    let mut m = mech(CKM_DES3_KEY_GEN);
    let code = ck!(t, C_GenerateKey, s.handle(), &mut m, std::ptr::null_mut(), 0, &mut out);
    assert_eq!(code, rv(CKR_MECHANISM_INVALID), "C_GenerateKey(CKM_DES3_KEY_GEN) hidden");
    let aes = import_aes(&s, &h(AES128_KEY)).handle();
    let mut m = mech(CKM_DES3_ECB);
    let code = ck!(t, C_EncryptInit, s.handle(), &mut m, aes);
    assert_eq!(code, rv(CKR_MECHANISM_INVALID), "C_EncryptInit(CKM_DES3_ECB) hidden");
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(ck!(t, C_EncryptInit, s.handle(), &mut m, aes), OK, "AES still works");
}
