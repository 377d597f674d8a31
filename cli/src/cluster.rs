//! `kmsbridge cluster init` and `kmsbridge cluster status` (docs/CLUSTER.md): the
//! instance's HSM nodes through the module's PKCS#11 surface, like any client.

use crate::kms::args::{usage, Args};
use crate::kms::refusal::refused;
use crate::kms::vendor::*;
use crate::module::{load, Error};
use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::CK_ULONG;
use zeroize::Zeroizing;

pub fn run(args: &[String]) -> Result<(), Error> {
    if args.first().map(String::as_str) == Some("unlock-so") {
        return crate::unlock_so::run(args.get(1..).unwrap_or(&[]));
    }
    let json = args.iter().any(|a| a == "--json");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--json").cloned().collect();
    let a = Args::parse(
        rest.get(1..).unwrap_or(&[]),
        &["--slot", "--token", "--so-pin"],
    )?;
    match rest.first().map(String::as_str) {
        Some("init") if !json => init(&a),
        Some("status") => status(&a, json),
        Some("init") => Err(usage("cluster init takes no --json")),
        _ => Err(usage("cluster init | cluster status | cluster unlock-so")),
    }
}

/// The slot of `--slot N`, else `--token LABEL`, else KMSBRIDGE_TOKEN_LABEL, else the
/// first instance; with its token label.
pub fn pick_slot(p11: &Pkcs11, a: &Args) -> Result<(Slot, String), Error> {
    let slot_id = a.number("--slot", 0..=u64::from(u32::MAX))?;
    let label = a
        .flag("--token")
        .map(str::to_string)
        .or_else(|| std::env::var("KMSBRIDGE_TOKEN_LABEL").ok());
    for slot in p11.get_slots_with_token()? {
        let l = p11.get_token_info(slot)?.label().to_string();
        let by_id = slot_id.is_none_or(|id| slot.id() == id);
        let by_label = slot_id.is_some() || label.as_deref().is_none_or(|w| w == l);
        if by_id && by_label {
            return Ok((slot, l));
        }
    }
    Err(refused(match (slot_id, label) {
        (Some(id), _) => format!("the module serves no slot {id}: `kmsbridge slots` lists them"),
        (None, Some(l)) => {
            format!("no instance has the token label {l:?}: `kmsbridge slots` lists them")
        }
        (None, None) => "the module serves no instance: is KMSBRIDGE_CONF set?".into(),
    }))
}

/// The SO PIN: `--so-pin`, else KMSBRIDGE_SO_PIN; the copy read here is zeroized.
fn so_pin(a: &Args) -> Result<AuthPin, Error> {
    let pin = Zeroizing::new(match a.flag("--so-pin") {
        Some(p) => p.to_string(),
        None => std::env::var("KMSBRIDGE_SO_PIN")
            .map_err(|_| usage("give --so-pin PIN or set KMSBRIDGE_SO_PIN"))?,
    });
    let boxed: Box<str> = pin.as_str().into();
    Ok(AuthPin::new(boxed))
}

