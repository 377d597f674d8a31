//! An instance's HSM cluster. Today a cluster is one node: the node backend is
//! returned as the instance's backend. Routing, failover, replication and resync
//! over N nodes land with the cluster issue; the provider already sees only the
//! `Backend` boundary, so they slot in here without touching it.

use kmsbridge_bridge::pkcs11::{Node, NodeConfig};
use kmsbridge_bridge::Backend;
use std::sync::Arc;

/// Why a cluster cannot be built from its configuration.
#[derive(Debug)]
pub struct ClusterConfigError(pub String);

/// The backend serving a hardware instance over `nodes`.
pub fn build(nodes: Vec<NodeConfig>) -> Result<Arc<dyn Backend>, ClusterConfigError> {
    match nodes.len() {
        0 => Err(ClusterConfigError(
            "a hardware instance needs at least one node".into(),
        )),
        1 => {
            let node = nodes.into_iter().next().map(Node::new);
            node.map(|n| Arc::new(n) as Arc<dyn Backend>)
                .ok_or_else(|| ClusterConfigError("no node".into()))
        }
        n => Err(ClusterConfigError(format!(
            "{n} nodes configured: clusters of more than one node are not supported yet"
        ))),
    }
}
