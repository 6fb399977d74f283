//! The install pipeline: resolve → fetch the manifest → pull the component (size
//! limited, digest re-checked while streaming) → check it against its annotations →
//! compile and link (unsatisfiable imports fail here, not at run time) → `describe()`
//! with no grants → (the caller asks the user) → commit: blobs renamed into the store,
//! one index transaction, the lock file rewritten.
//!
//! Everything before [`Installer::commit`] writes only temp files, so a failure or an
//! interrupted process leaves the installed set exactly as it was.

use std::path::{Path, PathBuf};

use chitin_registry::artifact::{self, RemoteSkill, parse_remote};
use chitin_registry::oci::auth_for;
use chitin_registry::{
    Capabilities, InstalledSkill, LockFile, Manifest, RegistryClient, RegistryError,
    RegistryOptions, SkillRef, Store,
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
    blobs: Vec<(tempfile::TempPath, String)>,
    wasm_digest: String,
}

/// What a user must approve: added capabilities and tools of an update.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub tools_added: Vec<String>,
    pub tools_changed: Vec<String>,
    pub tools_removed: Vec<String>,
}

impl Diff {
    /// Anything that widens what the skill may do, or what it tells the model.
    pub fn needs_consent(&self) -> bool {
        !self.added.is_empty() || !self.tools_added.is_empty() || !self.tools_changed.is_empty()
    }
    pub fn is_empty(&self) -> bool {
        *self == Diff::default()
    }
}

impl Prepared {
    pub fn name(&self) -> &str {
        self.manifest.skill.name.as_str()
    }

    /// Capabilities and tools added or removed relative to the installed version.
    pub fn diff(&self) -> Diff {
        let Some(prev) = &self.previous else {
            return Diff::default();
        };
        let old = capability_lines(&prev.grants);
        let new = capability_lines(&self.manifest.capabilities);
        let old_tools: Vec<Tool> = serde_json::from_value(prev.tools.clone()).unwrap_or_default();
        let mut diff = Diff {
            added: new.iter().filter(|l| !old.contains(l)).cloned().collect(),
            removed: old.iter().filter(|l| !new.contains(l)).cloned().collect(),
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
    let mut out = Vec::new();
    out.extend(c.fs.iter().map(|f| format!("fs {} {}", f.access, f.path)));
    out.extend(c.http.iter().map(|h| format!("http {h}")));
    out.extend(c.exec.iter().map(|e| format!("exec {}", e.display_line())));
    out.extend(c.env.iter().map(|e| format!("env {e}")));
    out.extend(c.secrets.iter().map(|s| {
        let hosts: Vec<String> = s.hosts.iter().map(|h| h.to_string()).collect();
        format!("secret {} → {} ({})", s.name, hosts.join(","), s.header)
    }));
    out
}

/// Installs into one store, with one runtime.
pub struct Installer<'a> {
    pub runtime: &'a Runtime,
    pub store: &'a mut Store,
    pub options: RegistryOptions,
    pub lock_path: PathBuf,
}

impl Installer<'_> {
    /// Fetch, verify, compile and describe; commit nothing.
    pub async fn prepare(
        &self,
        reference: &str,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Prepared, HostError> {
        let parsed: SkillRef = reference.parse()?;
        let (remote, manifest_bytes, config_bytes, wasm_tmp, repository, tag, digest) =
            match &parsed {
                SkillRef::Oci(r) => {
                    let client = RegistryClient::for_ref(r, &self.options)?;
                    let auth = auth_for(r.reference.resolve_registry());
                    let pinned = client.resolve(r, &auth).await?;
                    if let Some(prev) = self.installed_with_digest(&pinned.digest)? {
                        return self.already(reference, prev);
                    }
                    let (bytes, digest) = client.fetch_manifest(&pinned.reference, &auth).await?;
                    let remote = parse_remote(&bytes)?;
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
                    )
                }
                SkillRef::Layout { dir, tag } => {
                    let (bytes, digest) = layout_manifest(dir, tag.as_deref())?;
                    if let Some(prev) = self.installed_with_digest(&digest)? {
                        return self.already(reference, prev);
                    }
                    let remote = parse_remote(&bytes)?;
                    let wasm = layout_blob(dir, &remote.layer.digest)?;
                    let config = layout_blob(dir, &remote.manifest.config.digest)?;
                    let tmp = self.store.temp_file()?;
                    std::fs::write(&tmp, &wasm)
                        .map_err(|e| RegistryError::Io(tmp.to_path_buf(), e))?;
                    let repo = format!("oci-layout:{}", dir.display());
                    (remote, bytes, config, tmp, repo, tag.clone(), digest)
                }
            };
        let wasm =
            std::fs::read(&wasm_tmp).map_err(|e| RegistryError::Io(wasm_tmp.to_path_buf(), e))?;
        let manifest = remote.check_component(&wasm)?;
        let loaded = self.runtime.load(&wasm)?;
        let tools = self.runtime.describe(&loaded).await?;
        let previous = self.store.get(manifest.skill.name.as_str())?;
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
            blobs: vec![
                (wasm_tmp, wasm_digest.clone()),
                (config_tmp, remote.manifest.config.digest.clone()),
                (manifest_tmp, digest),
            ],
            wasm_digest,
        })
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
        unsigned: bool,
    ) -> Result<InstalledSkill, HostError> {
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

/// Load an installed skill: its blob re-hashed against the index, its embedded
/// manifest compared with the recorded one, then compiled (cache) and linked.
pub fn load_installed(
    runtime: &Runtime,
    store: &Store,
    name: &str,
) -> Result<(LoadedSkill, InstalledSkill), HostError> {
    let installed = store
        .get(name)?
        .ok_or_else(|| HostError::NotInstalled(name.to_string()))?;
    let wasm = store.read_blob(&installed.wasm_digest)?;
    let loaded = runtime.load(&wasm)?;
    if loaded.manifest != installed.parsed_manifest()? {
        return Err(HostError::Tampered(format!(
            "the manifest recorded for `{name}` differs from the one in its component"
        )));
    }
    Ok((loaded, installed))
}

/// Write an installed skill as an OCI image layout (for air-gapped machines).
pub fn export_layout(store: &Store, skill: &InstalledSkill, dir: &Path) -> Result<(), HostError> {
    let io = |p: &Path, e| HostError::Io(p.to_path_buf(), e);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| io(&blobs, e))?;
    let manifest_bytes = store.read_blob(&skill.manifest_digest)?;
    let remote = parse_remote(&manifest_bytes)?;
    for digest in [
        &skill.manifest_digest,
        &skill.wasm_digest,
        &remote.manifest.config.digest,
    ] {
        let bytes = store.read_blob(digest)?;
        let path = blobs.join(digest.trim_start_matches("sha256:"));
        crate::engine::write_atomic(&path, &bytes)?;
    }
    let tag = skill.version.clone();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": chitin_registry::oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
            "digest": skill.manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    });
    crate::engine::write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    crate::engine::write_atomic(&dir.join("index.json"), index.to_string().as_bytes())?;
    Ok(())
}

