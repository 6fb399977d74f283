//! Grants: a skill's declared capabilities resolved against this machine — real folders
//! for `$WORKSPACE` and `$HOME`, values for environment variables and secrets — and
//! possibly narrowed by the user. A call's store is built from exactly this.
//!
//! Each capability resolves its own part next to its enforcement
//! (`capabilities::{fs, env, secrets}::grant`); this module holds the machine's
//! description ([`HostEnv`]) and the whole set ([`Grants`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chitin_registry::{ExecGrant, HttpPattern, Limits, Manifest};

use crate::HostError;
pub use crate::capabilities::fs::Preopen;
pub use crate::capabilities::secrets::ResolvedSecret;
use crate::capabilities::{env, fs, secrets};

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
        let preopens = fs::grant(&caps.fs, &env.workspace, &env.home, &env.protected)?;
        let env_pairs = env::grant(&caps.env, &env.vars);
        let secrets = secrets::grant(&caps.secrets, &env.secrets);
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
        fs::host_path_for(&self.preopens, guest)
    }
}
