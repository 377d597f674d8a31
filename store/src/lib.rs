//! The durable, encrypted store of a software instance: its token state, PIN slots
//! and token objects, shared by any number of processes. Two levels:
//!
//! - [`Store`], the calls the software backend makes (`login`, `insert`, ...), is
//!   written once, over any implementation's rows: the counted PIN checks and their
//!   retries, the confirm-inside-the-write of `C_InitToken`, sealing on insert and
//!   update, and the rules for a caller without the DEK.
//! - [`Rows`] (with [`Tx`], the operations inside one write transaction) is what an
//!   implementation provides: reads of the token row, PIN slots and object rows,
//!   atomic write transactions, a version, an integrity check. [`SqliteRows`]
//!   (feature `sqlite`, on by default) keeps them in one SQLite database
//!   ([`SqliteStore`] is the `Store` over it); a store elsewhere (a database server)
//!   implements `Rows` and gets every call above it as is.
//!
//! The crypto is above the rows too, in this crate's common modules: sealing
//! (`seal`: AES-256-GCM, the attribute encoding and the associated data that binds a
//! seal to its place), PIN slots (`pins`: the PBKDF2 KEK that wraps the DEK, the PIN
//! rules, [`Dek`]), the token's flags ([`TokenInfo`]) and the split of an object into
//! clear and sealed parts (`objects`). An implementation only ever sees bytes:
//! [`TokenRow`], [`PinSlot`], [`ObjectRow`].
//!
//! # What a second implementation must provide
//!
//! - Write transactions ([`Rows::write`]) that are atomic (all of a transaction lands
//!   or none of it, through a crash at any point), durable once they return `Ok`, and
//!   serializable with respect to each other across every process sharing the store —
//!   in particular a wrong-PIN counter increment ([`Tx::count_failure`]) is never lost
//!   to a concurrent transaction, or the lockout bound no longer holds. SQLite gets
//!   this from `BEGIN IMMEDIATE`; a server database from `SERIALIZABLE` isolation (its
//!   serialization failures retried by running the closure again) or from locking the
//!   token row first in every write.
//! - Object ids from [`Tx::insert_object`] never handed out twice, even after a delete.
//! - [`Rows::version`] moving at every committed write of any process.
//! - The error codes below for its own failures, so that [`retry_may_help`] says yes
//!   exactly to the transient ones.
//! - [`Rows::after_secret_change`] if old PIN slots can linger in a log of its own.
//!
//! //! # Files (SQLite)
//!
//! [`SqliteStore::open`] takes a directory (made 0700 if absent) holding `store.sqlite`
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
//! [`BUSY_TIMEOUT`]. Readers never wait for the writer.
//!
//! Each `SqliteRows` keeps a small pool of connections, checked out per call, so
//! reads run in parallel across threads. [`Store::version`] moves at every commit of any
//! process: a cache may compare it to tell whether it is stale.
//!
//! After `fork()`, a child must not use or drop its parent's `SqliteStore` (SQLite's rule
//! for open connections): `std::mem::forget` it and open a new one.
//!
//! # Finds and the change log
//!
//! [`Store::find`] pushes a find's indexed attributes ([`INDEXED`]: `CKA_ID`,
//! `CKA_LABEL`, `CKA_APPLICATION`, `CKA_KEY_TYPE`) and its class into one indexed
//! lookup of the rows ([`Rows::find`]) and answers candidates, which the caller checks
//! against the whole template. The terms a row is indexed by are a public object's
//! clear values (in clear in its row anyway) and, for a private object, keyed hashes
//! under a key derived from the DEK: a private object's label or id is never in clear
//! at rest, and key material is never indexed (see the `index` module). Rows of a
//! store from before the index (schema 1) have no terms until a login gives them some
//! ([`Store::reindex`]); until then every find of their class answers them.
//!
//! Every commit logs the objects it inserted, replaced or deleted under its version;
//! [`Store::changes_since`] answers them, so a cache notices another process's commit
//! at the cost of that commit, or says [`Changes::Reload`] (the log, kept for the
//! last [`LOG_VERSIONS`] versions, does not reach back that far; a `C_InitToken`).
//!
//! # Encryption at rest
//!
//! A random 256-bit data-encryption key (the [`Dek`]) seals every secret. It is
//! stored only inside the two PIN slots, each `AES-256-GCM(KEK, DEK)` with
//! `KEK = PBKDF2-HMAC-SHA256(PIN, 16-byte random salt, iterations)`
//! ([`KDF_ITERATIONS`] for new slots; each slot records its own count, so the
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
//! open(dir) -> Store                              the SQLite store (feature `sqlite`)
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
//! store.insert_many(Some(&dek) | None, &[rec], secret) -> [ObjectId]  one commit
//! store.find(Some(&dek) | None, class, &[(type, value)]) -> [ObjectId]  candidates
//! store.changes_since(version) -> Changes         objects touched, or Reload
//! store.reindex(&dek, batch) -> n                 terms for rows from schema 1
//! store.list() -> [(id, class, private)]
//! store.version() -> u64                          moves at every commit of any process
//! store.integrity_check()
//! ```
//!
//! [`Store`] and [`Rows`] are written for a store that may be remote, fail transiently
//! and be shared by many processes: no call exposes the database's own types; every
//! write is one atomic transaction (all of it lands or none of it); [`Store::version`]
//! is the change marker a cache compares; and an error says whether a retry may help
//! ([`retry_may_help`]: the store was busy or unreachable, as opposed to a refusal or
//! a broken store). A store is `Send + Sync`, one per process per token.
//!
//! Without a DEK (nobody logged in) only public objects without secret attributes
//! can be inserted; a public object may be updated in its clear attributes (its seal,
//! if any, is kept as is); loading a public object returns its clear attributes and
//! lists the sealed ones in [`ObjectRecord::withheld`]; private objects answer
//! `CKR_USER_NOT_LOGGED_IN`. The store does not police roles or sessions beyond that:
//! the provider does.

