//! The narrow interface between the agent and the skills: list the tools, call one.
//!
//! In the CLI the catalogue is the installed skills (`chitin_host::catalogue`); in
//! tests it is scripted. The MCP server serves the same catalogue, so both name tools
//! the same way ([`exposed_name`]).

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::message::ToolDef;

/// Providers accept tool names of at most 64 characters of `[A-Za-z0-9_-]`.
pub const MAX_TOOL_NAME: usize = 64;

/// One tool of one skill, as offered to a model.
#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    /// What the model sees: the exposed name, the description, the schema.
    pub def: ToolDef,
    pub skill: String,
    pub tool: String,
    /// `sha256:<hex>` of the skill's component: approvals given `always` hold until
    /// it changes.
    pub digest: String,
    /// Why a call needs the user's approval by default: the powers the skill was
    /// granted beyond reading (`writes files in …`, `runs programs`, `sends the secret
    /// …`). Empty for a skill that can only read and compute.
    pub powers: Vec<String>,
    /// What the signed declaration says the tool may do, for MCP's annotations.
    pub hints: ToolHints,
    /// Facts a client can show the user: the skill's digest, signer, declared
    /// capabilities (MCP `_meta`). A JSON object.
    pub meta: serde_json::Value,
}

/// What a tool may do, from its skill's granted capabilities (never from the skill
/// author's word).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ToolHints {
    /// Can write nothing: no read-write folder, no programs, no HTTP.
    pub read_only: bool,
    /// Can write files or run programs.
    pub destructive: bool,
    /// May reach the network.
    pub open_world: bool,
}

/// What a tool call came to, as the model will see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolOutcome {
    /// The result (JSON text) or the error message.
    pub content: String,
    pub is_error: bool,
    /// Capabilities the host refused during the call (also in the audit log).
    pub denials: Vec<String>,
    #[serde(with = "millis")]
    pub elapsed: Duration,
}

impl ToolOutcome {
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: message.into(),
            is_error: true,
            denials: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}

/// The tools a model may use. Nothing else can act on the machine for it.
#[async_trait::async_trait]
pub trait ToolCatalogue: Send + Sync {
    /// Every tool, in a stable order.
    fn tools(&self) -> Vec<ToolInfo>;

    /// Run the tool with this exposed name. Only called for names that [`Self::tools`]
    /// lists and calls the user approved. `caller` (`agent`, `mcp:<client>`) goes to
    /// the audit log with anything the call was refused.
    async fn call(&self, tool: &ToolInfo, arguments: &str, caller: &str) -> ToolOutcome;

    /// Record something decided about a tool call (a refusal, an approval, an unknown
    /// tool, a cancellation) in the audit log, with who asked.
    fn audit(&self, caller: &str, skill: &str, tool: &str, outcome: &str, detail: &str);
}

/// The name a tool is offered under: `skill__tool`, or, when that is longer than
/// providers allow, a shortened form with a hash of the full pair so it stays unique.
pub fn exposed_name(skill: &str, tool: &str) -> String {
    let full = format!("{skill}__{tool}");
    let valid = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if full.len() <= MAX_TOOL_NAME && valid(&full) {
        return full;
    }
    let hash = hex::encode(&Sha256::digest(format!("{skill}\0{tool}"))[..4]);
    let cleaned: String = full
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let keep = MAX_TOOL_NAME - hash.len() - 1;
    let prefix: String = cleaned.chars().take(keep).collect();
    format!("{prefix}-{hash}")
}

/// Give every tool its exposed name, making names unique when two pairs would collide
/// (`a_` + `b` and `a` + `_b` both read `a___b`): the later one gets the hashed form.
pub fn assign_names(tools: &mut [ToolInfo]) {
    let mut seen = std::collections::HashSet::new();
    for t in tools.iter_mut() {
        let mut name = exposed_name(&t.skill, &t.tool);
        if !seen.insert(name.clone()) {
            let hash = hex::encode(&Sha256::digest(format!("{}\0{}", t.skill, t.tool))[..4]);
            let keep = MAX_TOOL_NAME - hash.len() - 1;
            name = format!("{}-{hash}", name.chars().take(keep).collect::<String>());
            seen.insert(name.clone());
        }
        t.def.name = name;
    }
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_fit_what_providers_accept() {
        let long = "x".repeat(64);
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("file-search", "search", Some("file-search__search")),
            ("a", "b", Some("a__b")),
            (&long, "search", None),
            ("skill", &long, None),
        ];
        for (skill, tool, expected) in cases {
            let name = exposed_name(skill, tool);
            assert!(name.len() <= MAX_TOOL_NAME, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{name}"
            );
            if let Some(e) = expected {
                assert_eq!(&name, e);
            }
        }
        // Long names stay distinct.
        assert_ne!(exposed_name(&long, "a"), exposed_name(&long, "b"));
    }

    #[test]
    fn colliding_pairs_get_distinct_names() {
        let info = |skill: &str, tool: &str| ToolInfo {
            def: ToolDef {
                name: String::new(),
                description: String::new(),
                input_schema: serde_json::json!({"type": "object"}),
            },
            skill: skill.into(),
            tool: tool.into(),
            digest: String::new(),
            powers: vec![],
            hints: ToolHints::default(),
            meta: serde_json::json!({}),
        };
        let mut tools = vec![info("a_", "b"), info("a", "_b")];
        assign_names(&mut tools);
        assert_eq!(tools[0].def.name, "a___b");
        assert_ne!(tools[0].def.name, tools[1].def.name);
    }
}
