//! A KMS key's record: what PKCS#11 attributes cannot hold (origin, state, dates,
//! versions, the material check), kept in the instance as a hidden data object so
//! every process using the instance reads the same truth.

use super::token::Token;
use crate::error::{Error, Result};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::{AttrReq, ObjectId};
use serde::{Deserialize, Serialize};

/// Now, in the unix seconds a record's dates use.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Origin {
    Kms,
    External,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
}

impl State {
    pub(crate) fn code(self) -> CK_ULONG {
        match self {
            State::Enabled => KMSBRIDGE_STATE_ENABLED,
            State::Disabled => KMSBRIDGE_STATE_DISABLED,
            State::PendingDeletion => KMSBRIDGE_STATE_PENDING_DELETION,
            State::PendingImport => KMSBRIDGE_STATE_PENDING_IMPORT,
        }
    }
    pub(crate) fn from_code(v: CK_ULONG) -> Option<State> {
        Some(match v {
            KMSBRIDGE_STATE_ENABLED => State::Enabled,
            KMSBRIDGE_STATE_DISABLED => State::Disabled,
            KMSBRIDGE_STATE_PENDING_DELETION => State::PendingDeletion,
            KMSBRIDGE_STATE_PENDING_IMPORT => State::PendingImport,
            _ => return None,
        })
    }
}

impl Origin {
    pub(crate) fn code(self) -> CK_ULONG {
        match self {
            Origin::Kms => KMSBRIDGE_ORIGIN_KMS,
            Origin::External => KMSBRIDGE_ORIGIN_EXTERNAL,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// The key id (CKA_ID), hex.
    pub(crate) id: String,
    pub(crate) alias: String,
    pub(crate) origin: Origin,
    pub(crate) state: State,
    pub(crate) class: CK_ULONG,
    pub(crate) key_type: CK_ULONG,
    /// AES: bytes; RSA: modulus bits.
    #[serde(default)]
    pub(crate) size: CK_ULONG,
    /// EC: CKA_EC_PARAMS, hex.
    #[serde(default)]
    pub(crate) ec_params: String,
    pub(crate) created: u64,
    /// Unix seconds; 0 = none.
    #[serde(default)]
    pub(crate) deletion_date: u64,
    #[serde(default)]
    pub(crate) material_expiry: u64,
    pub(crate) primary_version: CK_ULONG,
    #[serde(default)]
    pub(crate) default: bool,
    /// Salt and salted check value of imported material (hex), for re-import.
    #[serde(default)]
    pub(crate) check_salt: String,
    #[serde(default)]
    pub(crate) check: String,
    /// Material was imported once: later imports must bring the same.
    #[serde(default)]
    pub(crate) imported: bool,
    /// Bumped by every write; a reader that meets two copies (a writer between
    /// making the new and destroying the old) takes the higher.
    #[serde(default)]
    pub(crate) rev: u64,
    /// A writer's random nonce: breaks ties between copies of equal `rev` the same
    /// way in every process (the default key's first making relies on it).
    #[serde(default)]
    pub(crate) claim: String,
}

impl KeyRecord {
    /// A record of version 1 made now, with nothing scheduled or imported yet.
    pub(crate) fn new(id: &[u8], alias: String, origin: Origin, state: State) -> KeyRecord {
        KeyRecord {
            id: hex::encode(id),
            alias,
            origin,
            state,
            class: CKO_SECRET_KEY,
            key_type: CKK_AES,
            size: 32,
            ec_params: String::new(),
            created: unix_now(),
            deletion_date: 0,
            material_expiry: 0,
            primary_version: 1,
            default: false,
            check_salt: String::new(),
            check: String::new(),
            imported: false,
            rev: 0,
            claim: String::new(),
        }
    }

    /// Of two copies of one record, the one every process keeps.
    pub(crate) fn supersedes(&self, other: &KeyRecord) -> bool {
        (self.rev, &self.claim) > (other.rev, &other.claim)
    }
}

impl KeyRecord {
    pub(crate) fn id_bytes(&self) -> Vec<u8> {
        hex::decode(&self.id).unwrap_or_default()
    }

    /// Enabled, and its material (if imported with an expiry) not expired.
    pub(crate) fn usable(&self, now: u64) -> bool {
        self.state == State::Enabled && !self.expired(now)
    }

    pub(crate) fn expired(&self, now: u64) -> bool {
        self.material_expiry != 0 && now >= self.material_expiry
    }

    /// The state as applications see it now: expired material is PendingImport.
    pub(crate) fn effective_state(&self, now: u64) -> State {
        if self.state == State::Enabled && self.expired(now) {
            State::PendingImport
        } else {
            self.state
        }
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        toml::to_string(self)
            .map(String::into_bytes)
            .map_err(|e| Error::Config(format!("key record: {e}")))
    }

    pub(crate) fn decode(v: &[u8]) -> Option<KeyRecord> {
        toml::from_str(std::str::from_utf8(v).ok()?).ok()
    }
}

/// Read a few attributes of an object (values up to 1 KiB); `None` where absent.
pub(crate) fn read_attrs<const N: usize>(
    inst: &dyn Token,
    obj: ObjectId,
    tys: &[CK_ATTRIBUTE_TYPE; N],
) -> Result<[Option<Vec<u8>>; N]> {
    let mut reqs = tys.map(|t| AttrReq::new(t, Some(1024)));
    inst.backend().get_attributes(obj, &mut reqs)?;
    Ok(reqs.map(|r| r.value().map(<[u8]>::to_vec)))
}

pub(crate) fn as_ulong(v: &Option<Vec<u8>>) -> Option<CK_ULONG> {
    let b: [u8; std::mem::size_of::<CK_ULONG>()] = v.as_deref()?.try_into().ok()?;
    Some(CK_ULONG::from_ne_bytes(b))
}
