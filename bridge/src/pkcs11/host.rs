//! The application's thread as a backend call found it (docs/HOST_PROCESS.md): errors
//! a vendor library leaves on the thread's OpenSSL error queue are popped, and a
//! SIGPIPE its I/O raises (a p11-kit client writing to a dead server) is consumed
//! instead of killing the process. Every call into a vendor library passes through
//! [`around`], from `Library`.

use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

/// libcrypto's error-mark functions, when libcrypto is in the process.
struct ErrQueue {
    set_mark: unsafe extern "C" fn() -> c_int,
    pop_to_mark: unsafe extern "C" fn() -> c_int,
    clear: unsafe extern "C" fn(),
}

/// Found once, never freed (the library is pinned with `RTLD_NODELETE`); NULL while
/// libcrypto has not been seen. The hot path is one load of this.
static ERR_QUEUE: AtomicPtr<ErrQueue> = AtomicPtr::new(std::ptr::null_mut());

/// Looks for libcrypto if not found yet: cheap once found, a few `dlsym`s otherwise,
/// so called where a library may have brought it in (load, `C_Initialize`), never per
/// call. True when it was found by this call: errors already on this thread's queue
/// came with it, since nothing could put them there before.
pub(crate) fn find_libcrypto() -> bool {
    if !ERR_QUEUE.load(Ordering::Acquire).is_null() {
        return false;
    }
    let Some(q) = resolve() else { return false };
    let q = Box::into_raw(Box::new(q));
    match ERR_QUEUE.compare_exchange(std::ptr::null_mut(), q, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => true,
        Err(_) => {
            // SAFETY: `q` came from Box::into_raw above and was not published.
            drop(unsafe { Box::from_raw(q) });
            false
        }
    }
}

/// Empties this thread's OpenSSL error queue (libcrypto just appeared: see
/// `find_libcrypto`).
pub(crate) fn clear_errors() {
    if let Some(q) = err_queue() {
        // SAFETY: ERR_clear_error takes no arguments and touches this thread's queue.
        unsafe { (q.clear)() };
    }
}

fn err_queue() -> Option<&'static ErrQueue> {
    // SAFETY: a non-NULL pointer was published from a leaked Box and is never freed.
    unsafe { ERR_QUEUE.load(Ordering::Acquire).as_ref() }
}

/// `f`, a call into a vendor library, with the thread's error queue and signal
/// state kept as they were.
#[inline]
pub(crate) fn around<R>(f: impl FnOnce() -> R) -> R {
    let q = err_queue();
    if let Some(q) = q {
        // SAFETY: ERR_set_mark takes no arguments; on an empty queue it sets no mark
        // and ERR_pop_to_mark then empties it, as wanted.
        unsafe { (q.set_mark)() };
    }
    let pipe = PipeGuard::block();
    let r = f();
    drop(pipe);
    if let Some(q) = q {
        // SAFETY: as above; pops what the call added, down to our mark.
        unsafe { (q.pop_to_mark)() };
    }
    r
}

/// SIGPIPE blocked on this thread for one call; on drop a SIGPIPE the call raised
/// is consumed and the previous mask restored.
struct PipeGuard {
    old: libc::sigset_t,
    /// A SIGPIPE was pending already: the application's, left alone.
    pending_before: bool,
}

fn pipe_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; SIGPIPE is a valid signal number.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

fn pipe_pending() -> bool {
    // SAFETY: sigset_t is plain data, filled by sigpending.
    let mut p: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is a valid out-pointer.
    unsafe { libc::sigpending(&mut p) == 0 && libc::sigismember(&p, libc::SIGPIPE) == 1 }
}

impl PipeGuard {
    fn block() -> Option<PipeGuard> {
        let set = pipe_set();
        // SAFETY: sigset_t is plain data, filled by pthread_sigmask.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid set and out-pointer; changes this thread's mask only.
        if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) } != 0 {
            return None;
        }
        // Unblocked before, a SIGPIPE could not be pending on this thread: skip a
        // syscall on the usual path.
        // SAFETY: `old` was filled by pthread_sigmask.
        let was_blocked = unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
        Some(PipeGuard {
            old,
            pending_before: was_blocked && pipe_pending(),
        })
    }
}

impl Drop for PipeGuard {
    fn drop(&mut self) {
        if !self.pending_before && pipe_pending() {
            let set = pipe_set();
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid set and timeout; SIGPIPE is blocked, so this takes the
            // pending one without waiting.
            unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
        }
        // SAFETY: restores the mask read in `block`, on the same thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// libcrypto's mark functions: from the global scope (the application links it), else
/// a libcrypto already loaded privately (a vendor library's dependency). The library
/// is pinned (`RTLD_NODELETE`) so the pointers stay valid.
fn resolve() -> Option<ErrQueue> {
    const NAMES: [&CStr; 2] = [c"libcrypto.so.3", c"libcrypto.so.1.1"];
    let flags = libc::RTLD_LAZY | libc::RTLD_NOLOAD | libc::RTLD_NODELETE;
    // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches the global scope.
    let global = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"ERR_set_mark".as_ptr()) };
    if !global.is_null() {
        // SAFETY: Dl_info is plain data, filled by dladdr.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: `global` is an address in a loaded object; `info` a valid out-pointer.
        if unsafe { libc::dladdr(global, &mut info) } != 0 && !info.dli_fname.is_null() {
            // SAFETY: dli_fname names a loaded object; NOLOAD loads nothing new. A
            // failure (the main program) leaves it unpinned, which it needs not be.
            let h = unsafe { libc::dlopen(info.dli_fname, flags) };
            if let Some(q) = (!h.is_null()).then(|| functions(h)).flatten() {
                return Some(q);
            }
        }
        return functions(libc::RTLD_DEFAULT);
    }
    NAMES.iter().find_map(|name| {
        // SAFETY: NUL-terminated name; NOLOAD only finds a library already loaded.
        let h = unsafe { libc::dlopen(name.as_ptr(), flags) };
        (!h.is_null()).then(|| functions(h)).flatten()
    })
}

/// The three functions in `h`: a handle from dlopen, or RTLD_DEFAULT (NULL on glibc).
fn functions(h: *mut c_void) -> Option<ErrQueue> {
    let sym = |name: &CStr| {
        // SAFETY: `h` is a handle from dlopen or RTLD_DEFAULT; the name is NUL-terminated.
        let p = unsafe { libc::dlsym(h, name.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    let set_mark = sym(c"ERR_set_mark")?;
    let pop_to_mark = sym(c"ERR_pop_to_mark")?;
    let clear = sym(c"ERR_clear_error")?;
    // SAFETY: these are OpenSSL's (1.1.1 and 3) `int ERR_set_mark(void)`,
    // `int ERR_pop_to_mark(void)` and `void ERR_clear_error(void)`.
    unsafe {
        Some(ErrQueue {
            set_mark: std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(set_mark),
            pop_to_mark: std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(
                pop_to_mark,
            ),
            clear: std::mem::transmute::<*mut c_void, unsafe extern "C" fn()>(clear),
        })
    }
}
