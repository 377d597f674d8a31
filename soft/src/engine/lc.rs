//! The aws-lc (libcrypto) calls the engine needs beyond aws-lc-rs's safe API, each
//! wrapped once here: raw RSA (CKM_RSA_PKCS over a caller's DigestInfo, CKM_RSA_X_509,
//! PSS with any salt and MGF), raw ECDSA over a caller's hash, ECDH, Ed25519ctx/ph,
//! key construction from PKCS#11 components, PKCS#8, AES block primitives, and GCM
//! with any IV and tag length. Every `unsafe` block of the engine lives in this file.
//!
//! Thread safety: aws-lc documents `RSA`, `EC_KEY`, `EVP_PKEY` and `EVP_AEAD_CTX`
//! as safe to use from several threads at once for the operations used here (their
//! lazily built caches — Montgomery contexts, blinding — are locked per key
//! internally); aws-lc-rs relies on the same guarantee for its `Sync` key types.

use aws_lc_sys as ffi;
use std::os::raw::c_int;
use std::ptr::{null, null_mut};
use zeroize::{Zeroize, Zeroizing};

/// A libcrypto call failed; the caller chooses the PKCS#11 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fail;

pub type LcResult<T> = std::result::Result<T, Fail>;

fn ok(rc: c_int) -> LcResult<()> {
    if rc == 1 {
        Ok(())
    } else {
        // SAFETY: clears this thread's error queue; no pointers involved.
        unsafe { ffi::ERR_clear_error() };
        Err(Fail)
    }
}

fn nonnull<T>(p: *mut T) -> LcResult<*mut T> {
    if p.is_null() {
        // SAFETY: as above.
        unsafe { ffi::ERR_clear_error() };
        Err(Fail)
    } else {
        Ok(p)
    }
}

/// Fill `out` from aws-lc's CTR-DRBG, seeded from the OS.
pub fn random(out: &mut [u8]) -> LcResult<()> {
    aws_lc_rs::rand::fill(out).map_err(|_| Fail)
}

// ---------------------------------------------------------------------------
// Big numbers

/// An owned BIGNUM, cleared on drop.
struct Bn(*mut ffi::BIGNUM);

impl Bn {
    fn from_be(b: &[u8]) -> LcResult<Bn> {
        // SAFETY: `b` is a valid slice for its length; NULL `ret` asks for a new BIGNUM.
        let p = unsafe { ffi::BN_bin2bn(b.as_ptr(), b.len(), null_mut()) };
        nonnull(p).map(Bn)
    }
    fn ptr(&self) -> *const ffi::BIGNUM {
        self.0
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own the BIGNUM; BN_clear_free zeroes it before freeing.
        unsafe { ffi::BN_clear_free(self.0) }
    }
}

/// The minimal big-endian bytes of a borrowed BIGNUM (empty for NULL).
fn bn_bytes(p: *const ffi::BIGNUM) -> Zeroizing<Vec<u8>> {
    if p.is_null() {
        return Zeroizing::new(Vec::new());
    }
    // SAFETY: `p` is a live BIGNUM owned by the key that lent it.
    let n = unsafe { ffi::BN_num_bytes(p) } as usize;
    let mut out = Zeroizing::new(vec![0u8; n]);
    // SAFETY: `out` holds BN_num_bytes bytes, what BN_bn2bin writes.
    let w = unsafe { ffi::BN_bn2bin(p, out.as_mut_ptr()) };
    out.truncate(w);
    out
}

/// A borrowed BIGNUM as exactly `len` big-endian bytes.
fn bn_padded(p: *const ffi::BIGNUM, out: &mut [u8]) -> LcResult<()> {
    if p.is_null() {
        return Err(Fail);
    }
    // SAFETY: `out` is writable for its length; `p` is live.
    ok(unsafe { ffi::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), p) })
}

// ---------------------------------------------------------------------------
// Hashes as libcrypto names them

