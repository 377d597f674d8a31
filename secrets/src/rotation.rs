//! The rotation state machine, the same for every kind of secret and every backend:
//!
//! 1. **create**: the target makes the new value from the current one; it is put as a
//!    new version carrying `ACSPending`, whose version id is the rotation token.
//! 2. **set**: the target applies the pending value to the external system (e.g. the
//!    database changes the password).
//! 3. **test**: the target checks that the pending value works (e.g. logs in).
//! 4. **finish**: `ACSCurrent` moves to the pending version, the old current version
//!    becomes `ACSPrevious`, `ACSPending` is removed.
//!
//! The record is stored (`persist`) after every step, so a rotation interrupted by a
//! crash resumes from the pending version: set and test are repeated with the same
//! value, which targets must accept (they are idempotent). A failure at any step leaves
//! `ACSCurrent` where it was, records the reason in the secret's [`RotationState`], and
//! keeps the pending version so the next attempt resumes with the same value — the
//! external system may already have it. [`cancel`] drops it instead.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::envelope::KeyWrapper;
use crate::{Secret, Selector, Stage, VersionId};

/// A failure reported by a rotation target, in words for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

/// The values a target works with. Borrowed plaintexts; never log them.
pub struct Values<'a> {
    /// The `ACSCurrent` value (None on a secret without versions).
    pub current: Option<&'a [u8]>,
    /// The `ACSPending` value.
    pub pending: &'a [u8],
    /// The `ACSPrevious` value, if any.
    pub previous: Option<&'a [u8]>,
}

/// The external system a secret's value is used at.
pub trait RotationTarget {
    /// Makes the new value from the current one.
    fn create_value(&mut self, current: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, TargetError>;
    /// Applies `values.pending` to the external system; must succeed when it already was.
    fn set(&mut self, values: &Values<'_>) -> Result<(), TargetError>;
    /// Checks that `values.pending` works.
    fn test(&mut self, values: &Values<'_>) -> Result<(), TargetError>;
}

/// A step of the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationStep {
    /// The pending version was created.
    Create,
    /// The pending value was applied.
    Set,
    /// The pending value was tested.
    Test,
    /// The pending version was promoted.
    Finish,
}

impl std::fmt::Display for RotationStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Set => "set",
            Self::Test => "test",
            Self::Finish => "finish",
        })
    }
}

/// A rotation in flight, kept in the secret's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationState {
    /// The pending version's id (the rotation token).
    pub token: VersionId,
    /// Unix seconds when the rotation started.
    pub started: u64,
    /// The last step that completed.
    pub done: RotationStep,
    /// Attempts that failed so far.
    pub failures: u32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A failed rotation: `ACSCurrent` is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rotation of secret {secret} failed at step {step}{}: {reason}; ACSCurrent is unchanged", .version.as_ref().map(|v| format!(" (pending version {v})")).unwrap_or_default())]
pub struct RotationError {
    /// The secret's name.
    pub secret: String,
    /// The step that failed.
    pub step: RotationStep,
    /// The pending version, when one exists.
    pub version: Option<VersionId>,
    /// Why.
    pub reason: String,
}

/// A finished rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The new `ACSCurrent` version.
    pub version: VersionId,
    /// The version that became `ACSPrevious`.
    pub previous: Option<VersionId>,
    /// Whether an interrupted rotation was resumed.
    pub resumed: bool,
    /// How long each step took, in order.
    pub steps: Vec<(RotationStep, Duration)>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Rotates `secret` (or resumes its interrupted rotation). `persist` stores the record
