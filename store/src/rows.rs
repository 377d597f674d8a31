//! What a store implementation provides: rows and atomic write transactions
//! ([`Rows`], [`Tx`]). Everything above them — the counted PIN checks, the
//! initialisation retries, sealing and the withheld-attribute rules — is written once
//! in [`crate::Store`].
//!
//! An implementation may index objects for finds ([`Rows::find`] with the terms
//! [`Tx::set_terms`] writes) and log which objects each commit touched
//! ([`Rows::changes_since`]). Both have defaults that need nothing of it: `find`
//! answers every object of the class (the caller checks each candidate), and
//! `changes_since` says [`Changes::Reload`] whenever the version moved.

use cryptoki_sys::CK_USER_TYPE;

use crate::objects::ObjectRow;
use crate::pins::PinSlot;
use crate::seal;
use crate::token::TokenRow;
use kmsbridge_bridge::{ObjectId, Result};

/// The rows of one software token, kept durably and shared by many processes.
///
/// Reads outside [`Rows::write`] see what some commit left (any process's); a read
/// that must agree with a write goes through the [`Tx`] of that write. Errors carry
/// the store I/O codes of the crate documentation: busy or unreachable past the wait
/// `CKR_FUNCTION_FAILED` (so [`crate::retry_may_help`] says yes), full
/// `CKR_DEVICE_MEMORY`, read-only `CKR_TOKEN_WRITE_PROTECTED`, anything else
/// `CKR_DEVICE_ERROR`.
pub trait Rows: Send + Sync + std::fmt::Debug {
    /// The token row.
    fn token(&self) -> Result<TokenRow>;

    /// Object `id`'s row, if there is one.
    fn object(&self, id: ObjectId) -> Result<Option<ObjectRow>>;

    /// Every object: `(id, class, private)`, by id.
    fn list(&self) -> Result<Vec<(ObjectId, u64, bool)>>;

    /// A number that changes whenever any process commits a write.
    fn version(&self) -> Result<u64>;

    /// The store's own check of all it holds.
    fn integrity_check(&self) -> Result<()>;

    /// Run `f` in one write transaction and commit it if `f` answers `Ok` (moving
    /// [`Rows::version`]); roll it back and answer `f`'s error otherwise. All of it
    /// lands or none of it, through a crash of this process at any point.
    ///
    /// Write transactions must be serializable with respect to each other across
    /// every process (SQLite's `BEGIN IMMEDIATE`; a server database's `SERIALIZABLE`
    /// or a row lock on the token taken first): the wrong-PIN bound rests on a
    /// counter increment never being lost to a concurrent one. An implementation that
    /// retries a transaction the database aborted (a serialization failure) may call
    /// `f` again from the start; `f` keeps no state across calls that matters. `what`
    /// names the call, for logs and error text.
    fn write(&self, what: &'static str, f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>)
        -> Result<()>;

    /// Called after a commit that replaced or removed a PIN slot (a PIN change, a
    /// re-initialisation), so that old slot copies can be purged from logs the store
    /// keeps (SQLite truncates its WAL). Best effort: failures are logged, not
    /// answered. Nothing by default.
    fn after_secret_change(&self) {}

    /// The candidates of a find: the ids of objects that may match `query`, by id,
    /// never missing one that matches (an implementation may answer more: the
    /// caller checks every candidate against the whole template). An object whose
    /// terms were never set ([`Rows::unindexed`]) is always a candidate of its class.
    ///
    /// By default a scan of [`Rows::list`] by class and `CKA_PRIVATE`, ignoring the
    /// terms.
    fn find(&self, query: &Query) -> Result<Vec<ObjectId>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|(_, class, private)| {
                query.class.is_none_or(|c| c == *class) && (query.private || !*private)
            })
            .map(|(id, _, _)| id)
            .collect())
    }

    /// What changed since `version` (a value [`Rows::version`] or an earlier
    /// `changes_since` answered): the objects inserted, replaced or deleted by commits
    /// after it, or [`Changes::Reload`] when the store cannot say (its log does not
    /// reach back that far, or a commit replaced everything: `C_InitToken`).
    ///
    /// By default: nothing when the version has not moved, else `Reload`.
    fn changes_since(&self, version: u64) -> Result<Changes> {
        let now = self.version()?;
        Ok(if now == version {
            Changes::Objects {
                version: now,
                ids: Vec::new(),
            }
        } else {
            Changes::Reload { version: now }
        })
    }

    /// Up to `limit` objects whose index terms were never set (rows from before the
    /// index existed, or whose terms need the DEK), by id. The store sets them at
    /// the next login ([`crate::Store::reindex`]). None by default (a store without an
    /// index has nothing to fill).
    fn unindexed(&self, limit: usize) -> Result<Vec<ObjectId>> {
        let _ = limit;
        Ok(Vec::new())
    }
}

/// The candidates a find asks [`Rows::find`] for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Only objects of this `CKA_CLASS`.
    pub class: Option<u64>,
    /// Whether private objects may be answered (the caller holds the DEK).
    pub private: bool,
    /// `(attribute type, terms)`: an object is a candidate when, for every entry, its
    /// index holds one of `terms` under that type. The terms are opaque bytes made
    /// by the store ([`crate::Store::find`]); an implementation compares them for
    /// equality only. What they hold: a public object's clear attribute gives its
    /// value (it is stored in clear anyway); a private object's attribute gives a
    /// keyed hash under a key derived from the DEK, so the label or id of a private
    /// object is never in clear at rest; secret attributes (key material, anything
    /// sealed on a public object) give no term at all.
    pub terms: Vec<(u64, Vec<Vec<u8>>)>,
}

