//! The test rig: an isolated SoftHSM2 store and kmsbridge config made by
//! `ci/softhsm/setup`, exported into this process's environment. With `nodes`, an
//! N-node hardware instance whose nodes can be lost and brought back, and with
//! `shim`, faults injected per node (docs/CLUSTER_RIG.md).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Options passed to `ci/softhsm/setup`.
#[derive(Debug, Clone, Default)]
pub struct RigOptions {
    /// Backend session pool size of the hardware instance (`--pool N`).
    pub pool: Option<usize>,
    /// Instance name = front token label (`--label NAME`).
    pub label: Option<String>,
    /// A software instance instead of a hardware one (`--software`).
    pub software: bool,
    /// Lifetime of import tokens in seconds, `import_token_ttl_s` (`--import-token-ttl S`).
    pub import_token_ttl: Option<u64>,
    /// An N-node hardware instance (`--nodes N`): node k is a SoftHSM2 store served by
    /// its own `p11-kit server` process, reached through its own copy of p11-kit's
    /// client module; `Rig::stop_node` kills that process.
    pub nodes: Option<usize>,
    /// The fault shim in front of every node (`--shim`); see `Rig::shim`.
    pub shim: bool,
    /// All N tokens served in this process behind the shim instead of p11-kit
    /// (`--in-process`, implies `shim`): every mechanism works, and a node's loss is
    /// the shim's `down` (docs/CLUSTER_RIG.md says when to choose which).
    pub in_process: bool,
    /// With `software`: the instance's store in a throw-away PostgreSQL server that
    /// the rig starts and stops (`--postgres`; docs/POSTGRES_STORE.md).
    pub postgres: bool,
}

/// An isolated token store. The temporary directory lives as long as the rig.
#[derive(Debug)]
pub struct Rig {
    dir: tempfile::TempDir,
    vars: BTreeMap<String, String>,
    /// Node count of a `--nodes` rig, else 0.
    nodes: usize,
    /// The server of a `postgres` rig (stopped and removed with the rig).
    pg: Option<crate::postgres::Postgres>,
}

/// How long a control-file change waits before the shim's next call is sure to
/// see it (the shim looks at the file at most every 50 ms).
const SHIM_SETTLE: Duration = Duration::from_millis(70);

/// The workspace root (the folder holding `ci/` and `target/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit/ has a parent").to_path_buf()
}

/// The `kmsbridge` command line tool: beside `KMSBRIDGE_MODULE` when that names a
/// built module, else the workspace's release build.
pub fn cli_path() -> PathBuf {
    let beside = std::env::var_os("KMSBRIDGE_MODULE")
        .map(|m| PathBuf::from(m).with_file_name("kmsbridge"))
        .filter(|cli| cli.exists());
    beside.unwrap_or_else(|| workspace_root().join("target/release/kmsbridge"))
}

/// Rigs export process-wide variables read when a module loads: tests that make
/// them take turns with this when several share a process (`cargo test`; nextest
/// runs each test in its own).
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `ci/softhsm/setup DIR [options]` and returns the variables it exports,
/// having checked that the usual ones are there. Changes nothing in this process.
pub fn setup(dir: &Path, opts: &RigOptions) -> BTreeMap<String, String> {
    setup_with(dir, opts, None)
}

