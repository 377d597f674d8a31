//! `kmsbridge-bench --cluster`: RSA-2048 sign throughput of a hardware instance with
//! 1, 2 and 3 nodes under a capacity model, and the bridge's overhead against
//! SoftHSM2 direct with one node (issue 5, item 7; docs/BENCHMARKS.md).
//!
//! The model: every node is SoftHSM2 behind its own copy of the fault shim
//! (`ci/softhsm/setup DIR --nodes N --in-process`) with `capacity = C` (the node has C
//! crypto engines) and `latency_ms = L` (each crypto call holds an engine L ms longer
//! than SoftHSM2's own work). With L far above the CPU cost of a sign, a node's
//! throughput is bounded by its engines, not by the machine's CPUs, so N nodes can
//! give N times one node's throughput while the CPUs stay mostly idle: what is
//! measured is how well kmsbridge spreads the load, not how fast SoftHSM2 computes.
//!
//! Every measured case is a child process (this binary re-executed with
//! `--cluster-child`, the module, token and PIN in its environment): PKCS#11 state is
//! per process, and kmsbridge and the direct cases load the same `libsofthsm2.so`.
//! The child counts failed signs instead of stopping at the first one: a cluster that
//! loses calls under load must show it in the table.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::{
    cmd_output, find_slot, fmt_lat, fmt_rate, loadavg, percentile, repo_root, run_setup,
    spawn_self, Keys, Op, Worker,
};

/// What the child measures: module, token label, user PIN and key label.
const ENV_MODULE: &str = "KMSBRIDGE_BENCH_MODULE";
const ENV_LABEL: &str = "KMSBRIDGE_BENCH_TOKEN";
const ENV_PIN: &str = "KMSBRIDGE_BENCH_PIN";
const ENV_KEY: &str = "KMSBRIDGE_BENCH_KEY";

/// Crypto calls per sign, each charged `latency_ms` while holding an engine: the
/// `cryptoki` crate's `Session::sign` makes C_SignInit, a C_Sign length query and the
/// C_Sign, and kmsbridge passes all three to the node (measured: 61 ms per sign at one
/// thread with `latency_ms = 20`, directly and through kmsbridge).
const CRYPTO_CALLS_PER_SIGN: f64 = 3.0;

const USAGE: &str = "\
usage: kmsbridge-bench --cluster [--seconds S] [--warmup S] [--threads T] [--nodes 1,2,3]
                       [--repeat R] [--capacity C] [--latency-ms L] [--no-overhead]
                       [--keep] [--setup PATH]

RSA-2048 sign throughput (CKM_RSA_PKCS, single-part C_Sign) through kmsbridge over
hardware instances of 1, 2 and 3 nodes, each node SoftHSM2 behind its own fault shim
with C crypto engines and L ms per crypto call; then, with one node, the same load
direct to SoftHSM2 (behind the same shim, and plain) against kmsbridge. One child
process per case; the table (markdown) goes to stdout, progress to stderr.

  --seconds S     measured seconds per case (default 8)
  --warmup S      warm-up seconds per case, not counted (default 1)
  --threads T     client threads, each with its own session (default 32)
  --repeat R      runs per case, alternating between the cases of one rig; the median
                  run by signs/s is reported (default 1)
  --nodes LIST    node counts (default 1,2,3)
  --capacity C    crypto engines per node, the shim's `capacity` (default 2)
  --latency-ms L  the shim's `latency_ms`, added to every crypto call while it holds an
                  engine (default 20)
  --no-overhead   skip the one-node direct-vs-kmsbridge cases
  --keep          keep the rig directories and print their path
  --setup PATH    the rig script (default: <repo>/ci/softhsm/setup)
";

