//! `aap create`, `aap list`, `aap describe`, `aap delete`.

use super::attrs::{ap_class, text, AccessPoint, CKA_KMSBRIDGE_DESCRIPTION};
use super::policy::read_policy_file;
use super::refusal::{explain, Op};
use super::session::{all, find, so_session};
use super::show;
use crate::kms::args::{usage, Args};
use crate::module::Error;
use cryptoki::object::Attribute;

/// The one NAME operand of a command, checked as the module checks names.
pub fn name<'a>(a: &'a Args, cmd: &str) -> Result<&'a str, Error> {
    match a.positional.as_slice() {
        [n] => Ok(n),
        [] => Err(usage(format!("{cmd} needs NAME (an access point)"))),
        _ => Err(usage(format!("{cmd} takes one NAME"))),
    }
}

/// 1 to 64 of A-Z a-z 0-9 . _ - (what the module accepts).
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(usage(format!(
            "{name:?} is not an access point name: 1 to 64 of A-Z a-z 0-9 . _ -"
        )));
    }
    if name == super::DEFAULT {
        return Err(usage(
            "\"default\" is the name of the user PIN's access point: choose another",
        ));
    }
    Ok(())
}

pub fn create(a: &Args) -> Result<(), Error> {
    let name = name(a, "aap create")?;
    check_name(name)?;
    let policy = a.flag("--policy-file").map(read_policy_file).transpose()?;
    let (s, label) = so_session(a)?;
    if !s
        .find_objects(&[ap_class(), Attribute::Label(name.as_bytes().to_vec())])
        .map_err(|e| explain(e, Op::Find))?
        .is_empty()
    {
        return Err(crate::kms::refusal::refused(format!(
            "instance {label:?} already has an access point {name}: `kmsbridge aap describe {name}` shows it"
        )));
    }
    let mut t = vec![ap_class(), Attribute::Label(name.as_bytes().to_vec())];
    if let Some(p) = &policy {
        t.push(Attribute::Value(p.as_bytes().to_vec()));
    }
    if let Some(d) = a.flag("--description") {
        t.push(text(CKA_KMSBRIDGE_DESCRIPTION, d));
    }
    s.create_object(&t)
        .map_err(|e| explain(e, Op::Create(name)))?;
    println!("created access point {name} on instance {label:?}");
    if policy.is_none() {
        println!(
            "  it has no policy yet, so it may do nothing: `kmsbridge aap policy set {name} FILE`"
        );
    }
    println!("  give it a client key: `kmsbridge aap credential add {name}`");
    Ok(())
}

pub fn list(a: &Args, json: bool) -> Result<(), Error> {
    a.none("aap list")?;
    let (s, label) = so_session(a)?;
    let points = all(&s)?;
    if json {
        println!("{}", show::list_json(&label, &points)?);
    } else {
        show::list(&label, &points);
    }
    Ok(())
}

pub fn describe(a: &Args, json: bool) -> Result<(), Error> {
    let name = name(a, "aap describe")?;
    let (s, label) = so_session(a)?;
    let h = find(&s, name)?;
    let ap =
        AccessPoint::read(&s, h).map_err(|e| match e.downcast::<cryptoki::error::Error>() {
            Ok(e) => explain(*e, Op::Describe(name)),
            Err(e) => e,
        })?;
    if json {
        println!("{}", show::describe_json(&label, &ap)?);
    } else {
        show::describe(&label, &ap);
    }
    Ok(())
}

pub fn delete(a: &Args) -> Result<(), Error> {
    let name = name(a, "aap delete")?;
    let (s, label) = so_session(a)?;
    let h = find(&s, name)?;
    s.destroy_object(h)
        .map_err(|e| explain(e, Op::Delete(name)))?;
    println!("deleted access point {name} of instance {label:?}: its client keys no longer log in");
    Ok(())
}
