//! The command line of `kmsbridge-bench --cluster`.

use std::path::PathBuf;

use crate::args::{check_times, help, parse_list};

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

pub struct Opts {
    pub seconds: f64,
    pub warmup: f64,
    pub threads: usize,
    pub repeat: usize,
    pub nodes: Vec<usize>,
    pub capacity: usize,
    pub latency_ms: u64,
    pub overhead: bool,
    pub keep: bool,
    pub setup: Option<PathBuf>,
    /// `--cluster-child`: this process measures one case.
    pub child: bool,
}

pub fn parse_args(args: &[String]) -> Result<Opts, String> {
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
            "--nodes" => o.nodes = parse_list(val(a)?, |s| positive("--nodes", s))?,
            "--capacity" => o.capacity = positive(a, val(a)?)?,
            "--latency-ms" => o.latency_ms = val(a)?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--no-overhead" => o.overhead = false,
            "--keep" => o.keep = true,
            "--setup" => o.setup = Some(PathBuf::from(val(a)?)),
            "-h" | "--help" => help(USAGE),
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    check_times(o.seconds, o.warmup)?;
    if o.nodes.is_empty() {
        return Err("--nodes must not be empty".into());
    }
    Ok(o)
}
