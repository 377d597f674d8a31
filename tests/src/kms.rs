//! The KMS key model (docs/KEYS.md) as the tests reach it: the vendor constants of
//! `include/kmsbridge.h` (a unit test below checks them against the header), attribute
//! builders for `cryptoki`, and the calls `cryptoki` cannot express (a record's vendor
//! class, `CKM_RSA_AES_KEY_WRAP`), made on the raw function list.

use crate::env::Env;
use cryptoki::error::{Error, Rv, RvError};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::keys::find;
use std::fmt::Debug;
use std::ptr::null_mut;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a process re-reads the instance's hidden records (KMS key records,
/// access points, secrets) while it uses them: `REFRESH_MS` of
/// provider/src/refresh.rs. The documented "within 1 s" rests on it.
pub const REFRESH_MS: u64 = 500;

/// The bound the tests put on a change reaching another process: 10 re-read
/// intervals (5 s). On an idle machine it arrives within one or two; the rest is
/// margin for a loaded 2-core machine running tests in parallel. A process that
/// never re-reads fails it for certain.
pub const PROPAGATION_BOUND: Duration = Duration::from_millis(10 * REFRESH_MS);

/// Declares the header's numeric constants and a list of them for the header check.
macro_rules! constants {
    ($($name:ident = $value:expr;)*) => {
        $(
            #[allow(missing_docs)]
            pub const $name: CK_ULONG = $value;
        )*
        /// Every numeric constant above by its name in `kmsbridge.h`.
        pub const NUMERIC: &[(&str, CK_ULONG)] = &[$((stringify!($name), $name)),*];
    };
}

