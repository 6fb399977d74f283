//! The lock file: for each installed skill, the reference it came from, the digest it
//! was pinned to and the grants. `chitin skill install --locked` reproduces exactly
//! that set elsewhere, or says what differs.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::InstalledSkill;
use crate::{Capabilities, CapabilityDiff, RegistryError};

/// `chitin.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    #[serde(default, rename = "skill")]
    pub skills: Vec<LockedSkill>,
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSkill {
    pub name: String,
    pub reference: String,
    pub repository: String,
    /// The OCI manifest digest.
    pub digest: String,
    pub version: String,
    pub grants: Capabilities,
}

impl LockFile {
    pub const VERSION: u32 = 1;

    pub fn from_installed(skills: &[InstalledSkill]) -> Self {
        Self {
            version: Self::VERSION,
            skills: skills
                .iter()
                .map(|s| LockedSkill {
                    name: s.name.clone(),
                    reference: s.reference.clone(),
                    repository: s.repository.clone(),
                    digest: s.manifest_digest.clone(),
                    version: s.version.clone(),
                    grants: s.grants.clone(),
                })
                .collect(),
        }
    }

    pub fn read(path: &Path) -> Result<Self, RegistryError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| RegistryError::Io(path.to_path_buf(), e))?;
        let lock: LockFile = toml::from_str(&text).map_err(|e| RegistryError::Lock {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if lock.version != Self::VERSION {
            return Err(RegistryError::Lock {
                path: path.to_path_buf(),
                reason: format!(
                    "lock file version {} is not supported (this chitin writes {})",
                    lock.version,
                    Self::VERSION
                ),
            });
        }
        Ok(lock)
    }

    /// Write atomically (temp file in the same folder, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), RegistryError> {
        let text = format!(
            "# chitin.lock: written by chitin; `chitin skill install --locked` reproduces it.\n{}",
            toml::to_string_pretty(self).expect("lock serializes")
        );
        // Readable by others like any project file (it is meant to be committed).
        crate::atomic::write_with_mode(path, text.as_bytes(), 0o644)
            .map_err(|e| RegistryError::Io(path.to_path_buf(), e))
    }

    /// What differs between this lock (wanted) and what is installed.
    pub fn differences(&self, installed: &[InstalledSkill]) -> Vec<String> {
        let mut out = Vec::new();
        for want in &self.skills {
            match installed.iter().find(|s| s.name == want.name) {
                None => out.push(format!("{}: not installed", want.name)),
                Some(have) => {
                    if have.manifest_digest != want.digest {
                        out.push(format!(
                            "{}: installed {} ({}), locked {} ({})",
                            want.name,
                            have.version,
                            have.manifest_digest,
                            want.version,
                            want.digest
                        ));
                    }
                    let diff = CapabilityDiff::between(&want.grants, &have.grants);
                    if !diff.is_empty() {
                        out.push(format!(
                            "{}: grants differ from the lock file (installed: {diff})",
                            want.name
                        ));
                    }
                }
            }
        }
        for have in installed {
            if !self.skills.iter().any(|w| w.name == have.name) {
                out.push(format!("{}: installed but not in the lock file", have.name));
            }
        }
        out
    }
}
