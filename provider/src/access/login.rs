//! C_Login of CKU_USER: a client key (given as the PIN, or read from the file named by
//! `KMSBRIDGE_CLIENT_KEY_FILE` when the PIN is empty or absent) logs in as its access
//! point; anything else is the user PIN of the default access point.

use super::{lockout, Access, Principal};
use crate::error::{rule, Result};
use crate::instance::Instance;
use cryptoki_sys::*;
use kmsbridge_access::credential::{ClientKey, CredentialError};
use kmsbridge_bridge::Backend;
use std::path::Path;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// The environment variable naming an application's client-key file.
pub(crate) const CLIENT_KEY_FILE_ENV: &str = "KMSBRIDGE_CLIENT_KEY_FILE";
/// What a credential's derived key is for: unsealing a software token's data key.
const SLOT_PURPOSE: &[u8] = b"kmsbridge credential slot v1";
/// Lockout marker label of the user PIN (hardware instances; a software store counts
/// its own PIN attempts).
pub(crate) const USER_PIN: &str = "pin.user";
/// Lockout marker label of a hardware instance's SO PIN.
pub(crate) const SO_PIN: &str = "pin.so";

/// The client-key file named in the environment, if any.
pub(crate) fn client_key_file() -> Option<std::path::PathBuf> {
    std::env::var_os(CLIENT_KEY_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// The credential id in the client-key file, if one is named and readable (its
/// secret is not kept).
pub(crate) fn file_credential_id() -> Option<String> {
    let text = read_key_file(&client_key_file()?).ok()?;
    ClientKey::parse(&text).ok().map(|k| k.id().to_string())
}

/// Read a client-key file: a regular file of this user that no one else may read.
fn read_key_file(path: &Path) -> Result<Zeroizing<String>> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let refuse = |what: String| {
        tracing::error!("{CLIENT_KEY_FILE_ENV}={}: {what}", path.display());
        rule(CKR_FUNCTION_FAILED, "the client-key file cannot be used")
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            return refuse(format!(
                "cannot open it ({e}); it must be a regular file, not a symbolic link"
            ))
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return refuse(format!("cannot read its mode ({e})")),
    };
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_file() {
        return refuse("not a regular file".into());
    }
    if meta.uid() != euid {
        return refuse(format!(
            "owned by uid {}, not by this process's user {euid}: chown it",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "mode {:04o} lets others read it: chmod 600 {}",
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    let mut text = Zeroizing::new(String::new());
    use std::io::Read;
    if let Err(e) = (&file).take(4096).read_to_string(&mut text) {
        return refuse(format!("cannot read it ({e})"));
    }
    Ok(text)
}

impl Access {
    /// Check a CKU_USER login and return who it logs in. `pin` None: the protected
    /// authentication path (no PIN given). `username`: C_LoginUser's, which must then
    /// be the access point's name.
    pub(crate) fn login_user(
        &self,
        inst: &Instance,
        pin: Option<&[u8]>,
        username: Option<&str>,
    ) -> Result<Principal> {
        inst.backend.connect()?;
        let from_file;
        let secret: &[u8] = match pin {
            Some(p) if !p.is_empty() => p,
            _ => match client_key_file() {
                Some(path) => {
                    from_file = read_key_file(&path)?;
                    from_file.as_bytes()
                }
                None if pin.is_none() => {
                    return rule(
                        CKR_ARGUMENTS_BAD,
                        "no PIN, and no KMSBRIDGE_CLIENT_KEY_FILE to read one from",
                    )
                }
                None => b"",
            },
        };
        let text = std::str::from_utf8(secret).unwrap_or("");
        if text.trim_start().starts_with("kb1.") {
            return self.login_credential(inst, text, username);
        }
        if username.is_some_and(|u| u != super::DEFAULT_NAME) {
            return rule(CKR_PIN_INCORRECT, "a named login needs a client key");
        }
        if !self.default_enabled {
            tracing::warn!(
                instance = %inst.name,
                "user PIN refused: this instance turned the default access point off \
                 (default_access_point = false); log in with a client key"
            );
            return rule(CKR_PIN_INCORRECT, "the default access point is turned off");
        }
        self.login_pin(inst, secret)?;
        Ok(Principal::default_access_point())
    }

    /// The user PIN, counted here on instances whose token does not count it.
    fn login_pin(&self, inst: &Instance, pin: &[u8]) -> Result<()> {
        self.counted_pin(inst, CKU_USER, pin)
    }

    /// A front PIN of `user` checked against the instance's hash, wrong attempts
    /// counted across processes before the check (a software store counts its own).
    pub(crate) fn counted_pin(
        &self,
        inst: &Instance,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> Result<()> {
        if inst.admin.token.is_some() {
            return inst.check_pin(user, pin);
        }
        let (who, locked) = if user == CKU_SO {
            (
                SO_PIN,
                "the SO PIN is locked: `kmsbridge cluster unlock-so` with the nodes' credentials unlocks it",
            )
        } else {
            (
                USER_PIN,
                "the user PIN is locked: the SO's C_InitPIN unlocks it",
            )
        };
        let backend = &*inst.backend;
        let attempt = self.count_attempt(backend, who)?;
        let failures = attempt.before;
        self.note_pin_failures(user, failures);
        let Some(seen) = attempt.counted(self.max_failures) else {
            return rule(CKR_PIN_LOCKED, locked);
        };
        match inst.check_pin(user, pin) {
            Ok(()) => {
                lockout::clear_seen(backend, &seen);
                self.note_pin_failures(user, 0);
                Ok(())
            }
            Err(e) => {
                self.note_pin_failures(user, failures + 1);
                Err(e)
            }
        }
    }

    /// Counts one attempt of `who` unless it is locked already, other processes' on
    /// this host included: under the host lock, a search (which is what makes the
    /// count exact on SoftHSM2, see host_lock.rs, and tells a locked secret), the
    /// marker, a search again. Two searches of the token per attempt, one when locked.
    fn count_attempt(&self, backend: &dyn Backend, who: &str) -> Result<Attempt> {
        let _held = self.host_lock.hold();
        let before = lockout::failures(backend, who)?;
        if before >= self.max_failures as usize {
            return Ok(Attempt { before, seen: None });
        }
        lockout::count(backend, who)?;
        let seen = lockout::markers(backend, who)?;
        Ok(Attempt {
            before,
            seen: Some(seen),
        })
    }

    fn login_credential(
        &self,
        inst: &Instance,
        text: &str,
        username: Option<&str>,
    ) -> Result<Principal> {
        let backend = &*inst.backend;
        let Ok(key) = ClientKey::parse(text) else {
            return rule(CKR_PIN_INCORRECT, "a malformed client key");
        };
        let id = key.id();
        let who = id.to_string();
        let Some(ap) = self.points.by_credential(backend, id) else {
            tracing::info!(instance = %inst.name, credential = %who, "login refused: no access point has this credential");
            return rule(CKR_PIN_INCORRECT, "no access point has this credential");
        };
        if username.is_some_and(|u| u != ap.rec.name) {
            return rule(
                CKR_PIN_INCORRECT,
                "the credential is not this access point's",
            );
        }
        let Some((stored, slot)) = ap
            .rec
            .credential(id)
            .and_then(|c| Some((c.stored()?, c.slot())))
        else {
            return rule(CKR_PIN_INCORRECT, "the credential record is unreadable");
        };
        let attempt = self.count_attempt(backend, &who)?;
        let failures = attempt.before;
        self.note_credential_failures(failures);
        let Some(seen) = attempt.counted(self.max_failures) else {
            tracing::warn!(instance = %inst.name, access_point = %ap.rec.name, credential = %who, "login refused: credential locked");
            return rule(
                CKR_PIN_LOCKED,
                "the credential is locked: kmsbridge aap credential unlock",
            );
        };
        match stored.verify(&key, SystemTime::now()) {
            Ok(()) => {}
            Err(CredentialError::WrongKey) => {
                self.note_credential_failures(failures + 1);
                tracing::info!(instance = %inst.name, access_point = %ap.rec.name, credential = %who, "login refused: wrong client key");
                return rule(CKR_PIN_INCORRECT, "wrong client key");
            }
            Err(e) => {
                // The key was right: the attempt does not count against it.
                lockout::clear_seen(backend, &seen);
                tracing::info!(instance = %inst.name, access_point = %ap.rec.name, credential = %who, "login refused: {e}");
                return rule(
                    CKR_PIN_EXPIRED,
                    "the credential is outside its validity window",
                );
            }
        }
        lockout::clear_seen(backend, &seen);
        self.note_credential_failures(0);
        if let Some(token) = &inst.admin.token {
            let kek = key.derive_key(SLOT_PURPOSE);
            if !token.login_credential(&kek, &id.0, &slot)? {
                tracing::warn!(
                    instance = %inst.name, access_point = %ap.rec.name, credential = %who,
                    "login refused: the credential was made for an earlier initialisation of this token; add a new one"
                );
                return rule(CKR_PIN_INCORRECT, "the credential does not open this token");
            }
        }
        Ok(Principal::new(ap.rec.name.as_str().into(), Some(id)))
    }

    /// The sealed data key a new credential opens (software instances; empty else).
    pub(crate) fn slot_for(&self, inst: &Instance, key: &ClientKey) -> Result<Vec<u8>> {
        match &inst.admin.token {
            Some(token) => {
                Ok(token.seal_for_credential(&key.derive_key(SLOT_PURPOSE), &key.id().0)?)
            }
            None => Ok(Vec::new()),
        }
    }

    /// Install who logged in.
    pub(crate) fn logged_in(&self, p: Principal) {
        let serial = p.serial();
        self.principal.store(Some(std::sync::Arc::new(p)));
        self.held
            .store(serial, std::sync::atomic::Ordering::Release);
    }
}

/// One attempt as `count_attempt` counted it.
struct Attempt {
    /// Markers before this attempt's.
    before: usize,
    /// The markers at the recount (this attempt's among them); None: locked already,
    /// nothing counted.
    seen: Option<Vec<kmsbridge_bridge::ObjectId>>,
}

impl Attempt {
    /// The markers seen, if this attempt is within the bound `max` and may be checked.
    fn counted(self, max: u32) -> Option<Vec<kmsbridge_bridge::ObjectId>> {
        self.seen.filter(|seen| seen.len() <= max as usize)
    }
}
