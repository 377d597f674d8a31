//! One PostgreSQL write transaction as the store's [`Tx`].

use cryptoki_sys::CK_USER_TYPE;

use super::error::{kind, to_error, Kind};
use super::rows_sql as sql;
use crate::objects::ObjectRow;
use crate::pins::PinSlot;
use crate::rows::{Reserved, Tx};
use crate::seal;
use crate::token::TokenRow;
use kmsbridge_bridge::{ObjectId, Result};

/// An open transaction holding the lock on the store's meta row (so writers of every
/// process run one after the other); `PostgresRows::write` commits or drops it. Keeps
/// the kind of the last database failure, so the caller can tell a conflict or an
/// outage (run again, on a fresh connection) from a refusal.
pub(super) struct PgTx<'a, 'b> {
    pub(super) tx: &'b mut postgres::Transaction<'a>,
    pub(super) failed: Option<Kind>,
    /// Objects inserted, replaced or deleted, for the change log.
    pub(super) touched: Vec<ObjectId>,
    /// A commit that replaced everything (`start_over`).
    pub(super) everything: bool,
}

impl PgTx<'_, '_> {
    fn run<T>(
        &mut self,
        op: &'static str,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        f(self.tx).map_err(|e| {
            self.failed = Some(kind(&e));
            to_error(op, &e)
        })
    }
}

impl Tx for PgTx<'_, '_> {
    fn token(&mut self) -> Result<TokenRow> {
        let row = self.run("store: token", |c| sql::token_row(c))?;
        super::token_from(row)
    }
    fn slot(&mut self, user: CK_USER_TYPE) -> Result<Option<PinSlot>> {
        self.run("store: read PIN slot", |c| sql::get_slot(c, user))
    }
    fn put_slot(&mut self, slot: &PinSlot) -> Result<()> {
        self.run("store: write PIN slot", |c| sql::put_slot(c, slot))
    }
    fn count_failure(&mut self, user: CK_USER_TYPE) -> Result<()> {
        self.run("store: count a PIN attempt", |c| {
            sql::count_failure(c, user)
        })
    }
    fn clear_failures(&mut self, user: CK_USER_TYPE) -> Result<()> {
        self.run("store: reset a PIN counter", |c| {
            sql::clear_failures(c, user)
        })
    }
    fn start_over(&mut self, label: &str, token_uid: &[u8; seal::UID_LEN]) -> Result<()> {
        self.everything = true;
        self.run("store: init_token", |c| {
            sql::start_over(c, label, token_uid)
        })
    }
    fn set_user_pin_initialized(&mut self) -> Result<()> {
        self.run("store: init_user_pin", |c| sql::set_user_pin_initialized(c))
    }
    fn object(&mut self, id: ObjectId) -> Result<Option<ObjectRow>> {
        self.run("store: load", |c| sql::get_object(c, id))
    }
    fn insert_object(&mut self, row: &ObjectRow) -> Result<ObjectId> {
        let id = self.run("store: insert", |c| sql::insert_object(c, row))?;
        self.touched.push(id);
        Ok(id)
    }
    fn replace_object(&mut self, id: ObjectId, row: &ObjectRow) -> Result<()> {
        self.touched.push(id);
        self.run("store: update", |c| sql::replace_object(c, id, row))
    }
    fn delete_object(&mut self, id: ObjectId) -> Result<bool> {
        self.touched.push(id);
        self.run("store: delete", |c| sql::delete_object(c, id))
    }
    fn set_terms(&mut self, id: ObjectId, terms: &[(u64, Vec<u8>)]) -> Result<()> {
        // Not logged: terms follow from the object, which a cache reloads anyway.
        self.run("store: index", |c| sql::set_terms(c, id, terms))
    }
    /// From the identity column's sequence, in one statement.
    fn reserve_ids(&mut self, n: usize) -> Result<Option<Vec<ObjectId>>> {
        self.run("store: insert", |c| sql::reserve_ids(c, n))
            .map(Some)
    }
    /// Multi-row statements (`unnest` of arrays): a few round trips per chunk of
    /// rows, not five per row.
    fn insert_reserved(&mut self, rows: &[Reserved<'_>]) -> Result<()> {
        for chunk in rows.chunks(sql::BULK_ROWS) {
            self.run("store: insert", |c| sql::insert_reserved(c, chunk))?;
            self.touched.extend(chunk.iter().map(|(id, _, _)| *id));
        }
        Ok(())
    }
}
