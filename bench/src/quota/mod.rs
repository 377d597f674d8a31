//! `kmsbridge-bench --quota`: how closely a host-wide quota holds its configured rate,
//! and what the quota hook costs (issue 12, "What it must show"; docs/BENCHMARKS.md).
//!
//! - **Accuracy**: the software instance with `[instance.quota.symmetric] per_second =
//!   R` (default burst and wait bound), P processes of T threads each hammering AES-GCM
//!   1 KiB encryptions for S seconds after a warm-up that drains the burst. The
//!   achieved rate is the sum of the children's own counts over their windows (not the
//!   quota's counters): it must be within 5 % of R.
//! - **Overhead**: the same work with a limit that never binds (`per_second =
//!   1000000`, `burst = 60000000`: the largest allowed; the software instance's AES-GCM
//!   reaches 1–2.5 M/s, above the largest rate, so the minute of burst is what keeps it
//!   from binding) against no `[instance.quota]` section, 1 × 1 and P × T, runs
//!   alternating, the median of `--repeat` each.
//!
//! Every child is this binary re-executed with `--quota-child`, in the rig's
//! environment, the bucket files in the rig's directory (`KMSBRIDGE_QUOTA_DIR`).

mod child;

use std::process::ExitCode;

use crate::args::{check_times, help};
use crate::child::{exit, spawn, timing_args, Done, Fields};
use crate::measure::median;
use crate::report::loadavg;
use crate::rig::{finish, rigs_dir, run_setup, setup_script, var, Vars};
use child::Counted;

const USAGE: &str = "\
usage: kmsbridge-bench --quota [--rate R] [--procs P] [--threads T] [--seconds S]
                       [--warmup S] [--repeat K] [--keep] [--setup PATH]

Quota accuracy: P processes of T threads (default 4 x 2) hammer AES-GCM 1 KiB
encryptions on a software instance limited to R symmetric operations per second
(default 2000) for S seconds (default 10) after a warm-up (default 2); prints the
achieved rate / R. Quota overhead: the same with a limit that never binds (1,000,000/s,
burst 60,000,000) against no quota section, 1 x 1 and P x T, K runs each alternating (default 3), medians.
";

struct Opts {
    rate: u64,
    procs: usize,
    threads: usize,
    seconds: f64,
    warmup: f64,
    repeat: usize,
    keep: bool,
    setup: Option<std::path::PathBuf>,
    child: bool,
    /// Child: start the clock at this UNIX time (ms), so every process's window is
    /// the same span of time.
    start_at: Option<u64>,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        rate: 2000,
        procs: 4,
        threads: 2,
        seconds: 10.0,
        warmup: 2.0,
        repeat: 3,
        keep: false,
        setup: None,
        child: false,
        start_at: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |name: &str, v: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--quota" => {}
            "--quota-child" => o.child = true,
            "--start-at" => o.start_at = Some(num("--start-at", val("--start-at")?)?),
            "--rate" => o.rate = num("--rate", val("--rate")?)?,
            "--procs" => o.procs = num("--procs", val("--procs")?)? as usize,
            "--threads" => o.threads = num("--threads", val("--threads")?)? as usize,
            "--repeat" => o.repeat = num("--repeat", val("--repeat")?)? as usize,
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
            "--keep" => o.keep = true,
            "--setup" => o.setup = Some(val("--setup")?.into()),
            "-h" | "--help" => help(USAGE),
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    check_times(o.seconds, o.warmup)?;
    Ok(o)
}

/// Entry point of `--quota` (parent) and `--quota-child` (one process of a round).
pub fn main(args: &[String]) -> ExitCode {
    exit(parse_args(args), |o| {
        if o.child {
            Done::Child(
                child::measure(o.threads, o.seconds, o.warmup, o.start_at).map(|c| c.fields()),
            )
        } else {
            Done::Parent(run(&o))
        }
    })
}

fn counted(f: &Fields) -> Result<Counted, String> {
    Ok(Counted {
        ops: f.num("ops")?,
        refused: f.num("refused")?,
        secs: f.num("secs")?,
    })
}

