//! kmsbridge's vendor constants (include/kmsbridge.h, docs/KEYS.md) as this client
//! needs them, and the attributes built from them. cryptoki's typed enums cannot hold
//! them (its `ObjectClass` has no vendor values, and no attribute or mechanism of ours
//! has a variant), so they travel through its raw `VendorDefined` forms.

use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType};
use cryptoki_sys::{CKA_CLASS, CK_ATTRIBUTE_TYPE, CK_ULONG};

use crate::module::Error;

/// The class of a key record.
pub const CKO_KMSBRIDGE_KEY: CK_ULONG = 0xCB42_0001;

pub const CKA_KMSBRIDGE_ORIGIN: CK_ATTRIBUTE_TYPE = 0xCB42_0001;
pub const CKA_KMSBRIDGE_KEY_STATE: CK_ATTRIBUTE_TYPE = 0xCB42_0002;
pub const CKA_KMSBRIDGE_DELETION_DATE: CK_ATTRIBUTE_TYPE = 0xCB42_0003;
pub const CKA_KMSBRIDGE_PENDING_WINDOW_DAYS: CK_ATTRIBUTE_TYPE = 0xCB42_0004;
pub const CKA_KMSBRIDGE_MATERIAL_EXPIRY: CK_ATTRIBUTE_TYPE = 0xCB42_0005;
pub const CKA_KMSBRIDGE_KEY_VERSION: CK_ATTRIBUTE_TYPE = 0xCB42_0006;
pub const CKA_KMSBRIDGE_PRIMARY_VERSION: CK_ATTRIBUTE_TYPE = 0xCB42_0007;
pub const CKA_KMSBRIDGE_IMPORT_TOKEN: CK_ATTRIBUTE_TYPE = 0xCB42_0008;
pub const CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY: CK_ATTRIBUTE_TYPE = 0xCB42_0009;
pub const CKA_KMSBRIDGE_SERVICE: CK_ATTRIBUTE_TYPE = 0xCB42_000A;
pub const CKA_KMSBRIDGE_DEFAULT_KEY: CK_ATTRIBUTE_TYPE = 0xCB42_000B;
pub const CKA_KMSBRIDGE_CREATED: CK_ATTRIBUTE_TYPE = 0xCB42_000C;

/// The class of an HSM node of a hardware instance (docs/CLUSTER.md).
pub const CKO_KMSBRIDGE_NODE: CK_ULONG = 0xCB42_0002;

pub const CKA_KMSBRIDGE_NODE_INDEX: CK_ATTRIBUTE_TYPE = 0xCB42_000D;
pub const CKA_KMSBRIDGE_NODE_STATE: CK_ATTRIBUTE_TYPE = 0xCB42_000E;
pub const CKA_KMSBRIDGE_NODE_LOAD: CK_ATTRIBUTE_TYPE = 0xCB42_000F;
pub const CKA_KMSBRIDGE_NODE_SERVED: CK_ATTRIBUTE_TYPE = 0xCB42_0010;
pub const CKA_KMSBRIDGE_NODE_LAG: CK_ATTRIBUTE_TYPE = 0xCB42_0011;
pub const CKA_KMSBRIDGE_NODE_LAST_ERROR: CK_ATTRIBUTE_TYPE = 0xCB42_0012;

pub const NODE_UP: CK_ULONG = 1;
pub const NODE_DOWN: CK_ULONG = 2;
pub const NODE_RESYNCING: CK_ULONG = 3;

pub const ORIGIN_KMS: CK_ULONG = 1;
pub const ORIGIN_EXTERNAL: CK_ULONG = 2;

pub const STATE_ENABLED: CK_ULONG = 1;
pub const STATE_DISABLED: CK_ULONG = 2;
pub const STATE_PENDING_DELETION: CK_ULONG = 3;
pub const STATE_PENDING_IMPORT: CK_ULONG = 4;

pub const CKM_KMSBRIDGE_IMPORT_PARAMETERS: CK_ULONG = 0xCB42_0001;
pub const CKM_KMSBRIDGE_KEY_ROTATE: CK_ULONG = 0xCB42_0002;
pub const CKM_KMSBRIDGE_CLUSTER_INIT: CK_ULONG = 0xCB42_0003;

pub const CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID: CK_ULONG = 0xCB42_0001;
pub const CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED: CK_ULONG = 0xCB42_0002;
pub const CKR_KMSBRIDGE_IMPORT_TOKEN_USED: CK_ULONG = 0xCB42_0003;
pub const CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID: CK_ULONG = 0xCB42_0004;
pub const CKR_KMSBRIDGE_MATERIAL_MISMATCH: CK_ULONG = 0xCB42_0005;

/// CKA_ID / CKA_LABEL suffix of an older version N of a rotated key: "#v" N.
pub const VERSION_SEPARATOR: &str = "#v";

/// An attribute type cryptoki has no variant for (ours, or CKA_CLASS read raw).
pub fn attr_type(t: CK_ATTRIBUTE_TYPE) -> AttributeType {
    AttributeType::VendorDefined(t)
}

/// A CK_ULONG attribute in the module's (native) byte order.
pub fn ulong(t: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attribute {
    Attribute::VendorDefined((attr_type(t), v.to_ne_bytes().to_vec()))
}

pub fn bytes(t: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attribute {
    Attribute::VendorDefined((attr_type(t), v.to_vec()))
}

/// `CKA_CLASS = CKO_KMSBRIDGE_KEY`: `Attribute::Class` only takes the standard classes,
/// so the class goes as raw bytes under the CKA_CLASS type.
pub fn record_class() -> Attribute {
    ulong(CKA_CLASS, CKO_KMSBRIDGE_KEY)
}

/// `CKA_CLASS = CKO_KMSBRIDGE_NODE`, raw for the same reason.
pub fn node_class() -> Attribute {
    ulong(CKA_CLASS, CKO_KMSBRIDGE_NODE)
}

pub fn node_state_name(s: CK_ULONG) -> String {
    match s {
        NODE_UP => "up".into(),
        NODE_DOWN => "down".into(),
        NODE_RESYNCING => "resyncing".into(),
        other => format!("state {other}"),
    }
}

/// Read a CK_ULONG from raw attribute bytes.
pub fn as_ulong(v: &[u8]) -> Option<CK_ULONG> {
    Some(CK_ULONG::from_ne_bytes(v.try_into().ok()?))
}

/// A vendor mechanism with no parameter (none of ours takes one).
pub fn mechanism(m: CK_ULONG) -> Result<Mechanism<'static>, Error> {
    let t = MechanismType::new_vendor_defined(m)?;
    Ok(Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
        t, None,
    )))
}

pub fn state_name(s: CK_ULONG) -> String {
    match s {
        STATE_ENABLED => "Enabled".into(),
        STATE_DISABLED => "Disabled".into(),
        STATE_PENDING_DELETION => "PendingDeletion".into(),
        STATE_PENDING_IMPORT => "PendingImport".into(),
        other => format!("unknown state {other}"),
    }
}

pub fn origin_name(o: CK_ULONG) -> String {
    match o {
        ORIGIN_KMS => "KMS".into(),
        ORIGIN_EXTERNAL => "EXTERNAL".into(),
        other => format!("unknown origin {other}"),
    }
}
