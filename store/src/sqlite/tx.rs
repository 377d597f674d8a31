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

/// An open `BEGIN IMMEDIATE` transaction; `SqliteRows::write` commits or drops it,
/// logging what it touched.
pub(super) struct SqliteTx<'a> {
    pub(super) tx: &'a Transaction<'a>,
    /// Objects inserted, replaced or deleted, for the change log.
    pub(super) touched: Vec<ObjectId>,
    /// The token started over: every cache must reload.
    pub(super) everything: bool,
}

impl Tx for SqliteTx<'_> {
    fn token(&mut self) -> Result<TokenRow> {
        token_rows::token_row(self.tx)
    }
    fn slot(&mut self, user: CK_USER_TYPE) -> Result<Option<PinSlot>> {
        token_rows::get_slot(self.tx, user)
    }
    fn put_slot(&mut self, slot: &PinSlot) -> Result<()> {
        token_rows::put_slot(self.tx, slot)
    }
    fn count_failure(&mut self, user: CK_USER_TYPE) -> Result<()> {
        token_rows::count_failure(self.tx, user)
    }
    fn clear_failures(&mut self, user: CK_USER_TYPE) -> Result<()> {
        token_rows::clear_failures(self.tx, user)
    }
    fn start_over(&mut self, label: &str, token_uid: &[u8; seal::UID_LEN]) -> Result<()> {
        self.everything = true;
        token_rows::start_over(self.tx, label, token_uid)
    }
    fn set_user_pin_initialized(&mut self) -> Result<()> {
        token_rows::set_user_pin_initialized(self.tx)
    }
    fn object(&mut self, id: ObjectId) -> Result<Option<ObjectRow>> {
        objects::get_row(self.tx, id)
    }
    fn insert_object(&mut self, row: &ObjectRow) -> Result<ObjectId> {
        let id = objects::insert_row(self.tx, row)?;
        self.touched.push(id);
        Ok(id)
    }
    fn replace_object(&mut self, id: ObjectId, row: &ObjectRow) -> Result<()> {
        self.touched.push(id);
        objects::replace_row(self.tx, id, row)
    }
    fn delete_object(&mut self, id: ObjectId) -> Result<bool> {
        self.touched.push(id);
        objects::delete_row(self.tx, id)
    }
    fn set_terms(&mut self, id: ObjectId, terms: &[(u64, Vec<u8>)]) -> Result<()> {
        // Not logged: terms follow from the object, which a cache reloads anyway.
        objects::set_terms(self.tx, id, terms)
    }
}
