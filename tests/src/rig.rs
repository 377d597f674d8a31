//! The test rig: an isolated SoftHSM2 store and kmsbridge config made by
//! `ci/softhsm/setup`, exported into this process's environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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
}

/// An isolated token store. The temporary directory lives as long as the rig.
#[derive(Debug)]
pub struct Rig {
    dir: tempfile::TempDir,
    vars: BTreeMap<String, String>,
}

/// The workspace root (the folder holding `ci/` and `target/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

impl Rig {
    /// A rig with the script's defaults (pool 32).
    pub fn new() -> Rig {
        Rig::with_options(&RigOptions::default())
    }

    /// Runs `ci/softhsm/setup <tmp> [options]`, then sets every exported variable
    /// in this process's environment, so that `SOFTHSM2_CONF` and `KMSBRIDGE_CONF`
    /// are in place before any module is loaded.
    pub fn with_options(opts: &RigOptions) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("kmsbridge-rig-")
            .tempdir()
            .expect("make a temporary directory for the rig");
        let script = workspace_root().join("ci/softhsm/setup");
        let mut cmd = Command::new(&script);
        cmd.arg(dir.path());
        if let Some(pool) = opts.pool {
            cmd.arg("--pool").arg(pool.to_string());
        }
        if let Some(label) = &opts.label {
            cmd.arg("--label").arg(label);
        }
        if opts.software {
            cmd.arg("--software");
        }
        if let Some(ttl) = opts.import_token_ttl {
            cmd.arg("--import-token-ttl").arg(ttl.to_string());
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
        for (k, v) in &vars {
            std::env::set_var(k, v);
        }
        Rig { dir, vars }
    }

    /// The rig's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A variable the setup script exported.
    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| panic!("setup did not export {key}"))
    }
}

impl Default for Rig {
    fn default() -> Self {
        Rig::new()
    }
}

/// Parses `export NAME='value'` lines (single-quoted, as the script prints them).
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
}
