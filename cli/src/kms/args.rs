//! Command-line words of `key` and `import`: positionals and `--flag VALUE` pairs, with
//! usage errors kept apart from refusals so `main` can exit 2 for them and 1 for those.

use crate::module::Error;
use std::fmt;

/// A usage error: the command line itself is wrong. `main` exits 2 on it.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage(msg: impl Into<String>) -> Error {
    Box::new(Usage(msg.into()))
}

pub struct Args {
    pub positional: Vec<String>,
    flags: Vec<(String, String)>,
}

impl Args {
    /// Split `args` into positionals and the flags in `known` (each takes a value).
    /// `--pin` is known everywhere.
    pub fn parse(args: &[String], known: &[&str]) -> Result<Args, Error> {
        let mut positional = Vec::new();
        let mut flags = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a.starts_with("--") {
                if a != "--pin" && !known.contains(&a.as_str()) {
                    return Err(usage(format!("unknown option {a}")));
                }
                let v = it
                    .next()
                    .ok_or_else(|| usage(format!("{a} needs a value")))?;
                flags.push((a.clone(), v.clone()));
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Args { positional, flags })
    }

    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The one KEY operand of a command.
    pub fn key(&self, cmd: &str) -> Result<&str, Error> {
        match self.positional.as_slice() {
            [k] => Ok(k),
            [] => Err(usage(format!(
                "{cmd} needs KEY (a key id in hex or an alias)"
            ))),
            _ => Err(usage(format!("{cmd} takes one KEY"))),
        }
    }

    pub fn none(&self, cmd: &str) -> Result<(), Error> {
        if self.positional.is_empty() {
            Ok(())
        } else {
            Err(usage(format!("{cmd} takes no operand")))
        }
    }

    /// A numeric flag within `range`.
    pub fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, Error> {
        let Some(v) = self.flag(name) else {
            return Ok(None);
        };
        match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(usage(format!(
                "{name} takes a number from {} to {}",
                range.start(),
                range.end()
            ))),
        }
    }
}
