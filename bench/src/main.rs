//! kmsbridge-bench: the same PKCS#11 operations direct to SoftHSM2, through kmsbridge
//! on a hardware instance (bridged to that SoftHSM2 token), and through kmsbridge on a
//! software instance (keys in-module), side by side.
//!
//! The parent process makes two isolated rigs (`ci/softhsm/setup` into a temporary
//! directory: one with a hardware instance over a SoftHSM2 token, one with
//! `--software`), then runs every (operation, threads, target) cell in a child
//! process — this same binary re-executed with `--target direct|bridge|software
//! --op X --threads N`, in the environment of the target's rig. Children are needed
//! because kmsbridge loads the same `libsofthsm2.so` that the direct target uses: in
//! one process both would share SoftHSM2's global state (one `dlopen` handle, one
//! `C_Initialize`); and PKCS#11 state is per process anyway. Each child prints one
//! `RESULT` line; the parent collects them and prints the table.
//!
//! Both targets are driven through the same `cryptoki` calls, so both pay the
//! same wrapper overhead (e.g. the length query that `Session::encrypt`/`sign` do
//! before the real call).
//!
//! This is a measurement tool, not a test: nothing here asserts on timings.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

mod cluster;

// ---------------------------------------------------------------------------
// Operations

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    AesGcm,
    AesCbc,
    RsaSign,
    EcdsaSign,
    Hmac,
    Random,
    Session,
}

const ALL_OPS: [Op; 7] = [
    Op::AesGcm,
    Op::AesCbc,
    Op::RsaSign,
    Op::EcdsaSign,
    Op::Hmac,
    Op::Random,
    Op::Session,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::AesGcm => "aes-gcm",
            Op::AesCbc => "aes-cbc",
            Op::RsaSign => "rsa-sign",
            Op::EcdsaSign => "ecdsa-sign",
            Op::Hmac => "hmac",
            Op::Random => "random",
            Op::Session => "session",
        }
    }
    fn describe(self) -> &'static str {
        match self {
            Op::AesGcm => "AES-256-GCM encrypt, 1 KiB, 12-byte IV, 128-bit tag (CKM_AES_GCM)",
            Op::AesCbc => "AES-256-CBC encrypt, 1 KiB, 16-byte IV, no padding (CKM_AES_CBC)",
            Op::RsaSign => {
                "RSA-2048 PKCS#1 v1.5 sign of a SHA-256 DigestInfo (CKM_RSA_PKCS, 51 bytes in)"
            }
            Op::EcdsaSign => "ECDSA P-256 sign of a 32-byte hash (CKM_ECDSA)",
            Op::Hmac => "HMAC-SHA256 of 1 KiB, 32-byte key (CKM_SHA256_HMAC)",
            Op::Random => "C_GenerateRandom, 32 bytes",
            Op::Session => "C_OpenSession (R/O) + C_CloseSession",
        }
    }
    fn parse(s: &str) -> Result<Op, String> {
        ALL_OPS
            .iter()
            .copied()
            .find(|o| o.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown op {s:?}; known: {}",
                    ALL_OPS
                        .iter()
                        .map(|o| o.name())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Direct,
    Bridge,
    Software,
}

const ALL_TARGETS: [Target; 3] = [Target::Direct, Target::Bridge, Target::Software];

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Bridge => "bridge",
            Target::Software => "software",
        }
    }
    fn parse(s: &str) -> Result<Target, String> {
        match s {
            "direct" => Ok(Target::Direct),
            "bridge" => Ok(Target::Bridge),
            "software" => Ok(Target::Software),
            _ => Err(format!(
                "unknown target {s:?}; known: direct,bridge,software"
            )),
        }
    }
    /// (module, token label, user PIN) environment variable names, as printed by
    /// `ci/softhsm/setup` (for `software`, by `ci/softhsm/setup --software`: the parent
    /// runs that target's children in the software rig's environment).
    fn env_names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Target::Direct => (
                "SOFTHSM2_MODULE",
                "SOFTHSM2_TOKEN_LABEL",
                "SOFTHSM2_USER_PIN",
            ),
            Target::Bridge | Target::Software => (
                "KMSBRIDGE_MODULE",
                "KMSBRIDGE_TOKEN_LABEL",
                "KMSBRIDGE_USER_PIN",
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// Command line

struct Opts {
    seconds: f64,
    warmup: f64,
    repeat: usize,
    ops: Vec<Op>,
    threads: Vec<usize>,
    targets: Vec<Target>,
    pool: Option<usize>,
    keep: bool,
    setup: Option<PathBuf>,
    kms: bool,
    // child mode
    child_target: Option<Target>,
    child_op: Option<Op>,
    child_threads: Option<usize>,
}

const USAGE: &str = "\
usage: kmsbridge-bench [--seconds S] [--warmup S] [--repeat R] [--ops a,b,..] [--threads 1,2,8]
                       [--targets direct,bridge,software] [--pool N] [--keep] [--kms] [--setup PATH]

Benchmarks the same PKCS#11 operations direct to SoftHSM2, through kmsbridge on a
hardware instance over that SoftHSM2 token (bridge), and through kmsbridge on a software
instance (software), each (op, threads, target) cell in its own child process, and
prints a side-by-side table (markdown) on stdout. Progress and errors go to stderr.

  --seconds S    measured seconds per cell (default 3)
  --warmup S     warm-up seconds per cell before measuring (default 1)
  --repeat R     runs per cell and target, alternating targets; the median run by
                 ops/s is reported (default 1)
  --ops LIST     operations (default all): aes-gcm,aes-cbc,rsa-sign,ecdsa-sign,hmac,random,
                 session
  --threads LIST client thread counts (default 1,2,8); each thread has its own session,
                 the user is logged in once per process
  --targets LIST direct,bridge,software (default all three)
  --pool N       kmsbridge backend pool size written into the hardware rig's config
                 (default: the largest thread count)
  --keep         keep the temporary rig directory and print its path
  --kms          on kmsbridge targets, put the bench's keys under the KMS lifecycle (a
                 key record each, docs/KEYS.md), so every use pays the state check
  --setup PATH   the rig script (default: <repo>/ci/softhsm/setup); the software rig is
                 made with `PATH DIR --software`, which needs target/release/kmsbridge

