//! BYOK import (docs/KEYS.md, Import): import parameters (a fresh RSA wrapping key
//! pair and a single-use token bound to one key id) and the import itself through
//! C_UnwrapKey, with the material compared on re-import by a salted check value.

use super::host::Host;
use super::ids::{self, IMPORT_SERVICE_PREFIX};
use super::record::unix_now;
use super::record::{self, as_ulong, read_attrs, Origin, State};
use crate::error::{rule, Error, Result};
use crate::hidden_objects;
use crate::objects::{Kind, ObjEntry};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::{attr, Attr, Mechanism, ObjectId};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Serialize, Deserialize)]
struct ImportRecord {
    /// Target key id, hex.
    key_id: String,
    /// The token's secret part, hex.
    secret: String,
    expiry: u64,
    used: bool,
}

fn load(inst: &dyn Host, svc: &str) -> Result<Option<(ObjectId, ImportRecord)>> {
    // Two copies exist only while a writer replaces one: a spent token wins.
    let mut found: Option<(ObjectId, ImportRecord)> = None;
    for obj in inst
        .backend()
        .find(&hidden_objects::template(IMPORT_APPLICATION, Some(svc)))?
    {
        let v = Zeroizing::new(hidden_objects::read_value(inst.backend(), obj)?);
        let r = std::str::from_utf8(&v)
            .ok()
            .and_then(|s| toml::from_str::<ImportRecord>(s).ok());
        if let Some(r) = r {
            if found.as_ref().is_none_or(|(_, f)| r.used && !f.used) {
                found = Some((obj, r));
            }
        }
    }
    Ok(found)
}

fn store(inst: &dyn Host, svc: &str, r: &ImportRecord) -> Result<()> {
    let v = toml::to_string(r).map_err(|e| Error::Config(format!("import record: {e}")))?;
    hidden_objects::write(
        inst.backend(),
        inst.objects(),
        IMPORT_APPLICATION,
        svc,
        v.into_bytes(),
    )?;
    Ok(())
}

fn refuse<T>(rv: CK_RV, why: &'static str) -> Result<T> {
    tracing::info!("import refused: {why}");
    rule(rv, why)
}

/// C_GenerateKey(CKM_KMSBRIDGE_IMPORT_PARAMETERS): the import wrapping public key.
pub(crate) fn parameters(inst: &dyn Host, t: &[Attr]) -> Result<ObjectId> {
    let Some(id) = attr::find(t, CKA_ID).map(|a| a.value.to_vec()) else {
        return rule(
            CKR_TEMPLATE_INCOMPLETE,
            "import parameters need CKA_ID, the target key id",
        );
    };
    let bits = match attr::find(t, CKA_MODULUS_BITS).map(|a| a.as_ulong()) {
        None => 2048,
        Some(Some(b)) if [2048, 3072, 4096].contains(&b) => b,
        Some(_) => {
            return rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "import wrapping keys are RSA 2048, 3072 or 4096",
            )
        }
    };
    match inst.kms().by_id(inst, &id) {
        Some(s) if s.rec.origin == Origin::External && s.rec.state != State::PendingDeletion => {}
        Some(s) if s.rec.origin == Origin::External => {
            return rule(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "the key is pending deletion",
            )
        }
        _ => {
            return rule(
                CKR_TEMPLATE_INCONSISTENT,
                "import needs a key record of origin EXTERNAL with this id",
            )
        }
    }
    sweep(inst);
    // `kmsbridge.svc.import.<hex>`: IMPORT_SERVICE_PREFIX, which the token names.
    let svc = String::from_utf8_lossy(&ids::service_id(inst.backend(), "import")?).into_owned();
    let label = b"kmsbridge import wrapping key".to_vec();
    let public = [
        Attr::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_RSA),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, false),
        Attr::new(CKA_ID, svc.clone().into_bytes()),
        Attr::new(CKA_LABEL, label.clone()),
        Attr::ulong(CKA_MODULUS_BITS, bits),
        Attr::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
        Attr::bool(CKA_ENCRYPT, true),
        Attr::bool(CKA_WRAP, true),
    ];
    let private = [
        Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_RSA),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_EXTRACTABLE, false),
        Attr::new(CKA_ID, svc.clone().into_bytes()),
        Attr::new(CKA_LABEL, label),
        Attr::bool(CKA_DECRYPT, true),
        Attr::bool(CKA_UNWRAP, true),
    ];
    let m = Mechanism::simple(CKM_RSA_PKCS_KEY_PAIR_GEN);
    let (pu, _) = inst.backend().generate_key_pair(&m, &public, &private)?;
    let mut secret = Zeroizing::new([0u8; 32]);
    inst.backend().random(&mut secret[..])?;
    let r = ImportRecord {
        key_id: hex::encode(&id),
        secret: hex::encode(&secret[..]),
        expiry: unix_now() + inst.import_token_ttl_s(),
        used: false,
    };
    store(inst, &svc, &r)?;
    tracing::info!(key = %r.key_id, bits, "import parameters issued");
    Ok(pu)
}

