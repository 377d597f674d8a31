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

/* ---- The KMS key model (docs/KEYS.md) ---- */

/* A KMS key's record: id, alias, origin, state, versions. Found only when a
 * template asks for this class; CKO_VENDOR_DEFINED | "KB" | 1. */
#define CKO_KMSBRIDGE_KEY 0xCB420001UL

/* Attributes (CKA_VENDOR_DEFINED range). CK_ULONG unless noted. */
#define CKA_KMSBRIDGE_ORIGIN              0xCB420001UL /* read-only: KMSBRIDGE_ORIGIN_* */
#define CKA_KMSBRIDGE_KEY_STATE           0xCB420002UL /* KMSBRIDGE_STATE_*; set to change it */
#define CKA_KMSBRIDGE_DELETION_DATE       0xCB420003UL /* read-only: unix seconds, 0 = none */
#define CKA_KMSBRIDGE_PENDING_WINDOW_DAYS 0xCB420004UL /* with STATE_PENDING_DELETION: 7..30 */
#define CKA_KMSBRIDGE_MATERIAL_EXPIRY     0xCB420005UL /* unix seconds, 0 = never */
#define CKA_KMSBRIDGE_KEY_VERSION         0xCB420006UL /* read-only: this object's version */
#define CKA_KMSBRIDGE_PRIMARY_VERSION     0xCB420007UL /* read-only: the key's primary version */
#define CKA_KMSBRIDGE_IMPORT_TOKEN        0xCB420008UL /* byte array */
#define CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY 0xCB420009UL /* read-only: unix seconds */
#define CKA_KMSBRIDGE_SERVICE             0xCB42000AUL /* CK_BBOOL, read-only: a service key */
#define CKA_KMSBRIDGE_DEFAULT_KEY         0xCB42000BUL /* CK_BBOOL: the instance's default key */
#define CKA_KMSBRIDGE_CREATED             0xCB42000CUL /* read-only: unix seconds */

#define KMSBRIDGE_ORIGIN_KMS      1UL /* material generated inside the instance */
#define KMSBRIDGE_ORIGIN_EXTERNAL 2UL /* material imported */

#define KMSBRIDGE_STATE_ENABLED          1UL
#define KMSBRIDGE_STATE_DISABLED         2UL
#define KMSBRIDGE_STATE_PENDING_DELETION 3UL
#define KMSBRIDGE_STATE_PENDING_IMPORT   4UL

/* Mechanisms (CKM_VENDOR_DEFINED range), used with C_GenerateKey. */
/* Import parameters: template CKA_ID = target key id, CKA_MODULUS_BITS = 2048 (default),
 * 3072 or 4096; returns the import wrapping public key, which carries the token. */
#define CKM_KMSBRIDGE_IMPORT_PARAMETERS 0xCB420001UL
/* Rotation: template CKA_ID = key id; returns the new primary version. */
#define CKM_KMSBRIDGE_KEY_ROTATE        0xCB420002UL

/* Return codes (CKR_VENDOR_DEFINED range) of an import's refusals. */
#define CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID  0xCB420001UL /* unknown or malformed token */
#define CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED  0xCB420002UL
#define CKR_KMSBRIDGE_IMPORT_TOKEN_USED     0xCB420003UL
#define CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID   0xCB420004UL /* issued for another key id */
#define CKR_KMSBRIDGE_MATERIAL_MISMATCH     0xCB420005UL /* re-import of other material */

/* ---- Quotas (docs/QUOTAS.md) ---- */

/* Not a return code: an operation refused by a quota (operations per second over the
 * limit, beyond the wait bound) answers CKR_FUNCTION_FAILED, and C_GetSessionInfo's
 * ulDeviceError is then this value until the session's next admitted operation. */
#define KMSBRIDGE_DEVICE_ERROR_QUOTA        0xCB420006UL

/* ---- The HSM cluster of a hardware instance (docs/CLUSTER.md) ---- */

/* One HSM node, read live; found only when a template asks for this class,
 * without login. Read-only: never destroyed, changed, copied or used as a key.
 * CKO_VENDOR_DEFINED | "KB" | 2. CKA_LABEL = node name, CKA_TOKEN TRUE,
 * CKA_PRIVATE FALSE, CKA_MODIFIABLE FALSE. */
