//! The conformance suite by specification section: table rows of argument checks and
//! mechanism-parameter validation, each with the code PKCS#11 prescribes (or the set it
//! allows). One test per section per target runs every row of its section on a fresh
//! session, prints one line per row, and fails naming every row that failed. Rows
//! SoftHSM2 answers differently carry a recorded deviation ([`crate::deviation`]) asserted
//! on the direct target only; nothing is skipped.
//!
//! `KMSBRIDGE_CONFORMANCE_REPORT=FILE` appends one line per row
//! (`target section id code pass|fail|notrun`) to FILE; `conformance_table FILE` (tests/src/bin) turns it into the
//! tables of docs/CONFORMANCE.md.

// The row helpers hand raw pointers straight to the module under test (deliberately bad
// ones included) and never dereference them themselves.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod common;
pub mod fixture;
pub mod m_aes;
pub mod m_ec;
pub mod m_hmac_des;
pub mod m_rsa;
pub mod s5_04_general;
pub mod s5_05_slot_token;
pub mod s5_06_session;
pub mod s5_07_object;
pub mod s5_08_encrypt;
pub mod s5_09_decrypt;
pub mod s5_10_digest;
pub mod s5_11_sign;
pub mod s5_12_verify;
pub mod s5_13_dual;
pub mod s5_14_keys;
pub mod s5_14_wrap;
pub mod s5_15_random;
pub mod s5_16_parallel;

use crate::deviation::Deviation;
use crate::env::{Env, Target};
use crate::raw::rv;
use cryptoki::error::Rv;
use cryptoki_sys::{CK_RV, CK_SESSION_HANDLE, CK_ULONG};
pub use fixture::Fx;
use std::io::Write;

/// Where a run appends its per-row results (see the module doc).
pub const REPORT: &str = "KMSBRIDGE_CONFORMANCE_REPORT";

/// Returned by a check whose call answered a code but got something else wrong (a length
/// not returned, an operation not ended): never a prescribed code, so the row fails.
pub const WRONG: CK_RV = cryptoki_sys::CKR_VENDOR_DEFINED | 0x5bad;

/// Recorded as a SoftHSM2 row's answer when the call ends the process inside SoftHSM2:
/// the direct target does not run the row (it reports it `notrun`), the others do.
pub const KILLS: CK_RV = cryptoki_sys::CKR_VENDOR_DEFINED | 0xdead;

/// A row's check: runs its calls on the fixture and a fresh R/W session of the logged-in
/// user, and answers the code under test (or [`WRONG`]).
pub type Check = Box<dyn Fn(&Fx, CK_SESSION_HANDLE) -> CK_RV>;

/// One case.
pub struct Row {
    /// `function/n`, stable within its section.
    pub id: String,
    /// What the row does wrong (or right).
    pub what: &'static str,
    /// The codes the spec prescribes; more than one when it allows a choice.
    pub expect: &'static [CK_RV],
    /// SoftHSM2's recorded answer where it differs, and the deviation that records it.
    pub softhsm: Option<(&'static Deviation, CK_RV)>,
    /// The calls.
    pub check: Check,
}

/// A section's rows, built in order; ids number the rows of each function.
#[derive(Default)]
pub struct Rows {
    /// The rows so far.
    pub v: Vec<Row>,
}

impl Rows {
    /// Adds a row for `func`.
    pub fn add(
        &mut self,
        func: &str,
        what: &'static str,
        expect: &'static [CK_RV],
        check: impl Fn(&Fx, CK_SESSION_HANDLE) -> CK_RV + 'static,
    ) -> &mut Self {
        let n = self.v.iter().filter(|r| r.id.starts_with(&format!("{func}/"))).count() + 1;
        self.v.push(Row {
            id: format!("{func}/{n}"),
            what,
            expect,
            softhsm: None,
            check: Box::new(check),
        });
        self
    }

    /// The row of `func` doing `what` is a recorded SoftHSM2 deviation answering `softhsm`.
    pub fn mark(&mut self, func: &str, what: &str, d: &'static Deviation, softhsm: CK_RV) {
        let prefix = format!("{func}/");
        let row = self.v.iter_mut().find(|x| x.id.starts_with(&prefix) && x.what == what);
        match row {
            Some(row) => row.softhsm = Some((d, softhsm)),
            None => panic!("no row {func} {what:?} to mark"),
        }
    }

