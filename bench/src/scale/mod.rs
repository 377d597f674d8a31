//! `kmsbridge-bench --scale`: a software instance's costs against the number of keys
//! it holds (issue 14, "What it must show"; docs/BENCHMARKS.md).
//!
//! For each count (default 100, 10,000, 100,000) a fresh rig (`ci/softhsm/setup
//! --software`), then:
//! - **build**: a child fills the store with that many AES-256 token keys (private,
//!   labels `key-<i>`, ids `id-<i>`) through the software backend's bulk path (one
//!   commit per 10,000 keys; the engine makes each key as `C_GenerateKey` would);
//! - **measure**: a fresh child times `C_Initialize` + `C_OpenSession` + `C_Login`,
//!   then, for `--sample` keys spread over the store and never used before in that
//!   process: a find by label (half the sample) or by `CKA_ID` (the other half), the
//!   first AES-256-GCM 1 KiB encryption with the key found, and the steady cost (the
//!   median of 20 more); and 20 `C_GenerateKey` of token keys at that size. Medians.
//! - **touch** (largest count only, `--touch`): a child finds every key by label and
//!   encrypts once with it, then reports its resident memory (VmRSS, VmHWM).
//!
//! Ratios are against the smallest count. Every child is this binary re-executed with
//! `--scale-child`, in the rig's environment.

mod child;

use std::process::ExitCode;

use crate::args::help;
use crate::child::{exit, spawn, Done, Fields};
use crate::rig::{finish, rigs_dir, run_setup, setup_script, Vars};

const USAGE: &str = "\
usage: kmsbridge-bench --scale [--counts N,N,...] [--sample S] [--touch] [--keep]
                       [--setup PATH]

A software instance with N AES keys (default 100,10000,100000): find by label and by
CKA_ID, first use (AES-GCM 1 KiB), steady use, C_GenerateKey, C_Initialize + login,
each the median over S keys (default 100) never used before in a fresh process;
ratios against the first count. --touch: a process that finds and uses every key of
the largest store reports its resident memory.
";

struct Opts {
    counts: Vec<usize>,
    sample: usize,
    touch: bool,
    keep: bool,
    setup: Option<std::path::PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        counts: vec![100, 10_000, 100_000],
        sample: 100,
        touch: false,
        keep: false,
        setup: None,
    };
    let mut it = args.iter().filter(|a| *a != "--scale");
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--counts" => {
                o.counts = crate::args::parse_list(val()?, |s| {
                    s.parse().map_err(|_| format!("bad count {s}"))
                })?
            }
            "--sample" => o.sample = val()?.parse().map_err(|_| "bad --sample")?,
            "--touch" => o.touch = true,
            "--keep" => o.keep = true,
            "--setup" => o.setup = Some(val()?.into()),
            "-h" | "--help" => help(USAGE),
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    if o.counts.is_empty() || o.sample < 2 {
        return Err("need counts and a sample of at least 2".into());
    }
    Ok(o)
}

pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--scale-child") {
        return exit(Ok(()), |()| Done::Child(child::run(args)));
    }
    exit(parse(args), |o| Done::Parent(run(&o)))
}

/// One count's results.
struct Row {
    count: usize,
    build: Fields,
    m: Fields,
}

fn run(o: &Opts) -> Result<(), String> {
    let tmp = rigs_dir("kmsbridge-scale-")?;
    let setup = setup_script(o.setup.as_deref());
    let mut rows = Vec::new();
    let mut touched = None;
    for (i, &count) in o.counts.iter().enumerate() {
        let dir = tmp.path().join(format!("n{count}"));
        let vars: Vars = run_setup(&setup, &dir, &["--software".to_string()])?;
        let store = dir.join("store").display().to_string();
        let child = |what: &str, extra: &[String]| -> Result<Fields, String> {
            let mut a = vec![
                "--scale-child".to_string(),
                what.to_string(),
                "--store".into(),
                store.clone(),
                "--count".into(),
                count.to_string(),
                "--sample".into(),
                o.sample.to_string(),
            ];
            a.extend_from_slice(extra);
            spawn(&a, &vars)
        };
        eprintln!("scale: building {count} keys");
        let build = child("build", &[])?;
        eprintln!("scale: measuring at {count} keys");
        let m = child("measure", &[])?;
        rows.push(Row { count, build, m });
        if o.touch && i + 1 == o.counts.len() {
            eprintln!("scale: touching all {count} keys");
            touched = Some((count, child("touch", &[])?));
        }
    }
    print(&rows, touched.as_ref())?;
    finish(tmp, o.keep, 0, "count")
}

const COLS: [(&str, &str); 7] = [
    ("init_login_us", "C_Initialize+login"),
    ("find_label_us", "find by label"),
    ("find_id_us", "find by CKA_ID"),
    ("first_use_us", "first use (GCM 1 KiB)"),
    ("steady_us", "steady use"),
    ("generate_us", "C_GenerateKey (token)"),
    ("bulk_us", "bulk create / key"),
];

fn print(rows: &[Row], touched: Option<&(usize, Fields)>) -> Result<(), String> {
    let Some(base) = rows.first() else {
        return Ok(());
    };
    let get = |r: &Row, k: &str| -> Result<f64, String> {
        if k == "bulk_us" {
            r.build.num(k)
        } else {
            r.m.num(k)
        }
    };
    println!(
        "software instance at scale (medians, µs; ratio to {} keys)",
        base.count
    );
    print!("{:>8}", "keys");
    for (_, name) in COLS {
        print!(" | {name:>24}");
    }
    println!();
    for r in rows {
        print!("{:>8}", r.count);
        for (k, _) in COLS {
            let v = get(r, k)?;
            let b = get(base, k)?;
            let ratio = if b > 0.0 { v / b } else { f64::NAN };
            print!(" | {:>13.1} ({:>5.2}x)", v, ratio);
        }
        println!();
    }
    if let Some((count, f)) = touched {
        println!(
            "a process that found and used all {count} keys: VmRSS {} MiB, VmHWM {} MiB, \
             {} objects cached, {:.1} s",
            f.num::<u64>("rss_kb")? / 1024,
            f.num::<u64>("hwm_kb")? / 1024,
            f.get("cached")?,
            f.num::<f64>("secs")?
        );
    }
    Ok(())
}
