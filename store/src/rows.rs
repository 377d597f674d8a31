//! What a store implementation provides: rows and atomic write transactions
//! ([`Rows`], [`Tx`]). Everything above them — the counted PIN checks, the
//! initialisation retries, sealing and the withheld-attribute rules — is written once
//! in [`crate::Store`].

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

    /// Delete object `id`; whether there was one.
    fn delete_object(&mut self, id: ObjectId) -> Result<bool>;
}

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
}
