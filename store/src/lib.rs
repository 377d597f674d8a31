//! The durable, encrypted store of a software instance: its token state, PIN slots
//! and token objects, in one SQLite database that any number of processes share.
//!
//! # Files
//!
//! [`Store::open`] takes a directory (made 0700 if absent) holding `store.sqlite`
//! (made 0600) and SQLite's `store.sqlite-wal` and `-shm` (which take the database's
//! mode). The schema carries a version (`PRAGMA user_version`) and is migrated
//! forward on open; a store from a newer kmsbridge is refused
//! (`CKR_TOKEN_NOT_RECOGNIZED`).
//!
//! # Durability and sharing
//!
//! SQLite in WAL mode with `synchronous=FULL`: every commit appends to the WAL and
//! fsyncs it before it returns, so an object whose `insert` returned `Ok` is on disk,
//! through `kill -9` of any process at any point and through power loss. (`NORMAL` would
//! survive `kill -9` too, since the WAL write reaches the kernel before the commit
//! returns, but not power loss; a key store should not lose an acknowledged key, and
//! key creation is not the hot path.) A killed writer leaves an uncommitted WAL tail,
//! which the next reader ignores. Writes are short `BEGIN IMMEDIATE` transactions
//! (no KDF, no I/O of ours inside); other processes wait for the write lock up to
//! [`schema::BUSY_TIMEOUT`]. Readers never wait for the writer.
//!
//! Each `Store` keeps a small pool of connections, checked out per call, so reads
//! run in parallel across threads. [`Store::version`] moves at every commit of any
//! process: a cache may compare it to tell whether it is stale.
//!
//! After `fork()`, a child must not use or drop its parent's `Store` (SQLite's rule
//! for open connections): `std::mem::forget` it and open a new one.
//!
//! # Encryption at rest
//!
//! A random 256-bit data-encryption key (the [`Dek`]) seals every secret. It is
//! stored only inside the two PIN slots, each `AES-256-GCM(KEK, DEK)` with
//! `KEK = PBKDF2-HMAC-SHA256(PIN, 16-byte random salt, iterations)`
//! ([`pins::KDF_ITERATIONS`] for new slots; each slot records its own count, so the
//! count can be raised later without breaking old slots). The SO PIN and the user PIN
//! each unlock the same DEK through their own slot; changing a PIN rewrites that slot
//! only. PBKDF2 rather than argon2: it is FIPS-approved (HSM-adjacent deployments ask
//! for it) and needs no new dependency; the iteration count follows current guidance
//! for PBKDF2-HMAC-SHA256 with a margin for login latency (every C_Login pays it).
//!
//! Every object has a random 128-bit uid. Its secret attributes (all attributes of a
//! private object; of a public one, those for which the caller's `secret(type)` is
//! true) are encoded together, types included, and sealed with AES-256-GCM under the
//! DEK with a fresh random nonce; the associated data binds the seal to the token
//! generation (a random `token_uid` renewed by every `C_InitToken`), the object's uid
//! and id, its class and `CKA_PRIVATE`. A sealed blob copied to another object, another
//! attribute, or a re-initialised token does not open. Attribute types are inside the
//! authenticated plaintext, so a value cannot move to another attribute either.
//! Public objects keep their other attributes in clear so they can be found before
//! login; those clear attributes are not authenticated (anyone who can write the file
//! can also delete it: integrity of public, non-secret data is out of scope).
//!
//! Nothing secret is written in clear, in the database, its WAL or elsewhere: no key
//! value, no PIN, no KEK, no DEK. SQLite only ever sees ciphertext. `secure_delete`
//! overwrites freed space, and after a PIN change or re-initialisation the WAL is
//! checkpointed and truncated, so an old PIN's slot does not linger on disk. (Old WAL
//! frames and freed filesystem blocks are ciphertext only; the DEK does not change on
//! a PIN change, by design, so whoever once knew it keeps it until `C_InitToken`.)
//! In memory, PINs, KEKs, the DEK and decrypted values live in `Zeroizing` buffers
//! allocated at their final size; PBKDF2's internal HMAC state is not zeroized by the
//! `pbkdf2` crate.
//!
//! # Token management
//!
//! [`TokenInfo`] holds the initialised flag, label, user-PIN-initialised flag and the
//! wrong-PIN counters of both roles; they live in the database, so every process
//! shares them. A role whose counter reaches `max_failures` (10) is locked: `login`,
//! `set_pin` and (for the SO) `init_token` answer `CKR_PIN_LOCKED` without looking at
//! the PIN. A correct PIN resets its role's counter. An attempt is counted *before*
//! the PIN is checked and uncounted when it proves right, so neither parallel guessing
//! from many processes nor killing a process mid-check gets past the bound. (The cost:
//! during someone's login another process may briefly see the counter one higher;
//! and at `max_failures - 1` two simultaneous correct logins may see one of them told
//! `CKR_PIN_LOCKED`.) A locked user PIN is reset by the SO (`init_user_pin`, i.e.
//! `C_InitPIN`). A locked SO PIN stays locked for good: like a smart card, the token
//! can then only be thrown away (delete the store directory).
//!
//! Codes: before `C_InitToken`, a user login answers `CKR_USER_PIN_NOT_INITIALIZED`
//! and an SO login `CKR_TOKEN_NOT_RECOGNIZED` (no PIN exists yet; PKCS#11 defines no
//! better code); a user login before `C_InitPIN` answers `CKR_USER_PIN_NOT_INITIALIZED`;
//! `CKU_CONTEXT_SPECIFIC` is the provider's business (it re-checks with `CKU_USER`),
//! here it is `CKR_USER_TYPE_INVALID`. A new PIN outside
//! [`MIN_PIN_LEN`]`..=`[`MAX_PIN_LEN`] bytes is `CKR_PIN_LEN_RANGE`. A [`Dek`] from
//! before a re-initialisation (by any process) is refused with
//! `CKR_USER_NOT_LOGGED_IN`. A seal that does not authenticate under the current key
//! (tampering, corruption) is `CKR_DEVICE_ERROR`, logged with the object id. Store
//! I/O: busy past the timeout `CKR_FUNCTION_FAILED`, disk full `CKR_DEVICE_MEMORY`,
//! read-only `CKR_TOKEN_WRITE_PROTECTED`, anything else `CKR_DEVICE_ERROR`.
//!
//! # API
//!
//! ```text
//! Store::open(dir) -> Store                       Send + Sync; one per process per store
//! store.token() -> TokenInfo                      (TokenInfo::flags() gives CKF_* bits)
//! store.init_token(so_pin, label)                 first init, or re-init with the SO PIN:
//!                                                 destroys every object, new DEK
//! store.login(CKU_SO | CKU_USER, pin) -> Dek      counted; the DEK is the same for both
//! store.init_user_pin(&so_dek, pin)               C_InitPIN; resets the user counter
//! store.set_pin(user, old, new)                   C_SetPIN; rewrites that slot only
//! store.insert(Some(&dek) | None, &rec, secret) -> ObjectId   id assigned, never reused
//! store.update(Some(&dek) | None, &rec, secret)
//! store.delete(id)
//! store.load(Some(&dek) | None, id) -> ObjectRecord
//! store.list() -> [(id, class, private)]
//! store.version() -> u64                          moves at every commit of any process
//! store.integrity_check()
//! ```
//!
//! Without a DEK (nobody logged in) only public objects without secret attributes
//! can be inserted; a public object may be updated in its clear attributes (its seal,
//! if any, is kept as is); loading a public object returns its clear attributes and
//! lists the sealed ones in [`ObjectRecord::withheld`]; private objects answer
//! `CKR_USER_NOT_LOGGED_IN`. The store does not police roles or sessions beyond that:
//! the provider does.

