//! PostgreSQL rotation targets for kmsbridge secrets (issue 13), over the maintained
//! `postgres` client. A database credential secret's value is AWS's JSON
//! ([`kmsbridge_secrets::DbCredential`]).
//!
//! - [`SingleUser`]: the user's password is changed in place (`ALTER ROLE`), by the user
//!   itself or an admin credential. Between the change and the promotion of the new
//!   version, a client that reads `ACSCurrent` still gets the old password and fails:
//!   the failure window, measured in the tests and documented in docs/SECRETS.md.
//! - [`DualAccount`]: two users, `<user>` and `<user>_clone`, alternate; each rotation
//!   sets a new password on the one not in use (created on the first rotation by the
//!   admin credential, with the same role memberships), so the user in `ACSCurrent`
//!   keeps working throughout: no failure window.
//!
//! Passwords are sent as SCRAM-SHA-256 verifiers computed here, never in clear, so
//! the server's statement log cannot hold them. `test` logs in with the pending
//! credential and runs `SELECT 1`.

mod conn;
mod dual;
mod single;

pub use conn::{connect, role_exists, set_password};
pub use dual::{alternate, DualAccount};
pub use single::SingleUser;
