//! Changing secrets through PKCS#11 (the user, a R/W session, `secret-admin`):
//! C_CreateObject creates a secret or puts a version (idempotent by version id),
//! C_SetAttributeValue puts a value, moves a stage, changes metadata, schedules or
//! cancels deletion and finishes a rotation, C_DestroyObject schedules deletion with
//! the minimum window (7 days). Every change is audited, never with a value.

use super::refused;
use super::view::resolve;
use super::wrapper::CmkWrapper;
use crate::error::{rule, Error, Result};
use crate::instance::{Instance, Login};
use crate::kms::record::unix_now;
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_access::Action;
use kmsbridge_bridge::{attr, Attr};
use kmsbridge_secrets::rotation::{RotationStep, RotationTarget, TargetError, Values};
use kmsbridge_secrets::{GenerationSpec, Secret, SecretName, SecretType, Stage, VersionId};
use zeroize::Zeroizing;

/// The shortest recovery window, which C_DestroyObject uses.
pub(crate) const MIN_RECOVERY_DAYS: u32 = 7;

fn writer(inst: &Instance, rw: bool) -> Result<()> {
    if inst.login_state() != Login::User {
        return rule(CKR_USER_NOT_LOGGED_IN, "secrets are changed by the user");
    }
    if !rw {
        return rule(CKR_SESSION_READ_ONLY, "secret changes need a R/W session");
    }
    Ok(())
}

fn text(a: &Attr) -> Result<&str> {
    match std::str::from_utf8(&a.value) {
        Ok(s) => Ok(s),
        Err(_) => rule(CKR_ATTRIBUTE_VALUE_INVALID, "text attributes are UTF-8"),
    }
}

fn stages(a: &Attr) -> Result<Vec<Stage>> {
    let mut out = Vec::new();
    for l in text(a)?.lines().filter(|l| !l.is_empty()) {
        match Stage::new(l) {
            Ok(s) => out.push(s),
            Err(_) => return rule(CKR_ATTRIBUTE_VALUE_INVALID, "not a stage label"),
        }
    }
    Ok(out)
}

fn version_id(a: &Attr) -> Result<VersionId> {
    match VersionId::new(text(a)?) {
        Ok(v) => Ok(v),
        Err(_) => rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "a version id is 1 to 64 of A-Z a-z 0-9 -",
        ),
    }
}

fn kind(a: &Attr) -> Result<SecretType> {
    match text(a)? {
        "generic" => Ok(SecretType::Generic),
        "database-credential" | "database" => Ok(SecretType::DatabaseCredential),
        "ssh-key" => Ok(SecretType::SshKey),
        _ => rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "a secret's type is generic, database-credential or ssh-key",
        ),
    }
}

fn generation(a: &Attr) -> Result<Option<GenerationSpec>> {
    if a.value.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice(&a.value) {
        Ok(g) => Ok(Some(g)),
        Err(e) => {
            tracing::warn!("generation spec refused: {e}");
            rule(CKR_ATTRIBUTE_VALUE_INVALID, "not a generation spec (JSON)")
        }
    }
}

fn days(a: &Attr) -> Result<Option<u32>> {
    match a.as_ulong() {
        Some(0) => Ok(None),
        Some(d) => Ok(Some(u32::try_from(d).unwrap_or(u32::MAX))),
        None => rule(CKR_ATTRIBUTE_VALUE_INVALID, "days are a CK_ULONG"),
    }
}

/// A KMS key id for a secret: it must name an AES-256 key of the instance.
fn kms_key(inst: &Instance, a: &Attr) -> Result<Option<String>> {
    let id = text(a)?.trim();
    if id.is_empty() {
        return Ok(None);
    }
    let w = CmkWrapper::new(inst, Some(id))?;
    Ok(Some(kmsbridge_secrets::KeyWrapper::key_id(&w)))
}

fn model<T>(name: &str, r: kmsbridge_secrets::Result<T>) -> Result<T> {
    r.or_else(|e| refused(name, e))
}

fn save(inst: &Instance, s: &Secret) -> Result<()> {
    inst.secrets.store.save(&*inst.backend, &inst.objects, s)
}

/// C_CreateObject of a CKO_DATA with CKA_APPLICATION "kmsbridge.secret".
pub(crate) fn create(inst: &Instance, rw: bool, t: &[Attr]) -> Result<CK_OBJECT_HANDLE> {
    let name = attr::find(t, CKA_LABEL)
        .and_then(|a| std::str::from_utf8(&a.value).ok())
        .unwrap_or_default()
        .to_string();
    let mut action = "secret-put";
    let r = create_unaudited(inst, rw, t, &name, &mut action);
    crate::audit::hooks::admin_done(inst, action, &format!("secret/{name}"), &r);
    r
}

