//! RSA keys from PKCS#11 components, raw RSA with PKCS#1 v1.5 or no padding, PSS and OAEP.

use super::bn::{bn_bytes, Bn};
use super::md::Md;
use super::pkey::Pkey;
use super::{nonnull, ok, Fail, LcResult};
use aws_lc_sys as ffi;
use std::os::raw::c_int;
use std::ptr::{null, null_mut};
use zeroize::Zeroizing;

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
    pub(super) fn wrap(rsa: *mut ffi::RSA, private: bool) -> LcResult<Rsa> {
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
