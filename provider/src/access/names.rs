//! What a policy calls an object: a key's id (hex of CKA_ID, without a `#vN` version
//! suffix — the KMS key id) and its aliases (the KMS record's alias and the object's
//! CKA_LABEL, which is the name PKCS#11 applications find keys by). Read once per
//! object and kept; a change of label or id through the module forgets it.

use crate::instance::Instance;
use crate::kms::ids::split_version;
use crate::objects::{Kind, ObjEntry};
use cryptoki_sys::*;
use kmsbridge_access::Resource;
use kmsbridge_bridge::{attr, Attr, AttrReq, ObjectId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// An object's names.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(crate) id: String,
    pub(crate) aliases: Vec<String>,
    /// Set for a secret: the policy's resource is `secret/<name>`, not a key.
    pub(crate) secret: Option<String>,
}

impl Names {
    pub(crate) fn resource(&self) -> Resource<'_> {
        if let Some(name) = &self.secret {
            return Resource::Secret { name };
        }
        Resource::Key {
            id: &self.id,
            aliases: &self.aliases,
        }
    }

    /// The names a template gives a new object (its id may be added later).
    pub(crate) fn of_template(t: &[Attr]) -> Names {
        let id = attr::find(t, CKA_ID)
            .map(|a| hex::encode(split_version(&a.value).0))
            .unwrap_or_default();
        let aliases = attr::find(t, CKA_LABEL)
            .and_then(|a| std::str::from_utf8(&a.value).ok())
            .map(|l| vec![l.to_string()])
            .unwrap_or_default();
        Names {
            id,
            aliases,
            secret: None,
        }
    }

    /// A secret's names.
    pub(crate) fn of_secret(name: &str) -> Names {
        Names {
            secret: Some(name.to_string()),
            ..Names::default()
        }
    }

    /// How the audit trail and log lines name it.
    pub(crate) fn display(&self) -> String {
        if let Some(name) = &self.secret {
            return format!("secret/{name}");
        }
        match self.aliases.first() {
            Some(a) if self.id.is_empty() => format!("alias/{a}"),
            _ => format!("key/{}", self.id),
        }
    }
}

#[derive(Default)]
pub(crate) struct NameCache {
    by_id: RwLock<HashMap<ObjectId, Arc<Names>>>,
}

impl NameCache {
    pub(crate) fn get(&self, inst: &Instance, e: &ObjEntry) -> Arc<Names> {
        if let Some(n) = self.by_id.read().get(&e.id) {
            return n.clone();
        }
        let n = Arc::new(read(inst, e));
        self.by_id.write().insert(e.id, n.clone());
        n
    }

    pub(crate) fn forget(&self, id: ObjectId) {
        self.by_id.write().remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.read().len()
    }

    pub(crate) fn retain(&self, keep: &dyn Fn(ObjectId) -> bool) {
        self.by_id.write().retain(|id, _| keep(*id));
    }
}

fn read(inst: &Instance, e: &ObjEntry) -> Names {
    let mut reqs = [
        AttrReq::new(CKA_ID, Some(256)),
        AttrReq::new(CKA_LABEL, Some(256)),
    ];
    if let Err(err) = inst.backend.get_attributes(e.id, &mut reqs) {
        tracing::debug!("cannot read an object's names: {err}");
    }
    let label = reqs[1]
        .value()
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_string);
    let (id, mut aliases) = match e.kind {
        // A record's label is its key id, in hex already.
        Kind::Record => (label.clone().unwrap_or_default(), Vec::new()),
        _ => (
            reqs[0]
                .value()
                .map(|v| hex::encode(split_version(v).0))
                .unwrap_or_default(),
            label.into_iter().filter(|l| !l.is_empty()).collect(),
        ),
    };
    if let Some(s) = inst.kms.get(inst, e.kid) {
        if !s.rec.alias.is_empty() && !aliases.contains(&s.rec.alias) {
            aliases.push(s.rec.alias.clone());
        }
    }
    Names {
        id,
        aliases,
        secret: None,
    }
}
