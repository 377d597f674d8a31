//! The PostgreSQL store: one database that the processes of many hosts share (see
//! docs/POSTGRES_STORE.md for the deployment, a switchover and the codes).
//! [`PostgresRows`] keeps the rows; [`PostgresStore`] is the [`Store`] over them.
//!
//! Writes lock the `kb_meta` row first (`SELECT … FOR UPDATE`), so write transactions
//! of every process run one after the other, as SQLite's `BEGIN IMMEDIATE` makes them:
//! a wrong-PIN counter increment is never lost. A write that the server aborts as a
//! conflict is run again; one that fails because the server went away before the
//! commit was sent is run again once on a fresh connection; a failure at or after the
//! commit is answered `CKR_FUNCTION_FAILED` (the outcome is unknown to us: the
//! application's retry decides). A commit that returned is durable on the server
//! (`synchronous_commit` as the server has it; on a standby too with synchronous
//! replication, see the doc).

mod error;
mod rows_sql;
mod schema;
mod settings;
mod tx;

#[cfg(test)]
mod tests;

use std::time::Duration;

use parking_lot::Mutex;
use postgres::{Client, NoTls};

use crate::objects::ObjectRow;
use crate::rows::{Changes, Query, Rows, Tx};
use crate::token::{TokenInfo, TokenRow};
use crate::Store;
use error::{kind, pg, Kind};
use kmsbridge_bridge::{Error, ObjectId, Result};

pub use schema::PG_SCHEMA_VERSION;
pub use settings::{read_password_file, PgSettings};

/// Idle connections kept per `PostgresRows`; more are opened under load and closed
/// after.
const MAX_IDLE: usize = 8;

/// Times a write the server aborted as a conflict is run again before the caller is
/// told `CKR_FUNCTION_FAILED`. (Writers queue on the meta row lock, so conflicts are
/// rare: a deadlock report, or a serialization failure under a stricter server
/// default.)
const CONFLICT_RETRIES: usize = 8;

/// The [`Store`] over one PostgreSQL database.
pub type PostgresStore = Store<PostgresRows>;

impl Store<PostgresRows> {
    /// Connect to the database `settings` name, making the schema if absent and
    /// migrating an older one.
    pub fn open_postgres(settings: &PgSettings) -> Result<PostgresStore> {
        Ok(Store::new(PostgresRows::open(settings)?))
    }
}

/// The rows of one software instance in PostgreSQL. See the module documentation.
pub struct PostgresRows {
    settings: PgSettings,
    idle: Mutex<Vec<Client>>,
}

impl std::fmt::Debug for PostgresRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresStore({})", self.settings.describe())
    }
}

impl Drop for PostgresRows {
    /// A `postgres::Client` closes itself through its own async runtime, which needs
    /// a thread-local of the dropping thread: when the last reference to the store goes
    /// in a thread-local's destructor (a thread or the process exiting), that
    /// thread-local is already gone and the close would abort the process. So the idle
    /// connections are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock());
        if idle.is_empty() {
            return;
        }
        let slot = std::sync::Arc::new(Mutex::new(Some(idle)));
        let theirs = slot.clone();
        match std::thread::Builder::new()
            .name("kmsbridge-pg-close".into())
            .spawn(move || drop(theirs.lock().take()))
        {
            Ok(t) => {
                let _ = t.join();
            }
            // No thread to be had: leave them to the OS rather than risk the abort.
            Err(e) => {
                if let Some(idle) = slot.lock().take() {
                    std::mem::forget(idle);
                }
                tracing::debug!(error = %e, "store: PostgreSQL connections left open");
            }
        }
    }
}

pub(super) fn token_from(row: Option<(TokenInfo, Vec<u8>)>) -> Result<TokenRow> {
    let Some((info, uid)) = row else {
        tracing::error!("store: the token row is missing");
        return Err(Error::rv(
            cryptoki_sys::CKR_DEVICE_ERROR,
            "store: token row missing",
        ));
    };
    let token_uid = uid
        .as_slice()
        .try_into()
        .map_err(|_| Error::rv(cryptoki_sys::CKR_DEVICE_ERROR, "store: token uid malformed"))?;
    Ok(TokenRow { info, token_uid })
}

