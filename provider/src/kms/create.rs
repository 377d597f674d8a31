//! Making KMS keys: a record of origin KMS (material generated inside the
//! instance) or EXTERNAL (material to be imported), and the default key.

use super::host::Host;
use super::ids::split_version;
use super::record::{KeyRecord, Origin, State};
use super::registry::Stored;
use crate::error::{rule, Result};
use crate::hidden_objects;
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::{attr, Attr, Mechanism, ObjectId};

/// CKA_ID of the instance's default key.
pub(crate) const DEFAULT_KEY_ID: &[u8] = b"kmsbridge.default";
const DEFAULT_ALIAS: &str = "kmsbridge-default";

/// DER OIDs of the curves a KMS key may use.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

fn ulong_of(t: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Result<Option<CK_ULONG>> {
    match attr::find(t, ty) {
        None => Ok(None),
        Some(a) => match a.as_ulong() {
            Some(v) => Ok(Some(v)),
            None => rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "a CK_ULONG attribute of bad length",
            ),
        },
    }
}

/// C_CreateObject of a CKO_KMSBRIDGE_KEY: returns the record's backend object.
pub(crate) fn create_record(inst: &dyn Host, t: &[Attr]) -> Result<ObjectId> {
    for a in t {
        match a.ty {
            CKA_CLASS | CKA_ID | CKA_LABEL | CKA_KEY_TYPE | CKA_VALUE_LEN | CKA_MODULUS_BITS
            | CKA_EC_PARAMS | CKA_KMSBRIDGE_ORIGIN => {}
            CKA_TOKEN | CKA_PRIVATE if a.as_bool() == Some(true) => {}
            CKA_TOKEN | CKA_PRIVATE => {
                return rule(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "key records are private token objects",
                )
            }
            _ => {
                return rule(
                    CKR_ATTRIBUTE_TYPE_INVALID,
                    "not an attribute of a key record",
                )
            }
        }
    }
    let origin = match ulong_of(t, CKA_KMSBRIDGE_ORIGIN)?.unwrap_or(KMSBRIDGE_ORIGIN_KMS) {
        KMSBRIDGE_ORIGIN_KMS => Origin::Kms,
        KMSBRIDGE_ORIGIN_EXTERNAL => Origin::External,
        _ => return rule(CKR_ATTRIBUTE_VALUE_INVALID, "unknown origin"),
    };
    let Some(key_type) = ulong_of(t, CKA_KEY_TYPE)? else {
        return rule(CKR_TEMPLATE_INCOMPLETE, "a key record needs CKA_KEY_TYPE");
    };
    let (class, size, ec_params) = match key_type {
        CKK_AES => {
            let n = ulong_of(t, CKA_VALUE_LEN)?.unwrap_or(32);
            if ![16, 24, 32].contains(&n) {
                return rule(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "AES keys are 16, 24 or 32 bytes",
                );
            }
            (CKO_SECRET_KEY, n, Vec::new())
        }
        CKK_RSA => {
            let n = ulong_of(t, CKA_MODULUS_BITS)?.unwrap_or(2048);
            if ![2048, 3072, 4096].contains(&n) {
                return rule(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "RSA keys are 2048, 3072 or 4096 bits",
                );
            }
            (CKO_PRIVATE_KEY, n, Vec::new())
        }
        CKK_EC => {
            let p = attr::find(t, CKA_EC_PARAMS).map(|a| a.value.to_vec());
            match p {
                Some(p) if p == P256 || p == P384 => (CKO_PRIVATE_KEY, 0, p),
                Some(_) => return rule(CKR_ATTRIBUTE_VALUE_INVALID, "EC keys are P-256 or P-384"),
                None => {
                    return rule(
                        CKR_TEMPLATE_INCOMPLETE,
                        "an EC key record needs CKA_EC_PARAMS",
                    )
                }
            }
        }
        _ => return rule(CKR_ATTRIBUTE_VALUE_INVALID, "KMS keys are AES, RSA or EC"),
    };
    let id = match attr::find(t, CKA_ID) {
        Some(a) if !a.value.is_empty() && a.value.len() <= 128 => a.value.to_vec(),
        Some(_) => return rule(CKR_ATTRIBUTE_VALUE_INVALID, "key ids are 1 to 128 bytes"),
        None => {
            let mut id = vec![0u8; 16];
            inst.backend().random(&mut id)?;
            id
        }
    };
    if id.starts_with(b"kmsbridge.") || split_version(&id).1.is_some() {
        return rule(CKR_ATTRIBUTE_VALUE_INVALID, "key id reserved by kmsbridge");
    }
    let alias = match attr::find(t, CKA_LABEL) {
        Some(a) => String::from_utf8(a.value.to_vec())
            .or(rule(CKR_ATTRIBUTE_VALUE_INVALID, "aliases are UTF-8"))?,
        None => String::new(),
    };
    let state = if origin == Origin::Kms {
        State::Enabled
    } else {
        State::PendingImport
    };
    let rec = KeyRecord {
        class,
        key_type,
        size,
        ec_params: hex::encode(&ec_params),
        ..KeyRecord::new(&id, alias, origin, state)
    };
    make(inst, rec)
}

