//! EC keys on the NIST curves: construction, raw ECDSA over a caller's hash, ECDH.

use super::bn::{bn_padded, Bn};
use super::pkey::Pkey;
use super::{nonnull, ok, Fail, LcResult};
use aws_lc_sys as ffi;
use std::os::raw::c_int;
use std::ptr::{null, null_mut};
use zeroize::Zeroizing;

/// The NIST curves the engine offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn nid(self) -> c_int {
        match self {
            Curve::P256 => ffi::NID_X9_62_prime256v1,
            Curve::P384 => ffi::NID_secp384r1,
            Curve::P521 => ffi::NID_secp521r1,
        }
    }
    pub(super) fn from_nid(nid: c_int) -> Option<Curve> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.nid() == nid)
    }
    /// Bytes of a field element and of the group order (equal for these curves).
    pub fn len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// An EC key (private with its public point, or public only).
pub struct EcKey {
    pkey: Pkey,
    curve: Curve,
    private: bool,
}

struct Point(*mut ffi::EC_POINT);
impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: we own the point.
        unsafe { ffi::EC_POINT_free(self.0) }
    }
}

struct EcKeyPtr(*mut ffi::EC_KEY);
impl Drop for EcKeyPtr {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: we own this reference.
            unsafe { ffi::EC_KEY_free(self.0) }
        }
    }
}

impl EcKey {
    fn group(&self) -> *const ffi::EC_GROUP {
        // SAFETY: the key is live and always has a group.
        unsafe { ffi::EC_KEY_get0_group(self.key()) }
    }

    fn key(&self) -> *mut ffi::EC_KEY {
        // SAFETY: `pkey` holds an EC key (made in `finish`), owned by `pkey`.
        unsafe { ffi::EVP_PKEY_get0_EC_KEY(self.pkey.0) }
    }

    fn new_key(curve: Curve) -> LcResult<EcKeyPtr> {
        // SAFETY: returns a new key on a built-in curve, or NULL.
        nonnull(unsafe { ffi::EC_KEY_new_by_curve_name(curve.nid()) }).map(EcKeyPtr)
    }

    fn point(group: *const ffi::EC_GROUP, raw: &[u8]) -> LcResult<Point> {
        // SAFETY: `group` is live; a new point on it.
        let p = Point(nonnull(unsafe { ffi::EC_POINT_new(group) })?);
        // SAFETY: `raw` is readable; oct2point checks the encoding and that the point is on the curve.
        ok(unsafe { ffi::EC_POINT_oct2point(group, p.0, raw.as_ptr(), raw.len(), null_mut()) })?;
        Ok(p)
    }

    fn finish(mut k: EcKeyPtr, curve: Curve, private: bool) -> LcResult<EcKey> {
        // SAFETY: checks the key's consistency (point on curve, scalar matches).
        ok(unsafe { ffi::EC_KEY_check_key(k.0) })?;
        // SAFETY: a new, empty EVP_PKEY.
        let pkey = Pkey(nonnull(unsafe { ffi::EVP_PKEY_new() })?);
        // SAFETY: assign takes our reference on success.
        ok(unsafe { ffi::EVP_PKEY_assign_EC_KEY(pkey.0, k.0) })?;
        k.0 = null_mut();
        Ok(EcKey {
            pkey,
            curve,
            private,
        })
    }

    /// A private key from its scalar; the public point is computed.
    pub fn private(curve: Curve, scalar: &[u8]) -> LcResult<EcKey> {
        let k = EcKey::new_key(curve)?;
        let d = Bn::from_be(scalar)?;
        // SAFETY: `k` and `d` are live; set_private_key copies the scalar and checks its range.
        ok(unsafe { ffi::EC_KEY_set_private_key(k.0, d.ptr()) })?;
        // SAFETY: the key has its group.
        let group = unsafe { ffi::EC_KEY_get0_group(k.0) };
        // SAFETY: a new point on the key's group.
        let p = Point(nonnull(unsafe { ffi::EC_POINT_new(group) })?);
        // SAFETY: p = d·G; all pointers live.
        ok(unsafe { ffi::EC_POINT_mul(group, p.0, d.ptr(), null(), null(), null_mut()) })?;
        // SAFETY: set_public_key copies the point.
        ok(unsafe { ffi::EC_KEY_set_public_key(k.0, p.0) })?;
        EcKey::finish(k, curve, true)
    }

    /// A public key from an uncompressed (or compressed) point.
    pub fn public(curve: Curve, raw_point: &[u8]) -> LcResult<EcKey> {
        let k = EcKey::new_key(curve)?;
        // SAFETY: the key has its group.
        let group = unsafe { ffi::EC_KEY_get0_group(k.0) };
        let p = EcKey::point(group, raw_point)?;
        // SAFETY: set_public_key copies the point.
        ok(unsafe { ffi::EC_KEY_set_public_key(k.0, p.0) })?;
        EcKey::finish(k, curve, false)
    }

