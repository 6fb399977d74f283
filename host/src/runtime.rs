//! Loading skills and running their tools: a fresh `Store` and instance per call, built
//! from the grants and dropped afterwards, so nothing carries over between calls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chitin_registry::{ComponentInfo, ImportCheck, Manifest, check_imports};
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::HostError;
use crate::audit::{AuditLog, Denial, DenialKind, Denials};
use crate::bindings::{SkillError, SkillPre, ToolSpec};
use crate::capabilities::exec::ExecPolicy;
use crate::capabilities::fs::disk::DiskBudget;
use crate::capabilities::http::HttpPolicy;
use crate::capabilities::limits::MemoryLimiter;
use crate::capabilities::{fs, log::LogLine};
use crate::engine::SkillEngine;
use crate::grants::Grants;
use crate::state::CallState;

/// Tools a skill may offer, and how much text each may carry: tool descriptions are
/// untrusted text that ends up in the model's prompt.
pub const MAX_TOOLS: usize = 128;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_SCHEMA: usize = 64 << 10;

/// A skill ready to run: compiled, linked, with its manifest.
pub struct LoadedSkill {
    pub manifest: Manifest,
    pub info: ComponentInfo,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    pub imports: Vec<ImportCheck>,
    pre: SkillPre<CallState>,
}

impl LoadedSkill {
    pub fn name(&self) -> &str {
        self.manifest.skill.name.as_str()
    }
}

/// One tool as the host shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// Parsed JSON Schema.
    pub input_schema: serde_json::Value,
}

/// Why a call was stopped by the host rather than answered by the skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Stop {
    Timeout { limit: String },
    Memory { limit: String },
    Output { limit: String, what: String },
    Crashed { message: String },
}

impl Stop {
    /// The capability column of the audit log.
    pub fn capability(&self) -> &'static str {
        match self {
            Stop::Crashed { .. } => "trap",
            _ => DenialKind::Limits.as_str(),
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Timeout { limit } => write!(
                f,
                "the call ran past its time limit of {limit} and was stopped"
            ),
            Stop::Memory { limit } => write!(
                f,
                "the call tried to use more than its memory limit of {limit} and was stopped"
            ),
            Stop::Output { limit, what } => write!(
                f,
                "the call's {what} went over its output limit of {limit} and was stopped"
            ),
            Stop::Crashed { message } => write!(f, "the skill crashed: {message}"),
        }
    }
}

/// What a call came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The tool's JSON result.
    Ok(String),
    /// An error value returned by the skill (`invalid-input`, `denied`, `failed`).
    ToolError(SkillError),
    /// The host stopped the call.
    Stopped(Stop),
}

/// Everything about one call.
#[derive(Debug)]
pub struct CallReport {
    pub outcome: Outcome,
    pub denials: Vec<Denial>,
    pub logs: Vec<LogLine>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

/// The engine plus the audit log: what every call goes through.
pub struct Runtime {
    engine: SkillEngine,
    audit: Mutex<AuditLog>,
}

impl Runtime {
    pub fn new(engine: SkillEngine, audit: AuditLog) -> Self {
        Self {
            engine,
            audit: Mutex::new(audit),
        }
    }

    pub fn engine(&self) -> &SkillEngine {
        &self.engine
    }

    /// Read the audit log.
    pub fn with_audit<R>(&self, f: impl FnOnce(&AuditLog) -> R) -> R {
        f(&self.audit.lock().unwrap())
    }

