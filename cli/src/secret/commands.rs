//! `secret create|put|get|list|describe|delete|restore`.

use super::input;
use super::session::*;
use crate::kms::args::{usage, Args};
use crate::kms::refusal::refused;
use crate::module::Error;
use kmsbridge_secrets::ssh::{self, SshKeyKind};
use kmsbridge_secrets::{json_field, DbCredential};
use std::io::{IsTerminal, Write};
use zeroize::Zeroizing;

fn ssh_kind(a: &Args) -> Result<SshKeyKind, Error> {
    Ok(match a.flag("--ssh-key-type").unwrap_or("ed25519") {
        "ed25519" => SshKeyKind::Ed25519,
        "rsa" | "rsa3072" => SshKeyKind::Rsa(3072),
        "rsa2048" => SshKeyKind::Rsa(2048),
        "rsa4096" => SshKeyKind::Rsa(4096),
        other => {
            return Err(usage(format!(
                "--ssh-key-type is ed25519, rsa2048, rsa3072 or rsa4096, not {other:?}"
            )))
        }
    })
}

pub fn create(a: &Args, on: &dyn Fn(&str) -> bool) -> Result<(), Error> {
    let name = super::name(a, "create")?;
    let kind = match a.flag("--type").unwrap_or("generic") {
        "generic" => "generic",
        "database" | "database-credential" => "database-credential",
        "ssh-key" => "ssh-key",
        other => {
            return Err(usage(format!(
                "--type is generic, database or ssh-key, not {other:?}"
            )))
        }
    };
    let given = input::value(a, on("--value-stdin"))?;
    let spec = input::spec(a, on)?;
    let mut extra = vec![vattr(TYPE, kind.as_bytes()), vattr(NEW, &[1])];
    let value: Zeroizing<Vec<u8>> = match (kind, given, &spec) {
        (_, Some(_), Some(_)) => {
            return Err(usage("give a value (--value-file, --value-stdin) or --generate, not both"))
        }
        ("ssh-key", Some(v), None) => {
            ssh::authorized_key(std::str::from_utf8(&v).unwrap_or_default())
                .map_err(|e| refused(format!("the value is not an OpenSSH private key: {e}")))?;
            v
        }
        ("ssh-key", None, None) => {
            let pem = ssh::generate(ssh_kind(a)?, &name).map_err(|e| refused(e.to_string()))?;
            Zeroizing::new(pem.as_bytes().to_vec())
        }
        ("database-credential", Some(v), None) => {
            DbCredential::from_value(&v).map_err(|e| refused(e.to_string()))?;
            v
        }
        ("generic", Some(v), None) => v,
        ("generic", None, Some(s)) => {
            Zeroizing::new(s.generate().map_err(|e| refused(e.to_string()))?.as_bytes().to_vec())
        }
        ("generic", None, None) => {
            return Err(usage("give --value-file F, --value-stdin or --generate LEN"))
        }
        _ => {
            return Err(usage(
                "a database credential needs its JSON value (--value-file or --value-stdin); --generate is for generic secrets",
            ))
        }
    };
    if let Some(s) = &spec {
        extra.push(vattr(GENERATION, serde_json::to_string(s)?.as_bytes()));
    }
    if let Some(d) = a.flag("--description") {
        extra.push(vattr(CKA_KMSBRIDGE_DESCRIPTION, d.as_bytes()));
    }
    if let Some(k) = a.flag("--kms-key") {
        extra.push(vattr(KMS_KEY, k.as_bytes()));
    }
    if let Some(d) = a.number("--rotation-days", 1..=1000)? {
        extra.push(vulong(ROTATION_DAYS, d));
    }
    let s = open(a.flag("--pin"))?;
    let version = super::session::put(&s, &name, &value, extra)?;
    println!("created secret {name} ({kind}), version {version} is ACSCurrent");
    if kind == "ssh-key" {
        let line = ssh::authorized_key(std::str::from_utf8(&value).unwrap_or_default())
            .map_err(|e| refused(e.to_string()))?;
        println!("public key: {line}");
    }
    Ok(())
}

