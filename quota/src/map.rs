//! The shared mapping: a file mapped `MAP_SHARED`, seen as a slice of `AtomicU64`, and
//! the process-wide clock every process reads the same way.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use memmap2::{MmapOptions, MmapRaw};

use crate::QuotaError;

// The cast in `words` relies on these.
const _: () = assert!(std::mem::size_of::<AtomicU64>() == 8);
const _: () = assert!(std::mem::align_of::<AtomicU64>() == 8);

/// A mapped bucket file. The mapping stays valid after `fork()`: the child inherits it
/// `MAP_SHARED`, so parent and child count against the same buckets.
pub struct Mapping {
    map: MmapRaw,
}

impl Mapping {
    /// Maps the whole of `file` read-write (`writable`) or read-only.
    pub fn new(file: &File, path: &Path, writable: bool) -> Result<Mapping, QuotaError> {
        let opts = MmapOptions::new();
        let map = if writable {
            opts.map_raw(file)
        } else {
            opts.map_raw_read_only(file)
        }
        .map_err(|source| QuotaError::Io {
            path: path.to_owned(),
            what: "mmap",
            source,
        })?;
        if map.as_ptr().align_offset(8) != 0 {
            return Err(QuotaError::Corrupt {
                path: path.to_owned(),
                why: "mapping not 8-byte aligned".into(),
            });
        }
        Ok(Mapping { map })
    }

    /// The mapping as words. Only atomic operations ever touch them, in every process; a
    /// read-only mapping is only ever loaded from (see [`crate::QuotaView`]).
    pub fn words(&self) -> &[AtomicU64] {
        let len = self.map.len() / 8;
        // SAFETY: the pointer is the start of a live mapping of `map.len()` bytes owned by
        // `self` (so it outlives the slice); it is 8-byte aligned (checked in `new`; mmap
        // gives page alignment) and AtomicU64 has size and alignment 8 (asserted above);
        // `len` words fit in the mapping. The memory is shared with other processes, which
        // only access it through the same atomics; AtomicU64 permits shared mutation.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), len) }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the host (outside
/// time namespaces), read through the vDSO, so no system call. 0 if it fails.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// The effective uid of this process (part of the file name; the owner a file must have).
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