struct Opts {
    seconds: f64,
    warmup: f64,
    threads: usize,
    repeat: usize,
    nodes: Vec<usize>,
    capacity: usize,
    latency_ms: u64,
    overhead: bool,
    keep: bool,
    setup: Option<PathBuf>,
    child: bool,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        seconds: 8.0,
        warmup: 1.0,
        threads: 32,
        repeat: 1,
        nodes: vec![1, 2, 3],
        capacity: 2,
        latency_ms: 20,
        overhead: true,
        keep: false,
        setup: None,
        child: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let positive = |name: &str, v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive number, not {v:?}"))
        };
        match a.as_str() {
            "--cluster" => {}
            "--cluster-child" => o.child = true,
            "--seconds" => o.seconds = val(a)?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--warmup" => o.warmup = val(a)?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--threads" => o.threads = positive(a, val(a)?)?,
            "--repeat" => o.repeat = positive(a, val(a)?)?,
            "--nodes" => {
                o.nodes = val(a)?
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| positive("--nodes", s.trim()))
                    .collect::<Result<_, _>>()?
            }
            "--capacity" => o.capacity = positive(a, val(a)?)?,
            "--latency-ms" => o.latency_ms = val(a)?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--no-overhead" => o.overhead = false,
            "--keep" => o.keep = true,
            "--setup" => o.setup = Some(PathBuf::from(val(a)?)),
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
    if o.nodes.is_empty() {
        return Err("--nodes must not be empty".into());
    }
    Ok(o)
}

