//! A secret: metadata and its versions, with the stage rules of AWS Secrets Manager.
//!
//! Every change is made on a copy and swapped in only when all of it is valid, so an
//! operation either happens entirely or not at all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::envelope::{self, KeyWrapper};
use crate::error::{Result, SecretError};
use crate::generate::GenerationSpec;
use crate::name::{check_description, check_tags};
use crate::rotation::RotationState;
use crate::stage::MAX_STAGES_PER_VERSION;
use crate::{SecretName, Stage, Version, VersionId};

/// Most versions a secret keeps; past it the oldest unstaged version is evicted.
pub const MAX_VERSIONS: usize = 100;

/// What a secret holds; it decides how it is rotated and how its value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretType {
    /// Any value; rotated by generating a new one ([`GenerationSpec`]).
    Generic,
    /// A JSON database credential ([`crate::DbCredential`]).
    DatabaseCredential,
    /// An OpenSSH private key; the public key is derived from it.
    SshKey,
}

impl SecretType {
    /// The name used in records, the CLI and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::DatabaseCredential => "database-credential",
            Self::SshKey => "ssh-key",
        }
    }
}

/// A scheduled deletion: the secret is unusable until restored, and purged after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// Unix seconds when deletion was asked.
    pub requested: u64,
    /// Unix seconds from which the secret may be purged.
    pub delete_after: u64,
}

/// Which version to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The version with this stage (`ACSCurrent` by default).
    Stage(Stage),
    /// The version with this id.
    Version(VersionId),
}

impl Default for Selector {
    fn default() -> Self {
        Self::Stage(Stage::current())
    }
}

/// The result of a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// The version's id.
    pub version: VersionId,
    /// False when the same value already was under this id (nothing changed).
    pub created: bool,
    /// Versions evicted to stay within [`MAX_VERSIONS`].
    pub evicted: Vec<VersionId>,
}

/// A secret. Invariants: a stage is on at most one version; when there are versions,
/// `ACSCurrent` is on exactly one; at most [`MAX_VERSIONS`] versions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    name: SecretName,
    #[serde(rename = "type")]
    kind: SecretType,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// None: the instance's default key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    created: u64,
    updated: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deletion: Option<Deletion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_rotated: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<GenerationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rotation: Option<RotationState>,
    #[serde(default, rename = "version")]
    versions: Vec<Version>,
}

impl Secret {
    /// A new secret without versions (put a value next).
    pub fn new(name: SecretName, kind: SecretType, now: u64) -> Self {
        Self {
            name,
            kind,
            description: String::new(),
            tags: BTreeMap::new(),
            kms_key_id: None,
            created: now,
            updated: now,
            deletion: None,
            rotation_days: None,
            last_rotated: None,
            generation: None,
            rotation: None,
            versions: Vec::new(),
        }
    }

    /// The name.
    pub fn name(&self) -> &SecretName {
        &self.name
    }
    /// The type.
    pub fn kind(&self) -> SecretType {
        self.kind
    }
    /// The description.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }
    /// The CMK the secret's values are wrapped under; None: the instance's default key.
    pub fn kms_key_id(&self) -> Option<&str> {
        self.kms_key_id.as_deref()
    }
    /// Unix seconds of creation.
    pub fn created(&self) -> u64 {
        self.created
    }
    /// Unix seconds of the last change.
    pub fn updated(&self) -> u64 {
        self.updated
    }
    /// The scheduled deletion, if any.
    pub fn deletion(&self) -> Option<Deletion> {
        self.deletion
    }
    /// Rotation interval in days, if automatic rotation is on.
    pub fn rotation_days(&self) -> Option<u32> {
        self.rotation_days
    }
    /// Unix seconds of the last finished rotation.
    pub fn last_rotated(&self) -> Option<u64> {
        self.last_rotated
    }
    /// How generic values are generated on rotation (None: the default spec).
    pub fn generation(&self) -> Option<&GenerationSpec> {
        self.generation.as_ref()
    }
    /// The rotation in flight, if any.
    pub fn rotation(&self) -> Option<&RotationState> {
        self.rotation.as_ref()
    }
    /// All versions, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// Sets the description.
    pub fn set_description(&mut self, d: &str, now: u64) -> Result<()> {
        check_description(d)?;
        self.description = d.to_owned();
        self.updated = now;
        Ok(())
    }

