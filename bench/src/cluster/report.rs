//! What `kmsbridge-bench --cluster` prints: the header, the table by node count, the
//! bridge's overhead with one node, and the failures.

use std::collections::BTreeMap;

use super::args::Opts;
use super::cases::Outcome;
use crate::report::{cmd_output, fmt_lat, fmt_rate, print_errors};

/// Crypto calls per sign, each charged `latency_ms` while holding an engine: the
/// `cryptoki` crate's `Session::sign` makes C_SignInit, a C_Sign length query and the
/// C_Sign, and kmsbridge passes all three to the node (measured: 61 ms per sign at one
/// thread with `latency_ms = 20`, directly and through kmsbridge).
const CRYPTO_CALLS_PER_SIGN: f64 = 3.0;

/// What the report shows.
pub struct Report<'a> {
    pub opts: &'a Opts,
    /// One node of plain SoftHSM2: (direct, kmsbridge).
    pub plain: Option<&'a (Option<Outcome>, Option<Outcome>)>,
    /// kmsbridge with N nodes behind the shim.
    pub by_nodes: &'a BTreeMap<usize, Option<Outcome>>,
    /// Node 0's shim copy loaded directly.
    pub shim_direct: Option<&'a Outcome>,
    pub module_path: &'a str,
    pub pool: &'a str,
    pub load_start: String,
    pub load_end: String,
    pub errors: &'a [String],
}

/// The report (markdown) on stdout.
pub fn print(r: Report) {
    let Report {
        opts,
        plain,
        by_nodes,
        shim_direct,
        module_path,
        pool,
        load_start,
        load_end,
        errors,
    } = r;
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
    for (n, o) in by_nodes.iter() {
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
                fmt_lat(o.measured.p50_ns),
                fmt_lat(o.measured.p99_ns)
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
            shim_direct,
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
        .chain(
            shim_direct
                .into_iter()
                .map(|o| ("shim direct".to_string(), o)),
        )
        .chain(plain.into_iter().flat_map(|(d, b)| {
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
    print_errors(errors);
}