/// [`setup`], with `--postgres PORT:USER:PASSWORD_FILE` when the rig runs a server.
fn setup_with(dir: &Path, opts: &RigOptions, pg: Option<&str>) -> BTreeMap<String, String> {
    let script = workspace_root().join("ci/softhsm/setup");
    let mut cmd = Command::new(&script);
    cmd.arg(dir);
    if let Some(pool) = opts.pool {
        cmd.arg("--pool").arg(pool.to_string());
    }
    if let Some(label) = &opts.label {
        cmd.arg("--label").arg(label);
    }
    if opts.software {
        cmd.arg("--software");
    }
    if let Some(pg) = pg {
        cmd.arg("--postgres").arg(pg);
    }
    if let Some(ttl) = opts.import_token_ttl {
        cmd.arg("--import-token-ttl").arg(ttl.to_string());
    }
    if let Some(n) = opts.nodes {
        cmd.arg("--nodes").arg(n.to_string());
    }
    if opts.shim {
        cmd.arg("--shim");
    }
    if opts.in_process {
        cmd.arg("--in-process");
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}): {}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let vars = parse_exports(&String::from_utf8_lossy(&out.stdout));
    for key in [
        "SOFTHSM2_CONF",
        "KMSBRIDGE_CONF",
        "KMSBRIDGE_MODULE",
        "KMSBRIDGE_TOKEN_LABEL",
        "KMSBRIDGE_USER_PIN",
        "KMSBRIDGE_SO_PIN",
        "SOFTHSM2_MODULE",
        "SOFTHSM2_TOKEN_LABEL",
        "SOFTHSM2_USER_PIN",
        "SOFTHSM2_SO_PIN",
    ] {
        assert!(vars.contains_key(key), "setup did not export {key}");
    }
    vars
}

impl Rig {
    /// A rig with the script's defaults (pool 32).
    pub fn new() -> Rig {
        Rig::with_options(&RigOptions::default())
    }

