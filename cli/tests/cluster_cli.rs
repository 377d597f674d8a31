//! `kmsbridge cluster init` and `kmsbridge cluster status` as an operator runs them:
//! the built binary against a 3-node hardware instance (ci/softhsm/setup --nodes 3
//! --in-process) and a software instance; exit codes 0 / 1 (refused) / 2 (usage).

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use kmsbridge_testkit::rig::{Rig, RigOptions};
use support::{software_rig, Cli};

/// What the cluster commands read from the rig.
const VARS: &[&str] = &[
    "KMSBRIDGE_CONF",
    "KMSBRIDGE_MODULE",
    "KMSBRIDGE_TOKEN_LABEL",
    "SOFTHSM2_CONF",
];

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
    let cli = Cli::new(&rig, VARS);
    let so_pin = rig.var("KMSBRIDGE_SO_PIN").to_string();

    let table = cli.ok(&["cluster", "status"]);
    assert!(table.starts_with("#"), "a header first:\n{table}");
    for k in 0..3 {
        let r = row(&table, k);
        assert!(r.contains(&format!("node{k}")), "{r}");
        assert!(r.contains(" up "), "node {k} up: {r}");
        assert!(r.trim_end().ends_with('-'), "no last error: {r}");
    }

    let out = cli.ok(&["cluster", "init", "--so-pin", &so_pin]);
    assert_eq!(out.trim(), "cluster domain key ready on 3 nodes");
    let out = cli.ok(&["cluster", "init", "--so-pin", &so_pin]);
    assert_eq!(
        out.trim(),
        "cluster domain key ready on 3 nodes",
        "again: the same key"
    );

    let err = cli.expect(1, &["cluster", "init", "--so-pin", "not-the-pin"]);
    assert_eq!(err.trim(), "kmsbridge: SO PIN incorrect");
    let err = cli.expect(2, &["cluster", "init"]);
    assert!(err.contains("--so-pin"), "{err}");
    let err = cli.expect(2, &["cluster", "restart"]);
    assert!(err.contains("cluster init | cluster status"), "{err}");

    rig.stop_node(2);
    // A fresh process meets the lost node when status connects to the nodes.
    let table = cli.ok(&["cluster", "status"]);
    assert!(row(&table, 0).contains(" up "), "{table}");
    let r = row(&table, 2);
    assert!(r.contains(" down "), "node 2 down: {table}");
    assert!(!r.trim_end().ends_with(" -"), "node 2 says why: {r}");

    let json = cli.ok(&["cluster", "status", "--json"]);
    assert!(json.starts_with("{\"instance\":"), "{json}");
    assert_eq!(json.matches("\"index\":").count(), 3, "{json}");
    assert!(json.contains("\"name\":\""), "{json}");
    rig.start_node(2);
    let json = cli.ok(&["cluster", "status", "--json", "--slot", "0"]);
    assert_eq!(json.matches("\"state\":\"up\"").count(), 3, "{json}");
    assert_eq!(json.matches("\"last_error\":null").count(), 3, "{json}");
}

#[test]
fn cluster_init_names_a_missing_so_credential_file() {
    let rig = three_nodes();
    let cli = Cli::new(&rig, VARS);
    let conf = rig.var("KMSBRIDGE_CONF").to_string();
    let text = std::fs::read_to_string(&conf).expect("read the config");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("so_credential_file"))
        .collect();
    std::fs::write(&conf, kept.join("\n") + "\n").expect("write the config");
    let err = cli.expect(
        1,
        &["cluster", "init", "--so-pin", rig.var("KMSBRIDGE_SO_PIN")],
    );
    assert!(err.contains("so_credential_file"), "{err}");
}

#[test]
fn a_software_instance_has_no_cluster() {
    let rig = software_rig();
    let cli = Cli::new(&rig, VARS);
    let out = cli.ok(&["cluster", "status"]);
    assert!(out.contains("no HSM nodes"), "{out}");
    assert_eq!(
        cli.ok(&["cluster", "status", "--json"])
            .matches("\"index\"")
            .count(),
        0
    );
    let err = cli.expect(
        1,
        &["cluster", "init", "--so-pin", rig.var("KMSBRIDGE_SO_PIN")],
    );
    assert!(err.contains("software instance"), "{err}");
}
