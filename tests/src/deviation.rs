//! Recorded differences between SoftHSM2 2.6 and what kmsbridge must answer.
//! Every entry is asserted by a case (the SoftHSM2 answer on the direct target,
//! the spec's on the bridge, or for a [`Bridge::Forwarded`] entry kmsbridge's
//! recorded answer on the hardware instance, named in the run) and listed in
//! `tests/DEVIATIONS.md` under its id.

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SoftHSM2 answers something the PKCS#11 spec does not allow.
    Spec,
    /// SoftHSM2 is within the spec but lacks something kmsbridge must provide
    /// (a mechanism, an interface, information it may withhold).
    Limitation,
}

/// What kmsbridge's hardware instance over SoftHSM2 does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bridge {
    /// kmsbridge answers the spec: the bridge run asserts the spec.
    Mended,
    /// kmsbridge cannot mend it over SoftHSM2 2.6: the bridge run asserts kmsbridge's
    /// recorded answer, prints `deviation SH-nn forwarded by kmsbridge`, and the case
    /// runs as `conformance_bridge::forwarded_shNN::<case>` so it is not counted as
    /// a spec pass. The software instance must still follow the spec.
    Forwarded,
}

/// One recorded difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deviation {
    /// Stable id, as in `tests/DEVIATIONS.md`.
    pub id: &'static str,
    /// Kind of difference.
    pub kind: Kind,
    /// What kmsbridge does about it over SoftHSM2.
    pub bridge: Bridge,
    /// One line: what SoftHSM2 does, and what the spec (or kmsbridge) says.
    pub summary: &'static str,
}

macro_rules! deviations {
    ($($name:ident = $id:literal, $kind:ident, $bridge:ident, $summary:literal;)*) => {
        $(
            #[doc = $summary]
            pub const $name: Deviation = Deviation {
                id: $id,
                kind: Kind::$kind,
                bridge: Bridge::$bridge,
                summary: $summary,
            };
        )*
        /// Every recorded difference.
        pub const ALL: &[Deviation] = &[$($name),*];
    };
}

