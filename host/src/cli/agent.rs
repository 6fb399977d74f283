//! `chitin agent`: a chat with a model whose only tools are the installed skills.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chitin_agent::agent::{Agent, LoopConfig, Observer, TurnEnd};
use chitin_agent::approval::{
    Answer, ApprovalConfig, ApprovalRequest, Approvals, NoPrompter, Prompter,
};
use chitin_agent::message::{ModelReply, ToolCall};
use chitin_agent::provider::Provider;
use chitin_agent::session::{Lane, SessionStore};
use chitin_agent::tools::{ToolCatalogue, ToolInfo, ToolOutcome};
use chitin_host::HostEnv;
use chitin_host::catalogue::SkillCatalogue;
use clap::Args;
use serde_json::json;

use super::{Exit, display, exit};

#[derive(Args)]
pub struct AgentArgs {
    /// Send this one message and exit (else read stdin when it is not a terminal, or
    /// chat interactively).
    #[arg(long, short)]
    message: Option<String>,
    /// The session to continue or create [default: a new one].
    #[arg(long, short)]
    session: Option<String>,
    /// Finish the session's interrupted turn (a process killed mid-turn) first.
    #[arg(long)]
    resume: bool,
    /// The provider profile [default: the one `chitin provider use` chose].
    #[arg(long, short)]
    profile: Option<String>,
    /// Offer only the tools of these installed skills.
    #[arg(long = "skill", value_name = "SKILL")]
    skills: Vec<String>,
    /// Run calls of this tool (`skill__tool`) or skill without asking, for this run.
    #[arg(long = "approve", value_name = "TOOL")]
    approve: Vec<String>,
    /// The folder `$WORKSPACE` stands for [default: the current folder].
    #[arg(long, short)]
    workspace: Option<PathBuf>,
    /// Model requests per message before the turn is stopped.
    #[arg(long, default_value_t = 20)]
    max_requests: usize,
    /// Do not stream answers (some servers stream badly).
    #[arg(long)]
    no_stream: bool,
    /// When another chitin is in a turn of this session, refuse instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// Print one JSON event per line on stdout, for scripts.
    #[arg(long)]
    json: bool,
}

