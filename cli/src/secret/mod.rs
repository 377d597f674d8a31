//! `kmsbridge secret ...`: secrets in the instance (docs/SECRETS.md), through the
//! module's CKO_DATA objects of `kmsbridge.secret` like any PKCS#11 client, logged in
//! as the user (or an access point's client key). Values are read from files or stdin,
//! printed only by `get`, and handed to programs only through their environment
//! (`exec`).

mod commands;
mod exec;
mod input;
mod rotate;
pub mod session;

use crate::kms::args::{usage, Args};
use crate::module::Error;

/// Flags that take no value.
const SWITCHES: &[&str] = &[
    "--json",
    "--value-stdin",
    "--due",
    "--no-upper",
    "--no-lower",
    "--no-digits",
    "--no-punctuation",
    "--space",
];

pub fn run(args: &[String]) -> Result<(), Error> {
    let (sub, rest) = match args.split_first() {
        Some((s, r)) => (s.as_str(), r),
        None => {
            return Err(usage(
                "secret needs a subcommand: `kmsbridge --help` lists them",
            ))
        }
    };
    if sub == "exec" {
        return exec::run(rest);
    }
    let switches: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .filter(|a| SWITCHES.contains(a))
        .collect();
    let plain: Vec<String> = rest
        .iter()
        .filter(|a| !SWITCHES.contains(&a.as_str()))
        .cloned()
        .collect();
    let on = |s: &str| switches.contains(&s);
    let parse = |extra: &[&str]| {
        let mut known = session::FLAGS.to_vec();
        known.extend(extra);
        Args::parse(&plain, &known)
    };
    match sub {
        "create" => commands::create(
            &parse(&[
                "--type",
                "--description",
                "--value-file",
                "--generate",
                "--exclude",
                "--kms-key",
                "--rotation-days",
                "--ssh-key-type",
            ])?,
            &on,
        ),
        "put" => commands::put(&parse(&["--value-file", "--version-id", "--stage"])?, on("--value-stdin")),
        "get" => commands::get(&parse(&["--stage", "--version", "--field"])?, on("--json")),
        "list" => commands::list(&parse(&[])?, on("--json")),
        "describe" => commands::describe(&parse(&[])?, on("--json")),
        "delete" => commands::delete(&parse(&["--recovery-days"])?),
        "restore" => commands::restore(&parse(&[])?),
        "rotate" => rotate::run(&parse(&["--strategy", "--admin-secret"])?, on("--due")),
        "-h" | "--help" | "help" => {
            println!("{}", crate::USAGE);
            Ok(())
        }
        other => Err(usage(format!(
            "unknown secret subcommand {other:?} (create, put, get, list, describe, delete, restore, rotate, exec)"
        ))),
    }
}

/// The one NAME operand.
fn name(a: &Args, cmd: &str) -> Result<String, Error> {
    match a.positional.as_slice() {
        [n] => Ok(n.clone()),
        [] => Err(usage(format!("secret {cmd} needs NAME"))),
        _ => Err(usage(format!("secret {cmd} takes one NAME"))),
    }
}