/// The token and its expiry, read through the import wrapping public key's id.
pub(crate) fn token_of(inst: &dyn Host, svc_id: &[u8]) -> Option<(Vec<u8>, u64)> {
    let svc = std::str::from_utf8(svc_id).ok()?;
    let (_, r) = load(inst, svc).ok()??;
    let suffix = svc.strip_prefix(std::str::from_utf8(IMPORT_SERVICE_PREFIX).ok()?)?;
    Some((format!("{suffix}.{}", r.secret).into_bytes(), r.expiry))
}

/// Destroy import wrapping keys and tokens past their expiry.
fn sweep(inst: &dyn Host) {
    let Ok(objs) = inst
        .backend()
        .find(&hidden_objects::template(IMPORT_APPLICATION, None))
    else {
        return;
    };
    let now = unix_now();
    for obj in objs {
        let Ok([label]) = read_attrs(inst, obj, &[CKA_LABEL]) else {
            continue;
        };
        let Some(label) = label
            .as_ref()
            .and_then(|l| String::from_utf8(l.clone()).ok())
        else {
            continue;
        };
        if let Ok(Some((_, r))) = load(inst, &label) {
            if r.expiry <= now {
                destroy_pair(inst, label.as_bytes());
                let _ = inst.backend().destroy_object(obj);
                inst.objects().forget(obj);
            }
        }
    }
}

fn destroy_pair(inst: &dyn Host, svc: &[u8]) {
    if let Ok(objs) = inst.backend().find(&[Attr::new(CKA_ID, svc.to_vec())]) {
        for o in objs {
            let _ = inst.backend().destroy_object(o);
            inst.objects().forget(o);
        }
    }
}

fn private_of(inst: &dyn Host, svc: &[u8]) -> Result<Option<ObjectId>> {
    Ok(inst
        .backend()
        .find(&[
            Attr::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            Attr::new(CKA_ID, svc.to_vec()),
        ])?
        .first()
        .copied())
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // Constant time in the content: the token is a credential.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const USAGE: [CK_ATTRIBUTE_TYPE; 7] = [
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_DERIVE,
];

