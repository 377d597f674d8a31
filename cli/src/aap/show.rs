//! Access points in words (for people) and in JSON (`--json`, for machines).

use super::attrs::{AccessPoint, Credential};
use super::session::conf_file;
use crate::kms::time::{iso, now, relative};
use crate::module::Error;
use serde_json::{json, Value};

/// A credential's state now: locked, not yet valid, expired or active.
pub fn state(c: &Credential) -> &'static str {
    let t = now();
    if c.locked {
        "locked"
    } else if c.not_before != 0 && t < c.not_before {
        "not yet valid"
    } else if c.not_after != 0 && t > c.not_after {
        "expired"
    } else {
        "active"
    }
}

fn date(v: u64, zero: &str) -> String {
    if v == 0 {
        zero.into()
    } else {
        iso(v)
    }
}

/// How many statements the policy has, or why it does not parse.
fn statements(policy: &str) -> String {
    if policy.trim().is_empty() {
        return "0".into();
    }
    match kmsbridge_access::Policy::from_toml(policy) {
        Ok(p) => p.statements.len().to_string(),
        Err(_) => "unreadable".into(),
    }
}

fn source(ap: &AccessPoint) -> &'static str {
    if ap.configured {
        "configured"
    } else {
        "stored"
    }
}

pub fn list(label: &str, points: &[AccessPoint]) {
    if points.is_empty() {
        println!(
            "instance {label:?} has no access points besides the default one (the user PIN): `kmsbridge aap create NAME` makes one"
        );
        return;
    }
    let width = points
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:<10}  {:>10}  {:>11}  {:>6}  DESCRIPTION",
        "NAME", "SOURCE", "STATEMENTS", "CREDENTIALS", "LOCKED"
    );
    for p in points {
        let locked = p.credentials.iter().filter(|c| c.locked).count();
        println!(
            "{:<width$}  {:<10}  {:>10}  {:>11}  {:>6}  {}",
            p.name,
            source(p),
            statements(&p.policy),
            p.credentials.len(),
            locked,
            if p.description.is_empty() {
                "-"
            } else {
                &p.description
            }
        );
    }
}

/// The credentials as a table, indented by `indent`.
pub fn credentials(indent: &str, creds: &[Credential]) {
    if creds.is_empty() {
        println!("{indent}no credentials: no client key logs in as it yet");
        return;
    }
    println!(
        "{indent}{:<16}  {:<13}  {:>8}  {:<20}  {:<20}  CREATED",
        "ID", "STATE", "FAILURES", "NOT BEFORE", "NOT AFTER"
    );
    for c in creds {
        println!(
            "{indent}{:<16}  {:<13}  {:>8}  {:<20}  {:<20}  {}",
            c.id,
            state(c),
            c.failures,
            date(c.not_before, "-"),
            date(c.not_after, "-"),
            date(c.created, "-")
        );
    }
}

pub fn describe(label: &str, ap: &AccessPoint) {
    println!("access point {} (instance {label:?})", ap.name);
    let row = |k: &str, v: &str| println!("  {k:<12} {v}");
    if !ap.description.is_empty() {
        row("description", &ap.description);
    }
    if ap.configured {
        row(
            "source",
            &format!("configured in {} (read-only here)", conf_file()),
        );
    } else {
        row("source", "stored in the instance");
        row(
            "created",
            &format!("{} ({})", date(ap.created, "-"), relative(ap.created)),
        );
    }
    row("credentials", &ap.credentials.len().to_string());
    credentials("    ", &ap.credentials);
    if ap.policy.trim().is_empty() {
        row("policy", "none: it may do nothing and sees no key");
    } else {
        row(
            "policy",
            &format!("{} statement(s):", statements(&ap.policy)),
        );
        for line in ap.policy.trim_matches('\n').lines() {
            println!("    {line}");
        }
    }
}

fn credential_json(c: &Credential) -> Value {
    json!({
        "id": c.id,
        "state": state(c),
        "failures": c.failures,
        "locked": c.locked,
        "not_before": c.not_before,
        "not_after": c.not_after,
        "created": c.created,
    })
}

fn ap_json(ap: &AccessPoint) -> Value {
    json!({
        "name": ap.name,
        "description": ap.description,
        "source": source(ap),
        "created": ap.created,
        "policy": ap.policy,
        "credentials": ap.credentials.iter().map(credential_json).collect::<Vec<_>>(),
    })
}

pub fn list_json(label: &str, points: &[AccessPoint]) -> Result<String, Error> {
    let v = json!({
        "instance": label,
        "access_points": points.iter().map(ap_json).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string(&v)?)
}

pub fn describe_json(label: &str, ap: &AccessPoint) -> Result<String, Error> {
    let mut v = ap_json(ap);
    if let Some(o) = v.as_object_mut() {
        o.insert("instance".into(), json!(label));
    }
    Ok(serde_json::to_string(&v)?)
}

pub fn credentials_json(label: &str, name: &str, creds: &[Credential]) -> Result<String, Error> {
    let v = json!({
        "instance": label,
        "access_point": name,
        "credentials": creds.iter().map(credential_json).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string(&v)?)
}