/// A hash for PSS, OAEP and MGF1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Md {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Md {
    fn ptr(self) -> *const ffi::EVP_MD {
        // SAFETY: these return pointers to static, immutable method tables.
        unsafe {
            match self {
                Md::Sha1 => ffi::EVP_sha1(),
                Md::Sha224 => ffi::EVP_sha224(),
                Md::Sha256 => ffi::EVP_sha256(),
                Md::Sha384 => ffi::EVP_sha384(),
                Md::Sha512 => ffi::EVP_sha512(),
            }
        }
    }
    pub fn len(self) -> usize {
        match self {
            Md::Sha1 => 20,
            Md::Sha224 => 28,
            Md::Sha256 => 32,
            Md::Sha384 => 48,
            Md::Sha512 => 64,
        }
    }
}

// ---------------------------------------------------------------------------
// EVP_PKEY

/// An owned EVP_PKEY holding an RSA, EC or Ed25519 key.
struct Pkey(*mut ffi::EVP_PKEY);

// SAFETY: an EVP_PKEY is reference counted and its keys are safe for concurrent use
// by the operations this module performs (see the module documentation).
unsafe impl Send for Pkey {}
// SAFETY: as above.
unsafe impl Sync for Pkey {}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { ffi::EVP_PKEY_free(self.0) }
    }
}

