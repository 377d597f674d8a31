//! Appending to the trail from many threads and processes: everything happens under an
//! exclusive `flock` of the trail's lock file, and the chain's state is read back from
//! the file's tail each time, so no process trusts what it remembers.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::record::{format_time, Entry, Event, Outcome, Record, Token, GENESIS};
use crate::segment::{last_record, segment_name, segments, CURRENT, LOCK};
use crate::sign::{Head, HeadSink, Signer};
use crate::Error;

/// When an append is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` before the append returns.
    Fsync,
    /// Left to the OS (a crash of the host may lose the last records; a crash of the
    /// process does not).
    Buffered,
}

/// How a trail is written.
#[derive(Debug, Clone)]
pub struct Config {
    /// The trail's directory (created 0700 when missing).
    pub dir: PathBuf,
    /// The instance every record names.
    pub instance: Token,
    /// A checkpoint after at most this many records.
    pub checkpoint_every: u64,
    /// A checkpoint at the first append at least this long after the last one.
    pub checkpoint_interval: Duration,
    /// The current file is rotated once an append takes it past this size.
    pub max_segment_bytes: u64,
    pub durability: Durability,
}

impl Config {
    /// Defaults: a checkpoint every 1000 records or 60 s, 64 MiB segments, fsync.
    pub fn new(dir: impl Into<PathBuf>, instance: Token) -> Self {
        Self {
            dir: dir.into(),
            instance,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            max_segment_bytes: 64 << 20,
            durability: Durability::Fsync,
        }
    }
}

/// What an append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The sequence numbers of the caller's entries, in order.
    pub seqs: Vec<u64>,
    /// The latest checkpoint written by this append, if any.
    pub head: Option<Head>,
    /// Whether the current file was rotated.
    pub rotated: bool,
    /// A checkpoint was due but the [`Signer`] could not sign (why): it was left for a
    /// later append, and the records were written without it.
    pub deferred: Option<String>,
}

/// Appends records to one instance's trail. Cheap to share (`&self` everywhere); many
/// writers, in one or many processes, may append to the same directory.
pub struct Writer {
    cfg: Config,
    signer: Box<dyn Signer>,
    sink: Option<Box<dyn HeadSink>>,
    /// The lock file; the mutex orders this process's threads (one open file holds one
    /// `flock`), the `flock` orders processes.
    lock: Mutex<File>,
    pid: u32,
}

/// The chain as the tail left it, advanced as records are added.
struct Chain {
    seq: u64,
    hash: String,
    checkpoint_seq: u64,
    checkpoint_ms: u64,
    last_is_checkpoint: bool,
}