#define CKO_KMSBRIDGE_NODE 0xCB420002UL

/* Node attributes, read-only, CK_ULONG unless noted. */
#define CKA_KMSBRIDGE_NODE_INDEX      0xCB42000DUL /* 0, 1, ... in configuration order */
#define CKA_KMSBRIDGE_NODE_STATE      0xCB42000EUL /* KMSBRIDGE_NODE_* */
#define CKA_KMSBRIDGE_NODE_LOAD       0xCB42000FUL /* calls and operations in flight */
#define CKA_KMSBRIDGE_NODE_SERVED     0xCB420010UL /* calls and operations served */
#define CKA_KMSBRIDGE_NODE_LAG        0xCB420011UL /* token object writes missed while away */
#define CKA_KMSBRIDGE_NODE_LAST_ERROR 0xCB420012UL /* UTF-8 bytes, empty if none */

#define KMSBRIDGE_NODE_UP        1UL /* serving */
#define KMSBRIDGE_NODE_DOWN      2UL /* failed; probed in the background */
#define KMSBRIDGE_NODE_RESYNCING 3UL /* back, being brought up to date */

/* ---- The audit trail of an instance (docs/AUDIT.md) ---- */

/* The instance's audit trail, for verifiers: found only when a template asks for
 * this class, and only with the user logged in (its values are private objects of
 * the instance). Read-only: never destroyed, changed, copied or used as a key.
 * CKO_VENDOR_DEFINED | "KB" | 4. CKA_LABEL "audit", CKA_TOKEN TRUE, CKA_PRIVATE TRUE,
 * CKA_MODIFIABLE FALSE. Each value is empty while it does not exist yet. */
#define CKO_KMSBRIDGE_AUDIT 0xCB420004UL

#define CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY 0xCB420020UL /* DER SubjectPublicKeyInfo, EC P-256 */
#define CKA_KMSBRIDGE_AUDIT_HEAD       0xCB420021UL /* JSON: the latest signed head */
#define CKA_KMSBRIDGE_AUDIT_DIR        0xCB420022UL /* UTF-8: the trail's directory */
#define CKA_KMSBRIDGE_AUDIT_INSTANCE   0xCB420023UL /* UTF-8: the records' instance */

/* Cluster init: C_GenerateKey with no parameter and an empty template (or
 * CKA_TOKEN = CK_TRUE only), in a R/W session of the logged-in SO of a hardware
 * instance. Provisions the cluster domain key on every node with each node's
 * so_credential_file (idempotent) and returns the key's handle, a service key. */
#define CKM_KMSBRIDGE_CLUSTER_INIT 0xCB420003UL
/* CKA_ID (and CKA_LABEL) of the cluster domain key on every node. */
#define KMSBRIDGE_DOMAIN_KEY_ID "kmsbridge.svc.cluster.domain"

/* CKA_APPLICATION of a key record and of an import token on a backend token. */
#define KMSBRIDGE_KEY_APPLICATION    "kmsbridge.key"
#define KMSBRIDGE_IMPORT_APPLICATION "kmsbridge.import"
/* CKA_ID prefix of service keys on a backend token. */
#define KMSBRIDGE_SERVICE_ID_PREFIX  "kmsbridge.svc."
/* CKA_ID and CKA_LABEL suffix of an older version N of a rotated key: "#v" N. */
#define KMSBRIDGE_VERSION_SEPARATOR  "#v"

/* ---- Application access points (docs/ACCESS.md) ---- */

/* One access point of the instance: an application identity with client-key
 * credentials and a policy. Seen, created (C_CreateObject), changed
 * (C_SetAttributeValue) and deleted (C_DestroyObject) only by the logged-in SO in a
 * R/W session; found only when a template asks for this class.
 * CKA_LABEL = the name ([A-Za-z0-9._-], 1-64), CKA_VALUE = the policy (TOML text). */
#define CKO_KMSBRIDGE_ACCESS_POINT 0xCB420003UL

