//! PIN slots (the DEK sealed under a PIN-derived key), the rules a PIN must meet, and
//! the unlocked [`Dek`]: the PIN crypto every store shares (stores keep the slots as rows).

use cryptoki_sys::{CKU_SO, CKU_USER, CK_USER_TYPE};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::seal;
use kmsbridge_bridge::{Error, Result};

/// PBKDF2-HMAC-SHA256 iterations for new slots.
pub const KDF_ITERATIONS: u32 = 210_000;
/// Fewest iterations a stored slot may claim (a tampered count is refused, not used).
const MIN_ITERATIONS: u32 = 100_000;
/// Most iterations a stored slot may claim (bounds the work a tampered slot can cost).
const MAX_ITERATIONS: u32 = 10_000_000;
const SALT_LEN: usize = 16;

/// Shortest PIN accepted as a new PIN, in bytes.
pub const MIN_PIN_LEN: usize = 4;
/// Longest PIN accepted as a new PIN, in bytes.
pub const MAX_PIN_LEN: usize = 255;

/// The KEK of a PIN.
fn kek(pin: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; seal::KEY_LEN]> {
    let mut k = Zeroizing::new([0u8; seal::KEY_LEN]);
    pbkdf2::pbkdf2_hmac::<Sha256>(pin, salt, iterations, &mut k[..]);
    k
}

/// One role's PIN slot, as a store keeps it: the DEK sealed under the KEK of that
/// role's PIN. Bytes only; made and opened here.
#[derive(Clone)]
pub struct PinSlot {
    /// `CKU_SO` or `CKU_USER`.
    pub user: CK_USER_TYPE,
    /// The PBKDF2 salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count this slot was made with.
    pub iterations: u32,
    /// `AES-256-GCM(KEK, DEK)`, nonce and tag included.
    pub wrapped: Vec<u8>,
}

impl PinSlot {
    /// Seal `dek` for `user` under `pin` (fresh salt). Slow: call outside transactions.
    pub(crate) fn make(
        token_uid: &[u8; seal::UID_LEN],
        user: CK_USER_TYPE,
        pin: &[u8],
        dek: &[u8; seal::KEY_LEN],
    ) -> Result<PinSlot> {
        let mut salt = vec![0u8; SALT_LEN];
        seal::random(&mut salt)?;
        let kek = kek(pin, &salt, KDF_ITERATIONS);
        let aad = seal::slot_aad(token_uid, user, KDF_ITERATIONS, &salt);
        let wrapped = seal::seal(&kek, &aad, dek)?;
        Ok(PinSlot {
            user,
            salt,
            iterations: KDF_ITERATIONS,
            wrapped,
        })
    }

    /// The DEK if `pin` is this slot's PIN. Slow: call outside transactions.
    pub(crate) fn unlock(
        &self,
        token_uid: &[u8; seal::UID_LEN],
        pin: &[u8],
    ) -> Result<Option<Dek>> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&self.iterations) {
            tracing::error!(
                user = self.user,
                iterations = self.iterations,
                "store: PIN slot has an implausible KDF count"
            );
            return Err(Error::rv(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: PIN slot malformed",
            ));
        }
        let kek = kek(pin, &self.salt, self.iterations);
        let aad = seal::slot_aad(token_uid, self.user, self.iterations, &self.salt);
        let Some(plain) = seal::open(&kek, &aad, &self.wrapped) else {
            return Ok(None);
        };
        let mut key = Zeroizing::new([0u8; seal::KEY_LEN]);
        if plain.len() != key.len() {
            return Err(Error::rv(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: PIN slot malformed",
            ));
        }
        key.copy_from_slice(&plain);
        Ok(Some(Dek {
            key,
            token_uid: *token_uid,
            role: self.user,
        }))
    }
}

/// The unlocked master key of a token, as `login` returns it. Never written in clear;
/// zeroized on drop. Valid until the token is re-initialised (by any process).
#[derive(Clone)]
pub struct Dek {
    pub(crate) key: Zeroizing<[u8; seal::KEY_LEN]>,
    pub(crate) token_uid: [u8; seal::UID_LEN],
    pub(crate) role: CK_USER_TYPE,
}

impl Dek {
    /// The role whose PIN unlocked it (`CKU_SO` or `CKU_USER`).
    pub fn role(&self) -> CK_USER_TYPE {
        self.role
    }
}

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dek(role {}, ..)", self.role)
    }
}

/// Check that a new PIN has an acceptable length.
pub(crate) fn check_pin_len(pin: &[u8]) -> Result<()> {
    if (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) {
        Ok(())
    } else {
        Err(Error::rv(
            cryptoki_sys::CKR_PIN_LEN_RANGE,
            "store: PIN length",
        ))
    }
}

/// Check that `user` is a role with a PIN here.
pub(crate) fn check_role(user: CK_USER_TYPE) -> Result<()> {
    if user == CKU_SO || user == CKU_USER {
        Ok(())
    } else {
        Err(Error::rv(
            cryptoki_sys::CKR_USER_TYPE_INVALID,
            "store: user type",
        ))
    }
}
