//! Per-tool approvals, on top of the grants approved at install.
//!
//! Each tool has a mode: `auto` (run), `ask` (the user decides each call), `deny`.
//! By default a tool is `ask` when its skill was granted a power beyond reading and
//! computing (writing files, running programs, sending secrets), `auto` otherwise;
//! `approvals.toml` in the config folder overrides per skill or per tool. An answer is
//! `once` (this call: skill digest + tool + canonical arguments), `session`, or
//! `always` (until the skill's digest changes). The model has no way to change any of
//! this: approvals come from the user, the configuration and flags only.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tools::ToolInfo;

/// How calls of a tool are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Auto,
    Ask,
    Deny,
}

/// The user's answer to an approval question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// This call only.
    Once,
    /// Every call of this tool in this session.
    Session,
    /// Every call of this tool until the skill's digest changes.
    Always,
    /// Refuse this call.
    No,
}

/// What was decided for one call, and why (for the audit log and the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(String),
    Refused(String),
}

/// What the user is asked about.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRequest {
    pub exposed_name: String,
    pub skill: String,
    pub tool: String,
    pub arguments: String,
    pub powers: Vec<String>,
    /// `sha256` of digest, tool and canonical arguments: what a `once` answer binds to.
    pub fingerprint: String,
}

/// Asks the user (a terminal, an MCP client's elicitation).
pub trait Prompter: Send {
    /// `None` when there is nobody to ask.
    fn ask(&mut self, request: &ApprovalRequest) -> Option<Answer>;
}

/// Nobody to ask: `ask` means refused unless pre-approved.
pub struct NoPrompter;

impl Prompter for NoPrompter {
    fn ask(&mut self, _: &ApprovalRequest) -> Option<Answer> {
        None
    }
}

/// What can go wrong with the approvals configuration.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid approvals file: {source}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("approvals database: {0}")]
    Db(#[from] rusqlite::Error),
}

/// `approvals.toml`: modes per skill (`"file-search" = "auto"`) or per tool
/// (`"notes__write" = "ask"`); a tool's entry wins over its skill's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    #[serde(default)]
    pub tools: BTreeMap<String, Mode>,
}

