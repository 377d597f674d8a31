//! The command line of the side-by-side bench (`--cluster` has its own, in cluster/).

use std::path::PathBuf;

use crate::op::{Op, Target, ALL_OPS, ALL_TARGETS};

pub struct Opts {
    pub seconds: f64,
    pub warmup: f64,
    pub repeat: usize,
    pub ops: Vec<Op>,
    pub threads: Vec<usize>,
    pub targets: Vec<Target>,
    pool: Option<usize>,
    pub keep: bool,
    pub setup: Option<PathBuf>,
    pub kms: bool,
    /// Child mode: the one cell this process measures.
    pub cell: Option<Cell>,
}

/// One cell of the table: a target, an operation and a number of client threads.
#[derive(Clone, Copy)]
pub struct Cell {
    pub target: Target,
    pub op: Op,
    pub threads: usize,
}

impl Opts {
    /// kmsbridge's backend pool size: `--pool`, else the largest thread count.
    pub fn pool(&self) -> usize {
        self.pool
            .unwrap_or_else(|| self.threads.iter().copied().max().unwrap_or(1))
    }
}

const USAGE: &str = "\
usage: kmsbridge-bench [--seconds S] [--warmup S] [--repeat R] [--ops a,b,..] [--threads 1,2,8]
                       [--targets direct,bridge,software,software-ap,software-bare] [--pool N]
                       [--keep] [--kms] [--setup PATH]

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
  --targets LIST direct,bridge,software (default these three), and software-ap (the
                 software instance logged in as an access point held to a policy,
                 audited) and software-bare (a software instance without access points
                 or audit trail: software-ap's baseline)
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
Quota accuracy and overhead (issue 12): kmsbridge-bench --quota --help
Child mode (internal): --target direct|bridge|software --op OP --threads N
";

/// A comma-separated list, each item read by `f`.
pub fn parse_list<T>(s: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| f(x.trim()))
        .collect()
}

/// `--seconds` and `--warmup` as both benches take them.
pub fn check_times(seconds: f64, warmup: f64) -> Result<(), String> {
    if !seconds.is_finite() || seconds <= 0.0 || !warmup.is_finite() || warmup < 0.0 {
        return Err("--seconds must be > 0 and --warmup >= 0".into());
    }
    Ok(())
}

/// `--help`: the usage on stdout, and the process ends.
pub fn help(usage: &str) -> ! {
    print!("{usage}");
    std::process::exit(0);
}

pub fn parse_args(args: &[String]) -> Result<Opts, String> {
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
        cell: None,
    };
    let mut child_target = None;
    let mut child_op = None;
    let mut args = args.iter();
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
            "--ops" => o.ops = parse_list(val("--ops")?, Op::parse)?,
            "--threads" => {
                o.threads = parse_list(val("--threads")?, |s| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("bad thread count {s:?}"))
                })?
            }
            "--targets" => o.targets = parse_list(val("--targets")?, Target::parse)?,
            "--pool" => o.pool = Some(val("--pool")?.parse().map_err(|e| format!("--pool: {e}"))?),
            "--keep" => o.keep = true,
            "--kms" => o.kms = true,
            "--setup" => o.setup = Some(PathBuf::from(val("--setup")?)),
            "--target" => child_target = Some(Target::parse(val("--target")?)?),
            "--op" => child_op = Some(Op::parse(val("--op")?)?),
            "-h" | "--help" => help(USAGE),
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    check_times(o.seconds, o.warmup)?;
    if o.ops.is_empty() || o.threads.is_empty() || o.targets.is_empty() {
        return Err("--ops, --threads and --targets must not be empty".into());
    }
    // In child mode `--threads N` is a single number.
    if let Some(target) = child_target {
        let [threads] = *o.threads.as_slice() else {
            return Err("child mode takes a single --threads N".into());
        };
        let Some(op) = child_op else {
            return Err("child mode needs --target, --op and --threads".into());
        };
        o.cell = Some(Cell {
            target,
            op,
            threads,
        });
    }
    Ok(o)
}
