//! `kmsbridge status [--json]`: per instance its slot, type, token state, HSM nodes,
//! and its quota (limits, current rate, counts) from the shared bucket files. No login.

use cryptoki::context::Pkcs11;
use cryptoki::slot::{Slot, TokenInfo};

use crate::cluster::{read_node, Node};
use crate::kms::args::usage;
use crate::kms::vendor::{node_class, node_state_name};
use crate::module::{load, Error};
use crate::quota::{self, ConfInstance};

pub fn run(args: &[String]) -> Result<(), Error> {
    let json = match args {
        [] => false,
        [a] if a == "--json" => true,
        _ => return Err(usage("status [--json]")),
    };
    let p11 = load()?;
    let conf = quota::configured()?;
    let mut all = Vec::new();
    for slot in p11.get_all_slots()? {
        all.push(Status::read(&p11, slot, &conf)?);
    }
    if json {
        let v: Vec<serde_json::Value> = all.iter().map(Status::json).collect();
        println!("{}", serde_json::json!({ "instances": v }));
    } else {
        for s in &all {
            s.print();
        }
    }
    Ok(())
}

enum QuotaState {
    /// No `[instance.quota]` section: nothing limited or counted.
    None,
    /// Configured; the bucket files found (none until a process used the instance).
    Files(Vec<quota::File>),
}

struct Status {
    slot: u64,
    label: String,
    kind: String,
    serial: String,
    info: TokenInfo,
    nodes: Vec<Node>,
    quota: QuotaState,
}

impl Status {
    fn read(p11: &Pkcs11, slot: Slot, conf: &[ConfInstance]) -> Result<Status, Error> {
        let info = p11.get_token_info(slot)?;
        let label = info.label().to_string();
        let kind = info.model().to_string();
        let mut nodes = Vec::new();
        if kind == "hardware" {
            // Node objects are public: no login.
            let s = p11.open_ro_session(slot)?;
            for h in s.find_objects(&[node_class()])? {
                nodes.push(read_node(&s, h)?);
            }
            nodes.sort_by_key(|n| n.index);
        }
        let quota = match conf.iter().find(|c| c.name == label) {
            Some(c) if c.has_quota => {
                QuotaState::Files(quota::files(&c.identity(info.serial_number()))?)
            }
            _ => QuotaState::None,
        };
        Ok(Status {
            slot: slot.id(),
            serial: info.serial_number().to_string(),
            label,
            kind,
            info,
            nodes,
            quota,
        })
    }

    /// The token's state words: initialised, and the user and SO PIN flags.
    fn token_state(&self) -> Vec<&'static str> {
        let t = &self.info;
        let flags = [
            (t.token_initialized(), "initialised"),
            (!t.token_initialized(), "not initialised"),
            (t.user_pin_initialized(), "user PIN set"),
            (!t.user_pin_initialized(), "no user PIN"),
            (t.user_pin_count_low(), "user PIN count low"),
            (t.user_pin_final_try(), "user PIN final try"),
            (t.user_pin_locked(), "user PIN locked"),
            (t.user_pin_to_be_changed(), "user PIN to be changed"),
            (t.so_pin_count_low(), "SO PIN count low"),
            (t.so_pin_final_try(), "SO PIN final try"),
            (t.so_pin_locked(), "SO PIN locked"),
        ];
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, w)| *w)
            .collect()
    }

    fn print(&self) {
        println!(
            "slot {}  {}  {}  serial {}",
            self.slot, self.label, self.kind, self.serial
        );
        println!("  token:  {}", self.token_state().join(", "));
        if self.kind == "hardware" {
            let nodes: Vec<String> = self
                .nodes
                .iter()
                .map(|n| format!("{} {}", n.name, node_state_name(n.state)))
                .collect();
            println!("  nodes:  {}", nodes.join(", "));
        }
        match &self.quota {
            QuotaState::None => println!("  quota:  none configured (no limits, not counted)"),
            QuotaState::Files(files) if files.is_empty() => {
                println!("  quota:  configured; no process has used the instance yet")
            }
            QuotaState::Files(files) => {
                if files.len() > 1 {
                    println!(
                        "  quota:  {} bucket files: processes with different limits (or an older configuration)",
                        files.len()
                    );
                }
                for f in files {
                    println!("  quota:  {}", f.path.display());
                    println!("    {}", quota::HEADER);
                    for b in &f.buckets {
                        println!("    {}", quota::row(b));
                    }
                }
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        let t = &self.info;
        let quota = match &self.quota {
            QuotaState::None => serde_json::Value::Null,
            QuotaState::Files(files) => serde_json::json!({
                "files": files.iter().map(|f| serde_json::json!({
                    "path": f.path.display().to_string(),
                    "buckets": f.buckets.iter().map(quota::json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
        };
        serde_json::json!({
            "slot": self.slot,
            "label": self.label,
            "type": self.kind,
            "serial": self.serial,
            "token": {
                "initialized": t.token_initialized(),
                "user_pin_initialized": t.user_pin_initialized(),
                "user_pin_count_low": t.user_pin_count_low(),
                "user_pin_final_try": t.user_pin_final_try(),
                "user_pin_locked": t.user_pin_locked(),
                "user_pin_to_be_changed": t.user_pin_to_be_changed(),
                "so_pin_count_low": t.so_pin_count_low(),
                "so_pin_final_try": t.so_pin_final_try(),
                "so_pin_locked": t.so_pin_locked(),
            },
            "nodes": self.nodes.iter().map(|n| serde_json::json!({
                "index": n.index,
                "name": n.name,
                "state": node_state_name(n.state),
                "load": n.load,
                "served": n.served,
                "lag": n.lag,
                "last_error": (!n.last_error.is_empty()).then_some(&n.last_error),
            })).collect::<Vec<_>>(),
            "quota": quota,
        })
    }
}
