//! Where a new value comes from: a file, stdin, or generated. Never the command line
//! (it would be in `ps` and in shell history).

use crate::kms::args::{usage, Args};
use crate::kms::refusal::refused;
use crate::module::Error;
use kmsbridge_secrets::GenerationSpec;
use std::io::Read;
use zeroize::Zeroizing;

/// `--value-file F` or `--value-stdin`; one trailing newline of a file is dropped
/// (editors add one; a value that needs it can come from stdin).
pub fn value(a: &Args, stdin: bool) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
    match (a.flag("--value-file"), stdin) {
        (Some(_), true) => Err(usage("give --value-file or --value-stdin, not both")),
        (Some(f), false) => {
            let mut v = Zeroizing::new(
                std::fs::read(f).map_err(|e| refused(format!("cannot read {f}: {e}")))?,
            );
            if v.last() == Some(&b'\n') {
                v.pop();
                if v.last() == Some(&b'\r') {
                    v.pop();
                }
            }
            Ok(Some(v))
        }
        (None, true) => {
            let mut v = Zeroizing::new(Vec::new());
            std::io::stdin().read_to_end(&mut v)?;
            Ok(Some(v))
        }
        (None, false) => Ok(None),
    }
}

/// The generation spec of `--generate LEN` and its class switches.
pub fn spec(a: &Args, on: &dyn Fn(&str) -> bool) -> Result<Option<GenerationSpec>, Error> {
    let Some(len) = a.number("--generate", 1..=4096)? else {
        return Ok(None);
    };
    let spec = GenerationSpec {
        length: len as u32,
        upper: !on("--no-upper"),
        lower: !on("--no-lower"),
        digits: !on("--no-digits"),
        punctuation: !on("--no-punctuation"),
        space: on("--space"),
        exclude: a.flag("--exclude").unwrap_or_default().to_string(),
        ..GenerationSpec::default()
    };
    spec.check().map_err(|e| usage(e.to_string()))?;
    Ok(Some(spec))
}