/// Where a connection came from: a fresh one that fails is the server's state; a
/// pooled one may only be stale (the server restarted since it was last used).
struct Conn {
    client: Client,
    pooled: bool,
}

impl PostgresRows {
    /// Connect, make or migrate the schema. A server that cannot be reached answers
    /// `CKR_FUNCTION_FAILED` (try again later); a password file that is missing,
    /// unreadable or open to others `CKR_DEVICE_ERROR`, with the file and the fix in
    /// the log.
    pub fn open(settings: &PgSettings) -> Result<PostgresRows> {
        let rows = PostgresRows {
            settings: settings.clone(),
            idle: Mutex::new(Vec::new()),
        };
        let mut client = rows.connect()?;
        schema::migrate(&mut client)?;
        rows.idle.lock().push(client);
        Ok(rows)
    }

    /// The connection settings.
    pub fn settings(&self) -> &PgSettings {
        &self.settings
    }

    fn connect(&self) -> Result<Client> {
        let s = &self.settings;
        let password = read_password_file(&s.password_file).map_err(|why| {
            tracing::error!("store: {why}");
            Error::rv(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: the PostgreSQL password file is unusable",
            )
        })?;
        let mut cfg = postgres::Config::new();
        for host in s.host.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            cfg.host(host);
        }
        cfg.port(s.port)
            .dbname(&s.dbname)
            .user(&s.user)
            .password(password.as_bytes())
            .connect_timeout(s.connect_timeout)
            .application_name("kmsbridge")
            // After a switchover, skip a demoted (read-only) server.
            .target_session_attrs(postgres::config::TargetSessionAttrs::ReadWrite)
            // A peer that vanished (host down, partition) is noticed in ~10 s rather
            // than at the OS's TCP timeout of minutes.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3);
        cfg.connect(NoTls)
            .map_err(pg("store: connect to PostgreSQL"))
    }

    fn checkout(&self) -> Result<Conn> {
        if let Some(client) = self.idle.lock().pop() {
            if !client.is_closed() {
                return Ok(Conn {
                    client,
                    pooled: true,
                });
            }
        }
        Ok(Conn {
            client: self.connect()?,
            pooled: false,
        })
    }

    fn checkin(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(client);
        }
    }

    /// Forget every pooled connection (after an outage showed they are stale).
    fn drop_idle(&self) {
        self.idle.lock().clear();
    }

    /// Run one read on a connection; a pooled connection that turns out stale is
    /// replaced by a fresh one once.
    fn read<T>(
        &self,
        op: &'static str,
        mut f: impl FnMut(&mut Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        loop {
            let mut conn = self.checkout()?;
            match f(&mut conn.client) {
                Ok(v) => {
                    self.checkin(conn.client);
                    return Ok(v);
                }
                Err(e) if kind(&e) == Kind::Transient && conn.pooled => {
                    // The server restarted or failed over since: so are the others.
                    self.drop_idle();
                    tracing::debug!(op, "store: stale PostgreSQL connection replaced");
                }
                Err(e) => return Err(error::to_error(op, &e)),
            }
        }
    }
}

impl Rows for PostgresRows {
    fn token(&self) -> Result<TokenRow> {
        token_from(self.read("store: token", rows_sql::token_row)?)
    }

    fn object(&self, id: ObjectId) -> Result<Option<ObjectRow>> {
        self.read("store: load", |c| rows_sql::get_object(c, id))
    }

    fn list(&self) -> Result<Vec<(ObjectId, u64, bool)>> {
        self.read("store: list", rows_sql::list)
    }

    fn version(&self) -> Result<u64> {
        Ok(self.read("store: version", rows_sql::version)? as u64)
    }

