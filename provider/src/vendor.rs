//! kmsbridge's vendor constants; `include/kmsbridge.h` carries the same values
//! for C clients, checked by the test below.

use cryptoki_sys::{CK_ATTRIBUTE_TYPE, CK_MECHANISM_TYPE, CK_OBJECT_CLASS, CK_RV, CK_ULONG};

/// CKA_VENDOR_DEFINED with "KB" (0x4B42) in bits 16..31.
pub(crate) const CKA_KMSBRIDGE_BASE: CK_ATTRIBUTE_TYPE = 0xCB42_0000;
pub(crate) const CKM_KMSBRIDGE_BASE: CK_MECHANISM_TYPE = 0xCB42_0000;
pub(crate) const CKR_KMSBRIDGE_BASE: CK_RV = 0xCB42_0000;

const _: () = assert!(CKA_KMSBRIDGE_BASE >= cryptoki_sys::CKA_VENDOR_DEFINED);

/// A KMS key's record (docs/KEYS.md).
pub(crate) const CKO_KMSBRIDGE_KEY: CK_OBJECT_CLASS = 0xCB42_0001;

pub(crate) const CKA_KMSBRIDGE_ORIGIN: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x01;
pub(crate) const CKA_KMSBRIDGE_KEY_STATE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x02;
pub(crate) const CKA_KMSBRIDGE_DELETION_DATE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x03;
pub(crate) const CKA_KMSBRIDGE_PENDING_WINDOW_DAYS: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x04;
pub(crate) const CKA_KMSBRIDGE_MATERIAL_EXPIRY: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x05;
pub(crate) const CKA_KMSBRIDGE_KEY_VERSION: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x06;
pub(crate) const CKA_KMSBRIDGE_PRIMARY_VERSION: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x07;
pub(crate) const CKA_KMSBRIDGE_IMPORT_TOKEN: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x08;
pub(crate) const CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x09;
pub(crate) const CKA_KMSBRIDGE_SERVICE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x0A;
pub(crate) const CKA_KMSBRIDGE_DEFAULT_KEY: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x0B;
pub(crate) const CKA_KMSBRIDGE_CREATED: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x0C;

/// An HSM node of a hardware instance, read live (docs/CLUSTER.md).
pub(crate) const CKO_KMSBRIDGE_NODE: CK_OBJECT_CLASS = 0xCB42_0002;

pub(crate) const CKA_KMSBRIDGE_NODE_INDEX: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x0D;
pub(crate) const CKA_KMSBRIDGE_NODE_STATE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x0E;
pub(crate) const CKA_KMSBRIDGE_NODE_LOAD: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x0F;
pub(crate) const CKA_KMSBRIDGE_NODE_SERVED: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x10;
pub(crate) const CKA_KMSBRIDGE_NODE_LAG: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x11;
pub(crate) const CKA_KMSBRIDGE_NODE_LAST_ERROR: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x12;

/// The instance's audit trail, read-only, for `kmsbridge audit verify` (docs/AUDIT.md).
pub(crate) const CKO_KMSBRIDGE_AUDIT: CK_OBJECT_CLASS = 0xCB42_0004;

/// The audit service key's public half: DER SubjectPublicKeyInfo (EC P-256).
pub(crate) const CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x20;
/// The latest signed head the instance holds, JSON.
pub(crate) const CKA_KMSBRIDGE_AUDIT_HEAD: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x21;
/// The trail's directory on this host, UTF-8.
pub(crate) const CKA_KMSBRIDGE_AUDIT_DIR: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x22;
/// The instance name every record carries, UTF-8.
pub(crate) const CKA_KMSBRIDGE_AUDIT_INSTANCE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x23;

pub(crate) const KMSBRIDGE_NODE_UP: CK_ULONG = 1;
pub(crate) const KMSBRIDGE_NODE_DOWN: CK_ULONG = 2;
pub(crate) const KMSBRIDGE_NODE_RESYNCING: CK_ULONG = 3;

pub(crate) const KMSBRIDGE_ORIGIN_KMS: CK_ULONG = 1;
pub(crate) const KMSBRIDGE_ORIGIN_EXTERNAL: CK_ULONG = 2;

