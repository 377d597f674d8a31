//! `kmsbridge key ...` and `kmsbridge import ...` as an operator runs them: the built
//! binary against a fresh software instance (ci/softhsm/setup --software), blobs made
//! by the `openssl` command line, exit codes 0 / 1 (refused) / 2 (usage) checked.

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::Path;
use std::process::Command;
use support::{software_rig, Cli};

/// What the key and import commands read from the rig.
const VARS: &[&str] = &[
    "KMSBRIDGE_CONF",
    "KMSBRIDGE_MODULE",
    "KMSBRIDGE_TOKEN_LABEL",
    "KMSBRIDGE_USER_PIN",
];

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl pkeyutl`: `input` RSAES-OAEP (SHA-256, MGF1-SHA-256) encrypted under
/// `public_pem` into `output`, all in `dir`.
fn oaep256_encrypt(dir: &Path, public_pem: &str, input: &str, output: &str) {
    openssl(
        dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            public_pem,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-in",
            input,
            "-out",
            output,
        ],
    );
}

/// The key id `key create` printed ("created key <hex> ...").
fn created_id(out: &str) -> String {
    out.split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no id in {out:?}"))
        .to_string()
}

/// The `key list` row of `alias`.
fn row(cli: &Cli, alias: &str) -> String {
    let list = cli.ok(&["key", "list"]);
    list.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(alias))
        .unwrap_or_else(|| panic!("{alias} not listed:\n{list}"))
        .to_string()
}

#[test]
fn key_lifecycle_through_the_cli() {
    let rig = software_rig();
    let cli = Cli::new(&rig, VARS);

    let out = cli.ok(&["key", "create", "--alias", "cli-aes", "--spec", "aes-256"]);
    assert!(out.contains("aes-256, origin KMS, Enabled"), "{out}");
    let id = created_id(&out);
    let r = row(&cli, "cli-aes");
    assert!(r.starts_with(&id), "{r}");
    for word in ["aes-256", "KMS", "Enabled", "v1"] {
        assert!(r.contains(word), "{word} missing in {r}");
    }
    assert!(
        cli.expect(1, &["key", "create", "--alias", "cli-aes"])
            .contains("already names key"),
        "aliases stay unique"
    );

    assert!(cli
        .ok(&["key", "disable", "cli-aes"])
        .contains("is Disabled"));
    assert!(row(&cli, "cli-aes").contains("Disabled"));
    // Disabling a disabled key changes nothing and says so.
    let out = cli.ok(&["key", "disable", &id]);
    assert!(out.contains("is Disabled (it already was)"), "{out}");
    assert!(cli.ok(&["key", "enable", &id]).contains("is Enabled"));

    let out = cli.ok(&["key", "rotate", "cli-aes"]);
    assert!(out.contains("version 2 is primary"), "{out}");
    assert!(row(&cli, "cli-aes").contains("v2"));
    let d = cli.ok(&["key", "describe", "cli-aes"]);
    for word in [
        "key record (CKO_KMSBRIDGE_KEY)",
        "KMS (generated inside the instance)",
        "version 2 (primary)",
        "version 1:",
        "never extractable",
    ] {
        assert!(d.contains(word), "{word:?} missing in describe:\n{d}");
    }

    let out = cli.ok(&["key", "schedule-deletion", "cli-aes", "--days", "7"]);
    assert!(out.contains("is PendingDeletion"), "{out}");
    assert!(row(&cli, "cli-aes").contains("deleted at"));
    let err = cli.expect(1, &["key", "enable", "cli-aes"]);
    assert!(err.contains("cancel-deletion"), "{err}");
    assert!(cli
        .ok(&["key", "cancel-deletion", "cli-aes"])
        .contains("is Enabled"));
    assert!(cli
        .expect(1, &["key", "cancel-deletion", "cli-aes"])
        .contains("no deletion is scheduled"));
    // Material of a KMS-generated key cannot be deleted.
    let err = cli.expect(1, &["key", "delete-material", "cli-aes"]);
    assert!(err.contains("only imported material"), "{err}");

    let ec = cli.ok(&["key", "create", "--spec", "ec-p384"]);
    assert!(ec.contains("ec-p384, origin KMS, Enabled"), "{ec}");

    // Usage errors exit 2; unknown keys are refusals (1).
    cli.expect(2, &["key", "create", "--spec", "aes-512"]);
    cli.expect(2, &["key", "schedule-deletion", "cli-aes", "--days", "3"]);
    cli.expect(2, &["key", "frobnicate"]);
    cli.expect(2, &["key", "enable"]);
    let err = cli.expect(1, &["key", "describe", "no-such-key"]);
    assert!(err.contains("no key has the id or alias"), "{err}");
}

#[test]
fn import_round_trips_with_openssl_blobs() {
    let rig = software_rig();
    let cli = Cli::new(&rig, VARS);
    let work = tempfile::tempdir().expect("scratch directory");
    let dir = work.path();
    let p = |name: &str| dir.join(name).display().to_string();
    openssl(dir, &["rand", "-out", "material", "32"]);

    let out = cli.ok(&["key", "create", "--alias", "ext", "--origin", "external"]);
    assert!(out.contains("origin EXTERNAL, PendingImport"), "{out}");
    let err = cli.expect(1, &["key", "enable", "ext"]);
    assert!(err.contains("no material"), "{err}");

    // RSAES_OAEP_SHA_256: the material OAEP-encrypted under public.pem.
    let out = cli.ok(&["import", "get-parameters", "ext", "--out", &p("p1")]);
    assert!(out.contains("the token expires at"), "{out}");
    oaep256_encrypt(dir, "p1/public.pem", "material", "blob1");
    // `import key-material ext` of an RSAES_OAEP_SHA_256 blob, expecting `code`.
    let import_oaep256 = |code: i32, blob: &str, token: &str| {
        cli.expect(
            code,
            &[
                "import",
                "key-material",
                "ext",
                "--blob",
                &p(blob),
                "--token",
                &p(token),
                "--algorithm",
                "RSAES_OAEP_SHA_256",
            ],
        )
    };
    let out = import_oaep256(0, "blob1", "p1/token");
    assert!(out.contains("origin EXTERNAL): it is Enabled"), "{out}");
    let d = cli.ok(&["key", "describe", "ext"]);
    assert!(d.contains("EXTERNAL (imported)"), "{d}");
    // A token serves one import.
    let err = import_oaep256(1, "blob1", "p1/token");
    assert!(
        err.contains("already used") || err.contains("no import key carries this token"),
        "{err}"
    );
    // Imported material cannot be rotated.
    assert!(cli
        .expect(1, &["key", "rotate", "ext"])
        .contains("cannot be rotated"));

    // Delete the material, then bring it back with RSA_AES_KEY_WRAP_SHA_256: a fresh
    // AES-256 key OAEP-encrypted, followed by the RFC 5649 wrap of the material.
    let out = cli.ok(&["key", "delete-material", "ext"]);
    assert!(out.contains("PendingImport"), "{out}");
    cli.ok(&[
        "import",
        "get-parameters",
        "ext",
        "--bits",
        "3072",
        "--out",
        &p("p2"),
    ]);
    openssl(dir, &["rand", "-out", "aes", "32"]);
    let aes_hex: String = std::fs::read(dir.join("aes"))
        .expect("read aes")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    oaep256_encrypt(dir, "p2/public.pem", "aes", "outer");
    openssl(
        dir,
        &[
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            &aes_hex,
            "-iv",
            "A65959A6",
            "-in",
            "material",
            "-out",
            "inner",
        ],
    );
    let mut blob = std::fs::read(dir.join("outer")).expect("read outer");
    blob.extend(std::fs::read(dir.join("inner")).expect("read inner"));
    std::fs::write(dir.join("blob2"), blob).expect("write blob2");
    let expiry = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600)
        .to_string();
    let out = cli.ok(&[
        "import",
        "key-material",
        "ext",
        "--blob",
        &p("blob2"),
        "--token",
        &p("p2/token"),
        "--algorithm",
        "RSA_AES_KEY_WRAP_SHA_256",
        "--expire-unix",
        &expiry,
    ]);
    assert!(
        out.contains("it is Enabled; the material expires at"),
        "{out}"
    );
    assert!(row(&cli, "ext").contains("material expires"));

    // Other material is refused for a key that had material.
    cli.ok(&["key", "delete-material", "ext"]);
    cli.ok(&["import", "get-parameters", "ext", "--out", &p("p3")]);
    openssl(dir, &["rand", "-out", "other", "32"]);
    oaep256_encrypt(dir, "p3/public.pem", "other", "blob3");
    let err = import_oaep256(1, "blob3", "p3/token");
    assert!(err.contains("had other material"), "{err}");

    // A token of another key is refused with its own message.
    cli.ok(&["key", "create", "--alias", "ext2", "--origin", "external"]);
    cli.ok(&["import", "get-parameters", "ext2", "--out", &p("p4")]);
    oaep256_encrypt(dir, "p4/public.pem", "material", "blob4");
    let err = import_oaep256(1, "blob4", "p4/token");
    assert!(err.contains("issued for another key"), "{err}");
    // Usage errors.
    cli.expect(
        2,
        &[
            "import",
            "key-material",
            "ext",
            "--blob",
            &p("blob4"),
            "--token",
            &p("p4/token"),
            "--algorithm",
            "AES",
        ],
    );
    cli.expect(
        2,
        &[
            "import",
            "get-parameters",
            "ext",
            "--out",
            &p("p5"),
            "--bits",
            "1024",
        ],
    );
    cli.expect(2, &["import", "get-parameters", "ext"]);
}