fn rv(e: &P11Error) -> Option<RvError> {
    match e {
        P11Error::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

fn init(a: &Args) -> Result<(), Error> {
    a.none("cluster init")?;
    let pin = so_pin(a)?;
    let p11 = load()?;
    let (slot, label) = pick_slot(&p11, a)?;
    let s = p11.open_rw_session(slot)?;
    s.login(UserType::So, Some(&pin))
        .map_err(|e| match rv(&e) {
            Some(RvError::PinIncorrect) => refused("SO PIN incorrect"),
            Some(RvError::PinLocked) => refused("the SO PIN is locked"),
            Some(RvError::UserAnotherAlreadyLoggedIn) | Some(RvError::UserAlreadyLoggedIn) => {
                refused("another user is logged in to the instance in this process")
            }
            _ => refused(format!("logging in as SO failed: {e}")),
        })?;
    let made = s.generate_key(&mechanism(CKM_KMSBRIDGE_CLUSTER_INIT)?, &[]);
    let _ = s.logout();
    made.map_err(|e| init_refusal(&label, e))?;
    let n = s.find_objects(&[node_class()])?.len();
    let plural = if n == 1 { "" } else { "s" };
    println!("cluster domain key ready on {n} node{plural}");
    Ok(())
}

/// What a refused cluster init means (docs/CLUSTER.md, return codes).
fn init_refusal(label: &str, e: P11Error) -> Error {
    let log = "the module's log (docs/CONFIG.md, [log]) names the node and cause";
    refused(match rv(&e) {
        Some(RvError::MechanismInvalid) => {
            format!("instance {label:?} is a software instance: it has no HSM nodes")
        }
        Some(RvError::FunctionFailed) => format!(
            "a node has no usable so_credential_file (its HSM SO PIN), which cluster init needs: {log}"
        ),
        Some(RvError::DeviceError) => format!(
            "the cluster domain key could not be made on every node (a node is down, refused its SO PIN, or already holds the key while others do not): {log}"
        ),
        _ => format!("cluster init failed: {e}"),
    })
}

/// One node as `status` shows it.
pub(crate) struct Node {
    pub(crate) index: CK_ULONG,
    pub(crate) name: String,
    pub(crate) state: CK_ULONG,
    pub(crate) load: CK_ULONG,
    pub(crate) served: CK_ULONG,
    pub(crate) lag: CK_ULONG,
    pub(crate) last_error: String,
}

pub(crate) fn read_node(s: &Session, h: ObjectHandle) -> Result<Node, Error> {
    let attrs = s.get_attributes(
        h,
        &[
            AttributeType::Label,
            attr_type(CKA_KMSBRIDGE_NODE_INDEX),
            attr_type(CKA_KMSBRIDGE_NODE_STATE),
            attr_type(CKA_KMSBRIDGE_NODE_LOAD),
            attr_type(CKA_KMSBRIDGE_NODE_SERVED),
            attr_type(CKA_KMSBRIDGE_NODE_LAG),
            attr_type(CKA_KMSBRIDGE_NODE_LAST_ERROR),
        ],
    )?;
    let mut n = Node {
        index: 0,
        name: String::new(),
        state: 0,
        load: 0,
        served: 0,
        lag: 0,
        last_error: String::new(),
    };
    for a in attrs {
        match a {
            Attribute::Label(v) => n.name = String::from_utf8_lossy(&v).into_owned(),
            Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) => {
                let u = as_ulong(&v).unwrap_or(0);
                match t {
                    CKA_KMSBRIDGE_NODE_INDEX => n.index = u,
                    CKA_KMSBRIDGE_NODE_STATE => n.state = u,
                    CKA_KMSBRIDGE_NODE_LOAD => n.load = u,
                    CKA_KMSBRIDGE_NODE_SERVED => n.served = u,
                    CKA_KMSBRIDGE_NODE_LAG => n.lag = u,
                    CKA_KMSBRIDGE_NODE_LAST_ERROR => {
                        n.last_error = String::from_utf8_lossy(&v).into_owned()
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(n)
}

fn status(a: &Args, json: bool) -> Result<(), Error> {
    a.none("cluster status")?;
    let p11 = load()?;
    let (slot, label) = pick_slot(&p11, a)?;
    // Node objects are public: no login.
    let s = p11.open_ro_session(slot)?;
    let mut nodes = s
        .find_objects(&[node_class()])?
        .into_iter()
        .map(|h| read_node(&s, h))
        .collect::<Result<Vec<_>, _>>()?;
    nodes.sort_by_key(|n| n.index);
    if json {
        println!("{}", to_json(&label, &nodes));
        return Ok(());
    }
    if nodes.is_empty() {
        println!("instance {label:?} has no HSM nodes (a software instance)");
        return Ok(());
    }
    let width = nodes.iter().map(|n| n.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<3} {:<width$}  {:<9} {:>6} {:>10} {:>6}  LAST ERROR",
        "#", "NODE", "STATE", "LOAD", "SERVED", "LAG"
    );
    for n in &nodes {
        println!(
            "{:<3} {:<width$}  {:<9} {:>6} {:>10} {:>6}  {}",
            n.index,
            n.name,
            node_state_name(n.state),
            n.load,
            n.served,
            n.lag,
            if n.last_error.is_empty() {
                "-"
            } else {
                &n.last_error
            }
        );
    }
    Ok(())
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_json(label: &str, nodes: &[Node]) -> String {
    let items: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{{\"index\":{},\"name\":{},\"state\":{},\"load\":{},\"served\":{},\"lag\":{},\"last_error\":{}}}",
                n.index,
                json_str(&n.name),
                json_str(&node_state_name(n.state)),
                n.load,
                n.served,
                n.lag,
                if n.last_error.is_empty() {
                    "null".to_string()
                } else {
                    json_str(&n.last_error)
                }
            )
        })
        .collect();
    format!(
        "{{\"instance\":{},\"nodes\":[{}]}}",
        json_str(label),
        items.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        let n = Node {
            index: 1,
            name: "hsm/node1".into(),
            state: NODE_DOWN,
            load: 0,
            served: 5,
            lag: 2,
            last_error: String::new(),
        };
        assert_eq!(
            to_json("hsm", &[n]),
            "{\"instance\":\"hsm\",\"nodes\":[{\"index\":1,\"name\":\"hsm/node1\",\"state\":\"down\",\"load\":0,\"served\":5,\"lag\":2,\"last_error\":null}]}"
        );
    }
}
