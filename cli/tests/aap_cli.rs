//! `kmsbridge aap ...` as an operator runs it, on a software and a hardware instance
//! (ci/softhsm/setup): access points made, described, given policies and client keys
//! through the built binary; the printed client keys then log in through the module
//! loaded here with cryptoki, and revoked, locked or deleted ones do not. Exit codes
//! 0 / 1 (refused) / 2 (usage) checked. One rig per test process (nextest).

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::Rig;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{software_rig, Cli};

const VARS: &[&str] = &[
    "KMSBRIDGE_CONF",
    "KMSBRIDGE_MODULE",
    "KMSBRIDGE_TOKEN_LABEL",
    "SOFTHSM2_CONF",
];

const PAYMENTS: &str = r#"[[statement]]
sid = "payments"
actions = ["encrypt", "decrypt"]
resources = ["alias/pay-*"]
"#;

/// Line 3 names an action that does not exist.
const BAD: &str = r#"[[statement]]
sid = "broken"
actions = ["encrypt", "explode"]
resources = ["key/*"]
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// The client key a `credential add` printed: the one line of standard output.
fn key_of(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "only the key on standard output: {out:?}");
    assert!(lines[0].starts_with("kb1."), "{out:?}");
    lines[0].to_string()
}

fn id_of(key: &str) -> String {
    key.split('.').nth(1).unwrap().to_string()
}

fn login(s: &Session, key: &str) -> cryptoki::error::Result<()> {
    s.login(UserType::User, Some(&AuthPin::new(key.to_string().into())))
}

/// Logs in with `key`, checks it sees what its policy covers, logs out.
fn works(m: &Module, key: &str) {
    let s = m.ctx.open_rw_session(m.slot).unwrap();
    login(&s, key).expect("the printed client key logs in");
    let found = |label: &str| {
        s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .unwrap()
            .len()
    };
    assert_eq!(found("pay-1"), 1, "payments sees its key");
    assert_eq!(found("other-1"), 0, "and not another");
    s.logout().unwrap();
}

fn refused(m: &Module, key: &str) -> RvError {
    let s = m.ctx.open_rw_session(m.slot).unwrap();
    err_of(login(&s, key))
}

/// The keys the policy speaks of, made under the default access point.
fn user_keys(m: &Module) {
    let s = m.user_session();
    for label in ["pay-1", "other-1"] {
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::ValueLen(32.into()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )
        .unwrap();
    }
    s.logout().unwrap();
}

