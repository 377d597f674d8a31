//! What every `aap` command that talks to the module starts with: the instance's slot,
//! the SO PIN, a read/write session logged in as the SO, and an access point by name.

use super::attrs::{ap_class, AccessPoint};
use super::refusal::{explain, Op};
use crate::kms::args::{usage, Args};
use crate::kms::refusal::refused;
use crate::module::{load, Error};
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::io::{BufRead, IsTerminal, Write};
use zeroize::Zeroizing;

/// The flags every module-facing `aap` command takes.
pub const FLAGS: &[&str] = &["--so-pin-file", "--so-pin", "--slot", "--token"];

/// The SO PIN: `--so-pin-file FILE` (its first line), else `--so-pin PIN`, else
/// KMSBRIDGE_SO_PIN, else asked for on the terminal with echo off. Copies read here are
/// zeroized; `AuthPin` zeroizes its own.
pub fn so_pin(a: &Args) -> Result<AuthPin, Error> {
    let pin: Zeroizing<String> = if let Some(file) = a.flag("--so-pin-file") {
        let text = Zeroizing::new(
            std::fs::read_to_string(file)
                .map_err(|e| refused(format!("cannot read the SO PIN file {file}: {e}")))?,
        );
        Zeroizing::new(text.lines().next().unwrap_or("").to_string())
    } else if let Some(p) = a.flag("--so-pin") {
        Zeroizing::new(p.to_string())
    } else if let Ok(p) = std::env::var("KMSBRIDGE_SO_PIN") {
        Zeroizing::new(p)
    } else if std::io::stdin().is_terminal() {
        prompt("SO PIN: ")?
    } else {
        return Err(usage(
            "access points are administered by the SO: give --so-pin-file FILE (or --so-pin PIN, or set KMSBRIDGE_SO_PIN)",
        ));
    };
    if pin.is_empty() {
        return Err(usage("the SO PIN is empty"));
    }
    let boxed: Box<str> = pin.as_str().into();
    Ok(AuthPin::new(boxed))
}

/// Reads one line from the terminal with its echo off (restored afterwards).
fn prompt(text: &str) -> Result<Zeroizing<String>, Error> {
    eprint!("{text}");
    std::io::stderr().flush()?;
    let echo = Echo::off();
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    eprintln!();
    read?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    Ok(trimmed)
}

/// The terminal's settings while echo is off; put back on drop.
struct Echo(Option<libc::termios>);

impl Echo {
    fn off() -> Echo {
        // SAFETY: termios is plain data; tcgetattr fills it or fails and we keep None.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer to a termios of ours.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return Echo(None);
        }
        let mut quiet = t;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: fd 0 and a valid termios read from it just above.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) } != 0 {
            return Echo(None);
        }
        Echo(Some(t))
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the settings tcgetattr gave for the same fd.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

/// A read/write session on the chosen instance, logged in as the SO, and the
/// instance's token label.
pub fn so_session(a: &Args) -> Result<(Session, String), Error> {
    let pin = so_pin(a)?;
    let p11 = load()?;
    let (slot, label) = crate::cluster::pick_slot(&p11, a)?;
    let s = p11.open_rw_session(slot)?;
    s.login(UserType::So, Some(&pin))
        .map_err(|e| explain(e, Op::Login))?;
    Ok((s, label))
}

/// The handle of access point `name`, or a refusal that says how to see them.
pub fn find(s: &Session, name: &str) -> Result<ObjectHandle, Error> {
    let found = s
        .find_objects(&[ap_class(), Attribute::Label(name.as_bytes().to_vec())])
        .map_err(|e| explain(e, Op::Find))?;
    match found.first() {
        Some(h) => Ok(*h),
        None if name == super::DEFAULT => Err(refused(
            "the default access point is the instance's user PIN, not an object: it has every right; turn it off with `default_access_point = false` in the [[instance]] table (docs/ACCESS.md)",
        )),
        None => Err(refused(format!(
            "no access point is named {name:?}: `kmsbridge aap list` shows them"
        ))),
    }
}

/// Every access point, configured ones first, as the module orders them.
pub fn all(s: &Session) -> Result<Vec<AccessPoint>, Error> {
    s.find_objects(&[ap_class()])
        .map_err(|e| explain(e, Op::Find))?
        .into_iter()
        .map(|h| AccessPoint::read(s, h))
        .collect()
}

/// The configuration file, for messages about configured access points.
pub fn conf_file() -> String {
    std::env::var("KMSBRIDGE_CONF").unwrap_or_else(|_| "the configuration file".into())
}