    /// The last row added is a recorded SoftHSM2 deviation: it answers `softhsm`.
    pub fn dev(&mut self, d: &'static Deviation, softhsm: CK_RV) -> &mut Self {
        if let Some(r) = self.v.last_mut() {
            r.softhsm = Some((d, softhsm));
        }
        self
    }
}

/// One specification section.
pub struct Section {
    /// Section number in PKCS#11 3.0 (`5.8`) or a mechanism family (`M.aes`).
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
    /// Its rows.
    pub rows: fn() -> Rows,
}

/// Every section, in the order of the spec.
pub const SECTIONS: &[Section] = &[
    s5_04_general::SECTION,
    s5_05_slot_token::SECTION,
    s5_06_session::SECTION,
    s5_07_object::SECTION,
    s5_08_encrypt::SECTION,
    s5_09_decrypt::SECTION,
    s5_10_digest::SECTION,
    s5_11_sign::SECTION,
    s5_12_verify::SECTION,
    s5_13_dual::SECTION,
    s5_14_keys::SECTION,
    s5_15_random::SECTION,
    s5_16_parallel::SECTION,
    m_aes::SECTION,
    m_rsa::SECTION,
    m_ec::SECTION,
    m_hmac_des::SECTION,
];

/// A code's name (`CKR_ARGUMENTS_BAD`), or its number.
pub fn name(code: CK_RV) -> String {
    if code == WRONG {
        return "WRONG(see above)".into();
    }
    if code == KILLS {
        return "not run: ends the process".into();
    }
    let r: Rv = rv(code);
    match r {
        Rv::Ok => "CKR_OK".into(),
        Rv::Error(e) => format!("{e:?}"),
    }
}

/// Runs every row of `section` on `t`: prints a line per row, appends the report, and
/// fails naming every row whose answer is neither prescribed nor (on SoftHSM2 direct) the
/// recorded deviation.
pub fn run(t: &Env, section: &Section) {
    let mut fx = Fx::new(t);
    let rows = (section.rows)();
    let mut failed = Vec::new();
    let mut report = String::new();
    for row in &rows.v {
        let skip = t.target == Target::SoftHsm && matches!(row.softhsm, Some((_, KILLS)));
        let got = if skip {
            KILLS
        } else {
            let hs = fx.session();
            let got = (row.check)(&fx, hs);
            fx.close(hs);
            got
        };
        if fx.stale.get() {
            fx = Fx::new(t);
        }
        let pass = row.expect.contains(&got);
        let want: Vec<String> = row.expect.iter().map(|c| name(*c)).collect();
        let (ok, note) = match (t.target, row.softhsm) {
            (Target::SoftHsm, Some((d, sh))) => {
                let ok = got == sh;
                (ok, format!(" (recorded SoftHSM2 deviation {}: {})", d.id, name(sh)))
            }
            _ => (pass, String::new()),
        };
        let verdict = if ok { "ok  " } else { "FAIL" };
        eprintln!(
            "{verdict} {} {} {}: got {} want {}{note}",
            section.id,
            row.id,
            row.what,
            name(got),
            want.join("|")
        );
        if !ok {
            failed.push(format!("{} {} ({}): got {}", section.id, row.id, row.what, name(got)));
        }
        report.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            t.target.name(),
            section.id,
            row.id,
            name(got),
            if skip {
                "notrun"
            } else if pass {
                "pass"
            } else {
                "fail"
            }
        ));
    }
    if let Ok(path) = std::env::var(REPORT) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{REPORT}={path}: {e}"));
        f.write_all(report.as_bytes()).unwrap();
    }
    eprintln!(
        "section {} ({}): {} rows, {} failed",
        section.id,
        section.title,
        rows.v.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{} rows failed:\n{}", failed.len(), failed.join("\n"));
}

/// Calls a raw entry point like [`crate::ck!`] but answers the bare `CK_RV`.
#[macro_export]
macro_rules! p11 {
    ($env:expr, $func:ident $(, $arg:expr)* $(,)?) => {{
        let f = $env
            .raw
            .list()
            .$func
            .unwrap_or_else(|| panic!(concat!(stringify!($func), " is NULL in the function list")));
        #[allow(unused_unsafe, clippy::macro_metavars_in_unsafe)]
        // SAFETY: the row passes pointers valid for the call, or deliberately bad ones
        // the module must reject without touching.
        let code = unsafe { f($($arg),*) };
        code
    }};
}

/// Length helpers for raw calls.
pub fn ul(n: usize) -> CK_ULONG {
    n as CK_ULONG
}

/// Runs one section's rows as a test: `spec_suite!(name, target)` makes module `name`
/// with one test per section (`name::s5_08_encrypt`, ...).
#[macro_export]
macro_rules! spec_suite {
    ($module:ident, $target:expr) => {
        mod $module {
            $crate::spec_suite!(@tests $target;
                s5_04_general, s5_05_slot_token, s5_06_session, s5_07_object, s5_08_encrypt,
                s5_09_decrypt, s5_10_digest, s5_11_sign, s5_12_verify, s5_13_dual,
                s5_14_keys, s5_15_random, s5_16_parallel, m_aes, m_rsa, m_ec, m_hmac_des);
        }
    };
    (@tests $target:expr; $($section:ident),*) => {
        $(
            #[test]
            fn $section() {
                let env = $crate::Env::new($target);
                $crate::conformance::spec::run(&env, &$crate::conformance::spec::$section::SECTION);
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Row ids are unique in each section.
    #[test]
    fn rows_are_named_once() {
        let mut total = 0;
        for s in super::SECTIONS {
            let rows = (s.rows)();
            let mut ids: Vec<&str> = rows.v.iter().map(|r| r.id.as_str()).collect();
            eprintln!("section {}: {} rows", s.id, ids.len());
            total += ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), rows.v.len(), "section {}: duplicate row ids", s.id);
        }
        eprintln!("{total} rows");
    }
}
