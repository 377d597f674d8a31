//! `libkmsbridge_faultshim.so`: a PKCS#11 module for the cluster test rig
//! (docs/CLUSTER_RIG.md). It loads a target module and exports a function list that
//! forwards every call to it, injecting faults chosen at run time in a control file:
//!
//! - `latency_ms`: added to each crypto call (sign, verify, encrypt, decrypt with
//!   their Init/Update/Final, key generation, wrap, unwrap, derive);
//! - `capacity`: the most crypto calls running at once, the others wait (an HSM's
//!   fixed number of crypto engines; the latency is spent holding an engine);
//! - `error_rate`, `error_rv`: a crypto call answers `error_rv` with that
//!   probability. Init and key calls fail before reaching the target; single-part
//!   and Final calls fail after the target finished them (so no operation is left
//!   active behind the error); Update calls never fail;
//! - `hang`: every call but C_Finalize blocks until it is cleared;
//! - `down`: every call but C_Finalize answers `CKR_DEVICE_REMOVED`; the sessions
//!   open at that moment are closed on the target (once calls in flight finish, up
//!   to 2 s) and answer `CKR_SESSION_HANDLE_INVALID` after `down` is cleared, as a
//!   restarted HSM would (so does any handle not opened through this shim: shims
//!   sharing a target never reach each other's sessions);
//! - `token_label`: only the slot whose token has this label is shown;
//! - `shared_target`: several shims in one process front the same target library.
//!
//! Each shim also counts the operation calls it passed to its target (see
//! [`kmsbridge_faultshim_operations`]): a test in the process that loaded it reads
//! what its node served, as distinct from the key and object calls replication makes.
//!
//! The control file is `faultshim.conf` beside the loaded shim library when it
//! exists (so copies of the shim at different paths are independent nodes), else
//! the file named by `KMSBRIDGE_SHIM_CONTROL`. The target is the control file's
//! `target`, else `KMSBRIDGE_SHIM_TARGET`.

mod control;
mod entries;

/// How often, at most, the shim looks at its control file (on calls): a change
/// is in force for every call made this long after it.
pub use control::CHECK_EVERY_MS;
use control::{Change, Control};
use cryptoki_sys::*;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::ffi::{c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The control file looked for beside the shim library.
pub const SIBLING_CONTROL: &str = "faultshim.conf";

static SHIM: OnceLock<Shim> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// How long going down waits for calls already inside the target before closing
/// the sessions there.
const DRAIN: Duration = Duration::from_secs(2);

/// What a call is, for fault injection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Not about a slot or session (C_GetInfo, C_GetSlotList, C_WaitForSlotEvent).
    Plain,
    /// Takes a slot id (checked against `token_label`).
    Slot(CK_SLOT_ID),
    /// Takes a session; no crypto.
    Session(CK_SESSION_HANDLE),
    /// C_FindObjectsInit: a session call, counted (`kmsbridge_faultshim_finds`).
    Find(CK_SESSION_HANDLE),
    /// C_GetAttributeValue: a session call, counted (`kmsbridge_faultshim_reads`).
    Read(CK_SESSION_HANDLE),
    /// A crypto call on a session.
    Crypto(CK_SESSION_HANDLE, Phase),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    /// C_XInit: an injected error answers before the target sees the call.
    Init,
    /// C_XUpdate and the dual functions: never fail by injection.
    Step,
    /// Single-part and Final: an injected error replaces a finished call's result.
    /// `query` = the output pointer was NULL (a length query, which ends nothing).
    End { query: bool },
    /// Key generation, wrap, unwrap, derive: no operation state; fails before.
    Key,
}

impl Kind {
    fn session(self) -> Option<CK_SESSION_HANDLE> {
        match self {
            Kind::Session(h) | Kind::Find(h) | Kind::Read(h) | Kind::Crypto(h, _) => Some(h),
            _ => None,
        }
    }
}

/// A crypto engine: held while a crypto call runs.
struct Gate {
    busy: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock() -= 1;
        self.0.freed.notify_one();
    }
}

