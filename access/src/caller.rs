//! Who is asking: the facts about the calling process that conditions are checked against.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::SystemTime;

/// The calling process, gathered once (at login) and checked on every call.
/// Anything that could not be learned is left empty, so a condition on it fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Real user id.
    pub uid: u32,
    /// Real primary group id.
    pub gid: u32,
    /// Supplementary group ids (the primary one may or may not be repeated here).
    pub groups: Vec<u32>,
    /// The name of `uid`, when the user database has it.
    pub user_name: Option<String>,
    /// The names of `gid` and `groups` that the group database has.
    pub group_names: Vec<String>,
    /// The process's executable.
    pub exe: Option<PathBuf>,
    /// Every address of the host's network interfaces.
    pub addresses: Vec<IpAddr>,
    /// When the request is made.
    pub now: SystemTime,
}

impl Caller {
    /// A caller with only ids and the current time; fill the other fields as needed.
    pub fn new(uid: u32, gid: u32) -> Caller {
        Caller {
            uid,
            gid,
            groups: Vec::new(),
            user_name: None,
            group_names: Vec::new(),
            exe: None,
            addresses: Vec::new(),
            now: SystemTime::now(),
        }
    }

    /// Gathers this process's real user and groups, executable and host addresses.
    pub fn of_this_process() -> Caller {
        // SAFETY: getuid and getgid cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let groups = supplementary_groups();
        let mut group_names = Vec::new();
        for g in std::iter::once(gid).chain(groups.iter().copied()) {
            if let Some(name) = group_name(g) {
                if !group_names.contains(&name) {
                    group_names.push(name);
                }
            }
        }
        Caller {
            uid,
            gid,
            groups,
            user_name: user_name(uid),
            group_names,
            exe: std::fs::read_link("/proc/self/exe").ok(),
            addresses: host_addresses(),
            now: SystemTime::now(),
        }
    }

    /// Whether `gid` is the primary group or one of the supplementary ones.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

fn supplementary_groups() -> Vec<u32> {
    // The set can change between the two calls; retry a few times with the new size.
    for _ in 0..4 {
        // SAFETY: a zero size with a null list only asks for the count.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        let Ok(len) = usize::try_from(n) else {
            return Vec::new();
        };
        let mut list: Vec<libc::gid_t> = vec![0; len];
        // SAFETY: `list` has room for exactly `n` entries, the size we pass.
        let got = unsafe { libc::getgroups(n, list.as_mut_ptr()) };
        if let Ok(got) = usize::try_from(got) {
            list.truncate(got);
            return list;
        }
    }
    Vec::new()
}

/// Runs a reentrant `get*_r` lookup, growing the buffer on ERANGE. `call` gets the buffer
/// and returns (the function's return code, whether a record was found, the name if so).
fn lookup(
    mut call: impl FnMut(&mut [libc::c_char]) -> (libc::c_int, Option<String>),
) -> Option<String> {
    let mut size = 1024usize;
    while size <= 1 << 20 {
        let mut buf: Vec<libc::c_char> = vec![0; size];
        match call(&mut buf) {
            (0, found) => return found,
            (libc::ERANGE, _) => size *= 4,
            _ => return None,
        }
    }
    None
}

fn user_name(uid: u32) -> Option<String> {
    lookup(|buf| {
        // SAFETY: an all-zero passwd is a valid value (null pointers, zero ids).
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is to a live local or to `buf` with its true length;
        // getpwuid_r writes strings only inside `buf`.
        let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
        if rc != 0 || out.is_null() || pw.pw_name.is_null() {
            return (rc, None);
        }
        // SAFETY: on success pw_name points to a NUL-terminated string inside `buf`,
        // which outlives this borrow.
        let name = unsafe { CStr::from_ptr(pw.pw_name) };
        (0, Some(name.to_string_lossy().into_owned()))
    })
}

fn group_name(gid: u32) -> Option<String> {
    lookup(|buf| {
        // SAFETY: an all-zero group is a valid value (null pointers, zero ids).
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as for getpwuid_r: live locals and `buf` with its true length.
        let rc = unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buf.len(), &mut out) };
        if rc != 0 || out.is_null() || gr.gr_name.is_null() {
            return (rc, None);
        }
        // SAFETY: on success gr_name points to a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(gr.gr_name) };
        (0, Some(name.to_string_lossy().into_owned()))
    })
}

fn host_addresses() -> Vec<IpAddr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs only writes the list head through the pointer we pass.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list getifaddrs built, not yet freed.
        let ifa = unsafe { &*cur };
        if let Some(addr) = sockaddr_ip(ifa.ifa_addr) {
            if !found.contains(&addr) {
                found.push(addr);
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once, after the walk.
    unsafe { libc::freeifaddrs(head) };
    found
}

fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: a non-null ifa_addr points to a sockaddr whose family field is valid.
    let family = i32::from(unsafe { (*sa).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: for AF_INET the kernel stores a full sockaddr_in; read unaligned to
            // assume nothing about the buffer's alignment.
            let sin = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: for AF_INET6 the kernel stores a full sockaddr_in6.
            let sin6 = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_seen_as_it_is() {
        let c = Caller::of_this_process();
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!(c.uid, uid);
        assert_eq!(c.gid, gid);
        assert!(c.in_group(gid));
        assert_eq!(c.exe, Some(std::env::current_exe().unwrap()));
        assert!(
            c.addresses.iter().any(|a| a.is_loopback()),
            "the loopback interface is up: {:?}",
            c.addresses
        );
        let age = c.now.elapsed().unwrap();
        assert!(age.as_secs() < 60);
    }

    #[test]
    fn names_match_the_databases() {
        let c = Caller::of_this_process();
        if c.uid == 0 {
            assert_eq!(c.user_name.as_deref(), Some("root"));
            assert!(c.group_names.iter().any(|g| g == "root"));
        } else {
            assert!(c.user_name.is_some());
        }
    }

    #[test]
    fn plain_constructor() {
        let c = Caller::new(1000, 100);
        assert_eq!((c.uid, c.gid), (1000, 100));
        assert!(c.in_group(100));
        assert!(!c.in_group(101));
        assert!(c.exe.is_none() && c.addresses.is_empty());
    }
}
