//! 3DES (legacy): the cipher of CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD (the
//! modes are in block.rs), with two- (CKK_DES2) and three-key (CKK_DES3) keys. The
//! key schedules are made per operation: 3DES is kept for old applications, not for
//! speed.

use super::block::{BlockCipher, BlockMode};
use super::lc::Des3Key;
use super::prepared::Prepared;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::Mechanism;

/// 3DES for the block modes; CBC chains through the trait's per-block CBC.
pub struct Des3Cipher(Des3Key);

impl BlockCipher<8> for Des3Cipher {
    const ECB: CK_MECHANISM_TYPE = CKM_DES3_ECB;
    const CBC: CK_MECHANISM_TYPE = CKM_DES3_CBC;

    fn block(&self, encrypt: bool, b: &mut [u8; 8]) -> Result<()> {
        self.0.block(encrypt, b);
        Ok(())
    }
}

/// A 3DES ECB, CBC or CBC-PAD operation with `key`.
pub fn op(key: &Prepared, m: &Mechanism, encrypt: bool) -> Result<BlockMode<Des3Cipher, 8>> {
    BlockMode::new(m, encrypt, || {
        Des3Key::new(key.secret_value()?)
            .map(Des3Cipher)
            .map_err(|_| Error::rv(CKR_KEY_TYPE_INCONSISTENT, "3DES key length"))
    })
}