fn create_unaudited(
    inst: &Instance,
    rw: bool,
    t: &[Attr],
    label: &str,
    action: &mut &'static str,
) -> Result<CK_OBJECT_HANDLE> {
    writer(inst, rw)?;
    for a in t {
        let ok = match a.ty {
            CKA_CLASS => a.as_ulong() == Some(CKO_DATA),
            CKA_APPLICATION => a.value[..] == *SECRET_APPLICATION,
            CKA_TOKEN | CKA_PRIVATE | CKA_MODIFIABLE | CKA_DESTROYABLE => a.as_bool() == Some(true),
            CKA_OBJECT_ID => a.value.is_empty(),
            CKA_LABEL
            | CKA_VALUE
            | CKA_KMSBRIDGE_SECRET_VERSION_ID
            | CKA_KMSBRIDGE_SECRET_STAGES
            | CKA_KMSBRIDGE_SECRET_TYPE
            | CKA_KMSBRIDGE_SECRET_KMS_KEY
            | CKA_KMSBRIDGE_SECRET_GENERATION
            | CKA_KMSBRIDGE_SECRET_ROTATION_DAYS
            | CKA_KMSBRIDGE_SECRET_NEW
            | CKA_KMSBRIDGE_DESCRIPTION => true,
            _ => return rule(CKR_ATTRIBUTE_TYPE_INVALID, "not a secret attribute"),
        };
        if !ok {
            return rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "secrets are private token CKO_DATA objects of kmsbridge.secret",
            );
        }
    }
    if label.is_empty() {
        return rule(CKR_TEMPLATE_INCOMPLETE, "a secret needs a name (CKA_LABEL)");
    }
    let name = model(label, SecretName::new(label))?;
    inst.access.allow_secret(inst, label, Action::SecretAdmin)?;
    let Some(value) = attr::find(t, CKA_VALUE) else {
        return rule(
            CKR_TEMPLATE_INCOMPLETE,
            "a secret needs a value (CKA_VALUE)",
        );
    };
    let now = unix_now();
    let existing = inst.secrets.store.get_now(&*inst.backend, label);
    let only_new = attr::find(t, CKA_KMSBRIDGE_SECRET_NEW).and_then(|a| a.as_bool()) == Some(true);
    let meta = [
        CKA_KMSBRIDGE_SECRET_TYPE,
        CKA_KMSBRIDGE_SECRET_KMS_KEY,
        CKA_KMSBRIDGE_SECRET_GENERATION,
        CKA_KMSBRIDGE_SECRET_ROTATION_DAYS,
        CKA_KMSBRIDGE_DESCRIPTION,
    ];
    let mut secret = match existing {
        Some(_) if only_new => {
            return rule(CKR_ATTRIBUTE_VALUE_INVALID, "a secret of this name exists");
        }
        Some(s) => {
            if meta.iter().any(|ty| attr::find(t, *ty).is_some()) {
                return rule(
                    CKR_TEMPLATE_INCONSISTENT,
                    "a put carries a value only: change metadata with C_SetAttributeValue",
                );
            }
            (*s).clone()
        }
        None => {
            *action = "secret-create";
            let k = match attr::find(t, CKA_KMSBRIDGE_SECRET_TYPE) {
                Some(a) => kind(a)?,
                None => SecretType::Generic,
            };
            let mut s = Secret::new(name, k, now);
            if let Some(a) = attr::find(t, CKA_KMSBRIDGE_DESCRIPTION) {
                model(label, s.set_description(text(a)?, now))?;
            }
            if let Some(a) = attr::find(t, CKA_KMSBRIDGE_SECRET_KMS_KEY) {
                s.set_kms_key_id(kms_key(inst, a)?, now);
            }
            if let Some(a) = attr::find(t, CKA_KMSBRIDGE_SECRET_GENERATION) {
                model(label, s.set_generation(generation(a)?, now))?;
            }
            if let Some(a) = attr::find(t, CKA_KMSBRIDGE_SECRET_ROTATION_DAYS) {
                model(label, s.set_rotation_days(days(a)?, now))?;
            }
            s
        }
    };
    let version = attr::find(t, CKA_KMSBRIDGE_SECRET_VERSION_ID)
        .map(version_id)
        .transpose()?;
    let stages = attr::find(t, CKA_KMSBRIDGE_SECRET_STAGES)
        .map(stages)
        .transpose()?;
    let is_new = *action == "secret-create";
    let (created, version) = put(inst, &mut secret, version, &value.value, stages)?;
    if created || is_new {
        save(inst, &secret)?;
    }
    tracing::info!(instance = %inst.name, secret = %label, version = %version, created, "secret value put");
    Ok(inst
        .secrets
        .handle(inst, label, &kmsbridge_secrets::Selector::Version(version)))
}