impl Pkey {
    fn to_pkcs8(&self) -> LcResult<Zeroizing<Vec<u8>>> {
        // SAFETY: a zeroed CBB is the documented "empty" state CBB_init expects.
        let mut cbb: ffi::CBB = unsafe { std::mem::zeroed() };
        // SAFETY: `cbb` is a valid CBB; 0 = default capacity.
        ok(unsafe { ffi::CBB_init(&mut cbb, 0) })?;
        // SAFETY: `cbb` was initialised; `self.0` is a live key.
        if let Err(e) = ok(unsafe { ffi::EVP_marshal_private_key(&mut cbb, self.0) }) {
            // SAFETY: releases the CBB's buffer (cleansed by aws-lc's free).
            unsafe { ffi::CBB_cleanup(&mut cbb) };
            return Err(e);
        }
        let mut data: *mut u8 = null_mut();
        let mut len: usize = 0;
        // SAFETY: on success CBB_finish hands us a buffer we must OPENSSL_free.
        if let Err(e) = ok(unsafe { ffi::CBB_finish(&mut cbb, &mut data, &mut len) }) {
            // SAFETY: as above.
            unsafe { ffi::CBB_cleanup(&mut cbb) };
            return Err(e);
        }
        // SAFETY: `data` holds `len` bytes written by CBB_finish.
        let out = Zeroizing::new(unsafe { std::slice::from_raw_parts(data, len) }.to_vec());
        // SAFETY: aws-lc's OPENSSL_free cleanses the buffer before freeing it.
        unsafe { ffi::OPENSSL_free(data as *mut std::ffi::c_void) };
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// RSA

/// RSA key components, big-endian, as PKCS#11 attributes hold them.
#[derive(Default, Clone)]
pub struct RsaParts {
    pub n: Zeroizing<Vec<u8>>,
    pub e: Zeroizing<Vec<u8>>,
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub dp: Zeroizing<Vec<u8>>,
    pub dq: Zeroizing<Vec<u8>>,
    pub qinv: Zeroizing<Vec<u8>>,
}

/// An RSA key ready for use (public, or private with its CRT values).
pub struct Rsa {
    pkey: Pkey,
    size: usize,
    private: bool,
}

/// The padding of a raw RSA call.
#[derive(Clone, Copy, Debug)]
pub enum Pad {
    /// PKCS#1 v1.5 (type 1 for signatures, type 2 for encryption).
    Pkcs1,
    /// None: the input is a whole modulus-sized integer (CKM_RSA_X_509).
    None,
}

impl Pad {
    fn code(self) -> c_int {
        match self {
            Pad::Pkcs1 => ffi::RSA_PKCS1_PADDING,
            Pad::None => ffi::RSA_NO_PADDING,
        }
    }
}

impl Rsa {
    fn wrap(rsa: *mut ffi::RSA, private: bool) -> LcResult<Rsa> {
        let rsa = nonnull(rsa)?;
        // SAFETY: creates an empty EVP_PKEY.
        let pkey = match nonnull(unsafe { ffi::EVP_PKEY_new() }) {
            Ok(p) => Pkey(p),
            Err(e) => {
                // SAFETY: we own `rsa`.
                unsafe { ffi::RSA_free(rsa) };
                return Err(e);
            }
        };
        // SAFETY: assign takes over our reference to `rsa` on success.
        if let Err(e) = ok(unsafe { ffi::EVP_PKEY_assign_RSA(pkey.0, rsa) }) {
            // SAFETY: on failure `rsa` is still ours.
            unsafe { ffi::RSA_free(rsa) };
            return Err(e);
        }
        // SAFETY: `rsa` is live inside `pkey`.
        let size = unsafe { ffi::RSA_size(rsa) } as usize;
        Ok(Rsa {
            pkey,
            size,
            private,
        })
    }

    fn rsa(&self) -> *mut ffi::RSA {
        // SAFETY: `pkey` holds an RSA key (made in `wrap`), owned by `pkey`.
        unsafe { ffi::EVP_PKEY_get0_RSA(self.pkey.0) }
    }

    pub fn public(n: &[u8], e: &[u8]) -> LcResult<Rsa> {
        let (n, e) = (Bn::from_be(n)?, Bn::from_be(e)?);
        // SAFETY: the BIGNUMs are live; the function copies them and checks the key.
        Rsa::wrap(unsafe { ffi::RSA_new_public_key(n.ptr(), e.ptr()) }, false)
    }

    /// A private key from its components; CRT values when all five are present.
    pub fn private(c: &RsaParts) -> LcResult<Rsa> {
        let (n, e, d) = (Bn::from_be(&c.n)?, Bn::from_be(&c.e)?, Bn::from_be(&c.d)?);
        let crt = [&c.p, &c.q, &c.dp, &c.dq, &c.qinv];
        let rsa = if crt.iter().all(|v| !v.is_empty()) {
            let p = Bn::from_be(&c.p)?;
            let q = Bn::from_be(&c.q)?;
            let dp = Bn::from_be(&c.dp)?;
            let dq = Bn::from_be(&c.dq)?;
            let qi = Bn::from_be(&c.qinv)?;
            // SAFETY: every BIGNUM is live; the function copies them and checks the key.
            unsafe {
                ffi::RSA_new_private_key(
                    n.ptr(),
                    e.ptr(),
                    d.ptr(),
                    p.ptr(),
                    q.ptr(),
                    dp.ptr(),
                    dq.ptr(),
                    qi.ptr(),
                )
            }
        } else {
            // SAFETY: as above.
            unsafe { ffi::RSA_new_private_key_no_crt(n.ptr(), e.ptr(), d.ptr()) }
        };
        Rsa::wrap(rsa, true)
    }

    /// A new key pair of `bits` with public exponent `e`.
    pub fn generate(bits: usize, e: &[u8]) -> LcResult<Rsa> {
        let e = Bn::from_be(e)?;
        // SAFETY: a new, empty RSA.
        let rsa = nonnull(unsafe { ffi::RSA_new() })?;
        let bits = c_int::try_from(bits).map_err(|_| Fail)?;
        // SAFETY: `rsa` is ours and empty; `e` is live; no callback.
        if let Err(f) = ok(unsafe { ffi::RSA_generate_key_ex(rsa, bits, e.ptr(), null_mut()) }) {
            // SAFETY: we own `rsa`.
            unsafe { ffi::RSA_free(rsa) };
            return Err(f);
        }
        Rsa::wrap(rsa, true)
    }

    pub fn size(&self) -> usize {
        self.size
    }
    pub fn is_private(&self) -> bool {
        self.private
    }

    pub fn parts(&self) -> RsaParts {
        let rsa = self.rsa();
        let (mut n, mut e, mut d) = (null(), null(), null());
        let (mut p, mut q) = (null(), null());
        let (mut dp, mut dq, mut qi) = (null(), null(), null());
        // SAFETY: `rsa` is live; the getters store borrowed pointers (or NULL).
        unsafe {
            ffi::RSA_get0_key(rsa, &mut n, &mut e, &mut d);
            ffi::RSA_get0_factors(rsa, &mut p, &mut q);
            ffi::RSA_get0_crt_params(rsa, &mut dp, &mut dq, &mut qi);
        }
        RsaParts {
            n: bn_bytes(n),
            e: bn_bytes(e),
            d: bn_bytes(d),
            p: bn_bytes(p),
            q: bn_bytes(q),
            dp: bn_bytes(dp),
            dq: bn_bytes(dq),
            qinv: bn_bytes(qi),
        }
    }

    /// RSA private-key operation with PKCS#1 type 1 or no padding (blinded).
    pub fn sign_raw(&self, pad: Pad, input: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: `out` is writable for its length, `input` readable for its length.
        ok(unsafe {
            ffi::RSA_sign_raw(
                self.rsa(),
                &mut n,
                out.as_mut_ptr(),
                out.len(),
                input.as_ptr(),
                input.len(),
                pad.code(),
            )
        })?;
        Ok(n)
    }

    /// RSA public-key operation, removing PKCS#1 type 1 or no padding.
    pub fn verify_raw(&self, pad: Pad, sig: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: as in `sign_raw`.
        ok(unsafe {
            ffi::RSA_verify_raw(
                self.rsa(),
                &mut n,
                out.as_mut_ptr(),
                out.len(),
                sig.as_ptr(),
                sig.len(),
                pad.code(),
            )
        })?;
        Ok(n)
    }

    pub fn encrypt(&self, pad: Pad, input: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: as in `sign_raw`.
        ok(unsafe {
            ffi::RSA_encrypt(
                self.rsa(),
                &mut n,
                out.as_mut_ptr(),
                out.len(),
                input.as_ptr(),
                input.len(),
                pad.code(),
            )
        })?;
        Ok(n)
    }

    /// Private-key decryption; aws-lc checks PKCS#1 type 2 padding in constant time.
    pub fn decrypt(&self, pad: Pad, input: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: as in `sign_raw`.
        ok(unsafe {
            ffi::RSA_decrypt(
                self.rsa(),
                &mut n,
                out.as_mut_ptr(),
                out.len(),
                input.as_ptr(),
                input.len(),
                pad.code(),
            )
        })?;
        Ok(n)
    }

    pub fn sign_pss(
        &self,
        digest: &[u8],
        md: Md,
        mgf: Md,
        salt: usize,
        out: &mut [u8],
    ) -> LcResult<usize> {
        let salt = c_int::try_from(salt).map_err(|_| Fail)?;
        let mut n = 0usize;
        // SAFETY: as in `sign_raw`; the EVP_MDs are static.
        ok(unsafe {
            ffi::RSA_sign_pss_mgf1(
                self.rsa(),
                &mut n,
                out.as_mut_ptr(),
                out.len(),
                digest.as_ptr(),
                digest.len(),
                md.ptr(),
                mgf.ptr(),
                salt,
            )
        })?;
        Ok(n)
    }

    pub fn verify_pss(&self, digest: &[u8], md: Md, mgf: Md, salt: usize, sig: &[u8]) -> bool {
        let Ok(salt) = c_int::try_from(salt) else {
            return false;
        };
        // SAFETY: as in `sign_pss`.
        ok(unsafe {
            ffi::RSA_verify_pss_mgf1(
                self.rsa(),
                digest.as_ptr(),
                digest.len(),
                md.ptr(),
                mgf.ptr(),
                salt,
                sig.as_ptr(),
                sig.len(),
            )
        })
        .is_ok()
    }

    /// RSA-OAEP through EVP_PKEY (aws-lc decodes in constant time).
    pub fn oaep(
        &self,
        decrypt: bool,
        md: Md,
        mgf: Md,
        label: &[u8],
        input: &[u8],
        out: &mut [u8],
    ) -> LcResult<usize> {
        struct Ctx(*mut ffi::EVP_PKEY_CTX);
        impl Drop for Ctx {
            fn drop(&mut self) {
                // SAFETY: we own the context.
                unsafe { ffi::EVP_PKEY_CTX_free(self.0) }
            }
        }
        // SAFETY: `pkey` is live; the context takes its own reference.
        let ctx = Ctx(nonnull(unsafe {
            ffi::EVP_PKEY_CTX_new(self.pkey.0, null_mut())
        })?);
        // SAFETY: `ctx` is live for every call below.
        unsafe {
            if decrypt {
                ok(ffi::EVP_PKEY_decrypt_init(ctx.0))?;
            } else {
                ok(ffi::EVP_PKEY_encrypt_init(ctx.0))?;
            }
            ok(ffi::EVP_PKEY_CTX_set_rsa_padding(
                ctx.0,
                ffi::RSA_PKCS1_OAEP_PADDING,
            ))?;
            ok(ffi::EVP_PKEY_CTX_set_rsa_oaep_md(ctx.0, md.ptr()))?;
            ok(ffi::EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.0, mgf.ptr()))?;
        }
        if !label.is_empty() {
            // SAFETY: the context takes ownership of an OPENSSL_malloc'd label.
            unsafe {
                let l = nonnull(ffi::OPENSSL_malloc(label.len()) as *mut u8)?;
                std::ptr::copy_nonoverlapping(label.as_ptr(), l, label.len());
                if let Err(e) = ok(ffi::EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.0, l, label.len())) {
                    ffi::OPENSSL_free(l as *mut std::ffi::c_void);
                    return Err(e);
                }
            }
        }
        let mut n = out.len();
        // SAFETY: `out` is writable for `n` bytes; `input` readable for its length.
        ok(unsafe {
            if decrypt {
                ffi::EVP_PKEY_decrypt(ctx.0, out.as_mut_ptr(), &mut n, input.as_ptr(), input.len())
            } else {
                ffi::EVP_PKEY_encrypt(ctx.0, out.as_mut_ptr(), &mut n, input.as_ptr(), input.len())
            }
        })?;
        Ok(n)
    }

