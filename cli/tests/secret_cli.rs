//! `kmsbridge secret ...` as an operator runs it, on a software and a hardware instance:
//! create, put (idempotent by version id), get by stage and version, list, describe,
//! rotate, delete and restore, `secret exec` handing a value to a child only through
//! its environment, `pkcs11-tool --read-object` printing a value through the module,
//! and an at-rest scan of every file of the rig (software store, SoftHSM2 token files,
//! the module's log, the audit trail) for the values in clear or hex. One rig per test
//! process (nextest).

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use kmsbridge_testkit::rig::Rig;
use std::path::Path;
use std::process::Command;
use support::{software_rig, Cli};

const VARS: &[&str] = &[
    "KMSBRIDGE_CONF",
    "KMSBRIDGE_MODULE",
    "KMSBRIDGE_TOKEN_LABEL",
    "KMSBRIDGE_USER_PIN",
    "SOFTHSM2_CONF",
];

fn write(dir: &Path, name: &str, value: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, value).unwrap();
    p.to_string_lossy().into_owned()
}

/// A value nobody else writes: 40 random alphanumerics.
fn random_value() -> String {
    let mut b = [0u8; 40];
    getrandom::fill(&mut b).unwrap();
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    b.iter()
        .map(|x| SET[*x as usize % SET.len()] as char)
        .collect()
}

fn lifecycle(rig: &Rig) {
    let cli = Cli::new(rig, VARS);
    let tmp = tempfile::tempdir().unwrap();
    let v1 = write(tmp.path(), "v1", b"first-password\n");
    let out = cli.ok(&[
        "secret",
        "create",
        "app/db",
        "--value-file",
        &v1,
        "--description",
        "orders",
    ]);
    assert!(out.contains("created secret app/db"), "{out}");
    assert_eq!(cli.ok(&["secret", "get", "app/db"]), "first-password");
    // Creating it again is refused; a bad type is a usage error.
    cli.expect(1, &["secret", "create", "app/db", "--value-file", &v1]);
    cli.expect(
        2,
        &[
            "secret",
            "create",
            "x/y",
            "--type",
            "nope",
            "--value-file",
            &v1,
        ],
    );

    let v2 = write(tmp.path(), "v2", b"second-password");
    cli.ok(&[
        "secret",
        "put",
        "app/db",
        "--value-file",
        &v2,
        "--version-id",
        "v-2",
    ]);
    cli.ok(&[
        "secret",
        "put",
        "app/db",
        "--value-file",
        &v2,
        "--version-id",
        "v-2",
    ]);
    let err = cli.expect(
        1,
        &[
            "secret",
            "put",
            "app/db",
            "--value-file",
            &v1,
            "--version-id",
            "v-2",
        ],
    );
    assert!(err.contains("exists with a different value"), "{err}");
    assert_eq!(cli.ok(&["secret", "get", "app/db"]), "second-password");
    assert_eq!(
        cli.ok(&["secret", "get", "app/db", "--stage", "ACSPrevious"]),
        "first-password"
    );
    assert_eq!(
        cli.ok(&["secret", "get", "app/db", "--version", "v-2"]),
        "second-password"
    );
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["secret", "get", "app/db", "--json"])).unwrap();
    assert_eq!(json["version_id"], "v-2");
    assert_eq!(json["stages"][0], "ACSCurrent");

    // Generic rotation: a generated value becomes ACSCurrent, the old one ACSPrevious.
    cli.ok(&[
        "secret",
        "create",
        "gen/token",
        "--generate",
        "24",
        "--no-punctuation",
    ]);
    let before = cli.ok(&["secret", "get", "gen/token"]);
    assert_eq!(before.len(), 24);
    cli.ok(&["secret", "rotate", "gen/token"]);
    let after = cli.ok(&["secret", "get", "gen/token"]);
    assert_eq!(after.len(), 24);
    assert!(after.chars().all(|c| c.is_ascii_alphanumeric()), "{after}");
    assert_ne!(before, after);
    assert_eq!(
        cli.ok(&["secret", "get", "gen/token", "--stage", "ACSPrevious"]),
        before
    );
    let d: serde_json::Value =
        serde_json::from_str(&cli.ok(&["secret", "describe", "gen/token", "--json"])).unwrap();
    assert!(d["last_rotated"].as_u64().is_some(), "{d}");
    assert!(d["rotation"].is_null(), "{d}");

    // SSH keys: made by the CLI, the public line printed, rotated to a new pair.
    let out = cli.ok(&["secret", "create", "ssh/deploy", "--type", "ssh-key"]);
    assert!(out.contains("public key: ssh-ed25519 "), "{out}");
    let out = cli.ok(&["secret", "rotate", "ssh/deploy"]);
    assert!(out.contains("new public key: ssh-ed25519 "), "{out}");
    assert!(cli
        .ok(&["secret", "get", "ssh/deploy"])
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));

    let list: serde_json::Value =
        serde_json::from_str(&cli.ok(&["secret", "list", "--json"])).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app/db", "gen/token", "ssh/deploy"]);

    // Delete: unreadable until restored; the window is checked.
    cli.expect(2, &["secret", "delete", "app/db", "--recovery-days", "3"]);
    let out = cli.ok(&["secret", "delete", "app/db", "--recovery-days", "10"]);
    assert!(out.contains("scheduled for deletion"), "{out}");
    cli.expect(1, &["secret", "get", "app/db"]);
    cli.expect(1, &["secret", "rotate", "app/db"]);
    cli.ok(&["secret", "restore", "app/db"]);
    assert_eq!(cli.ok(&["secret", "get", "app/db"]), "second-password");

    // exec: the value reaches the child's environment, not its arguments.
    let out = cli.ok(&[
        "secret",
        "exec",
        "--env",
        "DB_PASSWORD=app/db",
        "--",
        "sh",
        "-c",
        "printf '%s|%s' \"$DB_PASSWORD\" \"$KMSBRIDGE_USER_PIN\"",
    ]);
    assert_eq!(
        out, "second-password|",
        "the child gets the value and not the PIN"
    );
    // NAME.field of a JSON credential.
    let cred = write(
        tmp.path(),
        "cred.json",
        br#"{"engine":"postgres","host":"127.0.0.1","port":5432,"username":"app","password":"pw-123"}"#,
    );
    cli.ok(&[
        "secret",
        "create",
        "prod/pg.main",
        "--type",
        "database",
        "--value-file",
        &cred,
    ]);
    let out = cli.ok(&[
        "secret",
        "exec",
        "--env",
        "U=prod/pg.main.username",
        "--env",
        "P=prod/pg.main.password",
        "--",
        "sh",
        "-c",
        "printf '%s:%s' \"$U\" \"$P\"",
    ]);
    assert_eq!(out, "app:pw-123");
    // The child's exit status is the command's.
    cli.expect(
        3,
        &[
            "secret", "exec", "--env", "X=app/db", "--", "sh", "-c", "exit 3",
        ],
    );
    cli.expect(1, &["secret", "exec", "--env", "X=no/such", "--", "true"]);
}

