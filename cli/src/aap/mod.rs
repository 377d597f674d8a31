//! `kmsbridge aap ...`: application access points (docs/ACCESS.md) administered by the
//! instance's SO through the module's CKO_KMSBRIDGE_ACCESS_POINT objects, like any
//! PKCS#11 client would.

pub mod attrs;
mod credential;
mod points;
mod policy;
mod refusal;
mod session;
mod show;

use crate::kms::args::{usage, Args};
use crate::module::Error;

/// The user PIN's access point: not an object, and not a name another may take.
pub const DEFAULT: &str = "default";

pub fn run(args: &[String]) -> Result<(), Error> {
    let json = args.iter().any(|a| a == "--json");
    let (sub, rest) = match args.split_first() {
        Some((s, r)) => (s.as_str(), r),
        None => {
            return Err(usage(
                "aap needs a subcommand: `kmsbridge --help` lists them",
            ))
        }
    };
    let plain: Vec<String> = rest.iter().filter(|a| *a != "--json").cloned().collect();
    if json && !["list", "describe", "credential"].contains(&sub) {
        return Err(usage(
            "--json goes with aap list, aap describe and aap credential list",
        ));
    }
    let parse = |extra: &[&str]| {
        let mut known = session::FLAGS.to_vec();
        known.extend(extra);
        Args::parse(&plain, &known)
    };
    match sub {
        "create" => points::create(&parse(&["--description", "--policy-file"])?),
        "list" => points::list(&parse(&[])?, json),
        "describe" => points::describe(&parse(&[])?, json),
        "delete" => points::delete(&parse(&[])?),
        "credential" => credential::run(rest),
        "policy" => policy::run(rest),
        "-h" | "--help" | "help" => {
            println!("{}", crate::USAGE);
            Ok(())
        }
        other => Err(usage(format!(
            "unknown aap subcommand {other:?} (create, list, describe, delete, credential, policy)"
        ))),
    }
}
