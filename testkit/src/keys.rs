//! Key-making, attribute and object helpers over `cryptoki`.

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use std::collections::BTreeMap;

/// DER OIDs (`CKA_EC_PARAMS`) and field sizes of the curves under test.
#[derive(Debug, Clone, Copy)]
pub struct Curve {
    /// Name for messages.
    pub name: &'static str,
    /// DER-encoded OBJECT IDENTIFIER.
    pub params: &'static [u8],
    /// Field size in bytes (an ECDSA signature is twice this).
    pub field_len: usize,
}

/// NIST P-256.
pub const P256: Curve = Curve {
    name: "P-256",
    params: &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    field_len: 32,
};
/// NIST P-384.
pub const P384: Curve =
    Curve { name: "P-384", params: &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], field_len: 48 };
/// NIST P-521.
pub const P521: Curve =
    Curve { name: "P-521", params: &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], field_len: 66 };
/// The NIST curves the suite covers.
pub const NIST_CURVES: [Curve; 3] = [P256, P384, P521];
/// Ed25519 (OID 1.3.101.112).
pub const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// A session AES key made from `value`, usable for everything and extractable.
pub fn import_aes(s: &Session, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ])
    .expect("C_CreateObject (AES key by value)")
}

/// A session generic secret made from `value` (HMAC keys, key material to wrap).
pub fn import_generic(s: &Session, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Value(value.to_vec()),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ])
    .expect("C_CreateObject (generic secret by value)")
}

/// A generated session AES key of `len` bytes.
pub fn gen_aes(s: &Session, len: u64) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(false),
            Attribute::ValueLen(len.into()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Sign(true),
            Attribute::Verify(true),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Extractable(true),
        ],
    )
    .expect("C_GenerateKey (AES)")
}

/// A generated RSA key pair (public, private) of `bits`, both carrying `id`.
pub fn gen_rsa(s: &Session, bits: u64, id: &[u8]) -> (ObjectHandle, ObjectHandle) {
    gen_rsa_with(s, bits, id, true)
}

/// [`gen_rsa`] with the private key's CKA_SENSITIVE given: a private key generated
/// non-sensitive was never only in the token (CKA_ALWAYS_SENSITIVE false), so
/// kmsbridge's key-usage policy lets it unwrap keys that are not sensitive.
pub fn gen_rsa_with(
    s: &Session,
    bits: u64,
    id: &[u8],
    sensitive: bool,
) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::Id(id.to_vec()),
            Attribute::ModulusBits(bits.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
            Attribute::Encrypt(true),
            Attribute::Wrap(true),
        ],
        &[
            Attribute::Token(false),
            Attribute::Id(id.to_vec()),
            Attribute::Private(true),
            Attribute::Sensitive(sensitive),
            Attribute::Sign(true),
            Attribute::Decrypt(true),
            Attribute::Unwrap(true),
            Attribute::Extractable(true),
        ],
    )
    .expect("C_GenerateKeyPair (RSA)")
}

/// A generated EC key pair (public, private) on `params`, both carrying `id`.
pub fn gen_ec_with(
    s: &Session,
    mech: &Mechanism,
    params: &[u8],
    id: &[u8],
) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        mech,
        &[
            Attribute::Token(false),
            Attribute::Id(id.to_vec()),
            Attribute::EcParams(params.to_vec()),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(false),
            Attribute::Id(id.to_vec()),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Derive(true),
        ],
    )
    .unwrap_or_else(|e| panic!("C_GenerateKeyPair ({:?}): {e}", mech.mechanism_type()))
}

/// A generated NIST-curve key pair.
pub fn gen_ec(s: &Session, curve: &Curve, id: &[u8]) -> (ObjectHandle, ObjectHandle) {
    gen_ec_with(s, &Mechanism::EccKeyPairGen, curve.params, id)
}

/// A generated Ed25519 key pair.
pub fn gen_ed25519(s: &Session, id: &[u8]) -> (ObjectHandle, ObjectHandle) {
    gen_ec_with(s, &Mechanism::EccEdwardsKeyPairGen, ED25519_PARAMS, id)
}

