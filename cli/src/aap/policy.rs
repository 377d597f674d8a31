//! `aap policy set NAME FILE` and `aap policy show NAME`. A policy file is checked here
//! first, so its author sees the parser's message naming the line; the module checks it
//! again before it stores it.

use super::attrs::AccessPoint;
use super::points::name;
use super::refusal::{explain, Op};
use super::session::{find, so_session};
use crate::kms::args::{usage, Args};
use crate::kms::refusal::refused;
use crate::module::Error;
use cryptoki::object::Attribute;

/// The text of a policy file, refused with the parser's words when it does not parse.
pub fn read_policy_file(file: &str) -> Result<String, Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| refused(format!("cannot read the policy file {file}: {e}")))?;
    check(file, &text)?;
    Ok(text)
}

/// `Policy::from_toml`'s verdict on `text`, its message prefixed with the file.
pub fn check(file: &str, text: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Ok(());
    }
    kmsbridge_access::Policy::from_toml(text)
        .map(|_| ())
        .map_err(|e| refused(format!("{file}: {e}\n(docs/ACCESS.md, Policies, lists every action, resource and condition)")))
}

pub fn run(args: &[String]) -> Result<(), Error> {
    let (sub, rest) = match args.split_first() {
        Some((s, r)) => (s.as_str(), r),
        None => return Err(usage("aap policy needs set or show")),
    };
    let a = Args::parse(rest, super::session::FLAGS)?;
    match sub {
        "set" => set(&a),
        "show" => show(&a),
        other => Err(usage(format!(
            "unknown aap policy subcommand {other:?} (set or show)"
        ))),
    }
}

fn set(a: &Args) -> Result<(), Error> {
    let [name, file] = a.positional.as_slice() else {
        return Err(usage("aap policy set takes NAME FILE"));
    };
    let text = read_policy_file(file)?;
    let (s, label) = so_session(a)?;
    let h = find(&s, name)?;
    s.update_attributes(h, &[Attribute::Value(text.into_bytes())])
        .map_err(|e| explain(e, Op::Policy(name)))?;
    println!(
        "set the policy of access point {name} (instance {label:?}); every process using the instance applies it within a second"
    );
    Ok(())
}

fn show(a: &Args) -> Result<(), Error> {
    let name = name(a, "aap policy show")?;
    let (s, _) = so_session(a)?;
    let h = find(&s, name)?;
    let ap = AccessPoint::read(&s, h)?;
    if ap.policy.trim().is_empty() {
        eprintln!("{name} has no policy: it may do nothing and sees no key");
    } else {
        // The text exactly as stored, so `policy show X > f; edit f; policy set X f` works.
        print!("{}", ap.policy);
        if !ap.policy.ends_with('\n') {
            println!();
        }
    }
    Ok(())
}
