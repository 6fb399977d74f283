//! The install pipeline: resolve → fetch the manifest → pull the component (size
//! limited, digest re-checked while streaming) → check it against its annotations →
//! compile and link (unsatisfiable imports fail here, not at run time) → `describe()`
//! with no grants → (the caller asks the user) → commit: blobs renamed into the store,
//! one index transaction, the lock file rewritten.
//!
//! Everything before [`Installer::commit`] writes only temp files, so a failure or an
//! interrupted process leaves the installed set exactly as it was. Skills from an OCI
//! layout (`oci-layout:<dir>`) are read through [`crate::layout`].

use std::path::PathBuf;

use chitin_registry::artifact::{self, RemoteSkill, parse_remote};
use chitin_registry::oci::auth_for;
use chitin_registry::signing::Envelope;
use chitin_registry::trust::{TrustError, TrustPolicy, Verified};
use chitin_registry::yank::{self, YankCheck};
use chitin_registry::{
    Capabilities, CapabilityDiff, InstalledSkill, LockFile, Manifest, RegistryClient,
    RegistryError, RegistryOptions, SkillRef, Store,
};

use crate::{HostError, LoadedSkill, Runtime, Tool};

/// A skill pulled, verified, compiled and described, waiting for the user's consent.
pub struct Prepared {
    /// The reference as the user wrote it.
    pub reference: String,
    /// `registry/repository` or `oci-layout:<dir>`.
    pub repository: String,
    pub tag: Option<String>,
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub manifest_text: String,
    pub tools: Vec<Tool>,
    /// The same digest is already installed under this name: nothing to do.
    pub already_installed: bool,
    /// What is installed under this name now, if anything (for the update diff).
    pub previous: Option<InstalledSkill>,
    /// Who signed it, or why it is installed without a trusted signature.
    pub trust: Trust,
    blobs: Vec<(tempfile::TempPath, String)>,
    wasm_digest: String,
}

/// The outcome of the signature check.
#[derive(Debug, Clone)]
pub enum Trust {
    /// A signature the policy trusts.
    Signed(Verified),
    /// No trusted signature, installed anyway because the user passed
    /// `--allow-unsigned`; `reason` says what the check found.
    Unsigned { reason: String },
}

/// What a user must approve: added capabilities and tools of an update.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub capabilities: CapabilityDiff,
    pub tools_added: Vec<String>,
    pub tools_changed: Vec<String>,
    pub tools_removed: Vec<String>,
}

impl Diff {
    /// Anything that widens what the skill may do, or what it tells the model.
    pub fn needs_consent(&self) -> bool {
        self.capabilities.widens() || !self.tools_added.is_empty() || !self.tools_changed.is_empty()
    }
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }
}

impl Prepared {
    pub fn name(&self) -> &str {
        self.manifest.skill.name.as_str()
    }

    /// The repository the installed skill of this name came from, when it is another
    /// one: the same name from another repository is, as far as anyone can tell,
    /// another publisher's skill.
    pub fn repository_change(&self) -> Option<&str> {
        self.previous
            .as_ref()
            .map(|p| p.repository.as_str())
            .filter(|old| *old != self.repository)
    }

    /// Capabilities and tools added or removed relative to the installed version.
    pub fn diff(&self) -> Diff {
        let Some(prev) = &self.previous else {
            return Diff::default();
        };
        let old_tools: Vec<Tool> = serde_json::from_value(prev.tools.clone()).unwrap_or_default();
        let mut diff = Diff {
            capabilities: CapabilityDiff::between(&prev.grants, &self.manifest.capabilities),
            ..Default::default()
        };
        for t in &self.tools {
            match old_tools.iter().find(|o| o.name == t.name) {
                None => diff.tools_added.push(t.name.clone()),
                Some(o) if o != t => diff.tools_changed.push(t.name.clone()),
                Some(_) => {}
            }
        }
        for o in &old_tools {
            if !self.tools.iter().any(|t| t.name == o.name) {
                diff.tools_removed.push(o.name.clone());
            }
        }
        diff
    }
}

/// One line per declared capability, comparable across versions.
pub fn capability_lines(c: &Capabilities) -> Vec<String> {
    c.grants().iter().map(ToString::to_string).collect()
}

