//! PKCS#11 3.0 section 5.15, random number generation: C_SeedRandom, C_GenerateRandom.

use super::fixture::*;
use super::{Rows, Section};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "5.15", title: "Random number generation functions", rows };

fn rows() -> Rows {
    let mut r = Rows::default();
    let sr = "C_SeedRandom";
    r.add(sr, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_SeedRandom, BOGUS_SESSION, [1u8; 8].as_ptr() as *mut u8, 8)
    });
    r.add(
        sr,
        "NULL seed with a length",
        &[CKR_ARGUMENTS_BAD, CKR_RANDOM_SEED_NOT_SUPPORTED],
        |f, hs| p11!(f.t, C_SeedRandom, hs, null_mut(), 8),
    );
    r.add(sr, "8 bytes of seed", &[CKR_OK, CKR_RANDOM_SEED_NOT_SUPPORTED], |f, hs| {
        p11!(f.t, C_SeedRandom, hs, [1u8; 8].as_ptr() as *mut u8, 8)
    });
    let gr = "C_GenerateRandom";
    r.add(gr, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let mut b = [0u8; 16];
        p11!(f.t, C_GenerateRandom, BOGUS_SESSION, b.as_mut_ptr(), 16)
    });
    r.add(gr, "session handle 0", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let mut b = [0u8; 16];
        p11!(f.t, C_GenerateRandom, 0, b.as_mut_ptr(), 16)
    });
    r.add(gr, "NULL buffer with a length", &[CKR_ARGUMENTS_BAD], |f, hs| {
        p11!(f.t, C_GenerateRandom, hs, null_mut(), 16)
    });
    r.add(gr, "0 bytes", &[CKR_OK], |f, hs| {
        let mut b = [0u8; 1];
        p11!(f.t, C_GenerateRandom, hs, b.as_mut_ptr(), 0)
    });
    r.add(gr, "32 bytes, not all zero", &[CKR_OK], |f, hs| {
        let mut b = [0u8; 32];
        let code = p11!(f.t, C_GenerateRandom, hs, b.as_mut_ptr(), 32);
        if b == [0u8; 32] {
            return super::WRONG;
        }
        code
    });
    r.add(gr, "on a read-only session", &[CKR_OK], |f, _| {
        f.with_ro(|ro| {
            let mut b = [0u8; 16];
            p11!(f.t, C_GenerateRandom, ro, b.as_mut_ptr(), 16)
        })
    });
    r.add(gr, "logged out", &[CKR_OK], |f, hs| {
        f.logged_out(hs, || {
            let mut b = [0u8; 16];
            p11!(f.t, C_GenerateRandom, hs, b.as_mut_ptr(), 16)
        })
    });
    r
}