mod index;
mod objects;
mod pins;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod seal;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod token;

use cryptoki_sys::CKR_FUNCTION_FAILED;
use kmsbridge_bridge::Error;

pub use index::{INDEXED, MAX_PLAIN};
pub use objects::{ObjectRecord, ObjectRow};
pub use pins::{Dek, PinSlot, KDF_ITERATIONS, MAX_PIN_LEN, MIN_PIN_LEN};
#[cfg(feature = "postgres")]
pub use postgres::{
    read_password_file, PgSettings, PostgresRows, PostgresStore, PG_SCHEMA_VERSION,
};
pub use rows::{Changes, Query, Reserved, Rows, Tx};
#[cfg(feature = "sqlite")]
pub use sqlite::{
    SqliteRows, SqliteStore, BUSY_TIMEOUT, DB_FILE, DEFAULT_MAX_FAILURES, LOG_VERSIONS,
    SCHEMA_VERSION,
};
pub use store::Store;
pub use token::{TokenInfo, TokenRow};

// A store is shared by every thread of a process; a DEK is kept by a logged-in backend.
const _: fn() = || {
    fn shared<T: Send + Sync + ?Sized>() {}
    shared::<Store>();
    shared::<Dek>();
};

/// Open the store in `dir` (the SQLite store), making it if absent.
#[cfg(feature = "sqlite")]
pub fn open(dir: &std::path::Path) -> kmsbridge_bridge::Result<Store> {
    Ok(SqliteStore::open(dir)?.boxed())
}

/// Where a software instance's store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory holding the SQLite database (the processes of one host).
    Dir(std::path::PathBuf),
    /// A PostgreSQL database (the processes of many hosts; docs/POSTGRES_STORE.md).
    #[cfg(feature = "postgres")]
    Postgres(PgSettings),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            #[cfg(feature = "postgres")]
            Location::Postgres(s) => write!(f, "postgresql {}", s.describe()),
        }
    }
}

/// Open the store at `location`, making it if absent (and migrating an older schema).
pub fn open_at(location: &Location) -> kmsbridge_bridge::Result<Store> {
    match location {
        #[cfg(feature = "sqlite")]
        Location::Dir(dir) => open(dir),
        #[cfg(not(feature = "sqlite"))]
        Location::Dir(_) => Err(Error::rv(
            cryptoki_sys::CKR_DEVICE_ERROR,
            "store: built without the SQLite store",
        )),
        #[cfg(feature = "postgres")]
        Location::Postgres(s) => Ok(PostgresStore::open_postgres(s)?.boxed()),
    }
}

/// Whether a failed store call may succeed if tried again: the store was busy past
/// its wait or could not be reached (`CKR_FUNCTION_FAILED`, a transient refusal as
/// docs/ERRORS.md has it), as opposed to a refusal by the rules (a wrong PIN, a locked
/// role) or a broken, full or read-only store.
pub fn retry_may_help(e: &Error) -> bool {
    e.ck_rv() == CKR_FUNCTION_FAILED
}
