//! The control file: `key = value` lines (a TOML subset: `#` comments, quoted or
//! bare strings, `true`/`false`, decimal or `0x` integers, decimals). It is looked
//! at again at most every 50 ms, on calls, and re-read when its modification time,
//! size or inode changed. A file that does not exist means "no faults"; a file that
//! does not parse leaves the previous settings in force (and says so on stderr).

use cryptoki_sys::{CKR_DEVICE_ERROR, CK_RV};
use parking_lot::Mutex;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// How often, at most, the file's metadata is looked at.
pub const CHECK_EVERY_MS: u64 = 50;

/// One parsed control file.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The module to front (read once, when the shim loads).
    pub target: Option<String>,
    /// Added to every crypto call, while it holds one of the `capacity` engines.
    pub latency_ms: u64,
    /// The most crypto calls that run at once; 0 = no limit.
    pub capacity: usize,
    /// Probability (0..=1) that a crypto call answers `error_rv` instead.
    pub error_rate: f64,
    /// The code injected errors answer.
    pub error_rv: CK_RV,
    /// Every call (but C_Finalize) blocks while this is set.
    pub hang: bool,
    /// Every call (but C_Finalize) answers CKR_DEVICE_REMOVED while this is set.
    pub down: bool,
    /// Show only the slot whose token has this label.
    pub token_label: Option<String>,
    /// The target is shared with other shims in this process: its
    /// CKR_CRYPTOKI_ALREADY_INITIALIZED counts as success and C_Finalize leaves it
    /// initialised (closing this shim's sessions instead).
    pub shared_target: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            target: None,
            latency_ms: 0,
            capacity: 0,
            error_rate: 0.0,
            error_rv: CKR_DEVICE_ERROR,
            hang: false,
            down: false,
            token_label: None,
            shared_target: false,
        }
    }
}

/// A value as written in the file.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Int(u64),
    Float(f64),
}

fn value(raw: &str) -> Value {
    let raw = raw.trim();
    for q in ['"', '\''] {
        if let Some(inner) = raw.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return Value::Str(inner.to_string());
        }
    }
    match raw {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let digits = raw.replace('_', "");
    let int = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => digits.parse::<u64>().ok(),
    };
    if let Some(i) = int {
        return Value::Int(i);
    }
    if let Ok(f) = digits.parse::<f64>() {
        return Value::Float(f);
    }
    Value::Str(raw.to_string())
}

/// Strips a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Parses a control file. Unknown keys are reported in the warnings, not errors.
pub fn parse(text: &str) -> Result<(Settings, Vec<String>), String> {
    let mut s = Settings::default();
    let mut warnings = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = strip_comment(line).trim();
        if line.is_empty() || line.starts_with('[') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            return Err(format!("line {}: expected `key = value`", n + 1));
        };
        let key = key.trim();
        let v = value(raw);
        let bad = |what: &str| format!("line {}: {key}: {what}", n + 1);
        let boolean = |v: &Value| match v {
            Value::Bool(b) => Ok(*b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            _ => Err(bad("want true or false")),
        };
        let int = |v: &Value| match v {
            Value::Int(i) => Ok(*i),
            _ => Err(bad("want an integer")),
        };
        let string = |v: &Value| match v {
            Value::Str(t) => Ok(t.clone()),
            _ => Err(bad("want a string")),
        };
        match key {
            "target" => s.target = Some(string(&v)?),
            "latency_ms" => s.latency_ms = int(&v)?,
            "capacity" => s.capacity = int(&v)? as usize,
            "error_rate" => {
                let r = match v {
                    Value::Float(f) => f,
                    Value::Int(i) => i as f64,
                    _ => return Err(bad("want a number from 0 to 1")),
                };
                if !(0.0..=1.0).contains(&r) {
                    return Err(bad("want a number from 0 to 1"));
                }
                s.error_rate = r;
            }
            "error_rv" => s.error_rv = int(&v)? as CK_RV,
            "hang" => s.hang = boolean(&v)?,
            "down" => s.down = boolean(&v)?,
            "token_label" => s.token_label = Some(string(&v)?),
            "shared_target" => s.shared_target = boolean(&v)?,
            _ => warnings.push(format!("line {}: unknown key {key:?} ignored", n + 1)),
        }
    }
    Ok((s, warnings))
}

/// CK_RV is a C `unsigned long`: 64 bits here, 32 on some platforms.
#[allow(clippy::unnecessary_cast)]
fn rv_bits(rv: CK_RV) -> u64 {
    rv as u64
}

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime_ns: i128,
    len: u64,
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        len: m.len(),
        ino: m.ino(),
    })
}

/// The settings in force, kept in atomics so the hot path reads them without a lock.
pub struct Control {
    path: Option<PathBuf>,
    start: Instant,
    last_check_ms: AtomicU64,
    seen: Mutex<Option<Stamp>>,
    pub latency_ms: AtomicU64,
    pub capacity: AtomicUsize,
    /// error_rate in parts per million.
    pub error_ppm: AtomicU32,
    pub error_rv: AtomicU64,
    pub hang: AtomicBool,
    pub down: AtomicBool,
    pub shared_target: AtomicBool,
    pub token_label: Mutex<Option<String>>,
}

/// What a refresh found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// `down` went from false to true.
    WentDown,
}