/// What [`Rows::changes_since`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changes {
    /// The objects touched after the version asked about (each once, by id; one that
    /// was deleted is among them and no longer loads), as of `version`.
    Objects {
        /// The store version this answer reflects.
        version: u64,
        /// Inserted, replaced or deleted objects.
        ids: Vec<ObjectId>,
    },
    /// Too old, or everything changed: forget all that was cached and reload, as of
    /// `version`.
    Reload {
        /// The store version to reload at.
        version: u64,
    },
}

/// The row operations inside one [`Rows::write`] transaction.
pub trait Tx {
    /// The token row, as this transaction sees it.
    fn token(&mut self) -> Result<TokenRow>;

    /// `user`'s PIN slot, if any.
    fn slot(&mut self, user: CK_USER_TYPE) -> Result<Option<PinSlot>>;

    /// Write or replace the PIN slot of `slot.user`.
    fn put_slot(&mut self, slot: &PinSlot) -> Result<()>;

    /// Add one to `user`'s wrong-PIN counter.
    fn count_failure(&mut self, user: CK_USER_TYPE) -> Result<()>;

    /// Set `user`'s wrong-PIN counter to zero.
    fn clear_failures(&mut self, user: CK_USER_TYPE) -> Result<()>;

    /// Start a new token generation: delete every object and every PIN slot, and set
    /// the token row initialised with `label` and `token_uid`, its user PIN not
    /// initialised and both counters zero. The serial and `max_failures` stay.
    fn start_over(&mut self, label: &str, token_uid: &[u8; seal::UID_LEN]) -> Result<()>;

    /// Mark the user PIN initialised.
    fn set_user_pin_initialized(&mut self) -> Result<()>;

    /// Object `id`'s row, if there is one.
    fn object(&mut self, id: ObjectId) -> Result<Option<ObjectRow>>;

    /// Add an object row under a new id, never handed out before (not even for a
    /// deleted object), and return the id.
    fn insert_object(&mut self, row: &ObjectRow) -> Result<ObjectId>;

    /// Replace object `id`'s row (it exists: the caller read it or inserted it in
    /// this transaction).
    fn replace_object(&mut self, id: ObjectId, row: &ObjectRow) -> Result<()>;

    /// Delete object `id` (its index terms with it); whether there was one.
    fn delete_object(&mut self, id: ObjectId) -> Result<bool>;

    /// Set object `id`'s index terms for [`Rows::find`], replacing any it had, and mark
    /// it indexed: `(attribute type, term)`, several per type allowed. The store calls
    /// it after every insert and replace. Nothing by default (a store without an
    /// index answers finds by scanning).
    fn set_terms(&mut self, id: ObjectId, terms: &[(u64, Vec<u8>)]) -> Result<()> {
        let _ = (id, terms);
        Ok(())
    }

    /// The bulk path's ids: `n` new ids, never handed out before, for rows the caller
    /// then stores with [`Tx::insert_reserved`]. `None` (the default): the store has no
    /// cheaper path than [`Tx::insert_object`] one row at a time (SQLite in-process:
    /// a statement costs microseconds; a database server: a round trip per statement).
    fn reserve_ids(&mut self, n: usize) -> Result<Option<Vec<ObjectId>>> {
        let _ = n;
        Ok(None)
    }

    /// Store rows under ids from [`Tx::reserve_ids`], each with its index terms (`Some`:
    /// indexed, as [`Tx::set_terms`] would have it), in as few statements as the store
    /// can. Only called after `reserve_ids` answered `Some`.
    fn insert_reserved(&mut self, rows: &[Reserved<'_>]) -> Result<()> {
        let _ = rows;
        Err(kmsbridge_bridge::Error::rv(
            cryptoki_sys::CKR_GENERAL_ERROR,
            "store: no bulk insert",
        ))
    }
}

/// One row of [`Tx::insert_reserved`]: its reserved id, the row, and its index terms.
pub type Reserved<'a> = (ObjectId, &'a ObjectRow, Option<&'a [(u64, Vec<u8>)]>);

/// A boxed implementation, so that one `Store` type serves whichever was opened.
impl<R: Rows + ?Sized> Rows for Box<R> {
    fn token(&self) -> Result<TokenRow> {
        (**self).token()
    }
    fn object(&self, id: ObjectId) -> Result<Option<ObjectRow>> {
        (**self).object(id)
    }
    fn list(&self) -> Result<Vec<(ObjectId, u64, bool)>> {
        (**self).list()
    }
    fn version(&self) -> Result<u64> {
        (**self).version()
    }
    fn integrity_check(&self) -> Result<()> {
        (**self).integrity_check()
    }
    fn write(
        &self,
        what: &'static str,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> Result<()> {
        (**self).write(what, f)
    }
    fn after_secret_change(&self) {
        (**self).after_secret_change()
    }
    fn find(&self, query: &Query) -> Result<Vec<ObjectId>> {
        (**self).find(query)
    }
    fn changes_since(&self, version: u64) -> Result<Changes> {
        (**self).changes_since(version)
    }
    fn unindexed(&self, limit: usize) -> Result<Vec<ObjectId>> {
        (**self).unindexed(limit)
    }
}