/// One attribute's bytes (`CKA_VALUE`, `CKA_ID`, ...). Panics when absent.
pub fn attr_bytes(s: &Session, obj: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    let attrs =
        s.get_attributes(obj, &[ty]).unwrap_or_else(|e| panic!("C_GetAttributeValue {ty:?}: {e}"));
    match attrs.into_iter().next() {
        Some(
            Attribute::Value(v)
            | Attribute::Id(v)
            | Attribute::Label(v)
            | Attribute::Application(v)
            | Attribute::Modulus(v)
            | Attribute::PublicExponent(v)
            | Attribute::EcParams(v)
            | Attribute::EcPoint(v),
        ) => v,
        Some(other) => panic!("{ty:?} is not a byte attribute: {other:?}"),
        None => panic!("{ty:?} is not available"),
    }
}

/// One boolean attribute. Panics when absent.
pub fn attr_bool(s: &Session, obj: ObjectHandle, ty: AttributeType) -> bool {
    let attrs =
        s.get_attributes(obj, &[ty]).unwrap_or_else(|e| panic!("C_GetAttributeValue {ty:?}: {e}"));
    let Some(attr) = attrs.into_iter().next() else { panic!("{ty:?} is not available") };
    match attr {
        Attribute::Token(b)
        | Attribute::Private(b)
        | Attribute::Sensitive(b)
        | Attribute::Extractable(b)
        | Attribute::Local(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::NeverExtractable(b)
        | Attribute::AlwaysAuthenticate(b)
        | Attribute::Modifiable(b)
        | Attribute::Sign(b)
        | Attribute::Verify(b)
        | Attribute::Encrypt(b)
        | Attribute::Decrypt(b)
        | Attribute::Wrap(b)
        | Attribute::Unwrap(b) => b,
        other => panic!("{ty:?} is not a handled boolean attribute: {other:?}"),
    }
}

/// One `CK_ULONG` attribute (`CKA_VALUE_LEN`, `CKA_MODULUS_BITS`). Panics when absent.
pub fn attr_ulong(s: &Session, obj: ObjectHandle, ty: AttributeType) -> u64 {
    let attrs =
        s.get_attributes(obj, &[ty]).unwrap_or_else(|e| panic!("C_GetAttributeValue {ty:?}: {e}"));
    match attrs.into_iter().next() {
        Some(Attribute::ValueLen(v) | Attribute::ModulusBits(v)) => v.into(),
        other => panic!("{ty:?}: unexpected {other:?}"),
    }
}

/// The digest of `data` computed by the token (its KATs are checked elsewhere).
pub fn digest(s: &Session, mech: MechanismType, data: &[u8]) -> Vec<u8> {
    let m = match mech {
        MechanismType::SHA1 => Mechanism::Sha1,
        MechanismType::SHA224 => Mechanism::Sha224,
        MechanismType::SHA256 => Mechanism::Sha256,
        MechanismType::SHA384 => Mechanism::Sha384,
        MechanismType::SHA512 => Mechanism::Sha512,
        other => panic!("not a digest: {other}"),
    };
    s.digest(&m, data).expect("C_Digest")
}

/// The uncompressed point inside a DER OCTET STRING `CKA_EC_POINT`.
pub fn ec_point_raw(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x04, "CKA_EC_POINT is not a DER OCTET STRING: {der:02x?}");
    let (len, skip) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (der[2] as usize, 3),
        0x82 => (((der[2] as usize) << 8) | der[3] as usize, 4),
        n => panic!("unexpected DER length byte {n:#x}"),
    };
    assert_eq!(der.len(), skip + len, "CKA_EC_POINT DER length mismatch");
    der[skip..].to_vec()
}

/// Finds objects matching `template`.
pub fn find(s: &Session, template: &[Attribute]) -> Vec<ObjectHandle> {
    s.find_objects(template).expect("C_FindObjects*")
}

/// Random bytes from the OS (key material, IVs, salts).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("random bytes");
    buf
}