/// Find the manifest in a layout: by tag (`org.opencontainers.image.ref.name`), or the
/// only one. Returns its bytes and digest, checked.
fn layout_manifest(dir: &Path, tag: Option<&str>) -> Result<(Vec<u8>, String), HostError> {
    let index_path = dir.join("index.json");
    let text = std::fs::read_to_string(&index_path)
        .map_err(|e| RegistryError::Io(index_path.clone(), e))?;
    let index: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| RegistryError::NotASkill(format!("{}: {e}", index_path.display())))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let chosen = match tag {
        Some(t) => manifests
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == t),
        None if manifests.len() == 1 => manifests.first(),
        None => None,
    }
    .ok_or_else(|| {
        RegistryError::NotASkill(format!(
            "{}: no manifest {} (it lists {})",
            index_path.display(),
            tag.map(|t| format!("tagged `{t}`"))
                .unwrap_or("(give a tag)".into()),
            manifests.len()
        ))
    })?;
    let digest = chosen["digest"].as_str().unwrap_or_default().to_string();
    let bytes = layout_blob(dir, &digest)?;
    Ok((bytes, digest))
}

/// Read a blob of a layout and check its digest.
fn layout_blob(dir: &Path, digest: &str) -> Result<Vec<u8>, HostError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| RegistryError::NotASkill(format!("bad digest `{digest}` in the layout")))?;
    let path = dir.join("blobs/sha256").join(hex);
    let bytes = std::fs::read(&path).map_err(|e| RegistryError::Io(path.clone(), e))?;
    let actual = artifact::sha256_digest(&bytes);
    if actual != digest {
        return Err(RegistryError::DigestMismatch {
            what: path.display().to_string(),
            expected: digest.to_string(),
            actual,
        }
        .into());
    }
    Ok(bytes)
}
