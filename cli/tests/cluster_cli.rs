//! `kmsbridge cluster init` and `kmsbridge cluster status` as an operator runs them:
//! the built binary against a 3-node hardware instance (ci/softhsm/setup --nodes 3
//! --in-process) and a software instance; exit codes 0 / 1 (refused) / 2 (usage).

use kmsbridge_tests::rig::{Rig, RigOptions};
use std::process::{Command, Output};

fn run(rig: &Rig, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmsbridge"));
    cmd.args(args);
    for k in [
        "KMSBRIDGE_CONF",
        "KMSBRIDGE_MODULE",
        "KMSBRIDGE_TOKEN_LABEL",
        "SOFTHSM2_CONF",
    ] {
        cmd.env(k, rig.var(k));
    }
    cmd.env_remove("KMSBRIDGE_SO_PIN");
    cmd.output().expect("run kmsbridge")
}

/// Runs and expects `code`; returns stdout (for 0) or stderr.
fn expect(rig: &Rig, code: i32, args: &[&str]) -> String {
    let out = run(rig, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "kmsbridge {}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        args.join(" "),
        out.status.code()
    );
    if code == 0 {
        stdout
    } else {
        stderr
    }
}

fn three_nodes() -> Rig {
    Rig::with_options(&RigOptions {
        nodes: Some(3),
        in_process: true,
        ..Default::default()
    })
}

/// The status table's row of node `k` (rows start with the index).
fn row(table: &str, k: usize) -> String {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&k.to_string()))
        .unwrap_or_else(|| panic!("no row for node {k}:\n{table}"))
        .to_string()
}

#[test]
fn cluster_init_and_status_on_three_nodes() {
    let rig = three_nodes();
    let so_pin = rig.var("KMSBRIDGE_SO_PIN").to_string();

    let table = expect(&rig, 0, &["cluster", "status"]);
    assert!(table.starts_with("#"), "a header first:\n{table}");
    for k in 0..3 {
        let r = row(&table, k);
        assert!(r.contains(&format!("node{k}")), "{r}");
        assert!(r.contains(" up "), "node {k} up: {r}");
        assert!(r.trim_end().ends_with('-'), "no last error: {r}");
    }

    let out = expect(&rig, 0, &["cluster", "init", "--so-pin", &so_pin]);
    assert_eq!(out.trim(), "cluster domain key ready on 3 nodes");
    let out = expect(&rig, 0, &["cluster", "init", "--so-pin", &so_pin]);
    assert_eq!(
        out.trim(),
        "cluster domain key ready on 3 nodes",
        "again: the same key"
    );

    let err = expect(&rig, 1, &["cluster", "init", "--so-pin", "not-the-pin"]);
    assert_eq!(err.trim(), "kmsbridge: SO PIN incorrect");
    let err = expect(&rig, 2, &["cluster", "init"]);
    assert!(err.contains("--so-pin"), "{err}");
    let err = expect(&rig, 2, &["cluster", "restart"]);
    assert!(err.contains("cluster init | cluster status"), "{err}");

    rig.stop_node(2);
    // A fresh process meets the lost node when status connects to the nodes.
    let table = expect(&rig, 0, &["cluster", "status"]);
    assert!(row(&table, 0).contains(" up "), "{table}");
    let r = row(&table, 2);
    assert!(r.contains(" down "), "node 2 down: {table}");
    assert!(!r.trim_end().ends_with(" -"), "node 2 says why: {r}");

    let json = expect(&rig, 0, &["cluster", "status", "--json"]);
    assert!(json.starts_with("{\"instance\":"), "{json}");
    assert_eq!(json.matches("\"index\":").count(), 3, "{json}");
    assert!(json.contains("\"name\":\""), "{json}");
    rig.start_node(2);
    let json = expect(&rig, 0, &["cluster", "status", "--json", "--slot", "0"]);
    assert_eq!(json.matches("\"state\":\"up\"").count(), 3, "{json}");
    assert_eq!(json.matches("\"last_error\":null").count(), 3, "{json}");
}

#[test]
fn cluster_init_names_a_missing_so_credential_file() {
    let rig = three_nodes();
    let conf = rig.var("KMSBRIDGE_CONF").to_string();
    let text = std::fs::read_to_string(&conf).expect("read the config");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("so_credential_file"))
        .collect();
    std::fs::write(&conf, kept.join("\n") + "\n").expect("write the config");
    let err = expect(
        &rig,
        1,
        &["cluster", "init", "--so-pin", rig.var("KMSBRIDGE_SO_PIN")],
    );
    assert!(err.contains("so_credential_file"), "{err}");
}

#[test]
fn a_software_instance_has_no_cluster() {
    let rig = Rig::with_options(&RigOptions {
        software: true,
        ..Default::default()
    });
    let out = expect(&rig, 0, &["cluster", "status"]);
    assert!(out.contains("no HSM nodes"), "{out}");
    assert_eq!(
        expect(&rig, 0, &["cluster", "status", "--json"])
            .matches("\"index\"")
            .count(),
        0
    );
    let err = expect(
        &rig,
        1,
        &["cluster", "init", "--so-pin", rig.var("KMSBRIDGE_SO_PIN")],
    );
    assert!(err.contains("software instance"), "{err}");
}
