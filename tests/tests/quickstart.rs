//! The README's main-job command: `kmsbridge quickstart` with no configuration makes
//! its own software instance (no SoftHSM2 involved) and runs every step, the two
//! applications of different rights included (one refused, with the log line why),
//! and the secret: put, read back by label, rotated once (ACSCurrent the new version,
//! ACSPrevious the first), handed to a child by `secret exec`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kmsbridge_testkit::rig::cli_path;
use std::process::Command;

#[test]
fn quickstart_runs_the_main_job_on_a_fresh_software_instance() {
    let home = tempfile::tempdir().expect("temporary home");
    let out = Command::new(cli_path())
        .arg("quickstart")
        .env_remove("KMSBRIDGE_CONF")
        .env_remove("KMSBRIDGE_USER_PIN")
        .env_remove("KMSBRIDGE_TOKEN_LABEL")
        .env_remove("SOFTHSM2_CONF")
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .output()
        .expect("run kmsbridge quickstart");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quickstart failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("FAIL"), "a step failed:\n{text}");
    for step in [
        "initialise the token",
        "generate an AES-256 key",
        "generate an EC P-256 key pair",
        "generate an RSA-2048 key pair",
        "AES-256-GCM decrypt and compare",
        "ECDSA P-256 with SHA-256: verify",
        "RSA-2048 PKCS#1 v1.5 with SHA-256: tampered message refused",
        "access point payments (encrypt, decrypt)",
        "access point reports (encrypt only)",
        "reports: encrypt with payments-key",
        "reports: decrypt with payments-key is refused",
        "payments: decrypt what reports encrypted",
        "secret quickstart/db-password: put a value",
        "secret: read back (find by label, CKA_VALUE)",
        "secret: rotate, new value as ACSPending",
        "secret: rotate, promote it (ROTATION = ok)",
        "secret: ACSCurrent new, ACSPrevious old",
        "kmsbridge secret exec --env DB_PASSWORD=quickstart/db-password -- ",
        "secret exec: the child has DB_PASSWORD",
        "quickstart finished",
    ] {
        assert!(text.contains(step), "missing step {step:?}:\n{text}");
    }
    // The refusal is shown with the module's log line that says why.
    let denied = text
        .lines()
        .find(|l| l.contains("denied:"))
        .unwrap_or_else(|| panic!("no denied line:\n{text}"));
    for want in ["access_point=reports", "action=decrypt", "no statement allows it"] {
        assert!(denied.contains(want), "{want} missing from {denied:?}");
    }
    // The secret's versions: the first put is ACSPrevious after the rotation, a new
    // version ACSCurrent.
    let after = |marker: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(marker))
            .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no line {marker:?}:\n{text}"))
    };
    let first = after("C_CreateObject CKO_DATA, CKA_APPLICATION kmsbridge.secret: version ");
    let (current, previous) = (after("ACSCurrent "), after("ACSPrevious "));
    assert_eq!(previous, first, "ACSPrevious is the first version:\n{text}");
    assert_ne!(current, first, "ACSCurrent is a new version:\n{text}");
    assert_eq!(current.len(), 36, "a UUID version id: {current}");
    // The value is never printed: the lines about it say its length only.
    assert!(text.contains("CKA_VALUE: 24 bytes, the value put (not printed here)"), "{text}");
    // The temporary instance is removed afterwards and nothing lands in the data directory.
    let left: Vec<_> = std::fs::read_dir(home.path()).expect("list temp").collect();
    assert!(left.is_empty(), "quickstart left files behind: {left:?}");
}
