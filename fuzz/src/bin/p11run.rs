//! The harness without AFL:
//!   p11run prepare KIND DIR        make an instance (software | hardware) in DIR
//!   p11run replay DIR FILE|DIR...  run each input once; exit 1 on a broken contract
//!   p11run soak DIR N FILE|DIR...  run the inputs round-robin N times, printing RSS
//!   p11run seeds OUTDIR            write the seed corpus

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kmsbridge_fuzz::{exec, rig, rss_kib, seeds};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn inputs(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(['.', 'R']))
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.to_path_buf());
        }
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        eprintln!("usage: p11run prepare KIND DIR | replay DIR INPUT... | soak DIR N INPUT... | seeds OUTDIR");
        ExitCode::from(2)
    };
    match args.get(1).map(String::as_str) {
        Some("prepare") => {
            let (Some(kind), Some(dir)) =
                (args.get(2).and_then(|k| rig::Kind::parse(k)), args.get(3))
            else {
                return usage();
            };
            match rig::prepare(kind, Path::new(dir)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("prepare: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("seeds") => {
            let Some(out) = args.get(2) else {
                return usage();
            };
            match seeds::write(Path::new(out)) {
                Ok(n) => {
                    println!("{n} seeds written to {out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("seeds: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(cmd @ ("replay" | "soak")) => {
            let Some(dir) = args.get(2) else {
                return usage();
            };
            let (rounds, rest) = if cmd == "soak" {
                let Some(n) = args.get(3).and_then(|n| n.parse::<u64>().ok()) else {
                    return usage();
                };
                (n, args.get(4..).unwrap_or(&[]))
            } else {
                (1, args.get(3..).unwrap_or(&[]))
            };
            let files = inputs(rest);
            let progs: Vec<Vec<u8>> = files
                .iter()
                .map(|f| std::fs::read(f).unwrap_or_default())
                .collect();
            let (user, so) = match rig::load(Path::new(dir)) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut ctx = match rig::start(user, so) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let start = std::time::Instant::now();
            let mut runs = 0u64;
            let report = rounds / 10;
            for round in 0..rounds {
                for (f, p) in files.iter().zip(&progs) {
                    if let Err(e) = exec::run(&mut ctx, p) {
                        eprintln!("{}: {e}", f.display());
                        return ExitCode::FAILURE;
                    }
                    runs += 1;
                }
                if cmd == "soak" && (round == 0 || (report > 0 && (round + 1) % report == 0)) {
                    println!(
                        "round {} runs {runs} rss_kib {} elapsed_s {:.1}",
                        round + 1,
                        rss_kib(),
                        start.elapsed().as_secs_f64()
                    );
                }
            }
            println!(
                "{runs} runs of {} inputs, 0 broken contracts, {:.1} s",
                files.len(),
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