impl Writer {
    /// Opens (creating when missing) the trail in `cfg.dir`.
    pub fn open(
        cfg: Config,
        signer: Box<dyn Signer>,
        sink: Option<Box<dyn HeadSink>>,
    ) -> Result<Self, Error> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.dir)
            .map_err(|e| Error::io(&cfg.dir, e))?;
        let lock_path = cfg.dir.join(LOCK);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        Ok(Self {
            cfg,
            signer,
            sink,
            lock: Mutex::new(lock),
            pid: std::process::id(),
        })
    }

    /// The trail's directory.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Appends one record.
    pub fn append_one(&self, entry: Entry) -> Result<u64, Error> {
        let done = self.append(std::slice::from_ref(&entry))?;
        done.seqs
            .first()
            .copied()
            .ok_or_else(|| Error::Invalid("append wrote no record".into()))
    }

    /// Appends `entries` in order, with checkpoints where due, in one write.
    pub fn append(&self, entries: &[Entry]) -> Result<Appended, Error> {
        if entries.iter().any(|e| e.event == Event::Checkpoint) {
            return Err(Error::Invalid(
                "checkpoints are written by the trail only".into(),
            ));
        }
        self.locked(entries, false)
    }

    /// Writes a checkpoint now (unless the last record already is one) and returns the
    /// trail's head.
    pub fn checkpoint(&self) -> Result<Option<Head>, Error> {
        Ok(self.locked(&[], true)?.head)
    }

    /// Writes a checkpoint if the interval has passed since the last one; for a caller
    /// that wants checkpoints on time even when nothing is logged.
    pub fn checkpoint_if_due(&self) -> Result<Option<Head>, Error> {
        Ok(self.locked(&[], false)?.head)
    }

    fn locked(&self, entries: &[Entry], force_checkpoint: bool) -> Result<Appended, Error> {
        let mut lock = self.lock.lock();
        let _flock = Flock::exclusive(&lock, &self.cfg.dir.join(LOCK))?;
        let now = SystemTime::now();
        let now_ms = unix_ms(now);
        let current = self.cfg.dir.join(CURRENT);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&current)
            .map_err(|e| Error::io(&current, e))?;
        let mut chain = self.chain(&mut file, &current, &mut lock, now_ms)?;
        // A new trail counts from its start: the hint must say so before anything is due.
        let fresh = chain.seq == 0;

        let mut out = String::new();
        let mut seqs = Vec::with_capacity(entries.len());
        let mut head = None;
        let mut deferred = None;
        for entry in entries {
            out.push_str(&self.push(&mut chain, entry, now)?);
            seqs.push(chain.seq);
            let count_due =
                chain.seq.saturating_sub(chain.checkpoint_seq) >= self.cfg.checkpoint_every;
            if count_due && deferred.is_none() {
                self.try_checkpoint(&mut chain, now, &mut out, &mut head, &mut deferred)?;
            }
        }
        let interval_ms =
            u64::try_from(self.cfg.checkpoint_interval.as_millis()).unwrap_or(u64::MAX);
        let time_due = now_ms.saturating_sub(chain.checkpoint_ms) >= interval_ms;
        let len = file.metadata().map_err(|e| Error::io(&current, e))?.len();
        let rotate = !out.is_empty() && len + out.len() as u64 > self.cfg.max_segment_bytes;
        let wanted = force_checkpoint || time_due || rotate;
        if !chain.last_is_checkpoint && chain.seq > 0 && wanted && deferred.is_none() {
            self.try_checkpoint(&mut chain, now, &mut out, &mut head, &mut deferred)?;
        }
        if out.is_empty() {
            return Ok(Appended {
                seqs,
                head,
                rotated: false,
                deferred,
            });
        }
        file.write_all(out.as_bytes())
            .map_err(|e| Error::io(&current, e))?;
        if self.cfg.durability == Durability::Fsync {
            file.sync_data().map_err(|e| Error::io(&current, e))?;
        }
        if rotate {
            let to = self.cfg.dir.join(segment_name(chain.seq));
            std::fs::rename(&current, &to).map_err(|e| Error::io(&to, e))?;
            sync_dir(&self.cfg.dir)?;
        }
        if head.is_some() || fresh {
            let lock_path = self.cfg.dir.join(LOCK);
            write_hint(
                &mut lock,
                &lock_path,
                chain.checkpoint_seq,
                chain.checkpoint_ms,
            )?;
        }
        if let Some(h) = &head {
            if let Some(sink) = &self.sink {
                sink.publish(h).map_err(Error::Checkpoint)?;
            }
        }
        Ok(Appended {
            seqs,
            head,
            rotated: rotate,
            deferred,
        })
    }

    /// Appends a checkpoint to `out`, or — when the signer cannot sign now (a software
    /// instance nobody is logged in to) — notes why and leaves it due: records are never
    /// refused for want of a signature.
    fn try_checkpoint(
        &self,
        chain: &mut Chain,
        now: SystemTime,
        out: &mut String,
        head: &mut Option<Head>,
        deferred: &mut Option<String>,
    ) -> Result<(), Error> {
        match self.push_checkpoint(chain, now) {
            Ok((line, h)) => {
                out.push_str(&line);
                *head = Some(h);
                Ok(())
            }
            Err(Error::Checkpoint(why)) => {
                *deferred = Some(why);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Where the chain stands: the current file's last record, else the newest rotated
    /// segment's, else the start of a new trail.
    fn chain(
        &self,
        file: &mut File,
        current: &Path,
        lock: &mut File,
        now_ms: u64,
    ) -> Result<Chain, Error> {
        let mut last = last_record(file, current, true)?;
        if last.is_none() {
            let segs = segments(&self.cfg.dir)?;
            if let Some(seg) = segs.iter().rev().find(|p| p.as_path() != current) {
                let mut f = File::open(seg).map_err(|e| Error::io(seg, e))?;
                last = last_record(&mut f, seg, false)?;
            }
        }
        let (seq, hash, last_is_checkpoint) = match last {
            Some(r) => (r.seq, r.hash, r.event == Event::Checkpoint),
            None => (0, GENESIS.to_string(), false),
        };
        // The hint is only trusted when it is consistent with the trail; without it a
        // trail that has records is due for a checkpoint (which writes the hint).
        let (checkpoint_seq, checkpoint_ms) = match read_hint(lock) {
            Some((s, ms)) if s <= seq => (s, ms),
            _ if seq == 0 => (0, now_ms),
            _ => (0, 0),
        };
        Ok(Chain {
            seq,
            hash,
            checkpoint_seq,
            checkpoint_ms,
            last_is_checkpoint,
        })
    }

    fn record(&self, chain: &Chain, event: Event, now: SystemTime) -> Record {
        Record {
            seq: chain.seq + 1,
            time: format_time(now),
            instance: self.cfg.instance.clone(),
            access_point: None,
            pid: self.pid,
            event,
            action: None,
            object: None,
            count: None,
            window: None,
            result: Outcome::Ok,
            reason: None,
            signature: None,
            prev: chain.hash.clone(),
            hash: String::new(),
        }
    }

    fn push(&self, chain: &mut Chain, e: &Entry, now: SystemTime) -> Result<String, Error> {
        let mut r = Record {
            access_point: e.access_point.clone(),
            action: e.action.clone(),
            object: e.object.clone(),
            count: e.count,
            window: e.window.map(format_time),
            result: e.result,
            reason: e.reason.clone(),
            ..self.record(chain, e.event, now)
        };
        let line = r.seal()?;
        chain.seq = r.seq;
        chain.hash = r.hash;
        chain.last_is_checkpoint = false;
        Ok(line)
    }

    fn push_checkpoint(&self, chain: &mut Chain, now: SystemTime) -> Result<(String, Head), Error> {
        let mut r = self.record(chain, Event::Checkpoint, now);
        let sig = self
            .signer
            .sign(&Head::message(&r.instance, r.seq, &r.prev))
            .map_err(Error::Checkpoint)?;
        r.signature = Some(hex::encode(&sig));
        let line = r.seal()?;
        let head = Head {
            instance: r.instance,
            seq: r.seq,
            prev: r.prev,
            hash: r.hash.clone(),
            signature: hex::encode(sig),
        };
        chain.seq = r.seq;
        chain.hash = r.hash;
        chain.checkpoint_seq = r.seq;
        chain.checkpoint_ms = unix_ms(now);
        chain.last_is_checkpoint = true;
        Ok((line, head))
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The lock file's hint: `<checkpoint seq> <unix ms>`.
fn read_hint(lock: &mut File) -> Option<(u64, u64)> {
    let mut s = String::new();
    lock.seek(SeekFrom::Start(0)).ok()?;
    lock.read_to_string(&mut s).ok()?;
    let (seq, ms) = s.trim().split_once(' ')?;
    Some((seq.parse().ok()?, ms.parse().ok()?))
}

fn write_hint(lock: &mut File, path: &Path, seq: u64, ms: u64) -> Result<(), Error> {
    let text = format!("{seq} {ms}\n");
    lock.set_len(0).map_err(|e| Error::io(path, e))?;
    lock.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    lock.write_all(text.as_bytes())
        .map_err(|e| Error::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// An exclusive `flock`, released on drop. It holds the descriptor only; it is dropped
/// before the lock file it came from (declared after it).
struct Flock(std::os::fd::RawFd);

impl Flock {
    fn exclusive(file: &File, path: &Path) -> Result<Self, Error> {
        loop {
            // SAFETY: the descriptor belongs to `file`, which outlives this call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Self(file.as_raw_fd()));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io(path, err));
            }
        }
    }
}

impl Drop for Flock {
    fn drop(&mut self) {
        // SAFETY: the lock file is held by the caller's mutex guard, declared before this
        // value and so dropped after it: the descriptor is still open.
        unsafe { libc::flock(self.0, libc::LOCK_UN) };
    }
}
