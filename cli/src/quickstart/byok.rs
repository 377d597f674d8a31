//! quickstart's BYOK step: an EXTERNAL AES-256 key gets material made and wrapped in
//! this process (RSA-AES key wrap, SHA-256), imported through C_UnwrapKey, and then
//! decrypts what the clear key encrypted in-process.

use super::steps::{gcm_decrypt_check, show, step};
use crate::kms::byok_wrap::{public_key, rsa_aes_wrap_sha256};
use crate::kms::import::{read_parameters, request, unwrap, Material};
use crate::kms::record::Record;
use crate::kms::refusal::{explain, Op};
use crate::kms::time::iso;
use crate::kms::vendor::*;
use crate::module::Error;
use aes_gcm::aead::{AeadInOut, Key, KeyInit, Nonce};
use aes_gcm::Aes256Gcm;
use cryptoki::object::{Attribute, AttributeType, KeyType};
use cryptoki::session::Session;
use zeroize::Zeroizing;

const AAD: &[u8] = b"kmsbridge quickstart byok";

pub(super) fn run(s: &Session) -> Result<(), Error> {
    let alias = format!("quickstart-byok-{}", hex::encode(s.generate_random_vec(4)?));
    let record = step("BYOK: create an EXTERNAL AES-256 key record", || {
        let h = s
            .create_object(&[
                record_class(),
                ulong(CKA_KMSBRIDGE_ORIGIN, ORIGIN_EXTERNAL),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Label(alias.as_bytes().to_vec()),
            ])
            .map_err(|e| explain(e, Op::Create))?;
        let r = Record::read(s, h)?;
        println!("       key {} ({alias}) is {}", r.id_hex(), r.state_name());
        Ok(r)
    })?;
    let params = step("BYOK: import parameters (RSA-2048 + token)", || {
        let h = request(s, &alias, &record.id, None)?;
        let p = read_parameters(s, h)?;
        println!(
            "       import key RSA-{}, token of {} bytes valid until {}",
            p.modulus.len() * 8,
            p.token.len(),
            iso(p.expiry)
        );
        Ok(p)
    })?;
    // The material: made here, so the check below can encrypt with it in the clear.
    let mut material = Zeroizing::new([0u8; 32]);
    let blob = step("BYOK: wrap random AES-256 (RSA-AES, SHA-256)", || {
        getrandom::fill(&mut material[..]).map_err(|e| format!("no randomness: {e}"))?;
        let key = public_key(&params.modulus, &params.exponent)?;
        rsa_aes_wrap_sha256(&key, &material[..])
    })?;
    let imported = step("BYOK: import (C_UnwrapKey, RSA_AES_KEY_WRAP)", || {
        let m = Material {
            blob: &blob,
            token: &params.token,
            algorithm: "RSA_AES_KEY_WRAP_SHA_256",
            expiry: None,
        };
        unwrap(s, &alias, &record, &m)
    })?;
    show(s, "imported AES-256", imported)?;
    let vendor = s.get_attributes(
        imported,
        &[
            attr_type(CKA_KMSBRIDGE_ORIGIN),
            attr_type(CKA_KMSBRIDGE_KEY_STATE),
        ],
    )?;
    let mut words = Vec::new();
    for a in vendor {
        if let Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) = a {
            match (t, as_ulong(&v)) {
                (CKA_KMSBRIDGE_ORIGIN, Some(o)) => words.push(format!("origin={}", origin_name(o))),
                (CKA_KMSBRIDGE_KEY_STATE, Some(st)) => {
                    words.push(format!("state={}", state_name(st)))
                }
                _ => {}
            }
        }
    }
    println!("       imported AES-256: {}", words.join(" "));

    let message = b"kmsbridge quickstart: bring your own key";
    let mut iv = [0u8; 12];
    let ct = step("BYOK: AES-GCM encrypt in-process, clear key", || {
        getrandom::fill(&mut iv).map_err(|e| format!("no randomness: {e}"))?;
        let key: &Key<Aes256Gcm> = (&*material).into();
        let nonce: &Nonce<Aes256Gcm> = (&iv).into();
        let mut ct = message.to_vec();
        let tag = Aes256Gcm::new(key)
            .encrypt_inout_detached(nonce, AAD, ct.as_mut_slice().into())
            .map_err(|_| "in-process AES-GCM failed")?;
        // PKCS#11 AES-GCM takes the tag after the ciphertext.
        ct.extend_from_slice(&tag);
        Ok(ct)
    })?;
    step("BYOK: decrypt through the imported key", || {
        let mismatch = "the imported key decrypted to other text";
        gcm_decrypt_check(s, imported, iv, AAD, &ct, message, mismatch)
    })?;
    Ok(())
}