pub fn agent(args: AgentArgs) -> Result<u8, Exit> {
    let interactive = args.message.is_none() && std::io::stdin().is_terminal() && !args.json;
    let first_message = match &args.message {
        Some(m) => Some(m.clone()),
        None if !std::io::stdin().is_terminal() => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the message from stdin")?;
            if s.trim().is_empty() && !args.resume {
                return Err(Exit(
                    exit::USAGE,
                    anyhow::anyhow!("no message: give one with -m TEXT or on stdin"),
                ));
            }
            Some(s)
        }
        None => None,
    };

    let home = super::chitin_home()?;
    let config = super::config_dir()?;
    let providers = super::provider::load_providers()?;
    let provider = super::provider::build(&providers, args.profile.as_deref(), &home)?;

    let store = SessionStore::open(&home.join("chitin.db"))
        .with_context(|| format!("opening the sessions in {}", home.display()))?;
    let session = match &args.session {
        Some(s) => s.clone(),
        None => new_session_id(),
    };
    store.ensure(&session)?;
    let lanes = home.join("sessions");

    let runtime = Arc::new(super::open_runtime()?);
    let workspace = match &args.workspace {
        Some(w) => w.clone(),
        None => std::env::current_dir().context("finding the current folder")?,
    };
    let env = HostEnv::from_process(workspace, Some(&home), Some(&home.join("secrets.toml")))?;
    let skill_store = super::lifecycle::open_store()?;
    let policy = super::trust::load_policy(None)?;
    let tokio = super::tokio()?;
    let only = (!args.skills.is_empty()).then_some(args.skills.as_slice());
    let (catalogue, skipped) = tokio.block_on(SkillCatalogue::load(
        runtime,
        &skill_store,
        &policy,
        &env,
        only,
    ))?;
    for s in &skipped {
        eprintln!(
            "warning: the skill {} is left out: {}",
            display::field(&s.skill),
            display::field(&s.error.to_string())
        );
    }

    let approval_config = ApprovalConfig::load(&config.join("approvals.toml"))?;
    let mut approvals = Approvals::open(
        &home.join("chitin.db"),
        approval_config,
        args.approve.clone(),
        &session,
    )?;
    let mut observer: Box<dyn Observer> = if args.json {
        Box::new(JsonLines)
    } else {
        Box::new(Terminal::default())
    };
    let mut prompter: Box<dyn Prompter> = if std::io::stdin().is_terminal() && !args.json {
        Box::new(TerminalPrompter)
    } else {
        Box::new(NoPrompter)
    };
    let loop_config = LoopConfig {
        max_requests: args.max_requests,
        stream: !args.no_stream,
        ..LoopConfig::default()
    };
    if args.json {
        emit(json!({"type": "session", "id": session, "model": provider.describe()}));
    } else if interactive {
        eprintln!(
            "chitin agent · session {} · {} · {} tools (/tools, /quit)",
            session,
            display::field(&provider.describe()),
            catalogue.tools().len()
        );
    }

    let mut code = exit::OK;
    let run_turn = |text: Option<&str>,
                    provider: &dyn Provider,
                    observer: &mut dyn Observer,
                    prompter: &mut dyn Prompter,
                    approvals: &mut Approvals|
     -> Result<u8, Exit> {
        // One serial lane per session, across processes, for the whole turn.
        let _lane = match Lane::acquire(&lanes, &session, !args.no_wait) {
            Ok(l) => l,
            Err(e @ chitin_agent::session::SessionError::Busy(_)) => {
                return Err(Exit(exit::ERROR, e.into()));
            }
            Err(e) => return Err(e.into()),
        };
        let mut agent = Agent {
            provider,
            tools: &catalogue,
            store: &store,
            session: session.clone(),
            approvals,
            prompter,
            observer,
            config: loop_config.clone(),
        };
        let end = tokio.block_on(async {
            match text {
                Some(t) => agent.turn(t).await,
                None => agent.resume().await,
            }
        })?;
        Ok(finish(&end, args.json))
    };

    if args.resume {
        code = run_turn(
            None,
            provider.as_ref(),
            observer.as_mut(),
            prompter.as_mut(),
            &mut approvals,
        )?;
    }
    if let Some(message) = first_message {
        code = run_turn(
            Some(&message),
            provider.as_ref(),
            observer.as_mut(),
            prompter.as_mut(),
            &mut approvals,
        )?;
    }
    if !interactive {
        return Ok(code);
    }
    let mut provider = provider;
    loop {
        eprint!("\n> ");
        std::io::stderr().flush().ok();
        let mut line = String::new();
        if std::io::stdin()
            .read_line(&mut line)
            .context("reading your message")?
            == 0
        {
            return Ok(exit::OK);
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(command) = line.strip_prefix('/') {
            let mut words = command.split_whitespace();
            match (words.next(), words.next()) {
                (Some("quit" | "exit" | "q"), _) => return Ok(exit::OK),
                (Some("tools"), _) => {
                    for t in catalogue.tools() {
                        eprintln!(
                            "  {}  {}",
                            display::field(&t.def.name),
                            display::field(&t.def.description)
                        );
                    }
                }
                (Some("session"), _) => eprintln!("session {session}"),
                (Some("model"), None) => {
                    eprintln!("model: {}", display::field(&provider.describe()));
                    eprintln!("profiles: {}", providers.list().join(", "));
                }
                (Some("model"), Some(name)) => {
                    match super::provider::build(&providers, Some(name), &home) {
                        Ok(p) => {
                            provider = p;
                            eprintln!("now using {}", display::field(&provider.describe()));
                        }
                        Err(e) => eprintln!("error: {}", display::field(&format!("{e:#}"))),
                    }
                }
                (Some("compact"), _) => {
                    let mut agent = Agent {
                        provider: provider.as_ref(),
                        tools: &catalogue,
                        store: &store,
                        session: session.clone(),
                        approvals: &mut approvals,
                        prompter: prompter.as_mut(),
                        observer: observer.as_mut(),
                        config: loop_config.clone(),
                    };
                    let system = chitin_agent::prompt::system_prompt(&catalogue.tools(), None);
                    match tokio.block_on(agent.compact(&system, 0)) {
                        Ok(true) => {}
                        Ok(false) => eprintln!("nothing to compact yet"),
                        Err(e) => eprintln!("error: {}", display::field(&e.to_string())),
                    }
                }
                _ => eprintln!("commands: /model [PROFILE], /tools, /session, /compact, /quit"),
            }
            continue;
        }
        if let Err(Exit(_, e)) = run_turn(
            Some(line),
            provider.as_ref(),
            observer.as_mut(),
            prompter.as_mut(),
            &mut approvals,
        ) {
            // In a chat, a failed turn is reported and the chat goes on.
            eprintln!("error: {}", display::block(&format!("{e:#}"), "  "));
        }
    }
}

/// Print how the turn ended; the exit code for a one-shot run.
fn finish(end: &TurnEnd, json: bool) -> u8 {
    let (outcome, code) = match end {
        TurnEnd::Answered(_) => ("answered", exit::OK),
        TurnEnd::RequestLimit(_) => ("request-limit", exit::STOPPED),
        TurnEnd::Repeated { .. } => ("repeated", exit::STOPPED),
    };
    if json {
        let mut doc = json!({"type": "end", "outcome": outcome});
        if let TurnEnd::Answered(text) = end {
            doc["answer"] = json!(text);
        }
        if let Some(m) = end.message() {
            doc["message"] = json!(m);
        }
        emit(doc);
    } else {
        println!();
    }
    code
}