fn make(inst: &dyn Host, rec: KeyRecord) -> Result<ObjectId> {
    let id = rec.id_bytes();
    if inst.kms().by_id(inst, &id).is_some()
        || !inst.backend().find(&[Attr::new(CKA_ID, id)])?.is_empty()
    {
        return rule(CKR_ATTRIBUTE_VALUE_INVALID, "a key with this id exists");
    }
    if rec.origin == Origin::Kms {
        generate_material(inst, &rec, &rec.id_bytes(), &rec.alias)?;
    }
    inst.kms().save(inst, &rec)
}

fn secret_usage(t: &mut Vec<Attr>) {
    for ty in [CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP] {
        t.push(Attr::bool(ty, true));
    }
}

/// Generate a KMS key's material (a new version when rotating): token, private,
/// sensitive, not extractable.
pub(crate) fn generate_material(
    inst: &dyn Host,
    rec: &KeyRecord,
    id: &[u8],
    label: &str,
) -> Result<ObjectId> {
    let mut private = vec![
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_EXTRACTABLE, false),
        Attr::new(CKA_ID, id.to_vec()),
        Attr::new(CKA_LABEL, label.as_bytes().to_vec()),
    ];
    let mut public = vec![
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, false),
        Attr::new(CKA_ID, id.to_vec()),
        Attr::new(CKA_LABEL, label.as_bytes().to_vec()),
        Attr::bool(CKA_VERIFY, true),
    ];
    match rec.key_type {
        CKK_AES => {
            private.extend([
                Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attr::ulong(CKA_KEY_TYPE, CKK_AES),
                Attr::ulong(CKA_VALUE_LEN, rec.size),
            ]);
            secret_usage(&mut private);
            Ok(inst
                .backend()
                .generate_key(&Mechanism::simple(CKM_AES_KEY_GEN), &private)?)
        }
        CKK_RSA => {
            private.extend([
                Attr::bool(CKA_SIGN, true),
                Attr::bool(CKA_DECRYPT, true),
                Attr::bool(CKA_UNWRAP, true),
            ]);
            public.extend([
                Attr::ulong(CKA_MODULUS_BITS, rec.size),
                Attr::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
                Attr::bool(CKA_ENCRYPT, true),
                Attr::bool(CKA_WRAP, true),
            ]);
            let m = Mechanism::simple(CKM_RSA_PKCS_KEY_PAIR_GEN);
            Ok(inst.backend().generate_key_pair(&m, &public, &private)?.1)
        }
        CKK_EC => {
            private.push(Attr::bool(CKA_SIGN, true));
            public.push(Attr::new(
                CKA_EC_PARAMS,
                hex::decode(&rec.ec_params).unwrap_or_default(),
            ));
            let m = Mechanism::simple(CKM_EC_KEY_PAIR_GEN);
            Ok(inst.backend().generate_key_pair(&m, &public, &private)?.1)
        }
        _ => rule(CKR_KEY_TYPE_INCONSISTENT, "KMS keys are AES, RSA or EC"),
    }
}

