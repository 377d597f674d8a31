//! The bench's keys, as token objects, found by label or made on first use.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::op::{Op, Target};

/// Give a key a KMS record (its first state change makes one): from then on every use
/// passes the lifecycle check with a record to look up, the costlier path.
pub fn under_kms_lifecycle(s: &Session, key: ObjectHandle) -> Result<(), String> {
    const CKA_KMSBRIDGE_KEY_STATE: u64 = 0xCB42_0002;
    const KMSBRIDGE_STATE_ENABLED: u64 = 1;
    let ty = cryptoki::object::AttributeType::VendorDefined(CKA_KMSBRIDGE_KEY_STATE);
    let v = KMSBRIDGE_STATE_ENABLED.to_ne_bytes().to_vec();
    s.update_attributes(key, &[Attribute::VendorDefined((ty, v))])
        .map_err(|e| format!("C_SetAttributeValue(CKA_KMSBRIDGE_KEY_STATE): {e}"))
}

/// The bench's keys, as token objects, found by label or made on first use. Each
/// target makes its own (labels carry the target name), through its own module.
#[derive(Clone, Copy, Debug)]
pub struct Keys {
    /// key used to do the op (secret key or private key)
    pub key: ObjectHandle,
    /// key used for the one-time correctness check (same secret key or public key)
    pub check: ObjectHandle,
}

fn find_one(s: &Session, class: ObjectClass, label: &str) -> Result<Option<ObjectHandle>, String> {
    let found = s
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| format!("C_FindObjects({label}): {e}"))?;
    Ok(found.first().copied())
}

pub fn keys_for(s: &Session, target: Target, op: Op) -> Result<Option<Keys>, String> {
    let label = format!("bench-{}-{}", target.name(), op.name());
    let secret = |key_type: KeyType, mech: Mechanism, enc: bool| -> Result<Keys, String> {
        if let Some(k) = find_one(s, ObjectClass::SECRET_KEY, &label)? {
            return Ok(Keys { key: k, check: k });
        }
        let tmpl = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::ValueLen(32.into()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Encrypt(enc),
            Attribute::Decrypt(enc),
            Attribute::Sign(!enc),
            Attribute::Verify(!enc),
        ];
        let k = s
            .generate_key(&mech, &tmpl)
            .map_err(|e| format!("C_GenerateKey({label}): {e}"))?;
        Ok(Keys { key: k, check: k })
    };
    let pair = |mech: Mechanism, pub_extra: Vec<Attribute>| -> Result<Keys, String> {
        if let (Some(k), Some(p)) = (
            find_one(s, ObjectClass::PRIVATE_KEY, &label)?,
            find_one(s, ObjectClass::PUBLIC_KEY, &label)?,
        ) {
            return Ok(Keys { key: k, check: p });
        }
        let id = label.as_bytes().to_vec();
        let mut pub_t = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        pub_t.extend(pub_extra);
        let priv_t = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id),
        ];
        let (p, k) = s
            .generate_key_pair(&mech, &pub_t, &priv_t)
            .map_err(|e| format!("C_GenerateKeyPair({label}): {e}"))?;
        Ok(Keys { key: k, check: p })
    };
    Ok(match op {
        Op::AesGcm | Op::AesCbc => Some(secret(KeyType::AES, Mechanism::AesKeyGen, true)?),
        Op::Hmac => Some(secret(
            KeyType::GENERIC_SECRET,
            Mechanism::GenericSecretKeyGen,
            false,
        )?),
        Op::RsaSign => Some(pair(
            Mechanism::RsaPkcsKeyPairGen,
            vec![
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
        )?),
        Op::EcdsaSign => Some(pair(
            Mechanism::EccKeyPairGen,
            // DER OID 1.2.840.10045.3.1.7 (prime256v1)
            vec![Attribute::EcParams(vec![
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ])],
        )?),
        Op::Random | Op::Session => None,
    })
}
