//! [`Store`]: the calls of a software token's store, written once over the rows and
//! transactions of any implementation ([`Rows`]). The PIN calls are in `logins`, the
//! object calls in `objects`.

mod credentials;
mod find;
mod logins;
mod objects;

use crate::rows::{Rows, Tx};
use crate::token::TokenInfo;
use kmsbridge_bridge::{Error, ObjectId, Result};

/// The durable store of one software token, over the rows of some implementation
/// (`Store<SqliteRows>` is [`crate::SqliteStore`]; plain `Store` holds any, boxed).
/// See the crate documentation for the semantics and codes.
pub struct Store<R: Rows = Box<dyn Rows>> {
    rows: R,
}

impl<R: Rows> std::fmt::Debug for Store<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rows.fmt(f)
    }
}

impl<R: Rows> Store<R> {
    /// The store over `rows`.
    pub fn new(rows: R) -> Store<R> {
        Store { rows }
    }

    /// The rows underneath.
    pub fn rows(&self) -> &R {
        &self.rows
    }

    /// This store with its rows boxed, whatever their implementation.
    pub fn boxed(self) -> Store
    where
        R: 'static,
    {
        Store::new(Box::new(self.rows))
    }

    /// The token's state, as committed by any process.
    pub fn token(&self) -> Result<TokenInfo> {
        Ok(self.rows.token()?.info)
    }

    /// Every object: `(id, CKA_CLASS, CKA_PRIVATE)`, by id.
    pub fn list(&self) -> Result<Vec<(ObjectId, u64, bool)>> {
        self.rows.list()
    }

    /// A number that changes whenever any process commits a change to the store.
    pub fn version(&self) -> Result<u64> {
        self.rows.version()
    }

    /// The store's own check of all it holds.
    pub fn integrity_check(&self) -> Result<()> {
        self.rows.integrity_check()
    }

    /// Run `f` in one write transaction of the rows and hand back its answer.
    fn write<T>(
        &self,
        what: &'static str,
        mut f: impl FnMut(&mut dyn Tx) -> Result<T>,
    ) -> Result<T> {
        let mut out = None;
        self.rows.write(what, &mut |tx| {
            out = Some(f(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| {
            Error::rv(
                cryptoki_sys::CKR_GENERAL_ERROR,
                "store: a write committed without running",
            )
        })
    }
}
