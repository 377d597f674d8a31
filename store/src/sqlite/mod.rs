//! The SQLite store: one database file in WAL mode that the processes of one host
//! share (see the crate documentation for durability, sharing and the schema).
//! [`SqliteRows`] keeps the rows; [`SqliteStore`] is the [`Store`] over them.

mod objects;
mod schema;
mod token_rows;
mod tx;

#[cfg(test)]
mod tests;

use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use cryptoki_sys::CK_RV;
use parking_lot::Mutex;
use rusqlite::{Connection, TransactionBehavior};

use crate::objects::ObjectRow;
use crate::rows::{Changes, Query, Rows, Tx};
use crate::token::TokenRow;
use crate::Store;
use kmsbridge_bridge::{Error, ObjectId, Result};

pub use schema::{BUSY_TIMEOUT, DB_FILE, DEFAULT_MAX_FAILURES, LOG_VERSIONS, SCHEMA_VERSION};

/// Idle connections kept per `SqliteRows`; more are opened under load and closed after.
const MAX_IDLE: usize = 8;

/// The [`Store`] over one SQLite database.
pub type SqliteStore = Store<SqliteRows>;

impl Store<SqliteRows> {
    /// Open the store in `dir`, making the directory, the database and the schema if
    /// absent, and migrating an older schema.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        Ok(Store::new(SqliteRows::open(dir)?))
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        self.rows().dir()
    }
}

/// The rows of one software instance in SQLite: one database file that any number of
/// processes share. See the crate documentation.
pub struct SqliteRows {
    dir: PathBuf,
    file: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteStore({})", self.dir.display())
    }
}
/// A pooled connection, returned on drop.
struct Pooled<'a> {
    store: &'a SqliteRows,
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

impl SqliteRows {
    /// Open the rows in `dir`, making the directory, the database and the schema if
    /// absent, and migrating an older schema.
    pub fn open(dir: &Path) -> Result<SqliteRows> {
        let file = schema::prepare_files(dir)?;
        let mut conn = schema::connect(&file)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteRows {
            dir: dir.to_path_buf(),
            file,
            idle: Mutex::new(vec![conn]),
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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

impl Rows for SqliteRows {
    fn token(&self) -> Result<TokenRow> {
        token_rows::token_row(&*self.conn()?)
    }

    fn object(&self, id: ObjectId) -> Result<Option<ObjectRow>> {
        objects::get_row(&*self.conn()?, id)
    }

    fn list(&self) -> Result<Vec<(ObjectId, u64, bool)>> {
        objects::list_rows(&*self.conn()?)
    }

    fn version(&self) -> Result<u64> {
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
    fn integrity_check(&self) -> Result<()> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare("PRAGMA integrity_check")
            .map_err(db("store: integrity_check"))?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(db("store: integrity_check"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(db("store: integrity_check"))?;
        if rows == ["ok"] {
            Ok(())
        } else {
            tracing::error!(store = %self.dir.display(), problems = ?rows, "store: integrity check failed");
            Err(Error::rv(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: integrity check failed",
            ))
        }
    }

    /// One short write transaction (`BEGIN IMMEDIATE`: the write lock is taken at the
    /// start, so writers of every process run one after the other), moving the
    /// store version.
    fn write(
        &self,
        what: &'static str,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db(what))?;
        let mut stx = tx::SqliteTx {
            tx: &tx,
            touched: Vec::new(),
            everything: false,
        };
        f(&mut stx)?;
        let (mut touched, everything) = (stx.touched, stx.everything);
        let version: i64 = tx
            .prepare_cached("UPDATE meta SET version = version + 1 WHERE id = 1 RETURNING version")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .map_err(db(what))?;
        objects::log_commit(&tx, version, &mut touched, everything)?;
        tx.commit().map_err(db(what))?;
        Ok(())
    }

    fn after_secret_change(&self) {
        self.checkpoint_truncate();
    }

    fn find(&self, query: &Query) -> Result<Vec<ObjectId>> {
        objects::find(&*self.conn()?, query)
    }

    fn changes_since(&self, version: u64) -> Result<Changes> {
        let mut conn = self.conn()?;
        // One read transaction: the version and the log agree.
        let tx = conn.transaction().map_err(db("store: changes"))?;
        let out = objects::changes_since(&tx, version)?;
        tx.commit().map_err(db("store: changes"))?;
        Ok(out)
    }

    fn unindexed(&self, limit: usize) -> Result<Vec<ObjectId>> {
        objects::unindexed(&*self.conn()?, limit)
    }
}
