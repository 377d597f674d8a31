//! Keys and objects the node-loss tests (`tests/tests/cluster_node_loss.rs`) make
//! through the module, the checks of a key made while a node was away, and a node
//! token's inventory read straight on it.

use crate::cluster::DOMAIN_KEY_ID;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kmsbridge_testkit::keys::P256;
use std::collections::BTreeMap;

/// The IV of every AES-CBC-PAD use in these tests.
pub const IV: [u8; 16] = [0x1f; 16];

/// A generated token AES-256 key, sensitive and not extractable.
pub fn gen_aes(s: &Session, id: &str) -> ObjectHandle {
    try_gen_aes(s, id).unwrap_or_else(|e| panic!("C_GenerateKey {id}: {e}"))
}

pub fn try_gen_aes(s: &Session, id: &str) -> cryptoki::error::Result<ObjectHandle> {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::ValueLen(32.into()),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Id(id.as_bytes().to_vec()),
            Attribute::Label(id.into()),
        ],
    )
}

/// A token AES-256 key made by value, sensitive and not extractable.
pub fn value_aes(s: &Session, id: &str, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Value(value.to_vec()),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(id.into()),
    ])
    .unwrap_or_else(|e| panic!("C_CreateObject {id}: {e}"))
}

/// A generated token RSA-2048 key pair (public, private); the private key sensitive
/// and not extractable.
pub fn gen_rsa(s: &Session, id: &str) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::Id(id.as_bytes().to_vec()),
            Attribute::Label(id.into()),
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Id(id.as_bytes().to_vec()),
            Attribute::Label(id.into()),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ],
    )
    .unwrap_or_else(|e| panic!("C_GenerateKeyPair RSA {id}: {e}"))
}

/// A generated token EC P-256 key pair (public, private).
pub fn gen_ec(s: &Session, id: &str) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::Id(id.as_bytes().to_vec()),
            Attribute::Label(id.into()),
            Attribute::EcParams(P256.params.to_vec()),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Id(id.as_bytes().to_vec()),
            Attribute::Label(id.into()),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ],
    )
    .unwrap_or_else(|e| panic!("C_GenerateKeyPair EC {id}: {e}"))
}

pub fn data_object(s: &Session, label: &str, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Application(b"node-loss-test".to_vec()),
        Attribute::Label(label.into()),
        Attribute::Value(value.to_vec()),
    ])
    .unwrap_or_else(|e| panic!("C_CreateObject data {label}: {e}"))
}

pub fn find_one(s: &Session, template: &[Attribute], what: &str) -> ObjectHandle {
    let found = s.find_objects(template).unwrap_or_else(|e| panic!("C_FindObjects {what}: {e}"));
    assert_eq!(found.len(), 1, "{what}: {} objects found", found.len());
    found[0]
}

/// A token object as the node-loss tests compare nodes by: (class, CKA_ID, CKA_LABEL).
pub type Held = (u64, Vec<u8>, String);

/// Every token object of a node with how many it holds alike, the domain key aside.
/// Counted, not a set: a node holding a second copy of an object differs from one
/// holding it once.
pub fn inventory(s: &Session) -> BTreeMap<Held, usize> {
    let mut out = BTreeMap::new();
    for h in s.find_objects(&[Attribute::Token(true)]).expect("C_FindObjects on a node") {
        let attrs = s
            .get_attributes(h, &[AttributeType::Class, AttributeType::Id, AttributeType::Label])
            .expect("C_GetAttributeValue on a node");
        let (mut class, mut id, mut label) = (0u64, Vec::new(), String::new());
        for a in attrs {
            match a {
                Attribute::Class(c) => class = u64::from(c),
                Attribute::Id(v) => id = v,
                Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
                _ => {}
            }
        }
        if id != DOMAIN_KEY_ID {
            *out.entry((class, id, label)).or_default() += 1;
        }
    }
    out
}

/// Where two inventories differ: (object, copies in `a`, copies in `b`).
pub fn differences(
    a: &BTreeMap<Held, usize>,
    b: &BTreeMap<Held, usize>,
) -> Vec<(Held, usize, usize)> {
    a.keys()
        .chain(b.keys())
        .filter_map(|k| {
            let (x, y) = (a.get(k).copied().unwrap_or(0), b.get(k).copied().unwrap_or(0));
            (x != y).then(|| (k.clone(), x, y))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A key a `FRESH` thread made while node 1 was down: CKA_ID, handle, its
/// AES-CBC-PAD encryption of `FRESH_DATA` then.
pub type Fresh = (String, ObjectHandle, Vec<u8>);
pub const FRESH_DATA: [u8; 32] = [0x6b; 32];

/// One use of a fresh key: the module finds it by CKA_ID as itself, and it
/// encrypts as when made and decrypts back.
pub fn use_fresh(s: &Session, (id, h, ct): &Fresh) -> Result<(), String> {
    let found = s
        .find_objects(&[Attribute::Id(id.as_bytes().to_vec())])
        .map_err(|e| format!("find {id}: {e}"))?;
    if found != [*h] {
        return Err(format!("find {id} answered {found:?}, not [{h}]"));
    }
    let again = s
        .encrypt(&Mechanism::AesCbcPad(IV), *h, &FRESH_DATA)
        .map_err(|e| format!("encrypt with {id}: {e}"))?;
    if again != *ct {
        return Err(format!("{id} encrypts otherwise than when made"));
    }
    let pt = s
        .decrypt(&Mechanism::AesCbcPad(IV), *h, ct)
        .map_err(|e| format!("decrypt with {id}: {e}"))?;
    if pt != FRESH_DATA {
        return Err(format!("{id} decrypts to other data"));
    }
    Ok(())
}