/// Counts a call while it is inside the target.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) struct Shim {
    /// The target's function list, copied (its entries stay valid: `_lib` is never
    /// unloaded, the shim lives in a static).
    target: CK_FUNCTION_LIST,
    target_path: PathBuf,
    _lib: libloading::Library,
    /// What C_GetFunctionList hands out.
    list: CK_FUNCTION_LIST,
    control: Control,
    /// This shim's view: C_Initialize done and not finalised.
    initialized: AtomicBool,
    /// Sessions opened through this shim and still open: handle → slot. Only these
    /// reach the target: others (closed, lost when the node went down, or another
    /// shim's on a shared target, whose numbers the target reuses) answer
    /// CKR_SESSION_HANDLE_INVALID here.
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, CK_SLOT_ID>>,
    inflight: AtomicUsize,
    /// Operation calls passed to the target (`kmsbridge_faultshim_operations`).
    operations: AtomicU64,
    /// C_FindObjectsInit calls passed to the target (`kmsbridge_faultshim_finds`).
    finds: AtomicU64,
    /// C_GetAttributeValue calls passed to the target (`kmsbridge_faultshim_reads`).
    reads: AtomicU64,
    gate: Gate,
    rng: AtomicU64,
}

/// Runs an entry point: a panic becomes CKR_GENERAL_ERROR; `Err` and `Ok` both
/// carry the code to answer (`Err` only to allow `?`).
pub(crate) fn guard(f: impl FnOnce() -> Result<CK_RV, CK_RV>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(rv)) | Ok(Err(rv)) => rv,
        Err(_) => CKR_GENERAL_ERROR,
    }
}

/// The loaded shim; loads it on first use.
pub(crate) fn shim() -> Result<&'static Shim, CK_RV> {
    if let Some(s) = SHIM.get() {
        return Ok(s);
    }
    let _one = LOADING.lock();
    if let Some(s) = SHIM.get() {
        return Ok(s);
    }
    let s = Shim::load().map_err(|e| {
        eprintln!("kmsbridge-faultshim: {e}");
        CKR_GENERAL_ERROR
    })?;
    Ok(SHIM.get_or_init(|| s))
}

/// An address inside this library that no other library can stand in for: a private
/// static is reached PC-relative, never through the global symbol scope (an exported
/// function such as `C_GetFunctionList` is, and under GnuTLS's tools another library's
/// `C_GetFunctionList` comes first there).
static OWN_ADDRESS: u8 = 0;

