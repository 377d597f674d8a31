//! `kmsbridge key ...`: records made with C_CreateObject, listed with C_FindObjects,
//! states changed with C_SetAttributeValue, rotation by C_GenerateKey (docs/KEYS.md).

use super::args::{usage, Args};
use super::record::{Record, P256, P384};
use super::refusal::{explain, refused, Op};
use super::session::{current, open, records, resolve};
use super::time::{iso, relative};
use super::vendor::*;
use crate::module::Error;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::CK_ULONG;

pub fn run(args: &[String]) -> Result<(), Error> {
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => return Err(usage("key needs a subcommand")),
    };
    match cmd {
        "create" => create(&Args::parse(rest, &["--alias", "--spec", "--origin"])?),
        "list" => list(&Args::parse(rest, &[])?),
        "describe" => super::describe::run(&Args::parse(rest, &[])?),
        "enable" => change(&Args::parse(rest, &[])?, Change::Enable),
        "disable" => change(&Args::parse(rest, &[])?, Change::Disable),
        "schedule-deletion" => change(&Args::parse(rest, &["--days"])?, Change::ScheduleDeletion),
        "cancel-deletion" => change(&Args::parse(rest, &[])?, Change::CancelDeletion),
        "delete-material" => change(&Args::parse(rest, &[])?, Change::DeleteMaterial),
        "rotate" => rotate(&Args::parse(rest, &[])?),
        "-h" | "--help" | "help" => {
            println!("{}", crate::USAGE);
            Ok(())
        }
        other => Err(usage(format!("unknown key subcommand {other:?}"))),
    }
}

/// `--spec` to the record's key type and size attribute.
fn spec_template(spec: &str) -> Result<(KeyType, Attribute), Error> {
    Ok(match spec {
        "aes-128" => (KeyType::AES, Attribute::ValueLen(16.into())),
        "aes-192" => (KeyType::AES, Attribute::ValueLen(24.into())),
        "aes-256" => (KeyType::AES, Attribute::ValueLen(32.into())),
        "rsa-2048" => (KeyType::RSA, Attribute::ModulusBits(2048.into())),
        "rsa-3072" => (KeyType::RSA, Attribute::ModulusBits(3072.into())),
        "rsa-4096" => (KeyType::RSA, Attribute::ModulusBits(4096.into())),
        "ec-p256" => (KeyType::EC, Attribute::EcParams(P256.to_vec())),
        "ec-p384" => (KeyType::EC, Attribute::EcParams(P384.to_vec())),
        other => {
            return Err(usage(format!(
                "--spec {other:?} is not one of aes-128, aes-192, aes-256, rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384"
            )))
        }
    })
}

fn create(a: &Args) -> Result<(), Error> {
    a.none("key create")?;
    let (key_type, size) = spec_template(a.flag("--spec").unwrap_or("aes-256"))?;
    let origin = match a.flag("--origin").unwrap_or("kms") {
        "kms" => ORIGIN_KMS,
        "external" => ORIGIN_EXTERNAL,
        other => return Err(usage(format!("--origin {other:?} is not kms or external"))),
    };
    let alias = a.flag("--alias");
    if let Some(al) = alias {
        // KEY is looked up as a hex id first, and "#v" names older versions.
        if al.is_empty() || al.contains(VERSION_SEPARATOR) {
            return Err(usage(format!(
                "an alias is not empty and has no {VERSION_SEPARATOR:?} (it names older versions)"
            )));
        }
        if hex::decode(al).is_ok() {
            return Err(usage(
                "an alias that reads as hex would be taken for a key id: choose another",
            ));
        }
    }
    let s = open(a.flag("--pin"))?;
    let mut template = vec![
        record_class(),
        ulong(CKA_KMSBRIDGE_ORIGIN, origin),
        Attribute::KeyType(key_type),
        size,
    ];
    if let Some(al) = alias {
        let taken = s
            .find_objects(&[record_class(), Attribute::Label(al.as_bytes().to_vec())])
            .map_err(|e| explain(e, Op::Find))?;
        if let Some(h) = taken.first() {
            let other = Record::read(&s, *h)?;
            return Err(refused(format!(
                "the alias {al:?} already names key {}: choose another alias",
                other.id_hex()
            )));
        }
        template.push(Attribute::Label(al.as_bytes().to_vec()));
    }
    let h = s
        .create_object(&template)
        .map_err(|e| explain(e, Op::Create))?;
    let r = Record::read(&s, h)?;
    println!(
        "created key {}{}: {}, origin {}, {}",
        r.id_hex(),
        r.alias
            .as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default(),
        r.spec(),
        r.origin_name(),
        r.state_name()
    );
    if r.state == Some(STATE_PENDING_IMPORT) {
        println!(
            "next: kmsbridge import get-parameters {} --out DIR, wrap the material, kmsbridge import key-material",
            r.id_hex()
        );
    }
    Ok(())
}

/// The deletion date or material expiry, whichever is set.
fn when(r: &Record) -> String {
    let mut parts = Vec::new();
    if let Some(d) = r.deletion_date.filter(|d| *d != 0) {
        parts.push(format!("deleted at {}", iso(d)));
    }
    if let Some(e) = r.material_expiry.filter(|e| *e != 0) {
        parts.push(format!("material expires {}", iso(e)));
    }
    parts.join(", ")
}

