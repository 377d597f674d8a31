//! N SoftHSM2 tokens in one isolated token store (SOFTHSM2_CONF is process-wide, so a
//! test binary holds one store), each a node of a cluster.

#![allow(dead_code)]

use kmsbridge_bridge::pkcs11::NodeConfig;
use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Attr, AttrReq, Backend, Mechanism, ObjectId, OpKind};
use kmsbridge_cluster::{Cluster, ClusterConfig};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeConfig>,
    pub so_pins: Vec<Vec<u8>>,
}

/// `n` fresh tokens; SOFTHSM2_CONF is set for this process.
pub fn rig(n: usize) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("kmsbridge_cluster=info")
        .with_test_writer()
        .try_init();
    let dir = tempfile::Builder::new()
        .prefix("kmsbridge-cluster-")
        .tempdir()
        .expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let mut nodes = Vec::new();
    let mut so_pins = Vec::new();
    for k in 0..n {
        let (pin, so) = (format!("user-pin-{k}"), format!("so-pin-{k}"));
        let label = format!("cluster-node{k}");
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &label])
            .args(["--so-pin", &so, "--pin", &pin])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pin_file = dir.path().join(format!("node{k}.pin"));
        let so_file = dir.path().join(format!("node{k}.so.pin"));
        std::fs::write(&pin_file, &pin).expect("pin file");
        std::fs::write(&so_file, &so).expect("so pin file");
        so_pins.push(so.into_bytes());
        nodes.push(NodeConfig {
            name: format!("test/node{k}"),
            library: PathBuf::from(SOFTHSM),
            token_label: Some(label),
            token_serial: None,
            credential_file: pin_file,
            so_credential_file: Some(so_file),
            pool_size: 8,
            pool_wait: Duration::from_secs(5),
            serial_calls: false,
        });
    }
    Rig {
        dir,
        nodes,
        so_pins,
    }
}

impl Rig {
    pub fn cluster(&self) -> Cluster {
        let c = Cluster::new(self.nodes.clone(), ClusterConfig::default()).expect("cluster");
        c.connect().expect("connect");
        c
    }
}

pub fn aes_template(id: &[u8], value: Option<&[u8]>) -> Vec<Attr> {
    let mut t = vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_AES),
        Attr::new(CKA_ID, id.to_vec()),
        Attr::new(CKA_LABEL, id.to_vec()),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_ENCRYPT, true),
        Attr::bool(CKA_DECRYPT, true),
        Attr::bool(CKA_SENSITIVE, true),
    ];
    match value {
        Some(v) => t.push(Attr::new(CKA_VALUE, v.to_vec())),
        None => t.push(Attr::ulong(CKA_VALUE_LEN, 32)),
    }
    t
}

/// AES-ECB of one block under `key` (a backend handle or cluster id) on `b`.
pub fn ecb(b: &dyn Backend, key: ObjectId, block: &[u8; 16]) -> Vec<u8> {
    let mut op = b
        .begin(OpKind::Encrypt, &Mechanism::simple(CKM_AES_ECB), Some(key))
        .expect("begin");
    let mut out = [0u8; 16];
    let n = op.run(block, Some(&mut out)).expect("encrypt");
    out[..n].to_vec()
}

pub fn bool_attr(b: &dyn Backend, obj: ObjectId, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    let mut r = [AttrReq::new(ty, Some(1))];
    b.get_attributes(obj, &mut r).expect("get attributes");
    r[0].value().map(|v| v[0] != 0)
}