    /// Replaces the tags.
    pub fn set_tags(&mut self, tags: BTreeMap<String, String>, now: u64) -> Result<()> {
        check_tags(&tags)?;
        self.tags = tags;
        self.updated = now;
        Ok(())
    }

    /// Names the CMK for values put from now on (existing versions keep theirs: each
    /// sealed value records its key id).
    pub fn set_kms_key_id(&mut self, key_id: Option<String>, now: u64) {
        self.kms_key_id = key_id;
        self.updated = now;
    }

    /// Turns automatic rotation on (every `days`, 1..=1000) or off.
    pub fn set_rotation_days(&mut self, days: Option<u32>, now: u64) -> Result<()> {
        if let Some(d) = days {
            if !(1..=1000).contains(&d) {
                return Err(SecretError::RotationInterval { days: d });
            }
        }
        self.rotation_days = days;
        self.updated = now;
        Ok(())
    }

    /// Sets how a generic secret's values are generated on rotation.
    pub fn set_generation(&mut self, spec: Option<GenerationSpec>, now: u64) -> Result<()> {
        if let Some(s) = &spec {
            s.check()?;
        }
        self.generation = spec;
        self.updated = now;
        Ok(())
    }

    /// Whether an automatic rotation is due at `now`: rotation is on and the interval has
    /// passed since the last rotation (or creation), or a rotation was left unfinished.
    pub fn rotation_due(&self, now: u64) -> bool {
        if self.deletion.is_some() {
            return false;
        }
        // A rotation left unfinished is due whatever the interval (or none).
        if self.rotation.is_some() {
            return true;
        }
        let Some(days) = self.rotation_days else {
            return false;
        };
        let since = self.last_rotated.unwrap_or(self.created);
        now >= since.saturating_add(u64::from(days) * 86_400)
    }

    pub(crate) fn mark_rotated(&mut self, now: u64) {
        self.last_rotated = Some(now);
        self.updated = now;
    }

    fn check_usable(&self) -> Result<()> {
        match self.deletion {
            Some(d) => Err(SecretError::ScheduledForDeletion {
                name: self.name.to_string(),
                delete_after: d.delete_after,
            }),
            None => Ok(()),
        }
    }

    /// The version with id `id`.
    pub fn version(&self, id: &VersionId) -> Result<&Version> {
        self.versions
            .iter()
            .find(|v| &v.id == id)
            .ok_or_else(|| SecretError::VersionNotFound {
                name: self.name.to_string(),
                version: id.clone(),
            })
    }

    /// The version carrying `stage`.
    pub fn by_stage(&self, stage: &Stage) -> Result<&Version> {
        self.versions
            .iter()
            .find(|v| v.has(stage))
            .ok_or_else(|| SecretError::StageNotFound {
                name: self.name.to_string(),
                stage: stage.clone(),
            })
    }

    /// The `ACSCurrent` version.
    pub fn current(&self) -> Result<&Version> {
        self.by_stage(&Stage::current())
    }

    /// The version a selector names.
    pub fn select(&self, which: &Selector) -> Result<&Version> {
        match which {
            Selector::Stage(s) => self.by_stage(s),
            Selector::Version(v) => self.version(v),
        }
    }

    /// Decrypts the selected version's value. Refused while scheduled for deletion.
    pub fn read(
        &self,
        wrapper: &dyn KeyWrapper,
        which: &Selector,
    ) -> Result<(VersionId, Zeroizing<Vec<u8>>)> {
        self.check_usable()?;
        let v = self.select(which)?;
        Ok((
            v.id.clone(),
            envelope::open(wrapper, &self.name, &v.id, &v.sealed)?,
        ))
    }

