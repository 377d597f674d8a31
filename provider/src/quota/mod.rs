//! Host-wide operation quotas of an instance (docs/QUOTAS.md): the `[instance.quota]`
//! section, the instance's handle on its shared buckets (kmsbridge-quota), and
//! [`Instance::admit`], called before every key operation starts.
//!
//! A refused operation answers `CKR_FUNCTION_FAILED` (the one code every function may
//! return, described by the specification as "the same call again may succeed") and
//! sets the session's `ulDeviceError` to [`KMSBRIDGE_DEVICE_ERROR_QUOTA`], so an
//! application can tell a quota refusal from other failures.

mod audit;
mod class;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub(crate) use class::{class_of, Class};
use cryptoki_sys::{CKR_FUNCTION_FAILED, CK_MECHANISM_TYPE, CK_SESSION_HANDLE};
use kmsbridge_quota::{ConfigError, Limits, Quota, QuotaConfig, Rate, Scope};

use crate::config::{InstanceConfig, InstanceType};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::provider::Provider;
use crate::session::SessionSlot;
use crate::vendor::KMSBRIDGE_DEVICE_ERROR_QUOTA;

/// The environment variable naming the directory of the shared bucket files (default
/// `/dev/shm`); the module and `kmsbridge status` must agree on it.
pub(crate) const QUOTA_DIR_VAR: &str = "KMSBRIDGE_QUOTA_DIR";

/// `[instance.quota]`: the instance's limits per class, and per access point.
///
/// ```toml
/// [instance.quota.symmetric]
/// per_second = 2000
/// [instance.quota.asymmetric]
/// per_second = 200
/// max_wait_ms = 0
/// [instance.quota.access_points.payments.symmetric]
/// per_second = 500
/// ```
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuotaSection {
    symmetric: Option<Rate>,
    asymmetric: Option<Rate>,
    #[serde(default)]
    access_points: BTreeMap<String, Limits>,
}

impl QuotaSection {
    fn to_config(&self) -> QuotaConfig {
        QuotaConfig {
            instance: Limits {
                symmetric: self.symmetric.clone(),
                asymmetric: self.asymmetric.clone(),
            },
            access_points: self.access_points.clone(),
        }
    }

    /// Checks every limit: the bad field under `quota.` and what is wrong.
    pub(crate) fn validate(&self) -> std::result::Result<(), (String, String)> {
        match self.to_config().validate() {
            Ok(()) => Ok(()),
            Err(ConfigError::Field { field, why }) => {
                let field = field.strip_prefix("instance.").unwrap_or(&field);
                Err((format!("quota.{field}"), why))
            }
            Err(ConfigError::Toml(why)) => Err(("quota".into(), why)),
        }
    }
}

/// Who the shared buckets belong to: the same for every process using the instance
/// (its serial, and its store or its HSM tokens), different for another instance that
/// happens to share a name.
pub(crate) fn identity(cfg: &InstanceConfig, serial: &str) -> String {
    match cfg.kind {
        InstanceType::Software => {
            if let Some(pg) = &cfg.postgres {
                return format!("software {serial} postgresql {}", pg.settings().describe());
            }
            let store = cfg.store.as_deref().unwrap_or(Path::new(""));
            let store = std::path::absolute(store).unwrap_or_else(|_| store.to_path_buf());
            format!("software {serial} {}", store.display())
        }
        InstanceType::Hardware => {
            let nodes: Vec<String> = cfg
                .nodes
                .iter()
                .map(|n| {
                    let token = n.token_serial.as_deref().or(n.token_label.as_deref());
                    format!("{}@{}", token.unwrap_or(""), n.library.display())
                })
                .collect();
            format!("hardware {serial} {}", nodes.join(","))
        }
    }
}

/// The directory of the bucket files: `KMSBRIDGE_QUOTA_DIR`, else the quota crate's
/// default (`/dev/shm`, ...).
pub(crate) fn dir() -> std::result::Result<PathBuf, kmsbridge_quota::QuotaError> {
    match std::env::var_os(QUOTA_DIR_VAR).filter(|v| !v.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => kmsbridge_quota::default_dir(),
    }
}

