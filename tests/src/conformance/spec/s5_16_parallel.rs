//! PKCS#11 3.0 section 5.16, parallel function management (legacy): C_GetFunctionStatus
//! and C_CancelFunction answer CKR_FUNCTION_NOT_PARALLEL.

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;

/// This section.
pub const SECTION: Section =
    Section { id: "5.16", title: "Parallel function management functions", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    r.add("C_GetFunctionStatus", "valid session", &[CKR_FUNCTION_NOT_PARALLEL], |f, hs| {
        p11!(f.t, C_GetFunctionStatus, hs)
    });
    r.add(
        "C_GetFunctionStatus",
        "session handle never opened",
        &[CKR_FUNCTION_NOT_PARALLEL, CKR_SESSION_HANDLE_INVALID],
        |f, _| p11!(f.t, C_GetFunctionStatus, BOGUS_SESSION),
    );
    r.add("C_CancelFunction", "valid session", &[CKR_FUNCTION_NOT_PARALLEL], |f, hs| {
        p11!(f.t, C_CancelFunction, hs)
    });
    r.add(
        "C_CancelFunction",
        "session handle never opened",
        &[CKR_FUNCTION_NOT_PARALLEL, CKR_SESSION_HANDLE_INVALID],
        |f, _| p11!(f.t, C_CancelFunction, BOGUS_SESSION),
    );
    r
}
