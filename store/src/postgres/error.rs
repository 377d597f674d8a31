//! PostgreSQL errors as the codes the application sees (the crate documentation's
//! store I/O codes), and which of them a fresh connection or a second run may cure.

use cryptoki_sys::CK_RV;
use postgres::error::SqlState;

use kmsbridge_bridge::Error;

/// What a failed statement says about the next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The server aborted the transaction to keep writers serializable: run it again.
    Conflict,
    /// The server cannot be reached, is shutting down or starting, or this connection
    /// broke (restart, failover, network): `CKR_FUNCTION_FAILED`, a fresh connection
    /// may succeed.
    Transient,
    /// Anything else, answered with its code.
    Fatal(CK_RV),
}

/// The error with its causes: `postgres::Error` shows only its kind ("db error"); the
/// server's message and the OS error are in the source chain. Never holds a password
/// (the client does not put it in errors).
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

pub(crate) fn kind(e: &postgres::Error) -> Kind {
    use cryptoki_sys::*;
    let Some(state) = e.code() else {
        // No SQLSTATE: the client's own failure — connecting, reading or writing the
        // socket, a closed connection, a timeout — all about reaching the server.
        // (A value conversion error would land here too; none of our columns can
        // fail to convert.)
        return Kind::Transient;
    };
    let class = state.code().get(..2).unwrap_or("");
    if *state == SqlState::T_R_SERIALIZATION_FAILURE || *state == SqlState::T_R_DEADLOCK_DETECTED {
        Kind::Conflict
    } else if class == "08"
        || class == "57"
        || *state == SqlState::TOO_MANY_CONNECTIONS
        || *state == SqlState::LOCK_NOT_AVAILABLE
        // A server that was demoted in a switchover refuses writes until we reconnect
        // to the new primary.
        || *state == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        Kind::Transient
    } else if *state == SqlState::DISK_FULL || *state == SqlState::OUT_OF_MEMORY {
        Kind::Fatal(CKR_DEVICE_MEMORY)
    } else {
        Kind::Fatal(CKR_DEVICE_ERROR)
    }
}

/// Map `e` to the code the application sees, logging it once.
pub(crate) fn to_error(op: &'static str, e: &postgres::Error) -> Error {
    let rv = match kind(e) {
        Kind::Conflict | Kind::Transient => cryptoki_sys::CKR_FUNCTION_FAILED,
        Kind::Fatal(rv) => rv,
    };
    if rv == cryptoki_sys::CKR_FUNCTION_FAILED {
        tracing::warn!(op, error = %describe(e), "store: PostgreSQL unavailable");
    } else {
        tracing::error!(op, error = %describe(e), "store: PostgreSQL error");
    }
    Error::rv(rv, op)
}

/// A `map_err` adapter.
pub(crate) fn pg(op: &'static str) -> impl Fn(postgres::Error) -> Error {
    move |e| to_error(op, &e)
}