    pub fn to_pkcs8(&self) -> LcResult<Zeroizing<Vec<u8>>> {
        if !self.private {
            return Err(Fail);
        }
        self.pkey.to_pkcs8()
    }
}

// ---------------------------------------------------------------------------
// EC (NIST curves)

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
    fn from_nid(nid: c_int) -> Option<Curve> {
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
        bn_padded(r, &mut out[..len])?;
        bn_padded(s, &mut out[len..2 * len])?;
        Ok(2 * len)
    }

    pub fn verify(&self, digest: &[u8], sig: &[u8]) -> bool {
        let len = self.curve.len();
        if sig.len() != 2 * len {
            return false;
        }
        let (Ok(r), Ok(s)) = (Bn::from_be(&sig[..len]), Bn::from_be(&sig[len..])) else {
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

// ---------------------------------------------------------------------------
// Ed25519

/// A new Ed25519 seed (the PKCS#11 private CKA_VALUE) and its public key.
pub fn ed25519_generate() -> LcResult<(Zeroizing<[u8; 32]>, [u8; 32])> {
    let mut seed = Zeroizing::new([0u8; 32]);
    random(&mut seed[..])?;
    let (_, public) = ed25519_expand(&seed);
    Ok((seed, public))
}

/// The 64-byte signing key (seed || public) and the public key of a seed.
pub fn ed25519_expand(seed: &[u8; 32]) -> (Zeroizing<[u8; 64]>, [u8; 32]) {
    let mut private = Zeroizing::new([0u8; 64]);
    let mut public = [0u8; 32];
    // SAFETY: the buffers are exactly the sizes the function writes and reads.
    unsafe {
        ffi::ED25519_keypair_from_seed(public.as_mut_ptr(), private.as_mut_ptr(), seed.as_ptr())
    };
    (private, public)
}

/// Ed25519 variants of RFC 8032.
#[derive(Clone, Debug)]
pub enum EdMode {
    Pure,
    Ctx(Vec<u8>),
    Ph(Vec<u8>),
}

pub fn ed25519_sign(private: &[u8; 64], msg: &[u8], mode: &EdMode) -> LcResult<[u8; 64]> {
    let mut sig = [0u8; 64];
    // SAFETY: `sig` is 64 bytes, `private` 64 bytes, `msg`/context readable.
    let rc = unsafe {
        match mode {
            EdMode::Pure => {
                ffi::ED25519_sign(sig.as_mut_ptr(), msg.as_ptr(), msg.len(), private.as_ptr())
            }
            EdMode::Ctx(c) => ffi::ED25519ctx_sign(
                sig.as_mut_ptr(),
                msg.as_ptr(),
                msg.len(),
                private.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
            EdMode::Ph(c) => ffi::ED25519ph_sign(
                sig.as_mut_ptr(),
                msg.as_ptr(),
                msg.len(),
                private.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
        }
    };
    ok(rc)?;
    Ok(sig)
}

pub fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8], mode: &EdMode) -> bool {
    if sig.len() != 64 {
        return false;
    }
    // SAFETY: `sig` is 64 bytes, `public` 32 bytes, `msg`/context readable.
    let rc = unsafe {
        match mode {
            EdMode::Pure => {
                ffi::ED25519_verify(msg.as_ptr(), msg.len(), sig.as_ptr(), public.as_ptr())
            }
            EdMode::Ctx(c) => ffi::ED25519ctx_verify(
                msg.as_ptr(),
                msg.len(),
                sig.as_ptr(),
                public.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
            EdMode::Ph(c) => ffi::ED25519ph_verify(
                msg.as_ptr(),
                msg.len(),
                sig.as_ptr(),
                public.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
        }
    };
    ok(rc).is_ok()
}

pub fn ed25519_pkcs8(seed: &[u8; 32]) -> LcResult<Zeroizing<Vec<u8>>> {
    // SAFETY: `seed` is 32 readable bytes.
    let p = nonnull(unsafe {
        ffi::EVP_PKEY_new_raw_private_key(ffi::EVP_PKEY_ED25519, null_mut(), seed.as_ptr(), 32)
    })?;
    Pkey(p).to_pkcs8()
}

// ---------------------------------------------------------------------------
// PKCS#8

/// A private key read from PKCS#8.
pub enum Pkcs8Key {
    Rsa(Rsa),
    Ec(EcKey),
    Ed25519(Zeroizing<[u8; 32]>),
}

/// Parse a PKCS#8 PrivateKeyInfo. Trailing zero bytes (block padding left by some
/// RFC 5649 implementations) are ignored; anything else after the DER is refused.
pub fn parse_pkcs8(der: &[u8]) -> LcResult<Pkcs8Key> {
    // SAFETY: a CBS is a (pointer, length) view; zeroed is a valid empty one.
    let mut cbs: ffi::CBS = unsafe { std::mem::zeroed() };
    // SAFETY: `der` outlives `cbs`'s use in this function.
    unsafe { ffi::CBS_init(&mut cbs, der.as_ptr(), der.len()) };
    // SAFETY: parses from the CBS; returns a new key or NULL.
    let pkey = Pkey(nonnull(unsafe { ffi::EVP_parse_private_key(&mut cbs) })?);
    // SAFETY: reads the CBS's remaining view, within `der`.
    let rest = unsafe { std::slice::from_raw_parts(cbs.data, cbs.len) };
    if rest.iter().any(|&b| b != 0) {
        return Err(Fail);
    }
    // SAFETY: `pkey` is live.
    match unsafe { ffi::EVP_PKEY_id(pkey.0) } {
        ffi::EVP_PKEY_RSA => {
            // SAFETY: an RSA key; get1 gives us a reference of our own.
            let rsa = unsafe { ffi::EVP_PKEY_get1_RSA(pkey.0) };
            let rsa = Rsa::wrap(rsa, true)?;
            // Rebuild from components so that the key is checked like a created one.
            let parts = rsa.parts();
            if parts.d.is_empty() {
                return Err(Fail);
            }
            Ok(Pkcs8Key::Rsa(Rsa::private(&parts)?))
        }
        ffi::EVP_PKEY_EC => {
            // SAFETY: an EC key, borrowed from `pkey`.
            let ec = unsafe { ffi::EVP_PKEY_get0_EC_KEY(pkey.0) };
            // SAFETY: `ec` is live and has a group.
            let nid = unsafe { ffi::EC_GROUP_get_curve_name(ffi::EC_KEY_get0_group(ec)) };
            let curve = Curve::from_nid(nid).ok_or(Fail)?;
            let mut d = Zeroizing::new(vec![0u8; curve.len()]);
            // SAFETY: the scalar is borrowed from the live key.
            bn_padded(unsafe { ffi::EC_KEY_get0_private_key(ec) }, &mut d)?;
            Ok(Pkcs8Key::Ec(EcKey::private(curve, &d)?))
        }
        ffi::EVP_PKEY_ED25519 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            let mut len = 32usize;
            // SAFETY: `seed` is writable for `len` bytes.
            ok(unsafe { ffi::EVP_PKEY_get_raw_private_key(pkey.0, seed.as_mut_ptr(), &mut len) })?;
            if len != 32 {
                return Err(Fail);
            }
            Ok(Pkcs8Key::Ed25519(seed))
        }
        _ => Err(Fail),
    }
}

// ---------------------------------------------------------------------------
// AES

/// An expanded AES key (encryption and decryption schedules), zeroized on drop.
pub struct AesKey {
    enc: ffi::AES_KEY,
    dec: ffi::AES_KEY,
}

impl Drop for AesKey {
    fn drop(&mut self) {
        self.enc.rd_key.zeroize();
        self.dec.rd_key.zeroize();
    }
}

impl AesKey {
    pub fn new(key: &[u8]) -> LcResult<AesKey> {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(Fail);
        }
        // SAFETY: AES_KEY is plain data (round keys and a count); all-zero is valid.
        let zero: ffi::AES_KEY = unsafe { std::mem::zeroed() };
        let mut k = AesKey {
            enc: zero,
            dec: zero,
        };
        let bits = (key.len() * 8) as std::os::raw::c_uint;
        // SAFETY: `key` holds bits/8 bytes; the schedules are writable.
        unsafe {
            if ffi::AES_set_encrypt_key(key.as_ptr(), bits, &mut k.enc) != 0
                || ffi::AES_set_decrypt_key(key.as_ptr(), bits, &mut k.dec) != 0
            {
                return Err(Fail);
            }
        }
        Ok(k)
    }

    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        let input = *block;
        // SAFETY: both are 16-byte blocks; the schedule is live.
        unsafe { ffi::AES_encrypt(input.as_ptr(), block.as_mut_ptr(), &self.enc) }
    }

    pub fn decrypt_block(&self, block: &mut [u8; 16]) {
        let input = *block;
        // SAFETY: as above.
        unsafe { ffi::AES_decrypt(input.as_ptr(), block.as_mut_ptr(), &self.dec) }
    }

    /// CBC over whole blocks; `iv` carries the chaining value across calls.
    /// `out` must be at least as long as `input`, which is a multiple of 16.
    pub fn cbc(&self, encrypt: bool, input: &[u8], out: &mut [u8], iv: &mut [u8; 16]) {
        debug_assert!(input.len().is_multiple_of(16) && out.len() >= input.len());
        if input.is_empty() || out.len() < input.len() {
            return;
        }
        let (key, enc) = if encrypt {
            (&self.enc, ffi::AES_ENCRYPT as c_int)
        } else {
            (&self.dec, ffi::AES_DECRYPT as c_int)
        };
        // SAFETY: `out` has room for `input.len()` bytes (checked); `iv` is 16 bytes.
        unsafe {
            ffi::AES_cbc_encrypt(
                input.as_ptr(),
                out.as_mut_ptr(),
                input.len() - input.len() % 16,
                key,
                iv.as_mut_ptr(),
                enc,
            )
        }
    }

    /// CTR with a 128-bit big-endian counter; state carries partial blocks across calls.
    pub fn ctr(&self, input: &[u8], out: &mut [u8], st: &mut CtrState) {
        if input.is_empty() || out.len() < input.len() {
            return;
        }
        // SAFETY: `out` has room for `input.len()` bytes (checked); the state arrays are 16 bytes.
        unsafe {
            ffi::AES_ctr128_encrypt(
                input.as_ptr(),
                out.as_mut_ptr(),
                input.len(),
                &self.enc,
                st.counter.as_mut_ptr(),
                st.keystream.as_mut_ptr(),
                &mut st.used,
            )
        }
    }
}

/// The running state of CTR mode.
pub struct CtrState {
    pub counter: [u8; 16],
    keystream: [u8; 16],
    used: std::os::raw::c_uint,
}

impl CtrState {
    pub fn new(counter: [u8; 16]) -> CtrState {
        CtrState {
            counter,
            keystream: [0; 16],
            used: 0,
        }
    }
}

impl Drop for CtrState {
    fn drop(&mut self) {
        self.keystream.zeroize();
    }
}

/// AES-GCM with a fixed tag length, any IV length.
pub struct Gcm(*mut ffi::EVP_AEAD_CTX);

// SAFETY: seal/open take a const context and keep their state on the stack.
unsafe impl Send for Gcm {}
// SAFETY: as above.
unsafe impl Sync for Gcm {}

impl Drop for Gcm {
    fn drop(&mut self) {
        // SAFETY: we own the context; aws-lc cleanses it on free.
        unsafe { ffi::EVP_AEAD_CTX_free(self.0) }
    }
}

impl Gcm {
    pub fn new(key: &[u8], tag_len: usize) -> LcResult<Gcm> {
        if tag_len == 0 || tag_len > 16 {
            return Err(Fail);
        }
        // SAFETY: returns a static method table for the key length, or NULL.
        let aead = unsafe {
            match key.len() {
                16 => ffi::EVP_aead_aes_128_gcm(),
                24 => ffi::EVP_aead_aes_192_gcm(),
                32 => ffi::EVP_aead_aes_256_gcm(),
                _ => return Err(Fail),
            }
        };
        // SAFETY: `key` readable for its length; a new context or NULL.
        nonnull(unsafe { ffi::EVP_AEAD_CTX_new(aead, key.as_ptr(), key.len(), tag_len) }).map(Gcm)
    }

    /// Ciphertext || tag into `out` (at least input + tag long).
    pub fn seal(&self, iv: &[u8], aad: &[u8], input: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: every buffer is valid for the length passed with it.
        ok(unsafe {
            ffi::EVP_AEAD_CTX_seal(
                self.0,
                out.as_mut_ptr(),
                &mut n,
                out.len(),
                iv.as_ptr(),
                iv.len(),
                input.as_ptr(),
                input.len(),
                aad.as_ptr(),
                aad.len(),
            )
        })?;
        Ok(n)
    }

    /// Plaintext of ciphertext || tag, after the tag checks (constant time in aws-lc).
    pub fn open(&self, iv: &[u8], aad: &[u8], input: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: every buffer is valid for the length passed with it.
        ok(unsafe {
            ffi::EVP_AEAD_CTX_open(
                self.0,
                out.as_mut_ptr(),
                &mut n,
                out.len(),
                iv.as_ptr(),
                iv.len(),
                input.as_ptr(),
                input.len(),
                aad.as_ptr(),
                aad.len(),
            )
        })?;
        Ok(n)
    }
}