constants! {
    CKA_KMSBRIDGE_BASE = 0xCB42_0000;
    CKM_KMSBRIDGE_BASE = 0xCB42_0000;
    CKR_KMSBRIDGE_BASE = 0xCB42_0000;
    CKO_KMSBRIDGE_KEY = 0xCB42_0001;
    CKA_KMSBRIDGE_ORIGIN = 0xCB42_0001;
    CKA_KMSBRIDGE_KEY_STATE = 0xCB42_0002;
    CKA_KMSBRIDGE_DELETION_DATE = 0xCB42_0003;
    CKA_KMSBRIDGE_PENDING_WINDOW_DAYS = 0xCB42_0004;
    CKA_KMSBRIDGE_MATERIAL_EXPIRY = 0xCB42_0005;
    CKA_KMSBRIDGE_KEY_VERSION = 0xCB42_0006;
    CKA_KMSBRIDGE_PRIMARY_VERSION = 0xCB42_0007;
    CKA_KMSBRIDGE_IMPORT_TOKEN = 0xCB42_0008;
    CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY = 0xCB42_0009;
    CKA_KMSBRIDGE_SERVICE = 0xCB42_000A;
    CKA_KMSBRIDGE_DEFAULT_KEY = 0xCB42_000B;
    CKA_KMSBRIDGE_CREATED = 0xCB42_000C;
    KMSBRIDGE_ORIGIN_KMS = 1;
    KMSBRIDGE_ORIGIN_EXTERNAL = 2;
    KMSBRIDGE_STATE_ENABLED = 1;
    KMSBRIDGE_STATE_DISABLED = 2;
    KMSBRIDGE_STATE_PENDING_DELETION = 3;
    KMSBRIDGE_STATE_PENDING_IMPORT = 4;
    CKM_KMSBRIDGE_IMPORT_PARAMETERS = 0xCB42_0001;
    CKM_KMSBRIDGE_KEY_ROTATE = 0xCB42_0002;
    CKM_KMSBRIDGE_CLUSTER_INIT = 0xCB42_0003;
    CKO_KMSBRIDGE_NODE = 0xCB42_0002;
    CKA_KMSBRIDGE_NODE_INDEX = 0xCB42_000D;
    CKA_KMSBRIDGE_NODE_STATE = 0xCB42_000E;
    CKA_KMSBRIDGE_NODE_LOAD = 0xCB42_000F;
    CKA_KMSBRIDGE_NODE_SERVED = 0xCB42_0010;
    CKA_KMSBRIDGE_NODE_LAG = 0xCB42_0011;
    CKA_KMSBRIDGE_NODE_LAST_ERROR = 0xCB42_0012;
    KMSBRIDGE_NODE_UP = 1;
    KMSBRIDGE_NODE_DOWN = 2;
    KMSBRIDGE_NODE_RESYNCING = 3;
    CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID = 0xCB42_0001;
    CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED = 0xCB42_0002;
    CKR_KMSBRIDGE_IMPORT_TOKEN_USED = 0xCB42_0003;
    CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID = 0xCB42_0004;
    CKR_KMSBRIDGE_MATERIAL_MISMATCH = 0xCB42_0005;
    CKO_KMSBRIDGE_AUDIT = 0xCB42_0004;
    CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY = 0xCB42_0020;
    CKA_KMSBRIDGE_AUDIT_HEAD = 0xCB42_0021;
    CKA_KMSBRIDGE_AUDIT_DIR = 0xCB42_0022;
    CKA_KMSBRIDGE_AUDIT_INSTANCE = 0xCB42_0023;
    KMSBRIDGE_DEVICE_ERROR_QUOTA = 0xCB42_0006;
    CKO_KMSBRIDGE_ACCESS_POINT = 0xCB42_0003;
    CKA_KMSBRIDGE_DESCRIPTION = 0xCB42_0013;
    CKA_KMSBRIDGE_CREDENTIALS = 0xCB42_0014;
    CKA_KMSBRIDGE_CREDENTIAL_ADD = 0xCB42_0015;
    CKA_KMSBRIDGE_NOT_BEFORE = 0xCB42_0016;
    CKA_KMSBRIDGE_NOT_AFTER = 0xCB42_0017;
    CKA_KMSBRIDGE_CREDENTIAL_REVOKE = 0xCB42_0018;
    CKA_KMSBRIDGE_CREDENTIAL_UNLOCK = 0xCB42_0019;
    CKA_KMSBRIDGE_CONFIGURED = 0xCB42_001A;
    CKA_KMSBRIDGE_SECRET_VERSION_ID = 0xCB42_0030;
    CKA_KMSBRIDGE_SECRET_STAGES = 0xCB42_0031;
    CKA_KMSBRIDGE_SECRET_STAGE = 0xCB42_0032;
    CKA_KMSBRIDGE_SECRET_MOVE_TO = 0xCB42_0033;
    CKA_KMSBRIDGE_SECRET_REMOVE_FROM = 0xCB42_0034;
    CKA_KMSBRIDGE_SECRET_TYPE = 0xCB42_0035;
    CKA_KMSBRIDGE_SECRET_INFO = 0xCB42_0036;
    CKA_KMSBRIDGE_SECRET_KMS_KEY = 0xCB42_0037;
    CKA_KMSBRIDGE_SECRET_GENERATION = 0xCB42_0038;
    CKA_KMSBRIDGE_SECRET_ROTATION_DAYS = 0xCB42_0039;
    CKA_KMSBRIDGE_SECRET_ROTATION = 0xCB42_003A;
    CKA_KMSBRIDGE_SECRET_RESTORE = 0xCB42_003B;
    CKA_KMSBRIDGE_SECRET_NEW = 0xCB42_003C;
}