fn administer(rig: &Rig) {
    let cli = Cli::new(rig, VARS);
    let dir = rig.dir();
    let so = write(dir, "so.pin", &format!("{}\n", rig.var("KMSBRIDGE_SO_PIN")));
    let so_args = ["--so-pin-file", so.as_str()];
    let run = |code: i32, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(so_args);
        cli.expect(code, &all)
    };
    let ok = |args: &[&str]| run(0, args);

    // Without the SO PIN the command says how to give it.
    let err = cli.expect(2, &["aap", "list"]);
    assert!(err.contains("--so-pin-file"), "{err}");
    let wrong = write(dir, "wrong.pin", "not-the-pin");
    let err = cli.expect(1, &["aap", "list", "--so-pin-file", &wrong]);
    assert!(err.contains("SO PIN was refused"), "{err}");

    assert!(ok(&["aap", "list"]).contains("no access points besides the default one"));
    let policy = write(dir, "payments.toml", PAYMENTS);
    let out = ok(&[
        "aap",
        "create",
        "payments",
        "--description",
        "the payments service",
        "--policy-file",
        &policy,
    ]);
    assert!(out.contains("created access point payments"), "{out}");
    let err = run(1, &["aap", "create", "payments"]);
    assert!(
        err.contains("already has an access point payments"),
        "{err}"
    );
    let err = run(2, &["aap", "create", "default"]);
    assert!(err.contains("user PIN"), "{err}");
    let err = run(2, &["aap", "create", "a/b"]);
    assert!(err.contains("not an access point name"), "{err}");

    // A bad policy file is refused here, naming the file and the line.
    let bad = write(dir, "bad.toml", BAD);
    let err = run(1, &["aap", "create", "reports", "--policy-file", &bad]);
    assert!(err.contains(&bad), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("unknown action \"explode\""), "{err}");
    assert!(
        !ok(&["aap", "list"]).contains("reports"),
        "nothing was made"
    );

    // Client keys: on standard output once, or in a new 0600 file.
    let out = run(0, &["aap", "credential", "add", "payments"]);
    let first = key_of(&out);
    let key_file = dir.join("payments.key");
    let key_path = key_file.to_str().unwrap();
    let out = ok(&[
        "aap",
        "credential",
        "add",
        "payments",
        "--not-after",
        "2099-01-01T00:00:00Z",
        "--out",
        key_path,
    ]);
    assert!(!out.contains("kb1."), "the key is only in the file: {out}");
    assert!(out.contains("cannot be shown again"), "{out}");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "--out makes a 0600 file");
    let second = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(second.starts_with("kb1."));
    let err = run(
        1,
        &["aap", "credential", "add", "payments", "--out", key_path],
    );
    assert!(err.contains("exists"), "never over a file: {err}");
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().trim(),
        second,
        "the file is untouched"
    );

    let list = ok(&["aap", "list"]);
    let row = list.lines().find(|l| l.starts_with("payments")).unwrap();
    assert!(row.contains("stored"), "{row}");
    assert!(row.contains("the payments service"), "{row}");
    let described = ok(&["aap", "describe", "payments"]);
    for want in [
        id_of(&first).as_str(),
        id_of(&second).as_str(),
        "2099-01-01T00:00:00Z",
        "alias/pay-*",
        "stored in the instance",
    ] {
        assert!(described.contains(want), "{want} missing:\n{described}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["aap", "describe", "payments", "--json"])).unwrap();
    assert_eq!(v["name"], "payments");
    assert_eq!(v["source"], "stored");
    assert_eq!(v["policy"], PAYMENTS);
    assert_eq!(v["credentials"].as_array().unwrap().len(), 2);
    assert_eq!(v["credentials"][1]["not_after"], 4_070_908_800u64);
    let v: serde_json::Value = serde_json::from_str(&ok(&["aap", "list", "--json"])).unwrap();
    assert_eq!(v["access_points"][0]["name"], "payments");
    assert_eq!(v["instance"], rig.var("KMSBRIDGE_TOKEN_LABEL"));

    // The printed keys log in through the module, as payments.
    let m = Module::load();
    user_keys(&m);
    works(&m, &first);
    works(&m, &second);

    // Policies: set (checked here first) and shown as stored.
    let wider = format!(
        "{PAYMENTS}\n[[statement]]\nactions = [\"verify\"]\nresources = [\"alias/report-*\"]\n"
    );
    let wider_file = write(dir, "wider.toml", &wider);
    ok(&["aap", "policy", "set", "payments", &wider_file]);
    assert_eq!(ok(&["aap", "policy", "show", "payments"]), wider);
    let err = run(1, &["aap", "policy", "set", "payments", &bad]);
    assert!(err.contains("line 3"), "{err}");
    assert_eq!(
        ok(&["aap", "policy", "show", "payments"]),
        wider,
        "unchanged"
    );

    // Lockout: wrong secrets for the second credential lock it; unlock clears it.
    let guess = format!("kb1.{}.{}", id_of(&second), "A".repeat(43));
    for _ in 0..10 {
        assert_eq!(refused(&m, &guess), RvError::PinIncorrect);
    }
    assert_eq!(
        refused(&m, &second),
        RvError::PinLocked,
        "locked, the right key too"
    );
    let creds = ok(&["aap", "credential", "list", "payments"]);
    let locked = creds
        .lines()
        .find(|l| l.starts_with(&id_of(&second)))
        .unwrap();
    assert!(locked.contains("locked"), "{creds}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["aap", "credential", "list", "payments", "--json"])).unwrap();
    let c = v["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id_of(&second))
        .unwrap();
    assert_eq!(c["locked"], true);
    assert_eq!(c["state"], "locked");
    ok(&["aap", "credential", "unlock", "payments", &id_of(&second)]);
    works(&m, &second);

    // Revocation: that key no longer logs in; the other still does.
    let out = ok(&["aap", "credential", "revoke", "payments", &id_of(&first)]);
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(refused(&m, &first), RvError::PinIncorrect);
    works(&m, &second);
    assert!(!ok(&["aap", "credential", "list", "payments"]).contains(&id_of(&first)));
    let err = run(
        1,
        &["aap", "credential", "revoke", "payments", &id_of(&first)],
    );
    assert!(err.contains("has no credential"), "{err}");
    let err = run(2, &["aap", "credential", "unlock", "payments", "XYZ"]);
    assert!(err.contains("not a credential id"), "{err}");
    let err = run(1, &["aap", "describe", "nobody"]);
    assert!(err.contains("no access point is named \"nobody\""), "{err}");

    // Deleting the access point ends its keys.
    ok(&["aap", "delete", "payments"]);
    assert_eq!(refused(&m, &second), RvError::PinIncorrect);
    assert!(ok(&["aap", "list"]).contains("no access points besides"));
}

#[test]
fn software_instance_access_points_through_the_cli() {
    administer(&software_rig());
}

#[test]
fn hardware_instance_access_points_through_the_cli() {
    administer(&Rig::new());
}

/// A hardware instance's configuration defines an access point with a credential
/// from `aap credential hash`: its key logs in, and the CLI refuses to change it,
/// naming the file.
#[test]
fn configured_access_point_is_edited_in_the_file() {
    let rig = Rig::new();
    let cli = Cli::new(&rig, VARS);
    let dir = rig.dir();
    let so = write(dir, "so.pin", rig.var("KMSBRIDGE_SO_PIN"));
    let key_file = dir.join("cfg.key");
    let out = cli.ok(&[
        "aap",
        "credential",
        "hash",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--out",
        key_file.to_str().unwrap(),
    ]);
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let snippet: String = out
        .lines()
        .skip_while(|l| !l.starts_with("[[instance.access_point.credential]]"))
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(snippet.contains("hash = \"kb1-argon2id$"), "{out}");
    assert!(snippet.contains("not_before = 1577836800"), "{out}");
    let conf = rig.var("KMSBRIDGE_CONF");
    let mut text = std::fs::read_to_string(conf).unwrap();
    text.push_str(&format!(
        "\n[[instance.access_point]]\nname = \"cfg\"\ndescription = \"from the file\"\npolicy = '''\n{PAYMENTS}'''\n\n{snippet}"
    ));
    std::fs::write(conf, text).unwrap();

    let list = cli.ok(&["aap", "list", "--so-pin-file", &so]);
    let row = list
        .lines()
        .find(|l| l.starts_with("cfg"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("configured"), "{row}");
    let described = cli.ok(&["aap", "describe", "cfg", "--so-pin-file", &so]);
    assert!(
        described.contains(&format!("configured in {conf}")),
        "{described}"
    );
    assert!(described.contains(&id_of(&key)), "{described}");

    let policy = write(dir, "p.toml", PAYMENTS);
    for args in [
        vec!["aap", "policy", "set", "cfg", policy.as_str()],
        vec!["aap", "credential", "add", "cfg"],
        vec!["aap", "delete", "cfg"],
    ] {
        let mut args = args;
        args.extend(["--so-pin-file", so.as_str()]);
        let err = cli.expect(1, &args);
        assert!(
            err.contains(&format!("cfg is defined in {conf}: edit it there")),
            "{args:?}: {err}"
        );
    }

    let m = Module::load();
    user_keys(&m);
    works(&m, &key);
}