/// The reason a quota refusal carries (and the log shows).
const REFUSED: &str = "refused by a quota: over the operations-per-second limit (retry later)";

/// An instance's open buckets.
pub(crate) struct InstanceQuota {
    quota: Quota,
    /// When a refusal was last logged at `warn` (ms since `opened`), and the refusals
    /// since: a flood of refusals is one `warn` line a second (each is at `debug`).
    last_warn_ms: AtomicU64,
    unlogged: AtomicU64,
    opened: std::time::Instant,
    /// When this process last wrote the rates into the audit trail (ms since `opened`).
    pub(super) last_rates_ms: AtomicU64,
}

impl InstanceQuota {
    /// Opens (or creates) the instance's buckets; `None` without a quota section.
    pub(crate) fn open(cfg: &InstanceConfig, serial: &str) -> Result<Option<InstanceQuota>> {
        let Some(section) = &cfg.quota else {
            return Ok(None);
        };
        let fail = |e: kmsbridge_quota::QuotaError| {
            Error::Config(format!("instance {}: quota: {e}", cfg.name))
        };
        let quota = Quota::open_in(
            &dir().map_err(fail)?,
            &identity(cfg, serial),
            &section.to_config(),
        )
        .map_err(fail)?;
        if let Some(why) = quota.recreated() {
            tracing::warn!(
                instance = %cfg.name,
                file = %quota.path().display(),
                "quota: replaced a corrupt shared bucket file ({why}); counters restart at zero"
            );
        }
        Ok(Some(InstanceQuota {
            quota,
            last_warn_ms: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            opened: std::time::Instant::now(),
            last_rates_ms: AtomicU64::new(0),
        }))
    }