/// Entry point of `--cluster` (parent) and `--cluster-child` (one measured case).
pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kmsbridge-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if opts.child {
        return match child(&opts) {
            Ok(r) => {
                println!(
                    "RESULT ops={} fails={} secs={:.6} p50_ns={} p99_ns={} first_error={}",
                    r.ops, r.fails, r.secs, r.p50_ns, r.p99_ns, r.first_error
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
// Parent

/// One measured case's outcome.
#[derive(Clone, Debug)]
struct Outcome {
    ops: u64,
    fails: u64,
    secs: f64,
    p50_ns: u64,
    p99_ns: u64,
    first_error: String,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

type Vars = Vec<(String, String)>;

fn var<'a>(vars: &'a Vars, name: &str) -> Result<&'a str, String> {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("the rig did not print {name}"))
}

/// The child's environment: the rig's variables plus what to measure.
fn case_env(rig: &Vars, module: &str, label: &str, pin: &str) -> Vars {
    let mut env = rig.clone();
    for (k, v) in [(ENV_MODULE, module), (ENV_LABEL, label), (ENV_PIN, pin)] {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Puts every node of a rig made with `--in-process` under the capacity model: the
/// shim reads `faultshim.conf` beside its copy when it loads, so this is done before
/// any child starts.
fn set_capacity(rig_dir: &Path, nodes: usize, opts: &Opts) -> Result<(), String> {
    for k in 0..nodes {
        let conf = rig_dir.join(format!("node{k}/faultshim.conf"));
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
        text.push_str(&format!(
            "# kmsbridge-bench --cluster: the capacity model (docs/BENCHMARKS.md)\n\
             capacity = {}\nlatency_ms = {}\n",
            opts.capacity, opts.latency_ms
        ));
        std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    }
    Ok(())
}

/// Runs `cases` (name, environment) `--repeat` times, alternating between them so
/// that all see the same machine conditions, and returns each case's median run by
/// signs/s (or its first error; a failed case is not run again).
fn run_cases(opts: &Opts, cases: &[(String, Vars)]) -> Vec<Result<Outcome, String>> {
    let mut runs: Vec<Result<Vec<Outcome>, String>> = cases.iter().map(|_| Ok(vec![])).collect();
    for rep in 0..opts.repeat {
        for ((name, env), result) in cases.iter().zip(runs.iter_mut()) {
            let Ok(done) = result else { continue };
            // Every run makes its own key: labels never repeat on a token.
            let mut env = env.clone();
            env.push((
                ENV_KEY.into(),
                format!(
                    "bench-cluster-{}",
                    KEY_SERIAL.fetch_add(1, Ordering::Relaxed)
                ),
            ));
            let name = if opts.repeat > 1 {
                format!("{name} (run {}/{})", rep + 1, opts.repeat)
            } else {
                name.clone()
            };
            match run_once(&name, opts, &env) {
                Ok(o) => done.push(o),
                Err(e) => *result = Err(e),
            }
        }
    }
    runs.into_iter()
        .map(|r| {
            let mut v = r?;
            v.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
            Ok(v.swap_remove(v.len() / 2))
        })
        .collect()
}

/// Numbers the bench's keys (see `run_cases`).
static KEY_SERIAL: AtomicU64 = AtomicU64::new(0);

fn run_once(name: &str, opts: &Opts, env: &Vars) -> Result<Outcome, String> {
    eprint!("{name:<52} ... ");
    let _ = std::io::stderr().flush();
    let args: Vec<String> = vec![
        "--cluster-child".into(),
        "--threads".into(),
        opts.threads.to_string(),
        "--seconds".into(),
        opts.seconds.to_string(),
        "--warmup".into(),
        opts.warmup.to_string(),
    ];
    let r = spawn_self(&args, env).and_then(|kv| {
        let get = |k: &str| {
            kv.get(k)
                .cloned()
                .ok_or_else(|| format!("RESULT without {k}: {kv:?}"))
        };
        let num =
            |k: &str| -> Result<u64, String> { get(k)?.parse().map_err(|e| format!("{k}: {e}")) };
        Ok(Outcome {
            ops: num("ops")?,
            fails: num("fails")?,
            secs: get("secs")?.parse().map_err(|e| format!("secs: {e}"))?,
            p50_ns: num("p50_ns")?,
            p99_ns: num("p99_ns")?,
            first_error: get("first_error")?,
        })
    });
    match &r {
        Ok(o) => eprintln!(
            "{} signs/s, {} failures, p50 {} p99 {}",
            fmt_rate(o.rate()),
            o.fails,
            fmt_lat(o.p50_ns),
            fmt_lat(o.p99_ns)
        ),
        Err(_) => eprintln!("FAILED"),
    }
    r
}

fn parent(opts: &Opts) -> Result<(), String> {
    let load_start = loadavg();
    let tmp = tempfile::Builder::new()
        .prefix("kmsbridge-cbench-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let setup = opts
        .setup
        .clone()
        .unwrap_or_else(|| repo_root().join("ci/softhsm/setup"));
    // The backend session pool of every node: enough for every client thread to have
    // a session on any one node, so the pool never is what a client waits for.
    let pool = opts.threads.to_string();

    let mut errors: Vec<String> = Vec::new();
    let mut record = |name: &str, r: Result<Outcome, String>| match r {
        Ok(o) => Some(o),
        Err(e) => {
            errors.push(format!("{name}: {e}"));
            None
        }
    };

    // Bridge overhead, one node: plain SoftHSM2 (a rig without the shim), direct and
    // through kmsbridge, alternating so both see the same machine.
    let mut plain: Option<(Option<Outcome>, Option<Outcome>)> = None;
    if opts.overhead {
        let dir = tmp.path().join("plain");
        let rig = run_setup(&setup, &dir, &["--pool".into(), pool.clone()])?;
        let direct = case_env(
            &rig,
            var(&rig, "SOFTHSM2_MODULE")?,
            var(&rig, "SOFTHSM2_TOKEN_LABEL")?,
            var(&rig, "SOFTHSM2_USER_PIN")?,
        );
        let bridge = case_env(
            &rig,
            var(&rig, "KMSBRIDGE_MODULE")?,
            var(&rig, "KMSBRIDGE_TOKEN_LABEL")?,
            var(&rig, "KMSBRIDGE_USER_PIN")?,
        );
        let names = [
            "1 node, plain SoftHSM2: direct",
            "1 node, plain SoftHSM2: kmsbridge",
        ];
        let mut r = run_cases(
            opts,
            &[(names[0].into(), direct), (names[1].into(), bridge)],
        )
        .into_iter();
        let d = r.next().and_then(|o| record(names[0], o));
        let b = r.next().and_then(|o| record(names[1], o));
        plain = Some((d, b));
    }

    // The capacity model: N nodes for each N, the same shim settings on every node.
    let mut by_nodes: BTreeMap<usize, Option<Outcome>> = BTreeMap::new();
    let mut shim_direct: Option<Outcome> = None;
    let mut module_path = String::new();
    for &n in &opts.nodes {
        let dir = tmp.path().join(format!("nodes{n}"));
        let rig = run_setup(
            &setup,
            &dir,
            &[
                "--nodes".into(),
                n.to_string(),
                "--in-process".into(),
                "--pool".into(),
                pool.clone(),
            ],
        )?;
        set_capacity(&dir, n, opts)?;
        module_path = var(&rig, "KMSBRIDGE_MODULE")?.to_string();
        let mut cases = Vec::new();
        let direct_name = "1 node, SoftHSM2 behind the shim: direct";
        if n == 1 && opts.overhead {
            // Node 0's own shim copy loaded directly: the same engines and latency
            // kmsbridge's one node has, without kmsbridge.
            let direct = case_env(
                &rig,
                var(&rig, "KMSBRIDGE_NODE0_LIBRARY")?,
                var(&rig, "KMSBRIDGE_NODE0_TOKEN_LABEL")?,
                var(&rig, "SOFTHSM2_USER_PIN")?,
            );
            cases.push((direct_name.to_string(), direct));
        }
        let bridge = case_env(
            &rig,
            var(&rig, "KMSBRIDGE_MODULE")?,
            var(&rig, "KMSBRIDGE_TOKEN_LABEL")?,
            var(&rig, "KMSBRIDGE_USER_PIN")?,
        );
        let name = format!("{n} node(s) behind the shim: kmsbridge");
        cases.push((name.clone(), bridge));
        let mut r = run_cases(opts, &cases);
        let b = r.pop().and_then(|o| record(&name, o));
        if let Some(d) = r.pop() {
            shim_direct = record(direct_name, d);
        }
        by_nodes.insert(n, b);
    }
    let load_end = loadavg();

    // The report.
    let softhsm = cmd_output("softhsm2-util", &["--version"]).unwrap_or_else(|| "?".into());
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "kmsbridge-bench --cluster: RSA-2048 CKM_RSA_PKCS sign of a SHA-256 DigestInfo, \
         {} client threads, {} s per case after {} s warm-up, median of {} run(s); each node SoftHSM2 {softhsm} \
         behind the fault shim with capacity = {} engines, latency_ms = {} per crypto call; \
         kmsbridge {module_path}, pool {pool} per node; {ncpu} CPUs; 1-min load average at \
         start {load_start}, at end {load_end}",
        opts.threads, opts.seconds, opts.warmup, opts.repeat, opts.capacity, opts.latency_ms
    );
    println!();
    // What the engines allow at most: N nodes × C engines, each busy
    // CRYPTO_CALLS_PER_SIGN × L ms per sign (SoftHSM2's own work not counted).
    let ceiling = |n: usize| {
        (opts.latency_ms > 0).then(|| {
            (n * opts.capacity) as f64 * 1000.0 / (CRYPTO_CALLS_PER_SIGN * opts.latency_ms as f64)
        })
    };
    println!("| nodes | signs/s | ÷ 1 node | engine ceiling | ÷ ceiling | failures | p50 / p99 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let one = by_nodes.get(&1).cloned().flatten();
    for (n, o) in &by_nodes {
        let ceil = ceiling(*n);
        let ceil_s = ceil.map_or("—".into(), fmt_rate);
        let row = match o {
            None => format!("| {n} | error (below) | — | {ceil_s} | — | — | — |"),
            Some(o) => format!(
                "| {n} | {} | {} | {ceil_s} | {} | {} | {} / {} |",
                fmt_rate(o.rate()),
                one.as_ref()
                    .map_or("—".into(), |b| format!("{:.2}", o.rate() / b.rate())),
                ceil.map_or("—".into(), |c| format!("{:.2}", o.rate() / c)),
                o.fails,
                fmt_lat(o.p50_ns),
                fmt_lat(o.p99_ns)
            ),
        };
        println!("{row}");
    }
    println!();
    match (one.as_ref(), by_nodes.get(&3).cloned().flatten()) {
        (Some(b), Some(t)) => {
            let ratio = t.rate() / b.rate();
            println!(
                "3 nodes ÷ 1 node: {ratio:.2} (target ≥ 2.5: {})",
                if ratio >= 2.5 { "met" } else { "NOT met" }
            );
        }
        _ => println!("3 nodes ÷ 1 node: not measured (needs --nodes with 1 and 3)"),
    }

    if opts.overhead {
        println!();
        println!("Bridge overhead with one node (the same load, the same client threads):");
        println!();
        println!("| node | direct signs/s | kmsbridge signs/s | kmsbridge ÷ direct | failures (direct / kmsbridge) |");
        println!("|---|---:|---:|---:|---:|");
        let line = |what: &str, d: Option<&Outcome>, b: Option<&Outcome>| {
            let rate = |o: Option<&Outcome>| o.map_or("error".into(), |o| fmt_rate(o.rate()));
            let fails = |o: Option<&Outcome>| o.map_or("—".into(), |o| o.fails.to_string());
            let ratio = match (d, b) {
                (Some(d), Some(b)) => format!("{:.2}", b.rate() / d.rate()),
                _ => "—".into(),
            };
            println!(
                "| {what} | {} | {} | {ratio} | {} / {} |",
                rate(d),
                rate(b),
                fails(d),
                fails(b)
            );
        };
        line(
            &format!(
                "SoftHSM2 behind the shim (capacity {}, latency_ms {})",
                opts.capacity, opts.latency_ms
            ),
            shim_direct.as_ref(),
            one.as_ref(),
        );
        if let Some((d, b)) = &plain {
            line("plain SoftHSM2", d.as_ref(), b.as_ref());
        }
    }
    println!();
    println!(
        "Each case is one process; signs/s = signs completed in the measured window ÷ its \
         length (whenever they began); failures = signs that returned an error in it; engine ceiling = nodes × capacity ÷ ({CRYPTO_CALLS_PER_SIGN} crypto calls per \
         sign × latency_ms). 1 node is kmsbridge's single-node backend, 2 and more its \
         cluster backend (least-busy routing). Per-node shares are not shown: the shim \
         keeps no counters."
    );
    let failed: Vec<(String, &Outcome)> = by_nodes
        .iter()
        .filter_map(|(n, o)| o.as_ref().map(|o| (format!("{n} node(s)"), o)))
        .chain(shim_direct.iter().map(|o| ("shim direct".to_string(), o)))
        .chain(plain.iter().flat_map(|(d, b)| {
            let d = d.iter().map(|o| ("plain direct".to_string(), o));
            d.chain(b.iter().map(|o| ("plain kmsbridge".to_string(), o)))
        }))
        .filter(|(_, o)| o.fails > 0)
        .collect();
    for (what, o) in failed {
        println!(
            "- {what}: first failure: {}",
            o.first_error.replace('_', " ")
        );
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
        return Err(format!("{} case(s) failed", errors.len()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Child: one case

struct ChildResult {
    ops: u64,
    fails: u64,
    secs: f64,
    p50_ns: u64,
    p99_ns: u64,
    /// The first failure's message, spaces as `_` (one field of the RESULT line).
    first_error: String,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (the --cluster parent sets it)"))
}

/// An RSA-2048 token key pair made by value: a session key pair is generated
/// (extractable, not sensitive), its components are read and written back as token
/// objects with C_CreateObject, and the session pair is destroyed. Why not
/// C_GenerateKeyPair of token keys: on a cluster of two or more nodes that needs the
/// cluster domain key, which only the SO provisions, while a token object created by
/// value is written to every node as it is. The same path on every case keeps the
/// keys alike (the private key ends sensitive either way).
fn rsa_token_key(s: &Session, label: &str) -> Result<Keys, String> {
    let e = |what: &'static str| move |err: cryptoki::error::Error| format!("{what}: {err}");
    let (p, k) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::Verify(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
            &[
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Sign(true),
            ],
        )
        .map_err(e("C_GenerateKeyPair (session RSA-2048)"))?;
    let parts = [
        AttributeType::Modulus,
        AttributeType::PublicExponent,
        AttributeType::PrivateExponent,
        AttributeType::Prime1,
        AttributeType::Prime2,
        AttributeType::Exponent1,
        AttributeType::Exponent2,
        AttributeType::Coefficient,
    ];
    let values = s
        .get_attributes(k, &parts)
        .map_err(e("C_GetAttributeValue (RSA components)"))?;
    if values.len() != parts.len() {
        return Err(format!(
            "C_GetAttributeValue gave {} of the {} RSA components",
            values.len(),
            parts.len()
        ));
    }
    let modulus = values
        .iter()
        .find_map(|a| match a {
            Attribute::Modulus(m) => Some(m.clone()),
            _ => None,
        })
        .ok_or("no CKA_MODULUS")?;
    let id = label.as_bytes().to_vec();
    let mut private = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::Label(id.clone()),
        Attribute::Id(id.clone()),
    ];
    private.extend(values);
    let key = s
        .create_object(&private)
        .map_err(e("C_CreateObject (token RSA private key)"))?;
    let check = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(id.clone()),
            Attribute::Id(id),
            Attribute::Modulus(modulus),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        ])
        .map_err(e("C_CreateObject (token RSA public key)"))?;
    s.destroy_object(k).map_err(e("C_DestroyObject"))?;
    s.destroy_object(p).map_err(e("C_DestroyObject"))?;
    Ok(Keys { key, check })
}

fn child(opts: &Opts) -> Result<ChildResult, String> {
    let module = env(ENV_MODULE)?;
    let label = env(ENV_LABEL)?;
    let pin = env(ENV_PIN)?;
    let key_label = env(ENV_KEY)?;

    let p = Pkcs11::new(&module).map_err(|e| format!("loading {module}: {e}"))?;
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let slot = find_slot(&p, &label)?;
    // Holds the login (shared by every session of the process) for the whole run.
    let login = p
        .open_rw_session(slot)
        .map_err(|e| format!("C_OpenSession: {e}"))?;
    login
        .login(UserType::User, Some(&AuthPin::from(pin)))
        .map_err(|e| format!("C_Login: {e}"))?;
    let keys = rsa_token_key(&login, &key_label)?;
    // A sign that verifies, and a corrupted one that does not, before any timing.
    Worker::new(Op::RsaSign, Some(keys), slot, 0xff).check(&p, &login)?;

    let threads = opts.threads;
    let barrier = Arc::new(Barrier::new(threads));
    let start: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let fails = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let warm = Duration::from_secs_f64(opts.warmup);
    let measure = Duration::from_secs_f64(opts.seconds);
    let mut handles = Vec::new();
    for t in 0..threads {
        let (p, barrier, start) = (p.clone(), barrier.clone(), start.clone());
        let (fails, first_error) = (fails.clone(), first_error.clone());
        handles.push(std::thread::spawn(move || -> Result<Vec<u32>, String> {
            let s = p
                .open_ro_session(slot)
                .map_err(|e| format!("thread {t}: C_OpenSession: {e}"))?;
            let mut w = Worker::new(Op::RsaSign, Some(keys), slot, t);
            // Each sign completed in the window: its latency in microseconds.
            let mut lat: Vec<u32> = Vec::with_capacity(4096);
            barrier.wait();
            let t0 = *start.get_or_init(Instant::now);
            let warm_end = t0 + warm;
            let end = warm_end + measure;
            loop {
                let a = Instant::now();
                if a >= end {
                    break;
                }
                let r = w.run(&p, &s);
                let b = Instant::now();
                // Signs that complete in the window count, whenever they began:
                // with 32 threads queued on one node's 2 engines a sign takes about
                // a second, so counting by start instead (and timing to the last
                // completion) would stretch the window by that second with few
                // completions in it and understate the slowest case most.
                if b < warm_end || b > end {
                    continue;
                }
                match r {
                    Ok(n) => {
                        std::hint::black_box(n);
                        // Microseconds: a wait in an engine queue can pass the
                        // 4.3 s that u32 nanoseconds hold.
                        lat.push((b - a).as_micros().min(u32::MAX as u128) as u32);
                    }
                    Err(e) => {
                        fails.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            Ok(lat)
        }));
    }
    let mut all: Vec<u32> = Vec::new();
    for h in handles {
        let lat = h.join().map_err(|_| "a client thread panicked")??;
        all.extend_from_slice(&lat);
    }
    // Completions are counted in a window of exactly this length (see the threads).
    let secs = measure.as_secs_f64();
    all.sort_unstable();
    let first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_else(|| "none".into())
        .replace(char::is_whitespace, "_");
    drop(login);
    p.finalize().map_err(|e| format!("C_Finalize: {e}"))?;
    Ok(ChildResult {
        ops: all.len() as u64,
        fails: fails.load(Ordering::Relaxed),
        secs,
        p50_ns: percentile(&all, 0.50) * 1000,
        p99_ns: percentile(&all, 0.99) * 1000,
        first_error,
    })
}
