//! `aap credential add|revoke|list|unlock|hash`. A client key is made here, handed to
//! the module once (which keeps only its slow hash) and shown once: on standard output
//! or in a new file of mode 0600.

use super::attrs::*;
use super::points::name;
use super::refusal::{explain, Op};
use super::session::{find, so_session, FLAGS};
use super::show;
use crate::kms::args::{usage, Args};
use crate::kms::refusal::refused;
use crate::kms::time::iso;
use crate::kms::vendor::ulong;
use crate::module::Error;
use kmsbridge_access::credential::{ClientKey, CredentialId, StoredCredential};
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};
use zeroize::Zeroizing;

pub fn run(args: &[String]) -> Result<(), Error> {
    let json = args.iter().any(|a| a == "--json");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--json").cloned().collect();
    let (sub, rest) = match rest.split_first() {
        Some((s, r)) => (s.as_str(), r),
        None => {
            return Err(usage(
                "aap credential needs add, revoke, list, unlock or hash",
            ))
        }
    };
    if json && sub != "list" {
        return Err(usage("--json goes with aap credential list"));
    }
    let window = ["--not-before", "--not-after", "--out"];
    let mut known = FLAGS.to_vec();
    known.extend(window);
    match sub {
        "add" => add(&Args::parse(rest, &known)?),
        "hash" => hash(&Args::parse(rest, &window)?),
        "revoke" => change(&Args::parse(rest, FLAGS)?, "revoke"),
        "unlock" => change(&Args::parse(rest, FLAGS)?, "unlock"),
        "list" => list(&Args::parse(rest, FLAGS)?, json),
        other => Err(usage(format!(
            "unknown aap credential subcommand {other:?} (add, revoke, list, unlock or hash)"
        ))),
    }
}

/// An RFC 3339 UTC flag as unix seconds.
fn time_flag(a: &Args, flag: &str) -> Result<Option<u64>, Error> {
    let Some(v) = a.flag(flag) else {
        return Ok(None);
    };
    let t = kmsbridge_access::Timestamp::parse(v)
        .map_err(|e| usage(format!("{flag}: {e}")))?
        .at();
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| usage(format!("{flag}: {v} is before 1970")))?
        .as_secs();
    Ok(Some(secs))
}

/// `--not-before` and `--not-after`, checked to make a window that is not empty.
fn window(a: &Args) -> Result<(Option<u64>, Option<u64>), Error> {
    let nb = time_flag(a, "--not-before")?;
    let na = time_flag(a, "--not-after")?;
    if let (Some(b), Some(f)) = (nb, na) {
        if f < b {
            return Err(usage("--not-after is before --not-before"));
        }
    }
    Ok((nb, na))
}

fn window_words(nb: Option<u64>, na: Option<u64>) -> String {
    match (nb, na) {
        (None, None) => "valid until revoked".into(),
        (Some(b), None) => format!("valid from {}", iso(b)),
        (None, Some(f)) => format!("valid until {}", iso(f)),
        (Some(b), Some(f)) => format!("valid from {} until {}", iso(b), iso(f)),
    }
}

/// A new file for a client key: created here, exclusively (never over an existing
/// file), with mode 0600 from the start.
fn new_key_file(path: &str) -> Result<std::fs::File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => refused(format!(
                "{path} exists: a client key is never written over a file; give --out a new path"
            )),
            _ => refused(format!("cannot create {path}: {e}")),
        })
}

/// Where the key goes: a new file (`--out`), or standard output.
struct KeyOut {
    file: Option<(String, std::fs::File)>,
}

impl KeyOut {
    fn open(a: &Args) -> Result<KeyOut, Error> {
        Ok(KeyOut {
            file: a
                .flag("--out")
                .map(|p| Ok::<_, Error>((p.to_string(), new_key_file(p)?)))
                .transpose()?,
        })
    }

    /// Nothing was added: the empty file goes.
    fn abandon(self) {
        if let Some((path, f)) = self.file {
            drop(f);
            let _ = std::fs::remove_file(path);
        }
    }

    /// Shows the key once, with the warning that it cannot be shown again.
    fn show(self, key: &ClientKey, what: &str) -> Result<(), Error> {
        let text = key.to_text().map_err(|e| refused(e.to_string()))?;
        match self.file {
            Some((path, mut f)) => {
                let line = Zeroizing::new(format!("{}\n", text.as_str()));
                f.write_all(line.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| refused(format!("cannot write {path}: {e}")))?;
                println!("{what}");
                println!(
                    "the client key is in {path} (mode 0600) and nowhere else: it cannot be shown again. \
                     An application reads it with KMSBRIDGE_CLIENT_KEY_FILE={path} (docs/ACCESS.md)"
                );
            }
            None => {
                eprintln!("{what}");
                eprintln!(
                    "kmsbridge: warning: the client key below is shown only now and cannot be shown again; \
                     store it for the application (a file of mode 0600 named by KMSBRIDGE_CLIENT_KEY_FILE), \
                     or revoke it and add another. --out FILE writes it to a new file instead"
                );
                println!("{}", text.as_str());
            }
        }
        Ok(())
    }
}