/// String constants of `kmsbridge.h`.
pub const STRINGS: &[(&str, &str)] = &[
    ("KMSBRIDGE_META_APPLICATION", "kmsbridge.meta"),
    ("KMSBRIDGE_KEY_APPLICATION", "kmsbridge.key"),
    ("KMSBRIDGE_IMPORT_APPLICATION", "kmsbridge.import"),
    ("KMSBRIDGE_ACCESS_APPLICATION", "kmsbridge.aap"),
    ("KMSBRIDGE_LOCKOUT_APPLICATION", "kmsbridge.lockout"),
    ("KMSBRIDGE_SECRET_APPLICATION", "kmsbridge.secret"),
    ("KMSBRIDGE_SECRET_RECORD_APPLICATION", "kmsbridge.secretrec"),
    ("KMSBRIDGE_SERVICE_ID_PREFIX", SERVICE_ID_PREFIX),
    ("KMSBRIDGE_VERSION_SEPARATOR", VERSION_SEPARATOR),
    ("KMSBRIDGE_DOMAIN_KEY_ID", DOMAIN_KEY_ID),
];
/// `KMSBRIDGE_DOMAIN_KEY_ID`: CKA_ID of the cluster domain key on every node.
pub const DOMAIN_KEY_ID: &str = "kmsbridge.svc.cluster.domain";
/// `KMSBRIDGE_SERVICE_ID_PREFIX`.
pub const SERVICE_ID_PREFIX: &str = "kmsbridge.svc.";
/// `KMSBRIDGE_VERSION_SEPARATOR`: older version N is `id#vN` / `alias#vN`.
pub const VERSION_SEPARATOR: &str = "#v";

/// A vendor return code as `cryptoki` reports it.
pub fn vendor(code: CK_ULONG) -> RvError {
    RvError::VendorDefined(code)
}

/// Name of a vendor attribute, for messages.
pub fn attr_name(ty: CK_ULONG) -> &'static str {
    NUMERIC
        .iter()
        .find(|(n, v)| *v == ty && n.starts_with("CKA_") && !n.ends_with("_BASE"))
        .map_or("CKA_KMSBRIDGE_?", |(n, _)| n)
}

/// A `CK_ULONG` vendor attribute for a template.
pub fn ulong(ty: CK_ULONG, value: CK_ULONG) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value.to_ne_bytes().to_vec()))
}

/// A `CK_BBOOL` vendor attribute for a template.
pub fn flag(ty: CK_ULONG, value: bool) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), vec![value as u8]))
}

/// A byte-array vendor attribute for a template.
pub fn bytes(ty: CK_ULONG, value: &[u8]) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value.to_vec()))
}

/// `CKA_CLASS = CKO_KMSBRIDGE_KEY`. `cryptoki`'s `ObjectClass` has no vendor classes,
/// so the attribute is built from its type and raw value (what the module receives).
pub fn record_class() -> Attribute {
    Attribute::VendorDefined((AttributeType::Class, CKO_KMSBRIDGE_KEY.to_ne_bytes().to_vec()))
}

/// `CKA_CLASS = CKO_KMSBRIDGE_NODE`, built the same way.
pub fn node_class() -> Attribute {
    Attribute::VendorDefined((AttributeType::Class, CKO_KMSBRIDGE_NODE.to_ne_bytes().to_vec()))
}

/// A vendor attribute's raw value, or `None` when the object does not have it.
pub fn get_raw(s: &Session, obj: ObjectHandle, ty: CK_ULONG) -> Option<Vec<u8>> {
    let attrs = s
        .get_attributes(obj, &[AttributeType::VendorDefined(ty)])
        .unwrap_or_else(|e| panic!("C_GetAttributeValue {}: {e}", attr_name(ty)));
    match attrs.into_iter().next() {
        Some(Attribute::VendorDefined((_, v))) => Some(v),
        Some(other) => panic!("{}: unexpected {other:?}", attr_name(ty)),
        None => None,
    }
}

/// A `CK_ULONG` vendor attribute. Panics when absent.
#[track_caller]
pub fn get_ulong(s: &Session, obj: ObjectHandle, ty: CK_ULONG) -> CK_ULONG {
    let v = get_raw(s, obj, ty).unwrap_or_else(|| panic!("object has no {}", attr_name(ty)));
    let arr: [u8; 8] = v
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("{} is {} bytes, not a CK_ULONG", attr_name(ty), v.len()));
    CK_ULONG::from_ne_bytes(arr)
}