    /// One index lookup (see `rows_sql::find`).
    fn find(&self, query: &Query) -> Result<Vec<ObjectId>> {
        self.read("store: find", |c| rows_sql::find(c, query))
    }

    /// From the change log, in one statement.
    fn changes_since(&self, version: u64) -> Result<Changes> {
        self.read("store: changes", |c| rows_sql::changes_since(c, version))
    }

    fn unindexed(&self, limit: usize) -> Result<Vec<ObjectId>> {
        self.read("store: unindexed", |c| rows_sql::unindexed(c, limit))
    }

    /// The schema version is the one this code knows and the token and meta rows
    /// exist. (The server checks its own pages; `amcheck` is the operator's tool.)
    fn integrity_check(&self) -> Result<()> {
        let mut conn = self.checkout()?;
        let version = schema::current(&mut conn.client)?;
        if version != PG_SCHEMA_VERSION {
            tracing::error!(
                version,
                "store: PostgreSQL schema version is not {PG_SCHEMA_VERSION}"
            );
            return Err(Error::rv(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: integrity check failed",
            ));
        }
        let row = rows_sql::token_row(&mut conn.client).map_err(pg("store: integrity_check"))?;
        token_from(row)?;
        self.checkin(conn.client);
        Ok(())
    }

    /// One write transaction that locks the meta row first, so writers of every
    /// process run one after the other; it moves the store version.
    fn write(
        &self,
        what: &'static str,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> Result<()> {
        let mut conflicts = 0;
        loop {
            let mut conn = self.checkout()?;
            match self.attempt(&mut conn.client, what, f) {
                Ok(touched) => {
                    if touched >= ANALYZE_AFTER {
                        analyze(&mut conn.client);
                    }
                    self.checkin(conn.client);
                    return Ok(());
                }
                Err((Some(Kind::Conflict), _)) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    self.checkin(conn.client);
                }
                Err((Some(Kind::Transient), _)) if conn.pooled => {
                    // Nothing was committed (the commit is not retried, see attempt).
                    self.drop_idle();
                }
                Err((_, e)) => return Err(e),
            }
        }
    }
}

impl PostgresRows {
    /// One run of a write; on failure, the kind of database failure before the commit
    /// was sent (`None`: `f`'s own refusal, or the commit failed, which is not retried).
    fn attempt(
        &self,
        client: &mut Client,
        what: &'static str,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> std::result::Result<usize, (Option<Kind>, Error)> {
        let fail = |e: postgres::Error| (Some(kind(&e)), error::to_error(what, &e));
        let mut tx = client.transaction().map_err(fail)?;
        tx.execute("SELECT 1 FROM kb_meta WHERE id = 1 FOR UPDATE", &[])
            .map_err(fail)?;
        let mut ptx = tx::PgTx {
            tx: &mut tx,
            failed: None,
            touched: Vec::new(),
            everything: false,
        };
        if let Err(e) = f(&mut ptx) {
            return Err((ptx.failed, e));
        }
        let (mut touched, everything) = (ptx.touched, ptx.everything);
        let version: i64 = tx
            .query_one(
                "UPDATE kb_meta SET version = version + 1 WHERE id = 1 RETURNING version",
                &[],
            )
            .map_err(fail)?
            .get(0);
        rows_sql::log_commit(&mut tx, version, &mut touched, everything).map_err(fail)?;
        tx.commit().map_err(|e| (None, error::to_error(what, &e)))?;
        Ok(touched.len())
    }
}

/// A commit that touched this many objects refreshes the planner's statistics at once.
const ANALYZE_AFTER: usize = 1_000;

/// After a bulk load, the tables' statistics, so the next finds are planned on them
/// (an index-only scan of the terms) rather than on a new table's guesses; autovacuum
/// would get there, but only after its next round. Best effort: the commit stands.
fn analyze(c: &mut Client) {
    if let Err(e) = c.batch_execute("ANALYZE kb_object, kb_object_term, kb_change_log") {
        tracing::debug!(error = %e, "store: ANALYZE after a bulk load failed");
    }
}
