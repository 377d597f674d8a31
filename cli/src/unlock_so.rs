//! `kmsbridge cluster unlock-so [--instance NAME]`: a hardware instance's front SO PIN,
//! locked after too many wrong attempts, is unlocked by whoever holds the HSM nodes'
//! own credentials (the `credential_file` of each `[[instance.node]]`): the wrong-PIN
//! markers the module keeps on the nodes are removed there. No front login is needed —
//! the front SO is the one locked out.

use std::path::PathBuf;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

use crate::module::Error;

/// CKA_APPLICATION and label of the SO PIN's markers (provider/src/access/lockout.rs).
const LOCKOUT_APPLICATION: &[u8] = b"kmsbridge.lockout";
const SO_PIN: &[u8] = b"pin.so";

struct Node {
    library: PathBuf,
    token_label: Option<String>,
    token_serial: Option<String>,
    credential_file: PathBuf,
}

fn nodes_of(instance: Option<&str>) -> Result<(String, Vec<Node>), Error> {
    let path = std::env::var_os("KMSBRIDGE_CONF")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or("KMSBRIDGE_CONF is not set: it names the configuration of the hardware instance")?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let s = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let instances = doc
        .get("instance")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let hardware: Vec<&toml::Table> = instances
        .iter()
        .filter_map(|v| v.as_table())
        .filter(|t| s(t, "type").as_deref() == Some("hardware"))
        .filter(|t| instance.is_none_or(|n| s(t, "name").as_deref() == Some(n)))
        .collect();
    let [inst] = hardware.as_slice() else {
        return Err(format!(
            "{}: {} hardware instance(s) match; name one with --instance NAME",
            path.display(),
            hardware.len()
        )
        .into());
    };
    let nodes = inst
        .get("node")
        .and_then(|n| n.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|n| n.as_table())
                .map(|n| Node {
                    library: s(n, "library").unwrap_or_default().into(),
                    token_label: s(n, "token_label"),
                    token_serial: s(n, "token_serial"),
                    credential_file: s(n, "credential_file").unwrap_or_default().into(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((s(inst, "name").unwrap_or_default(), nodes))
}

/// Remove the SO PIN's markers on one node; how many there were.
fn clear_node(n: &Node) -> Result<usize, Error> {
    let pin = std::fs::read_to_string(&n.credential_file)
        .map_err(|e| format!("cannot read {}: {e}", n.credential_file.display()))?;
    let p11 =
        Pkcs11::new(&n.library).map_err(|e| format!("cannot load {}: {e}", n.library.display()))?;
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let mut found = None;
    for slot in p11.get_slots_with_token()? {
        let info = p11.get_token_info(slot)?;
        let by_label = n.token_label.as_deref().is_none_or(|l| info.label() == l);
        let by_serial = n
            .token_serial
            .as_deref()
            .is_none_or(|s| info.serial_number() == s);
        if by_label && by_serial {
            found = Some(slot);
            break;
        }
    }
    let slot =
        found.ok_or_else(|| format!("{}: no token matches the node", n.library.display()))?;
    let s = p11.open_rw_session(slot)?;
    s.login(
        UserType::User,
        Some(&AuthPin::new(
            pin.trim_end_matches(['\n', '\r']).to_string().into(),
        )),
    )?;
    let markers = s.find_objects(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Application(LOCKOUT_APPLICATION.to_vec()),
        Attribute::Label(SO_PIN.to_vec()),
    ])?;
    for m in &markers {
        s.destroy_object(*m)?;
    }
    drop(s);
    p11.finalize()?;
    Ok(markers.len())
}

pub fn run(args: &[String]) -> Result<(), Error> {
    let instance = match args {
        [] => None,
        [flag, name] if flag == "--instance" => Some(name.as_str()),
        _ => {
            return Err(crate::kms::args::usage(
                "cluster unlock-so [--instance NAME]",
            ))
        }
    };
    let (name, nodes) = nodes_of(instance)?;
    if nodes.is_empty() {
        return Err(format!("instance {name} has no [[instance.node]]").into());
    }
    let mut total = 0;
    for (k, n) in nodes.iter().enumerate() {
        match clear_node(n) {
            Ok(c) => {
                println!("node {k}: {c} wrong-PIN marker(s) removed");
                total += c;
            }
            // A node that is down keeps its markers; the others are enough while it
            // is away, and it is cleared when this runs again.
            Err(e) => println!("node {k}: not reached ({e}); run again once it is back"),
        }
    }
    println!("instance {name}: the SO PIN is unlocked ({total} wrong attempts forgotten)");
    Ok(())
}