pub(crate) const KMSBRIDGE_STATE_ENABLED: CK_ULONG = 1;
pub(crate) const KMSBRIDGE_STATE_DISABLED: CK_ULONG = 2;
pub(crate) const KMSBRIDGE_STATE_PENDING_DELETION: CK_ULONG = 3;
pub(crate) const KMSBRIDGE_STATE_PENDING_IMPORT: CK_ULONG = 4;

pub(crate) const CKM_KMSBRIDGE_IMPORT_PARAMETERS: CK_MECHANISM_TYPE = CKM_KMSBRIDGE_BASE + 0x01;
pub(crate) const CKM_KMSBRIDGE_KEY_ROTATE: CK_MECHANISM_TYPE = CKM_KMSBRIDGE_BASE + 0x02;
pub(crate) const CKM_KMSBRIDGE_CLUSTER_INIT: CK_MECHANISM_TYPE = CKM_KMSBRIDGE_BASE + 0x03;

/// An application access point (docs/ACCESS.md): administered by the SO.
pub(crate) const CKO_KMSBRIDGE_ACCESS_POINT: CK_OBJECT_CLASS = 0xCB42_0003;
pub(crate) const CKA_KMSBRIDGE_DESCRIPTION: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x13;
pub(crate) const CKA_KMSBRIDGE_CREDENTIALS: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x14;
pub(crate) const CKA_KMSBRIDGE_CREDENTIAL_ADD: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x15;
pub(crate) const CKA_KMSBRIDGE_NOT_BEFORE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x16;
pub(crate) const CKA_KMSBRIDGE_NOT_AFTER: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x17;
pub(crate) const CKA_KMSBRIDGE_CREDENTIAL_REVOKE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x18;
pub(crate) const CKA_KMSBRIDGE_CREDENTIAL_UNLOCK: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x19;
pub(crate) const CKA_KMSBRIDGE_CONFIGURED: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x1A;

/// Secrets (docs/SECRETS.md): CKO_DATA objects with CKA_APPLICATION "kmsbridge.secret".
pub(crate) const CKA_KMSBRIDGE_SECRET_VERSION_ID: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x30;
pub(crate) const CKA_KMSBRIDGE_SECRET_STAGES: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x31;
pub(crate) const CKA_KMSBRIDGE_SECRET_STAGE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x32;
pub(crate) const CKA_KMSBRIDGE_SECRET_MOVE_TO: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x33;
pub(crate) const CKA_KMSBRIDGE_SECRET_REMOVE_FROM: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x34;
pub(crate) const CKA_KMSBRIDGE_SECRET_TYPE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x35;
pub(crate) const CKA_KMSBRIDGE_SECRET_INFO: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x36;
pub(crate) const CKA_KMSBRIDGE_SECRET_KMS_KEY: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x37;
pub(crate) const CKA_KMSBRIDGE_SECRET_GENERATION: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x38;
pub(crate) const CKA_KMSBRIDGE_SECRET_ROTATION_DAYS: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x39;
pub(crate) const CKA_KMSBRIDGE_SECRET_ROTATION: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x3A;
pub(crate) const CKA_KMSBRIDGE_SECRET_RESTORE: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x3B;
pub(crate) const CKA_KMSBRIDGE_SECRET_NEW: CK_ATTRIBUTE_TYPE = CKA_KMSBRIDGE_BASE + 0x3C;

pub(crate) const CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID: CK_RV = CKR_KMSBRIDGE_BASE + 0x01;
pub(crate) const CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED: CK_RV = CKR_KMSBRIDGE_BASE + 0x02;
pub(crate) const CKR_KMSBRIDGE_IMPORT_TOKEN_USED: CK_RV = CKR_KMSBRIDGE_BASE + 0x03;
pub(crate) const CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID: CK_RV = CKR_KMSBRIDGE_BASE + 0x04;
pub(crate) const CKR_KMSBRIDGE_MATERIAL_MISMATCH: CK_RV = CKR_KMSBRIDGE_BASE + 0x05;
/// Not a return code: the `ulDeviceError` of C_GetSessionInfo after an operation was
/// refused by a quota with CKR_FUNCTION_FAILED (docs/QUOTAS.md).
pub(crate) const KMSBRIDGE_DEVICE_ERROR_QUOTA: CK_ULONG = CKR_KMSBRIDGE_BASE + 0x06;