/// Put a value under the secret's KMS key: whether a version was added, and its id.
fn put(
    inst: &Instance,
    s: &mut Secret,
    version: Option<VersionId>,
    value: &[u8],
    stages: Option<Vec<Stage>>,
) -> Result<(bool, VersionId)> {
    let name = s.name().to_string();
    let wrapper = CmkWrapper::new(inst, s.kms_key_id())?;
    let value = Zeroizing::new(value.to_vec());
    let out = model(
        &name,
        s.put_value(&wrapper, version, &value, stages, unix_now()),
    )?;
    for v in &out.evicted {
        tracing::info!(secret = %name, version = %v, "oldest unstaged version evicted");
    }
    Ok((out.created, out.version))
}

/// C_DestroyObject: deletion scheduled after the minimum recovery window.
pub(crate) fn destroy(inst: &Instance, rw: bool, h: CK_OBJECT_HANDLE) -> Result<()> {
    let name = inst
        .secrets
        .of_handle(h)
        .map(|r| r.name)
        .unwrap_or_default();
    let r = (|| {
        writer(inst, rw)?;
        let (r, s) = resolve(inst, h)?;
        inst.access
            .allow_secret(inst, &r.name, Action::SecretAdmin)?;
        let mut s = (*s).clone();
        let d = model(&r.name, s.schedule_deletion(MIN_RECOVERY_DAYS, unix_now()))?;
        save(inst, &s)?;
        tracing::info!(instance = %inst.name, secret = %r.name, delete_after = d.delete_after, "secret deletion scheduled");
        Ok(())
    })();
    crate::audit::hooks::admin_done(inst, "secret-delete", &format!("secret/{name}"), &r);
    r
}

/// The trail's action for a change.
fn set_action(t: &[Attr]) -> &'static str {
    let has = |ty| attr::find(t, ty).is_some();
    if has(CKA_VALUE) {
        "secret-put"
    } else if has(CKA_KMSBRIDGE_SECRET_ROTATION) {
        "secret-rotate"
    } else if has(CKA_KMSBRIDGE_SECRET_RESTORE) {
        "secret-restore"
    } else if has(CKA_KMSBRIDGE_PENDING_WINDOW_DAYS) {
        "secret-delete"
    } else if has(CKA_KMSBRIDGE_SECRET_STAGE) {
        "secret-stage"
    } else {
        "secret-update"
    }
}

/// C_SetAttributeValue of a secret object.
pub(crate) fn set(inst: &Instance, rw: bool, h: CK_OBJECT_HANDLE, t: &[Attr]) -> Result<()> {
    let name = inst
        .secrets
        .of_handle(h)
        .map(|r| r.name)
        .unwrap_or_default();
    let r = set_unaudited(inst, rw, h, t);
    crate::audit::hooks::admin_done(inst, set_action(t), &format!("secret/{name}"), &r);
    r
}

