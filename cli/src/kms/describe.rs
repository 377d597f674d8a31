//! `kmsbridge key describe KEY`: every attribute the record answers, then every version's
//! key objects, vendor attributes included, in words and UTC dates.

use super::args::Args;
use super::record::{curve_name, Record};
use super::session::{open, resolve};
use super::time::{iso, relative};
use super::vendor::*;
use crate::module::Error;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::CK_ATTRIBUTE_TYPE;

/// What `describe` asks of every object; each answers a subset.
/// A record's CKA_CLASS is not asked: cryptoki reads CKA_CLASS back as its typed
/// `ObjectClass`, which has no vendor classes (and a found record's class is known).
fn wanted(record: bool) -> Vec<AttributeType> {
    let mut v = if record {
        vec![]
    } else {
        vec![AttributeType::Class]
    };
    v.extend([
        AttributeType::Id,
        AttributeType::Label,
        AttributeType::KeyType,
        AttributeType::ValueLen,
        AttributeType::ModulusBits,
        AttributeType::Modulus,
        AttributeType::PublicExponent,
        AttributeType::EcParams,
        AttributeType::Token,
        AttributeType::Private,
        AttributeType::Modifiable,
        AttributeType::Destroyable,
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::Local,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
        AttributeType::Encrypt,
        AttributeType::Decrypt,
        AttributeType::Wrap,
        AttributeType::Unwrap,
        AttributeType::Sign,
        AttributeType::Verify,
        AttributeType::Derive,
    ]);
    v.extend(
        [
            CKA_KMSBRIDGE_ORIGIN,
            CKA_KMSBRIDGE_KEY_STATE,
            CKA_KMSBRIDGE_CREATED,
            CKA_KMSBRIDGE_KEY_VERSION,
            CKA_KMSBRIDGE_PRIMARY_VERSION,
            CKA_KMSBRIDGE_DELETION_DATE,
            CKA_KMSBRIDGE_MATERIAL_EXPIRY,
            CKA_KMSBRIDGE_DEFAULT_KEY,
            CKA_KMSBRIDGE_SERVICE,
        ]
        .map(attr_type),
    );
    v
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn date(v: u64, zero: &str) -> String {
    if v == 0 {
        zero.into()
    } else {
        format!("{} ({})", iso(v), relative(v))
    }
}

fn class_name(c: ObjectClass) -> String {
    match c {
        ObjectClass::SECRET_KEY => "secret key".into(),
        ObjectClass::PRIVATE_KEY => "private key".into(),
        ObjectClass::PUBLIC_KEY => "public key".into(),
        other => other.to_string(),
    }
}

/// A vendor attribute as (name, words).
fn vendor(t: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Option<(&'static str, String)> {
    if t == CKA_KMSBRIDGE_DEFAULT_KEY || t == CKA_KMSBRIDGE_SERVICE {
        let b = yes(v.first().is_some_and(|b| *b != 0));
        let name = if t == CKA_KMSBRIDGE_SERVICE {
            "service key"
        } else {
            "default key"
        };
        return Some((name, b));
    }
    let n = as_ulong(v)?;
    Some(match t {
        CKA_KMSBRIDGE_ORIGIN => (
            "origin",
            match n {
                ORIGIN_KMS => "KMS (generated inside the instance)".into(),
                ORIGIN_EXTERNAL => "EXTERNAL (imported)".into(),
                _ => origin_name(n),
            },
        ),
        CKA_KMSBRIDGE_KEY_STATE => ("state", state_name(n)),
        CKA_KMSBRIDGE_CREATED => ("created", date(n, "-")),
        CKA_KMSBRIDGE_KEY_VERSION => ("version", n.to_string()),
        CKA_KMSBRIDGE_PRIMARY_VERSION => ("primary version", n.to_string()),
        CKA_KMSBRIDGE_DELETION_DATE => ("deletion date", date(n, "none")),
        CKA_KMSBRIDGE_MATERIAL_EXPIRY => ("material expiry", date(n, "never")),
        _ => return None,
    })
}

/// An id in hex; an older version's "#vN" suffix stays readable.
fn id_words(id: &[u8]) -> String {
    let sep = VERSION_SEPARATOR.as_bytes();
    let split = id
        .windows(sep.len())
        .rposition(|w| w == sep)
        .and_then(|at| id.split_at_checked(at))
        .and_then(|(base, rest)| Some((base, rest.strip_prefix(sep)?)));
    if let Some((base, n)) = split {
        if !n.is_empty() && n.iter().all(u8::is_ascii_digit) {
            return format!(
                "{}{VERSION_SEPARATOR}{}",
                hex::encode(base),
                String::from_utf8_lossy(n)
            );
        }
    }
    hex::encode(id)
}

/// One attribute as (name, words); None for what is not shown.
fn words(a: &Attribute) -> Option<(&'static str, String)> {
    Some(match a {
        Attribute::Class(c) => ("class", class_name(*c)),
        Attribute::Id(v) => ("id", id_words(v)),
        Attribute::Label(v) => ("label", String::from_utf8_lossy(v).into_owned()),
        Attribute::KeyType(k) => ("key type", k.to_string()),
        Attribute::ValueLen(n) => ("value length", format!("{} bytes", u64::from(*n))),
        Attribute::ModulusBits(n) => ("modulus bits", u64::from(*n).to_string()),
        Attribute::Modulus(m) => ("modulus", format!("{} bits", m.len() * 8)),
        Attribute::PublicExponent(e) => ("public exponent", format!("0x{}", hex::encode(e))),
        Attribute::EcParams(p) => ("curve", curve_name(p)),
        Attribute::Token(b) => ("token", yes(*b)),
        Attribute::Private(b) => ("private", yes(*b)),
        Attribute::Modifiable(b) => ("modifiable", yes(*b)),
        Attribute::Destroyable(b) => ("destroyable", yes(*b)),
        Attribute::Sensitive(b) => ("sensitive", yes(*b)),
        Attribute::Extractable(b) => ("extractable", yes(*b)),
        Attribute::Local(b) => ("local", yes(*b)),
        Attribute::AlwaysSensitive(b) => ("always sensitive", yes(*b)),
        Attribute::NeverExtractable(b) => ("never extractable", yes(*b)),
        Attribute::Encrypt(b) => ("encrypt", yes(*b)),
        Attribute::Decrypt(b) => ("decrypt", yes(*b)),
        Attribute::Wrap(b) => ("wrap", yes(*b)),
        Attribute::Unwrap(b) => ("unwrap", yes(*b)),
        Attribute::Sign(b) => ("sign", yes(*b)),
        Attribute::Verify(b) => ("verify", yes(*b)),
        Attribute::Derive(b) => ("derive", yes(*b)),
        Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) => return vendor(*t, v),
        _ => return None,
    })
}

fn show(s: &Session, h: ObjectHandle, record: bool, indent: &str) -> Result<(), Error> {
    if record {
        println!("{indent}{:<20} key record (CKO_KMSBRIDGE_KEY)", "class");
    }
    for a in s.get_attributes(h, &wanted(record))? {
        if let Some((name, value)) = words(&a) {
            println!("{indent}{name:<20} {value}");
        }
    }
    Ok(())
}

pub fn run(a: &Args) -> Result<(), Error> {
    let key = a.key("key describe")?;
    let s = open(a.flag("--pin"))?;
    let t = resolve(&s, key)?;
    let r = Record::read(&s, t.handle)?;
    if t.is_record {
        println!("key {}", r.id_hex());
        show(&s, t.handle, true, "  ")?;
    } else {
        println!(
            "key {} (made by an application; it gets a record on its first state change or rotation)",
            r.id_hex()
        );
    }
    // The primary version's objects carry the id itself; older version N carries id#vN.
    let primary = r.primary_version.unwrap_or(1);
    for v in (1..=primary).rev() {
        let id = if v == primary {
            r.id.clone()
        } else {
            let mut id = r.id.clone();
            id.extend_from_slice(format!("{VERSION_SEPARATOR}{v}").as_bytes());
            id
        };
        let objects = s.find_objects(&[Attribute::Id(id)])?;
        if objects.is_empty() {
            if v == primary {
                println!("  version {v}: no key material (import it, or it was deleted)");
            }
            continue;
        }
        for h in objects {
            println!(
                "  version {v}{}:",
                if v == primary { " (primary)" } else { "" }
            );
            show(&s, h, false, "    ")?;
        }
    }
    Ok(())
}
