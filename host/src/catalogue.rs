//! The installed skills as a tool catalogue for the agent (and the MCP server): every
//! tool of every installed skill, each call run like `chitin run` runs it, in a fresh
//! instance under the grants recorded at install.

use std::sync::Arc;

use chitin_agent::message::ToolDef;
use chitin_agent::tools::{ToolCatalogue, ToolHints, ToolInfo, ToolOutcome, assign_names};
use chitin_registry::manifest::{Access, Capabilities};
use chitin_registry::store::Store;
use chitin_registry::trust::TrustPolicy;

use crate::audit::Denial;
use crate::{Grants, HostEnv, HostError, LoadedSkill, Outcome, Runtime, SkillError};

/// One installed skill, verified, compiled and ready to call.
struct Entry {
    skill: LoadedSkill,
    /// The grants, resolved when the skill entered the catalogue. Granted folders are
    /// held open from then on: every call preopens the folder that was checked, and a
    /// later swap of its path (for a link, say) is not followed. Resolving them again
    /// per call was most of a trivial call's cost in a long-running server.
    grants: Grants,
}

/// The tools of the installed skills.
pub struct SkillCatalogue {
    runtime: Arc<Runtime>,
    entries: Vec<Entry>,
    tools: Vec<ToolInfo>,
}

/// Installed skills verified and compiled, their tools not yet listed.
pub struct Verified {
    runtime: Arc<Runtime>,
    /// Each skill with its granted capabilities, their grants and its signer.
    skills: Vec<(LoadedSkill, Capabilities, Grants, String)>,
    skipped: Vec<Skipped>,
}

impl Verified {
    /// List each skill's tools (`describe()` with no capabilities): the catalogue.
    pub async fn describe(self) -> Result<(SkillCatalogue, Vec<Skipped>), HostError> {
        let Verified {
            runtime,
            skills,
            mut skipped,
        } = self;
        let mut entries = Vec::new();
        let mut tools = Vec::new();
        for (skill, granted, grants, signer) in skills {
            match runtime.describe(&skill).await {
                Ok(described) => {
                    for t in described {
                        tools.push(tool_info(&skill, t, &granted, &signer));
                    }
                    entries.push(Entry { skill, grants });
                }
                Err(error) => skipped.push(Skipped {
                    skill: skill.name().to_string(),
                    error,
                }),
            }
        }
        assign_names(&mut tools);
        Ok((
            SkillCatalogue {
                runtime,
                entries,
                tools,
            },
            skipped,
        ))
    }
}

/// A skill that could not join the catalogue, and why (shown, not fatal: one broken
/// skill must not take the others away).
pub struct Skipped {
    pub skill: String,
    pub error: HostError,
}

impl SkillCatalogue {
    /// Load the installed skills (all, or those in `only`): each re-verified exactly as
    /// `chitin run` does, its tools listed by `describe()` with no capabilities.
    pub async fn load(
        runtime: Arc<Runtime>,
        store: &Store,
        policy: &TrustPolicy,
        env: &HostEnv,
        only: Option<&[String]>,
    ) -> Result<(Self, Vec<Skipped>), HostError> {
        Self::verify(runtime, store, policy, env, only)?
            .describe()
            .await
    }

    /// The part of [`Self::load`] that reads the store: verify and compile each skill.
    /// What it returns holds no store, so its [`Verified::describe`] can run on any
    /// thread.
    pub fn verify(
        runtime: Arc<Runtime>,
        store: &Store,
        policy: &TrustPolicy,
        env: &HostEnv,
        only: Option<&[String]>,
    ) -> Result<Verified, HostError> {
        let mut skills = Vec::new();
        let mut skipped = Vec::new();
        let installed = store.list()?;
        if let Some(only) = only {
            for name in only {
                if !installed.iter().any(|s| &s.name == name) {
                    return Err(HostError::NotInstalled(name.clone()));
                }
            }
        }
        for record in installed {
            if only.is_some_and(|o| !o.contains(&record.name)) {
                continue;
            }
            let loaded = crate::install::load_installed(&runtime, store, policy, &record.name)
                .and_then(|(skill, installed)| {
                    let mut granted = skill.manifest.clone();
                    granted.capabilities = installed.grants.clone();
                    // A skill whose folders are gone (or now lead through a link) is
                    // left out.
                    let grants = Grants::from_manifest(&granted, env)?;
                    let signer = match &installed.signature {
                        Some(sig) => sig.signer.to_string(),
                        None => "unsigned".to_string(),
                    };
                    Ok((skill, granted.capabilities, grants, signer))
                });
            match loaded {
                Ok(l) => skills.push(l),
                Err(error) => skipped.push(Skipped {
                    skill: record.name.clone(),
                    error,
                }),
            }
        }
        Ok(Verified {
            runtime,
            skills,
            skipped,
        })
    }

