//! The instance as the KMS model's operations see it: its token and the key records
//! kept on it.

use super::registry::Registry;
use super::token::Token;

pub(crate) trait Host: Token {
    /// The instance's key records as this process last read them.
    fn kms(&self) -> &Registry;
}
