//! Finding, creating and checking the shared bucket file.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{
    fence,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::bucket::bucket_at;
use crate::layout::{self, BucketSpec};
use crate::map::{self, Mapping};
use crate::QuotaError;

/// The directory of the bucket files: `/dev/shm` (memory, shared by every process of the
/// host), else `$XDG_RUNTIME_DIR`, else the temporary directory.
pub fn default_dir() -> Result<PathBuf, QuotaError> {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        return Ok(shm);
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if run.is_absolute() && run.is_dir() {
            return Ok(run);
        }
    }
    let tmp = std::env::temp_dir();
    if tmp.is_dir() {
        Ok(tmp)
    } else {
        Err(QuotaError::NoDirectory)
    }
}

/// The start of every file name of `identity` for this user (`kmsbridge status` lists
/// them): `kmsbridge-quota-<uid>-<identity hash>-`.
pub fn name_prefix(identity: &str) -> String {
    format!(
        "kmsbridge-quota-{}-{:016x}-",
        map::euid(),
        layout::identity_hash(identity)
    )
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> QuotaError + 'a {
    move |source| QuotaError::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

fn corrupt(path: &Path, why: impl Into<String>) -> QuotaError {
    QuotaError::Corrupt {
        path: path.to_owned(),
        why: why.into(),
    }
}

/// Opens `path` (never through a symbolic link) and checks it is a regular file of ours
/// that nobody else may read or write.
pub fn open_checked(path: &Path, writable: bool) -> Result<Option<File>, QuotaError> {
    let file = match OpenOptions::new()
        .read(true)
        .write(writable)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, "open")(e)),
    };
    let meta = file.metadata().map_err(io(path, "fstat"))?;
    let not_ours = |why: String| QuotaError::NotOurs {
        path: path.to_owned(),
        why,
    };
    if !meta.file_type().is_file() {
        return Err(not_ours("not a regular file".into()));
    }
    if writable && meta.uid() != map::euid() {
        return Err(not_ours(format!(
            "owned by uid {}, not {}",
            meta.uid(),
            map::euid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(not_ours(format!(
            "mode {:o}, others may use it (must be 0600)",
            meta.mode() & 0o777
        )));
    }
    Ok(Some(file))
}

/// Maps `file` and checks its header: magic, version, length, bucket count, ready.
/// Returns the bucket count.
pub fn map_checked(
    file: &File,
    path: &Path,
    writable: bool,
) -> Result<(Mapping, usize), QuotaError> {
    let len = file.metadata().map_err(io(path, "fstat"))?.len();
    let header_len = layout::total_len(0) as u64;
    if len < header_len {
        return Err(corrupt(
            path,
            format!("{len} bytes, shorter than the header"),
        ));
    }
    let mapping = Mapping::new(file, path, writable)?;
    let words = mapping.words();
    // Relaxed loads only: the mapping may be read-only (see `QuotaView`).
    let h = |i: usize| words.get(i).map_or(0, |w| w.load(Relaxed));
    if h(layout::H_MAGIC) != layout::MAGIC {
        return Err(corrupt(path, "bad magic"));
    }
    if h(layout::H_VERSION) != layout::VERSION {
        return Err(corrupt(
            path,
            format!(
                "layout version {}, expected {}",
                h(layout::H_VERSION),
                layout::VERSION
            ),
        ));
    }
    if h(layout::H_READY) != 1 {
        return Err(corrupt(path, "not marked ready"));
    }
    // Pairs with the creator's release store of the ready flag.
    fence(Acquire);
    let buckets = usize::try_from(h(layout::H_BUCKETS)).unwrap_or(usize::MAX);
    let expected = buckets
        .checked_mul(layout::BUCKET_WORDS * 8)
        .and_then(|b| b.checked_add(layout::total_len(0)))
        .map(|t| t as u64);
    if expected != Some(len) || h(layout::H_TOTAL_LEN) != len {
        return Err(corrupt(
            path,
            format!(
                "{len} bytes, header says {} for {buckets} buckets",
                h(layout::H_TOTAL_LEN)
            ),
        ));
    }
    Ok((mapping, buckets))
}

/// Opens the existing file of these buckets read-write: `Ok(None)` when there is none,
/// [`QuotaError::Corrupt`] when it is not exactly what `specs` and `hash` describe.
pub fn open_existing(
    path: &Path,
    specs: &[BucketSpec],
    hash: u64,
) -> Result<Option<Mapping>, QuotaError> {
    let Some(file) = open_checked(path, true)? else {
        return Ok(None);
    };
    let (mapping, buckets) = map_checked(&file, path, true)?;
    let words = mapping.words();
    if buckets != specs.len() {
        return Err(corrupt(
            path,
            format!("{buckets} buckets, expected {}", specs.len()),
        ));
    }
    if words.get(layout::H_LIMITS_HASH).map(|w| w.load(Relaxed)) != Some(hash) {
        return Err(corrupt(path, "limits hash differs from the file name's"));
    }
    for (i, spec) in specs.iter().enumerate() {
        let found = bucket_at(words, i).and_then(|b| b.spec());
        if found.as_ref() != Some(spec) {
            return Err(corrupt(path, format!("bucket {i} is not {spec:?}")));
        }
    }
    Ok(Some(mapping))
}

/// Creates the file complete under a temporary name, then publishes it with `link()`,
/// which fails rather than replace: `Ok(None)` when another process published first.
pub fn create(
    dir: &Path,
    path: &Path,
    identity: &str,
    specs: &[BucketSpec],
    hash: u64,
) -> Result<Option<Mapping>, QuotaError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}", std::process::id(), map::now_ns()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(io(&tmp, "create"))?;
    let result = fill_and_link(&file, &tmp, path, identity, specs, hash);
    // The published name (if any) keeps the file; the temporary name goes either way.
    let _ = std::fs::remove_file(&tmp);
    result
}

fn fill_and_link(
    file: &File,
    tmp: &Path,
    path: &Path,
    identity: &str,
    specs: &[BucketSpec],
    hash: u64,
) -> Result<Option<Mapping>, QuotaError> {
    let len = layout::total_len(specs.len());
    file.set_len(len as u64).map_err(io(tmp, "ftruncate"))?;
    let mapping = Mapping::new(file, tmp, true)?;
    let words = mapping.words();
    let set = |i: usize, v: u64| {
        if let Some(w) = words.get(i) {
            w.store(v, Relaxed);
        }
    };
    set(layout::H_MAGIC, layout::MAGIC);
    set(layout::H_VERSION, layout::VERSION);
    set(layout::H_TOTAL_LEN, len as u64);
    set(layout::H_BUCKETS, specs.len() as u64);
    set(layout::H_LIMITS_HASH, hash);
    for (i, v) in layout::pack(identity, layout::IDENTITY_BYTES / 8)
        .into_iter()
        .enumerate()
    {
        set(layout::H_IDENTITY + i, v);
    }
    for (i, spec) in specs.iter().enumerate() {
        let bucket = bucket_at(words, i).ok_or_else(|| corrupt(tmp, "short mapping"))?;
        bucket.init(spec);
    }
    if let Some(w) = words.get(layout::H_READY) {
        w.store(1, Release);
    }
    match std::fs::hard_link(tmp, path) {
        Ok(()) => Ok(Some(mapping)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(io(path, "link")(e)),
    }
}
