//! A cluster of N SoftHSM2 tokens in one isolated token store (SOFTHSM2_CONF is
//! process-wide, so a test binary holds one store).

use kmsbridge_bridge::pkcs11::NodeConfig;
use kmsbridge_bridge::Backend;
use kmsbridge_cluster::{Cluster, ClusterConfig};
use kmsbridge_testkit::tokens::{Token, Tokens, SOFTHSM2_LIBRARY};
use std::path::PathBuf;
use std::time::Duration;

pub struct Rig {
    /// One token per node, in node order.
    pub nodes: Vec<Token>,
    /// The store the tokens live in, removed with the rig.
    _store: Tokens,
}

/// `n` fresh tokens; SOFTHSM2_CONF is set for this process.
pub fn rig(n: usize) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("kmsbridge_cluster=info")
        .with_test_writer()
        .try_init();
    let store = Tokens::new("kmsbridge-cluster-");
    let nodes = (0..n)
        .map(|k| {
            store.init_token(
                &format!("cluster-node{k}"),
                &format!("so-pin-{k}"),
                &format!("user-pin-{k}"),
            )
        })
        .collect();
    Rig {
        nodes,
        _store: store,
    }
}

impl Rig {
    /// A cluster over every node, connected.
    pub fn cluster(&self) -> Cluster {
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(k, token)| NodeConfig {
                name: format!("test/node{k}"),
                library: PathBuf::from(SOFTHSM2_LIBRARY),
                token_label: Some(token.label.clone()),
                token_serial: None,
                credential_file: token.pin_file.clone(),
                so_credential_file: Some(token.so_pin_file.clone()),
                pool_size: 8,
                pool_wait: Duration::from_secs(5),
                serial_calls: false,
            })
            .collect();
        let c = Cluster::new(nodes, ClusterConfig::default()).expect("cluster");
        c.connect().expect("connect");
        c
    }
}