/// The path this library was loaded from.
fn own_path() -> Option<PathBuf> {
    // SAFETY: Dl_info is plain data; all-zero is a valid value for it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = std::ptr::addr_of!(OWN_ADDRESS).cast::<c_void>();
    // SAFETY: dladdr only reads `addr` (an address in this library) and fills `info`.
    let ok = unsafe { libc::dladdr(addr, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the dynamic loader,
    // valid while this library stays loaded; it is copied at once.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
}

fn control_path() -> Option<PathBuf> {
    if let Some(dir) = own_path().as_deref().and_then(Path::parent) {
        let sibling = dir.join(SIBLING_CONTROL);
        if sibling.exists() {
            return Some(sibling);
        }
    }
    std::env::var_os("KMSBRIDGE_SHIM_CONTROL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// splitmix64: a well-mixed value from a counter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Shim {
    fn load() -> Result<Shim, String> {
        let (control, first) = Control::open(control_path());
        let target = match first.target {
            Some(t) => {
                let t = PathBuf::from(t);
                // A relative target is relative to the control file.
                match control.path().and_then(Path::parent) {
                    Some(dir) if t.is_relative() => dir.join(t),
                    _ => t,
                }
            }
            None => std::env::var_os("KMSBRIDGE_SHIM_TARGET")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| {
                    let from = control
                        .path()
                        .map(|p| format!("{} has no `target`", p.display()))
                        .unwrap_or_else(|| format!("no {SIBLING_CONTROL} beside the shim and no KMSBRIDGE_SHIM_CONTROL"));
                    format!("no target module: {from} and KMSBRIDGE_SHIM_TARGET is not set")
                })?,
        };
        let what = |e: String| format!("target {}: {e}", target.display());
        // SAFETY: loading a PKCS#11 module runs its initialisers; that is what the
        // control file asked for.
        let lib = unsafe { libloading::Library::new(&target) }.map_err(|e| what(e.to_string()))?;
        type GetList = unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV;
        // SAFETY: C_GetFunctionList has this signature in every PKCS#11 module.
        let get: libloading::Symbol<GetList> =
            unsafe { lib.get(b"C_GetFunctionList\0") }.map_err(|e| what(e.to_string()))?;
        let mut fl: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: `fl` is a valid out-pointer.
        let rv = unsafe { get(&mut fl) };
        if rv != CKR_OK || fl.is_null() {
            return Err(what(format!("C_GetFunctionList answered 0x{rv:x}")));
        }
        // SAFETY: the module returned a non-NULL pointer to its function list, valid
        // while the library is loaded; it is copied here and `lib` is kept for good.
        let target_list = unsafe { *fl };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let seed = now.map(|d| d.as_nanos() as u64).unwrap_or(0) ^ u64::from(std::process::id());
        Ok(Shim {
            list: entries::function_list(target_list.version),
            target: target_list,
            target_path: target,
            _lib: lib,
            control,
            initialized: AtomicBool::new(false),
            sessions: RwLock::new(HashMap::new()),
            inflight: AtomicUsize::new(0),
            operations: AtomicU64::new(0),
            finds: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            gate: Gate {
                busy: Mutex::new(0),
                freed: Condvar::new(),
            },
            rng: AtomicU64::new(mix(seed)),
        })
    }

    /// Held around the target's C_Initialize and C_Finalize: PKCS#11 libraries
    /// need not survive two of those at once, and shims sharing a target (separate
    /// copies, so no shared memory) would otherwise make them concurrently. It is
    /// flock(2) on the target file, which excludes every other open of the file,
    /// in this process too. Released when the returned file closes.
    fn target_lock(&self) -> Option<std::fs::File> {
        let f = std::fs::File::open(&self.target_path).ok()?;
        // SAFETY: flock on a descriptor owned by `f`, alive for the call.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        (rc == 0).then_some(f)
    }

    /// Looks at the control file (at most every 50 ms) and reacts to the node going down.
    fn refresh(&self) {
        if self.control.refresh() == Change::WentDown {
            self.went_down();
        }
    }

    /// The node went down: its open sessions are lost (they answer
    /// CKR_SESSION_HANDLE_INVALID from now on), and end on the target once the calls
    /// already inside it are done (bounded), as in a restarted HSM.
    fn went_down(&self) {
        let open: Vec<CK_SESSION_HANDLE> = std::mem::take(&mut *self.sessions.write())
            .into_keys()
            .collect();
        let until = Instant::now() + DRAIN;
        while self.inflight.load(Ordering::Acquire) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        if self.inflight.load(Ordering::Acquire) == 0 {
            self.close_on_target(open.into_iter());
        }
    }

    fn close_on_target(&self, handles: impl Iterator<Item = CK_SESSION_HANDLE>) {
        if let Some(close) = self.target.C_CloseSession {
            for h in handles {
                // SAFETY: a session handle the target gave out; closing it twice at
                // worst answers CKR_SESSION_HANDLE_INVALID.
                let _ = unsafe { close(h) };
            }
        }
    }

    fn wait_while_hung(&self) {
        while self.control.hang.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(10));
            self.refresh();
        }
    }

    fn owns(&self, h: CK_SESSION_HANDLE) -> bool {
        self.sessions.read().contains_key(&h)
    }

    fn track(&self, h: CK_SESSION_HANDLE, slot: CK_SLOT_ID) {
        self.sessions.write().insert(h, slot);
    }

    fn untrack(&self, h: CK_SESSION_HANDLE) {
        self.sessions.write().remove(&h);
    }

    fn untrack_slot(&self, slot: CK_SLOT_ID) {
        self.sessions.write().retain(|_, s| *s != slot);
    }

    /// Forgets every session (C_Finalize); returns their handles.
    fn untrack_all(&self) -> Vec<CK_SESSION_HANDLE> {
        std::mem::take(&mut *self.sessions.write())
            .into_keys()
            .collect()
    }

    /// True with probability `error_rate`.
    fn roll(&self) -> bool {
        let ppm = self.control.error_ppm.load(Ordering::Relaxed);
        if ppm == 0 {
            return false;
        }
        let n = self.rng.fetch_add(1, Ordering::Relaxed);
        mix(n) % 1_000_000 < u64::from(ppm)
    }

    /// Takes a crypto engine, waiting while all `capacity` are busy.
    fn engine(&self) -> Result<Permit<'_>, CK_RV> {
        let mut busy = self.gate.busy.lock();
        loop {
            let cap = self.control.capacity.load(Ordering::Relaxed);
            if cap == 0 || *busy < cap {
                *busy += 1;
                return Ok(Permit(&self.gate));
            }
            // Timed, so a raised capacity or a node going down is noticed.
            self.gate
                .freed
                .wait_for(&mut busy, Duration::from_millis(20));
            parking_lot::MutexGuard::unlocked(&mut busy, || self.refresh());
            if self.control.down.load(Ordering::Acquire) {
                return Err(CKR_DEVICE_REMOVED);
            }
        }
    }

    fn enter(&self, call: impl FnOnce() -> CK_RV) -> CK_RV {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        let _in = InFlight(&self.inflight);
        call()
    }

    /// The checks every call passes, then the call with its faults.
    pub(crate) fn run(&self, kind: Kind, call: impl FnOnce() -> CK_RV) -> Result<CK_RV, CK_RV> {
        if !self.initialized.load(Ordering::Acquire) {
            return Err(CKR_CRYPTOKI_NOT_INITIALIZED);
        }
        self.refresh();
        self.wait_while_hung();
        if self.control.down.load(Ordering::Acquire) {
            return Err(CKR_DEVICE_REMOVED);
        }
        if let Some(h) = kind.session() {
            if !self.owns(h) {
                return Err(CKR_SESSION_HANDLE_INVALID);
            }
        }
        let phase = match kind {
            Kind::Slot(slot) => {
                self.check_slot(slot)?;
                return Ok(self.enter(call));
            }
            Kind::Plain | Kind::Session(_) => return Ok(self.enter(call)),
            Kind::Find(_) => {
                self.finds.fetch_add(1, Ordering::AcqRel);
                return Ok(self.enter(call));
            }
            Kind::Read(_) => {
                self.reads.fetch_add(1, Ordering::AcqRel);
                return Ok(self.enter(call));
            }
            Kind::Crypto(_, phase) => phase,
        };
        if matches!(phase, Phase::Init | Phase::Key) && self.roll() {
            return Err(self.control.error_rv());
        }
        let _engine = self.engine()?;
        let latency = self.control.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            std::thread::sleep(Duration::from_millis(latency));
            // The node may have gone while the engine was busy.
            self.refresh();
            if self.control.down.load(Ordering::Acquire) {
                return Err(CKR_DEVICE_REMOVED);
            }
        }
        if !matches!(phase, Phase::Key) {
            self.operations.fetch_add(1, Ordering::AcqRel);
        }
        let rv = self.enter(call);
        if let Phase::End { query: false } = phase {
            if rv == CKR_OK && self.roll() {
                return Err(self.control.error_rv());
            }
        }
        Ok(rv)
    }

    /// The label of the token in `slot`, if the target reports one.
    fn slot_label(&self, slot: CK_SLOT_ID) -> Option<String> {
        let f = self.target.C_GetTokenInfo?;
        let mut info = CK_TOKEN_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_TOKEN_INFO.
        let rv = unsafe { f(slot, &mut info) };
        if rv != CKR_OK {
            return None;
        }
        let label = String::from_utf8_lossy(&info.label);
        Some(label.trim_end_matches([' ', '\0']).to_string())
    }

    /// With `token_label` set, a slot holding another token does not exist here.
    fn check_slot(&self, slot: CK_SLOT_ID) -> Result<(), CK_RV> {
        match self.control.label() {
            Some(want) if self.slot_label(slot).as_deref() != Some(want.as_str()) => {
                Err(CKR_SLOT_ID_INVALID)
            }
            _ => Ok(()),
        }
    }

    /// The target's slot list (the spec's two-call form).
    fn target_slots(&self, present: CK_BBOOL) -> Result<Vec<CK_SLOT_ID>, CK_RV> {
        let f = self
            .target
            .C_GetSlotList
            .ok_or(CKR_FUNCTION_NOT_SUPPORTED)?;
        loop {
            let mut n: CK_ULONG = 0;
            // SAFETY: NULL list = length query; `n` is a valid out-pointer.
            let rv = unsafe { f(present, std::ptr::null_mut(), &mut n) };
            if rv != CKR_OK {
                return Err(rv);
            }
            let mut slots = vec![0 as CK_SLOT_ID; n as usize];
            // SAFETY: `slots` has room for `n` entries, as `n` says.
            let rv = unsafe { f(present, slots.as_mut_ptr(), &mut n) };
            match rv {
                CKR_OK => {
                    slots.truncate(n as usize);
                    return Ok(slots);
                }
                CKR_BUFFER_TOO_SMALL => continue,
                rv => return Err(rv),
            }
        }
    }
}

