//! What the benches print: rates and latencies as the tables show them, what the
//! machine was doing, and the side-by-side bench's table.

use std::collections::BTreeMap;
use std::process::Command;

use crate::args::Opts;
use crate::measure::Measured;
use crate::op::{Op, Target};

pub fn fmt_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{:.0}", r)
    } else {
        format!("{:.1}", r)
    }
}

pub fn fmt_lat(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{:.0} µs", us)
    } else {
        format!("{:.1} µs", us)
    }
}

/// What `cmd args` prints on stdout, trimmed; None when it prints nothing.
pub fn cmd_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The 1-minute load average: other work on the machine skews every number here.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Every cell's outcome, by (op, threads, target name).
pub type Results = BTreeMap<(Op, usize, &'static str), Result<Measured, String>>;

/// What the side-by-side bench's table shows.
pub struct Report<'a> {
    pub opts: &'a Opts,
    pub results: &'a Results,
    /// Why a kmsbridge target is not measured, if it is not.
    pub absent: &'a BTreeMap<&'static str, String>,
    pub errors: &'a [String],
    pub load_start: String,
    pub load_end: String,
    pub direct_module: &'a str,
    pub bridge_module: &'a str,
}

/// The header (what and where), the table (markdown) and the errors, on stdout.
pub fn print_table(r: Report) {
    let Report {
        opts,
        results,
        absent,
        errors,
        load_start,
        load_end,
        direct_module,
        bridge_module,
    } = r;
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
    let pool = opts.pool();
    println!(
        "kmsbridge-bench: {} s per run after {} s warm-up, median of {} run(s) per cell; \
         SoftHSM2 {softhsm}; kmsbridge pool {pool}; {ncpu} CPUs ({cpu})",
        opts.seconds, opts.warmup, opts.repeat
    );
    println!(
        "direct: {}; bridge and software: {bridge_module}; 1-min load average at start \
         {load_start}, at end {load_end}",
        direct_module
    );
    println!();
    // Columns: ops/s of every target (with its ratio to direct after each kmsbridge
    // target), then p50 / p99 of every target.
    let direct_shown = opts.targets.contains(&Target::Direct);
    // software-ap is compared with the bare instance when it is measured, else with
    // the software instance.
    let ap_base = [Target::SoftwareBare, Target::Software]
        .into_iter()
        .find(|t| opts.targets.contains(t));
    let mut head = vec!["op".to_string(), "threads".to_string()];
    let mut align = vec!["---", "---:"];
    for &t in &opts.targets {
        head.push(format!("{} ops/s", t.name()));
        align.push("---:");
        if t != Target::Direct && direct_shown {
            head.push(format!("{} ÷ direct", t.name()));
            align.push("---:");
        }
        if let (Target::SoftwareAp, Some(base)) = (t, ap_base) {
            head.push(format!("software-ap ÷ {}", base.name()));
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
                if let (Target::SoftwareAp, Some(base)) = (t, ap_base) {
                    row.push(match (get(base), get(t)) {
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
         kmsbridge, software instance (user PIN: the default access point); software-ap = \
         that instance logged in as an access point held to a policy (bench/src/access.rs); \
         software-bare = a software instance without access points or audit trail; \
         X ÷ Y = X ops/s ÷ Y ops/s. Operations:"
    );
    for &op in &opts.ops {
        println!("- {}: {}", op.name(), op.describe());
    }
    for (t, why) in absent {
        if opts.targets.iter().any(|x| x.name() == *t) {
            println!("- {t}: {why}; not measured");
        }
    }
    print_errors(errors);
}

/// The cases that failed, after the table.
pub fn print_errors(errors: &[String]) {
    if !errors.is_empty() {
        println!();
        println!("Errors:");
        for e in errors {
            println!("- {e}");
        }
    }
}
