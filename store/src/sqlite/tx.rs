//! One SQLite write transaction as the store's [`Tx`].

use cryptoki_sys::CK_USER_TYPE;
use rusqlite::Transaction;

use super::{objects, token_rows};
use crate::objects::ObjectRow;
use crate::pins::PinSlot;
use crate::rows::Tx;
use crate::seal;
use crate::token::TokenRow;
use kmsbridge_bridge::{ObjectId, Result};

/// An open `BEGIN IMMEDIATE` transaction; `SqliteRows::write` commits or drops it.
pub(super) struct SqliteTx<'a>(pub(super) &'a Transaction<'a>);

impl Tx for SqliteTx<'_> {
    fn token(&mut self) -> Result<TokenRow> {
        token_rows::token_row(self.0)
    }
    fn slot(&mut self, user: CK_USER_TYPE) -> Result<Option<PinSlot>> {
        token_rows::get_slot(self.0, user)
    }
    fn put_slot(&mut self, slot: &PinSlot) -> Result<()> {
        token_rows::put_slot(self.0, slot)
    }
    fn count_failure(&mut self, user: CK_USER_TYPE) -> Result<()> {
        token_rows::count_failure(self.0, user)
    }
    fn clear_failures(&mut self, user: CK_USER_TYPE) -> Result<()> {
        token_rows::clear_failures(self.0, user)
    }
    fn start_over(&mut self, label: &str, token_uid: &[u8; seal::UID_LEN]) -> Result<()> {
        token_rows::start_over(self.0, label, token_uid)
    }
    fn set_user_pin_initialized(&mut self) -> Result<()> {
        token_rows::set_user_pin_initialized(self.0)
    }
    fn object(&mut self, id: ObjectId) -> Result<Option<ObjectRow>> {
        objects::get_row(self.0, id)
    }
    fn insert_object(&mut self, row: &ObjectRow) -> Result<ObjectId> {
        objects::insert_row(self.0, row)
    }
    fn replace_object(&mut self, id: ObjectId, row: &ObjectRow) -> Result<()> {
        objects::replace_row(self.0, id, row)
    }
    fn delete_object(&mut self, id: ObjectId) -> Result<bool> {
        objects::delete_row(self.0, id)
    }
}