Environment: KMSBRIDGE_MODULE (default <repo>/target/release/libkmsbridge.so),
SOFTHSM2_MODULE (default /usr/lib/softhsm/libsofthsm2.so) are passed to the rigs.
Cluster capacity benchmark (issue 5, item 7): kmsbridge-bench --cluster --help
Child mode (internal): --target direct|bridge|software --op OP --threads N
";

fn parse_list<T>(s: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| f(x.trim()))
        .collect()
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        seconds: 3.0,
        warmup: 1.0,
        repeat: 1,
        ops: ALL_OPS.to_vec(),
        threads: vec![1, 2, 8],
        targets: ALL_TARGETS.to_vec(),
        pool: None,
        keep: false,
        setup: None,
        kms: false,
        child_target: None,
        child_op: None,
        child_threads: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => {
                o.seconds = val("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--warmup" => {
                o.warmup = val("--warmup")?
                    .parse()
                    .map_err(|e| format!("--warmup: {e}"))?
            }
            "--repeat" => {
                o.repeat = val("--repeat")?
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--repeat needs a positive number")?
            }
            "--ops" => o.ops = parse_list(&val("--ops")?, Op::parse)?,
            "--threads" => {
                o.threads = parse_list(&val("--threads")?, |s| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("bad thread count {s:?}"))
                })?
            }
            "--targets" => o.targets = parse_list(&val("--targets")?, Target::parse)?,
            "--pool" => o.pool = Some(val("--pool")?.parse().map_err(|e| format!("--pool: {e}"))?),
            "--keep" => o.keep = true,
            "--kms" => o.kms = true,
            "--setup" => o.setup = Some(PathBuf::from(val("--setup")?)),
            "--target" => o.child_target = Some(Target::parse(&val("--target")?)?),
            "--op" => o.child_op = Some(Op::parse(&val("--op")?)?),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    if !o.seconds.is_finite() || o.seconds <= 0.0 || !o.warmup.is_finite() || o.warmup < 0.0 {
        return Err("--seconds must be > 0 and --warmup >= 0".into());
    }
    if o.ops.is_empty() || o.threads.is_empty() || o.targets.is_empty() {
        return Err("--ops, --threads and --targets must not be empty".into());
    }
    // In child mode `--threads N` is a single number.
    if o.child_target.is_some() {
        if o.threads.len() != 1 {
            return Err("child mode takes a single --threads N".into());
        }
        o.child_threads = Some(o.threads[0]);
    }
    Ok(o)
}