fn add(a: &Args) -> Result<(), Error> {
    let name = name(a, "aap credential add")?;
    let (nb, na) = window(a)?;
    let (s, label) = so_session(a)?;
    let h = find(&s, name)?;
    let out = KeyOut::open(a)?;
    let key = ClientKey::generate().map_err(|e| refused(e.to_string()))?;
    let text = key.to_text().map_err(|e| refused(e.to_string()))?;
    let mut t = vec![bytes_attr(CKA_KMSBRIDGE_CREDENTIAL_ADD, text.as_bytes())];
    if let Some(v) = nb {
        t.push(ulong(CKA_KMSBRIDGE_NOT_BEFORE, v as cryptoki_sys::CK_ULONG));
    }
    if let Some(v) = na {
        t.push(ulong(CKA_KMSBRIDGE_NOT_AFTER, v as cryptoki_sys::CK_ULONG));
    }
    let added = s.update_attributes(h, &t);
    // The template held the key's text; wipe that copy now.
    for attr in &mut t {
        if let cryptoki::object::Attribute::VendorDefined((_, v)) = attr {
            zeroize::Zeroize::zeroize(v);
        }
    }
    if let Err(e) = added {
        out.abandon();
        return Err(explain(e, Op::AddCredential(name)));
    }
    out.show(
        &key,
        &format!(
            "added credential {} to access point {name} (instance {label:?}), {}",
            key.id(),
            window_words(nb, na)
        ),
    )
}

fn bytes_attr(t: cryptoki_sys::CK_ATTRIBUTE_TYPE, v: &[u8]) -> cryptoki::object::Attribute {
    crate::kms::vendor::bytes(t, v)
}

/// `revoke` or `unlock` NAME ID.
fn change(a: &Args, verb: &str) -> Result<(), Error> {
    let [name, id] = a.positional.as_slice() else {
        return Err(usage(format!(
            "aap credential {verb} takes NAME ID (`kmsbridge aap credential list NAME` shows the ids)"
        )));
    };
    CredentialId::parse(id).map_err(|_| {
        usage(format!(
            "{id:?} is not a credential id (16 lower-case hex digits)"
        ))
    })?;
    let (s, label) = so_session(a)?;
    let h = find(&s, name)?;
    let attr = if verb == "revoke" {
        CKA_KMSBRIDGE_CREDENTIAL_REVOKE
    } else {
        CKA_KMSBRIDGE_CREDENTIAL_UNLOCK
    };
    let doing = if verb == "revoke" {
        "revoking"
    } else {
        "unlocking"
    };
    s.update_attributes(h, &[text(attr, id)]).map_err(|e| {
        explain(
            e,
            Op::Credential {
                name,
                id,
                verb: doing,
            },
        )
    })?;
    if verb == "revoke" {
        println!(
            "revoked credential {id} of access point {name} (instance {label:?}): its client key no longer logs in (sessions already open end at their next login)"
        );
    } else {
        println!(
            "unlocked credential {id} of access point {name} (instance {label:?}): its wrong-key count is 0 again"
        );
    }
    Ok(())
}

fn list(a: &Args, json: bool) -> Result<(), Error> {
    let name = name(a, "aap credential list")?;
    let (s, label) = so_session(a)?;
    let h = find(&s, name)?;
    let ap = AccessPoint::read(&s, h)?;
    if json {
        println!("{}", show::credentials_json(&label, name, &ap.credentials)?);
    } else {
        show::credentials("", &ap.credentials);
    }
    Ok(())
}

/// A client key and the line a hardware instance's configuration keeps of it; no
/// module involved.
fn hash(a: &Args) -> Result<(), Error> {
    a.none("aap credential hash")?;
    let (nb, na) = window(a)?;
    let out = KeyOut::open(a)?;
    let key = ClientKey::generate().map_err(|e| refused(e.to_string()))?;
    let at = |s: Option<u64>| s.map(|s| UNIX_EPOCH + Duration::from_secs(s));
    let stored: StoredCredential =
        StoredCredential::new(&key, at(nb), at(na)).map_err(|e| refused(e.to_string()))?;
    let mut snippet = format!(
        "[[instance.access_point.credential]]\nhash = \"{}\"",
        stored.to_text()
    );
    for (k, v) in [("not_before", nb), ("not_after", na)] {
        if let Some(v) = v {
            snippet.push_str(&format!("\n{k} = {v}   # {}", iso(v)));
        }
    }
    println!(
        "# credential {}, {}: for the [[instance.access_point]] table of a hardware\n# instance's configuration file (docs/ACCESS.md, Configuration)\n{snippet}\n",
        key.id(),
        window_words(nb, na)
    );
    out.show(
        &key,
        &format!(
            "the client key of credential {} for the application:",
            key.id()
        ),
    )
}
