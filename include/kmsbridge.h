/*
 * kmsbridge.h: kmsbridge's vendor constants for C clients of libkmsbridge.so.
 * Use it beside the OASIS PKCS#11 headers (pkcs11.h); it defines only what
 * kmsbridge adds. Checked against the Rust constants in provider/src/vendor.rs
 * by that crate's tests.
 */
#ifndef KMSBRIDGE_H
#define KMSBRIDGE_H

/* kmsbridge's vendor ranges: CKA_VENDOR_DEFINED / CKM_VENDOR_DEFINED /
 * CKR_VENDOR_DEFINED (0x80000000) plus "KB" (0x4B42) in bits 16..31. */
#define CKA_KMSBRIDGE_BASE 0xCB420000UL
#define CKM_KMSBRIDGE_BASE 0xCB420000UL
#define CKR_KMSBRIDGE_BASE 0xCB420000UL

/* CKA_APPLICATION of kmsbridge's own metadata objects on an HSM token;
 * such objects are never shown to applications. */
#define KMSBRIDGE_META_APPLICATION "kmsbridge.meta"

#endif /* KMSBRIDGE_H */
