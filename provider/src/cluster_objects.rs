//! The HSM nodes of a hardware instance as read-only objects of class
//! `CKO_KMSBRIDGE_NODE` (docs/CLUSTER.md). They are no backend objects: found only
//! by finds that ask for that class, public (status needs no login), and their
//! values come from the backend at each C_GetAttributeValue, so they are live.

use crate::error::{rule, Result};
use crate::instance::Instance;
use crate::objects::{Kind, ObjEntry};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, AttrReq, NodeState, NodeStatus};

fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

pub(crate) fn state_code(s: NodeState) -> CK_ULONG {
    match s {
        NodeState::Up => KMSBRIDGE_NODE_UP,
        NodeState::Down => KMSBRIDGE_NODE_DOWN,
        NodeState::Resyncing => KMSBRIDGE_NODE_RESYNCING,
    }
}

/// Node `index`'s value of attribute `ty`; `None`: a node object has no such attribute.
pub(crate) fn value(index: usize, s: &NodeStatus, ty: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    let clamp = |v: u64| CK_ULONG::try_from(v).unwrap_or(CK_ULONG::MAX);
    Some(match ty {
        CKA_CLASS => ulong(CKO_KMSBRIDGE_NODE),
        CKA_LABEL => s.name.as_bytes().to_vec(),
        CKA_TOKEN => vec![1],
        CKA_PRIVATE | CKA_MODIFIABLE | CKA_COPYABLE | CKA_DESTROYABLE => vec![0],
        CKA_KMSBRIDGE_NODE_INDEX => ulong(clamp(index as u64)),
        CKA_KMSBRIDGE_NODE_STATE => ulong(state_code(s.state)),
        CKA_KMSBRIDGE_NODE_LOAD => ulong(clamp(s.load as u64)),
        CKA_KMSBRIDGE_NODE_SERVED => ulong(clamp(s.served)),
        CKA_KMSBRIDGE_NODE_LAG => ulong(clamp(s.lag)),
        CKA_KMSBRIDGE_NODE_LAST_ERROR => s.last_error.clone().unwrap_or_default().into_bytes(),
        _ => return None,
    })
}

impl Instance {
    /// The HSM nodes behind the instance: none for a software instance.
    fn nodes(&self) -> Vec<NodeStatus> {
        self.admin
            .cluster
            .as_ref()
            .map_or_else(Vec::new, |c| c.nodes())
    }

    /// The front handle of node `k`, the same for the life of the object table.
    pub(crate) fn node_handle(&self, k: usize) -> CK_OBJECT_HANDLE {
        let mut handles = self.node_handles.lock();
        if let Some(&h) = handles.get(k) {
            if self.objects.get(h).is_some_and(|e| e.kind == Kind::Node) {
                return h;
            }
        }
        let h = self.objects.insert_unbound(ObjEntry {
            id: k as u64,
            token: true,
            private: false,
            class: CKO_KMSBRIDGE_NODE,
            key_type: None,
            always_auth: false,
            owner: None,
            kind: Kind::Node,
            kid: 0,
        });
        if handles.len() <= k {
            handles.resize(k + 1, 0);
        }
        if let Some(slot) = handles.get_mut(k) {
            *slot = h;
        }
        h
    }
}

/// C_FindObjects with `CKA_CLASS = CKO_KMSBRIDGE_NODE`: the nodes matching every
/// attribute of the template, in configuration order.
pub(crate) fn find(inst: &Instance, template: &[Attr]) -> Vec<CK_OBJECT_HANDLE> {
    inst.nodes()
        .iter()
        .enumerate()
        .filter(|(k, s)| {
            template
                .iter()
                .all(|a| value(*k, s, a.ty).as_deref() == Some(&a.value[..]))
        })
        .map(|(k, _)| inst.node_handle(k))
        .collect()
}

/// C_GetAttributeValue of a node object, answered from the node's status now.
pub(crate) fn get(inst: &Instance, e: &ObjEntry, reqs: &mut [AttrReq]) -> Result<CK_RV> {
    let k = e.id as usize;
    let nodes = inst.nodes();
    let Some(s) = nodes.get(k) else {
        return rule(CKR_OBJECT_HANDLE_INVALID, "no such node");
    };
    let mut rv = CKR_OK;
    for r in reqs.iter_mut() {
        let code = match value(k, s, r.ty) {
            Some(v) => r.answer(&v),
            None => {
                r.len = CK_UNAVAILABLE_INFORMATION;
                CKR_ATTRIBUTE_TYPE_INVALID
            }
        };
        // The spec lets any of the per-attribute codes stand; keep the first.
        if rv == CKR_OK {
            rv = code;
        }
    }
    Ok(rv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_values() {
        let s = NodeStatus {
            name: "hsm/node1".into(),
            state: NodeState::Down,
            load: 3,
            last_error: Some("gone".into()),
            lag: 7,
            served: 42,
            routed: 40,
        };
        let u = |ty| value(1, &s, ty).map(|v| CK_ULONG::from_ne_bytes(v.try_into().unwrap()));
        assert_eq!(u(CKA_CLASS), Some(CKO_KMSBRIDGE_NODE));
        assert_eq!(u(CKA_KMSBRIDGE_NODE_INDEX), Some(1));
        assert_eq!(u(CKA_KMSBRIDGE_NODE_STATE), Some(KMSBRIDGE_NODE_DOWN));
        assert_eq!(u(CKA_KMSBRIDGE_NODE_LOAD), Some(3));
        assert_eq!(u(CKA_KMSBRIDGE_NODE_SERVED), Some(42));
        assert_eq!(u(CKA_KMSBRIDGE_NODE_LAG), Some(7));
        assert_eq!(value(1, &s, CKA_LABEL), Some(b"hsm/node1".to_vec()));
        assert_eq!(
            value(1, &s, CKA_KMSBRIDGE_NODE_LAST_ERROR),
            Some(b"gone".to_vec())
        );
        assert_eq!(value(1, &s, CKA_PRIVATE), Some(vec![0]));
        assert_eq!(value(1, &s, CKA_VALUE), None);
        assert_eq!(value(1, &s, CKA_KMSBRIDGE_ORIGIN), None);
    }
}