pub fn put(a: &Args, stdin: bool) -> Result<(), Error> {
    let name = super::name(a, "put")?;
    let Some(value) = input::value(a, stdin)? else {
        return Err(usage("secret put needs --value-file F or --value-stdin"));
    };
    let mut extra = Vec::new();
    if let Some(v) = a.flag("--version-id") {
        extra.push(vattr(VERSION_ID, v.as_bytes()));
    }
    if let Some(st) = a.flag("--stage") {
        extra.push(vattr(STAGES, st.as_bytes()));
    }
    let s = open(a.flag("--pin"))?;
    if !exists(&s, &name)? {
        return Err(refused(format!(
            "no secret {name}: make it with `kmsbridge secret create {name}`"
        )));
    }
    let version = super::session::put(&s, &name, &value, extra)?;
    println!("secret {name}: version {version} stored");
    Ok(())
}

fn which<'a>(a: &'a Args) -> Result<Which<'a>, Error> {
    Ok(match (a.flag("--stage"), a.flag("--version")) {
        (Some(_), Some(_)) => return Err(usage("give --stage or --version, not both")),
        (Some(s), None) => Which::Stage(s),
        (None, Some(v)) => Which::Version(v),
        (None, None) => Which::Current,
    })
}

pub fn get(a: &Args, json: bool) -> Result<(), Error> {
    let name = super::name(a, "get")?;
    let which = which(a)?;
    let s = open(a.flag("--pin"))?;
    let h = find(&s, &name, &which)?;
    let mut value = value(&s, h, &name)?;
    if let Some(f) = a.flag("--field") {
        let v = json_field(&value, f).map_err(|e| refused(e.to_string()))?;
        value = Zeroizing::new(v.as_bytes().to_vec());
    }
    let mut out = std::io::stdout().lock();
    if json {
        let text = std::str::from_utf8(&value)
            .map_err(|_| refused("the value is not UTF-8: get it without --json"))?;
        let stages: Vec<String> = text_lines(&super::session::text(&s, h, STAGES)?);
        let doc = Zeroizing::new(
            serde_json::json!({
                "name": name,
                "version_id": super::session::text(&s, h, VERSION_ID)?,
                "stages": stages,
                "value": text,
            })
            .to_string(),
        );
        writeln!(out, "{}", doc.as_str())?;
    } else {
        out.write_all(&value)?;
        if std::io::stdout().is_terminal() {
            writeln!(out)?;
        }
    }
    Ok(())
}

