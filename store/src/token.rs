//! Token state: initialisation, label, wrong-PIN counters and the flags they imply.

use crate::seal;
use cryptoki_sys::{CKU_SO, CK_FLAGS, CK_USER_TYPE};

/// The token as every process sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub initialized: bool,
    pub label: String,
    pub user_pin_initialized: bool,
    /// Wrong user PINs since the last correct one.
    pub user_failures: u32,
    /// Wrong SO PINs since the last correct one.
    pub so_failures: u32,
    /// The count at which a PIN locks.
    pub max_failures: u32,
    /// 16 hex digits, random, fixed when the store was made (kept across re-init).
    pub serial: String,
}

impl TokenInfo {
    /// The CK_TOKEN_INFO flags this state implies: `CKF_TOKEN_INITIALIZED`,
    /// `CKF_USER_PIN_INITIALIZED` and the `CKF_{USER,SO}_PIN_{COUNT_LOW,FINAL_TRY,LOCKED}`
    /// family. The provider adds the flags that do not depend on the store.
    pub fn flags(&self) -> CK_FLAGS {
        use cryptoki_sys::*;
        let mut f = 0;
        if self.initialized {
            f |= CKF_TOKEN_INITIALIZED;
        }
        if self.user_pin_initialized {
            f |= CKF_USER_PIN_INITIALIZED;
        }
        f |= pin_flags(
            self.user_failures,
            self.max_failures,
            [
                CKF_USER_PIN_COUNT_LOW,
                CKF_USER_PIN_FINAL_TRY,
                CKF_USER_PIN_LOCKED,
            ],
        );
        f |= pin_flags(
            self.so_failures,
            self.max_failures,
            [
                CKF_SO_PIN_COUNT_LOW,
                CKF_SO_PIN_FINAL_TRY,
                CKF_SO_PIN_LOCKED,
            ],
        );
        f
    }

    /// Whether this role's PIN is locked.
    pub fn locked(&self, user: CK_USER_TYPE) -> bool {
        self.failures(user) >= self.max_failures
    }

    pub(crate) fn failures(&self, user: CK_USER_TYPE) -> u32 {
        if user == CKU_SO {
            self.so_failures
        } else {
            self.user_failures
        }
    }
}

/// PKCS#11: COUNT_LOW once a wrong PIN was entered since the last right one; FINAL_TRY
/// when one more wrong PIN locks it; LOCKED when locked (the other two then clear).
fn pin_flags(failures: u32, max: u32, [low, final_try, locked]: [CK_FLAGS; 3]) -> CK_FLAGS {
    if failures >= max {
        locked
    } else if failures + 1 == max {
        final_try | if failures > 0 { low } else { 0 }
    } else if failures > 0 {
        low
    } else {
        0
    }
}

/// The token row as a store keeps it.
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// What every process sees of the token.
    pub info: TokenInfo,
    /// The token generation, renewed by every `C_InitToken` and bound into every seal.
    pub token_uid: [u8; seal::UID_LEN],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_counters() {
        use cryptoki_sys::*;
        let mut t = TokenInfo {
            initialized: true,
            label: String::new(),
            user_pin_initialized: true,
            user_failures: 0,
            so_failures: 0,
            max_failures: 10,
            serial: String::new(),
        };
        assert_eq!(t.flags(), CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED);
        t.user_failures = 1;
        assert_ne!(t.flags() & CKF_USER_PIN_COUNT_LOW, 0);
        t.user_failures = 9;
        assert_ne!(t.flags() & CKF_USER_PIN_FINAL_TRY, 0);
        assert_ne!(t.flags() & CKF_USER_PIN_COUNT_LOW, 0);
        t.user_failures = 10;
        assert_eq!(
            t.flags() & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW),
            CKF_USER_PIN_LOCKED
        );
        assert!(t.locked(CKU_USER));
        assert!(!t.locked(CKU_SO));
        t.so_failures = 3;
        assert_ne!(t.flags() & CKF_SO_PIN_COUNT_LOW, 0);
    }
}