    /// Check, compile (or load from cache) and link a component. Refuses components
    /// without a manifest, with imports no declaration covers, or whose imports the
    /// host cannot provide — all before any of its code runs.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedSkill, HostError> {
        let info = chitin_registry::inspect(wasm)?;
        let manifest = info.manifest()?;
        info.check_exports()?;
        let imports = check_imports(&info.imports, &manifest);
        let problems: Vec<String> = imports
            .iter()
            .filter(|c| c.is_problem())
            .map(|c| format!("{} ({})", c.import, c.note))
            .collect();
        if !problems.is_empty() {
            return Err(HostError::UncoveredImports(problems));
        }
        let component = self.engine.load_component(wasm)?;
        let pre = self
            .engine
            .linker()
            .instantiate_pre(&component)
            .and_then(SkillPre::new)
            .map_err(|e| HostError::Link(format!("{e:#}")))?;
        Ok(LoadedSkill {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(wasm))),
            manifest,
            info,
            imports,
            pre,
        })
    }

    /// Ask the skill for its tools, with no grants at all, and validate the answer.
    pub async fn describe(&self, skill: &LoadedSkill) -> Result<Vec<Tool>, HostError> {
        let grants = Grants::none(skill.name(), skill.manifest.limits);
        let (result, report) = self
            .call(skill, &grants, "describe", |bindings, store| {
                Box::pin(async move { bindings.chitin_skill_guest().call_describe(store).await })
            })
            .await;
        let specs = match result {
            Some(specs) => specs,
            None => {
                let why = match report.outcome {
                    Outcome::Stopped(stop) => stop.to_string(),
                    _ => "no answer".into(),
                };
                return Err(HostError::BadTools(format!("describe() failed: {why}")));
            }
        };
        validate_tools(specs)
    }

    /// Run one tool in a fresh instance with exactly `grants`.
    pub async fn invoke(
        &self,
        skill: &LoadedSkill,
        grants: &Grants,
        tool: &str,
        args_json: &str,
    ) -> CallReport {
        let (tool_s, args_s) = (tool.to_string(), args_json.to_string());
        let (result, mut report) = self
            .call(skill, grants, tool, move |bindings, store| {
                Box::pin(async move {
                    bindings
                        .chitin_skill_guest()
                        .call_invoke(store, &tool_s, &args_s)
                        .await
                })
            })
            .await;
        if let Some(result) = result {
            report.outcome = match result {
                Ok(json) if json.len() as u64 > grants.limits.output.0 => {
                    let stop = Stop::Output {
                        limit: grants.limits.output.to_string(),
                        what: "result".into(),
                    };
                    self.record(grants, tool, &[], Some(&stop));
                    Outcome::Stopped(stop)
                }
                Ok(json) => Outcome::Ok(json),
                Err(SkillError::Denied(msg)) if report.denials.is_empty() => {
                    // Refused before reaching the host (e.g. wasi-libc finds no preopen
                    // for an absolute path): keep a trace, marked as the skill's word.
                    let d = Denial {
                        capability: DenialKind::Reported,
                        detail: format!("the skill reported a denial: {msg}"),
                    };
                    self.record(grants, tool, std::slice::from_ref(&d), None);
                    report.denials.push(d);
                    Outcome::ToolError(SkillError::Denied(msg))
                }
                Err(e) => Outcome::ToolError(e),
            };
        }
        report
    }

    /// The common part of every call: build the store, instantiate, run `f`, classify
    /// traps, record denials and stops.
    async fn call<R: Send + 'static>(
        &self,
        skill: &LoadedSkill,
        grants: &Grants,
        tool: &str,
        f: impl for<'a> FnOnce(
            crate::bindings::Skill,
            &'a mut Store<CallState>,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>,
        >,
    ) -> (Option<R>, CallReport) {
        let started = Instant::now();
        let limits = grants.limits;
        let deadline = started + limits.timeout.0;
        let mut store = match self.new_store(grants, deadline) {
            Ok(s) => s,
            Err(e) => {
                let stop = Stop::Crashed {
                    message: e.to_string(),
                };
                return (None, self.finish(grants, tool, None, Some(stop), started));
            }
        };
        let pre = skill.pre.clone();
        let run = async {
            let bindings = pre.instantiate_async(&mut store).await?;
            f(bindings, &mut store).await
        };
        // Epoch interruption stops guest code at the deadline; this timeout also covers
        // time spent waiting in host calls (HTTP, exec).
        let result = tokio::time::timeout(limits.timeout.0 + Duration::from_millis(50), run).await;
        let (value, stop) = match result {
            Ok(Ok(v)) => (Some(v), None),
            Err(_elapsed) => (
                None,
                Some(Stop::Timeout {
                    limit: limits.timeout.to_string(),
                }),
            ),
            Ok(Err(trap)) => (None, Some(classify_trap(&trap, &store, grants))),
        };
        (value, self.finish(grants, tool, Some(store), stop, started))
    }

    fn new_store(&self, grants: &Grants, deadline: Instant) -> Result<Store<CallState>, HostError> {
        let cap = grants.limits.output.0 as usize;
        let stdout = MemoryOutputPipe::new(cap);
        let stderr = MemoryOutputPipe::new(cap);
        let mut wasi = WasiCtxBuilder::new();
        fs::preopen(&mut wasi, &grants.preopens)?;
        wasi.envs(&grants.env)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = CallState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http: HttpPolicy::new(grants.http.clone(), grants.secrets.clone()),
            exec: ExecPolicy::new(grants.clone()),
            limits: MemoryLimiter::new(grants.limits.memory.0 as usize),
            disk: DiskBudget::new(grants.limits.disk.0),
            deadline,
            denials: Denials::default(),
            logs: Vec::new(),
            stdout,
            stderr,
        };
        let mut store = Store::new(self.engine.engine(), state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        Ok(store)
    }

    fn finish(
        &self,
        grants: &Grants,
        tool: &str,
        store: Option<Store<CallState>>,
        stop: Option<Stop>,
        started: Instant,
    ) -> CallReport {
        let mut report = CallReport {
            outcome: Outcome::Stopped(stop.clone().unwrap_or(Stop::Crashed {
                message: "no result".into(),
            })),
            denials: Vec::new(),
            logs: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            elapsed: started.elapsed(),
        };
        if let Some(store) = store {
            let mut state = store.into_data();
            if state.disk.exceeded() {
                state.deny(
                    DenialKind::Limits,
                    format!(
                        "the call tried to write more than its disk limit of {} into its \
                         folders; the writes past it failed",
                        chitin_registry::ByteSize(state.disk.limit())
                    ),
                );
            }
            state
                .denials
                .append(std::mem::take(&mut *state.http.denials.lock().unwrap()));
            report.denials = state.denials.into_vec();
            report.logs = state.logs;
            report.stdout = state.stdout.contents().to_vec();
            report.stderr = state.stderr.contents().to_vec();
        }
        self.record(grants, tool, &report.denials, stop.as_ref());
        report
    }

    fn record(&self, grants: &Grants, tool: &str, denials: &[Denial], stop: Option<&Stop>) {
        if denials.is_empty() && stop.is_none() {
            return;
        }
        let stop_text = stop.map(|s| (s.capability(), s.to_string()));
        let result = self.audit.lock().unwrap().record(
            &grants.skill,
            &grants.caller,
            tool,
            denials,
            stop_text.as_ref().map(|(c, d)| (*c, d.as_str())),
        );
        if let Err(e) = result {
            // The call's answer still goes back; losing an audit row is reported loudly.
            let e = e.to_string();
            let e = chitin_registry::untrusted::single_line(&e, chitin_registry::untrusted::TEXT);
            eprintln!("warning: could not write the audit log: {e}");
        }
    }
}

