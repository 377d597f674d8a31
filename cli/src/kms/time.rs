//! Unix seconds as UTC ISO-8601, without a date crate for one conversion.

/// `2025-03-01T12:00:00Z`.
pub fn iso(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// "in 3 d 4 h" / "2 h ago": how far a date is from now, for people.
pub fn relative(unix: u64) -> String {
    let now = now();
    let (delta, future) = if unix >= now {
        (unix - now, true)
    } else {
        (now - unix, false)
    };
    if delta == 0 {
        return "now".into();
    }
    let text = if delta >= 86_400 {
        format!("{} d {} h", delta / 86_400, delta % 86_400 / 3600)
    } else if delta >= 3600 {
        format!("{} h {} min", delta / 3600, delta % 3600 / 60)
    } else if delta >= 60 {
        format!("{} min", delta / 60)
    } else {
        format!("{delta} s")
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}
