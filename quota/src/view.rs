//! A read-only view of another process's buckets, for `kmsbridge status`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use crate::bucket::BucketStats;
use crate::file;
use crate::layout;
use crate::map::Mapping;
use crate::quota::all_stats;
use crate::QuotaError;

/// A bucket file mapped read-only. Only `Relaxed` loads of 8-byte words (register width)
/// touch it: the atomic accesses Rust permits on read-only memory.
pub struct QuotaView {
    map: Mapping,
    path: PathBuf,
}

impl QuotaView {
    /// Opens the file at `path` read-only; a corrupt file is reported, never changed.
    pub fn open(path: &Path) -> Result<QuotaView, QuotaError> {
        let Some(file) = file::open_checked(path, false)? else {
            return Err(QuotaError::Io {
                path: path.to_owned(),
                what: "open",
                source: std::io::ErrorKind::NotFound.into(),
            });
        };
        let (map, _) = file::map_checked(&file, path, false)?;
        Ok(QuotaView {
            map,
            path: path.to_owned(),
        })
    }

    /// The bucket files of `identity` in `dir` (one per set of limits in use).
    pub fn list(dir: &Path, identity: &str) -> Result<Vec<PathBuf>, QuotaError> {
        let prefix = file::name_prefix(identity);
        let entries = std::fs::read_dir(dir).map_err(|source| QuotaError::Io {
            path: dir.to_owned(),
            what: "read directory",
            source,
        })?;
        let mut out: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        out.sort();
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The instance identity the file was created for.
    pub fn identity(&self) -> String {
        let words = self.map.words();
        layout::unpack(
            words
                .iter()
                .skip(layout::H_IDENTITY)
                .take(layout::IDENTITY_BYTES / 8)
                .map(|w| w.load(Relaxed)),
        )
    }

    /// Every bucket's limit and counters.
    pub fn stats(&self) -> Vec<BucketStats> {
        all_stats(self.map.words())
    }
}
