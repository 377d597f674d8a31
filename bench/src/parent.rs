//! The parent of the side-by-side bench: make the rigs, run every cell's children in
//! alternation, keep each cell's median run, and print the table.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::args::{Cell, Opts};
use crate::child::{spawn, timing_args};
use crate::measure::{median, Measured};
use crate::op::Target;
use crate::report::{fmt_lat, fmt_rate, loadavg, print_table, Report, Results};
use crate::rig::{finish, rigs_dir, run_setup, setup_script, var, Vars};

/// Runs the rig script into `dir` (with `--software` for a software instance) and
/// returns the variables it exported.
fn make_rig(opts: &Opts, dir: &Path, software: bool) -> Result<Vars, String> {
    let setup = setup_script(opts.setup.as_deref());
    let mut args = vec!["--pool".to_string(), opts.pool().to_string()];
    if software {
        args.push("--software".into());
    }
    run_setup(&setup, dir, &args)
}

/// Runs one cell in a child process, with `env` (the target's rig) added to the
/// environment.
fn run_child(cell: Cell, opts: &Opts, env: &[(String, String)]) -> Result<Measured, String> {
    let mut args: Vec<String> = ["--target", cell.target.name(), "--op", cell.op.name()]
        .map(String::from)
        .to_vec();
    args.extend(timing_args(cell.threads, opts.seconds, opts.warmup));
    if opts.kms {
        args.push("--kms".into());
    }
    Measured::from_fields(&spawn(&args, env)?)
}

/// Turn the audit trail off in a rig's configuration.
fn audit_off(vars: &Vars) -> Result<(), String> {
    let conf = var(vars, "KMSBRIDGE_CONF")?;
    let text = std::fs::read_to_string(conf).map_err(|e| format!("{conf}: {e}"))?;
    let table = "[[instance]]\n";
    let at = text
        .find(table)
        .ok_or_else(|| format!("{conf}: no [[instance]] table"))?
        + table.len();
    let (head, tail) = text.split_at(at);
    std::fs::write(conf, format!("{head}audit = {{ enabled = false }}\n{tail}"))
        .map_err(|e| format!("{conf}: {e}"))
}

pub fn run(opts: &Opts) -> Result<(), String> {
    let load_start = loadavg();
    let tmp = rigs_dir("kmsbridge-bench-")?;
    // The hardware rig: SoftHSM2's token (direct) and the instance bridged to it.
    let vars = make_rig(opts, &tmp.path().join("hardware"), false)?;
    for (n, v) in &vars {
        std::env::set_var(n, v);
    }
    let bridge_module = var(&vars, "KMSBRIDGE_MODULE")?;
    let module_built = Path::new(bridge_module).exists();
    // Why a kmsbridge target is not measured, if it is not.
    let mut absent: BTreeMap<&'static str, String> = BTreeMap::new();
    if !module_built {
        eprintln!(
            "kmsbridge-bench: {bridge_module} does not exist (build it with \
             `cargo build --release`); measuring direct only"
        );
        absent.insert(Target::Bridge.name(), "not built".into());
        absent.insert(Target::Software.name(), "not built".into());
        absent.insert(Target::SoftwareAp.name(), "not built".into());
        absent.insert(Target::SoftwareBare.name(), "not built".into());
    }
    // The software rig: its children run with its variables over the hardware rig's.
    let mut soft_vars = Vec::new();
    // The bare software rig: the same kind of instance with its audit trail off, the
    // baseline of what access points and the trail cost.
    let mut bare_vars = Vec::new();
    if opts.targets.contains(&Target::SoftwareBare) && module_built {
        match make_rig(opts, &tmp.path().join("software-bare"), true)
            .and_then(|v| audit_off(&v).map(|()| v))
        {
            Ok(v) => bare_vars = v,
            Err(e) => {
                eprintln!("kmsbridge-bench: no bare software instance ({e}); not measured");
                absent.insert(Target::SoftwareBare.name(), "no rig".into());
            }
        }
    }
    if opts
        .targets
        .iter()
        .any(|t| matches!(t, Target::Software | Target::SoftwareAp))
        && module_built
    {
        match make_rig(opts, &tmp.path().join("software"), true) {
            Ok(v) => soft_vars = v,
            Err(e) => {
                eprintln!("kmsbridge-bench: no software instance ({e}); software not measured");
                absent.insert(Target::Software.name(), "no rig".into());
                absent.insert(Target::SoftwareAp.name(), "no rig".into());
            }
        }
    }
    let env_of = |t: Target| -> &[(String, String)] {
        match t {
            Target::SoftwareBare => &bare_vars,
            t if t.software() => &soft_vars,
            _ => &[],
        }
    };

    let mut results = Results::new();
    let mut errors = Vec::new();
    for &op in &opts.ops {
        for &threads in &opts.threads {
            // Runs of one cell alternate between the targets (direct, bridge, software,
            // direct, ...) so that all see the same machine conditions; the median run is
            // reported.
            let mut runs: BTreeMap<&'static str, Vec<Measured>> = BTreeMap::new();
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
                    let cell = Cell {
                        target,
                        op,
                        threads,
                    };
                    match run_child(cell, opts, env_of(target)) {
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
                } else if let Some(m) = runs.remove(name).and_then(|v| median(v, Measured::rate)) {
                    results.insert((op, threads, name), Ok(m));
                }
            }
        }
    }

    print_table(Report {
        opts,
        results: &results,
        absent: &absent,
        errors: &errors,
        load_start,
        load_end: loadavg(),
        direct_module: var(&vars, "SOFTHSM2_MODULE")?,
        bridge_module,
    });
    finish(tmp, opts.keep, errors.len(), "cell")
}
