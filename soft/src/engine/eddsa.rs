//! EdDSA (Ed25519, and Ed25519ctx / Ed25519ph when CK_EDDSA_PARAMS ask for them).

use super::lc::{self, EdMode};
use super::op::{put, sig_check, Collect, Mac};
use super::prepared::Prepared;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};
use std::sync::Arc;

/// The RFC 8032 variant a CKM_EDDSA mechanism asks for. No parameter, or phFlag
/// false with no context, is pure Ed25519.
pub fn mode(m: &Mechanism) -> Result<EdMode> {
    match &m.param {
        MechParam::None => Ok(EdMode::Pure),
        MechParam::Eddsa { ph: false, context } if context.is_empty() => Ok(EdMode::Pure),
        MechParam::Eddsa { ph, context } if context.len() <= 255 => Ok(if *ph {
            EdMode::Ph(context.clone())
        } else {
            EdMode::Ctx(context.clone())
        }),
        _ => Err(Error::rv(CKR_MECHANISM_PARAM_INVALID, "CK_EDDSA_PARAMS")),
    }
}

/// Ed25519 sign or verify over the whole message (single-part).
pub struct EddsaOp {
    key: Arc<Prepared>,
    mode: EdMode,
    data: Collect,
}

impl EddsaOp {
    pub fn new(key: Arc<Prepared>, m: &Mechanism) -> Result<EddsaOp> {
        key.ed()?;
        Ok(EddsaOp {
            key,
            mode: mode(m)?,
            data: Collect::default(),
        })
    }
}

impl Mac for EddsaOp {
    fn len(&self) -> usize {
        64
    }
    fn multipart(&self) -> bool {
        false
    }
    fn absorb(&mut self, data: &[u8]) -> Result<()> {
        self.data.push(data);
        Ok(())
    }
    fn sign(&mut self, out: &mut [u8]) -> Result<usize> {
        let msg = self.data.take();
        let (Some(private), _) = self.key.ed()? else {
            return Err(Error::rv(
                CKR_KEY_TYPE_INCONSISTENT,
                "EdDSA sign needs a private key",
            ));
        };
        let sig = lc::ed25519_sign(private, &msg, &self.mode)
            .map_err(|_| Error::rv(CKR_FUNCTION_FAILED, "Ed25519 sign"))?;
        put(out, &sig)
    }
    fn verify(&mut self, sig: &[u8]) -> Result<()> {
        let msg = self.data.take();
        if sig.len() != 64 {
            return Err(Error::rv(
                CKR_SIGNATURE_LEN_RANGE,
                "Ed25519 signature length",
            ));
        }
        let (_, public) = self.key.ed()?;
        sig_check(lc::ed25519_verify(public, &msg, sig, &self.mode))
    }
}
