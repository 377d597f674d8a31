//! `kmsbridge audit verify` and `kmsbridge audit tail` (docs/AUDIT.md). What to trust —
//! the audit key's public half, the latest signed head, where the trail lives — comes
//! from the instance through the module (`CKO_KMSBRIDGE_AUDIT`, read as the user); the
//! trail's files are read directly and never written.

mod instance;
mod tail;
mod verify;

use crate::kms::args::{usage, Args};
use crate::module::Error;

pub fn run(args: &[String]) -> Result<(), Error> {
    let switches = ["--json", "--follow"];
    let on = |s: &str| args.iter().any(|a| a == s);
    let rest: Vec<String> = args
        .iter()
        .filter(|a| !switches.contains(&a.as_str()))
        .cloned()
        .collect();
    let a = Args::parse(rest.get(1..).unwrap_or(&[]), &["--dir"])?;
    a.none("audit")?;
    match rest.first().map(String::as_str) {
        Some("verify") if !on("--follow") => verify::run(&a, on("--json")),
        Some("tail") => tail::run(&a, on("--json"), on("--follow")),
        Some("verify") => Err(usage("audit verify takes no --follow")),
        _ => Err(usage(
            "audit verify [--dir DIR] [--json] | audit tail [--dir DIR] [--follow] [--json]",
        )),
    }
}
