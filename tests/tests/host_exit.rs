//! C_Finalize during process exit (issue 11): a C program registers an exit handler
//! before it loads the module (as OpenSSL 3's pkcs11 provider does), uses a key, returns
//! from main without finalising, and its handler calls C_Finalize — after the module's
//! and the backend libraries' own exit-time code has run. It must exit 0, not crash,
//! on a hardware instance, a software instance and a 3-node in-process cluster. The
//! program is tests/c/exit_finalize.c, compiled here with the system C compiler.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kmsbridge_testkit::rig::{cli_path, workspace_root, Rig, RigOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

/// tests/c/exit_finalize.c built into `dir`.
fn build(dir: &Path) -> PathBuf {
    let src = workspace_root().join("tests/c/exit_finalize.c");
    let exe = dir.join("exit_finalize");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-ldl")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(out.status.success(), "{cc} failed: {}", String::from_utf8_lossy(&out.stderr));
    exe
}

/// Runs the program against the rig; `in_main`: C_Finalize in main instead (the normal path).
fn run(rig: &Rig, in_main: bool) {
    let exe = build(rig.dir());
    let mut cmd = Command::new(&exe);
    cmd.arg(rig.var("KMSBRIDGE_MODULE"))
        .arg(rig.var("KMSBRIDGE_TOKEN_LABEL"))
        .arg(rig.var("KMSBRIDGE_USER_PIN"));
    if in_main {
        cmd.arg("finalize-in-main");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit_finalize ended with {} (a signal is a crash)\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(stdout.contains("signed and verified"), "the key was used: {stdout}");
    let finalized =
        if in_main { "main: C_Finalize = 0x0" } else { "exit handler: C_Finalize = 0x0" };
    assert!(stdout.contains(finalized), "C_Finalize returned CKR_OK: {stdout}");
    assert!(!stderr.contains("panicked"), "no panic in the module: {stderr}");
}

#[test]
fn finalize_from_an_exit_handler_on_a_hardware_instance_exits_cleanly() {
    let rig = Rig::new();
    run(&rig, false);
    run(&rig, true);
}

#[test]
fn finalize_from_an_exit_handler_on_a_software_instance_exits_cleanly() {
    let rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    run(&rig, false);
    run(&rig, true);
}

#[test]
fn finalize_from_an_exit_handler_on_a_3_node_cluster_exits_cleanly() {
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    let out = Command::new(cli_path())
        .args(["cluster", "init", "--so-pin", rig.var("KMSBRIDGE_SO_PIN")])
        .output()
        .unwrap();
    assert!(out.status.success(), "cluster init: {}", String::from_utf8_lossy(&out.stderr));
    run(&rig, false);
    run(&rig, true);
}