/// `CKA_APPLICATION` of the module's own metadata objects on a backend token.
pub(crate) const META_APPLICATION: &[u8] = b"kmsbridge.meta";
/// CKA_APPLICATION of key records and import tokens on a backend token.
pub(crate) const KEY_APPLICATION: &[u8] = b"kmsbridge.key";
pub(crate) const IMPORT_APPLICATION: &[u8] = b"kmsbridge.import";
/// CKA_APPLICATION of access point records and of wrong-secret markers.
pub(crate) const ACCESS_APPLICATION: &[u8] = b"kmsbridge.aap";
pub(crate) const LOCKOUT_APPLICATION: &[u8] = b"kmsbridge.lockout";
/// CKA_APPLICATION of the secrets as applications see them, and of their hidden records.
pub(crate) const SECRET_APPLICATION: &[u8] = b"kmsbridge.secret";
pub(crate) const SECRET_RECORD_APPLICATION: &[u8] = b"kmsbridge.secretrec";
/// Backend CKA_ID prefix of service keys.
pub(crate) const SERVICE_ID_PREFIX: &[u8] = b"kmsbridge.svc.";
/// CKA_ID / CKA_LABEL suffix of an older version: "#v" N.
pub(crate) const VERSION_SEPARATOR: &[u8] = b"#v";

#[cfg(test)]
mod tests {
    use super::*;

    fn header_value(header: &str, name: &str) -> Option<cryptoki_sys::CK_ULONG> {
        let line = header
            .lines()
            .find(|l| l.starts_with(&format!("#define {name} ")))?;
        let v = line.split_whitespace().nth(2)?.trim_end_matches("UL");
        cryptoki_sys::CK_ULONG::from_str_radix(v.trim_start_matches("0x"), 16).ok()
    }