/// One round: the rig's configuration plus `extra`, `procs` children of `threads`
/// threads at once. Returns each child's count.
fn round(
    o: &Opts,
    rig: &Rig,
    extra: &str,
    procs: usize,
    threads: usize,
) -> Result<Vec<Counted>, String> {
    std::fs::write(&rig.conf, format!("{}{extra}", rig.base))
        .map_err(|e| format!("writing {}: {e}", rig.conf))?;
    // Every child starts its clock at the same moment, time enough after the spawn
    // for the slowest to load the module and log in.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    let start_at = now.as_millis() as u64 + 1500 + 250 * procs as u64;
    let mut args = vec![
        "--quota-child".to_string(),
        "--start-at".into(),
        start_at.to_string(),
    ];
    args.extend(timing_args(threads, o.seconds, o.warmup));
    let children: Vec<_> = (0..procs)
        .map(|_| {
            let (args, env) = (args.clone(), rig.env.clone());
            std::thread::spawn(move || spawn(&args, &env).and_then(|f| counted(&f)))
        })
        .collect();
    children
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| "a child thread panicked".to_string())?
        })
        .collect()
}

struct Rig {
    conf: String,
    base: String,
    env: Vars,
}

fn run(o: &Opts) -> Result<(), String> {
    let load_start = loadavg();
    let tmp = rigs_dir("kmsbridge-bench-quota-")?;
    let dir = tmp.path().join("software");
    let setup = setup_script(o.setup.as_deref());
    let mut env = run_setup(&setup, &dir, &["--software".to_string()])?;
    let conf = var(&env, "KMSBRIDGE_CONF")?.to_string();
    env.push(("KMSBRIDGE_QUOTA_DIR".into(), dir.display().to_string()));
    let base = std::fs::read_to_string(&conf).map_err(|e| format!("reading {conf}: {e}"))?;
    let rig = Rig { conf, base, env };
    let (p, t) = (o.procs, o.threads);

    eprintln!("accuracy: {p} x {t} threads, limit {}/s ...", o.rate);
    let limited = format!("[instance.quota.symmetric]\nper_second = {}\n", o.rate);
    let acc = round(o, &rig, &limited, p, t)?;
    let achieved: f64 = acc.iter().map(Counted::rate).sum();
    let refused: u64 = acc.iter().map(|c| c.refused).sum();
    let ratio = achieved / o.rate as f64;

    // The largest rate and burst: a minute's worth of tokens, more than any run here
    // takes, so every operation passes the whole hook and none waits.
    let high = "[instance.quota.symmetric]\nper_second = 1000000\nburst = 60000000\n";
    let mut overhead = Vec::new();
    for (procs, threads) in [(1, 1), (p, t)] {
        let (mut none, mut with) = (Vec::new(), Vec::new());
        for k in 0..o.repeat {
            for (extra, runs) in [("", &mut none), (high, &mut with)] {
                let r: f64 = round(o, &rig, extra, procs, threads)?
                    .iter()
                    .map(Counted::rate)
                    .sum();
                eprintln!(
                    "overhead {procs} x {threads} {} run {}/{}: {r:.0} ops/s",
                    if extra.is_empty() {
                        "no quota"
                    } else {
                        "limit never binding"
                    },
                    k + 1,
                    o.repeat
                );
                runs.push(r);
            }
        }
        let m = |v: Vec<f64>| median(v, |r| *r).unwrap_or(0.0);
        overhead.push((procs, threads, m(none), m(with)));
    }

    println!("## Quota accuracy: {p} processes x {t} threads, AES-GCM 1 KiB, software instance\n");
    println!("| limit (ops/s) | achieved (ops/s) | achieved / limit | refused | within 5 % |");
    println!("|---:|---:|---:|---:|---|");
    println!(
        "| {} | {achieved:.1} | {ratio:.4} | {refused} | {} |",
        o.rate,
        if (ratio - 1.0).abs() <= 0.05 {
            "yes"
        } else {
            "NO"
        }
    );
    println!(
        "\nper process (ops/s): {}",
        acc.iter()
            .map(|c| format!("{:.1}", c.rate()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "\n## Quota hook overhead: a limit that never binds (1,000,000/s, burst 60,000,000) vs no [instance.quota] (median of {})\n",
        o.repeat
    );
    println!("| processes x threads | no quota (ops/s) | with quota (ops/s) | ratio | per op (ns, 1 x 1) |");
    println!("|---|---:|---:|---:|---:|");
    for (procs, threads, none, with) in &overhead {
        let per_op = if *procs == 1 && *threads == 1 {
            format!("{:+.0}", 1e9 / with - 1e9 / none)
        } else {
            "-".into()
        };
        println!(
            "| {procs} x {threads} | {none:.0} | {with:.0} | {:.3} | {per_op} |",
            with / none
        );
    }
    println!(
        "\n{} s measured after {} s warm-up per run; load average {} before, {} after.",
        o.seconds,
        o.warmup,
        load_start,
        loadavg()
    );
    let failed = usize::from((ratio - 1.0).abs() > 0.05);
    finish(tmp, o.keep, failed, "accuracy check")
}
