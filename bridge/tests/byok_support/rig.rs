//! The backends under test: a SoftHSM2 token made by `ci/softhsm/setup` behind a
//! `Node` (a `SoftBackend` store is made by soft/tests/byok_soft.rs), each in a
//! temporary directory that is removed when the test process exits.

use kmsbridge_bridge::pkcs11::{Node, NodeConfig};
use kmsbridge_bridge::Backend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Directories to remove at exit: the fixtures are statics, which are never dropped.
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_dirs() {
    if let Ok(dirs) = CLEANUP.lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A fresh temporary directory, removed when the process exits.
pub fn temp_dir(prefix: &str) -> PathBuf {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: registers a plain extern "C" function with no captured state.
        unsafe { libc::atexit(remove_dirs) };
    });
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temporary directory")
        .keep();
    CLEANUP.lock().expect("cleanup list").push(dir.clone());
    dir
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bridge/ has a parent")
        .to_path_buf()
}

/// `export NAME='value'` lines as the setup script prints them.
fn parse_exports(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// A node over a new SoftHSM2 token, connected. `SOFTHSM2_CONF` is set for the
/// whole process, so a test binary holds at most one.
pub fn softhsm_node() -> Node {
    let dir = temp_dir("kmsbridge-byok-hsm-");
    let script = workspace_root().join("ci/softhsm/setup");
    let out = Command::new(&script)
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let vars = parse_exports(&String::from_utf8_lossy(&out.stdout));
    let var = |k: &str| {
        vars.get(k)
            .unwrap_or_else(|| panic!("setup did not export {k}"))
    };
    std::env::set_var("SOFTHSM2_CONF", var("SOFTHSM2_CONF"));
    let node = Node::new(NodeConfig {
        name: "byok/node0".into(),
        library: PathBuf::from(var("SOFTHSM2_MODULE")),
        token_label: Some(var("SOFTHSM2_TOKEN_LABEL").clone()),
        token_serial: None,
        credential_file: dir.join("node0.pin"),
        so_credential_file: Some(dir.join("node0.so.pin")),
        pool_size: 8,
        pool_wait: Duration::from_secs(30),
        serial_calls: false,
    });
    node.connect().expect("connect to SoftHSM2");
    node
}
