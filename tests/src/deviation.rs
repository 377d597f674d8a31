//! Recorded differences between SoftHSM2 2.6 and what kmsbridge must answer.
//! Every entry is asserted by a case (the SoftHSM2 answer on the direct target,
//! the spec's on the bridge) and listed in `tests/DEVIATIONS.md` under its id.

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SoftHSM2 answers something the PKCS#11 spec does not allow.
    Spec,
    /// SoftHSM2 is within the spec but lacks something kmsbridge must provide
    /// (a mechanism, an interface, information it may withhold).
    Limitation,
}

/// One recorded difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deviation {
    /// Stable id, as in `tests/DEVIATIONS.md`.
    pub id: &'static str,
    /// Kind of difference.
    pub kind: Kind,
    /// One line: what SoftHSM2 does, and what the spec (or kmsbridge) says.
    pub summary: &'static str,
}

macro_rules! deviations {
    ($($name:ident = $id:literal, $kind:ident, $summary:literal;)*) => {
        $(
            #[doc = $summary]
            pub const $name: Deviation = Deviation {
                id: $id,
                kind: Kind::$kind,
                summary: $summary,
            };
        )*
        /// Every recorded difference.
        pub const ALL: &[Deviation] = &[$($name),*];
    };
}

deviations! {
    HASHED_ECDSA = "SH-01", Limitation,
        "SoftHSM2 2.6 offers only raw CKM_ECDSA; CKM_ECDSA_SHA1/224/256/384/512 answer \
         CKR_MECHANISM_INVALID. kmsbridge hashes in-module and must offer them.";
    SESSION_COUNTS = "SH-02", Limitation,
        "SoftHSM2 reports ulSessionCount/ulRwSessionCount as CK_UNAVAILABLE_INFORMATION. \
         kmsbridge must report the real counts of front sessions.";
    NO_INTERFACES = "SH-03", Limitation,
        "SoftHSM2 2.6 exports no C_GetInterfaceList/C_GetInterface (PKCS#11 2.40 only). \
         kmsbridge must offer the \"PKCS 11\" 2.40 and 3.0 interfaces.";
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
        let ids: std::collections::BTreeSet<_> = ALL.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), ALL.len(), "deviation ids must be unique");
        assert_eq!(
            doc.matches("\n## SH-").count(),
            ALL.len(),
            "tests/DEVIATIONS.md lists a deviation the code does not know"
        );
    }
}
