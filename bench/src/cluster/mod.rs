//! `kmsbridge-bench --cluster`: RSA-2048 sign throughput of a hardware instance with
//! 1, 2 and 3 nodes under a capacity model, and the bridge's overhead against
//! SoftHSM2 direct with one node (issue 5, item 7; docs/BENCHMARKS.md).
//!
//! The model: every node is SoftHSM2 behind its own copy of the fault shim
//! (`ci/softhsm/setup DIR --nodes N --in-process`) with `capacity = C` (the node has C
//! crypto engines) and `latency_ms = L` (each crypto call holds an engine L ms longer
//! than SoftHSM2's own work). With L far above the CPU cost of a sign, a node's
//! throughput is bounded by its engines, not by the machine's CPUs, so N nodes can
//! give N times one node's throughput while the CPUs stay mostly idle: what is
//! measured is how well kmsbridge spreads the load, not how fast SoftHSM2 computes.
//!
//! Every measured case is a child process (this binary re-executed with
//! `--cluster-child`, the module, token and PIN in its environment): PKCS#11 state is
//! per process, and kmsbridge and the direct cases load the same `libsofthsm2.so`.
//! The child counts failed signs instead of stopping at the first one: a cluster that
//! loses calls under load must show it in the table.

mod args;
mod cases;
mod child;
mod parent;
mod report;

use std::process::ExitCode;

use crate::child::{exit, Done};

/// Entry point of `--cluster` (parent) and `--cluster-child` (one measured case).
pub fn main(args: &[String]) -> ExitCode {
    exit(args::parse_args(args), |opts| {
        if opts.child {
            Done::Child(child::measure(&opts).map(|o| o.fields()))
        } else {
            Done::Parent(parent::run(&opts))
        }
    })
}