    /// Puts a value as a new version, idempotent by version id: with `version` naming an
    /// existing version, the same value succeeds without change and a different one is
    /// refused ([`SecretError::VersionExists`]). `stages` default to `ACSCurrent`; the
    /// first version always gets `ACSCurrent`. Stages are moved from other versions
    /// (`ACSCurrent` leaving a version leaves `ACSPrevious` there). The oldest unstaged
    /// versions are evicted past [`MAX_VERSIONS`].
    pub fn put_value(
        &mut self,
        wrapper: &dyn KeyWrapper,
        version: Option<VersionId>,
        value: &[u8],
        stages: Option<Vec<Stage>>,
        now: u64,
    ) -> Result<PutOutcome> {
        self.check_usable()?;
        envelope::check_value(value)?;
        let id = match version {
            Some(v) => v,
            None => VersionId::random()?,
        };
        if let Ok(existing) = self.version(&id) {
            let old = envelope::open(wrapper, &self.name, &id, &existing.sealed)?;
            if bool::from(old.as_slice().ct_eq(value)) {
                return Ok(PutOutcome {
                    version: id,
                    created: false,
                    evicted: Vec::new(),
                });
            }
            return Err(SecretError::VersionExists {
                name: self.name.to_string(),
                version: id,
            });
        }
        let mut stages = stages.unwrap_or_else(|| vec![Stage::current()]);
        if self.versions.is_empty() && !stages.iter().any(Stage::is_current) {
            stages.push(Stage::current());
        }
        stages.sort();
        stages.dedup();
        if stages.len() > MAX_STAGES_PER_VERSION {
            return Err(SecretError::TooManyStages {
                name: self.name.to_string(),
                version: id,
                max: MAX_STAGES_PER_VERSION,
            });
        }
        let sealed = envelope::seal(wrapper, &self.name, &id, value)?;
        let mut next = self.clone();
        next.versions.push(Version {
            id: id.clone(),
            created: now,
            stages: Default::default(),
            sealed,
        });
        for s in stages {
            next.attach(&s, &id)?;
        }
        let evicted = next.evict()?;
        next.updated = now;
        *self = next;
        Ok(PutOutcome {
            version: id,
            created: true,
            evicted,
        })
    }

    /// Moves (or removes) a stage, as AWS's UpdateSecretVersionStage: `move_to` gets the
    /// stage; when the stage is on another version, that version must be named as
    /// `remove_from`. `ACSCurrent` can only be moved, and the version losing it gets
    /// `ACSPrevious`. All or nothing.
    pub fn update_stage(
        &mut self,
        stage: &Stage,
        move_to: Option<&VersionId>,
        remove_from: Option<&VersionId>,
        now: u64,
    ) -> Result<()> {
        self.check_usable()?;
        let name = self.name.to_string();
        let holder = self
            .versions
            .iter()
            .find(|v| v.has(stage))
            .map(|v| v.id.clone());
        if let Some(to) = move_to {
            self.version(to)?;
        }
        if let Some(from) = remove_from {
            self.version(from)?;
            match &holder {
                Some(h) if h == from => {}
                Some(h) => {
                    return Err(SecretError::StageNotOnVersion {
                        name,
                        stage: stage.clone(),
                        expected: from.clone(),
                        actual: h.clone(),
                    })
                }
                None => {
                    return Err(SecretError::StageNotFound {
                        name,
                        stage: stage.clone(),
                    })
                }
            }
        }
        let mut next = self.clone();
        match (move_to, &holder) {
            (Some(to), Some(h)) if to == h => return Ok(()),
            (Some(to), Some(h)) => {
                if remove_from != Some(h) {
                    return Err(SecretError::StageAttached {
                        name,
                        stage: stage.clone(),
                        on: h.clone(),
                    });
                }
                next.attach(stage, to)?;
            }
            (Some(to), None) => next.attach(stage, to)?,
            (None, Some(h)) => {
                if stage.is_current() {
                    return Err(SecretError::CurrentRemoved { name });
                }
                if remove_from != Some(h) {
                    return Err(SecretError::StageAttached {
                        name,
                        stage: stage.clone(),
                        on: h.clone(),
                    });
                }
                next.detach(stage);
            }
            (None, None) => {
                return Err(SecretError::StageNotFound {
                    name,
                    stage: stage.clone(),
                })
            }
        }
        next.updated = now;
        *self = next;
        Ok(())
    }

