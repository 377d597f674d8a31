//! The rigs: `ci/softhsm/setup` run into a temporary directory, and the variables it
//! exported, which children take as their environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// What a rig exported: `(NAME, value)` pairs.
pub type Vars = Vec<(String, String)>;

/// `name`'s value in `vars`.
pub fn var<'a>(vars: &'a Vars, name: &str) -> Result<&'a str, String> {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("the rig did not print {name}"))
}

/// A temporary directory for a run's rigs, named `prefix...`.
pub fn rigs_dir(prefix: &str) -> Result<TempDir, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))
}

/// The rig script: `setup`, else `<repo>/ci/softhsm/setup`.
pub fn setup_script(setup: Option<&Path>) -> PathBuf {
    setup.map_or_else(|| repo_root().join("ci/softhsm/setup"), Path::to_path_buf)
}

fn repo_root() -> PathBuf {
    // bench/ sits one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `setup DIR ARGS...` (ci/softhsm/setup) and returns the variables it exported
/// (`export NAME='value'` lines), checking that the ones every target needs are there.
pub fn run_setup(setup: &Path, dir: &Path, args: &[String]) -> Result<Vars, String> {
    let out = Command::new(setup)
        .arg(dir)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", setup.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", setup.display(), out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut vars = Vec::new();
    for line in text.lines() {
        // export NAME='value'
        let Some(rest) = line.strip_prefix("export ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once('=') else {
            continue;
        };
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or(value);
        vars.push((name.to_string(), value.to_string()));
    }
    for needed in [
        "SOFTHSM2_CONF",
        "KMSBRIDGE_CONF",
        "KMSBRIDGE_MODULE",
        "KMSBRIDGE_TOKEN_LABEL",
        "KMSBRIDGE_USER_PIN",
        "SOFTHSM2_MODULE",
        "SOFTHSM2_TOKEN_LABEL",
        "SOFTHSM2_USER_PIN",
    ] {
        if !vars.iter().any(|(n, _)| n == needed) {
            return Err(format!("{} did not print {needed}", setup.display()));
        }
    }
    Ok(vars)
}

/// The end of a parent's run: the rigs in `tmp` kept with `--keep` (else removed), and
/// the run failed when `failed` of its `unit`s did.
pub fn finish(tmp: TempDir, keep: bool, failed: usize, unit: &str) -> Result<(), String> {
    if keep {
        let p = tmp.keep();
        eprintln!("kmsbridge-bench: rigs kept in {}", p.display());
    }
    if failed > 0 {
        return Err(format!("{failed} {unit}(s) failed"));
    }
    Ok(())
}