fn text_lines(t: &str) -> Vec<String> {
    t.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn when(secs: Option<u64>) -> String {
    secs.map_or_else(|| "-".into(), crate::kms::time::iso)
}

pub fn list(a: &Args, json: bool) -> Result<(), Error> {
    a.none("secret list")?;
    let s = open(a.flag("--pin"))?;
    let mut infos = Vec::new();
    for h in all(&s)? {
        infos.push(info(&s, h)?);
    }
    infos.sort_by(|x, y| at(x, "/name").as_str().cmp(&at(y, "/name").as_str()));
    if json {
        println!("{}", serde_json::Value::Array(infos));
        return Ok(());
    }
    println!(
        "{:<40} {:<20} {:>8} {:<20} STATE",
        "NAME", "TYPE", "VERSIONS", "LAST ROTATED"
    );
    for i in &infos {
        let state = match at(i, "/deletion/delete_after").as_u64() {
            Some(t) => format!("deletion after {}", when(Some(t))),
            None if at(i, "/rotation_due") == true => "rotation due".into(),
            None => "ok".into(),
        };
        println!(
            "{:<40} {:<20} {:>8} {:<20} {state}",
            at(i, "/name").as_str().unwrap_or_default(),
            at(i, "/type").as_str().unwrap_or_default(),
            at(i, "/versions").as_array().map_or(0, Vec::len),
            when(at(i, "/last_rotated").as_u64()),
        );
    }
    Ok(())
}

pub fn describe(a: &Args, json: bool) -> Result<(), Error> {
    let name = super::name(a, "describe")?;
    let s = open(a.flag("--pin"))?;
    let h = find(&s, &name, &Which::Current)?;
    let i = info(&s, h)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&i)?);
        return Ok(());
    }
    let str_of = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    println!("name:          {}", str_of(at(&i, "/name")));
    println!("type:          {}", str_of(at(&i, "/type")));
    println!("description:   {}", str_of(at(&i, "/description")));
    let key = str_of(at(&i, "/kms_key_id"));
    println!(
        "kms key:       {}",
        if key.is_empty() {
            "the instance's default key".into()
        } else {
            key
        }
    );
    println!("created:       {}", when(at(&i, "/created").as_u64()));
    println!("updated:       {}", when(at(&i, "/updated").as_u64()));
    match at(&i, "/rotation_days").as_u64() {
        Some(d) => println!(
            "rotation:      every {d} days, last {}",
            when(at(&i, "/last_rotated").as_u64())
        ),
        None => println!(
            "rotation:      on demand, last {}",
            when(at(&i, "/last_rotated").as_u64())
        ),
    }
    if let Some(r) = at(&i, "/rotation").as_object() {
        println!(
            "in flight:     version {} since {}, done {}, {} failures; last error: {}",
            r.get("token").and_then(|v| v.as_str()).unwrap_or_default(),
            when(r.get("started").and_then(|v| v.as_u64())),
            r.get("done").and_then(|v| v.as_str()).unwrap_or_default(),
            r.get("failures").and_then(|v| v.as_u64()).unwrap_or(0),
            r.get("last_error").and_then(|v| v.as_str()).unwrap_or("-"),
        );
    }
    if let Some(t) = at(&i, "/deletion/delete_after").as_u64() {
        println!("deletion:      scheduled, purged after {} (restore with `kmsbridge secret restore {name}`)", when(Some(t)));
    }
    println!("versions:");
    for v in at(&i, "/versions").as_array().into_iter().flatten() {
        let stages: Vec<&str> = at(v, "/stages")
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .collect();
        println!(
            "  {}  {}  {}",
            str_of(at(v, "/id")),
            when(at(v, "/created").as_u64()),
            stages.join(", ")
        );
    }
    if at(&i, "/type") == "ssh-key" {
        let v = value(&s, h, &name)?;
        if let Ok(line) = ssh::authorized_key(std::str::from_utf8(&v).unwrap_or_default()) {
            println!("public key:    {line}");
        }
    }
    Ok(())
}

pub fn delete(a: &Args) -> Result<(), Error> {
    let name = super::name(a, "delete")?;
    let days = a.number("--recovery-days", 7..=30)?;
    let s = open(a.flag("--pin"))?;
    let h = find(&s, &name, &Which::Current)?;
    match days {
        Some(d) => s
            .update_attributes(h, &[vulong(CKA_KMSBRIDGE_PENDING_WINDOW_DAYS, d)])
            .map_err(|e| refused(format!("deleting secret {name}: {}", words(&e))))?,
        None => s
            .destroy_object(h)
            .map_err(|e| refused(format!("deleting secret {name}: {}", words(&e))))?,
    }
    let h = find(&s, &name, &Which::Current)?;
    let i = info(&s, h)?;
    println!(
        "secret {name} is scheduled for deletion after {}; `kmsbridge secret restore {name}` cancels it",
        when(at(&i, "/deletion/delete_after").as_u64())
    );
    Ok(())
}

pub fn restore(a: &Args) -> Result<(), Error> {
    let name = super::name(a, "restore")?;
    let s = open(a.flag("--pin"))?;
    set(&s, &name, &[vattr(RESTORE, &[1])], "restoring")?;
    println!("secret {name} restored");
    Ok(())
}