/// An EC P-256 token key pair labelled `name`; returns the private key.
pub fn token_ec_key(s: &Session, name: &str) -> ObjectHandle {
    let (_, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(P256.params.to_vec()),
                Attribute::Verify(true),
                Attribute::Label(name.into()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sign(true),
                Attribute::Label(name.into()),
            ],
        )
        .expect("C_GenerateKeyPair");
    private
}

/// The private keys labelled `name`.
pub fn find_private(s: &Session, name: &str) -> Vec<ObjectHandle> {
    find(s, &[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(name.into())])
}

/// Raw ECDSA of a fixed 32-byte digest: no mechanism parameter, so it crosses
/// p11-kit's RPC (0.24 refuses parameters it cannot carry, e.g. AES-CBC's IV), and
/// cryptoki makes it three crypto calls (C_SignInit, C_Sign for the length, C_Sign).
pub fn ecdsa_sign(s: &Session, key: ObjectHandle) -> cryptoki::error::Result<Vec<u8>> {
    s.sign(&Mechanism::Ecdsa, key, &[9u8; 32])
}

/// The block every test key encrypts (AES-ECB) as its fingerprint: two processes that
/// get the same ciphertext from a key hold the same key value.
pub const PROBE: [u8; 16] = *b"kmsbridge-probe!";

/// Generates an AES-256 token key labelled `label` with CKA_ID `id`: private,
/// sensitive, not extractable, for encryption.
/// The SO's trusted AES key of `value`, a token key that wraps (and unwraps when
/// asked): under the key-usage policy (docs/KEYS.md) a sensitive, extractable key
/// leaves only under such a key. Made in `so`, an SO session.
pub fn trusted_aes(so: &Session, label: &str, value: &[u8], unwrap: bool) -> ObjectHandle {
    so.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(value.to_vec()),
        Attribute::Wrap(true),
        Attribute::Unwrap(unwrap),
        Attribute::Trusted(true),
    ])
    .expect("the SO makes a trusted key")
}

pub fn gen_token_aes(s: &Session, label: &str, id: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ],
    )
}

/// The key's fingerprint: AES-ECB of [`PROBE`], hex.
pub fn fingerprint(s: &Session, key: ObjectHandle) -> String {
    let ct = s.encrypt(&Mechanism::AesEcb, key, &PROBE).expect("C_Encrypt (AES-ECB)");
    assert_eq!(ct.len(), 16, "AES-ECB of one block");
    assert_ne!(&ct[..], &PROBE[..], "AES-ECB returned the plaintext");
    hex::encode(ct)
}

/// An AES-GCM encrypt/decrypt round trip under `key` (fails the test on any error).
pub fn round_trip(s: &Session, key: ObjectHandle, what: &str) {
    let msg = format!("round trip under {what}");
    let mut iv = [7u8; 12];
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, what.as_bytes(), 128.into()).unwrap());
    let ct = s.encrypt(&m, key, msg.as_bytes()).unwrap_or_else(|e| panic!("{what}: GCM: {e}"));
    assert_eq!(ct.len(), msg.len() + 16, "{what}: GCM output length");
    let pt = s.decrypt(&m, key, &ct).unwrap_or_else(|e| panic!("{what}: GCM open: {e}"));
    assert_eq!(pt, msg.as_bytes(), "{what}: GCM round trip");
}

/// Every AES secret key the user sees, by label: (handle, CKA_ID).
pub fn keys_by_label(s: &Session) -> BTreeMap<String, (ObjectHandle, Vec<u8>)> {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
        ])
        .expect("C_FindObjects");
    let mut by_label = BTreeMap::new();
    for h in found {
        let attrs = s
            .get_attributes(h, &[AttributeType::Label, AttributeType::Id])
            .expect("C_GetAttributeValue (label, id)");
        let (mut label, mut id) = (None, None);
        for a in attrs {
            match a {
                Attribute::Label(l) => label = Some(String::from_utf8(l).expect("utf-8 label")),
                Attribute::Id(i) => id = Some(i),
                _ => {}
            }
        }
        let label = label.expect("every test key has a label");
        let prev = by_label.insert(label.clone(), (h, id.expect("every test key has an id")));
        assert!(prev.is_none(), "two keys labelled {label:?}");
    }
    by_label
}