/// C_UnwrapKey with an import token: ImportKeyMaterial.
pub(crate) fn import(
    inst: &dyn Host,
    m: &Mechanism,
    unwrapping: &ObjEntry,
    wrapped: &[u8],
    t: &[Attr],
) -> Result<ObjectId> {
    let Some(token) = attr::find(t, CKA_KMSBRIDGE_IMPORT_TOKEN) else {
        return rule(
            CKR_TEMPLATE_INCOMPLETE,
            "an import needs CKA_KMSBRIDGE_IMPORT_TOKEN",
        );
    };
    let token = std::str::from_utf8(&token.value).unwrap_or("");
    let Some((suffix, secret)) = token.split_once('.') else {
        return refuse(CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID, "malformed import token");
    };
    let svc = format!("{}{suffix}", String::from_utf8_lossy(IMPORT_SERVICE_PREFIX));
    let Some((_, mut ir)) = load(inst, &svc)? else {
        return refuse(CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID, "unknown import token");
    };
    if !same(ir.secret.as_bytes(), secret.as_bytes()) {
        return refuse(CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID, "unknown import token");
    }
    let [u_id] = read_attrs(inst, unwrapping.id, &[CKA_ID])?;
    if unwrapping.kind != Kind::ImportPublic || u_id.as_deref() != Some(svc.as_bytes()) {
        return refuse(
            CKR_UNWRAPPING_KEY_HANDLE_INVALID,
            "the unwrapping key is not this token's import wrapping key",
        );
    }
    if unix_now() >= ir.expiry {
        return refuse(
            CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED,
            "the import token has expired",
        );
    }
    if ir.used {
        return refuse(
            CKR_KMSBRIDGE_IMPORT_TOKEN_USED,
            "the import token was used already",
        );
    }
    let key_id = hex::decode(&ir.key_id).unwrap_or_default();
    if attr::find(t, CKA_ID).is_some_and(|a| a.value[..] != key_id[..]) {
        return refuse(
            CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID,
            "the import token was issued for another key id",
        );
    }
    let expiry = match attr::find(t, CKA_KMSBRIDGE_MATERIAL_EXPIRY).map(|a| a.as_ulong()) {
        None | Some(Some(0)) => 0,
        Some(Some(e)) if e > unix_now() => e,
        Some(_) => {
            return rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "the material expiry is in the past",
            )
        }
    };
    let Some(stored) = inst.kms().by_id(inst, &key_id) else {
        return refuse(CKR_TEMPLATE_INCONSISTENT, "the target key record is gone");
    };
    let mut rec = (*stored.rec).clone();
    if rec.origin != Origin::External || rec.state == State::PendingDeletion {
        return refuse(
            CKR_TEMPLATE_INCONSISTENT,
            "the target key does not take imports now",
        );
    }
    match m.ty {
        CKM_RSA_AES_KEY_WRAP => {}
        CKM_RSA_PKCS_OAEP if rec.class == CKO_SECRET_KEY => {}
        CKM_RSA_PKCS_OAEP => {
            return rule(
                CKR_MECHANISM_INVALID,
                "private keys are imported with RSA-AES key wrap",
            )
        }
        _ => {
            return rule(
                CKR_MECHANISM_INVALID,
                "imports use RSA-OAEP or RSA-AES key wrap",
            )
        }
    }
    for (ty, want) in [(CKA_CLASS, rec.class), (CKA_KEY_TYPE, rec.key_type)] {
        if attr::find(t, ty).is_some_and(|a| a.as_ulong() != Some(want)) {
            return rule(
                CKR_TEMPLATE_INCONSISTENT,
                "class or key type differs from the key record",
            );
        }
    }
    // The token is spent by this attempt, whatever its outcome.
    ir.used = true;
    store(inst, &svc, &ir)?;
    let Some(private) = private_of(inst, svc.as_bytes())? else {
        return refuse(
            CKR_KMSBRIDGE_IMPORT_TOKEN_USED,
            "the import wrapping key is gone",
        );
    };
    let temp_id = ids::service_id(inst.backend(), "importing")?;
    let mut tmpl = vec![
        Attr::ulong(CKA_CLASS, rec.class),
        Attr::ulong(CKA_KEY_TYPE, rec.key_type),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_EXTRACTABLE, false),
        Attr::new(CKA_ID, temp_id),
        Attr::new(CKA_LABEL, rec.alias.as_bytes().to_vec()),
    ];
    let asked: Vec<&Attr> = USAGE.iter().filter_map(|ty| attr::find(t, *ty)).collect();
    if asked.is_empty() {
        let defaults: &[CK_ATTRIBUTE_TYPE] = match rec.key_type {
            CKK_AES => &[CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP],
            CKK_RSA => &[CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP],
            _ => &[CKA_SIGN],
        };
        tmpl.extend(defaults.iter().map(|ty| Attr::bool(*ty, true)));
    } else {
        tmpl.extend(asked.into_iter().cloned());
    }
    // SoftHSM2 reports CKA_VALUE_LEN 0 for unwrapped secret keys (SH-12): where the
    // blob tells the material's length (RFC 5649 of whole blocks), check that.
    let len_hint = match m.ty {
        CKM_RSA_AES_KEY_WRAP if rec.class == CKO_SECRET_KEY => {
            let [modulus] = read_attrs(inst, unwrapping.id, &[CKA_MODULUS])?;
            let k = modulus.as_ref().map_or(0, Vec::len);
            wrapped.len().checked_sub(k + 8).map(|n| n as CK_ULONG)
        }
        _ => None,
    };
    let result = inst.backend().unwrap_key(m, private, wrapped, &tmpl);
    // The wrapping private key has served its one use.
    let _ = inst.backend().destroy_object(private);
    let obj = result?;
    match finish(inst, obj, &mut rec, &key_id, expiry, len_hint) {
        Ok(o) => Ok(o),
        Err(e) => {
            let _ = inst.backend().destroy_object(obj);
            Err(e)
        }
    }
}

