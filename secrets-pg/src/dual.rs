//! Dual-account (alternating users) rotation.

use kmsbridge_secrets::{DbCredential, GenerationSpec, RotationTarget, TargetError, Values};
use zeroize::Zeroizing;

use crate::conn::{check_login, connect, role_exists, run_formatted, set_password};

const SUFFIX: &str = "_clone";
/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_ROLE_LEN: usize = 63;

fn parse(v: &[u8]) -> Result<DbCredential, TargetError> {
    DbCredential::from_value(v).map_err(|e| TargetError(e.to_string()))
}

/// The other user of the pair: `app` ↔ `app_clone`.
pub fn alternate(user: &str) -> Result<String, TargetError> {
    let other = match user.strip_suffix(SUFFIX) {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => format!("{user}{SUFFIX}"),
    };
    if other.len() > MAX_ROLE_LEN {
        return Err(TargetError(format!(
            "user {other} would be longer than PostgreSQL's {MAX_ROLE_LEN} bytes"
        )));
    }
    Ok(other)
}

/// Alternates between `<user>` and `<user>_clone`: each rotation gives the user not in
/// `ACSCurrent` a new password, so the current one keeps working until the rotation
/// after next. The admin credential creates the clone on the first rotation and gives
/// it the role memberships of the current user — so grant the application's
/// privileges to a group role both are members of, not to the user itself.
pub struct DualAccount {
    /// A credential that may create roles and change their passwords.
    pub admin: DbCredential,
    /// How new passwords are generated.
    pub spec: GenerationSpec,
}

impl DualAccount {
    /// A target with the database password spec.
    pub fn new(admin: DbCredential) -> Self {
        Self {
            admin,
            spec: GenerationSpec::database_password(),
        }
    }
}

impl RotationTarget for DualAccount {
    fn create_value(&mut self, current: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, TargetError> {
        let current = current
            .ok_or_else(|| TargetError("the secret has no current credential to rotate".into()))?;
        let mut next = parse(current)?;
        next.username = alternate(&next.username)?;
        next.password = self
            .spec
            .generate()
            .map_err(|e| TargetError(e.to_string()))?
            .to_string();
        next.to_value().map_err(|e| TargetError(e.to_string()))
    }

    fn set(&mut self, v: &Values<'_>) -> Result<(), TargetError> {
        let pending = parse(v.pending)?;
        let mut admin = connect(&self.admin)?;
        if !role_exists(&mut admin, &pending.username)? {
            run_formatted(
                &mut admin,
                "CREATE ROLE %I WITH LOGIN",
                &[&pending.username],
                &format!("creating role {}", pending.username),
            )?;
        }
        // Same memberships as the user in use (GRANT of a held role is a no-op).
        if let Some(current) = v.current.map(parse).transpose()? {
            let rows = admin
                .query(
                    "SELECT g.rolname::text FROM pg_auth_members m \
                     JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
                     WHERE u.rolname = $1",
                    &[&current.username],
                )
                .map_err(|e| {
                    TargetError(format!(
                        "reading the memberships of {}: {}",
                        current.username,
                        crate::conn::describe(&e)
                    ))
                })?;
            for row in rows {
                let group: String = row.get(0);
                run_formatted(
                    &mut admin,
                    "GRANT %I TO %I",
                    &[&group, &pending.username],
                    &format!("granting {group} to {}", pending.username),
                )?;
            }
        }
        set_password(&mut admin, &pending.username, &pending.password)
    }

    fn test(&mut self, v: &Values<'_>) -> Result<(), TargetError> {
        check_login(&parse(v.pending)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternates() {
        assert_eq!(alternate("app").unwrap(), "app_clone");
        assert_eq!(alternate("app_clone").unwrap(), "app");
        assert_eq!(alternate("_clone").unwrap(), "_clone_clone");
        assert!(alternate(&"a".repeat(60)).is_err());
    }
}