    /// Log a refusal; at most once a second, `Some(refusals)` since the last time, for
    /// the audit trail.
    fn log_refusal(
        &self,
        instance: &str,
        ap: Option<&str>,
        r: &kmsbridge_quota::Refused,
    ) -> Option<u64> {
        let scope = match r.scope {
            Scope::Instance => "instance",
            Scope::AccessPoint => "access point",
        };
        let ap = ap.unwrap_or("-");
        let retry_after_ms = r.retry_after.as_secs_f64() * 1e3;
        tracing::debug!(
            instance,
            class = r.class.name(),
            access_point = ap,
            scope,
            retry_after_ms,
            "quota: operation refused"
        );
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_warn_ms.load(Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= 1000;
        if due
            && self
                .last_warn_ms
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
        {
            let more = self.unlogged.swap(0, Relaxed);
            tracing::warn!(
                instance,
                class = r.class.name(),
                access_point = ap,
                scope,
                retry_after_ms,
                refused_since_last_line = more,
                "quota: operation refused, over the {scope}'s {} limit",
                r.class.name()
            );
            Some(more + 1)
        } else {
            self.unlogged.fetch_add(1, Relaxed);
            None
        }
    }

    pub(super) fn ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl Instance {
    /// Admits one operation of `class` for the access point logged in (the default
    /// access point has the instance's limits only), waiting for its turn up to the
    /// configured bound, or refuses it with `CKR_FUNCTION_FAILED`. Without a quota
    /// section: nothing, at no cost.
    pub(crate) fn admit(&self, class: Class) -> Result<()> {
        let Some(q) = &self.quota else {
            return Ok(());
        };
        let name = self.access.principal_name();
        let ap = name
            .as_deref()
            .filter(|n| *n != crate::access::DEFAULT_NAME);
        match q.quota.acquire(class, ap.unwrap_or("")) {
            Ok(_) => {
                audit::rates_if_due(self, q);
                Ok(())
            }
            Err(refused) => {
                if let Some(n) = q.log_refusal(&self.name, ap, &refused) {
                    audit::refusals(self, &refused, n);
                }
                Err(Error::Rule {
                    rv: CKR_FUNCTION_FAILED,
                    why: REFUSED,
                })
            }
        }
    }

    /// [`Instance::admit`] for an operation with mechanism `m`; mechanisms of no class
    /// (digests, kmsbridge's own) are not counted.
    pub(crate) fn admit_mech(&self, m: CK_MECHANISM_TYPE) -> Result<()> {
        match class_of(m) {
            Some(class) if self.quota.is_some() => self.admit(class),
            _ => Ok(()),
        }
    }
}

impl Provider {
    /// [`Instance::admit_mech`] for an operation of session `h`: a refusal sets the
    /// session's `ulDeviceError` to [`KMSBRIDGE_DEVICE_ERROR_QUOTA`], the next admitted
    /// operation clears it.
    pub(crate) fn admit_for(
        &self,
        h: CK_SESSION_HANDLE,
        inst: &Instance,
        m: CK_MECHANISM_TYPE,
    ) -> Result<()> {
        if inst.quota.is_none() {
            return Ok(());
        }
        self.sessions_read(h, |s| admit_in(s, inst, m))
            .unwrap_or_else(|| inst.admit_mech(m))
    }
}

/// [`Provider::admit_for`] when the caller holds the session already (C_*Init).
pub(crate) fn admit_in(s: &SessionSlot, inst: &Instance, m: CK_MECHANISM_TYPE) -> Result<()> {
    if inst.quota.is_none() {
        return Ok(());
    }
    let r = inst.admit_mech(m);
    let code = if r.is_err() {
        KMSBRIDGE_DEVICE_ERROR_QUOTA
    } else {
        0
    };
    if s.device_error.load(Relaxed) != code {
        s.device_error.store(code, Relaxed);
    }
    r
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn load(quota: &str) -> Result<Config, String> {
        let text =
            format!("[[instance]]\nname = \"s\"\ntype = \"software\"\nstore = \"/tmp/s\"\n{quota}");
        let cfg: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
        cfg.validate(Path::new("kms.toml"))?;
        Ok(cfg)
    }

    #[test]
    fn section_maps_onto_the_quota_config() {
        let cfg = load(
            "[instance.quota.symmetric]\nper_second = 2000\nmax_wait_ms = 0\n\
             [instance.quota.access_points.pay.asymmetric]\nper_second = 5\n",
        )
        .unwrap();
        let q = cfg.instances[0].quota.as_ref().unwrap().to_config();
        let sym = q.instance.symmetric.as_ref().unwrap();
        assert_eq!(
            (sym.per_second, sym.max_wait_ms, sym.burst()),
            (2000, 0, 2000)
        );
        assert!(q.instance.asymmetric.is_none());
        assert_eq!(
            q.access_points["pay"]
                .asymmetric
                .as_ref()
                .unwrap()
                .per_second,
            5
        );
        assert!(load("").unwrap().instances[0].quota.is_none());
        assert!(load("[instance.quota]\n").unwrap().instances[0]
            .quota
            .is_some());
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let e = load("[instance.quota.symmetric]\nper_second = 0\n").unwrap_err();
        assert!(
            e.starts_with("kms.toml: instance[0].quota.symmetric.per_second: 0 is out of range"),
            "{e}"
        );
        let e = load("[instance.quota.access_points.p.asymmetric]\nper_second = 9\nburst = 0\n")
            .unwrap_err();
        assert!(
            e.contains("instance[0].quota.access_points.p.asymmetric.burst"),
            "{e}"
        );
        let e = load("[instance.quota.symetric]\nper_second = 1\n").unwrap_err();
        assert!(e.contains("symetric"), "{e}");
        let e = load("[instance.quota.instance.symmetric]\nper_second = 1\n").unwrap_err();
        assert!(e.contains("instance"), "{e}");
    }

    #[test]
    fn identity_is_the_serial_and_the_store() {
        let cfg = load("[instance.quota]\n").unwrap();
        let id = super::identity(&cfg.instances[0], "0123");
        assert_eq!(id, "software 0123 /tmp/s");
    }
}