/// A `CK_BBOOL` vendor attribute. Panics when absent.
#[track_caller]
pub fn get_flag(s: &Session, obj: ObjectHandle, ty: CK_ULONG) -> bool {
    let v = get_raw(s, obj, ty).unwrap_or_else(|| panic!("object has no {}", attr_name(ty)));
    assert_eq!(v.len(), 1, "{} is {} bytes, not a CK_BBOOL", attr_name(ty), v.len());
    v[0] != 0
}

/// `CKA_KMSBRIDGE_KEY_STATE` of a key or record.
#[track_caller]
pub fn state(s: &Session, obj: ObjectHandle) -> CK_ULONG {
    get_ulong(s, obj, CKA_KMSBRIDGE_KEY_STATE)
}

/// Sets `CKA_KMSBRIDGE_KEY_STATE` (and any extra attributes, e.g. the window).
pub fn set_state(
    s: &Session,
    obj: ObjectHandle,
    to: CK_ULONG,
    extra: &[Attribute],
) -> cryptoki::error::Result<()> {
    let mut template = vec![ulong(CKA_KMSBRIDGE_KEY_STATE, to)];
    template.extend_from_slice(extra);
    s.update_attributes(obj, &template)
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// `n` random bytes from the OS (ids, key material).
pub fn random(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .expect("read /dev/urandom");
    buf
}

/// Key type and size of a record.
#[derive(Debug, Clone, Copy)]
pub enum Spec {
    /// AES, `CKA_VALUE_LEN` bytes.
    Aes(u64),
    /// RSA, `CKA_MODULUS_BITS`.
    Rsa(u64),
    /// EC, `CKA_EC_PARAMS` (DER OID).
    Ec(&'static [u8]),
}

impl Spec {
    fn attributes(self) -> Vec<Attribute> {
        match self {
            Spec::Aes(len) => {
                vec![Attribute::KeyType(KeyType::AES), Attribute::ValueLen(len.into())]
            }
            Spec::Rsa(bits) => {
                vec![Attribute::KeyType(KeyType::RSA), Attribute::ModulusBits(bits.into())]
            }
            Spec::Ec(params) => {
                vec![Attribute::KeyType(KeyType::EC), Attribute::EcParams(params.to_vec())]
            }
        }
    }

    /// The class of the object that does the key's private work (returned by import).
    pub fn class(self) -> ObjectClass {
        match self {
            Spec::Aes(_) => ObjectClass::SECRET_KEY,
            Spec::Rsa(_) | Spec::Ec(_) => ObjectClass::PRIVATE_KEY,
        }
    }
}

/// `C_CreateObject` of a key record of `origin`.
pub fn create_record(
    s: &Session,
    origin: CK_ULONG,
    spec: Spec,
    id: &[u8],
    label: &str,
) -> cryptoki::error::Result<ObjectHandle> {
    let mut template = vec![record_class(), ulong(CKA_KMSBRIDGE_ORIGIN, origin)];
    template.extend(spec.attributes());
    template.push(Attribute::Id(id.to_vec()));
    template.push(Attribute::Label(label.as_bytes().to_vec()));
    s.create_object(&template)
}

/// Exactly one object matching `template`.
#[track_caller]
pub fn find_one(s: &Session, template: &[Attribute], what: &str) -> ObjectHandle {
    let found = find(s, template);
    assert_eq!(found.len(), 1, "{what}: expected one object, found {}", found.len());
    found[0]
}

/// The record of key `id`.
#[track_caller]
pub fn record_of(s: &Session, id: &[u8]) -> ObjectHandle {
    find_one(s, &[record_class(), Attribute::Id(id.to_vec())], "the key record")
}

/// The key objects of `class` with `CKA_ID = id`.
pub fn keys_with_id(s: &Session, class: ObjectClass, id: &[u8]) -> Vec<ObjectHandle> {
    find(s, &[Attribute::Class(class), Attribute::Id(id.to_vec())])
}

/// A KMS key of origin KMS made through a record; returns the object of `spec.class()`.
#[track_caller]
pub fn kms_key(s: &Session, spec: Spec, id: &[u8], label: &str) -> ObjectHandle {
    create_record(s, KMSBRIDGE_ORIGIN_KMS, spec, id, label)
        .unwrap_or_else(|e| panic!("C_CreateObject (record of origin KMS, {spec:?}): {e}"));
    find_one(s, &[Attribute::Class(spec.class()), Attribute::Id(id.to_vec())], "the new KMS key")
}

/// One of the module's two `C_GenerateKey` mechanisms.
pub fn vendor_mechanism(ckm: CK_ULONG) -> Mechanism<'static> {
    let ty = MechanismType::new_vendor_defined(ckm).expect("a vendor mechanism");
    Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(ty, None))
}