fn set_unaudited(inst: &Instance, rw: bool, h: CK_OBJECT_HANDLE, t: &[Attr]) -> Result<()> {
    writer(inst, rw)?;
    let (r, current) = resolve(inst, h)?;
    inst.access
        .allow_secret(inst, &r.name, Action::SecretAdmin)?;
    let name = r.name.as_str();
    let mut s = (*inst
        .secrets
        .store
        .get_now(&*inst.backend, name)
        .unwrap_or(current))
    .clone();
    let now = unix_now();
    let mut rotation = None;
    for a in t {
        match a.ty {
            CKA_LABEL if a.value[..] == *name.as_bytes() => {}
            CKA_VALUE => {
                let version = attr::find(t, CKA_KMSBRIDGE_SECRET_VERSION_ID)
                    .map(version_id)
                    .transpose()?;
                put(inst, &mut s, version, &a.value, None)?;
            }
            CKA_KMSBRIDGE_SECRET_VERSION_ID if attr::find(t, CKA_VALUE).is_some() => {}
            CKA_KMSBRIDGE_DESCRIPTION => model(name, s.set_description(text(a)?, now))?,
            CKA_KMSBRIDGE_SECRET_ROTATION_DAYS => model(name, s.set_rotation_days(days(a)?, now))?,
            CKA_KMSBRIDGE_SECRET_GENERATION => model(name, s.set_generation(generation(a)?, now))?,
            CKA_KMSBRIDGE_SECRET_KMS_KEY => s.set_kms_key_id(kms_key(inst, a)?, now),
            CKA_KMSBRIDGE_SECRET_STAGE => {
                let stage = match Stage::new(text(a)?) {
                    Ok(st) => st,
                    Err(e) => return refused(name, e),
                };
                let id_of = |ty| -> Result<Option<VersionId>> {
                    match attr::find(t, ty) {
                        Some(x) if !x.value.is_empty() => Ok(Some(version_id(x)?)),
                        _ => Ok(None),
                    }
                };
                let to = id_of(CKA_KMSBRIDGE_SECRET_MOVE_TO)?;
                let from = id_of(CKA_KMSBRIDGE_SECRET_REMOVE_FROM)?;
                model(
                    name,
                    s.update_stage(&stage, to.as_ref(), from.as_ref(), now),
                )?;
            }
            CKA_KMSBRIDGE_SECRET_MOVE_TO | CKA_KMSBRIDGE_SECRET_REMOVE_FROM
                if attr::find(t, CKA_KMSBRIDGE_SECRET_STAGE).is_some() => {}
            CKA_KMSBRIDGE_PENDING_WINDOW_DAYS => {
                let d = days(a)?.unwrap_or(0);
                model(name, s.schedule_deletion(d, now))?;
            }
            CKA_KMSBRIDGE_SECRET_RESTORE if a.as_bool() == Some(true) => {
                model(name, s.restore(now))?
            }
            CKA_KMSBRIDGE_SECRET_ROTATION => rotation = Some(text(a)?.to_string()),
            CKA_LABEL
            | CKA_CLASS
            | CKA_APPLICATION
            | CKA_TOKEN
            | CKA_PRIVATE
            | CKA_KMSBRIDGE_SECRET_TYPE
            | CKA_KMSBRIDGE_SECRET_INFO
            | CKA_KMSBRIDGE_SECRET_STAGES => {
                return rule(CKR_ATTRIBUTE_READ_ONLY, "read-only secret attribute")
            }
            _ => return rule(CKR_ATTRIBUTE_TYPE_INVALID, "not a secret attribute"),
        }
    }
    match rotation {
        None => save(inst, &s),
        Some(outcome) => {
            // Any other change in the same template is stored first.
            if t.len() > 1 {
                save(inst, &s)?;
            }
            finish_rotation(inst, &mut s, &outcome)
        }
    }
}

/// The outcome the CLI reports for the external steps it ran.
struct Reported {
    failed: Option<(RotationStep, String)>,
}

impl RotationTarget for Reported {
    fn create_value(
        &mut self,
        _: Option<&[u8]>,
    ) -> std::result::Result<Zeroizing<Vec<u8>>, TargetError> {
        Err(TargetError(match &self.failed {
            Some((_, why)) => why.clone(),
            None => "no rotation in flight: put the new value with stage ACSPending first".into(),
        }))
    }
    fn set(&mut self, _: &Values<'_>) -> std::result::Result<(), TargetError> {
        match &self.failed {
            Some((RotationStep::Set, why)) => Err(TargetError(why.clone())),
            _ => Ok(()),
        }
    }
    fn test(&mut self, _: &Values<'_>) -> std::result::Result<(), TargetError> {
        match &self.failed {
            Some((_, why)) => Err(TargetError(why.clone())),
            None => Ok(()),
        }
    }
}

/// CKA_KMSBRIDGE_SECRET_ROTATION: `ok` promotes the `ACSPending` version (the caller
/// has set and tested it at the external system); `failed <step>: <reason>` records
/// the failure in the secret (ACSCurrent unchanged) and answers CKR_OK. Both through
/// the model's state machine (`kmsbridge_secrets::rotate`).
fn finish_rotation(inst: &Instance, s: &mut Secret, outcome: &str) -> Result<()> {
    let failed = if outcome.trim() == "ok" {
        None
    } else if let Some(rest) = outcome.strip_prefix("failed ") {
        let (step, why) = rest.split_once(": ").unwrap_or((rest, "no reason given"));
        let step = match step {
            "create" => RotationStep::Create,
            "set" => RotationStep::Set,
            _ => RotationStep::Test,
        };
        Some((step, why.chars().take(1024).collect()))
    } else {
        return rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "a rotation outcome is \"ok\" or \"failed <step>: <reason>\"",
        );
    };
    let expect_failure = failed.is_some();
    let name = s.name().to_string();
    let wrapper = CmkWrapper::new(inst, s.kms_key_id())?;
    let mut target = Reported { failed };
    let mut persist = |x: &Secret| save(inst, x).map_err(|e: Error| e.to_string());
    match kmsbridge_secrets::rotate(s, &wrapper, &mut target, &mut persist) {
        Ok(report) => {
            tracing::info!(instance = %inst.name, secret = %name, version = %report.version, "rotation finished");
            Ok(())
        }
        Err(e) if expect_failure => {
            tracing::warn!(instance = %inst.name, "{e}");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(instance = %inst.name, "{e}");
            rule(
                CKR_ACTION_PROHIBITED,
                "the rotation cannot finish (see the log)",
            )
        }
    }
}
