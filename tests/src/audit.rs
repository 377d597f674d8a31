//! The audit trail as tests look at it: where a rig's instance keeps it, its records,
//! and `kmsbridge audit verify` run as a separate process.

use kmsbridge_audit::{records, Event, Record};
use kmsbridge_testkit::rig::{cli_path, Rig};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The trail's directory: a software instance's `<store>/audit`, a hardware rig's
/// `audit = { dir = ... }` (`DIR/audit`).
pub fn trail_dir(rig: &Rig, software: bool) -> PathBuf {
    if software {
        crate::software::store_dir().join("audit")
    } else {
        rig.dir().join("audit")
    }
}

/// Every record, oldest first.
pub fn all(dir: &Path) -> Vec<Record> {
    records(dir).expect("open the trail").map(|r| r.expect("a readable record").1).collect()
}

/// Runs `kmsbridge audit ARGS` with the rig's environment (exported by the rig).
pub fn cli(args: &[&str]) -> Output {
    std::process::Command::new(cli_path())
        .arg("audit")
        .args(args)
        .output()
        .expect("run kmsbridge audit")
}

/// `kmsbridge audit verify`: its exit status success, stdout and stderr.
pub fn verify(extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["verify"];
    args.extend_from_slice(extra);
    let out = cli(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sum of key-use counts for `object` and `action`.
pub fn uses(rs: &[Record], object: &str, action: &str) -> u64 {
    rs.iter()
        .filter(|r| r.event == Event::KeyUse)
        .filter(|r| r.object.as_ref().map(|o| o.as_str()) == Some(object))
        .filter(|r| r.action.as_ref().map(|a| a.as_str()) == Some(action))
        .map(|r| r.count.expect("key-use records carry a count"))
        .sum()
}

/// Records of `event` with `action` on `object` (any when `None`).
pub fn find<'a>(
    rs: &'a [Record],
    event: Event,
    action: Option<&str>,
    object: Option<&str>,
) -> Vec<&'a Record> {
    rs.iter()
        .filter(|r| r.event == event)
        .filter(|r| action.is_none() || r.action.as_ref().map(|a| a.as_str()) == action)
        .filter(|r| object.is_none() || r.object.as_ref().map(|o| o.as_str()) == object)
        .collect()
}
