//! `C_GenerateKey(CKM_KMSBRIDGE_CLUSTER_INIT)` (docs/CLUSTER.md): the SO of a
//! hardware instance has the cluster domain key provisioned on every node.

use crate::error::{rule, Result};
use crate::instance::{Instance, Login};
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, ObjectId};

/// Check the call and provision (or find) the domain key; the caller registers the
/// returned object, which the module classifies as a service key by its CKA_ID.
pub(crate) fn init(inst: &Instance, rw: bool, t: &[Attr]) -> Result<ObjectId> {
    let Some(admin) = &inst.admin.cluster else {
        return rule(
            CKR_MECHANISM_INVALID,
            "cluster init is for hardware instances only",
        );
    };
    for a in t {
        match (a.ty, a.as_bool()) {
            (CKA_TOKEN, Some(true)) => {}
            (CKA_TOKEN, _) => {
                return rule(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "the cluster domain key is a token object",
                )
            }
            _ => {
                return rule(
                    CKR_TEMPLATE_INCONSISTENT,
                    "cluster init takes an empty template (or CKA_TOKEN = TRUE)",
                )
            }
        }
    }
    if !rw {
        return rule(
            CKR_SESSION_READ_ONLY,
            "cluster init needs a read/write session",
        );
    }
    if inst.login_state() != Login::So {
        return rule(
            CKR_USER_NOT_LOGGED_IN,
            "cluster init needs the SO logged in",
        );
    }
    let id = admin.cluster_init()?;
    tracing::info!(instance = %inst.name, "cluster domain key ready");
    Ok(id)
}
