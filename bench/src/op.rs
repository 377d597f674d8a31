//! What the bench measures: the operations, and the targets they run on.

/// One measured PKCS#11 operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    AesGcm,
    AesCbc,
    RsaSign,
    EcdsaSign,
    Hmac,
    Random,
    Session,
}

pub const ALL_OPS: [Op; 7] = [
    Op::AesGcm,
    Op::AesCbc,
    Op::RsaSign,
    Op::EcdsaSign,
    Op::Hmac,
    Op::Random,
    Op::Session,
];

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::AesGcm => "aes-gcm",
            Op::AesCbc => "aes-cbc",
            Op::RsaSign => "rsa-sign",
            Op::EcdsaSign => "ecdsa-sign",
            Op::Hmac => "hmac",
            Op::Random => "random",
            Op::Session => "session",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            Op::AesGcm => "AES-256-GCM encrypt, 1 KiB, 12-byte IV, 128-bit tag (CKM_AES_GCM)",
            Op::AesCbc => "AES-256-CBC encrypt, 1 KiB, 16-byte IV, no padding (CKM_AES_CBC)",
            Op::RsaSign => {
                "RSA-2048 PKCS#1 v1.5 sign of a SHA-256 DigestInfo (CKM_RSA_PKCS, 51 bytes in)"
            }
            Op::EcdsaSign => "ECDSA P-256 sign of a 32-byte hash (CKM_ECDSA)",
            Op::Hmac => "HMAC-SHA256 of 1 KiB, 32-byte key (CKM_SHA256_HMAC)",
            Op::Random => "C_GenerateRandom, 32 bytes",
            Op::Session => "C_OpenSession (R/O) + C_CloseSession",
        }
    }
    pub fn parse(s: &str) -> Result<Op, String> {
        ALL_OPS
            .iter()
            .copied()
            .find(|o| o.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown op {s:?}; known: {}",
                    ALL_OPS
                        .iter()
                        .map(|o| o.name())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
    }
}

/// Where an operation runs: SoftHSM2 direct, kmsbridge bridged to that SoftHSM2 token,
/// kmsbridge's software instance (the user PIN: the default access point, no policy),
/// that same instance logged in as an access point held to a policy, or a software
/// instance with neither access points nor an audit trail (`software-bare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Direct,
    Bridge,
    Software,
    SoftwareAp,
    SoftwareBare,
}

/// The default targets (`software-ap` is asked for by name: docs/BENCHMARKS.md).
pub const ALL_TARGETS: [Target; 3] = [Target::Direct, Target::Bridge, Target::Software];

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Bridge => "bridge",
            Target::Software => "software",
            Target::SoftwareAp => "software-ap",
            Target::SoftwareBare => "software-bare",
        }
    }
    pub fn parse(s: &str) -> Result<Target, String> {
        match s {
            "direct" => Ok(Target::Direct),
            "bridge" => Ok(Target::Bridge),
            "software" => Ok(Target::Software),
            "software-ap" => Ok(Target::SoftwareAp),
            "software-bare" => Ok(Target::SoftwareBare),
            _ => Err(format!(
                "unknown target {s:?}; known: direct,bridge,software,software-ap,software-bare"
            )),
        }
    }
    /// (module, token label, user PIN) environment variable names, as printed by
    /// `ci/softhsm/setup` (for `software`, by `ci/softhsm/setup --software`: the parent
    /// runs that target's children in the software rig's environment).
    /// Whether the target runs on the software rig.
    pub fn software(self) -> bool {
        matches!(
            self,
            Target::Software | Target::SoftwareAp | Target::SoftwareBare
        )
    }

    pub fn env_names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Target::Direct => (
                "SOFTHSM2_MODULE",
                "SOFTHSM2_TOKEN_LABEL",
                "SOFTHSM2_USER_PIN",
            ),
            Target::Bridge | Target::Software | Target::SoftwareAp | Target::SoftwareBare => (
                "KMSBRIDGE_MODULE",
                "KMSBRIDGE_TOKEN_LABEL",
                "KMSBRIDGE_USER_PIN",
            ),
        }
    }
}
