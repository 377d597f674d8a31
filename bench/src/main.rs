//! kmsbridge-bench: the same PKCS#11 operations direct to SoftHSM2, through kmsbridge
//! on a hardware instance (bridged to that SoftHSM2 token), and through kmsbridge on a
//! software instance (keys in-module), side by side.
//!
//! The parent process makes two isolated rigs (`ci/softhsm/setup` into a temporary
//! directory: one with a hardware instance over a SoftHSM2 token, one with
//! `--software`), then runs every (operation, threads, target) cell in a child
//! process — this same binary re-executed with `--target direct|bridge|software
//! --op X --threads N`, in the environment of the target's rig. Children are needed
//! because kmsbridge loads the same `libsofthsm2.so` that the direct target uses: in
//! one process both would share SoftHSM2's global state (one `dlopen` handle, one
//! `C_Initialize`); and PKCS#11 state is per process anyway. Each child prints one
//! `RESULT` line; the parent collects them and prints the table.
//!
//! Both targets are driven through the same `cryptoki` calls, so both pay the
//! same wrapper overhead (e.g. the length query that `Session::encrypt`/`sign` do
//! before the real call).
//!
//! This is a measurement tool, not a test: nothing here asserts on timings.

// A benchmark: a panic is how it reports a broken invariant.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod access;
mod args;
mod cell;
mod child;
mod cluster;
mod keys;
mod measure;
mod op;
mod parent;
mod quota;
mod report;
mod rig;
mod scale;
mod workers;

use std::process::ExitCode;

use child::{exit, Done};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--cluster` (and its children) is a bench of its own, in cluster/.
    if args
        .iter()
        .any(|a| a == "--cluster" || a == "--cluster-child")
    {
        return cluster::main(&args);
    }
    // `--quota` (and its children): the quota accuracy and overhead bench, in quota/.
    if args.iter().any(|a| a == "--quota" || a == "--quota-child") {
        return quota::main(&args);
    }
    // `--scale` (and its children): a software instance against its key count, in scale/.
    if args.iter().any(|a| a == "--scale" || a == "--scale-child") {
        return scale::main(&args);
    }
    exit(args::parse_args(&args), |opts| match opts.cell {
        Some(cell) => Done::Child(
            cell::measure(cell, opts.seconds, opts.warmup, opts.kms).map(|m| m.fields()),
        ),
        None => Done::Parent(parent::run(&opts)),
    })
}