#[test]
fn software_lifecycle() {
    lifecycle(&software_rig());
}

#[test]
fn hardware_lifecycle() {
    lifecycle(&Rig::new());
}

/// pkcs11-tool reads the value through the module like any data object.
fn pkcs11_tool_reads(rig: &Rig) {
    let cli = Cli::new(rig, VARS);
    let tmp = tempfile::tempdir().unwrap();
    let value = random_value();
    let f = write(tmp.path(), "v", value.as_bytes());
    cli.ok(&["secret", "create", "prod/db/password", "--value-file", &f]);
    let out = Command::new("pkcs11-tool")
        .args(["--module", rig.var("KMSBRIDGE_MODULE")])
        .args(["--token-label", rig.var("KMSBRIDGE_TOKEN_LABEL")])
        .args(["--login", "--pin", rig.var("KMSBRIDGE_USER_PIN")])
        .args([
            "--read-object",
            "--type",
            "data",
            "--label",
            "prod/db/password",
        ])
        .env("KMSBRIDGE_CONF", rig.var("KMSBRIDGE_CONF"))
        .env("SOFTHSM2_CONF", rig.var("SOFTHSM2_CONF"))
        .output()
        .expect("run pkcs11-tool");
    assert!(
        out.status.success(),
        "pkcs11-tool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), value);
}

#[test]
fn software_pkcs11_tool_reads() {
    pkcs11_tool_reads(&software_rig());
}

#[test]
fn hardware_pkcs11_tool_reads() {
    pkcs11_tool_reads(&Rig::new());
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// After values are created, put, read, rotated and handed to a child, no file of the
/// rig holds one in clear or hex.
fn at_rest(rig: &Rig) {
    let cli = Cli::new(rig, VARS);
    let tmp = tempfile::tempdir().unwrap();
    let a = random_value();
    let b = random_value();
    cli.ok(&[
        "secret",
        "create",
        "scan/a",
        "--value-file",
        &write(tmp.path(), "a", a.as_bytes()),
    ]);
    cli.ok(&[
        "secret",
        "put",
        "scan/a",
        "--value-file",
        &write(tmp.path(), "b", b.as_bytes()),
    ]);
    std::fs::remove_dir_all(tmp.path()).unwrap();
    assert_eq!(
        cli.ok(&["secret", "get", "scan/a", "--stage", "ACSPrevious"]),
        a
    );
    cli.ok(&["secret", "exec", "--env", "X=scan/a", "--", "true"]);
    cli.ok(&[
        "secret",
        "create",
        "scan/gen",
        "--generate",
        "40",
        "--no-punctuation",
    ]);
    let g = cli.ok(&["secret", "get", "scan/gen"]);
    cli.ok(&["secret", "rotate", "scan/gen"]);
    let g2 = cli.ok(&["secret", "get", "scan/gen"]);
    let mut all = Vec::new();
    files(rig.dir(), &mut all);
    assert!(
        all.iter().any(|p| p.to_string_lossy().ends_with(".log")),
        "the module's log is scanned"
    );
    let needles: Vec<(String, Vec<u8>)> = [&a, &b, &g, &g2]
        .iter()
        .flat_map(|v| {
            [
                (format!("{v} (raw)"), v.as_bytes().to_vec()),
                (format!("{v} (hex)"), hex::encode(v.as_bytes()).into_bytes()),
            ]
        })
        .collect();
    let mut scanned = 0;
    for p in &all {
        let Ok(data) = std::fs::read(p) else { continue };
        scanned += data.len();
        for (what, n) in &needles {
            assert!(
                !data.windows(n.len()).any(|w| w == &n[..]),
                "{what} found in {}",
                p.display()
            );
        }
    }
    assert!(scanned > 0);
}

#[test]
fn software_at_rest() {
    at_rest(&software_rig());
}

#[test]
fn hardware_at_rest() {
    at_rest(&Rig::new());
}
