//! The durable, encrypted store of a software instance: its token state, PIN slots
//! and token objects, behind the [`Store`] trait, shared by any number of processes.
//! [`SqliteStore`] (feature `sqlite`, on by default) keeps them in one SQLite database;
//! a store elsewhere (a database server) implements the same trait.
//!
//! The crypto every store shares lives above the rows, in this crate's common modules:
//! sealing (`seal`: AES-256-GCM, the attribute encoding and the associated data that
//! binds a seal to its place), PIN slots (`pins`: the PBKDF2 KEK that wraps the DEK,
//! the PIN rules, [`Dek`]), the token's flags ([`TokenInfo`]) and the split of an
//! object into clear and sealed parts (`objects`). A store implementation keeps rows
//! and runs the transactions around these.
//!
//! # Files (SQLite)
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
//! Each `SqliteStore` keeps a small pool of connections, checked out per call, so
//! reads run in parallel across threads. [`Store::version`] moves at every commit of any
//! process: a cache may compare it to tell whether it is stale.
//!
//! After `fork()`, a child must not use or drop its parent's `SqliteStore` (SQLite's rule
//! for open connections): `std::mem::forget` it and open a new one.
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
//! open(dir) -> Box<dyn Store>                      the SQLite store (feature `sqlite`)
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
//! The [`Store`] trait is written for a store that may be remote, fail transiently and
//! be shared by many processes: no call exposes the database's own types; every
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

// The shared crypto serves the store implementations; a build with none of them
// (no `sqlite`) compiles it uncalled.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
mod objects;
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
mod pins;
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
mod seal;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
mod token;

use cryptoki_sys::{CKR_FUNCTION_FAILED, CK_USER_TYPE};
use kmsbridge_bridge::{Error, ObjectId, Result};

pub use objects::ObjectRecord;
pub use pins::{Dek, KDF_ITERATIONS, MAX_PIN_LEN, MIN_PIN_LEN};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, BUSY_TIMEOUT, DB_FILE, DEFAULT_MAX_FAILURES, SCHEMA_VERSION};
pub use token::TokenInfo;

// A store is shared by every thread of a process; a DEK is kept by a logged-in backend.
const _: fn() = || {
    fn shared<T: Send + Sync + ?Sized>() {}
    shared::<dyn Store>();
    shared::<Dek>();
};

/// The durable store of one software token. See the crate documentation for the
/// semantics and codes every implementation keeps.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The token's state, as committed by any process.
    fn token(&self) -> Result<TokenInfo>;

    /// `C_InitToken`: on a new token, set the SO PIN and label; on an initialised one,
    /// check the SO PIN (counted; `CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`), then destroy
    /// every object and the user PIN, and start over with a new DEK under the given SO
    /// PIN. `label` is stored as given (the provider pads or trims it).
    fn init_token(&self, so_pin: &[u8], label: &str) -> Result<()>;

    /// `C_Login`: check `pin` for `user` (`CKU_SO` or `CKU_USER`) and hand back the
    /// token's DEK. Wrong PINs are counted across processes, before the check:
    /// `CKR_PIN_INCORRECT`, then `CKR_PIN_LOCKED` once the count reaches the bound; a
    /// right PIN resets the count.
    fn login(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<Dek>;

    /// `C_InitPIN`: set the user PIN, with the DEK of an SO login. Resets the user's
    /// wrong-PIN count, which unlocks a locked user PIN.
    fn init_user_pin(&self, so: &Dek, pin: &[u8]) -> Result<()>;

    /// `C_SetPIN`: change `user`'s PIN from `old` (checked and counted as a login) to
    /// `new`. Only that role's slot is rewritten; objects are untouched.
    fn set_pin(&self, user: CK_USER_TYPE, old: &[u8], new: &[u8]) -> Result<()>;

    /// Store a new token object and return its id (never reused). With `secret(type)`
    /// true an attribute is sealed; every attribute of a private object is. Without a
    /// DEK, only a public object with nothing to seal can be stored
    /// (`CKR_USER_NOT_LOGGED_IN` otherwise).
    fn insert(
        &self,
        dek: Option<&Dek>,
        rec: &ObjectRecord,
        secret: &dyn Fn(u64) -> bool,
    ) -> Result<ObjectId>;

    /// Replace object `rec.id` with `rec` (same rules as [`Store::insert`]). Without a
    /// DEK only a public object's clear attributes can change; its seal is kept. With a
    /// DEK, the types in `rec.withheld` (a record loaded without the DEK) keep their
    /// sealed values.
    fn update(
        &self,
        dek: Option<&Dek>,
        rec: &ObjectRecord,
        secret: &dyn Fn(u64) -> bool,
    ) -> Result<()>;

    /// Destroy an object for good (`CKR_OBJECT_HANDLE_INVALID` if there is none).
    fn delete(&self, id: ObjectId) -> Result<()>;

    /// Read an object. A private object needs the DEK (`CKR_USER_NOT_LOGGED_IN`);
    /// without it a public object comes back with its sealed types in `withheld`.
    fn load(&self, dek: Option<&Dek>, id: ObjectId) -> Result<ObjectRecord>;

    /// Every object: `(id, CKA_CLASS, CKA_PRIVATE)`, by id.
    fn list(&self) -> Result<Vec<(ObjectId, u64, bool)>>;

    /// A number that changes whenever any process commits a change to the store.
    fn version(&self) -> Result<u64>;

    /// The store's own check of all it holds.
    fn integrity_check(&self) -> Result<()>;
}

/// Open the store in `dir` (the SQLite store), making it if absent.
#[cfg(feature = "sqlite")]
pub fn open(dir: &std::path::Path) -> Result<Box<dyn Store>> {
    Ok(Box::new(SqliteStore::open(dir)?))
}

/// Whether a failed store call may succeed if tried again: the store was busy past
/// its wait or could not be reached (`CKR_FUNCTION_FAILED`, a transient refusal as
/// docs/ERRORS.md has it), as opposed to a refusal by the rules (a wrong PIN, a locked
/// role) or a broken, full or read-only store.
pub fn retry_may_help(e: &Error) -> bool {
    e.ck_rv() == CKR_FUNCTION_FAILED
}
