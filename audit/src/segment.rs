//! The trail's files in its directory: the current file, rotated segments, the lock.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::record::Record;
use crate::Error;

/// The file being appended to.
pub const CURRENT: &str = "audit.log";
/// The lock every writer takes (a separate file, so that rotation renaming the current
/// file never moves the lock). It also holds the last checkpoint's seq and time as a
/// hint for when the next one is due; the trail itself stays the truth.
pub const LOCK: &str = "audit.lock";

/// The name a full current file is renamed to: `audit-<last seq, 20 digits>.log`, so
/// that names sort in chain order.
pub fn segment_name(last_seq: u64) -> String {
    format!("audit-{last_seq:020}.log")
}

fn is_segment(name: &str) -> bool {
    name.strip_prefix("audit-")
        .and_then(|r| r.strip_suffix(".log"))
        .is_some_and(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Every file of the trail in `dir`, in chain order: rotated segments, then the current
/// file if it exists.
pub fn segments(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_segment(n))
        .collect();
    names.sort();
    let mut paths: Vec<PathBuf> = names.into_iter().map(|n| dir.join(n)).collect();
    let current = dir.join(CURRENT);
    if current.exists() {
        paths.push(current);
    }
    Ok(paths)
}

/// The last complete line of `file` as a record, `None` when the file has none. A torn
/// last line (no newline: a writer died mid-write) is cut off when `repair` is set, and
/// otherwise ignored.
pub fn last_record(file: &mut File, path: &Path, repair: bool) -> Result<Option<Record>, Error> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut window: u64 = 8 * 1024;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(path, e))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        // Complete lines end at the last newline; anything after it is torn.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            if start == 0 {
                cut(file, path, 0, len, repair)?;
                return Ok(None);
            }
            window = window.saturating_mul(2);
            continue;
        };
        let (complete, _) = buf.split_at(end);
        let line_start = complete.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
        let line_start = match line_start {
            Some(i) => i,
            None if start == 0 => 0,
            None => {
                window = window.saturating_mul(2);
                continue;
            }
        };
        cut(file, path, start + end as u64 + 1, len, repair)?;
        let line = complete.get(line_start..).unwrap_or_default();
        let text = std::str::from_utf8(line)
            .map_err(|_| Error::tail(path, "the last record is not UTF-8".into()))?;
        return Record::parse(text)
            .map(Some)
            .map_err(|e| Error::tail(path, e.to_string()));
    }
}

fn cut(file: &File, path: &Path, keep: u64, len: u64, repair: bool) -> Result<(), Error> {
    if repair && keep < len {
        file.set_len(keep).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_in_chain_order_and_only_they_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            segment_name(900),
            segment_name(12),
            "audit-x.log".into(),
            "other".into(),
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        std::fs::write(dir.path().join(CURRENT), "").unwrap();
        let got: Vec<String> = segments(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            [segment_name(12), segment_name(900), CURRENT.to_string()]
        );
    }

    #[test]
    fn torn_last_line_is_cut_when_repairing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CURRENT);
        std::fs::write(&path, "{\"torn").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(last_record(&mut f, &path, true).unwrap().is_none());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
