//! The store's tables in PostgreSQL and their versioned migrations.
//!
//! `kb_schema_version` holds the schema version. [`migrate`] takes a database from
//! any older version to [`PG_SCHEMA_VERSION`], each step N→N+1 in one transaction
//! under a transaction-scoped advisory lock (so processes opening a new store at once
//! migrate it once), and refuses a schema newer than this code knows.

use postgres::Client;

use super::error::pg;
use crate::seal;
use kmsbridge_bridge::{Error, Result};

/// The schema this code reads and writes.
pub const PG_SCHEMA_VERSION: i32 = 2;

/// Versions the change log keeps (as the SQLite store's `LOG_VERSIONS`): a cache
/// older than that reloads.
pub(crate) const LOG_VERSIONS: i64 = 100_000;

/// Wrong PINs allowed in a row before a PIN locks (as in the SQLite store).
const DEFAULT_MAX_FAILURES: i32 = 10;

/// The advisory lock key the migrations take ("kmsbridge" in ASCII, cut to 63 bits).
const MIGRATION_LOCK: i64 = 0x6b6d_7362_7269_6467;

/// The steps: `STEPS[n]` takes the schema from version n to n + 1.
const STEPS: &[fn(&mut postgres::Transaction<'_>) -> Result<()>] = &[create_v1, v1_to_v2];

/// The schema version of the database (0 when it holds no store yet).
pub(crate) fn current(c: &mut impl postgres::GenericClient) -> Result<i32> {
    let exists: bool = c
        .query_one("SELECT to_regclass('kb_schema_version') IS NOT NULL", &[])
        .map_err(pg("store: schema version"))?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = c
        .query_opt("SELECT version FROM kb_schema_version WHERE id = 1", &[])
        .map_err(pg("store: schema version"))?;
    Ok(row.map(|r| r.get(0)).unwrap_or(0))
}

fn newer(version: i32) -> Error {
    tracing::error!(
        version,
        supported = PG_SCHEMA_VERSION,
        "store: the PostgreSQL store's schema (kb_schema_version) is version {version}, newer than this kmsbridge knows ({PG_SCHEMA_VERSION}); upgrade kmsbridge"
    );
    Error::rv(
        cryptoki_sys::CKR_TOKEN_NOT_RECOGNIZED,
        "store: the PostgreSQL schema is newer than this kmsbridge knows",
    )
}

/// Bring the schema to [`PG_SCHEMA_VERSION`].
pub(crate) fn migrate(c: &mut Client) -> Result<()> {
    migrate_to(c, PG_SCHEMA_VERSION)
}

/// Bring the schema to `target` (tests stop at intermediate versions).
pub(crate) fn migrate_to(c: &mut Client, target: i32) -> Result<()> {
    loop {
        let mut tx = c.transaction().map_err(pg("store: migrate"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(pg("store: migrate"))?;
        let version = current(&mut tx)?;
        if version > PG_SCHEMA_VERSION {
            return Err(newer(version));
        }
        if version >= target {
            return Ok(());
        }
        let step = usize::try_from(version)
            .ok()
            .and_then(|v| STEPS.get(v))
            .ok_or(Error::rv(
                cryptoki_sys::CKR_GENERAL_ERROR,
                "store: no migration step",
            ))?;
        step(&mut tx)?;
        tx.execute(
            "INSERT INTO kb_schema_version (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version",
            &[&(version + 1)],
        )
        .map_err(pg("store: migrate"))?;
        tx.commit().map_err(pg("store: migrate commit"))?;
        tracing::info!(
            from = version,
            to = version + 1,
            "store: PostgreSQL schema migrated"
        );
    }
}

fn create_v1(tx: &mut postgres::Transaction<'_>) -> Result<()> {
    tx.batch_execute(
        "
        CREATE TABLE kb_schema_version (
            id      integer PRIMARY KEY CHECK (id = 1),
            version integer NOT NULL
        );
        -- One row: what the whole store shares. `version` moves at every commit; every
        -- write transaction locks this row first, so writers run one at a time.
        CREATE TABLE kb_meta (
            id      integer PRIMARY KEY CHECK (id = 1),
            version bigint NOT NULL,
            serial  text NOT NULL
        );
        -- One row: the token. token_uid changes at every C_InitToken and is bound into
        -- every seal, so nothing of an earlier token opens under a later one.
        CREATE TABLE kb_token (
            id             integer PRIMARY KEY CHECK (id = 1),
            initialized    boolean NOT NULL,
            label          text NOT NULL,
            token_uid      bytea NOT NULL,
            user_pin_init  boolean NOT NULL,
            user_failures  integer NOT NULL,
            so_failures    integer NOT NULL,
            max_failures   integer NOT NULL
        );
        -- One row per role (CKU_SO = 0, CKU_USER = 1): the DEK sealed under a key
        -- derived from that role's PIN.
        CREATE TABLE kb_pin_slot (
            user_type   bigint PRIMARY KEY,
            salt        bytea NOT NULL,
            iterations  bigint NOT NULL,
            wrapped     bytea NOT NULL
        );
        -- Token objects. An identity column: its sequence never hands out an id twice.
        CREATE TABLE kb_object (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            uid          bytea NOT NULL,
            class        bigint NOT NULL,
            private      boolean NOT NULL,
            clear        bytea NOT NULL,
            sealed_types bytea NOT NULL,
            sealed       bytea
        );
        ",
    )
    .map_err(pg("store: create schema"))?;
    let mut serial = [0u8; 8];
    seal::random(&mut serial)?;
    let serial: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    tx.execute(
        "INSERT INTO kb_meta (id, version, serial) VALUES (1, 0, $1)",
        &[&serial],
    )
    .map_err(pg("store: create schema"))?;
    let uid = seal::random_uid()?;
    let max = DEFAULT_MAX_FAILURES;
    tx.execute(
        "INSERT INTO kb_token (id, initialized, label, token_uid, user_pin_init,
                               user_failures, so_failures, max_failures)
         VALUES (1, false, '', $1, false, 0, 0, $2)",
        &[&uid.as_slice(), &max],
    )
    .map_err(pg("store: create schema"))?;
    Ok(())
}

/// Version 2: the find index and the change log (as the SQLite store's schema 2).
/// Rows of a version-1 store start unindexed (a private object's terms need the DEK):
/// every find answers them as candidates until a login gives them terms
/// (`Store::reindex`). The log starts at the current version, so a cache from before
/// the upgrade reloads.
fn v1_to_v2(tx: &mut postgres::Transaction<'_>) -> Result<()> {
    tx.batch_execute(
        "
        -- true once the object's terms are in kb_object_term (set with every write).
        ALTER TABLE kb_object ADD COLUMN indexed boolean NOT NULL DEFAULT false;
        CREATE INDEX kb_object_class ON kb_object (class, id);
        CREATE INDEX kb_object_unindexed ON kb_object (id) WHERE NOT indexed;
        -- What finds look up: (attribute type, term) -> object. Terms are public
        -- objects' clear values and keyed hashes for private objects', never key
        -- material (the crate's index module).
        CREATE TABLE kb_object_term (
            ty        bigint NOT NULL,
            term      bytea NOT NULL,
            object_id bigint NOT NULL REFERENCES kb_object (id) ON DELETE CASCADE,
            PRIMARY KEY (ty, term, object_id)
        );
        CREATE INDEX kb_object_term_object ON kb_object_term (object_id);
        -- Which objects each commit (kb_meta.version) inserted, replaced or deleted;
        -- complete for versions above kb_meta.log_floor.
        CREATE TABLE kb_change_log (
            version   bigint NOT NULL,
            object_id bigint NOT NULL,
            PRIMARY KEY (version, object_id)
        );
        ALTER TABLE kb_meta ADD COLUMN log_floor bigint NOT NULL DEFAULT 0;
        UPDATE kb_meta SET log_floor = version;
        ",
    )
    .map_err(pg("store: migrate to schema 2"))
}