/// `YYYYMMDD-HHMMSS-xxxx` (UTC): sortable, and unique enough for one user's sessions.
fn new_session_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let salt = (now.nanosecond() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{salt:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// One JSON event line. Model and skill text in it is made inert for a terminal the
/// way `--json` always is: the same JSON, with C1, bidi and invisible characters escaped.
fn emit(value: serde_json::Value) {
    let line = value.to_string();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        chitin_registry::untrusted::json_for_terminal(&line)
    );
    let _ = out.flush();
}

/// One JSON event per line on stdout.
struct JsonLines;

impl Observer for JsonLines {
    fn text(&mut self, delta: &str) {
        emit(json!({"type": "text", "delta": delta}));
    }
    fn reply(&mut self, reply: &ModelReply) {
        emit(
            json!({"type": "reply", "content": reply.content, "tool_calls": reply.tool_calls, "finish": reply.finish}),
        );
    }
    fn tool_started(&mut self, call: &ToolCall, tool: Option<&ToolInfo>) {
        emit(
            json!({"type": "tool_call", "id": call.id, "name": call.name, "skill": tool.map(|t| &t.skill), "arguments": call.arguments}),
        );
    }
    fn tool_finished(&mut self, call: &ToolCall, _tool: Option<&ToolInfo>, outcome: &ToolOutcome) {
        emit(
            json!({"type": "tool_result", "id": call.id, "name": call.name, "is_error": outcome.is_error, "content": outcome.content, "denials": outcome.denials, "elapsed_ms": outcome.elapsed.as_secs_f64() * 1000.0}),
        );
    }
    fn compacted(&mut self, through: i64, summary: &str) {
        emit(json!({"type": "compaction", "through": through, "summary": summary}));
    }
    fn notice(&mut self, text: &str) {
        emit(json!({"type": "notice", "text": text}));
    }
}

/// Streamed text on stdout, tool calls and notices on stderr; everything the model or a
/// skill wrote made inert first.
#[derive(Default)]
struct Terminal {
    /// Whether the current line of stdout has text (to end it before a tool line).
    mid_line: bool,
    streamed: bool,
}

impl Observer for Terminal {
    fn text(&mut self, delta: &str) {
        let shown = chitin_registry::untrusted::for_terminal(delta, usize::MAX);
        print!("{shown}");
        std::io::stdout().flush().ok();
        self.mid_line = !shown.ends_with('\n');
        self.streamed = true;
    }
    fn reply(&mut self, reply: &ModelReply) {
        // Not streamed (--no-stream, or a server that ignored it): print it whole.
        if !self.streamed && !reply.content.is_empty() {
            print!("{}", display::block(&reply.content, ""));
            self.mid_line = true;
        }
        self.streamed = false;
    }
    fn tool_started(&mut self, call: &ToolCall, tool: Option<&ToolInfo>) {
        if self.mid_line {
            println!();
            self.mid_line = false;
        }
        let skill = tool.map(|t| format!(" ({})", t.skill)).unwrap_or_default();
        eprintln!(
            "  → {}{} {}",
            display::field(&call.name),
            display::field(&skill),
            display::field(&summary(&call.arguments, 80))
        );
    }
    fn tool_finished(&mut self, call: &ToolCall, _tool: Option<&ToolInfo>, outcome: &ToolOutcome) {
        let ms = outcome.elapsed.as_secs_f64() * 1000.0;
        if outcome.is_error {
            eprintln!(
                "  ✗ {} {ms:.0} ms: {}",
                display::field(&call.name),
                display::field(&summary(&outcome.content, 160))
            );
        } else {
            eprintln!("  ✓ {} {ms:.0} ms", display::field(&call.name));
        }
        for d in &outcome.denials {
            eprintln!("    denied: {}", display::field(d));
        }
    }
    fn compacted(&mut self, through: i64, _summary: &str) {
        eprintln!("  (compacted the conversation up to event {through})");
    }
    fn notice(&mut self, text: &str) {
        if self.mid_line {
            println!();
            self.mid_line = false;
        }
        eprintln!("{text}");
    }
}

/// The first `max` characters of `text` on one line.
fn summary(text: &str, max: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        one
    } else {
        format!("{}…", one.chars().take(max).collect::<String>())
    }
}

/// Asks on the terminal.
struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn ask(&mut self, request: &ApprovalRequest) -> Option<Answer> {
        eprintln!(
            "\n{} (skill {}) wants to run. The skill {}.",
            display::field(&request.exposed_name),
            display::field(&request.skill),
            display::field(&request.powers.join(", "))
        );
        eprintln!(
            "  arguments: {}",
            display::field(&summary(&request.arguments, 400))
        );
        loop {
            eprint!("Allow? [o]nce, [s]ession, [a]lways, [N]o: ");
            std::io::stderr().flush().ok();
            let mut answer = String::new();
            if std::io::stdin().read_line(&mut answer).ok()? == 0 {
                return Some(Answer::No);
            }
            return Some(match answer.trim() {
                "o" | "once" | "y" | "yes" => Answer::Once,
                "s" | "session" => Answer::Session,
                "a" | "always" => Answer::Always,
                "" | "n" | "N" | "no" => Answer::No,
                _ => continue,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_ids_are_dated_and_valid_names() {
        let id = super::new_session_id();
        chitin_agent::session::check_name(&id).unwrap();
        let year = time::OffsetDateTime::now_utc().year().to_string();
        assert!(id.starts_with(&year), "{id}");
        assert_eq!(id.len(), "YYYYMMDD-HHMMSS-xxxx".len(), "{id}");
    }
}
