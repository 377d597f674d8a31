//! Reading a trail: every record across segments in order, and following the trail as
//! it grows (through rotations), by polling. Reading checks nothing; [`crate::verify`]
//! does.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::record::Record;
use crate::segment::{last_record, segments, CURRENT};
use crate::Error;

/// Where a record was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based.
    pub line: u64,
}

/// Every record of `dir`'s trail, oldest first.
pub fn records(dir: &Path) -> Result<Records, Error> {
    Ok(Records {
        files: segments(dir)?.into_iter().rev().collect(),
        reader: None,
    })
}

/// The iterator of [`records`].
pub struct Records {
    /// Files still to read, the next one last.
    files: Vec<PathBuf>,
    reader: Option<(PathBuf, BufReader<File>, u64)>,
}

impl Iterator for Records {
    type Item = Result<(Location, Record), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((path, reader, line)) = &mut self.reader else {
                let path = self.files.pop()?;
                match File::open(&path) {
                    Ok(f) => self.reader = Some((path, BufReader::new(f), 0)),
                    Err(e) => return Some(Err(Error::io(&path, e))),
                }
                continue;
            };
            let mut text = String::new();
            match reader.read_line(&mut text) {
                Err(e) => return Some(Err(Error::io(path, e))),
                // A torn last line is not a record (yet).
                Ok(0) => self.reader = None,
                Ok(_) if !text.ends_with('\n') => self.reader = None,
                Ok(_) => {
                    *line += 1;
                    let at = Location {
                        file: path.clone(),
                        line: *line,
                    };
                    return Some(Record::parse(text.trim_end_matches('\n')).map(|r| (at, r)));
                }
            }
        }
    }
}

/// Follows a trail: each [`Follower::poll`] returns the records appended since the last
/// one, across rotations. No thread, no sleeping: the caller polls at its own pace.
pub struct Follower {
    dir: PathBuf,
    /// The file being read, and its inode when it was opened as the current file.
    file: Option<(File, Option<u64>)>,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// The seq of the last record returned (0: none).
    last_seq: u64,
}

impl Follower {
    /// From the first record of the trail.
    pub fn from_start(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            file: None,
            partial: Vec::new(),
            last_seq: 0,
        }
    }

    /// From the end: the first poll returns only what is appended after this call.
    pub fn from_end(dir: &Path) -> Result<Self, Error> {
        let mut last_seq = 0;
        for path in segments(dir)?.iter().rev() {
            let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
            if let Some(r) = last_record(&mut f, path, false)? {
                last_seq = r.seq;
                break;
            }
        }
        Ok(Self {
            last_seq,
            ..Self::from_start(dir)
        })
    }

    /// The records appended since the last poll (possibly none).
    pub fn poll(&mut self) -> Result<Vec<Record>, Error> {
        let mut out = Vec::new();
        loop {
            if self.file.is_none() && !self.open_next()? {
                return Ok(out);
            }
            // Look at the current file before reading: a rotation seen here happened
            // after the rotated file's last write, so reading to its end gets it all.
            let current_ino = std::fs::metadata(self.dir.join(CURRENT))
                .ok()
                .map(|m| m.ino());
            let Some((file, ino)) = &mut self.file else {
                return Ok(out);
            };
            let still_current = ino.is_some() && *ino == current_ino;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|e| Error::io(&self.dir, e))?;
            self.partial.extend_from_slice(&bytes);
            while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                let r = Record::parse(text.trim_end_matches('\n'))?;
                // Opened from the end: skip what was there before.
                if r.seq > self.last_seq {
                    self.last_seq = r.seq;
                    out.push(r);
                }
            }
            if still_current {
                return Ok(out);
            }
            self.file = None;
            self.partial.clear();
        }
    }

    /// Opens the first rotated segment past what was read, else the current file.
    fn open_next(&mut self) -> Result<bool, Error> {
        let all = segments(&self.dir)?;
        let current = self.dir.join(CURRENT);
        let next = all.iter().find(|p| {
            **p == current
                || p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("audit-")?.strip_suffix(".log")?.parse().ok())
                    .is_some_and(|last: u64| last > self.last_seq)
        });
        let Some(path) = next else {
            return Ok(false);
        };
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        let ino = if *path == current {
            Some(f.metadata().map_err(|e| Error::io(path, e))?.ino())
        } else {
            None
        };
        self.file = Some((f, ino));
        Ok(true)
    }
}