mod objects;
mod pins;
mod schema;
mod seal;
mod token;

#[cfg(test)]
mod tests;

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use cryptoki_sys::{CK_RV, CK_USER_TYPE};
use parking_lot::Mutex;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use zeroize::Zeroizing;

use kmsbridge_bridge::{Error, Result};

pub use objects::ObjectRecord;
pub use pins::{KDF_ITERATIONS, MAX_PIN_LEN, MIN_PIN_LEN};
pub use schema::{BUSY_TIMEOUT, DB_FILE, DEFAULT_MAX_FAILURES, SCHEMA_VERSION};
pub use token::TokenInfo;

// A store is shared by every thread of a process; a DEK is kept by a logged-in backend.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Store>();
    shared::<Dek>();
};

/// Idle connections kept per `Store`; more are opened under load and closed after.
const MAX_IDLE: usize = 8;

/// The unlocked master key of a token, as `login` returns it. Never written in clear;
/// zeroized on drop. Valid until the token is re-initialised (by any process).
#[derive(Clone)]
pub struct Dek {
    key: Zeroizing<[u8; seal::KEY_LEN]>,
    token_uid: [u8; seal::UID_LEN],
    role: CK_USER_TYPE,
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

/// The durable store of one software instance. See the module documentation.
pub struct Store {
    dir: PathBuf,
    file: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.dir.display())
    }
}