#define CKA_KMSBRIDGE_DESCRIPTION       0xCB420013UL /* UTF-8 */
#define CKA_KMSBRIDGE_CREDENTIALS       0xCB420014UL /* read-only TOML: [[credential]] id, not_before, not_after, created, failures, locked */
#define CKA_KMSBRIDGE_CREDENTIAL_ADD    0xCB420015UL /* set-only: a client key kb1.<id>.<secret>; hashed, never kept */
#define CKA_KMSBRIDGE_NOT_BEFORE        0xCB420016UL /* CK_ULONG unix seconds, with CREDENTIAL_ADD; 0 none */
#define CKA_KMSBRIDGE_NOT_AFTER         0xCB420017UL /* CK_ULONG unix seconds, with CREDENTIAL_ADD; 0 none */
#define CKA_KMSBRIDGE_CREDENTIAL_REVOKE 0xCB420018UL /* set-only: a credential id (16 hex digits) */
#define CKA_KMSBRIDGE_CREDENTIAL_UNLOCK 0xCB420019UL /* set-only: a credential id, clears its wrong-key count */
#define CKA_KMSBRIDGE_CONFIGURED        0xCB42001AUL /* CK_BBOOL, read-only: defined in the configuration file */

/* CKA_APPLICATION of access point records and wrong-key markers on a backend token. */
#define KMSBRIDGE_ACCESS_APPLICATION  "kmsbridge.aap"
#define KMSBRIDGE_LOCKOUT_APPLICATION "kmsbridge.lockout"

/* Secrets (docs/SECRETS.md): each secret is a CKO_DATA object, CKA_APPLICATION
 * KMSBRIDGE_SECRET_APPLICATION, CKA_LABEL = its name, CKA_VALUE = the ACSCurrent value
 * (or the value of the version the object selects). */
#define KMSBRIDGE_SECRET_APPLICATION "kmsbridge.secret"
/* CKA_APPLICATION of the hidden records that hold them on a backend token. */
#define KMSBRIDGE_SECRET_RECORD_APPLICATION "kmsbridge.secretrec"
#define CKA_KMSBRIDGE_SECRET_VERSION_ID      0xCB420030UL /* UTF-8: the object's version id; in a find or C_CreateObject: which version */
#define CKA_KMSBRIDGE_SECRET_STAGES          0xCB420031UL /* UTF-8, read: the version's stages, one per line; C_CreateObject: the new version's stages */
#define CKA_KMSBRIDGE_SECRET_STAGE           0xCB420032UL /* UTF-8: the stage the object follows; in a find: select that stage; set: a stage to move */
#define CKA_KMSBRIDGE_SECRET_MOVE_TO         0xCB420033UL /* set-only UTF-8: the version a moved stage goes to (empty: remove it) */
#define CKA_KMSBRIDGE_SECRET_REMOVE_FROM     0xCB420034UL /* set-only UTF-8: the version a moved stage leaves */
#define CKA_KMSBRIDGE_SECRET_TYPE            0xCB420035UL /* UTF-8: generic, database-credential or ssh-key */
#define CKA_KMSBRIDGE_SECRET_INFO            0xCB420036UL /* read-only JSON: the secret's metadata and versions, no values */
#define CKA_KMSBRIDGE_SECRET_KMS_KEY         0xCB420037UL /* UTF-8: the wrapping KMS key id (hex); empty: the default key */
#define CKA_KMSBRIDGE_SECRET_GENERATION      0xCB420038UL /* JSON: how rotation generates a generic value */
#define CKA_KMSBRIDGE_SECRET_ROTATION_DAYS   0xCB420039UL /* CK_ULONG: rotation interval in days, 0 off */
#define CKA_KMSBRIDGE_SECRET_ROTATION        0xCB42003AUL /* set-only UTF-8: "ok" finishes the rotation in flight; "failed <step>: <reason>" records its failure */
#define CKA_KMSBRIDGE_SECRET_RESTORE         0xCB42003BUL /* set-only CK_BBOOL true: cancel a scheduled deletion */
#define CKA_KMSBRIDGE_SECRET_NEW             0xCB42003CUL /* C_CreateObject CK_BBOOL true: create only, refuse an existing name */

#endif /* KMSBRIDGE_H */