impl ApprovalConfig {
    /// Read the file; a missing file is the defaults.
    pub fn load(path: &Path) -> Result<Self, ApprovalError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ApprovalError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|source| ApprovalError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// The mode of `tool`: configured for the tool, else for its skill, else `ask`
    /// when the skill has powers beyond reading, else `auto`.
    pub fn mode(&self, tool: &ToolInfo) -> Mode {
        self.tools
            .get(&tool.def.name)
            .or_else(|| self.tools.get(&tool.skill))
            .copied()
            .unwrap_or(if tool.powers.is_empty() {
                Mode::Auto
            } else {
                Mode::Ask
            })
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tool_approvals (
    scope  TEXT NOT NULL,
    skill  TEXT NOT NULL,
    tool   TEXT NOT NULL,
    digest TEXT NOT NULL,
    time   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (scope, skill, tool)
);";

/// The approvals in force for one session: configuration, flags, stored answers.
pub struct Approvals {
    config: ApprovalConfig,
    /// Exposed tool names or skill names approved by flag for this run.
    pre_approved: Vec<String>,
    /// `always` answers (scope `always`) and `session` answers (scope
    /// `session:<id>`), with the digest they were given for.
    conn: Connection,
    session: String,
    /// Standing approvals already written to the audit log in this run.
    announced: std::collections::HashSet<String>,
}

impl Approvals {
    /// Approvals for `session`, with answers stored in the database at `db`.
    pub fn open(
        db: &Path,
        config: ApprovalConfig,
        pre_approved: Vec<String>,
        session: &str,
    ) -> Result<Self, ApprovalError> {
        // Shared with the sessions, the skill store and the audit log: opened the same way.
        let conn =
            chitin_registry::store::open_db(db, &format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
        Ok(Self {
            config,
            pre_approved,
            conn,
            session: session.to_string(),
            announced: Default::default(),
        })
    }

    /// In memory (tests, benchmarks).
    pub fn in_memory(config: ApprovalConfig, pre_approved: Vec<String>) -> Self {
        let conn = Connection::open_in_memory().expect("in-memory sqlite");
        conn.execute_batch(SCHEMA).expect("schema");
        Self {
            config,
            pre_approved,
            conn,
            session: "memory".into(),
            announced: Default::default(),
        }
    }

    /// Whether an allowed call's decision belongs in the audit log: every answer the
    /// user gives (`once`, and the first use of `session`/`always`), and the first use
    /// in this run of a standing approval (`--approve`, an earlier `always`); not its
    /// every reuse, which would write the log on every call. `auto` is never audited.
    pub fn worth_auditing(&mut self, tool: &ToolInfo, why: &str) -> bool {
        if why == "mode auto" {
            return false;
        }
        why.starts_with("approved once")
            || self.announced.insert(format!("{}\0{why}", tool.def.name))
    }

    /// Decide one call, asking `prompter` when the mode is `ask` and no standing answer
    /// covers it. Never consults anything the model wrote except the arguments, which
    /// only narrow a `once` answer.
    pub fn decide(
        &mut self,
        tool: &ToolInfo,
        arguments: &str,
        prompter: &mut dyn Prompter,
    ) -> Result<Decision, ApprovalError> {
        if let Some(decision) = self.standing(tool, arguments)? {
            return Ok(decision);
        }
        let request = ApprovalRequest::new(tool, arguments);
        let answer = prompter.ask(&request);
        self.answer(tool, &request, answer)
    }

    /// The decision that needs nobody asked: the mode, `--approve`, a stored answer.
    /// `None` when the user must be asked (then [`Self::answer`] records what they
    /// said). Split from [`Self::decide`] so an asynchronous asker (MCP elicitation)
    /// can ask without holding the approvals.
    pub fn standing(
        &self,
        tool: &ToolInfo,
        _arguments: &str,
    ) -> Result<Option<Decision>, ApprovalError> {
        match self.config.mode(tool) {
            Mode::Auto => return Ok(Some(Decision::Allowed("mode auto".into()))),
            Mode::Deny => {
                return Ok(Some(Decision::Refused(format!(
                    "the user set `{}` to deny in approvals.toml",
                    tool.def.name
                ))));
            }
            Mode::Ask => {}
        }
        if self
            .pre_approved
            .iter()
            .any(|p| p == &tool.def.name || p == &tool.skill)
        {
            return Ok(Some(Decision::Allowed("approved by --approve".into())));
        }
        for (scope, why) in [
            ("always".to_string(), "approved always"),
            (
                format!("session:{}", self.session),
                "approved for the session",
            ),
        ] {
            let digest: Option<String> = self
                .conn
                .query_row(
                    "SELECT digest FROM tool_approvals WHERE scope = ?1 AND skill = ?2 AND tool = ?3",
                    params![scope, tool.skill, tool.tool],
                    |r| r.get(0),
                )
                .optional()?;
            // An answer holds for the component it was given for: an update asks again.
            if digest.as_deref() == Some(tool.digest.as_str()) {
                return Ok(Some(Decision::Allowed(why.into())));
            }
        }
        Ok(None)
    }

    /// Record the user's answer to `request` (`None`: there was nobody to ask) and
    /// decide the call by it.
    pub fn answer(
        &mut self,
        tool: &ToolInfo,
        request: &ApprovalRequest,
        answer: Option<Answer>,
    ) -> Result<Decision, ApprovalError> {
        let answer = match answer {
            Some(a) => a,
            None => {
                return Ok(Decision::Refused(format!(
                    "`{}` needs the user's approval and there is no one to ask; approve it \
                     with --approve {} or set it to \"auto\" in approvals.toml",
                    tool.def.name, tool.def.name
                )));
            }
        };
        let scope = match answer {
            Answer::No => return Ok(Decision::Refused("the user refused this call".into())),
            Answer::Once => {
                return Ok(Decision::Allowed(format!(
                    "approved once for call {}",
                    &request.fingerprint[..16]
                )));
            }
            Answer::Session => format!("session:{}", self.session),
            Answer::Always => "always".to_string(),
        };
        self.conn.execute(
            "INSERT OR REPLACE INTO tool_approvals (scope, skill, tool, digest) VALUES (?1, ?2, ?3, ?4)",
            params![scope, tool.skill, tool.tool, tool.digest],
        )?;
        Ok(Decision::Allowed(match answer {
            Answer::Session => "approved for the session".into(),
            _ => "approved always".into(),
        }))
    }
}

impl ApprovalRequest {
    /// The question about calling `tool` with `arguments`.
    pub fn new(tool: &ToolInfo, arguments: &str) -> Self {
        Self {
            exposed_name: tool.def.name.clone(),
            skill: tool.skill.clone(),
            tool: tool.tool.clone(),
            arguments: arguments.to_string(),
            powers: tool.powers.clone(),
            fingerprint: fingerprint(&tool.digest, &tool.tool, arguments),
        }
    }
}

/// `sha256` over the skill's digest, the tool and the arguments in canonical JSON
/// (keys sorted, no spaces), so a `once` answer covers exactly the call shown.
pub fn fingerprint(digest: &str, tool: &str, arguments: &str) -> String {
    let canonical = match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(v) => canonical_json(&v),
        Err(_) => arguments.to_string(),
    };
    let mut h = Sha256::new();
    for part in [digest, tool, &canonical] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// JSON with object keys sorted at every level, whatever order the model wrote.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).expect("json"),
                        canonical_json(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolDef;

    fn tool(skill: &str, name: &str, powers: &[&str], digest: &str) -> ToolInfo {
        ToolInfo {
            def: ToolDef {
                name: format!("{skill}__{name}"),
                description: String::new(),
                input_schema: serde_json::json!({"type": "object"}),
            },
            skill: skill.into(),
            tool: name.into(),
            digest: digest.into(),
            hints: Default::default(),
            meta: serde_json::json!({}),
            powers: powers.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Answers from a script; counts the questions.
    struct Scripted(Vec<Answer>, usize);
    impl Prompter for Scripted {
        fn ask(&mut self, _: &ApprovalRequest) -> Option<Answer> {
            self.1 += 1;
            self.0.pop()
        }
    }

    #[test]
    fn default_modes_follow_the_powers() {
        let config: ApprovalConfig =
            toml::from_str("[tools]\n\"reader\" = \"deny\"\n\"writer__safe\" = \"auto\"\n")
                .unwrap();
        let cases = [
            (tool("search", "find", &[], "d"), Mode::Auto),
            (
                tool("writer", "put", &["writes files in $WORKSPACE"], "d"),
                Mode::Ask,
            ),
            (
                tool("writer", "safe", &["writes files in $WORKSPACE"], "d"),
                Mode::Auto,
            ),
            (tool("reader", "read", &[], "d"), Mode::Deny),
        ];
        for (t, mode) in cases {
            assert_eq!(config.mode(&t), mode, "{}", t.def.name);
        }
    }

    #[test]
    fn ask_without_anyone_to_ask_is_refused_unless_pre_approved() {
        let t = tool("w", "put", &["runs programs"], "d1");
        let mut a = Approvals::in_memory(ApprovalConfig::default(), vec![]);
        assert!(matches!(
            a.decide(&t, "{}", &mut NoPrompter).unwrap(),
            Decision::Refused(m) if m.contains("--approve w__put")
        ));
        let mut a = Approvals::in_memory(ApprovalConfig::default(), vec!["w__put".into()]);
        assert!(matches!(
            a.decide(&t, "{}", &mut NoPrompter).unwrap(),
            Decision::Allowed(_)
        ));
    }

    #[test]
    fn once_covers_one_call_and_other_arguments_ask_again() {
        let t = tool("w", "put", &["runs programs"], "d1");
        let mut a = Approvals::in_memory(ApprovalConfig::default(), vec![]);
        let mut p = Scripted(vec![Answer::No, Answer::Once], 0);
        assert!(matches!(
            a.decide(&t, r#"{"a":1}"#, &mut p).unwrap(),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            a.decide(&t, r#"{"a":2}"#, &mut p).unwrap(),
            Decision::Refused(_)
        ));
        assert_eq!(p.1, 2);
    }

    #[test]
    fn always_holds_until_the_digest_changes() {
        let mut a = Approvals::in_memory(ApprovalConfig::default(), vec![]);
        let mut p = Scripted(vec![Answer::No, Answer::Always], 0);
        let v1 = tool("w", "put", &["runs programs"], "sha256:1");
        assert!(matches!(
            a.decide(&v1, "{}", &mut p).unwrap(),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            a.decide(&v1, r#"{"x":1}"#, &mut p).unwrap(),
            Decision::Allowed(_)
        ));
        assert_eq!(p.1, 1);
        let v2 = tool("w", "put", &["runs programs"], "sha256:2");
        assert!(matches!(
            a.decide(&v2, "{}", &mut p).unwrap(),
            Decision::Refused(_)
        ));
        assert_eq!(p.1, 2);
    }

    #[test]
    fn session_answers_stay_in_their_session() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let t = tool("w", "put", &["runs programs"], "d");
        let mut one = Approvals::open(&db, ApprovalConfig::default(), vec![], "one").unwrap();
        let mut p = Scripted(vec![Answer::Session], 0);
        assert!(matches!(
            one.decide(&t, "{}", &mut p).unwrap(),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            one.decide(&t, "{}", &mut NoPrompter).unwrap(),
            Decision::Allowed(_)
        ));
        let mut two = Approvals::open(&db, ApprovalConfig::default(), vec![], "two").unwrap();
        assert!(matches!(
            two.decide(&t, "{}", &mut NoPrompter).unwrap(),
            Decision::Refused(_)
        ));
    }

    #[test]
    fn answers_and_first_uses_are_audited_not_every_reuse() {
        let mut a = Approvals::in_memory(ApprovalConfig::default(), vec![]);
        let w = tool("w", "put", &["runs programs"], "d");
        let r = tool("w", "read", &[], "d");
        // (tool, why, audited?)
        let cases = [
            (&r, "mode auto", false),
            (&w, "approved once for call 0123456789abcdef", true),
            (&w, "approved once for call 0123456789abcdef", true),
            (&w, "approved by --approve", true),
            (&w, "approved by --approve", false),
            (&r, "approved by --approve", true),
            (&w, "approved for the session", true),
            (&w, "approved for the session", false),
        ];
        for (t, why, audited) in cases {
            assert_eq!(a.worth_auditing(t, why), audited, "{} {why}", t.def.name);
        }
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_values() {
        let a = fingerprint("d", "t", r#"{"b":1,"a":{"y":2,"x":[1,2]}}"#);
        let b = fingerprint("d", "t", r#"{ "a": {"x": [1, 2], "y": 2}, "b": 1 }"#);
        assert_eq!(a, b);
        assert_ne!(a, fingerprint("d", "t", r#"{"b":2,"a":{"y":2,"x":[1,2]}}"#));
        assert_ne!(
            a,
            fingerprint("d2", "t", r#"{"b":1,"a":{"y":2,"x":[1,2]}}"#)
        );
        assert_ne!(a, fingerprint("d", "u", r#"{"b":1,"a":{"y":2,"x":[1,2]}}"#));
    }
}
