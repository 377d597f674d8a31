//! The configuration schema (docs/CONFIG.md) and its validation.
//!
//! `KMSBRIDGE_CONF` names a TOML file. Every error names the file, the field and
//! what is wrong, because C_Initialize can only answer a code.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) log: LogConfig,
    #[serde(default, rename = "instance")]
    pub(crate) instances: Vec<InstanceConfig>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogConfig {
    /// A tracing filter such as "info" or "kmsbridge=debug"; KMSBRIDGE_LOG overrides.
    pub(crate) level: Option<String>,
    /// Append logs to this file; default standard error.
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum InstanceType {
    Hardware,
    Software,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceConfig {
    /// Token label; at most 32 bytes.
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: InstanceType,
    /// Slot id; default the instance's position in the file (0, 1, …).
    pub(crate) slot: Option<u64>,
    /// Token serial; default derived from the name. At most 16 bytes.
    pub(crate) serial: Option<String>,
    /// Salted slow hash of the front user PIN (`pbkdf2-sha256$iter$salt$dk`).
    pub(crate) user_pin_hash: Option<String>,
    pub(crate) so_pin_hash: Option<String>,
    /// Software instances: the directory of the instance's durable store.
    pub(crate) store: Option<PathBuf>,
    /// Software instances: a PostgreSQL database holding the store instead
    /// (docs/POSTGRES_STORE.md).
    pub(crate) postgres: Option<PostgresConfig>,
    /// Software instances: token objects a process keeps in memory with their
    /// prepared keys (least recently used out); default 10,000.
    pub(crate) object_cache: Option<usize>,
    /// Milliseconds an operation waits for a pooled backend session.
    #[serde(default = "default_pool_wait_ms")]
    pub(crate) pool_wait_ms: u64,
    /// Seconds an import token stays valid (KMS: 24 hours, the most allowed).
    #[serde(default = "default_import_token_ttl_s")]
    pub(crate) import_token_ttl_s: u64,
    /// Hardware instances of several nodes: nodes a token object write must reach
    /// before it is reported done; default 2, or every node when there are fewer.
    pub(crate) quorum: Option<usize>,
    /// Hardware instances of several nodes: a backend call running longer than
    /// this marks its node down (and a single-part call moves to another node).
    pub(crate) call_timeout_ms: Option<u64>,
    #[serde(default, rename = "node")]
    pub(crate) nodes: Vec<NodeConfig>,
    /// The user PIN logs in as the default access point, with every right
    /// (docs/ACCESS.md); false leaves only client keys.
    #[serde(default = "default_true")]
    pub(crate) default_access_point: bool,
    /// Wrong secrets a credential (and a hardware instance's user PIN) takes before
    /// it locks.
    #[serde(default = "default_max_failed_logins")]
    pub(crate) max_failed_logins: u32,
    /// Access points defined here rather than in the instance (read-only there).
    #[serde(default, rename = "access_point")]
    pub(crate) access_points: Vec<AccessPointConfig>,
    /// Operations per second, host-wide (docs/QUOTAS.md); none: no limit, no counting.
    pub(crate) quota: Option<crate::quota::QuotaSection>,
    /// The instance's audit trail (docs/AUDIT.md).
    #[serde(default)]
    pub(crate) audit: AuditConfig,
    /// Offer the legacy mechanisms (single DES, 3DES); false: they are not listed
    /// and answer CKR_MECHANISM_INVALID (docs/FUNCTIONS.md).
    #[serde(default = "default_true")]
    pub(crate) legacy_mechanisms: bool,
}

/// `[instance.audit]`: where and how the instance's audit trail is written.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditConfig {
    #[serde(default = "default_true")]
    pub(crate) enabled: bool,
    /// Default: software `<store>/audit`; hardware
    /// `$XDG_STATE_HOME/kmsbridge/audit/<serial>` (`~/.local/state/...`).
    pub(crate) dir: Option<PathBuf>,
    /// A signed checkpoint after at most this many records.
    #[serde(default = "default_checkpoint_every")]
    pub(crate) checkpoint_every: u64,
    /// A signed checkpoint at the first record this many seconds after the last one.
    #[serde(default = "default_checkpoint_interval_s")]
    pub(crate) checkpoint_interval_s: u64,
    /// The current file is rotated into a segment past this size.
    #[serde(default = "default_max_segment_bytes")]
    pub(crate) max_segment_bytes: u64,
    /// `fsync` (each append is on disk before the call returns) or `buffered`.
    #[serde(default)]
    pub(crate) durability: AuditDurability,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuditDurability {
    #[default]
    Fsync,
    Buffered,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            dir: None,
            checkpoint_every: default_checkpoint_every(),
            checkpoint_interval_s: default_checkpoint_interval_s(),
            max_segment_bytes: default_max_segment_bytes(),
            durability: AuditDurability::default(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_max_failed_logins() -> u32 {
    crate::access::DEFAULT_MAX_FAILED_LOGINS
}

/// `[[instance.access_point]]`: an access point of the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessPointConfig {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    /// The policy, TOML `[[statement]]` tables in a string.
    #[serde(default)]
    pub(crate) policy: String,
    /// Credentials by hash (`kmsbridge aap credential hash`); hardware instances only.
    #[serde(default, rename = "credential")]
    pub(crate) credentials: Vec<ConfiguredCredential>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfiguredCredential {
    pub(crate) hash: String,
    #[serde(default)]
    pub(crate) not_before: u64,
    #[serde(default)]
    pub(crate) not_after: u64,
}

impl AccessPointConfig {
    pub(crate) fn record(&self) -> crate::access::ApRecord {
        crate::access::ApRecord {
            name: self.name.clone(),
            description: self.description.clone(),
            policy: self.policy.clone(),
            created: 0,
            credentials: self
                .credentials
                .iter()
                .map(|c| crate::access::CredRecord {
                    hash: c.hash.clone(),
                    not_before: c.not_before,
                    not_after: c.not_after,
                    created: 0,
                    slot: String::new(),
                })
                .collect(),
        }
    }
}

fn default_checkpoint_every() -> u64 {
    1000
}

fn default_checkpoint_interval_s() -> u64 {
    60
}

fn default_max_segment_bytes() -> u64 {
    64 << 20
}

fn default_import_token_ttl_s() -> u64 {
    86_400
}

fn default_pool_wait_ms() -> u64 {
    10_000
}

/// `[instance.postgres]`: the database of a software instance shared by many hosts.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostgresConfig {
    /// Host name or address; several, comma-separated, for a primary and standbys.
    pub(crate) host: String,
    #[serde(default = "default_pg_port")]
    pub(crate) port: u16,
    pub(crate) dbname: String,
    pub(crate) user: String,
    /// A file holding the password (mode 0600), never the password itself.
    pub(crate) password_file: PathBuf,
    #[serde(default = "default_pg_connect_timeout_ms")]
    pub(crate) connect_timeout_ms: u64,
}

fn default_pg_port() -> u16 {
    5432
}

fn default_pg_connect_timeout_ms() -> u64 {
    5000
}

impl PostgresConfig {
    pub(crate) fn settings(&self) -> kmsbridge_store::PgSettings {
        let mut s = kmsbridge_store::PgSettings::new(
            &self.host,
            &self.dbname,
            &self.user,
            &self.password_file,
        );
        s.port = self.port;
        s.connect_timeout = std::time::Duration::from_millis(self.connect_timeout_ms);
        s
    }
}

impl InstanceConfig {
    /// Where a software instance's store lives.
    pub(crate) fn store_location(&self) -> Option<kmsbridge_store::Location> {
        match (&self.postgres, &self.store) {
            (Some(pg), _) => Some(kmsbridge_store::Location::Postgres(pg.settings())),
            (None, Some(dir)) => Some(kmsbridge_store::Location::Dir(dir.clone())),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeConfig {
    pub(crate) library: PathBuf,
    pub(crate) token_label: Option<String>,
    pub(crate) token_serial: Option<String>,
    pub(crate) credential_file: PathBuf,
    /// The node's SO PIN, needed only for cluster provisioning.
    pub(crate) so_credential_file: Option<PathBuf>,
    #[serde(default = "default_pool_size")]
    pub(crate) pool_size: usize,
    /// One call at a time into this node's library (docs/CLUSTER.md).
    #[serde(default)]
    pub(crate) serial_calls: bool,
}

fn default_pool_size() -> usize {
    32
}

/// An `[instance.postgres]` table: the fields are present and the password file is
/// usable now (the error names the file and the fix).
fn check_postgres(
    file: &Path,
    f: &dyn Fn(&str) -> String,
    pg: &PostgresConfig,
) -> Result<(), String> {
    for (field, value) in [
        ("host", &pg.host),
        ("dbname", &pg.dbname),
        ("user", &pg.user),
    ] {
        if value.trim().is_empty() {
            return Err(bad(
                file,
                &f(&format!("postgres.{field}")),
                "must not be empty",
            ));
        }
    }
    if pg.port == 0 {
        return Err(bad(file, &f("postgres.port"), "must be 1 to 65535"));
    }
    if !(100..=600_000).contains(&pg.connect_timeout_ms) {
        return Err(bad(
            file,
            &f("postgres.connect_timeout_ms"),
            "must be 100 to 600000 milliseconds",
        ));
    }
    kmsbridge_store::read_password_file(&pg.password_file)
        .map(|_| ())
        .map_err(|why| bad(file, &f("postgres.password_file"), why))
}

fn bad(file: &Path, field: &str, what: impl std::fmt::Display) -> String {
    format!("{}: {field}: {what}", file.display())
}

impl Config {
    /// The configuration without KMSBRIDGE_CONF: one software instance whose store
    /// lives under the user's data directory, uninitialised until C_InitToken.
    pub(crate) fn embedded() -> Config {
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        Config {
            log: LogConfig::default(),
            instances: vec![InstanceConfig {
                name: "kmsbridge".into(),
                kind: InstanceType::Software,
                slot: None,
                serial: None,
                user_pin_hash: None,
                so_pin_hash: None,
                store: Some(data.join("kmsbridge")),
                postgres: None,
                object_cache: None,
                pool_wait_ms: default_pool_wait_ms(),
                import_token_ttl_s: default_import_token_ttl_s(),
                quorum: None,
                call_timeout_ms: None,
                nodes: Vec::new(),
                default_access_point: true,
                max_failed_logins: default_max_failed_logins(),
                access_points: Vec::new(),
                quota: None,
                audit: AuditConfig::default(),
                legacy_mechanisms: true,
            }],
        }
    }

    pub(crate) fn load(file: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(file).map_err(|e| bad(file, "(file)", e))?;
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            let span = e.span().map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                format!(" (line {line})")
            });
            bad(
                file,
                "(syntax)",
                format!("{}{}", e.message(), span.unwrap_or_default()),
            )
        })?;
        cfg.validate(file)?;
        Ok(cfg)
    }

    pub(crate) fn validate(&self, file: &Path) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        let mut slots = std::collections::HashSet::new();
        for (i, inst) in self.instances.iter().enumerate() {
            let f = |field: &str| format!("instance[{i}].{field}");
            if inst.name.is_empty() || inst.name.len() > 32 {
                return Err(bad(file, &f("name"), "must be 1 to 32 bytes"));
            }
            if !names.insert(inst.name.clone()) {
                return Err(bad(
                    file,
                    &f("name"),
                    format!("{:?} appears twice", inst.name),
                ));
            }
            if !slots.insert(inst.slot.unwrap_or(i as u64)) {
                return Err(bad(file, &f("slot"), "slot id used by another instance"));
            }
            if let Some(s) = &inst.serial {
                if s.is_empty() || s.len() > 16 {
                    return Err(bad(file, &f("serial"), "must be 1 to 16 bytes"));
                }
            }
            if inst.import_token_ttl_s == 0 || inst.import_token_ttl_s > 86_400 {
                return Err(bad(
                    file,
                    &f("import_token_ttl_s"),
                    "must be 1 to 86400 seconds (24 hours)",
                ));
            }
            for (field, hash) in [
                ("user_pin_hash", &inst.user_pin_hash),
                ("so_pin_hash", &inst.so_pin_hash),
            ] {
                if let Some(h) = hash {
                    crate::pin::PinHash::parse(h).map_err(|e| bad(file, &f(field), e))?;
                }
            }
            inst.audit.validate(file, &f)?;
            match inst.kind {
                InstanceType::Hardware => {
                    if inst.object_cache.is_some() {
                        return Err(bad(
                            file,
                            &f("object_cache"),
                            "object_cache is for software instances",
                        ));
                    }
                    if inst.nodes.is_empty() {
                        return Err(bad(
                            file,
                            &f("node"),
                            "a hardware instance needs at least one [[instance.node]]",
                        ));
                    }
                    if inst.so_pin_hash.is_none() {
                        return Err(bad(
                            file,
                            &f("so_pin_hash"),
                            "a hardware instance needs an SO PIN hash",
                        ));
                    }
                    let n = inst.nodes.len();
                    if let Some(q) = inst.quorum {
                        if q == 0 || q > n {
                            return Err(bad(
                                file,
                                &f("quorum"),
                                format!("must be 1 to the number of nodes ({n})"),
                            ));
                        }
                    }
                    if let Some(t) = inst.call_timeout_ms {
                        if !(100..=600_000).contains(&t) {
                            return Err(bad(
                                file,
                                &f("call_timeout_ms"),
                                "must be 100 to 600000 milliseconds",
                            ));
                        }
                    }
                }
                InstanceType::Software => {
                    match (&inst.store, &inst.postgres) {
                        (None, None) => {
                            return Err(bad(
                                file,
                                &f("store"),
                                "a software instance needs a store directory (or an [instance.postgres] table)",
                            ))
                        }
                        (Some(_), Some(_)) => {
                            return Err(bad(
                                file,
                                &f("postgres"),
                                "give either store (a directory) or postgres (a database), not both",
                            ))
                        }
                        (None, Some(pg)) => check_postgres(file, &f, pg)?,
                        (Some(_), None) => {}
                    }
                    if !inst.nodes.is_empty() {
                        return Err(bad(
                            file,
                            &f("node"),
                            "a software instance has no HSM nodes",
                        ));
                    }
                    if inst.quorum.is_some() || inst.call_timeout_ms.is_some() {
                        return Err(bad(
                            file,
                            &f("quorum"),
                            "quorum and call_timeout_ms are for hardware instances",
                        ));
                    }
                    if inst
                        .object_cache
                        .is_some_and(|n| !(1..=10_000_000).contains(&n))
                    {
                        return Err(bad(
                            file,
                            &f("object_cache"),
                            "must be 1 to 10000000 objects",
                        ));
                    }
                    if inst.user_pin_hash.is_some() || inst.so_pin_hash.is_some() {
                        return Err(bad(
                            file,
                            &f("user_pin_hash"),
                            "a software instance keeps its PINs in its store (C_InitToken, C_InitPIN)",
                        ));
                    }
                }
            }
            if !(1..=1000).contains(&inst.max_failed_logins) {
                return Err(bad(file, &f("max_failed_logins"), "must be 1 to 1000"));
            }
            let mut ap_names = std::collections::HashSet::new();
            for (k, ap) in inst.access_points.iter().enumerate() {
                let g = |field: &str| format!("instance[{i}].access_point[{k}].{field}");
                if !crate::access::valid_name(&ap.name) {
                    return Err(bad(file, &g("name"), "1 to 64 of A-Z a-z 0-9 . _ -"));
                }
                if ap.name == crate::access::DEFAULT_NAME {
                    return Err(bad(
                        file,
                        &g("name"),
                        "\"default\" is the user PIN's access point; choose another name",
                    ));
                }
                if !ap_names.insert(ap.name.clone()) {
                    return Err(bad(
                        file,
                        &g("name"),
                        format!("{:?} appears twice", ap.name),
                    ));
                }
                if !ap.policy.trim().is_empty() {
                    kmsbridge_access::Policy::from_toml(&ap.policy)
                        .map_err(|e| bad(file, &g("policy"), e))?;
                }
                for (c, cred) in ap.credentials.iter().enumerate() {
                    let h = format!("instance[{i}].access_point[{k}].credential[{c}].hash");
                    if inst.kind == InstanceType::Software {
                        return Err(bad(
                            file,
                            &h,
                            "a software instance keeps credentials in its store, where they can \
                             unlock it: add them with `kmsbridge aap credential add`",
                        ));
                    }
                    let rec = crate::access::CredRecord {
                        hash: cred.hash.clone(),
                        not_before: cred.not_before,
                        not_after: cred.not_after,
                        created: 0,
                        slot: String::new(),
                    };
                    if rec.stored().is_none() {
                        return Err(bad(
                            file,
                            &h,
                            "expected kb1-argon2id$<id>$<m>$<t>$<p>$<salt>$<hash> (kmsbridge aap credential hash)",
                        ));
                    }
                }
            }
            if let Some(q) = &inst.quota {
                q.validate()
                    .map_err(|(field, why)| bad(file, &f(&field), why))?;
            }
            for (k, n) in inst.nodes.iter().enumerate() {
                let g = |field: &str| format!("instance[{i}].node[{k}].{field}");
                if !n.library.is_file() {
                    return Err(bad(
                        file,
                        &g("library"),
                        format!("{} is not a file", n.library.display()),
                    ));
                }
                if n.token_label.is_none() && n.token_serial.is_none() {
                    return Err(bad(
                        file,
                        &g("token_label"),
                        "give token_label or token_serial",
                    ));
                }
                if !n.credential_file.is_file() {
                    return Err(bad(
                        file,
                        &g("credential_file"),
                        format!("{} is not a readable file", n.credential_file.display()),
                    ));
                }
                if n.pool_size == 0 || n.pool_size > 4096 {
                    return Err(bad(file, &g("pool_size"), "must be 1 to 4096"));
                }
            }
        }
        Ok(())
    }
}

impl AuditConfig {
    fn validate(&self, file: &Path, f: &dyn Fn(&str) -> String) -> Result<(), String> {
        if self.checkpoint_every == 0 || self.checkpoint_every > 1_000_000 {
            return Err(bad(
                file,
                &f("audit.checkpoint_every"),
                "must be 1 to 1000000 records",
            ));
        }
        if self.checkpoint_interval_s == 0 || self.checkpoint_interval_s > 86_400 {
            return Err(bad(
                file,
                &f("audit.checkpoint_interval_s"),
                "must be 1 to 86400 seconds",
            ));
        }
        if self.max_segment_bytes < 4096 {
            return Err(bad(
                file,
                &f("audit.max_segment_bytes"),
                "must be at least 4096 bytes",
            ));
        }
        if self.dir.as_ref().is_some_and(|d| !d.is_absolute()) {
            return Err(bad(
                file,
                &f("audit.dir"),
                "must be an absolute path (the trail must not move with the working directory)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hardware instance of `nodes` nodes with `extra` instance lines, validated.
    fn check(nodes: usize, extra: &str) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!(
            "kmsbridge-config-{}-{nodes}-{}",
            std::process::id(),
            extra.len()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = dir.join("f");
        std::fs::write(&file, "x").map_err(|e| e.to_string())?;
        let f = file.display();
        let hash = format!("pbkdf2-sha256$10000${}${}", "00".repeat(8), "00".repeat(32));
        let mut text = format!(
            "[[instance]]\nname = \"h\"\ntype = \"hardware\"\nso_pin_hash = \"{hash}\"\n{extra}\n"
        );
        for k in 0..nodes {
            text.push_str(&format!(
                "[[instance.node]]\nlibrary = \"{f}\"\ntoken_label = \"t{k}\"\ncredential_file = \"{f}\"\n"
            ));
        }
        let cfg: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
        cfg.validate(Path::new("test.toml"))?;
        Ok(cfg)
    }

    /// A software instance with `extra` instance lines, validated.
    fn check_soft(extra: &str) -> Result<Config, String> {
        let text = format!(
            "[[instance]]\nname = \"s\"\ntype = \"software\"\nstore = \"/tmp/s\"\n{extra}\n"
        );
        let cfg: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
        cfg.validate(Path::new("test.toml"))?;
        Ok(cfg)
    }

    #[test]
    fn object_cache_is_a_software_instances_bounded_count() {
        assert_eq!(
            check_soft("").expect("valid").instances[0].object_cache,
            None
        );
        let cfg = check_soft("object_cache = 250").expect("valid");
        assert_eq!(cfg.instances[0].object_cache, Some(250));
        for bad in ["object_cache = 0", "object_cache = 10000001"] {
            let e = check_soft(bad).expect_err(bad);
            assert!(e.contains("instance[0].object_cache"), "{bad}: {e}");
        }
        let e = check(1, "object_cache = 10").expect_err("hardware");
        assert!(e.contains("instance[0].object_cache"), "{e}");
    }

    #[test]
    fn quorum_and_call_timeout_per_hardware_instance() {
        let cfg = check(3, "quorum = 3\ncall_timeout_ms = 2500").expect("valid");
        assert_eq!(cfg.instances[0].quorum, Some(3));
        assert_eq!(cfg.instances[0].call_timeout_ms, Some(2500));
        let cfg = check(3, "").expect("valid");
        assert_eq!(cfg.instances[0].quorum, None);
        assert_eq!(cfg.instances[0].call_timeout_ms, None);
        for bad in [
            "quorum = 0",
            "quorum = 4",
            "call_timeout_ms = 0",
            "call_timeout_ms = 99",
        ] {
            let e = check(3, bad).expect_err(bad);
            let field = bad.split(' ').next().unwrap_or_default();
            assert!(e.contains(&format!("instance[0].{field}")), "{bad}: {e}");
        }
    }

    /// Legacy mechanisms (DES, 3DES) are offered unless an instance turns them off.
    #[test]
    fn legacy_mechanisms_default_on() {
        assert!(check(1, "").expect("valid").instances[0].legacy_mechanisms);
        let cfg = check(1, "legacy_mechanisms = false").expect("valid");
        assert!(!cfg.instances[0].legacy_mechanisms);
        assert!(
            check(1, "legacy_mechanisms = \"no\"").is_err(),
            "not a bool"
        );
    }

    #[test]
    fn audit_table_defaults_and_checks() {
        let cfg = check(1, "").expect("valid");
        let a = &cfg.instances[0].audit;
        assert!(a.enabled && a.dir.is_none() && a.checkpoint_every == 1000);
        assert_eq!(a.durability, AuditDurability::Fsync);
        let cfg = check(
            1,
            "audit = { dir = \"/var/audit\", checkpoint_every = 10, durability = \"buffered\" }",
        )
        .expect("valid");
        let a = &cfg.instances[0].audit;
        assert_eq!(a.dir.as_deref(), Some(Path::new("/var/audit")));
        assert_eq!(
            (a.checkpoint_every, a.durability),
            (10, AuditDurability::Buffered)
        );
        for (bad, field) in [
            ("audit = { checkpoint_every = 0 }", "audit.checkpoint_every"),
            ("audit = { dir = \"rel\" }", "audit.dir"),
            (
                "audit = { max_segment_bytes = 1 }",
                "audit.max_segment_bytes",
            ),
            (
                "audit = { checkpoint_interval_s = 0 }",
                "audit.checkpoint_interval_s",
            ),
        ] {
            let e = check(1, bad).expect_err(bad);
            assert!(e.contains(&format!("instance[0].{field}")), "{bad}: {e}");
        }
        let e = check(1, "audit = { enable = false }").expect_err("unknown field");
        assert!(e.contains("enable"), "{e}");
    }

    /// `[instance.postgres]`: chosen instead of `store`, never with it, and its
    /// password file checked at load with the file and the fix named.
    #[test]
    fn postgres_store_needs_a_closed_password_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("kmsbridge-config-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        let conf = |store: &str| {
            format!(
                "[[instance]]\nname = \"s\"\ntype = \"software\"\n{store}\n[instance.postgres]\n\
                 host = \"db1,db2\"\ndbname = \"kms\"\nuser = \"kb\"\npassword_file = {:?}\n",
                pw
            )
        };
        let check = |text: &str| -> Result<Config, String> {
            let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
            cfg.validate(Path::new("test.toml"))?;
            Ok(cfg)
        };
        let cfg = check(&conf("")).unwrap();
        let Some(kmsbridge_store::Location::Postgres(s)) = cfg.instances[0].store_location() else {
            panic!("not a PostgreSQL store");
        };
        assert_eq!(
            (s.host.as_str(), s.port, s.dbname.as_str()),
            ("db1,db2", 5432, "kms")
        );
        let both = check(&conf("store = \"/tmp/x\"")).unwrap_err();
        assert!(both.contains("instance[0].postgres"), "{both}");
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).unwrap();
        let open = check(&conf("")).unwrap_err();
        assert!(
            open.contains("postgres.password_file")
                && open.contains(&format!("chmod 600 {}", pw.display())),
            "{open}"
        );
        std::fs::remove_file(&pw).unwrap();
        let missing = check(&conf("")).unwrap_err();
        assert!(missing.contains(&pw.display().to_string()), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