impl Control {
    /// Reads the file once (if any) and returns the control with its first settings.
    pub fn open(path: Option<PathBuf>) -> (Control, Settings) {
        let c = Control {
            path,
            start: Instant::now(),
            last_check_ms: AtomicU64::new(0),
            seen: Mutex::new(None),
            latency_ms: AtomicU64::new(0),
            capacity: AtomicUsize::new(0),
            error_ppm: AtomicU32::new(0),
            error_rv: AtomicU64::new(rv_bits(CKR_DEVICE_ERROR)),
            hang: AtomicBool::new(false),
            down: AtomicBool::new(false),
            shared_target: AtomicBool::new(false),
            token_label: Mutex::new(None),
        };
        let first = c.read().unwrap_or_default();
        c.apply(&first);
        (c, first)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The file's current settings: defaults when it is missing, None when it does
    /// not parse. Records the version read.
    fn read(&self) -> Option<Settings> {
        let path = self.path.as_ref()?;
        let st = stamp(path);
        *self.seen.lock() = st;
        let Ok(text) = std::fs::read_to_string(path) else {
            return Some(Settings::default());
        };
        match parse(&text) {
            Ok((s, warnings)) => {
                for w in warnings {
                    eprintln!("kmsbridge-faultshim: {}: {w}", path.display());
                }
                Some(s)
            }
            Err(e) => {
                eprintln!(
                    "kmsbridge-faultshim: {}: {e}; keeping the previous settings",
                    path.display()
                );
                None
            }
        }
    }

    fn apply(&self, s: &Settings) -> Change {
        self.latency_ms.store(s.latency_ms, Ordering::Relaxed);
        self.capacity.store(s.capacity, Ordering::Relaxed);
        self.error_ppm.store(
            (s.error_rate * 1_000_000.0).round() as u32,
            Ordering::Relaxed,
        );
        self.error_rv.store(rv_bits(s.error_rv), Ordering::Relaxed);
        self.shared_target.store(s.shared_target, Ordering::Relaxed);
        *self.token_label.lock() = s.token_label.clone();
        self.hang.store(s.hang, Ordering::Release);
        let was_down = self.down.swap(s.down, Ordering::AcqRel);
        if s.down && !was_down {
            Change::WentDown
        } else {
            Change::None
        }
    }

    /// Looks at the file if 50 ms passed since the last look, and applies it if it
    /// changed. One caller at a time does the looking; the others go on at once.
    pub fn refresh(&self) -> Change {
        let Some(path) = self.path.as_ref() else {
            return Change::None;
        };
        let now = self.start.elapsed().as_millis() as u64 + CHECK_EVERY_MS;
        let last = self.last_check_ms.load(Ordering::Relaxed);
        if now < last + CHECK_EVERY_MS {
            return Change::None;
        }
        if self
            .last_check_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Change::None;
        }
        if stamp(path) == *self.seen.lock() {
            return Change::None;
        }
        match self.read() {
            Some(s) => self.apply(&s),
            None => Change::None,
        }
    }

    pub fn error_rv(&self) -> CK_RV {
        self.error_rv.load(Ordering::Relaxed) as CK_RV
    }

    pub fn label(&self) -> Option<String> {
        self.token_label.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_keys() {
        let (s, w) = parse(
            "# node 1\ntarget = \"/usr/lib/x.so\"\nlatency_ms = 5\ncapacity = 2\n\
             error_rate = 0.25\nerror_rv = 0x30 # CKR_DEVICE_ERROR\nhang = false\ndown = true\n\
             token_label = 'hsm-test-node1'\nshared_target = true\n",
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.target.as_deref(), Some("/usr/lib/x.so"));
        assert_eq!((s.latency_ms, s.capacity, s.error_rv), (5, 2, 0x30));
        assert_eq!(s.error_rate, 0.25);
        assert!(s.down && !s.hang && s.shared_target);
        assert_eq!(s.token_label.as_deref(), Some("hsm-test-node1"));
    }

    #[test]
    fn bare_strings_unknown_keys_and_errors() {
        let (s, w) = parse("target = /opt/lib.so\nspeed = 3\n").unwrap();
        assert_eq!(s.target.as_deref(), Some("/opt/lib.so"));
        assert_eq!(w.len(), 1);
        assert!(parse("error_rate = 2").is_err());
        assert!(parse("down = maybe").is_err());
        assert!(parse("latency_ms").is_err());
        assert_eq!(parse("").unwrap().0, Settings::default());
    }

    #[test]
    fn a_change_is_seen_within_the_check_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.conf");
        std::fs::write(&path, "latency_ms = 1\n").unwrap();
        let (c, s) = Control::open(Some(path.clone()));
        assert_eq!(s.latency_ms, 1);
        std::fs::write(&path, "latency_ms = 7\ndown = true\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(CHECK_EVERY_MS + 10));
        assert_eq!(c.refresh(), Change::WentDown);
        assert_eq!(c.latency_ms.load(Ordering::Relaxed), 7);
        // A file that does not parse keeps what was in force.
        std::fs::write(&path, "down = perhaps\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(CHECK_EVERY_MS + 10));
        assert_eq!(c.refresh(), Change::None);
        assert!(c.down.load(Ordering::Relaxed));
        // A missing file means no faults.
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(CHECK_EVERY_MS + 10));
        c.refresh();
        assert!(!c.down.load(Ordering::Relaxed));
        assert_eq!(c.latency_ms.load(Ordering::Relaxed), 0);
    }
}