fn list(a: &Args) -> Result<(), Error> {
    a.none("key list")?;
    let s = open(a.flag("--pin"))?;
    let mut rows = vec![[
        "ID".to_string(),
        "ALIAS".into(),
        "SPEC".into(),
        "ORIGIN".into(),
        "STATE".into(),
        "PRIMARY".into(),
        "DELETION / EXPIRY".into(),
    ]];
    let mut all = records(&s)?
        .into_iter()
        .map(|h| Record::read(&s, h))
        .collect::<Result<Vec<_>, _>>()?;
    // Oldest first; the instance returns records in no particular order.
    all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    for r in all {
        let mut alias = r.alias.clone().unwrap_or_else(|| "-".into());
        if r.default_key == Some(true) {
            alias.push_str(" [default]");
        }
        rows.push([
            r.id_hex(),
            alias,
            r.spec(),
            r.origin_name(),
            r.state_name(),
            r.primary_version
                .map(|v| format!("v{v}"))
                .unwrap_or_else(|| "-".into()),
            when(&r),
        ]);
    }
    if rows.len() == 1 {
        println!("no KMS keys yet: `kmsbridge key create` makes one");
        return Ok(());
    }
    let mut width = [0usize; 7];
    for row in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Change {
    Enable,
    Disable,
    ScheduleDeletion,
    CancelDeletion,
    DeleteMaterial,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Enable => "key enable",
            Change::Disable => "key disable",
            Change::ScheduleDeletion => "key schedule-deletion",
            Change::CancelDeletion => "key cancel-deletion",
            Change::DeleteMaterial => "key delete-material",
        }
    }

    fn to(self) -> CK_ULONG {
        match self {
            Change::Enable | Change::CancelDeletion => STATE_ENABLED,
            Change::Disable => STATE_DISABLED,
            Change::ScheduleDeletion => STATE_PENDING_DELETION,
            Change::DeleteMaterial => STATE_PENDING_IMPORT,
        }
    }
}

fn change(a: &Args, c: Change) -> Result<(), Error> {
    let key = a.key(c.name())?;
    let days = match c {
        Change::ScheduleDeletion => a.number("--days", 7..=30)?,
        _ => None,
    };
    let s = open(a.flag("--pin"))?;
    let t = resolve(&s, key)?;
    let before = Record::read(&s, t.handle)?;
    // Enabling and cancelling a deletion are one transition in the module (to Enabled);
    // the CLI keeps them apart so that `enable` never cancels a deletion by surprise.
    match (c, before.state) {
        (Change::CancelDeletion, Some(st)) if st != STATE_PENDING_DELETION => {
            return Err(refused(format!(
                "key {key} is {}: no deletion is scheduled",
                state_name(st)
            )))
        }
        (Change::Enable, Some(STATE_PENDING_DELETION)) => {
            return Err(refused(format!(
                "key {key} is scheduled for deletion: `kmsbridge key cancel-deletion {key}` cancels it and enables the key"
            )))
        }
        _ => {}
    }
    let mut template = vec![ulong(CKA_KMSBRIDGE_KEY_STATE, c.to())];
    if let Some(d) = days {
        template.push(ulong(CKA_KMSBRIDGE_PENDING_WINDOW_DAYS, d));
    }
    s.update_attributes(t.handle, &template).map_err(|e| {
        explain(
            e,
            Op::SetState {
                key,
                from: before.state,
                origin: before.origin,
                to: c.to(),
            },
        )
    })?;
    let h = current(&s, &before.id, t.handle)?;
    report(&s, key, c, before.state, h)
}

fn report(
    s: &Session,
    key: &str,
    c: Change,
    before: Option<CK_ULONG>,
    h: ObjectHandle,
) -> Result<(), Error> {
    let after = Record::read(s, h)?;
    let name = match after.alias.as_deref() {
        Some(a) => format!("{} ({a})", after.id_hex()),
        None => after.id_hex(),
    };
    match c {
        Change::ScheduleDeletion => {
            let when = match after.deletion_date.filter(|d| *d != 0) {
                Some(d) => format!("at {} ({})", iso(d), relative(d)),
                None => "when its window ends".into(),
            };
            println!(
                "key {name} is {}: it is destroyed {when}; until then `kmsbridge key cancel-deletion {key}` keeps it",
                after.state_name(),
            );
        }
        Change::DeleteMaterial => println!(
            "key {name}: its material is deleted and it is {}; `kmsbridge import key-material` with the same material restores it",
            after.state_name()
        ),
        _ if before == after.state => {
            println!("key {name} is {} (it already was)", after.state_name())
        }
        _ => println!("key {name} is {}", after.state_name()),
    }
    Ok(())
}

fn rotate(a: &Args) -> Result<(), Error> {
    let key = a.key("key rotate")?;
    let s = open(a.flag("--pin"))?;
    let t = resolve(&s, key)?;
    let r = Record::read(&s, t.handle)?;
    let h = s
        .generate_key(
            &mechanism(CKM_KMSBRIDGE_KEY_ROTATE)?,
            &[Attribute::Id(r.id.clone())],
        )
        .map_err(|e| {
            explain(
                e,
                Op::Rotate {
                    key,
                    origin: r.origin,
                    state: r.state,
                },
            )
        })?;
    let version = s
        .get_attributes(h, &[attr_type(CKA_KMSBRIDGE_KEY_VERSION)])?
        .into_iter()
        .find_map(|a| match a {
            Attribute::VendorDefined((AttributeType::VendorDefined(_), v)) => as_ulong(&v),
            _ => None,
        });
    match version {
        Some(v) => println!(
            "key {key} rotated: version {v} is primary and encrypts from now on; older versions still decrypt (id {}{VERSION_SEPARATOR}N)",
            r.id_hex()
        ),
        None => println!("key {key} rotated"),
    }
    Ok(())
}
