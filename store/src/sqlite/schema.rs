//! The store's files, connection settings, and schema with its migrations.
//!
//! Schema version lives in `PRAGMA user_version`; [`migrate`] takes a store from any
//! older version to [`SCHEMA_VERSION`] inside one write transaction, and refuses a
//! store made by a newer kmsbridge.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::db;
use crate::seal;
use kmsbridge_bridge::{Error, Result};

/// The database file inside the store directory (SQLite adds `-wal` and `-shm` beside it).
pub const DB_FILE: &str = "store.sqlite";

/// The schema this code reads and writes.
pub const SCHEMA_VERSION: i64 = 2;

/// How many store versions the change log reaches back; a cache older than that
/// reloads (`Changes::Reload`).
pub const LOG_VERSIONS: i64 = 100_000;

/// Wrong PINs allowed in a row before a PIN locks.
pub const DEFAULT_MAX_FAILURES: u32 = 10;

/// How long a statement waits for another connection's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Make the store directory (0700) and the database file (0600) if absent, and return
/// the database path. Existing ones keep their modes. SQLite gives `-wal` and `-shm`
/// the database file's mode.
pub(crate) fn prepare_files(dir: &Path) -> Result<PathBuf> {
    let io = |what: &'static str| {
        move |e: std::io::Error| {
            tracing::error!(dir = %dir.display(), error = %e, "store: {what}");
            Error::rv(cryptoki_sys::CKR_DEVICE_ERROR, what)
        }
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("store: cannot create the store directory"))?;
    if let Ok(meta) = std::fs::metadata(dir) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), "store: the store directory is open to other users");
        }
    }
    let file = dir.join(DB_FILE);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&file)
        .map_err(io("store: cannot create the database file"))?;
    Ok(file)
}

/// Open one connection with the settings every connection of the store uses.
pub(crate) fn connect(file: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_EXRESCODE;
    let conn = Connection::open_with_flags(file, flags).map_err(db("store: open"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(db("store: busy_timeout"))?;
    // WAL: readers never block the writer nor each other, across processes; a commit
    // is one append to the WAL. The mode is persistent; asking again is a no-op.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(db("store: journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::error!(mode, "store: the database refused WAL mode");
        return Err(Error::rv(
            cryptoki_sys::CKR_DEVICE_ERROR,
            "store: journal_mode",
        ));
    }
    conn.execute_batch(
        // FULL: the WAL is fsynced at every commit, so a commit that returned is on
        // disk, through kill -9 and through power loss. secure_delete: freed space is
        // overwritten (old PIN slots, destroyed objects). temp_store: no temp files.
        // journal_size_limit: the WAL is cut back after a checkpoint resets it.
        "PRAGMA synchronous=FULL;
         PRAGMA secure_delete=ON;
         PRAGMA temp_store=MEMORY;
         PRAGMA journal_size_limit=4194304;
         PRAGMA trusted_schema=OFF;",
    )
    .map_err(db("store: pragmas"))?;
    Ok(conn)
}

/// Bring the schema to [`SCHEMA_VERSION`]. Safe when several processes open a new
/// store at once: the check and the creation happen under one write lock.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db("store: user_version"))?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("store: migrate"))?;
    let mut version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db("store: user_version"))?;
    if version > SCHEMA_VERSION {
        tracing::error!(
            version,
            supported = SCHEMA_VERSION,
            "store: made by a newer kmsbridge"
        );
        return Err(Error::rv(
            cryptoki_sys::CKR_TOKEN_NOT_RECOGNIZED,
            "store: schema newer than this kmsbridge",
        ));
    }
    while version < SCHEMA_VERSION {
        match version {
            0 => create_v1(&tx)?,
            1 => v1_to_v2(&tx)?,
            // Future: `2 => v2_to_v3(&tx)?,` and so on, one step each.
            _ => {
                return Err(Error::rv(
                    cryptoki_sys::CKR_TOKEN_NOT_RECOGNIZED,
                    "store: unknown schema version",
                ))
            }
        }
        version += 1;
    }
    tx.pragma_update(None, "user_version", version)
        .map_err(db("store: user_version"))?;
    tx.commit().map_err(db("store: migrate commit"))?;
    Ok(())
}