/// `C_GenerateKey(CKM_KMSBRIDGE_KEY_ROTATE, {CKA_ID})`: the new primary version.
pub fn rotate(s: &Session, id: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.generate_key(&vendor_mechanism(CKM_KMSBRIDGE_KEY_ROTATE), &[Attribute::Id(id.to_vec())])
}

/// What GetParametersForImport gives: the import wrapping public key and its token.
#[derive(Debug, Clone)]
pub struct ImportParams {
    /// Handle of the import wrapping public key.
    pub public: ObjectHandle,
    /// Its `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`.
    pub modulus: Vec<u8>,
    /// Public exponent, big-endian.
    pub exponent: Vec<u8>,
    /// `CKA_KMSBRIDGE_IMPORT_TOKEN`.
    pub token: Vec<u8>,
    /// `CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY`, unix seconds.
    pub expiry: u64,
}

/// `C_GenerateKey(CKM_KMSBRIDGE_IMPORT_PARAMETERS, {CKA_ID = id [, CKA_MODULUS_BITS]})`.
pub fn import_parameters(
    s: &Session,
    id: &[u8],
    bits: Option<u64>,
) -> cryptoki::error::Result<ImportParams> {
    let mut template = vec![Attribute::Id(id.to_vec())];
    if let Some(bits) = bits {
        template.push(Attribute::ModulusBits(bits.into()));
    }
    let public = s.generate_key(&vendor_mechanism(CKM_KMSBRIDGE_IMPORT_PARAMETERS), &template)?;
    let modulus = kmsbridge_testkit::keys::attr_bytes(s, public, AttributeType::Modulus);
    let exponent = kmsbridge_testkit::keys::attr_bytes(s, public, AttributeType::PublicExponent);
    let token = get_raw(s, public, CKA_KMSBRIDGE_IMPORT_TOKEN)
        .expect("the import wrapping public key has no CKA_KMSBRIDGE_IMPORT_TOKEN");
    let expiry = get_ulong(s, public, CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY);
    Ok(ImportParams { public, modulus, exponent, token, expiry })
}

/// The four wrapping algorithms of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapping {
    /// `RSAES_OAEP_SHA_1`.
    OaepSha1,
    /// `RSAES_OAEP_SHA_256`.
    OaepSha256,
    /// `RSA_AES_KEY_WRAP_SHA_1`.
    RsaAesSha1,
    /// `RSA_AES_KEY_WRAP_SHA_256`.
    RsaAesSha256,
}

impl Wrapping {
    /// The four of them.
    pub const ALL: [Wrapping; 4] =
        [Wrapping::OaepSha1, Wrapping::OaepSha256, Wrapping::RsaAesSha1, Wrapping::RsaAesSha256];

