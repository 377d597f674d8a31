//! CKA_KMSBRIDGE_SECRET_INFO: a secret's metadata and versions as JSON, for
//! `kmsbridge secret describe|list|rotate`. Never a value.

use crate::kms::record::unix_now;
use kmsbridge_secrets::Secret;
use serde_json::json;

pub(crate) fn to_json(s: &Secret) -> String {
    let now = unix_now();
    let versions: Vec<_> = s
        .versions()
        .iter()
        .map(|v| {
            json!({
                "id": v.id.as_str(),
                "created": v.created,
                "stages": v.stages.iter().map(|st| st.as_str()).collect::<Vec<_>>(),
                "kms_key_id": v.sealed.key_id,
            })
        })
        .collect();
    json!({
        "name": s.name().as_str(),
        "type": s.kind().as_str(),
        "description": s.description(),
        "tags": s.tags(),
        "kms_key_id": s.kms_key_id(),
        "created": s.created(),
        "updated": s.updated(),
        "deletion": s.deletion(),
        "rotation_days": s.rotation_days(),
        "last_rotated": s.last_rotated(),
        "rotation_due": s.rotation_due(now),
        "rotation": s.rotation(),
        "generation": s.generation(),
        "versions": versions,
    })
    .to_string()
}