deviations! {
    HASHED_ECDSA = "SH-01", Limitation, Mended,
        "SoftHSM2 2.6 offers only raw CKM_ECDSA; CKM_ECDSA_SHA1/224/256/384/512 answer \
         CKR_MECHANISM_INVALID. kmsbridge hashes in-module and must offer them.";
    SESSION_COUNTS = "SH-02", Limitation, Mended,
        "SoftHSM2 reports ulSessionCount/ulRwSessionCount as CK_UNAVAILABLE_INFORMATION. \
         kmsbridge must report the real counts of front sessions.";
    NO_INTERFACES = "SH-03", Limitation, Mended,
        "SoftHSM2 2.6 exports no C_GetInterfaceList/C_GetInterface (PKCS#11 2.40 only). \
         kmsbridge must offer the \"PKCS 11\" 2.40 and 3.0 interfaces.";
    KEY_HANDLE_CODE = "SH-04", Spec, Mended,
        "C_EncryptInit, C_DecryptInit, C_SignInit, C_VerifyInit and C_DeriveKey with a key \
         handle that does not exist answer CKR_OBJECT_HANDLE_INVALID, the four Inits given a \
         data object CKR_KEY_FUNCTION_NOT_PERMITTED, C_WrapKey given a data object to wrap \
         CKR_KEY_UNEXTRACTABLE; the spec's code is CKR_KEY_HANDLE_INVALID.";
    MECH_PARAM_CODE = "SH-05", Spec, Mended,
        "Malformed mechanism parameters answer CKR_MECHANISM_INVALID (CBC with a 3-byte IV), \
         CKR_ARGUMENTS_BAD (CBC-PAD without IV, GCM with ulTagBits 129, bad PSS/OAEP hash or \
         MGF) or are accepted (a parameter for AES-ECB, RSA-PKCS, ECDSA, HMAC) instead of \
         CKR_MECHANISM_PARAM_INVALID.";
    OP_ACTIVE_AFTER_ERROR = "SH-06", Spec, Mended,
        "C_Encrypt/C_Sign with a NULL length pointer answer CKR_ARGUMENTS_BAD but leave the \
         operation active; the spec ends the operation on every answer but CKR_OK (length query) \
         and CKR_BUFFER_TOO_SMALL.";
    DECRYPT_FAILURE_CODE = "SH-07", Spec, Mended,
        "Decryption of invalid ciphertext (AES-GCM with a wrong tag, CBC-PAD with bad padding, \
         RSA-OAEP tampered) answers CKR_GENERAL_ERROR instead of CKR_ENCRYPTED_DATA_INVALID.";
    RSA_DATA_LEN = "SH-08", Spec, Mended,
        "RSA input longer than the padding allows (CKM_RSA_PKCS sign, OAEP encrypt) answers \
         CKR_GENERAL_ERROR instead of CKR_DATA_LEN_RANGE.";
    KEY_VALUE_LEN = "SH-09", Spec, Mended,
        "C_CreateObject accepts a CKK_AES key whose CKA_VALUE is 15 bytes and a CKK_DES3 key of \
         16 bytes; AES keys are 16, 24 or 32 bytes, DES3 keys 24, and the spec's answer is \
         CKR_ATTRIBUTE_VALUE_INVALID.";
    LOGOUT_NOT_LOGGED_IN = "SH-10", Spec, Mended,
        "C_Logout when nobody is logged in answers CKR_OK instead of CKR_USER_NOT_LOGGED_IN.";
    KWP_LENGTH = "SH-11", Spec, Forwarded,
        "C_WrapKey with CKM_AES_KEY_WRAP_PAD writes the padded length, not the key length, into \
         the RFC 5649 integrity block for keys that are not a multiple of 8 bytes: the blob is \
         not RFC 5649 and unwraps (anywhere) to a zero-padded, longer key. Unwrap is correct.";
    UNWRAPPED_VALUE_LEN = "SH-12", Spec, Mended,
        "Secret keys made by C_UnwrapKey (RSA-OAEP, AES key wrap) answer CKA_VALUE_LEN 0, not \
         their length. kmsbridge answers the length (from the blob, the readable value's \
         length, or a KMS key's record).";
    UNWRAP_FAILURE_CODE = "SH-13", Spec, Mended,
        "C_UnwrapKey of a blob that does not decrypt (RSA-OAEP, AES key wrap) answers \
         CKR_GENERAL_ERROR instead of CKR_WRAPPED_KEY_INVALID (CKR_WRAPPED_KEY_LEN_RANGE for an \
         RSA blob that is not the modulus length).";
    OAEP_NO_SOURCE = "SH-14", Spec, Mended,
        "C_UnwrapKey with CKM_RSA_PKCS_OAEP whose CK_RSA_PKCS_OAEP_PARAMS.source is 0 with no \
         label answers CKR_ARGUMENTS_BAD (SoftHSM2 wants CKZ_DATA_SPECIFIED); kmsbridge accepts \
         it as no label.";
    ARGS_BEFORE_SESSION = "SH-15", Spec, Mended,
        "C_EncryptInit, C_DecryptInit, C_DigestInit, C_SignInit, C_VerifyInit, C_GenerateKey, \
         C_GenerateKeyPair, C_WrapKey, C_UnwrapKey and C_DeriveKey with a NULL mechanism on a \
         session that does not exist answer CKR_ARGUMENTS_BAD; session codes take precedence \
         (PKCS#11 3.0 5.1.7): CKR_SESSION_HANDLE_INVALID.";
    KEY_TYPE_UNCHECKED = "SH-16", Spec, Mended,
        "C_SignInit with CKM_ECDSA and an AES key answers CKR_OK; the key's type does not fit \
         the mechanism: CKR_KEY_TYPE_INCONSISTENT.";
    EC_PARAMS_CODE = "SH-17", Spec, Mended,
        "C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN) with a CKA_EC_PARAMS that is not a curve \
         identifier, or names no curve it offers, answers CKR_GENERAL_ERROR instead of \
         CKR_ATTRIBUTE_VALUE_INVALID / CKR_CURVE_NOT_SUPPORTED.";
    ATTR_LEN_CODE = "SH-18", Spec, Mended,
        "C_CreateObject with a 1-byte CKA_CLASS answers CKR_TEMPLATE_INCOMPLETE; a value whose \
         length does not fit the attribute's type is CKR_ATTRIBUTE_VALUE_INVALID.";
    DIGEST_KEY_KEEPS_OP = "SH-19", Spec, Mended,
        "C_DigestKey with a key handle that does not exist answers CKR_KEY_HANDLE_INVALID but \
         leaves the digest active; the spec ends an operation on every error but \
         CKR_BUFFER_TOO_SMALL.";
    PROCESS_EXIT = "SH-20", Spec, Mended,
        "C_Encrypt(CKM_RSA_X_509) of more bytes than the modulus and C_EncryptInit/\
         C_DecryptInit(CKM_AES_GCM) with a NULL pIv end the calling process inside SoftHSM2 \
         (abort, SIGSEGV); the spec's answers are CKR_DATA_LEN_RANGE and \
         CKR_MECHANISM_PARAM_INVALID. The direct target does not run these rows.";
}

#[cfg(test)]
mod tests {
    use super::ALL;

    #[test]
    fn every_deviation_is_documented_once() {
        let doc = include_str!("../DEVIATIONS.md");
        for d in ALL {
            let heading = format!("## {}", d.id);
            assert_eq!(
                doc.matches(&heading).count(),
                1,
                "tests/DEVIATIONS.md must have exactly one section `{heading}`"
            );
        }
        for d in ALL {
            let section = doc.split(&format!("## {}\n", d.id)).nth(1).unwrap_or("");
            let section = section.split("\n## ").next().unwrap_or("");
            let says = section.contains("**Forwarded by kmsbridge.**");
            assert_eq!(
                says,
                d.bridge == super::Bridge::Forwarded,
                "tests/DEVIATIONS.md {}: \"**Forwarded by kmsbridge.**\" must be there exactly \
                 when the code records the deviation as forwarded",
                d.id
            );
        }
        let ids: std::collections::BTreeSet<_> = ALL.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), ALL.len(), "deviation ids must be unique");
        assert_eq!(
            doc.matches("\n## SH-").count(),
            ALL.len(),
            "tests/DEVIATIONS.md lists a deviation the code does not know"
        );
    }
}
