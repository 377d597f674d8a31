//! kmsbridge's vendor constants; `include/kmsbridge.h` carries the same values
//! for C clients, checked by the test below.

use cryptoki_sys::{CK_ATTRIBUTE_TYPE, CK_MECHANISM_TYPE, CK_RV};

/// CKA_VENDOR_DEFINED with "KB" (0x4B42) in bits 16..31.
pub const CKA_KMSBRIDGE_BASE: CK_ATTRIBUTE_TYPE = 0xCB42_0000;
pub const CKM_KMSBRIDGE_BASE: CK_MECHANISM_TYPE = 0xCB42_0000;
pub const CKR_KMSBRIDGE_BASE: CK_RV = 0xCB42_0000;

const _: () = assert!(CKA_KMSBRIDGE_BASE >= cryptoki_sys::CKA_VENDOR_DEFINED);

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
        assert!(header.contains(&format!(
            "#define KMSBRIDGE_META_APPLICATION \"{}\"",
            std::str::from_utf8(crate::instance::META_APPLICATION).unwrap()
        )));
    }
}