/// The instance's default key, made on first need. Processes that need it first at
/// the same moment each write a claim; after a pause every one of them reads the
/// same winner (records of equal revision order by claim), and only the winner
/// makes the key, so there is never more than one.
pub(crate) fn default_key(inst: &dyn Host) -> Result<Stored> {
    let existing = inst.kms().all(inst).into_iter().find(|s| s.rec.default);
    let stored = match existing {
        Some(s) => s,
        None => claim_default(inst)?,
    };
    // The maker may still be generating the key: wait for it, boundedly.
    for _ in 0..50 {
        let found = inst.backend().find(&[
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::new(CKA_ID, DEFAULT_KEY_ID.to_vec()),
        ])?;
        if !found.is_empty() {
            return Ok(stored);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    rule(CKR_DEVICE_ERROR, "the default key's maker did not finish")
}

fn claim_default(inst: &dyn Host) -> Result<Stored> {
    let mut nonce = [0u8; 16];
    inst.backend().random(&mut nonce)?;
    let mine = hex::encode(nonce);
    let rec = KeyRecord {
        default: true,
        claim: mine.clone(),
        ..KeyRecord::new(
            DEFAULT_KEY_ID,
            DEFAULT_ALIAS.into(),
            Origin::Kms,
            State::Enabled,
        )
    };
    inst.kms().save(inst, &rec)?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    settle(inst)?;
    let winner = inst
        .kms()
        .all(inst)
        .into_iter()
        .find(|s| s.rec.default)
        .ok_or(crate::error::Error::Rule {
            rv: CKR_GENERAL_ERROR,
            why: "default key record vanished",
        })?;
    if winner.rec.claim == mine {
        tracing::info!(instance = %inst.name(), "making the instance's default key");
        generate_material(inst, &winner.rec, DEFAULT_KEY_ID, DEFAULT_ALIAS)?;
    }
    Ok(winner)
}

/// Make every claimant's view whole before the winner is read. A store may miss an
/// object another process made in the instant before its own write, and stay blind
/// to it until someone writes again: SoftHSM2's file store does (its token counter
/// takes the other process's change for its own). So each claimant writes twice more
/// at random moments (≤ 0.2 s), and reads only once every claimant has stopped
/// writing (claims are near-simultaneous: a later one would have seen the first).
/// The winner's key is then made after every loser's last write, so no loser can
/// miss it either.
fn settle(inst: &dyn Host) -> Result<()> {
    for _ in 0..2 {
        let mut r = [0u8; 1];
        inst.backend().random(&mut r)?;
        std::thread::sleep(std::time::Duration::from_millis(
            u64::from(r[0]) * 100 / 255,
        ));
        let mut mark = [0u8; 16];
        inst.backend().random(&mut mark)?;
        let mut t = hidden_objects::template(META_APPLICATION, Some(NUDGE_LABEL));
        t.extend([
            Attr::bool(CKA_TOKEN, true),
            Attr::bool(CKA_PRIVATE, true),
            Attr::new(CKA_VALUE, mark.to_vec()),
        ]);
        let id = inst.backend().create_object(&t)?;
        if let Err(e) = inst.backend().destroy_object(id) {
            // SoftHSM2 may answer OBJECT_HANDLE_INVALID or FUNCTION_FAILED for an
            // object just made when another process wrote in between (its handle
            // went stale in the reload): find the nudge again by its mark. One left
            // behind is harmless, and the write it was for has happened.
            tracing::debug!("the nudge's destroy failed ({e}); finding it again");
            for again in inst.backend().find(&t).unwrap_or_default() {
                let _ = inst.backend().destroy_object(again);
            }
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    Ok(())
}

/// Label of the short-lived object `settle` writes.
const NUDGE_LABEL: &str = "kmsbridge.nudge";
