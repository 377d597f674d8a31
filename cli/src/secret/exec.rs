//! `secret exec --env VAR=NAME[.field] ... -- COMMAND ARGS`: runs COMMAND with the
//! secrets' values in its environment only: never on a command line, in a file or in
//! a log. The exit status is the child's.

use super::session::{find, open, value, Which};
use crate::kms::args::usage;
use crate::kms::refusal::refused;
use crate::module::Error;
use kmsbridge_secrets::json_field;
use zeroize::Zeroizing;

struct Binding {
    var: String,
    spec: String,
}

pub fn run(args: &[String]) -> Result<(), Error> {
    let Some(dash) = args.iter().position(|a| a == "--") else {
        return Err(usage("secret exec needs -- before the command"));
    };
    let (opts, cmd) = args.split_at(dash);
    let cmd = cmd.get(1..).unwrap_or_default();
    let Some((program, rest)) = cmd.split_first() else {
        return Err(usage("secret exec needs a command after --"));
    };
    let mut pin = None;
    let mut bindings = Vec::new();
    let mut it = opts.iter();
    while let Some(o) = it.next() {
        let v = it
            .next()
            .ok_or_else(|| usage(format!("{o} needs a value")))?;
        match o.as_str() {
            "--env" => {
                let (var, spec) = v
                    .split_once('=')
                    .ok_or_else(|| usage("--env takes VAR=NAME or VAR=NAME.field"))?;
                if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(usage(format!(
                        "{var:?} is not an environment variable name"
                    )));
                }
                bindings.push(Binding {
                    var: var.to_string(),
                    spec: spec.to_string(),
                });
            }
            "--pin" => pin = Some(v.as_str()),
            other => return Err(usage(format!("unknown option {other} for secret exec"))),
        }
    }
    if bindings.is_empty() {
        return Err(usage("secret exec needs at least one --env VAR=NAME"));
    }
    let s = open(pin)?;
    let mut child = std::process::Command::new(program);
    child.args(rest);
    // The child must not log in with our PIN or key file by accident.
    child.env_remove("KMSBRIDGE_USER_PIN");
    for b in &bindings {
        let v = resolve(&s, &b.spec)?;
        let text = std::str::from_utf8(&v).map_err(|_| {
            refused(format!(
                "secret {}: the value is not UTF-8, it cannot go into an environment variable",
                b.spec
            ))
        })?;
        if text.contains('\0') {
            return Err(refused(format!(
                "secret {}: the value holds a NUL byte",
                b.spec
            )));
        }
        child.env(&b.var, text);
    }
    drop(s);
    let status = child
        .status()
        .map_err(|e| refused(format!("cannot run {program}: {e}")))?;
    std::process::exit(status.code().unwrap_or(128));
}

/// NAME, or NAME.field of a JSON value: the whole spec names a secret first (names
/// may hold dots), else the part after the last dot is a field.
fn resolve(s: &cryptoki::session::Session, spec: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    if let Ok(h) = find(s, spec, &Which::Current) {
        return value(s, h, spec);
    }
    let Some((name, field)) = spec.rsplit_once('.') else {
        return Err(refused(format!(
            "no secret {spec} (or the access point does not see it)"
        )));
    };
    let h = find(s, name, &Which::Current)?;
    let v = value(s, h, name)?;
    let f = json_field(&v, field).map_err(|e| refused(format!("secret {name}: {e}")))?;
    Ok(Zeroizing::new(f.as_bytes().to_vec()))
}