fn create_v1(tx: &rusqlite::Transaction) -> Result<()> {
    tx.execute_batch(
        "
        -- One row: what the whole store shares. `version` moves at every commit.
        CREATE TABLE meta (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL,
            serial  TEXT NOT NULL
        );
        -- One row: the token. token_uid changes at every C_InitToken and is bound
        -- into every seal, so nothing of an earlier token opens under a later one.
        CREATE TABLE token (
            id                  INTEGER PRIMARY KEY CHECK (id = 1),
            initialized         INTEGER NOT NULL,
            label               TEXT NOT NULL,
            token_uid           BLOB NOT NULL,
            user_pin_init       INTEGER NOT NULL,
            user_failures       INTEGER NOT NULL,
            so_failures         INTEGER NOT NULL,
            max_failures        INTEGER NOT NULL
        );
        -- One row per role (CKU_SO = 0, CKU_USER = 1): the DEK sealed under a key
        -- derived from that role's PIN.
        CREATE TABLE pin_slot (
            user        INTEGER PRIMARY KEY,
            salt        BLOB NOT NULL,
            iterations  INTEGER NOT NULL,
            wrapped     BLOB NOT NULL
        );
        -- Token objects. AUTOINCREMENT: an id is never handed out twice.
        CREATE TABLE object (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            uid          BLOB NOT NULL,
            class        INTEGER NOT NULL,
            private      INTEGER NOT NULL,
            clear        BLOB NOT NULL,
            sealed_types BLOB NOT NULL,
            sealed       BLOB
        );
        ",
    )
    .map_err(db("store: create schema"))?;
    let mut serial = [0u8; 8];
    seal::random(&mut serial)?;
    let serial: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    tx.execute(
        "INSERT INTO meta (id, version, serial) VALUES (1, 0, ?1)",
        [serial],
    )
    .map_err(db("store: create schema"))?;
    tx.execute(
        "INSERT INTO token (id, initialized, label, token_uid, user_pin_init,
                            user_failures, so_failures, max_failures)
         VALUES (1, 0, '', ?1, 0, 0, 0, ?2)",
        rusqlite::params![seal::random_uid()?.to_vec(), DEFAULT_MAX_FAILURES],
    )
    .map_err(db("store: create schema"))?;
    Ok(())
}

/// Version 2: the find index and the change log. Rows of a version-1 store start
/// unindexed (a private object's terms need the DEK): every find answers them as
/// candidates until a login gives them terms (`Store::reindex`). The log starts at the
/// current version, so a cache from before the upgrade reloads.
fn v1_to_v2(tx: &rusqlite::Transaction) -> Result<()> {
    tx.execute_batch(
        "
        -- 1 once the object's terms are in object_term (set with every write of it).
        ALTER TABLE object ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX object_class ON object (class, id);
        CREATE INDEX object_unindexed ON object (id) WHERE indexed = 0;
        -- What finds look up: (attribute type, term) -> object. Terms are the values
        -- of public objects' clear attributes, keyed hashes for private objects'
        -- (see the crate's index module), never key material.
        CREATE TABLE object_term (
            ty        INTEGER NOT NULL,
            term      BLOB NOT NULL,
            object_id INTEGER NOT NULL,
            PRIMARY KEY (ty, term, object_id)
        ) WITHOUT ROWID;
        CREATE INDEX object_term_object ON object_term (object_id, ty, term);
        -- Which objects each commit (meta.version) inserted, replaced or deleted.
        -- Complete for versions above meta.log_floor.
        CREATE TABLE change_log (
            version   INTEGER NOT NULL,
            object_id INTEGER NOT NULL,
            PRIMARY KEY (version, object_id)
        ) WITHOUT ROWID;
        ALTER TABLE meta ADD COLUMN log_floor INTEGER NOT NULL DEFAULT 0;
        UPDATE meta SET log_floor = version;
        ",
    )
    .map_err(db("store: migrate to schema 2"))
}
