//! Grants: a skill's declared capabilities resolved against this machine — real folders
//! for `$WORKSPACE` and `$HOME`, values for environment variables and secrets — and
//! possibly narrowed by the user. A call's store is built from exactly this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chitin_registry::{Access, ExecGrant, FsRoot, HttpPattern, Limits, Manifest, SecretGrant};

use crate::HostError;
use crate::capabilities::fs::{
    self,
    resolve::{Lookup, ResolvedDir},
};

/// What the host knows about the machine when it resolves grants. Tests build this
/// directly instead of touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    /// The folder `$WORKSPACE` stands for.
    pub workspace: PathBuf,
    /// The folder `$HOME` stands for.
    pub home: PathBuf,
    /// The host's environment variables (granted names are read from here; `PATH`
    /// is used to find programs for `exec`).
    pub vars: BTreeMap<String, String>,
    /// Secret values by name: from the user's secrets file, then the environment.
    pub secrets: BTreeMap<String, String>,
    /// Paths no grant may be, hold or lie in: chitin's own data folder and the secrets
    /// file (the audit log, the grants and the secret values live there).
    pub protected: Vec<PathBuf>,
}

impl HostEnv {
    /// The current process: its environment, `$HOME`, the current folder as workspace,
    /// and secrets from `secrets_file` (if present) falling back to the environment.
    /// `chitin_home` (chitin's data folder) and the secrets file are protected: no grant
    /// may reach them.
    pub fn from_process(
        workspace: PathBuf,
        chitin_home: Option<&Path>,
        secrets_file: Option<&Path>,
    ) -> Result<Self, HostError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let home = vars.get("HOME").map(PathBuf::from).unwrap_or_default();
        let mut secrets = match secrets_file {
            Some(path) => crate::capabilities::secrets::read_secrets_file(path)?,
            None => BTreeMap::new(),
        };
        for (k, v) in &vars {
            secrets.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let protected = [chitin_home, secrets_file]
            .into_iter()
            .flatten()
            // Compared with the real paths of grants, so resolve links here too; a path
            // that does not exist yet is kept as given.
            .map(|p| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()))
            .collect();
        Ok(Self {
            workspace,
            home,
            vars,
            secrets,
            protected,
        })
    }
}

/// A folder made visible to the skill.
#[derive(Debug, Clone)]
pub struct Preopen {
    /// The real folder, read back from the open folder (see [`fs::resolve`]).
    pub host_path: PathBuf,
    /// Where the skill sees it.
    pub guest_path: String,
    pub access: Access,
    /// The folder itself, open since it was checked.
    pub(crate) dir: ResolvedDir,
}

/// A secret with its value, ready to be injected.
#[derive(Clone)]
pub struct ResolvedSecret {
    pub grant: SecretGrant,
    /// `None` when the user has not set it; requests then go out without it.
    pub value: Option<String>,
}

impl std::fmt::Debug for ResolvedSecret {
    // Never print secret values, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedSecret")
            .field("name", &self.grant.name)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Everything one skill may use, resolved for this machine.
#[derive(Debug, Clone)]
pub struct Grants {
    pub skill: String,
    pub preopens: Vec<Preopen>,
    pub http: Vec<HttpPattern>,
    pub exec: Vec<ExecGrant>,
    /// Granted variables with their values (unset ones are left out).
    pub env: Vec<(String, String)>,
    pub secrets: Vec<ResolvedSecret>,
    pub limits: Limits,
    /// The host's PATH, used only to find declared programs.
    pub host_path_var: Option<String>,
    /// Who runs the call, for the audit log: empty for `chitin run`, `agent`,
    /// `mcp:<client>`. Grants nothing.
    pub caller: String,
}

impl Grants {
    /// Grant exactly what the manifest declares. Fails when a declared folder does not
    /// exist, leads through a link that a skill may have planted, or exposes the host
    /// (see [`fs::resolve`]), naming it. Called for every call: a folder is checked as
    /// it is now, not as it was at install.
    pub fn from_manifest(manifest: &Manifest, env: &HostEnv) -> Result<Self, HostError> {
        let caps = &manifest.capabilities;
        let mut preopens = Vec::new();
        for grant in &caps.fs {
            let (root, lookup) = match grant.path.root {
                FsRoot::Workspace => (env.workspace.as_path(), Lookup::Beneath),
                FsRoot::Home => (env.home.as_path(), Lookup::Beneath),
                FsRoot::Absolute => (Path::new("/"), Lookup::NoSymlinks),
            };
            let dir = fs::resolve::resolve(root, &grant.path.relative, lookup, &env.protected)
                .map_err(|source| HostError::GrantRefused {
                    declared: grant.path.to_string(),
                    source,
                })?;
            preopens.push(Preopen {
                host_path: dir.real.clone(),
                guest_path: grant.path.mount_point(),
                access: grant.access,
                dir,
            });
        }
        let env_pairs = caps
            .env
            .iter()
            .filter_map(|n| env.vars.get(n.as_str()).map(|v| (n.to_string(), v.clone())))
            .collect();
        let secrets = caps
            .secrets
            .iter()
            .map(|s| ResolvedSecret {
                grant: s.clone(),
                value: env
                    .secrets
                    .get(s.name.as_str())
                    .cloned()
                    .filter(|v| !v.is_empty()),
            })
            .collect();
        Ok(Self {
            skill: manifest.skill.name.to_string(),
            preopens,
            http: caps.http.clone(),
            exec: caps.exec.clone(),
            env: env_pairs,
            secrets,
            limits: manifest.limits,
            host_path_var: env.vars.get("PATH").cloned(),
            caller: String::new(),
        })
    }

    /// No capabilities at all (used for `describe()`), with the manifest's limits.
    pub fn none(skill: &str, limits: Limits) -> Self {
        Self {
            skill: skill.to_string(),
            preopens: Vec::new(),
            http: Vec::new(),
            exec: Vec::new(),
            env: Vec::new(),
            secrets: Vec::new(),
            limits,
            host_path_var: None,
            caller: String::new(),
        }
    }

    /// Map a path as the skill sees it to the real path, if it lies in a granted folder.
    /// The result is checked again after resolving symlinks.
    pub fn host_path_for(&self, guest: &str) -> Option<(PathBuf, &Preopen)> {
        let best = self
            .preopens
            .iter()
            .filter(|p| {
                guest == p.guest_path
                    || guest
                        .strip_prefix(p.guest_path.as_str())
                        .is_some_and(|rest| rest.starts_with('/') || p.guest_path == "/")
            })
            .max_by_key(|p| p.guest_path.len())?;
        let rest = &guest[best.guest_path.len()..];
        let mut host = best.host_path.clone();
        for part in rest.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if part == ".." {
                return None;
            }
            host.push(part);
        }
        let real = host.canonicalize().ok()?;
        real.starts_with(&best.host_path).then_some((real, best))
    }
}
