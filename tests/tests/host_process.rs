//! What the module leaves of itself in its host process (docs/HOST_PROCESS.md),
//! checked by C programs (tests/c/) compiled here with `cc` against libcrypto: the
//! OpenSSL error queue, errno and the signal mask after every call, in a process and
//! its forked child, on hardware, software and 3-node cluster instances; and a
//! client that keeps SIGPIPE's default action surviving a killed p11-kit node.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags};
use kmsbridge_testkit::module::{find_slot, Module};
use kmsbridge_testkit::rig::{workspace_root, Rig, RigOptions};
use kmsbridge_testkit::scratch::temp_dir;
use kmsbridge_tests::cluster::provision_domain_key;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Compiles `tests/c/NAME.c` into a fresh directory; the binary's path.
fn compile(name: &str) -> PathBuf {
    let src = workspace_root().join(format!("tests/c/{name}.c"));
    let out = temp_dir("kmsbridge-c-").join(name);
    let res = Command::new("cc")
        .args(["-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .args(["-I/usr/include/p11-kit-1", "-lcrypto", "-ldl", "-lpthread"])
        .output()
        .expect("run cc (ci/softhsm/install installs gcc, libssl-dev, libp11-kit-dev)");
    assert!(
        res.status.success(),
        "cc {} failed: {}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// Runs quiet_fork against the rig's instance; panics with its output unless it
/// exits 0.
fn quiet_fork(rig: &Rig) {
    let bin = compile("quiet_fork");
    let out = Command::new(&bin)
        .arg(rig.var("KMSBRIDGE_MODULE"))
        .arg(rig.var("KMSBRIDGE_TOKEN_LABEL"))
        .arg(rig.var("KMSBRIDGE_USER_PIN"))
        .output()
        .expect("run quiet_fork");
    assert!(
        out.status.success(),
        "quiet_fork: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all quiet"));
}

#[test]
fn a_hardware_instance_leaves_the_error_queue_errno_and_mask_as_found_across_fork() {
    quiet_fork(&Rig::new());
}

#[test]
fn a_software_instance_leaves_the_error_queue_errno_and_mask_as_found_across_fork() {
    quiet_fork(&Rig::with_options(&RigOptions { software: true, ..Default::default() }));
}

#[test]
fn a_3_node_cluster_leaves_the_error_queue_errno_and_mask_as_found_across_fork() {
    // In-process nodes: the p11-kit RPC cannot carry every call the program makes.
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    // Sensitive token keys are replicated under the cluster's domain key.
    provision_domain_key(&rig);
    quiet_fork(&rig);
}

#[test]
fn a_client_keeping_sigpipe_survives_a_killed_p11_kit_node() {
    let rig = Rig::with_options(&RigOptions { nodes: Some(3), ..Default::default() });
    let bin = compile("quiet_pipe");
    let mut child = Command::new(&bin)
        .arg(rig.var("KMSBRIDGE_MODULE"))
        .arg(rig.var("KMSBRIDGE_TOKEN_LABEL"))
        .arg(rig.var("KMSBRIDGE_USER_PIN"))
        .arg("40")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run quiet_pipe");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read quiet_pipe's first line");
    assert_eq!(line.trim(), "ready", "quiet_pipe did not get ready");

    // Every node in turn: the client's connections to it die with its server.
    rig.stop_node(0);
    std::thread::sleep(Duration::from_millis(100));
    child.stdin.take().expect("stdin").write_all(b"go\n").expect("tell quiet_pipe to go on");
    std::thread::sleep(Duration::from_millis(300));
    rig.stop_node(1);

    let out = child.wait_with_output().expect("wait for quiet_pipe");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    assert_eq!(
        out.status.signal(),
        None,
        "quiet_pipe was killed by signal {:?}; stderr: {}",
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "quiet_pipe: {}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rest.contains("done:"), "quiet_pipe's last words: {rest}");
}

/// The module's log so far (`KMSBRIDGE_LOG=info` set before loading).
fn log(rig: &Rig) -> String {
    std::fs::read_to_string(rig.dir().join("kmsbridge.log")).unwrap_or_default()
}

#[test]
fn c_initialize_starts_every_node_before_any_other_call() {
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    std::env::set_var("KMSBRIDGE_LOG", "info");
    let ctx = cryptoki::context::Pkcs11::new(rig.var("KMSBRIDGE_MODULE")).expect("load the module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let connected = log(&rig).matches("node connected").count();
    assert_eq!(connected, 3, "nodes connected by C_Initialize alone; log:\n{}", log(&rig));
    // First use starts nothing more.
    let slot = find_slot(&ctx, rig.var("KMSBRIDGE_TOKEN_LABEL")).expect("the instance's slot");
    let m = Module {
        ctx,
        slot,
        user_pin: rig.var("KMSBRIDGE_USER_PIN").into(),
        so_pin: rig.var("KMSBRIDGE_SO_PIN").into(),
    };
    let s = m.user_session();
    s.generate_random_vec(16).expect("C_GenerateRandom");
    assert_eq!(log(&rig).matches("node connected").count(), 3);
}

#[test]
fn a_node_down_at_c_initialize_neither_fails_nor_hangs_it() {
    let rig = Rig::with_options(&RigOptions { nodes: Some(3), ..Default::default() });
    rig.stop_node(1);
    let started = Instant::now();
    let m = Module::load();
    // C_Initialize waits for starting nodes at most the call timeout (call_timeout_ms,
    // by default 10 s: ClusterConfig::default() in cluster/src/lib.rs); a stopped node
    // refuses its connection at once. So the bound is that timeout: a C_Initialize
    // that waited for the down node takes at least that long and fails; one that does
    // not takes about 1 s, which leaves 9 s of margin for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "C_Initialize with a node down took {:?}",
        started.elapsed()
    );
    let s = m.user_session();
    s.generate_random_vec(16).expect("C_GenerateRandom on the nodes that are up");
    rig.start_node(1);
}
