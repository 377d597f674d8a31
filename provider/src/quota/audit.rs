//! Quotas in the audit trail (docs/QUOTAS.md): refusals as `denied` records, at most
//! one a second per process with the count since the last, and the host-wide rates of
//! every bucket as `admin` records `quota-rates`, at most once a minute per process.

use std::sync::atomic::Ordering::Relaxed;

use kmsbridge_quota::{Refused, Scope};

use super::InstanceQuota;
use crate::instance::Instance;

/// How often a process writes the rates.
const RATES_EVERY_MS: u64 = 60_000;

pub(super) fn refusals(inst: &Instance, r: &Refused, count: u64) {
    let scope = match r.scope {
        Scope::Instance => "instance",
        Scope::AccessPoint => "access-point",
    };
    let reason = format!(
        "quota: {count} operation(s) refused over the {scope}'s {} limit; retry after {} ms",
        r.class.name(),
        r.retry_after.as_millis()
    );
    inst.audit
        .denied(None, r.class.name(), &format!("quota/{scope}"), &reason);
}

pub(super) fn rates_if_due(inst: &Instance, q: &InstanceQuota) {
    let now = q.ms().max(1);
    let last = q.last_rates_ms.load(Relaxed);
    if last != 0 && now.saturating_sub(last) < RATES_EVERY_MS {
        return;
    }
    if q.last_rates_ms
        .compare_exchange(last, now, Relaxed, Relaxed)
        .is_err()
    {
        return;
    }
    for b in q.quota.stats() {
        let scope = match &b.access_point {
            None => "instance".to_string(),
            Some(ap) => format!("access-point/{ap}"),
        };
        let limit = b
            .per_second
            .map_or_else(|| "no limit".to_string(), |r| format!("limit {r}/s"));
        let reason = format!(
            "{}/s in the last second ({limit}); since start {} admitted, {} waited, {} refused",
            b.last_second, b.admitted, b.waited, b.refused
        );
        inst.audit.admin(
            None,
            "quota-rates",
            &format!("quota/{scope}/{}", b.class.name()),
            true,
            &reason,
        );
    }
}