    #[test]
    fn header_matches_rust_constants() {
        let header = include_str!("../../include/kmsbridge.h");
        assert_eq!(
            header_value(header, "CKA_KMSBRIDGE_BASE"),
            Some(CKA_KMSBRIDGE_BASE)
        );
        assert_eq!(
            header_value(header, "CKM_KMSBRIDGE_BASE"),
            Some(CKM_KMSBRIDGE_BASE)
        );
        assert_eq!(
            header_value(header, "CKR_KMSBRIDGE_BASE"),
            Some(CKR_KMSBRIDGE_BASE)
        );
        for (name, v) in [
            ("CKO_KMSBRIDGE_KEY", CKO_KMSBRIDGE_KEY),
            ("CKA_KMSBRIDGE_ORIGIN", CKA_KMSBRIDGE_ORIGIN),
            ("CKA_KMSBRIDGE_KEY_STATE", CKA_KMSBRIDGE_KEY_STATE),
            ("CKA_KMSBRIDGE_DELETION_DATE", CKA_KMSBRIDGE_DELETION_DATE),
            (
                "CKA_KMSBRIDGE_PENDING_WINDOW_DAYS",
                CKA_KMSBRIDGE_PENDING_WINDOW_DAYS,
            ),
            (
                "CKA_KMSBRIDGE_MATERIAL_EXPIRY",
                CKA_KMSBRIDGE_MATERIAL_EXPIRY,
            ),
            ("CKA_KMSBRIDGE_KEY_VERSION", CKA_KMSBRIDGE_KEY_VERSION),
            (
                "CKA_KMSBRIDGE_PRIMARY_VERSION",
                CKA_KMSBRIDGE_PRIMARY_VERSION,
            ),
            ("CKA_KMSBRIDGE_IMPORT_TOKEN", CKA_KMSBRIDGE_IMPORT_TOKEN),
            (
                "CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY",
                CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY,
            ),
            ("CKA_KMSBRIDGE_SERVICE", CKA_KMSBRIDGE_SERVICE),
            ("CKA_KMSBRIDGE_DEFAULT_KEY", CKA_KMSBRIDGE_DEFAULT_KEY),
            ("CKA_KMSBRIDGE_CREATED", CKA_KMSBRIDGE_CREATED),
            (
                "CKM_KMSBRIDGE_IMPORT_PARAMETERS",
                CKM_KMSBRIDGE_IMPORT_PARAMETERS,
            ),
            ("CKM_KMSBRIDGE_KEY_ROTATE", CKM_KMSBRIDGE_KEY_ROTATE),
            ("CKM_KMSBRIDGE_CLUSTER_INIT", CKM_KMSBRIDGE_CLUSTER_INIT),
            ("CKO_KMSBRIDGE_NODE", CKO_KMSBRIDGE_NODE),
            ("CKO_KMSBRIDGE_ACCESS_POINT", CKO_KMSBRIDGE_ACCESS_POINT),
            ("CKA_KMSBRIDGE_DESCRIPTION", CKA_KMSBRIDGE_DESCRIPTION),
            ("CKA_KMSBRIDGE_CREDENTIALS", CKA_KMSBRIDGE_CREDENTIALS),
            ("CKA_KMSBRIDGE_CREDENTIAL_ADD", CKA_KMSBRIDGE_CREDENTIAL_ADD),
            ("CKA_KMSBRIDGE_NOT_BEFORE", CKA_KMSBRIDGE_NOT_BEFORE),
            ("CKA_KMSBRIDGE_NOT_AFTER", CKA_KMSBRIDGE_NOT_AFTER),
            (
                "CKA_KMSBRIDGE_CREDENTIAL_REVOKE",
                CKA_KMSBRIDGE_CREDENTIAL_REVOKE,
            ),
            (
                "CKA_KMSBRIDGE_CREDENTIAL_UNLOCK",
                CKA_KMSBRIDGE_CREDENTIAL_UNLOCK,
            ),
            ("CKA_KMSBRIDGE_CONFIGURED", CKA_KMSBRIDGE_CONFIGURED),
            (
                "CKA_KMSBRIDGE_SECRET_VERSION_ID",
                CKA_KMSBRIDGE_SECRET_VERSION_ID,
            ),
            ("CKA_KMSBRIDGE_SECRET_STAGES", CKA_KMSBRIDGE_SECRET_STAGES),
            ("CKA_KMSBRIDGE_SECRET_STAGE", CKA_KMSBRIDGE_SECRET_STAGE),
            ("CKA_KMSBRIDGE_SECRET_MOVE_TO", CKA_KMSBRIDGE_SECRET_MOVE_TO),
            (
                "CKA_KMSBRIDGE_SECRET_REMOVE_FROM",
                CKA_KMSBRIDGE_SECRET_REMOVE_FROM,
            ),
            ("CKA_KMSBRIDGE_SECRET_TYPE", CKA_KMSBRIDGE_SECRET_TYPE),
            ("CKA_KMSBRIDGE_SECRET_INFO", CKA_KMSBRIDGE_SECRET_INFO),
            ("CKA_KMSBRIDGE_SECRET_KMS_KEY", CKA_KMSBRIDGE_SECRET_KMS_KEY),
            (
                "CKA_KMSBRIDGE_SECRET_GENERATION",
                CKA_KMSBRIDGE_SECRET_GENERATION,
            ),
            (
                "CKA_KMSBRIDGE_SECRET_ROTATION_DAYS",
                CKA_KMSBRIDGE_SECRET_ROTATION_DAYS,
            ),
            (
                "CKA_KMSBRIDGE_SECRET_ROTATION",
                CKA_KMSBRIDGE_SECRET_ROTATION,
            ),
            ("CKA_KMSBRIDGE_SECRET_RESTORE", CKA_KMSBRIDGE_SECRET_RESTORE),
            ("CKA_KMSBRIDGE_SECRET_NEW", CKA_KMSBRIDGE_SECRET_NEW),
            ("CKO_KMSBRIDGE_AUDIT", CKO_KMSBRIDGE_AUDIT),
            (
                "CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY",
                CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY,
            ),
            ("CKA_KMSBRIDGE_AUDIT_HEAD", CKA_KMSBRIDGE_AUDIT_HEAD),
            ("CKA_KMSBRIDGE_AUDIT_DIR", CKA_KMSBRIDGE_AUDIT_DIR),
            ("CKA_KMSBRIDGE_AUDIT_INSTANCE", CKA_KMSBRIDGE_AUDIT_INSTANCE),
            ("CKA_KMSBRIDGE_NODE_INDEX", CKA_KMSBRIDGE_NODE_INDEX),
            ("CKA_KMSBRIDGE_NODE_STATE", CKA_KMSBRIDGE_NODE_STATE),
            ("CKA_KMSBRIDGE_NODE_LOAD", CKA_KMSBRIDGE_NODE_LOAD),
            ("CKA_KMSBRIDGE_NODE_SERVED", CKA_KMSBRIDGE_NODE_SERVED),
            ("CKA_KMSBRIDGE_NODE_LAG", CKA_KMSBRIDGE_NODE_LAG),
            (
                "CKA_KMSBRIDGE_NODE_LAST_ERROR",
                CKA_KMSBRIDGE_NODE_LAST_ERROR,
            ),
            (
                "CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID",
                CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID,
            ),
            (
                "CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED",
                CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED,
            ),
            (
                "CKR_KMSBRIDGE_IMPORT_TOKEN_USED",
                CKR_KMSBRIDGE_IMPORT_TOKEN_USED,
            ),
            (
                "CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID",
                CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID,
            ),
            (
                "CKR_KMSBRIDGE_MATERIAL_MISMATCH",
                CKR_KMSBRIDGE_MATERIAL_MISMATCH,
            ),
            ("KMSBRIDGE_DEVICE_ERROR_QUOTA", KMSBRIDGE_DEVICE_ERROR_QUOTA),
        ] {
            assert_eq!(header_value(header, name), Some(v), "{name}");
        }
        for (name, v) in [
            ("KMSBRIDGE_ORIGIN_KMS", KMSBRIDGE_ORIGIN_KMS),
            ("KMSBRIDGE_ORIGIN_EXTERNAL", KMSBRIDGE_ORIGIN_EXTERNAL),
            ("KMSBRIDGE_STATE_ENABLED", KMSBRIDGE_STATE_ENABLED),
            ("KMSBRIDGE_STATE_DISABLED", KMSBRIDGE_STATE_DISABLED),
            (
                "KMSBRIDGE_STATE_PENDING_DELETION",
                KMSBRIDGE_STATE_PENDING_DELETION,
            ),
            (
                "KMSBRIDGE_STATE_PENDING_IMPORT",
                KMSBRIDGE_STATE_PENDING_IMPORT,
            ),
            ("KMSBRIDGE_NODE_UP", KMSBRIDGE_NODE_UP),
            ("KMSBRIDGE_NODE_DOWN", KMSBRIDGE_NODE_DOWN),
            ("KMSBRIDGE_NODE_RESYNCING", KMSBRIDGE_NODE_RESYNCING),
        ] {
            assert!(header.contains(&format!("#define {name} ")), "{name}");
            let line = header
                .lines()
                .find(|l| l.starts_with(&format!("#define {name} ")));
            let value = line.and_then(|l| l.split_whitespace().nth(2));
            assert_eq!(value, Some(format!("{v}UL").as_str()), "{name}");
        }
        for (name, v) in [
            ("KMSBRIDGE_KEY_APPLICATION", KEY_APPLICATION),
            ("KMSBRIDGE_IMPORT_APPLICATION", IMPORT_APPLICATION),
            ("KMSBRIDGE_SERVICE_ID_PREFIX", SERVICE_ID_PREFIX),
            ("KMSBRIDGE_VERSION_SEPARATOR", VERSION_SEPARATOR),
            (
                "KMSBRIDGE_DOMAIN_KEY_ID",
                kmsbridge_bridge::domain::DOMAIN_KEY_ID,
            ),
        ] {
            let s = std::str::from_utf8(v).unwrap();
            assert!(header.contains(&format!("#define {name} ")), "{name}");
            assert!(header.contains(&format!("\"{s}\"")), "{name}");
        }
        assert!(header.contains(&format!(
            "#define KMSBRIDGE_META_APPLICATION \"{}\"",
            std::str::from_utf8(META_APPLICATION).unwrap()
        )));
    }
}
