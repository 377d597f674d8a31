//! The provider's handle on an instance's quotas, and its hot path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bucket::{bucket_at, BucketStats};
use crate::file;
use crate::layout;
use crate::map::{self, Mapping};
use crate::{Class, QuotaConfig, QuotaError};

/// The shared buckets of one instance, opened read-write.
pub struct Quota {
    map: Mapping,
    path: PathBuf,
    /// The access points with their own buckets, in file order (sorted).
    names: Vec<String>,
    recreated: Option<String>,
}

/// An admitted operation, and how long it waited for its turn (zero under the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waited(pub Duration);

/// Whose limit refused an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Instance,
    AccessPoint,
}

/// A refused operation: its turn would come only after `retry_after`, beyond the wait
/// bound. It is refused at once, without waiting (so it never waited): waiting the bound
/// would not change the answer, since every earlier turn is already booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub class: Class,
    pub scope: Scope,
    /// The wait the operation would have needed.
    pub retry_after: Duration,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            Scope::Instance => "instance",
            Scope::AccessPoint => "access point",
        };
        write!(
            f,
            "{} operation refused by the {scope} quota: next turn in {:?}, over the wait bound",
            self.class.name(),
            self.retry_after
        )
    }
}

impl Quota {
    /// Opens (or creates) the buckets of `identity` with `config` in [`file::default_dir`].
    pub fn open(identity: &str, config: &QuotaConfig) -> Result<Quota, QuotaError> {
        Quota::open_in(&file::default_dir()?, identity, config)
    }

    /// Opens (or creates) the buckets of `identity` with `config` in `dir`.
    ///
    /// A file that exists but is corrupt (another layout, truncated, overwritten) is
    /// removed and created anew; [`Quota::recreated`] says why, for the log. A file of
    /// another user, or one others may use, is refused and left alone.
    pub fn open_in(dir: &Path, identity: &str, config: &QuotaConfig) -> Result<Quota, QuotaError> {
        config.validate()?;
        let specs = layout::buckets(config);
        let hash = layout::limits_hash(identity, &specs);
        let path = dir.join(format!("{}{hash:016x}", file::name_prefix(identity)));
        let names: Vec<String> = config.access_points.keys().cloned().collect();
        let mut recreated = None;
        // Three rounds: another process may publish, or a corrupt file be replaced,
        // between our attempts.
        for _ in 0..3 {
            match file::open_existing(&path, &specs, hash) {
                Ok(Some(map)) => {
                    return Ok(Quota {
                        map,
                        path,
                        names,
                        recreated,
                    })
                }
                Ok(None) => {}
                Err(QuotaError::Corrupt { why, .. }) => {
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => {
                            return Err(QuotaError::Io {
                                path,
                                what: "unlink corrupt file",
                                source,
                            })
                        }
                    }
                    recreated = Some(why);
                }
                Err(e) => return Err(e),
            }
            if let Some(map) = file::create(dir, &path, identity, &specs, hash)? {
                return Ok(Quota {
                    map,
                    path,
                    names,
                    recreated,
                });
            }
        }
        Err(QuotaError::Corrupt {
            path,
            why: "replaced by another process at every attempt".into(),
        })
    }

    /// The shared file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why a corrupt file was replaced while opening, if one was.
    pub fn recreated(&self) -> Option<&str> {
        self.recreated.as_deref()
    }

    /// Admits one operation of `class` for `access_point` (an access point without its
    /// own limits is held only by the instance's), waiting for its turn up to the wait
    /// bound, or refuses it.
    ///
    /// Under the limit this is a clock read (vDSO) and a few atomic operations on the
    /// shared words: no system call, no allocation, no lock.
    pub fn acquire(&self, class: Class, access_point: &str) -> Result<Waited, Refused> {
        let now = map::now_ns();
        let words = self.map.words();
        let own = self
            .names
            .binary_search_by(|n| n.as_str().cmp(access_point))
            .ok()
            .and_then(|i| bucket_at(words, 2 + 2 * i + class.index()));
        // A missing instance bucket cannot happen (the length was checked on open); it
        // would count nothing rather than refuse everything.
        let instance = bucket_at(words, class.index());
        let refused = |scope, wait: u64| Refused {
            class,
            scope,
            retry_after: Duration::from_nanos(wait),
        };
        // The access point's own bucket first: its refusal must not cost the others a
        // turn of the instance's.
        let own_wait = match own.map(|b| b.reserve(now)) {
            None => 0,
            Some(Ok(wait)) => wait,
            Some(Err(wait)) => {
                if let Some(b) = own {
                    b.refused();
                }
                return Err(refused(Scope::AccessPoint, wait));
            }
        };
        let instance_wait = match instance.map(|b| b.reserve(now)) {
            None => 0,
            Some(Ok(wait)) => wait,
            Some(Err(wait)) => {
                if let Some(b) = own {
                    b.refund();
                }
                if let Some(b) = instance {
                    b.refused();
                }
                return Err(refused(Scope::Instance, wait));
            }
        };
        let wait = own_wait.max(instance_wait);
        if wait > 0 {
            // Our turn is booked; sleep until it comes (no polling).
            std::thread::sleep(Duration::from_nanos(wait));
        }
        for b in [own, instance].into_iter().flatten() {
            b.admitted(now.saturating_add(wait), wait);
        }
        Ok(Waited(Duration::from_nanos(wait)))
    }

    /// Every bucket's limit and counters.
    pub fn stats(&self) -> Vec<BucketStats> {
        all_stats(self.map.words())
    }
}

/// The stats of every bucket in `words`.
pub(crate) fn all_stats(words: &[std::sync::atomic::AtomicU64]) -> Vec<BucketStats> {
    let now = map::now_ns();
    (0..)
        .map_while(|i| bucket_at(words, i))
        .filter_map(|b| b.stats(now))
        .collect()
}