/// Installs into one store, with one runtime, under one trust policy.
pub struct Installer<'a> {
    pub runtime: &'a Runtime,
    pub store: &'a mut Store,
    pub options: RegistryOptions,
    pub lock_path: PathBuf,
    pub policy: &'a TrustPolicy,
    /// Install without a trusted signature (the user said so explicitly).
    pub allow_unsigned: bool,
    /// Replace an installed skill of the same name that came from another repository
    /// (the user said so explicitly: a flag, or an answer on the terminal).
    pub allow_repository_change: bool,
}

impl Installer<'_> {
    /// Fetch, verify, compile and describe; commit nothing.
    pub async fn prepare(
        &self,
        reference: &str,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Prepared, HostError> {
        let parsed: SkillRef = reference.parse()?;
        let (remote, manifest_bytes, config_bytes, wasm_tmp, repository, tag, digest, trust) =
            match &parsed {
                SkillRef::Oci(r) => {
                    let client = RegistryClient::for_ref(r, &self.options)?;
                    let auth = auth_for(r.reference.resolve_registry());
                    let pinned = client.resolve(r, &auth).await?;
                    if let Some(prev) = self.installed_with_digest(&pinned.digest)?
                        && prev.repository == r.repository()
                    {
                        return self.already(reference, prev);
                    }
                    let (bytes, digest) = client.fetch_manifest(&pinned.reference, &auth).await?;
                    let remote = parse_remote(&bytes)?;
                    // Trust before download: an untrusted skill costs one manifest.
                    let envelopes = client
                        .fetch_signatures(&pinned.reference, &digest, &auth)
                        .await?;
                    let attestations = if self.policy.requires_provenance(&r.repository()) {
                        client
                            .fetch_attestations(&pinned.reference, &digest, &auth)
                            .await?
                    } else {
                        Vec::new()
                    };
                    let manifest = SignedManifest {
                        repository: r.repository(),
                        digest: digest.clone(),
                        manifest_bytes: bytes.clone(),
                        envelopes,
                        attestations,
                    };
                    let trust = self.judge(&manifest, pinned.tag.as_deref(), &remote)?;
                    // A version its publisher withdrew does not install (nor update).
                    let yanks = client
                        .fetch_yanks(&pinned.reference, &digest, &auth)
                        .await?;
                    let check = yank::judge(self.policy, &r.repository(), &digest, &yanks);
                    if let Some(y) = check.yanked {
                        return Err(TrustError::Yanked {
                            repository: r.repository(),
                            digest,
                            reason: y.reason,
                            signer: Box::new(y.signer),
                        }
                        .into());
                    }
                    let tmp = self.store.temp_file()?;
                    let size = remote.layer.size as u64;
                    client
                        .pull_blob_to(&pinned.reference, &remote.layer.digest, size, &tmp, |n| {
                            progress(n, size)
                        })
                        .await?;
                    let config = self
                        .pull_config(&client, &pinned.reference, &remote)
                        .await?;
                    (
                        remote,
                        bytes,
                        config,
                        tmp,
                        r.repository(),
                        pinned.tag,
                        digest,
                        trust,
                    )
                }
                SkillRef::Layout { dir, tag } => {
                    let (bytes, digest) = crate::layout::manifest(dir, tag.as_deref())?;
                    let repo = format!("oci-layout:{}", dir.display());
                    if let Some(prev) = self.installed_with_digest(&digest)?
                        && prev.repository == repo
                    {
                        return self.already(reference, prev);
                    }
                    let remote = parse_remote(&bytes)?;
                    let manifest = SignedManifest {
                        repository: repo.clone(),
                        digest: digest.clone(),
                        manifest_bytes: bytes.clone(),
                        envelopes: crate::layout::signatures(dir, &digest)?,
                        attestations: crate::layout::attestations(dir, &digest)?,
                    };
                    let trust = self.judge(&manifest, tag.as_deref(), &remote)?;
                    let wasm = crate::layout::blob(dir, &remote.layer.digest)?;
                    let config = crate::layout::blob(dir, &remote.manifest.config.digest)?;
                    let tmp = self.store.temp_file()?;
                    std::fs::write(&tmp, &wasm)
                        .map_err(|e| RegistryError::Io(tmp.to_path_buf(), e))?;
                    (remote, bytes, config, tmp, repo, tag.clone(), digest, trust)
                }
            };
        let wasm =
            std::fs::read(&wasm_tmp).map_err(|e| RegistryError::Io(wasm_tmp.to_path_buf(), e))?;
        let manifest = remote.check_component(&wasm)?;
        let loaded = self.runtime.load(&wasm)?;
        let tools = self.runtime.describe(&loaded).await?;
        let previous = self.store.get(manifest.skill.name.as_str())?;
        if let (Some(prev), Trust::Signed(new)) = (&previous, &trust)
            && let Some(old) = &prev.signature
        {
            self.policy
                .check_same_signer(prev.name.as_str(), &repository, &old.signer, new)?;
        }
        let wasm_digest = remote.layer.digest.clone();
        let config_tmp = self.temp_with(&config_bytes)?;
        let manifest_tmp = self.temp_with(&manifest_bytes)?;
        Ok(Prepared {
            reference: reference.to_string(),
            repository,
            tag,
            manifest_digest: digest.clone(),
            manifest_text: remote.skill_text.clone(),
            manifest,
            tools,
            already_installed: false,
            previous,
            trust,
            blobs: vec![
                (wasm_tmp, wasm_digest.clone()),
                (config_tmp, remote.manifest.config.digest.clone()),
                (manifest_tmp, digest),
            ],
            wasm_digest,
        })
    }

    /// Everything decided from the manifest alone, before the component is fetched:
    /// a version tag must name that version, the declaration must be within the
    /// policy's ceilings, and the signature trusted — or, only with
    /// `--allow-unsigned`, the reason it is not.
    fn judge(
        &self,
        signed: &SignedManifest,
        tag: Option<&str>,
        remote: &RemoteSkill,
    ) -> Result<Trust, HostError> {
        // A signature says nothing about tags, so this is what stops a tag moved back
        // to an older signed digest.
        if let Some(t) = tag
            && let Ok(v) = semver::Version::parse(t.trim_start_matches('v'))
            && v != remote.skill.skill.version
        {
            return Err(RegistryError::TagMismatch {
                tag: t.to_string(),
                version: remote.skill.skill.version.to_string(),
            }
            .into());
        }
        self.policy
            .check_ceiling(&signed.repository, &remote.skill.capabilities)?;
        match signed.verify(self.policy) {
            Ok(verified) => Ok(Trust::Signed(verified)),
            Err(e) if self.allow_unsigned => Ok(Trust::Unsigned {
                reason: e.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn pull_config(
        &self,
        client: &RegistryClient,
        r: &chitin_registry::oci_client::Reference,
        remote: &RemoteSkill,
    ) -> Result<Vec<u8>, HostError> {
        let size = remote.manifest.config.size.max(0) as u64;
        if size > artifact::MAX_CONFIG_BYTES as u64 {
            return Err(RegistryError::TooLarge {
                what: "config".into(),
                limit: artifact::MAX_CONFIG_BYTES as u64,
            }
            .into());
        }
        let tmp = self.store.temp_file()?;
        client
            .pull_blob_to(r, &remote.manifest.config.digest, size, &tmp, |_| {})
            .await?;
        Ok(std::fs::read(&tmp).map_err(|e| RegistryError::Io(tmp.to_path_buf(), e))?)
    }

    fn temp_with(&self, bytes: &[u8]) -> Result<tempfile::TempPath, HostError> {
        let tmp = self.store.temp_file()?;
        std::fs::write(&tmp, bytes).map_err(|e| RegistryError::Io(tmp.to_path_buf(), e))?;
        Ok(tmp)
    }

    fn installed_with_digest(&self, digest: &str) -> Result<Option<InstalledSkill>, HostError> {
        Ok(self
            .store
            .list()?
            .into_iter()
            .find(|s| s.manifest_digest == digest))
    }

    fn already(&self, reference: &str, prev: InstalledSkill) -> Result<Prepared, HostError> {
        let manifest = prev.parsed_manifest()?;
        let tools = serde_json::from_value(prev.tools.clone()).unwrap_or_default();
        Ok(Prepared {
            reference: reference.to_string(),
            repository: prev.repository.clone(),
            tag: prev.tag.clone(),
            manifest_digest: prev.manifest_digest.clone(),
            manifest_text: prev.manifest.clone(),
            manifest,
            tools,
            already_installed: true,
            trust: match &prev.signature {
                Some(v) => Trust::Signed(v.clone()),
                None => Trust::Unsigned {
                    reason: "installed with --allow-unsigned".into(),
                },
            },
            wasm_digest: prev.wasm_digest.clone(),
            previous: Some(prev),
            blobs: Vec::new(),
        })
    }

    /// Make it so: blobs into the store, one index transaction, the lock file.
    pub fn commit(
        &mut self,
        prepared: Prepared,
        grants: Capabilities,
    ) -> Result<InstalledSkill, HostError> {
        // Whoever supplies the grants (the user's answer, a lock file), they never
        // exceed the signed declaration.
        let beyond = grants.beyond(&prepared.manifest.capabilities);
        if !beyond.is_empty() {
            return Err(HostError::GrantsBeyondDeclaration {
                name: prepared.manifest.skill.name.to_string(),
                beyond,
            });
        }
        if let Some(from) = prepared.repository_change()
            && !self.allow_repository_change
        {
            return Err(HostError::RepositoryChanged {
                name: prepared.name().to_string(),
                from: from.to_string(),
                to: prepared.repository.clone(),
            });
        }
        let (unsigned, signature) = match prepared.trust {
            Trust::Signed(v) => (false, Some(v)),
            Trust::Unsigned { .. } => (true, None),
        };
        for (tmp, digest) in prepared.blobs {
            self.store.commit_blob(tmp, &digest)?;
        }
        let skill = InstalledSkill {
            name: prepared.manifest.skill.name.to_string(),
            reference: prepared.reference,
            repository: prepared.repository,
            tag: prepared.tag,
            version: prepared.manifest.skill.version.to_string(),
            manifest_digest: prepared.manifest_digest,
            wasm_digest: prepared.wasm_digest,
            manifest: prepared.manifest_text,
            grants,
            tools: serde_json::to_value(&prepared.tools).expect("tools serialize"),
            unsigned,
            signature,
            installed_at: String::new(),
        };
        let lock_path = self.lock_path.clone();
        self.store.record(&skill, |all| {
            LockFile::from_installed(all).write(&lock_path)
        })?;
        Ok(self.store.get(&skill.name)?.unwrap_or(skill))
    }

    /// Remove a skill from the index (its blobs stay until `gc`).
    pub fn remove(&mut self, name: &str) -> Result<bool, HostError> {
        let lock_path = self.lock_path.clone();
        Ok(self
            .store
            .remove(name, |all| LockFile::from_installed(all).write(&lock_path))?)
    }
}

/// A skill's OCI manifest and the signatures stored with it, not yet judged.
pub struct SignedManifest {
    /// `registry/repository` or `oci-layout:<dir>`.
    pub repository: String,
    pub digest: String,
    pub manifest_bytes: Vec<u8>,
    pub envelopes: Vec<Envelope>,
    /// Attestation bundles (JSON) attached to it, unverified.
    pub attestations: Vec<String>,
}

impl SignedManifest {
    /// The signature under `policy`, with the provenance the policy requires: what
    /// install and `skill verify` both accept before downloading.
    pub fn verify(&self, policy: &TrustPolicy) -> Result<Verified, TrustError> {
        let mut verified = policy.verify(
            &self.repository,
            &self.manifest_bytes,
            &self.digest,
            &self.envelopes,
        )?;
        verified.provenance =
            policy.check_provenance(&self.repository, &self.digest, &self.attestations)?;
        Ok(verified)
    }
}

/// Resolve `reference` and fetch its manifest and signatures (for `verify` and
/// `audit`; nothing is downloaded beyond them).
pub async fn fetch_signed(
    reference: &str,
    options: &RegistryOptions,
) -> Result<SignedManifest, HostError> {
    match reference.parse::<SkillRef>()? {
        SkillRef::Oci(r) => {
            let client = RegistryClient::for_ref(&r, options)?;
            let auth = auth_for(r.reference.resolve_registry());
            let pinned = client.resolve(&r, &auth).await?;
            let (manifest_bytes, digest) = client.fetch_manifest(&pinned.reference, &auth).await?;
            let envelopes = client
                .fetch_signatures(&pinned.reference, &digest, &auth)
                .await?;
            let attestations = client
                .fetch_attestations(&pinned.reference, &digest, &auth)
                .await?;
            Ok(SignedManifest {
                repository: r.repository(),
                digest,
                manifest_bytes,
                envelopes,
                attestations,
            })
        }
        SkillRef::Layout { dir, tag } => {
            let (manifest_bytes, digest) = crate::layout::manifest(&dir, tag.as_deref())?;
            let envelopes = crate::layout::signatures(&dir, &digest)?;
            let attestations = crate::layout::attestations(&dir, &digest)?;
            Ok(SignedManifest {
                repository: format!("oci-layout:{}", dir.display()),
                digest,
                manifest_bytes,
                envelopes,
                attestations,
            })
        }
    }
}

/// The yanks of the skill `digest` in `repository` (`registry/repository`), judged by
/// `policy`. Skills from an OCI layout have none.
pub async fn check_yanks(
    policy: &TrustPolicy,
    repository: &str,
    digest: &str,
    options: &RegistryOptions,
) -> Result<YankCheck, HostError> {
    if repository.starts_with("oci-layout:") {
        return Ok(YankCheck::default());
    }
    let SkillRef::Oci(r) = format!("{repository}@{digest}").parse::<SkillRef>()? else {
        return Ok(YankCheck::default());
    };
    let client = RegistryClient::for_ref(&r, options)?;
    let auth = auth_for(r.reference.resolve_registry());
    let found = client.fetch_yanks(&r.reference, digest, &auth).await?;
    Ok(yank::judge(policy, repository, digest, &found))
}

/// Load an installed skill, checking everything again: the stored OCI manifest
/// re-hashed against the index and its signature re-verified under the current
/// policy (same signer as recorded), the component re-hashed and named by that
/// manifest, the embedded declaration equal to the recorded one, the grants within
/// the policy's ceilings and within that declaration. Then compiled (cache) and linked.
pub fn load_installed(
    runtime: &Runtime,
    store: &Store,
    policy: &TrustPolicy,
    name: &str,
) -> Result<(LoadedSkill, InstalledSkill), HostError> {
    let installed = store
        .get(name)?
        .ok_or_else(|| HostError::NotInstalled(name.to_string()))?;
    let manifest_bytes = store.read_blob(&installed.manifest_digest)?;
    let remote = parse_remote(&manifest_bytes)?;
    if remote.layer.digest != installed.wasm_digest {
        return Err(HostError::Tampered(format!(
            "the index names component {} for `{name}`, its signed manifest {}",
            installed.wasm_digest, remote.layer.digest
        )));
    }
    if !installed.unsigned {
        let recorded = installed.signature.as_ref().ok_or_else(|| {
            HostError::Tampered(format!(
                "`{name}` is recorded as signed but no signature is stored"
            ))
        })?;
        let verified = policy.verify(
            &installed.repository,
            &manifest_bytes,
            &installed.manifest_digest,
            std::slice::from_ref(&recorded.envelope),
        )?;
        if verified.signer != recorded.signer {
            return Err(HostError::Tampered(format!(
                "`{name}` was recorded as signed by {}, but its signature is by {}",
                recorded.signer, verified.signer
            )));
        }
        // The provenance the policy requires, from what was verified at install: offline.
        let attestations: Vec<String> = recorded
            .provenance
            .iter()
            .map(|p| p.bundle.clone())
            .collect();
        policy.check_provenance(
            &installed.repository,
            &installed.manifest_digest,
            &attestations,
        )?;
    }
    policy.check_ceiling(&installed.repository, &installed.grants)?;
    let wasm = store.read_blob(&installed.wasm_digest)?;
    let loaded = runtime.load(&wasm)?;
    if loaded.manifest != installed.parsed_manifest()? || loaded.manifest != remote.skill {
        return Err(HostError::Tampered(format!(
            "the manifest recorded for `{name}` differs from the one in its component"
        )));
    }
    // `run` uses the stored grants: an edited row must not widen the signed declaration.
    let beyond = installed.grants.beyond(&loaded.manifest.capabilities);
    if !beyond.is_empty() {
        return Err(HostError::Tampered(format!(
            "the grants recorded for `{name}` go beyond its signed declaration: {}",
            beyond.join("; ")
        )));
    }
    Ok((loaded, installed))
}