fn main() -> ExitCode {
    // `--cluster` (and its children) is a bench of its own, in cluster.rs.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| a == "--cluster" || a == "--cluster-child")
    {
        return cluster::main(&args);
    }
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kmsbridge-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(target) = opts.child_target {
        let (Some(op), Some(threads)) = (opts.child_op, opts.child_threads) else {
            eprintln!("kmsbridge-bench: child mode needs --target, --op and --threads");
            return ExitCode::from(2);
        };
        return match child(target, op, threads, opts.seconds, opts.warmup, opts.kms) {
            Ok(r) => {
                println!(
                    "RESULT ops={} secs={:.6} p50_ns={} p99_ns={}",
                    r.ops, r.secs, r.p50_ns, r.p99_ns
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        };
    }
    match parent(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kmsbridge-bench: {e}");
            ExitCode::from(1)
        }
    }
}

// ---------------------------------------------------------------------------
// Parent: make the rig, run the children, print the table

#[derive(Clone, Debug)]
struct CellResult {
    ops: u64,
    secs: f64,
    p50_ns: u64,
    p99_ns: u64,
}

impl CellResult {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

fn repo_root() -> PathBuf {
    // bench/ sits one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs the rig script into `dir` (with `--software` for a software instance) and
/// returns the variables it exported.
fn make_rig(opts: &Opts, dir: &Path, software: bool) -> Result<Vec<(String, String)>, String> {
    let setup = opts
        .setup
        .clone()
        .unwrap_or_else(|| repo_root().join("ci/softhsm/setup"));
    let pool = opts
        .pool
        .unwrap_or_else(|| *opts.threads.iter().max().unwrap_or(&1));
    let mut args = vec!["--pool".to_string(), pool.to_string()];
    if software {
        args.push("--software".into());
    }
    run_setup(&setup, dir, &args)
}

/// Runs `setup DIR ARGS...` (ci/softhsm/setup) and returns the variables it exported
/// (`export NAME='value'` lines), checking that the ones every target needs are there.
fn run_setup(setup: &Path, dir: &Path, args: &[String]) -> Result<Vec<(String, String)>, String> {
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

/// Runs one cell in a child process, with `env` (the target's rig) added to the
/// environment.
fn run_child(
    target: Target,
    op: Op,
    threads: usize,
    opts: &Opts,
    env: &[(String, String)],
) -> Result<CellResult, String> {
    let mut args: Vec<String> = ["--target", target.name(), "--op", op.name()]
        .map(String::from)
        .to_vec();
    args.extend([
        "--threads".into(),
        threads.to_string(),
        "--seconds".into(),
        opts.seconds.to_string(),
        "--warmup".into(),
        opts.warmup.to_string(),
    ]);
    if opts.kms {
        args.push("--kms".into());
    }
    let kv = spawn_self(&args, env)?;
    let get = |k: &str| -> Result<&str, String> {
        kv.get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("RESULT without {k}: {kv:?}"))
    };
    Ok(CellResult {
        ops: get("ops")?.parse().map_err(|e| format!("ops: {e}"))?,
        secs: get("secs")?.parse().map_err(|e| format!("secs: {e}"))?,
        p50_ns: get("p50_ns")?.parse().map_err(|e| format!("p50: {e}"))?,
        p99_ns: get("p99_ns")?.parse().map_err(|e| format!("p99: {e}"))?,
    })
}

/// Runs this binary again with `args` and `env` added to the environment, and returns
/// the `key=value` fields of the `RESULT` line it printed on stdout.
fn spawn_self(
    args: &[String],
    env: &[(String, String)],
) -> Result<BTreeMap<String, String>, String> {
    // /proc/self/exe still names this very binary when a rebuild has replaced the file on
    // disk meanwhile (cargo builds in the same target directory during a long run).
    let proc_exe = Path::new("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe.to_path_buf()
    } else {
        std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?
    };
    let out = Command::new(exe)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let msg = stderr.trim();
        return Err(if msg.is_empty() {
            format!("child {}", out.status)
        } else {
            msg.to_string()
        });
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| format!("child printed no RESULT line; stderr: {}", stderr.trim()))?;
    Ok(line
        .split_whitespace()
        .skip(1)
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn fmt_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{:.0}", r)
    } else {
        format!("{:.1}", r)
    }
}

fn fmt_lat(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{:.0} µs", us)
    } else {
        format!("{:.1} µs", us)
    }
}

fn cmd_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The 1-minute load average: other work on the machine skews every number here.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn parent(opts: &Opts) -> Result<(), String> {
    let load_start = loadavg();
    let tmp = tempfile::Builder::new()
        .prefix("kmsbridge-bench-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    // The hardware rig: SoftHSM2's token (direct) and the instance bridged to it.
    let vars = make_rig(opts, &tmp.path().join("hardware"), false)?;
    for (n, v) in &vars {
        std::env::set_var(n, v);
    }
    let env = |n: &str| {
        vars.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let bridge_module = env("KMSBRIDGE_MODULE");
    let module_built = Path::new(&bridge_module).exists();
    // Why a kmsbridge target is not measured, if it is not.
    let mut absent: BTreeMap<&'static str, String> = BTreeMap::new();
    if !module_built {
        eprintln!(
            "kmsbridge-bench: {bridge_module} does not exist (build it with \
             `cargo build --release`); measuring direct only"
        );
        absent.insert(Target::Bridge.name(), "not built".into());
        absent.insert(Target::Software.name(), "not built".into());
    }
    // The software rig: its children run with its variables over the hardware rig's.
    let mut soft_vars = Vec::new();
    if opts.targets.contains(&Target::Software) && module_built {
        match make_rig(opts, &tmp.path().join("software"), true) {
            Ok(v) => soft_vars = v,
            Err(e) => {
                eprintln!("kmsbridge-bench: no software instance ({e}); software not measured");
                absent.insert(Target::Software.name(), "no rig".into());
            }
        }
    }
    let env_of = |t: Target| -> &[(String, String)] {
        match t {
            Target::Software => &soft_vars,
            _ => &[],
        }
    };

    let mut results: BTreeMap<(Op, usize, &'static str), Result<CellResult, String>> =
        BTreeMap::new();
    let mut errors = Vec::new();
    for &op in &opts.ops {
        for &threads in &opts.threads {
            // Runs of one cell alternate between the targets (direct, bridge, software,
            // direct, ...) so that all see the same machine conditions; the median run is
            // reported.
            let mut runs: BTreeMap<&'static str, Vec<CellResult>> = BTreeMap::new();
            let mut failed: BTreeMap<&'static str, String> = BTreeMap::new();
            for rep in 0..opts.repeat {
                for &target in &opts.targets {
                    if absent.contains_key(target.name()) || failed.contains_key(target.name()) {
                        continue;
                    }
                    eprint!(
                        "{:<10} x{:<2} {:<8} run {}/{} ... ",
                        op.name(),
                        threads,
                        target.name(),
                        rep + 1,
                        opts.repeat
                    );
                    let _ = std::io::stderr().flush();
                    match run_child(target, op, threads, opts, env_of(target)) {
                        Ok(c) => {
                            eprintln!(
                                "{} ops/s  p50 {}  p99 {}",
                                fmt_rate(c.rate()),
                                fmt_lat(c.p50_ns),
                                fmt_lat(c.p99_ns)
                            );
                            runs.entry(target.name()).or_default().push(c);
                        }
                        Err(e) => {
                            eprintln!("FAILED");
                            errors.push(format!(
                                "{} {} x{}: {e}",
                                target.name(),
                                op.name(),
                                threads
                            ));
                            failed.insert(target.name(), e);
                        }
                    }
                }
            }
            for &target in &opts.targets {
                let name = target.name();
                if let Some(e) = failed.remove(name) {
                    results.insert((op, threads, name), Err(e));
                } else if let Some(mut v) = runs.remove(name) {
                    v.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
                    let median = v.swap_remove(v.len() / 2);
                    results.insert((op, threads, name), Ok(median));
                }
            }
        }
    }

    let load_end = loadavg();
    // Header: what and where.
    let softhsm = cmd_output("softhsm2-util", &["--version"]).unwrap_or_else(|| "?".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let pool = opts
        .pool
        .unwrap_or_else(|| *opts.threads.iter().max().unwrap_or(&1));
    println!(
        "kmsbridge-bench: {} s per run after {} s warm-up, median of {} run(s) per cell; \
         SoftHSM2 {softhsm}; kmsbridge pool {pool}; {ncpu} CPUs ({cpu})",
        opts.seconds, opts.warmup, opts.repeat
    );
    println!(
        "direct: {}; bridge and software: {bridge_module}; 1-min load average at start \
         {load_start}, at end {load_end}",
        env("SOFTHSM2_MODULE")
    );
    println!();
    // Columns: ops/s of every target (with its ratio to direct after each kmsbridge
    // target), then p50 / p99 of every target.
    let direct_shown = opts.targets.contains(&Target::Direct);
    let mut head = vec!["op".to_string(), "threads".to_string()];
    let mut align = vec!["---", "---:"];
    for &t in &opts.targets {
        head.push(format!("{} ops/s", t.name()));
        align.push("---:");
        if t != Target::Direct && direct_shown {
            head.push(format!("{} ÷ direct", t.name()));
            align.push("---:");
        }
    }
    for &t in &opts.targets {
        head.push(format!("{} p50 / p99", t.name()));
        align.push("---:");
    }
    println!("| {} |", head.join(" | "));
    println!("|{}|", align.join("|"));
    for &op in &opts.ops {
        for &threads in &opts.threads {
            let get = |t: Target| results.get(&(op, threads, t.name()));
            let missing = |t: Target| absent.get(t.name()).cloned().unwrap_or("—".into());
            let mut row = vec![op.name().to_string(), threads.to_string()];
            for &t in &opts.targets {
                row.push(match get(t) {
                    None => missing(t),
                    Some(Err(_)) => "error (below)".into(),
                    Some(Ok(c)) => fmt_rate(c.rate()),
                });
                if t != Target::Direct && direct_shown {
                    row.push(match (get(Target::Direct), get(t)) {
                        (Some(Ok(d)), Some(Ok(c))) => format!("{:.2}", c.rate() / d.rate()),
                        _ => "—".into(),
                    });
                }
            }
            for &t in &opts.targets {
                row.push(match get(t) {
                    Some(Ok(c)) => format!("{} / {}", fmt_lat(c.p50_ns), fmt_lat(c.p99_ns)),
                    None => missing(t),
                    Some(Err(_)) => "—".into(),
                });
            }
            println!("| {} |", row.join(" | "));
        }
    }
    println!();
    println!(
        "bridge = kmsbridge, hardware instance over the same SoftHSM2 token; software = \
         kmsbridge, software instance; X ÷ direct = X ops/s ÷ direct ops/s. Operations:"
    );
    for &op in &opts.ops {
        println!("- {}: {}", op.name(), op.describe());
    }
    for (t, why) in &absent {
        if opts.targets.iter().any(|x| x.name() == *t) {
            println!("- {t}: {why}; not measured");
        }
    }
    if !errors.is_empty() {
        println!();
        println!("Errors:");
        for e in &errors {
            println!("- {e}");
        }
    }
    if opts.keep {
        let p = tmp.keep();
        eprintln!("kmsbridge-bench: rigs kept in {}", p.display());
    }
    if !errors.is_empty() {
        return Err(format!("{} cell(s) failed", errors.len()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Child: one target, one op, N threads

#[derive(Debug)]
struct ChildResult {
    ops: u64,
    secs: f64,
    p50_ns: u64,
    p99_ns: u64,
}

fn env_var(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (the parent sets it from ci/softhsm/setup)"))
}

fn find_slot(p: &Pkcs11, label: &str) -> Result<Slot, String> {
    let slots = p
        .get_slots_with_token()
        .map_err(|e| format!("C_GetSlotList: {e}"))?;
    let mut seen = Vec::new();
    for s in slots {
        let info = p
            .get_token_info(s)
            .map_err(|e| format!("C_GetTokenInfo: {e}"))?;
        let l = info.label().trim_end().to_string();
        if l == label {
            return Ok(s);
        }
        seen.push(l);
    }
    Err(format!("no token labelled {label:?} (tokens: {seen:?})"))
}

/// Give a key a KMS record (its first state change makes one): from then on every use
/// passes the lifecycle check with a record to look up, the costlier path.
fn under_kms_lifecycle(s: &Session, key: ObjectHandle) -> Result<(), String> {
    const CKA_KMSBRIDGE_KEY_STATE: u64 = 0xCB42_0002;
    const KMSBRIDGE_STATE_ENABLED: u64 = 1;
    let ty = cryptoki::object::AttributeType::VendorDefined(CKA_KMSBRIDGE_KEY_STATE);
    let v = KMSBRIDGE_STATE_ENABLED.to_ne_bytes().to_vec();
    s.update_attributes(key, &[Attribute::VendorDefined((ty, v))])
        .map_err(|e| format!("C_SetAttributeValue(CKA_KMSBRIDGE_KEY_STATE): {e}"))
}

/// The bench's keys, as token objects, found by label or made on first use. Each
/// target makes its own (labels carry the target name), through its own module.
#[derive(Clone, Copy, Debug)]
struct Keys {
    /// key used to do the op (secret key or private key)
    key: ObjectHandle,
    /// key used for the one-time correctness check (same secret key or public key)
    check: ObjectHandle,
}

fn find_one(s: &Session, class: ObjectClass, label: &str) -> Result<Option<ObjectHandle>, String> {
    let found = s
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| format!("C_FindObjects({label}): {e}"))?;
    Ok(found.first().copied())
}

fn keys_for(s: &Session, target: Target, op: Op) -> Result<Option<Keys>, String> {
    let label = format!("bench-{}-{}", target.name(), op.name());
    let secret = |key_type: KeyType, mech: Mechanism, enc: bool| -> Result<Keys, String> {
        if let Some(k) = find_one(s, ObjectClass::SECRET_KEY, &label)? {
            return Ok(Keys { key: k, check: k });
        }
        let tmpl = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::ValueLen(32.into()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Encrypt(enc),
            Attribute::Decrypt(enc),
            Attribute::Sign(!enc),
            Attribute::Verify(!enc),
        ];
        let k = s
            .generate_key(&mech, &tmpl)
            .map_err(|e| format!("C_GenerateKey({label}): {e}"))?;
        Ok(Keys { key: k, check: k })
    };
    let pair = |mech: Mechanism, pub_extra: Vec<Attribute>| -> Result<Keys, String> {
        if let (Some(k), Some(p)) = (
            find_one(s, ObjectClass::PRIVATE_KEY, &label)?,
            find_one(s, ObjectClass::PUBLIC_KEY, &label)?,
        ) {
            return Ok(Keys { key: k, check: p });
        }
        let id = label.as_bytes().to_vec();
        let mut pub_t = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        pub_t.extend(pub_extra);
        let priv_t = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id),
        ];
        let (p, k) = s
            .generate_key_pair(&mech, &pub_t, &priv_t)
            .map_err(|e| format!("C_GenerateKeyPair({label}): {e}"))?;
        Ok(Keys { key: k, check: p })
    };
    Ok(match op {
        Op::AesGcm | Op::AesCbc => Some(secret(KeyType::AES, Mechanism::AesKeyGen, true)?),
        Op::Hmac => Some(secret(
            KeyType::GENERIC_SECRET,
            Mechanism::GenericSecretKeyGen,
            false,
        )?),
        Op::RsaSign => Some(pair(
            Mechanism::RsaPkcsKeyPairGen,
            vec![
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
        )?),
        Op::EcdsaSign => Some(pair(
            Mechanism::EccKeyPairGen,
            // DER OID 1.2.840.10045.3.1.7 (prime256v1)
            vec![Attribute::EcParams(vec![
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ])],
        )?),
        Op::Random | Op::Session => None,
    })
}

/// SHA-256 DigestInfo prefix (RFC 8017 §9.2 note 1) followed by a fixed "hash".
fn digest_info() -> Vec<u8> {
    let mut v = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    v.extend((0u8..32).map(|i| i.wrapping_mul(7).wrapping_add(1)));
    v
}

struct Worker {
    op: Op,
    keys: Option<Keys>,
    data_1k: Vec<u8>,
    hash: Vec<u8>,
    di: Vec<u8>,
    iv: [u8; 12],
    counter: u64,
    rnd: [u8; 32],
    slot: Slot,
}

impl Worker {
    fn new(op: Op, keys: Option<Keys>, slot: Slot, thread: usize) -> Self {
        let mut iv = [0u8; 12];
        iv[0] = thread as u8;
        Worker {
            op,
            keys,
            data_1k: (0..1024u32).map(|i| (i * 31 + 7) as u8).collect(),
            hash: (0..32u8)
                .map(|i| i.wrapping_mul(13).wrapping_add(5))
                .collect(),
            di: digest_info(),
            iv,
            counter: 0,
            rnd: [0u8; 32],
            slot,
        }
    }

    /// One operation. Returns the output length (kept so the work is not dead).
    fn run(&mut self, p: &Pkcs11, s: &Session) -> cryptoki::error::Result<usize> {
        match self.op {
            Op::AesGcm => {
                // A fresh IV for every encryption (thread byte + counter).
                self.counter += 1;
                self.iv[4..].copy_from_slice(&self.counter.to_be_bytes());
                let mut iv = self.iv;
                let params = GcmParams::new(&mut iv, &[], 128.into())?;
                let k = self.keys.expect("aes key").key;
                Ok(s.encrypt(&Mechanism::AesGcm(params), k, &self.data_1k)?
                    .len())
            }
            Op::AesCbc => {
                // A fresh IV for every encryption, as for GCM.
                self.counter += 1;
                let mut iv = [0u8; 16];
                iv[..12].copy_from_slice(&self.iv);
                iv[8..].copy_from_slice(&self.counter.to_be_bytes());
                let k = self.keys.expect("aes key").key;
                Ok(s.encrypt(&Mechanism::AesCbc(iv), k, &self.data_1k)?.len())
            }
            Op::RsaSign => Ok(s
                .sign(
                    &Mechanism::RsaPkcs,
                    self.keys.expect("rsa key").key,
                    &self.di,
                )?
                .len()),
            Op::EcdsaSign => Ok(s
                .sign(
                    &Mechanism::Ecdsa,
                    self.keys.expect("ec key").key,
                    &self.hash,
                )?
                .len()),
            Op::Hmac => Ok(s
                .sign(
                    &Mechanism::Sha256Hmac,
                    self.keys.expect("hmac key").key,
                    &self.data_1k,
                )?
                .len()),
            Op::Random => {
                s.generate_random_slice(&mut self.rnd)?;
                Ok(self.rnd.len())
            }
            Op::Session => {
                let s2 = p.open_ro_session(self.slot)?;
                s2.close()?;
                Ok(0)
            }
        }
    }

    /// One operation whose result is checked, before any timing: a benchmark of
    /// an operation that does not work is worthless.
    fn check(&mut self, p: &Pkcs11, s: &Session) -> Result<(), String> {
        let e = |what: &str| {
            let w = what.to_string();
            move |err: cryptoki::error::Error| format!("{w}: {err}")
        };
        match self.op {
            Op::AesGcm => {
                let k = self.keys.expect("aes key").key;
                let mut iv = [0xa5u8; 12];
                let ct = s
                    .encrypt(
                        &Mechanism::AesGcm(
                            GcmParams::new(&mut iv, &[], 128.into()).map_err(e("GcmParams"))?,
                        ),
                        k,
                        &self.data_1k,
                    )
                    .map_err(e("AES-GCM encrypt"))?;
                if ct.len() != self.data_1k.len() + 16 {
                    return Err(format!("AES-GCM: ciphertext length {} != 1040", ct.len()));
                }
                let mut iv = [0xa5u8; 12];
                let pt = s
                    .decrypt(
                        &Mechanism::AesGcm(
                            GcmParams::new(&mut iv, &[], 128.into()).map_err(e("GcmParams"))?,
                        ),
                        k,
                        &ct,
                    )
                    .map_err(e("AES-GCM decrypt"))?;
                if pt != self.data_1k {
                    return Err("AES-GCM: decrypt(encrypt(x)) != x".into());
                }
            }
            Op::AesCbc => {
                let k = self.keys.expect("aes key").key;
                let iv = [0x5au8; 16];
                let ct = s
                    .encrypt(&Mechanism::AesCbc(iv), k, &self.data_1k)
                    .map_err(e("AES-CBC encrypt"))?;
                if ct.len() != self.data_1k.len() || ct == self.data_1k {
                    return Err(format!("AES-CBC: bad ciphertext ({} bytes)", ct.len()));
                }
                // CBC: a change in block 0 changes every later block.
                let mut other = self.data_1k.clone();
                other[0] ^= 1;
                let ct2 = s
                    .encrypt(&Mechanism::AesCbc(iv), k, &other)
                    .map_err(e("AES-CBC encrypt"))?;
                if ct2[1008..] == ct[1008..] {
                    return Err("AES-CBC: the last block ignores the first (not CBC)".into());
                }
                let pt = s
                    .decrypt(&Mechanism::AesCbc(iv), k, &ct)
                    .map_err(e("AES-CBC decrypt"))?;
                if pt != self.data_1k {
                    return Err("AES-CBC: decrypt(encrypt(x)) != x".into());
                }
            }
            Op::RsaSign | Op::EcdsaSign | Op::Hmac => {
                let (mech, data, want_len) = match self.op {
                    Op::RsaSign => (Mechanism::RsaPkcs, self.di.clone(), 256),
                    Op::EcdsaSign => (Mechanism::Ecdsa, self.hash.clone(), 64),
                    _ => (Mechanism::Sha256Hmac, self.data_1k.clone(), 32),
                };
                let k = self.keys.expect("key");
                let sig = s.sign(&mech, k.key, &data).map_err(e("sign"))?;
                if sig.len() != want_len {
                    return Err(format!("signature length {} != {want_len}", sig.len()));
                }
                s.verify(&mech, k.check, &data, &sig)
                    .map_err(e("verify of own signature"))?;
                let mut bad = sig.clone();
                bad[want_len / 2] ^= 1;
                if s.verify(&mech, k.check, &data, &bad).is_ok() {
                    return Err("a corrupted signature verified".into());
                }
            }
            Op::Random => {
                let mut a = [0u8; 32];
                let mut b = [0u8; 32];
                s.generate_random_slice(&mut a)
                    .map_err(e("C_GenerateRandom"))?;
                s.generate_random_slice(&mut b)
                    .map_err(e("C_GenerateRandom"))?;
                if a == b || a == [0u8; 32] {
                    return Err("C_GenerateRandom returned repeated/zero output".into());
                }
            }
            Op::Session => {
                self.run(p, s).map_err(e("open+close session"))?;
            }
        }
        Ok(())
    }
}

fn percentile(sorted: &[u32], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // nearest-rank
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as u64
}

fn child(
    target: Target,
    op: Op,
    threads: usize,
    seconds: f64,
    warmup: f64,
    kms: bool,
) -> Result<ChildResult, String> {
    let (module_var, label_var, pin_var) = target.env_names();
    let module = env_var(module_var)?;
    let label = env_var(label_var)?;
    let pin = env_var(pin_var)?;

    let p = Pkcs11::new(&module).map_err(|e| format!("loading {module}: {e}"))?;
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let slot = find_slot(&p, &label)?;

    // The login session stays open for the whole run: it holds the login state
    // that every worker session shares (and, on SoftHSM2, closing a slot's last
    // session logs the token out).
    let login = p
        .open_rw_session(slot)
        .map_err(|e| format!("C_OpenSession: {e}"))?;
    login
        .login(UserType::User, Some(&AuthPin::from(pin)))
        .map_err(|e| format!("C_Login: {e}"))?;
    let keys = keys_for(&login, target, op)?;
    if kms && target != Target::Direct {
        if let Some(k) = keys {
            under_kms_lifecycle(&login, k.key)?;
        }
    }
    Worker::new(op, keys, slot, 0xff).check(&p, &login)?;

    let barrier = Arc::new(Barrier::new(threads));
    let start: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let warm = Duration::from_secs_f64(warmup);
    let measure = Duration::from_secs_f64(seconds);

    let mut handles = Vec::new();
    for t in 0..threads {
        let p = p.clone();
        let barrier = barrier.clone();
        let start = start.clone();
        handles.push(std::thread::spawn(
            move || -> Result<(Vec<u32>, Option<Instant>), String> {
                let s = p
                    .open_ro_session(slot)
                    .map_err(|e| format!("thread {t}: C_OpenSession: {e}"))?;
                let mut w = Worker::new(op, keys, slot, t);
                let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
                barrier.wait();
                let t0 = *start.get_or_init(Instant::now);
                let warm_end = t0 + warm;
                let end = warm_end + measure;
                let mut last_done = None;
                let mut sink = 0usize;
                loop {
                    let a = Instant::now();
                    if a >= end {
                        break;
                    }
                    sink = sink.wrapping_add(
                        w.run(&p, &s)
                            .map_err(|e| format!("thread {t}: {}: {e}", op.name()))?,
                    );
                    let b = Instant::now();
                    if a >= warm_end {
                        lat.push((b - a).as_nanos().min(u32::MAX as u128) as u32);
                        last_done = Some(b);
                    }
                }
                std::hint::black_box(sink);
                drop(s);
                Ok((lat, last_done))
            },
        ));
    }
    let mut all: Vec<u32> = Vec::new();
    let mut finish: Option<Instant> = None;
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok((lat, done))) => {
                all.extend_from_slice(&lat);
                if let Some(d) = done {
                    finish = Some(finish.map_or(d, |f: Instant| f.max(d)));
                }
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert_with(|| "a worker thread panicked".to_string());
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let t0 = *start.get().ok_or("no worker started")?;
    let warm_end = t0 + warm;
    let finish = finish.ok_or("no operation completed in the measured window")?;
    // Elapsed from the start of the measured window to the last completion
    // (an op that starts just before the end of the window is counted whole).
    let secs = (finish - warm_end).as_secs_f64();
    all.sort_unstable();
    let r = ChildResult {
        ops: all.len() as u64,
        secs,
        p50_ns: percentile(&all, 0.50),
        p99_ns: percentile(&all, 0.99),
    };
    drop(login);
    p.finalize().map_err(|e| format!("C_Finalize: {e}"))?;
    Ok(r)
}