/// How many operation calls this shim passed to its target since it was loaded: the
/// Init, Update, single-part and Final calls of encrypt, decrypt, sign and verify
/// (with their recover and dual forms) that got past the faults. What its node
/// served to callers, as opposed to key calls (generate, wrap, unwrap, derive) and
/// object calls (create, find, attributes, destroy), which a cluster's replication
/// and resync make too. 0 before the shim's first use. Counted before the call
/// enters the target, so a call is counted once the node is committed to serve it.
/// A test reaches it by `dlopen` of the same shim copy the module loaded
/// (`DIR/nodeK/libkmsbridge_faultshim.so`): one copy, one node, one count.
#[no_mangle]
pub extern "C" fn kmsbridge_faultshim_operations() -> u64 {
    SHIM.get()
        .map_or(0, |s| s.operations.load(Ordering::Acquire))
}

/// How many C_FindObjectsInit calls this shim passed to its target since it was
/// loaded: most tokens answer a find by scanning every object, so a test counts them
/// to see that steady use does not scan. Reached as `kmsbridge_faultshim_operations` is.
#[no_mangle]
pub extern "C" fn kmsbridge_faultshim_finds() -> u64 {
    SHIM.get().map_or(0, |s| s.finds.load(Ordering::Acquire))
}

/// How many C_GetAttributeValue calls this shim passed to its target since it was
/// loaded (a test counts what a reload reads). Reached as `kmsbridge_faultshim_operations` is.
#[no_mangle]
pub extern "C" fn kmsbridge_faultshim_reads() -> u64 {
    SHIM.get().map_or(0, |s| s.reads.load(Ordering::Acquire))
}

/// The one exported entry point besides those counts: the shim's function list, which forwards to the
/// target's. Loads the target on first use.
///
/// # Safety
///
/// `list` must be NULL or point to writable memory for one pointer.
#[no_mangle]
#[allow(non_snake_case)]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard(|| {
        if list.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let shim = shim()?;
        // SAFETY: `list` is non-NULL and writable (the caller's contract). The
        // list is never written through: PKCS#11 callers only read it.
        unsafe { *list = &shim.list as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST };
        Ok(CKR_OK)
    })
}
