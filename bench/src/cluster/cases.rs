//! The cluster bench's cases: each one child process with a module, token and PIN in
//! its environment, run `--repeat` times in alternation with the cases of its rig.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::args::Opts;
use crate::child::{spawn, timing_args, Fields};
use crate::measure::{median, Measured};
use crate::report::{fmt_lat, fmt_rate};
use crate::rig::Vars;

/// What the child measures: module, token label, user PIN and key label.
pub const ENV_MODULE: &str = "KMSBRIDGE_BENCH_MODULE";
pub const ENV_LABEL: &str = "KMSBRIDGE_BENCH_TOKEN";
pub const ENV_PIN: &str = "KMSBRIDGE_BENCH_PIN";
pub const ENV_KEY: &str = "KMSBRIDGE_BENCH_KEY";

/// One measured case's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub measured: Measured,
    /// Signs that returned an error in the window.
    pub fails: u64,
    /// The first failure's message, spaces as `_` (one field of the RESULT line).
    pub first_error: String,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.measured.rate()
    }

    /// The RESULT line's fields.
    pub fn fields(&self) -> String {
        format!(
            "{} fails={} first_error={}",
            self.measured.fields(),
            self.fails,
            self.first_error
        )
    }

    fn from_fields(f: &Fields) -> Result<Outcome, String> {
        Ok(Outcome {
            measured: Measured::from_fields(f)?,
            fails: f.num("fails")?,
            first_error: f.get("first_error")?.to_string(),
        })
    }
}

/// The child's environment: the rig's variables plus what to measure.
pub fn case_env(rig: &Vars, module: &str, label: &str, pin: &str) -> Vars {
    let mut env = rig.clone();
    for (k, v) in [(ENV_MODULE, module), (ENV_LABEL, label), (ENV_PIN, pin)] {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Puts every node of a rig made with `--in-process` under the capacity model: the
/// shim reads `faultshim.conf` beside its copy when it loads, so this is done before
/// any child starts.
pub fn set_capacity(rig_dir: &Path, nodes: usize, opts: &Opts) -> Result<(), String> {
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
pub fn run_cases(opts: &Opts, cases: &[(String, Vars)]) -> Vec<Result<Outcome, String>> {
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
        .map(|r| median(r?, Outcome::rate).ok_or_else(|| "no run".to_string()))
        .collect()
}

/// Numbers the bench's keys (see `run_cases`).
static KEY_SERIAL: AtomicU64 = AtomicU64::new(0);

fn run_once(name: &str, opts: &Opts, env: &Vars) -> Result<Outcome, String> {
    eprint!("{name:<52} ... ");
    let _ = std::io::stderr().flush();
    let mut args = vec!["--cluster-child".to_string()];
    args.extend(timing_args(opts.threads, opts.seconds, opts.warmup));
    let r = spawn(&args, env).and_then(|f| Outcome::from_fields(&f));
    match &r {
        Ok(o) => eprintln!(
            "{} signs/s, {} failures, p50 {} p99 {}",
            fmt_rate(o.rate()),
            o.fails,
            fmt_lat(o.measured.p50_ns),
            fmt_lat(o.measured.p99_ns)
        ),
        Err(_) => eprintln!("FAILED"),
    }
    r
}