    pub fn generate(curve: Curve) -> LcResult<EcKey> {
        let k = EcKey::new_key(curve)?;
        // SAFETY: `k` is ours, with its group.
        ok(unsafe { ffi::EC_KEY_generate_key(k.0) })?;
        EcKey::finish(k, curve, true)
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }
    /// The private scalar as `curve.len()` bytes.
    pub fn scalar(&self) -> LcResult<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; self.curve.len()]);
        // SAFETY: the key is live; the scalar is borrowed for the copy below.
        let d = unsafe { ffi::EC_KEY_get0_private_key(self.key()) };
        bn_padded(d, &mut out)?;
        Ok(out)
    }

    /// The public point, uncompressed (04 || x || y).
    pub fn point_bytes(&self) -> LcResult<Vec<u8>> {
        let mut out = vec![0u8; 1 + 2 * self.curve.len()];
        // SAFETY: the key and its point are live; `out` is exactly the uncompressed size.
        let n = unsafe {
            ffi::EC_POINT_point2oct(
                self.group(),
                ffi::EC_KEY_get0_public_key(self.key()),
                ffi::point_conversion_form_t::POINT_CONVERSION_UNCOMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                null_mut(),
            )
        };
        if n != out.len() {
            return Err(Fail);
        }
        Ok(out)
    }

    /// ECDSA over `digest` (truncated per FIPS 186 by aws-lc): r || s, fixed width.
    pub fn sign(&self, digest: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let len = self.curve.len();
        if out.len() < 2 * len {
            return Err(Fail);
        }
        struct Sig(*mut ffi::ECDSA_SIG);
        impl Drop for Sig {
            fn drop(&mut self) {
                // SAFETY: we own the signature.
                unsafe { ffi::ECDSA_SIG_free(self.0) }
            }
        }
        // SAFETY: `digest` readable; the key is live and private.
        let sig = Sig(nonnull(unsafe {
            ffi::ECDSA_do_sign(digest.as_ptr(), digest.len(), self.key())
        })?);
        let (mut r, mut s) = (null(), null());
        // SAFETY: borrows r and s from the live signature.
        unsafe { ffi::ECDSA_SIG_get0(sig.0, &mut r, &mut s) };
        let (out_r, rest) = out.split_at_mut_checked(len).ok_or(Fail)?;
        bn_padded(r, out_r)?;
        bn_padded(s, rest.get_mut(..len).ok_or(Fail)?)?;
        Ok(2 * len)
    }

    pub fn verify(&self, digest: &[u8], sig: &[u8]) -> bool {
        let len = self.curve.len();
        if sig.len() != 2 * len {
            return false;
        }
        let (r, s) = sig.split_at(len);
        let (Ok(r), Ok(s)) = (Bn::from_be(r), Bn::from_be(s)) else {
            return false;
        };
        // SAFETY: a new, empty signature.
        let Ok(es) = nonnull(unsafe { ffi::ECDSA_SIG_new() }) else {
            return false;
        };
        let (r, s) = (
            std::mem::ManuallyDrop::new(r),
            std::mem::ManuallyDrop::new(s),
        );
        // SAFETY: set0 takes ownership of r and s (we no longer drop them).
        if ok(unsafe { ffi::ECDSA_SIG_set0(es, r.0, s.0) }).is_err() {
            // SAFETY: on failure r and s are still ours; free everything.
            unsafe {
                ffi::BN_free(r.0);
                ffi::BN_free(s.0);
                ffi::ECDSA_SIG_free(es);
            }
            return false;
        }
        // SAFETY: all pointers live.
        let good =
            ok(unsafe { ffi::ECDSA_do_verify(digest.as_ptr(), digest.len(), es, self.key()) });
        // SAFETY: we own the signature (with r and s).
        unsafe { ffi::ECDSA_SIG_free(es) };
        good.is_ok()
    }

    /// ECDH: the x coordinate of d·Q, `curve.len()` bytes.
    pub fn ecdh(&self, peer: &[u8]) -> LcResult<Zeroizing<Vec<u8>>> {
        let p = EcKey::point(self.group(), peer)?;
        let mut out = Zeroizing::new(vec![0u8; self.curve.len()]);
        // SAFETY: `out` writable for its length; the point and key are live; no KDF.
        let n = unsafe {
            ffi::ECDH_compute_key(
                out.as_mut_ptr() as *mut std::ffi::c_void,
                out.len(),
                p.0,
                self.key(),
                None,
            )
        };
        if n < 0 || n as usize != out.len() {
            // SAFETY: clears this thread's error queue.
            unsafe { ffi::ERR_clear_error() };
            return Err(Fail);
        }
        Ok(out)
    }

    pub fn to_pkcs8(&self) -> LcResult<Zeroizing<Vec<u8>>> {
        if !self.private {
            return Err(Fail);
        }
        self.pkey.to_pkcs8()
    }
}