    /// Puts `stage` on version `to`, taking it off any other; `ACSCurrent` leaving a
    /// version puts `ACSPrevious` there.
    fn attach(&mut self, stage: &Stage, to: &VersionId) -> Result<()> {
        let old_current = if stage.is_current() {
            self.versions
                .iter()
                .find(|v| v.has(stage) && &v.id != to)
                .map(|v| v.id.clone())
        } else {
            None
        };
        self.detach(stage);
        self.add_stage(stage, to)?;
        if let Some(prev) = old_current {
            let p = Stage::previous();
            self.detach(&p);
            self.add_stage(&p, &prev)?;
        }
        Ok(())
    }

    fn add_stage(&mut self, stage: &Stage, to: &VersionId) -> Result<()> {
        let name = self.name.to_string();
        let v = self
            .versions
            .iter_mut()
            .find(|v| &v.id == to)
            .ok_or_else(|| SecretError::VersionNotFound {
                name: name.clone(),
                version: to.clone(),
            })?;
        v.stages.insert(stage.clone());
        if v.stages.len() > MAX_STAGES_PER_VERSION {
            return Err(SecretError::TooManyStages {
                name,
                version: to.clone(),
                max: MAX_STAGES_PER_VERSION,
            });
        }
        Ok(())
    }

    fn detach(&mut self, stage: &Stage) {
        for v in &mut self.versions {
            v.stages.remove(stage);
        }
    }

    /// Evicts the oldest unstaged versions past [`MAX_VERSIONS`].
    fn evict(&mut self) -> Result<Vec<VersionId>> {
        let mut evicted = Vec::new();
        while self.versions.len() > MAX_VERSIONS {
            let Some(i) = self.versions.iter().position(|v| v.stages.is_empty()) else {
                return Err(SecretError::TooManyVersions {
                    name: self.name.to_string(),
                    max: MAX_VERSIONS,
                });
            };
            evicted.push(self.versions.remove(i).id);
        }
        Ok(evicted)
    }

    /// Schedules deletion after a recovery window of 7..=30 days. Until then the secret
    /// cannot be read or changed, only restored.
    pub fn schedule_deletion(&mut self, recovery_days: u32, now: u64) -> Result<Deletion> {
        self.check_usable()?;
        if !(7..=30).contains(&recovery_days) {
            return Err(SecretError::RecoveryWindow {
                days: recovery_days,
            });
        }
        let d = Deletion {
            requested: now,
            delete_after: now.saturating_add(u64::from(recovery_days) * 86_400),
        };
        self.deletion = Some(d);
        self.updated = now;
        Ok(d)
    }

    /// Cancels a scheduled deletion.
    pub fn restore(&mut self, now: u64) -> Result<()> {
        if self.deletion.take().is_none() {
            return Err(SecretError::NotScheduledForDeletion {
                name: self.name.to_string(),
            });
        }
        self.updated = now;
        Ok(())
    }

    /// Whether the secret is scheduled for deletion and its window has passed: the
    /// caller removes the record.
    pub fn purge_due(&self, now: u64) -> bool {
        self.deletion.is_some_and(|d| now >= d.delete_after)
    }

    /// Checks the invariants (used on records read from storage).
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(SecretError::Record(format!("secret {}: {m}", self.name)));
        if self.versions.len() > MAX_VERSIONS {
            return bad(format!(
                "{} versions, at most {MAX_VERSIONS}",
                self.versions.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut ids = std::collections::BTreeSet::new();
        for v in &self.versions {
            if !ids.insert(&v.id) {
                return bad(format!("version {} appears twice", v.id));
            }
            if v.stages.len() > MAX_STAGES_PER_VERSION {
                return bad(format!("version {} has {} stages", v.id, v.stages.len()));
            }
            for s in &v.stages {
                if !seen.insert(s) {
                    return bad(format!("stage {s} is on two versions"));
                }
            }
        }
        if !self.versions.is_empty() && !seen.contains(&Stage::current()) {
            return bad("no version is ACSCurrent".into());
        }
        check_description(&self.description)?;
        check_tags(&self.tags)?;
        Ok(())
    }

    /// Takes `stage` off every version, for cancelling a rotation (never `ACSCurrent`).
    pub(crate) fn drop_stage(&mut self, stage: &Stage, now: u64) {
        if !stage.is_current() {
            self.detach(stage);
            self.updated = now;
        }
    }
}