    /// The OAEP hash as openssl names it.
    pub fn openssl_md(self) -> &'static str {
        match self {
            Wrapping::OaepSha1 | Wrapping::RsaAesSha1 => "sha1",
            Wrapping::OaepSha256 | Wrapping::RsaAesSha256 => "sha256",
        }
    }

    /// An RFC 5649 layer under an OAEP'd ephemeral AES-256 key (`CKM_RSA_AES_KEY_WRAP`).
    pub fn is_rsa_aes(self) -> bool {
        matches!(self, Wrapping::RsaAesSha1 | Wrapping::RsaAesSha256)
    }

    fn oaep_params(self) -> CK_RSA_PKCS_OAEP_PARAMS {
        let (hash, mgf) = match self.openssl_md() {
            "sha1" => (CKM_SHA_1, CKG_MGF1_SHA1),
            _ => (CKM_SHA256, CKG_MGF1_SHA256),
        };
        // No label: CKZ_DATA_SPECIFIED with empty source data.
        CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: hash,
            mgf,
            source: CKZ_DATA_SPECIFIED,
            pSourceData: null_mut(),
            ulSourceDataLen: 0,
        }
    }
}

/// The template of an import: `CKA_ID`, `CKA_KMSBRIDGE_IMPORT_TOKEN`, then `extra`.
pub fn import_template(id: &[u8], token: &[u8], extra: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![Attribute::Id(id.to_vec()), bytes(CKA_KMSBRIDGE_IMPORT_TOKEN, token)];
    t.extend_from_slice(extra);
    t
}

/// ImportKeyMaterial: `C_UnwrapKey` of `blob` with `alg`'s mechanism under the import
/// wrapping public key `public`. Raw, because `cryptoki` has no `CKM_RSA_AES_KEY_WRAP`.
pub fn import(
    t: &Env,
    s: &Session,
    public: ObjectHandle,
    alg: Wrapping,
    blob: &[u8],
    template: &[Attribute],
) -> Result<ObjectHandle, RvError> {
    let mut oaep = alg.oaep_params();
    let mut rsa_aes =
        CK_RSA_AES_KEY_WRAP_PARAMS { ulAESKeyBits: 256, pOAEPParams: &mut oaep as *mut _ };
    let mut mech = if alg.is_rsa_aes() {
        CK_MECHANISM {
            mechanism: CKM_RSA_AES_KEY_WRAP,
            pParameter: &mut rsa_aes as *mut _ as *mut _,
            ulParameterLen: std::mem::size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>() as CK_ULONG,
        }
    } else {
        CK_MECHANISM {
            mechanism: CKM_RSA_PKCS_OAEP,
            pParameter: &mut oaep as *mut _ as *mut _,
            ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() as CK_ULONG,
        }
    };
    let mut raw: Vec<CK_ATTRIBUTE> = template.iter().map(Into::into).collect();
    let mut handle: CK_OBJECT_HANDLE = 0;
    let rv = crate::ck!(
        t,
        C_UnwrapKey,
        s.handle(),
        &mut mech,
        public.handle(),
        blob.as_ptr() as *mut _,
        blob.len() as CK_ULONG,
        raw.as_mut_ptr(),
        raw.len() as CK_ULONG,
        &mut handle
    );
    match rv {
        // SAFETY: a handle the module just returned.
        Rv::Ok => Ok(unsafe { ObjectHandle::new_from_raw(handle) }),
        Rv::Error(e) => Err(e),
    }
}

/// `CKM_AES_CBC_PAD` with `iv` (16 bytes).
pub fn cbc_pad(iv: &[u8]) -> Mechanism<'static> {
    Mechanism::AesCbcPad(iv.try_into().expect("a 16-byte IV"))
}