/// A pooled connection, returned on drop.
struct Pooled<'a> {
    store: &'a Store,
    /// Taken out exactly once, in `drop`.
    conn: ManuallyDrop<Connection>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        // SAFETY: `conn` is never used again after this, the only place it is taken.
        let conn = unsafe { ManuallyDrop::take(&mut self.conn) };
        // A connection left inside a transaction (a panic mid-call) is closed,
        // which rolls it back, rather than reused.
        if conn.is_autocommit() {
            let mut idle = self.store.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}

impl Store {
    /// Open the store in `dir`, making the directory, the database and the schema if
    /// absent, and migrating an older schema.
    pub fn open(dir: &Path) -> Result<Store> {
        let file = schema::prepare_files(dir)?;
        let mut conn = schema::connect(&file)?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            file,
            idle: Mutex::new(vec![conn]),
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A number that changes whenever any process commits a change to the store.
    pub fn version(&self) -> Result<u64> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare_cached("SELECT version FROM meta WHERE id = 1")
            .map_err(db("store: version"))?;
        let v: i64 = st
            .query_row([], |r| r.get(0))
            .map_err(db("store: version"))?;
        Ok(v as u64)
    }

    /// SQLite's own check of the whole database.
    pub fn integrity_check(&self) -> Result<()> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare("PRAGMA integrity_check")
            .map_err(db("store: integrity_check"))?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(db("store: integrity_check"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(db("store: integrity_check"))?;
        if rows.len() == 1 && rows[0] == "ok" {
            Ok(())
        } else {
            tracing::error!(store = %self.dir.display(), problems = ?rows, "store: integrity check failed");
            Err(Error::rv(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: integrity check failed",
            ))
        }
    }

    fn conn(&self) -> Result<Pooled<'_>> {
        let conn = self.idle.lock().pop();
        let conn = match conn {
            Some(c) => c,
            None => schema::connect(&self.file)?,
        };
        Ok(Pooled {
            store: self,
            conn: ManuallyDrop::new(conn),
        })
    }

    /// Run `f` in one short write transaction (`BEGIN IMMEDIATE`), moving the store
    /// version; commit if `f` answers `Ok`, roll back otherwise.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(op))?;
        let out = f(&tx)?;
        tx.prepare_cached("UPDATE meta SET version = version + 1 WHERE id = 1")
            .and_then(|mut st| st.execute([]))
            .map_err(db(op))?;
        tx.commit().map_err(db(op))?;
        Ok(out)
    }

    /// Copy the WAL into the database and cut the WAL to zero bytes, so pages that
    /// held an old PIN slot do not linger in it. Best effort: a long reader elsewhere
    /// may keep part of the WAL alive until the next checkpoint.
    fn checkpoint_truncate(&self) {
        let result = self.conn().and_then(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(db("store: checkpoint"))
        });
        match result {
            Ok(0) => {}
            Ok(_) => {
                tracing::debug!(store = %self.dir.display(), "store: checkpoint partly blocked by a reader")
            }
            Err(e) => {
                tracing::warn!(store = %self.dir.display(), error = %e, "store: checkpoint failed")
            }
        }
    }
}

/// Map a SQLite error to the code the application sees, logging it once.
pub(crate) fn db(op: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e: rusqlite::Error| {
        use rusqlite::ErrorCode::*;
        let rv: CK_RV = match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => cryptoki_sys::CKR_FUNCTION_FAILED,
            Some(DiskFull) => cryptoki_sys::CKR_DEVICE_MEMORY,
            Some(OutOfMemory) => cryptoki_sys::CKR_HOST_MEMORY,
            Some(ReadOnly) => cryptoki_sys::CKR_TOKEN_WRITE_PROTECTED,
            _ => cryptoki_sys::CKR_DEVICE_ERROR,
        };
        tracing::error!(op, error = %e, "store: database error");
        Error::rv(rv, op)
    }
}

/// Shorthand for an error with a spec code.
pub(crate) fn fail(rv: CK_RV, what: &'static str) -> Error {
    Error::rv(rv, what)
}
