//! `kmsbridge audit tail`: the trail's records, oldest first, as human lines or (with
//! `--json`) the raw lines; `--follow` keeps polling for new ones.

use super::instance;
use crate::kms::args::Args;
use crate::module::Error;
use kmsbridge_audit::{Follower, Record};
use std::io::Write;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(250);

pub fn run(a: &Args, json: bool, follow: bool) -> Result<(), Error> {
    let dir = match a.flag("--dir") {
        Some(d) => instance::dir(Some(d), None)?,
        None => {
            let facts = instance::read(a.flag("--pin"))?;
            instance::dir(None, Some(&facts))?
        }
    };
    let mut f = Follower::from_start(&dir);
    let mut out = std::io::stdout().lock();
    loop {
        for r in f.poll()? {
            writeln!(out, "{}", show(&r, json)?)?;
        }
        out.flush()?;
        if !follow {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

fn show(r: &Record, json: bool) -> Result<String, Error> {
    Ok(if json {
        r.line()?.trim_end().to_string()
    } else {
        r.human()
    })
}