/// What docs/KEYS.md ties together: (`CKA_KMSBRIDGE_ORIGIN`, `CKA_LOCAL`,
/// `CKA_ALWAYS_SENSITIVE`, `CKA_NEVER_EXTRACTABLE`) of a secret or private key.
pub type Provenance = (CK_ULONG, bool, bool, bool);
/// Generated inside the instance, sensitive and never extractable.
pub const GENERATED: Provenance = (KMSBRIDGE_ORIGIN_KMS, true, true, true);
/// Imported material.
pub const IMPORTED: Provenance = (KMSBRIDGE_ORIGIN_EXTERNAL, false, false, false);

/// The [`Provenance`] of a secret or private key.
#[track_caller]
pub fn provenance(s: &Session, key: ObjectHandle) -> Provenance {
    use kmsbridge_testkit::keys::attr_bool;
    (
        get_ulong(s, key, CKA_KMSBRIDGE_ORIGIN),
        attr_bool(s, key, AttributeType::Local),
        attr_bool(s, key, AttributeType::AlwaysSensitive),
        attr_bool(s, key, AttributeType::NeverExtractable),
    )
}

/// The code and the function of a failed `cryptoki` call. Panics if it succeeded.
#[track_caller]
pub fn failure<T: Debug>(r: cryptoki::error::Result<T>) -> (RvError, String) {
    match r {
        Err(Error::Pkcs11(code, function)) => (code, format!("{function:?}")),
        Err(other) => panic!("expected a PKCS#11 error code, got {other:?}"),
        Ok(v) => panic!("expected a refusal, the call succeeded with {v:?}"),
    }
}

/// Asserts that a one-shot operation (`s.encrypt`, `s.sign`, ...) was refused at its
/// `C_*Init` with `CKR_KEY_FUNCTION_NOT_PERMITTED`.
#[track_caller]
pub fn assert_init_refused<T: Debug>(r: cryptoki::error::Result<T>, what: &str) {
    let (code, function) = failure(r);
    assert_eq!(
        (code, function.ends_with("Init")),
        (RvError::KeyFunctionNotPermitted, true),
        "{what}: expected C_*Init to answer CKR_KEY_FUNCTION_NOT_PERMITTED, got {code:?} from {function}"
    );
}

/// Defines `kms::<case>::hardware` and `kms::<case>::software` for each `fn case(Target)`
/// of a test file: one run on a hardware instance over SoftHSM2, one on a software
/// instance. The `kms` module puts every such test under the filter `test(/kms/)`.
#[macro_export]
macro_rules! on_both_instances {
    ($($case:ident),* $(,)?) => {
        mod kms {
            $(
                mod $case {
                    #[test]
                    fn hardware() {
                        super::super::$case($crate::Target::Bridge)
                    }
                    #[test]
                    fn software() {
                        super::super::$case($crate::Target::Software)
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::{NUMERIC, STRINGS};
    use std::collections::BTreeMap;

    /// The constants above are the header's: every `#define` of kmsbridge.h is here with
    /// the same value, and nothing here is missing from the header.
    #[test]
    fn constants_match_kmsbridge_h() {
        let header = include_str!("../../include/kmsbridge.h");
        let mut numbers = BTreeMap::new();
        let mut strings = BTreeMap::new();
        for line in header.lines() {
            let mut words = line.split_whitespace();
            let (Some("#define"), Some(name), Some(value)) =
                (words.next(), words.next(), words.next())
            else {
                continue;
            };
            if let Some(s) = value.strip_prefix('"') {
                strings.insert(name, s.trim_end_matches('"'));
            } else if let Some(v) = value.strip_suffix("UL") {
                let n = match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => v.parse(),
                };
                numbers.insert(name, n.unwrap_or_else(|e| panic!("{name} = {value}: {e}")));
            }
        }
        let ours: BTreeMap<_, _> = NUMERIC.iter().map(|(n, v)| (*n, *v)).collect();
        assert_eq!(ours, numbers, "tests/src/kms.rs and include/kmsbridge.h differ");
        let ours: BTreeMap<_, _> = STRINGS.iter().copied().collect();
        assert_eq!(ours, strings, "string constants differ from include/kmsbridge.h");
    }
}
