//! The quotas of the configured instances as `kmsbridge status` shows them: the
//! `[instance.quota]` sections of `KMSBRIDGE_CONF`, and the counters of the shared
//! bucket files the module's processes keep (docs/QUOTAS.md), mapped read-only.

use std::path::{Path, PathBuf};

use kmsbridge_quota::{BucketStats, QuotaView};

use crate::module::Error;

/// What the configuration says of one instance, as far as its quota goes.
pub struct ConfInstance {
    pub name: String,
    kind: String,
    serial: Option<String>,
    store: Option<PathBuf>,
    /// `user@host:port/dbname` of an `[instance.postgres]` table.
    postgres: Option<String>,
    /// (token serial or label, library) of each node.
    nodes: Vec<(String, String)>,
    /// An `[instance.quota]` section is present.
    pub has_quota: bool,
}

/// The instances of `KMSBRIDGE_CONF`; none without it (the embedded default has no quota).
pub fn configured() -> Result<Vec<ConfInstance>, Error> {
    let Some(path) = std::env::var_os("KMSBRIDGE_CONF").filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let path = PathBuf::from(path);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read KMSBRIDGE_CONF {}: {e}", path.display()))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let list = doc.get("instance").and_then(|v| v.as_array()).cloned();
    let s = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Ok(list
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_table())
        .map(|t| ConfInstance {
            name: s(t, "name").unwrap_or_default(),
            kind: s(t, "type").unwrap_or_default(),
            serial: s(t, "serial"),
            store: s(t, "store").map(PathBuf::from),
            postgres: t.get("postgres").and_then(|v| v.as_table()).map(|p| {
                let port = p.get("port").and_then(|v| v.as_integer()).unwrap_or(5432);
                format!(
                    "{}@{}:{port}/{}",
                    s(p, "user").unwrap_or_default(),
                    s(p, "host").unwrap_or_default(),
                    s(p, "dbname").unwrap_or_default()
                )
            }),
            nodes: t
                .get("node")
                .and_then(|n| n.as_array())
                .map(|nodes| {
                    nodes
                        .iter()
                        .filter_map(|n| n.as_table())
                        .map(|n| {
                            let token = s(n, "token_serial").or_else(|| s(n, "token_label"));
                            (
                                token.unwrap_or_default(),
                                s(n, "library").unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            has_quota: t.contains_key("quota"),
        })
        .collect())
}

impl ConfInstance {
    /// The identity of the instance's bucket files; the same string as the module's
    /// `identity()` in provider/src/quota/mod.rs (the CLI tests check they meet).
    pub fn identity(&self, token_serial: &str) -> String {
        let serial = self.serial.as_deref().unwrap_or(token_serial);
        if self.kind == "hardware" {
            let nodes: Vec<String> = self.nodes.iter().map(|(t, l)| format!("{t}@{l}")).collect();
            return format!("hardware {serial} {}", nodes.join(","));
        }
        if let Some(pg) = &self.postgres {
            return format!("software {serial} postgresql {pg}");
        }
        let store = self.store.as_deref().unwrap_or(Path::new(""));
        let store = std::path::absolute(store).unwrap_or_else(|_| store.to_path_buf());
        format!("software {serial} {}", store.display())
    }
}

/// `KMSBRIDGE_QUOTA_DIR`, else the module's default directory of bucket files.
fn dir() -> Result<PathBuf, Error> {
    match std::env::var_os("KMSBRIDGE_QUOTA_DIR").filter(|v| !v.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(kmsbridge_quota::default_dir()?),
    }
}

/// One bucket file of an instance: its buckets' limits and counters.
pub struct File {
    pub path: PathBuf,
    pub buckets: Vec<BucketStats>,
}

/// Every bucket file of `identity` (one per set of limits in use; none until a
/// process using the instance has started).
pub fn files(identity: &str) -> Result<Vec<File>, Error> {
    let dir = dir()?;
    let mut out = Vec::new();
    for path in QuotaView::list(&dir, identity)? {
        let view = QuotaView::open(&path)?;
        out.push(File {
            buckets: view.stats(),
            path,
        });
    }
    Ok(out)
}

/// One bucket as a table row (see `HEADER`).
pub fn row(b: &BucketStats) -> String {
    let scope = match &b.access_point {
        None => "instance".to_string(),
        Some(ap) => format!("ap:{ap}"),
    };
    let (limit, burst, wait) = match b.per_second {
        Some(r) => (
            r.to_string(),
            b.burst.to_string(),
            format!("{}ms", b.max_wait.as_millis()),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    format!(
        "{scope:<16} {:<10} {limit:>9} {burst:>9} {wait:>7} {:>9} {:>12} {:>10} {:>10}",
        b.class.name(),
        b.last_second,
        b.admitted,
        b.waited,
        b.refused
    )
}

pub const HEADER: &str = "SCOPE            CLASS      LIMIT/S     BURST    WAIT    RATE/S     ADMITTED     WAITED    REFUSED";

/// One bucket as JSON.
pub fn json(b: &BucketStats) -> serde_json::Value {
    serde_json::json!({
        "access_point": b.access_point,
        "class": b.class.name(),
        "per_second": b.per_second,
        "burst": b.per_second.map(|_| b.burst),
        "max_wait_ms": b.per_second.map(|_| b.max_wait.as_millis() as u64),
        "rate_last_second": b.last_second,
        "admitted_this_second": b.this_second,
        "admitted": b.admitted,
        "waited": b.waited,
        "waited_ms_total": b.waited_total.as_millis() as u64,
        "refused": b.refused,
    })
}