    /// Runs [`setup`] in a new temporary directory, then sets every exported variable
    /// in this process's environment, so that `SOFTHSM2_CONF` and `KMSBRIDGE_CONF`
    /// are in place before any module is loaded.
    pub fn with_options(opts: &RigOptions) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("kmsbridge-rig-")
            .tempdir()
            .expect("make a temporary directory for the rig");
        let pg = opts.postgres.then(|| {
            assert!(opts.software, "a postgres rig is a software instance's store");
            let pg = crate::postgres::Postgres::start();
            pg.create_database("kb");
            let pw = dir.path().join("pg.password");
            std::fs::write(&pw, &pg.password).expect("write the password file");
            std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600))
                .expect("chmod the password file");
            let arg = format!("{}:{}:{}", pg.port, pg.superuser, pw.display());
            (pg, arg)
        });
        let vars = setup_with(dir.path(), opts, pg.as_ref().map(|(_, a)| a.as_str()));
        for (k, v) in &vars {
            std::env::set_var(k, v);
        }
        let nodes = vars.get("KMSBRIDGE_NODES").map_or(0, |n| n.parse().expect("KMSBRIDGE_NODES"));
        Rig { dir, vars, nodes, pg: pg.map(|(pg, _)| pg) }
    }

    /// The PostgreSQL server of a `postgres` rig.
    pub fn postgres(&mut self) -> Option<&mut crate::postgres::Postgres> {
        self.pg.as_mut()
    }

    /// The rig's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A variable the setup script exported.
    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| panic!("setup did not export {key}"))
    }

    /// The node count of a `nodes` rig (0 otherwise).
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// True when the nodes run in this process behind the shim (`in_process`).
    pub fn in_process(&self) -> bool {
        self.vars.get("KMSBRIDGE_NODE_MODE").map(String::as_str) == Some("in-process")
    }

    /// The PKCS#11 library of node `k`, as the kmsbridge config names it.
    pub fn node_library(&self, k: usize) -> PathBuf {
        PathBuf::from(self.var(&format!("KMSBRIDGE_NODE{k}_LIBRARY")))
    }

    /// The token label of node `k` (the user and SO PINs are the same on every
    /// node: `SOFTHSM2_USER_PIN`, `SOFTHSM2_SO_PIN`).
    pub fn node_token_label(&self, k: usize) -> &str {
        self.var(&format!("KMSBRIDGE_NODE{k}_TOKEN_LABEL"))
    }

    /// Loses node `k`: kills its p11-kit server's process group (the server and the
    /// process serving each connection); in-process, sets the shim's `down`. Returns
    /// once the node is gone.
    pub fn stop_node(&self, k: usize) {
        self.node_ctl(k, &["stop"]);
    }

    /// Brings node `k` back: a fresh p11-kit server on the same socket (clients
    /// reach it only after C_Finalize + C_Initialize of that node's library);
    /// in-process, clears the shim's `down`.
    pub fn start_node(&self, k: usize) {
        self.node_ctl(k, &["start"]);
    }

    /// Makes every call to node `k` block (SIGSTOP to its server's process group;
    /// in-process, the shim's `hang`) until `resume_node`.
    pub fn hang_node(&self, k: usize) {
        self.node_ctl(k, &["hang"]);
    }

    /// Lets node `k`'s blocked calls go on.
    pub fn resume_node(&self, k: usize) {
        self.node_ctl(k, &["resume"]);
    }

    /// `up`, `down` or `hung`.
    pub fn node_status(&self, k: usize) -> String {
        self.node_ctl(k, &["status"]).trim().to_string()
    }

    /// Sets keys in node `k`'s fault-shim control file, one `key = value` per line
    /// (e.g. `"latency_ms = 5\ncapacity = 2"`; keys in docs/CLUSTER_RIG.md), and
    /// waits until the shim's next call sees them. Needs a `shim` rig.
    pub fn shim(&self, k: usize, settings: &str) {
        let mut args = vec!["set"];
        args.extend(
            settings.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
        self.node_ctl(k, &args);
    }

    /// Runs `DIR/node K ARGS…` (written by the setup script).
    fn node_ctl(&self, k: usize, args: &[&str]) -> String {
        assert!(k < self.nodes, "node {k} of a {}-node rig", self.nodes);
        let ctl = self.var("KMSBRIDGE_NODE_CTL");
        let out = Command::new(ctl)
            .arg(k.to_string())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {ctl}: {e}"));
        assert!(
            out.status.success(),
            "{ctl} {k} {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // A control-file edit (all of in-process mode, and `set`) takes effect on the
        // shim's next look at the file.
        if args[0] != "status" && (self.in_process() || args[0] == "set") {
            std::thread::sleep(SHIM_SETTLE);
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Rig {
    /// Stops a `nodes` rig's p11-kit servers (before the directory goes).
    fn drop(&mut self) {
        // A failing test shows what the module logged: the log dies with the directory.
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(self.dir.path().join("kmsbridge.log")) {
                let lines: Vec<&str> = log.lines().collect();
                // Errors first: a flood of warnings may push them out of the tail.
                let errors: Vec<&str> =
                    lines.iter().copied().filter(|l| l.contains("ERROR")).take(20).collect();
                if !errors.is_empty() {
                    eprintln!(
                        "--- kmsbridge.log (first {} lines naming an error)\n{}",
                        errors.len(),
                        errors.join("\n")
                    );
                }
                let tail = &lines[lines.len().saturating_sub(80)..];
                eprintln!("--- kmsbridge.log (last {} lines)\n{}", tail.len(), tail.join("\n"));
            }
        }
        if self.nodes == 0 || self.in_process() {
            return;
        }
        let ctl = self.var("KMSBRIDGE_NODE_CTL").to_string();
        for k in 0..self.nodes {
            let _ = Command::new(&ctl).arg(k.to_string()).arg("stop").output();
        }
    }
}

impl Default for Rig {
    fn default() -> Self {
        Rig::new()
    }
}

/// Parses `export NAME='value'` lines (single-quoted, as the script prints them).
/// Only one pair of enclosing quotes is taken off: a value's own quotes stay.
pub fn parse_exports(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("export ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once('=') else {
            continue;
        };
        let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
        vars.insert(name.to_string(), value.to_string());
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::parse_exports;

    #[test]
    fn parses_quoted_exports() {
        let v = parse_exports("export A='x y'\nexport B=plain\nnoise\n");
        assert_eq!(v["A"], "x y");
        assert_eq!(v["B"], "plain");
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn keeps_a_values_own_quotes() {
        let v = parse_exports("export A=''x''\nexport B='it'\n");
        assert_eq!(v["A"], "'x'");
        assert_eq!(v["B"], "it");
    }
}