    /// A catalogue of skills already loaded, run with what their manifests declare
    /// (benchmarks, tests, skills run from files).
    pub async fn from_skills(
        runtime: Arc<Runtime>,
        skills: Vec<LoadedSkill>,
        env: &HostEnv,
    ) -> Result<Self, HostError> {
        let mut entries = Vec::new();
        let mut tools = Vec::new();
        for skill in skills {
            let grants = Grants::from_manifest(&skill.manifest, env)?;
            for t in runtime.describe(&skill).await? {
                tools.push(tool_info(
                    &skill,
                    t,
                    &skill.manifest.capabilities,
                    "unverified file",
                ));
            }
            entries.push(Entry { skill, grants });
        }
        assign_names(&mut tools);
        Ok(Self {
            runtime,
            entries,
            tools,
        })
    }

    fn entry(&self, skill: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.skill.name() == skill)
    }
}

/// One tool as the agent and MCP clients see it; its exposed name is given by
/// `assign_names`. Powers, hints and facts come from what was granted.
fn tool_info(
    skill: &LoadedSkill,
    tool: crate::Tool,
    granted: &Capabilities,
    signer: &str,
) -> ToolInfo {
    ToolInfo {
        def: ToolDef {
            name: String::new(),
            description: tool.description,
            input_schema: tool.input_schema,
        },
        skill: skill.name().to_string(),
        tool: tool.name,
        digest: skill.digest.clone(),
        powers: powers(granted),
        hints: hints(granted),
        meta: serde_json::json!({
            "dev.chitin/skill": skill.name(),
            "dev.chitin/version": skill.manifest.skill.version.to_string(),
            "dev.chitin/digest": skill.digest,
            "dev.chitin/signer": signer,
            "dev.chitin/capabilities": crate::install::capability_lines(granted),
        }),
    }
}

/// MCP's hints, from the grants: read-only only when the skill can write nothing
/// (no read-write folder, no program, no HTTP: the declaration does not restrict
/// methods, so any HTTP may write); destructive when it can write files or run
/// programs; open-world when it may reach the network.
pub fn hints(granted: &Capabilities) -> ToolHints {
    let writes_files = granted.fs.iter().any(|f| f.access == Access::ReadWrite);
    let runs = !granted.exec.is_empty();
    let network = !granted.http.is_empty() || !granted.secrets.is_empty();
    ToolHints {
        read_only: !writes_files && !runs && !network,
        destructive: writes_files || runs,
        open_world: network,
    }
}

/// What a skill was granted beyond reading and computing: these make its tools `ask`
/// by default.
pub fn powers(granted: &Capabilities) -> Vec<String> {
    let mut out = Vec::new();
    for f in granted.fs.iter().filter(|f| f.access == Access::ReadWrite) {
        out.push(format!("writes files in {}", f.path));
    }
    for e in &granted.exec {
        out.push(format!("runs {}", e.display_line()));
    }
    for s in &granted.secrets {
        out.push(format!("sends the secret {}", s.name));
    }
    out
}

#[async_trait::async_trait]
impl ToolCatalogue for SkillCatalogue {
    fn tools(&self) -> Vec<ToolInfo> {
        self.tools.clone()
    }

    async fn call(&self, tool: &ToolInfo, arguments: &str, caller: &str) -> ToolOutcome {
        let Some(entry) = self.entry(&tool.skill) else {
            return ToolOutcome::error(format!("the skill `{}` is not loaded", tool.skill));
        };
        let mut grants = entry.grants.clone();
        grants.caller = caller.to_string();
        let report = self
            .runtime
            .invoke(&entry.skill, &grants, &tool.tool, arguments)
            .await;
        let denials = report
            .denials
            .iter()
            .map(|d: &Denial| format!("{}: {}", d.capability, d.detail))
            .collect();
        let (content, is_error) = match report.outcome {
            Outcome::Ok(json) => (json, false),
            Outcome::ToolError(e) => {
                let (kind, message) = match e {
                    SkillError::InvalidInput(m) => ("invalid input", m),
                    SkillError::Denied(m) => ("denied", m),
                    SkillError::Failed(m) => ("failed", m),
                };
                (format!("{kind}: {message}"), true)
            }
            Outcome::Stopped(stop) => (stop.to_string(), true),
        };
        ToolOutcome {
            content,
            is_error,
            denials,
            elapsed: report.elapsed,
        }
    }

    fn audit(&self, caller: &str, skill: &str, tool: &str, outcome: &str, detail: &str) {
        // The audit log is best effort here: a full disk must not stop the answer.
        let _ = self
            .runtime
            .with_audit(|log| log.note(skill, caller, tool, "approval", outcome, detail));
    }
}

/// A fingerprint of the installed set — each skill's name, signed manifest and grants —
/// that changes when a skill is installed, updated or removed: a long-running server
/// reloads its catalogue when it does.
pub fn installed_version(store: &Store) -> Result<String, HostError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in store.list()? {
        for part in [
            s.name.as_str(),
            s.manifest_digest.as_str(),
            &crate::install::capability_lines(&s.grants).join("\n"),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    Ok(hex::encode(h.finalize()))
}