/// Turn a trap into the reason the call stopped.
fn classify_trap(trap: &wasmtime::Error, store: &Store<CallState>, grants: &Grants) -> Stop {
    let state = store.data();
    let cap = grants.limits.output.0 as usize;
    if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Stop::Timeout {
            limit: grants.limits.timeout.to_string(),
        };
    }
    let text = format!("{trap:#}");
    if state.limits.hit {
        return Stop::Memory {
            limit: grants.limits.memory.to_string(),
        };
    }
    for (pipe, what) in [(&state.stdout, "stdout"), (&state.stderr, "stderr")] {
        if pipe.contents().len() >= cap {
            return Stop::Output {
                limit: grants.limits.output.to_string(),
                what: what.into(),
            };
        }
    }
    let stderr = String::from_utf8_lossy(&state.stderr.contents()).to_string();
    let tail: String = stderr
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    // A wasm trap says what happened (`call stack exhausted`, `unreachable`); other
    // errors say it in their first line, before the backtrace.
    let first_line = match trap.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => "the call stack was exhausted (stack overflow)".to_string(),
        Some(t) => t.to_string(),
        None => text.lines().next().unwrap_or("trap").to_string(),
    };
    Stop::Crashed {
        message: if tail.is_empty() {
            first_line
        } else {
            format!("{first_line} (stderr: {tail})")
        },
    }
}

/// Check what `describe()` returned: sizes, unique names, schemas that are JSON objects.
fn validate_tools(specs: Vec<ToolSpec>) -> Result<Vec<Tool>, HostError> {
    let bad = |m: String| Err(HostError::BadTools(m));
    if specs.len() > MAX_TOOLS {
        return bad(format!(
            "{} tools; at most {MAX_TOOLS} are allowed",
            specs.len()
        ));
    }
    let mut tools: Vec<Tool> = Vec::with_capacity(specs.len());
    for spec in specs {
        let valid_name = !spec.name.is_empty()
            && spec.name.len() <= 64
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            return bad(format!(
                "tool name {:?}: use 1-64 lowercase letters, digits, `_` or `-`",
                spec.name
            ));
        }
        if tools.iter().any(|t| t.name == spec.name) {
            return bad(format!("tool `{}` is listed twice", spec.name));
        }
        if spec.description.len() > MAX_DESCRIPTION {
            return bad(format!(
                "tool `{}`: description of {} bytes, at most {MAX_DESCRIPTION}",
                spec.name,
                spec.description.len()
            ));
        }
        if spec.input_schema.len() > MAX_SCHEMA {
            return bad(format!("tool `{}`: input schema too large", spec.name));
        }
        let schema: serde_json::Value = match serde_json::from_str(&spec.input_schema) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                return bad(format!(
                    "tool `{}`: input schema is not a JSON object",
                    spec.name
                ));
            }
        };
        tools.push(Tool {
            name: spec.name,
            description: spec.description,
            input_schema: schema,
        });
    }
    Ok(tools)
}