/// and is called after every step; `secret` is the caller's copy, updated as it goes.
pub fn rotate(
    secret: &mut Secret,
    wrapper: &dyn KeyWrapper,
    target: &mut dyn RotationTarget,
    persist: &mut dyn FnMut(&Secret) -> Result<(), String>,
) -> Result<RotationReport, RotationError> {
    let name = secret.name().to_string();
    let fail = |step, version: Option<&VersionId>, reason: String| RotationError {
        secret: name.clone(),
        step,
        version: version.cloned(),
        reason,
    };
    let mut steps = Vec::new();
    let pending_stage = Stage::pending();

    // Resume: a recorded token whose version still carries ACSPending; or an
    // ACSPending version put by someone else, adopted as the token.
    let mut resumed = false;
    let mut done = RotationStep::Create;
    let token = match secret.rotation.clone() {
        Some(st)
            if secret
                .version(&st.token)
                .is_ok_and(|v| v.has(&pending_stage)) =>
        {
            resumed = true;
            done = st.done;
            st.token
        }
        _ => {
            secret.rotation = None;
            if let Ok(v) = secret.by_stage(&pending_stage) {
                resumed = true;
                let token = v.id.clone();
                secret.rotation = Some(state(token.clone()));
                token
            } else {
                let t = Instant::now();
                let current = match secret.read(wrapper, &Selector::default()) {
                    Ok((_, v)) => Some(v),
                    Err(crate::SecretError::StageNotFound { .. }) => None,
                    Err(e) => return Err(fail(RotationStep::Create, None, e.to_string())),
                };
                let value = target
                    .create_value(current.as_ref().map(|v| v.as_slice()))
                    .map_err(|e| fail(RotationStep::Create, None, e.0))?;
                let token = VersionId::random()
                    .map_err(|e| fail(RotationStep::Create, None, e.to_string()))?;
                let mut next = secret.clone();
                next.put_value(
                    wrapper,
                    Some(token.clone()),
                    &value,
                    Some(vec![pending_stage.clone()]),
                    now(),
                )
                .map_err(|e| fail(RotationStep::Create, None, e.to_string()))?;
                next.rotation = Some(state(token.clone()));
                persist(&next).map_err(|e| {
                    fail(
                        RotationStep::Create,
                        None,
                        format!("storing the record: {e}"),
                    )
                })?;
                *secret = next;
                steps.push((RotationStep::Create, t.elapsed()));
                token
            }
        }
    };

    let result = run_steps(secret, wrapper, target, persist, &token, done, &mut steps);
    match result {
        Ok(previous) => Ok(RotationReport {
            version: token,
            previous,
            resumed,
            steps,
        }),
        Err((step, reason)) => {
            let mut failed = secret.clone();
            if let Some(st) = failed.rotation.as_mut() {
                st.failures = st.failures.saturating_add(1);
                st.last_error = Some(format!("{step}: {reason}"));
            }
            // Best effort: the failure is reported either way.
            if persist(&failed).is_ok() {
                *secret = failed;
            }
            Err(fail(step, Some(&token), reason))
        }
    }
}

fn state(token: VersionId) -> RotationState {
    RotationState {
        token,
        started: now(),
        done: RotationStep::Create,
        failures: 0,
        last_error: None,
    }
}

type StepError = (RotationStep, String);

fn run_steps(
    secret: &mut Secret,
    wrapper: &dyn KeyWrapper,
    target: &mut dyn RotationTarget,
    persist: &mut dyn FnMut(&Secret) -> Result<(), String>,
    token: &VersionId,
    done: RotationStep,
    steps: &mut Vec<(RotationStep, Duration)>,
) -> Result<Option<VersionId>, StepError> {
    let read =
        |s: &Secret, step, sel: &Selector| -> Result<Option<Zeroizing<Vec<u8>>>, StepError> {
            match s.read(wrapper, sel) {
                Ok((_, v)) => Ok(Some(v)),
                Err(crate::SecretError::StageNotFound { .. }) => Ok(None),
                Err(e) => Err((step, e.to_string())),
            }
        };
    let pending = read(secret, RotationStep::Set, &Selector::Version(token.clone()))?.ok_or((
        RotationStep::Set,
        format!("pending version {token} is gone"),
    ))?;
    let current = read(secret, RotationStep::Set, &Selector::default())?;
    let previous = read(
        secret,
        RotationStep::Set,
        &Selector::Stage(Stage::previous()),
    )?;
    let values = Values {
        current: current.as_ref().map(|v| v.as_slice()),
        pending: &pending,
        previous: previous.as_ref().map(|v| v.as_slice()),
    };
    let mut record = |secret: &mut Secret, step: RotationStep| -> Result<(), StepError> {
        let mut next = secret.clone();
        if let Some(st) = next.rotation.as_mut() {
            st.done = step;
        }
        persist(&next).map_err(|e| (step, format!("storing the record: {e}")))?;
        *secret = next;
        Ok(())
    };
    // Set is always repeated on resume before a test: after a crash we cannot know
    // whether the external system took it, and targets accept a repeat.
    let t = Instant::now();
    target.set(&values).map_err(|e| (RotationStep::Set, e.0))?;
    if done < RotationStep::Set {
        record(secret, RotationStep::Set)?;
    }
    steps.push((RotationStep::Set, t.elapsed()));

    let t = Instant::now();
    target
        .test(&values)
        .map_err(|e| (RotationStep::Test, e.0))?;
    record(secret, RotationStep::Test)?;
    steps.push((RotationStep::Test, t.elapsed()));

    let t = Instant::now();
    let mut next = secret.clone();
    let old = next
        .current()
        .ok()
        .map(|v| v.id.clone())
        .filter(|o| o != token);
    next.update_stage(&Stage::current(), Some(token), old.as_ref(), now())
        .map_err(|e| (RotationStep::Finish, e.to_string()))?;
    next.drop_stage(&Stage::pending(), now());
    next.rotation = None;
    next.mark_rotated(now());
    persist(&next).map_err(|e| (RotationStep::Finish, format!("storing the record: {e}")))?;
    *secret = next;
    steps.push((RotationStep::Finish, t.elapsed()));
    Ok(old)
}

/// Abandons a rotation in flight: `ACSPending` is removed and the state cleared; the
/// pending version stays (unstaged) until evicted. `ACSCurrent` is untouched.
pub fn cancel(secret: &mut Secret, now: u64) {
    secret.drop_stage(&Stage::pending(), now);
    secret.rotation = None;
}