/// Check the unwrapped material against the record and make it the key.
fn finish(
    inst: &dyn Host,
    obj: ObjectId,
    rec: &mut record::KeyRecord,
    key_id: &[u8],
    expiry: u64,
    len_hint: Option<CK_ULONG>,
) -> Result<ObjectId> {
    let [value_len, modulus, ec_params] =
        read_attrs(inst, obj, &[CKA_VALUE_LEN, CKA_MODULUS, CKA_EC_PARAMS])?;
    let fits = match rec.key_type {
        CKK_RSA => modulus.as_ref().map(|m| m.len() as CK_ULONG * 8) == Some(rec.size),
        CKK_EC => ec_params.as_ref().map(hex::encode).as_deref() == Some(rec.ec_params.as_str()),
        _ => match as_ulong(&value_len) {
            Some(n) if n != 0 => n == rec.size,
            _ => len_hint.is_none_or(|n| n == rec.size),
        },
    };
    if !fits {
        return refuse(
            CKR_WRAPPED_KEY_LEN_RANGE,
            "the material's size differs from the key record",
        );
    }
    if rec.check_salt.is_empty() {
        let mut salt = [0u8; 16];
        inst.backend().random(&mut salt)?;
        rec.check_salt = hex::encode(salt);
    }
    let salt = hex::decode(&rec.check_salt).unwrap_or_default();
    match inst.backend().material_check(obj, &salt) {
        Ok(c) => {
            let c = hex::encode(c);
            if rec.imported && rec.check != c {
                return refuse(
                    CKR_KMSBRIDGE_MATERIAL_MISMATCH,
                    "different material on re-import",
                );
            }
            rec.check = c;
        }
        Err(e) if rec.imported => {
            tracing::info!("cannot compare re-imported material: {e}");
            return rule(
                CKR_FUNCTION_NOT_SUPPORTED,
                "this backend cannot compare the material of this key type",
            );
        }
        Err(_) => {}
    }
    let existing = inst.backend().find(&[
        Attr::ulong(CKA_CLASS, rec.class),
        Attr::new(CKA_ID, key_id.to_vec()),
    ])?;
    let out = match existing.first() {
        // The same material is there already: keep it, take the new expiry.
        Some(o) => {
            let _ = inst.backend().destroy_object(obj);
            *o
        }
        None => {
            inst.backend()
                .set_attributes(obj, &[Attr::new(CKA_ID, key_id.to_vec())])?;
            obj
        }
    };
    if rec.state == State::PendingImport {
        rec.state = State::Enabled;
    }
    rec.material_expiry = expiry;
    rec.imported = true;
    inst.kms().save(inst, rec)?;
    tracing::info!(key = %rec.id, "key material imported");
    Ok(out)
}
