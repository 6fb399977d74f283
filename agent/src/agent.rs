//! The agent loop: send the conversation, run the tool calls the model asks for, send
//! their results, until a final answer, the request limit, or a repeated call.
//!
//! Every event is written to the session before the next step, so a killed process
//! resumes where it stopped. Calls go only to tools of the catalogue, after the
//! approvals allow them; everything else is refused, audited and told to the model.

use std::collections::HashMap;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::approval::{Approvals, Decision, Prompter, canonical_json};
use crate::compaction;
use crate::message::{ChatRequest, ModelReply, StreamEvent, ToolCall, ToolChoice, estimate_tokens};
use crate::provider::{Provider, ProviderError};
use crate::session::{Event, SessionError, SessionStore, context};
use crate::tools::{ToolCatalogue, ToolInfo, ToolOutcome};

/// Who the agent is in the audit log.
const CALLER: &str = "agent";

/// Limits of one turn.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Model requests per user message.
    pub max_requests: usize,
    /// How many times the same call (tool and canonical arguments) may run in one
    /// turn; the next one stops the turn.
    pub max_repeats: usize,
    /// Tool results longer than this are cut before the model sees them.
    pub max_result_bytes: usize,
    /// Compact when the estimated context passes this share of the window.
    pub compact_at: f64,
    /// How much of the window the newest turns may keep verbatim when compacting.
    pub keep_share: f64,
    /// Stream answers.
    pub stream: bool,
    /// The user's own addition to the system prompt.
    pub instructions: Option<String>,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            max_requests: 20,
            max_repeats: 2,
            max_result_bytes: 64 << 10,
            compact_at: 0.75,
            keep_share: 0.35,
            stream: true,
            instructions: None,
        }
    }
}

/// What the user sees while a turn runs (a terminal, JSON lines, nothing).
pub trait Observer: Send {
    fn text(&mut self, _delta: &str) {}
    fn reasoning(&mut self, _delta: &str) {}
    /// The model's complete reply (after streaming).
    fn reply(&mut self, _reply: &ModelReply) {}
    fn tool_started(&mut self, _call: &ToolCall, _tool: Option<&ToolInfo>) {}
    fn tool_finished(
        &mut self,
        _call: &ToolCall,
        _tool: Option<&ToolInfo>,
        _outcome: &ToolOutcome,
    ) {
    }
    fn compacted(&mut self, _through: i64, _summary: &str) {}
    fn notice(&mut self, _text: &str) {}
}

/// Sees nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEnd {
    /// The model gave a final answer.
    Answered(String),
    /// The model kept asking for tools past the request limit.
    RequestLimit(usize),
    /// The model asked for the same call again and again.
    Repeated { tool: String, times: usize },
}

impl TurnEnd {
    /// A message for the user when the turn did not end in an answer.
    pub fn message(&self) -> Option<String> {
        match self {
            TurnEnd::Answered(_) => None,
            TurnEnd::RequestLimit(n) => Some(format!(
                "stopped: the model made {n} requests in this turn without a final answer \
                 (raise the limit with --max-requests)"
            )),
            TurnEnd::Repeated { tool, times } => Some(format!(
                "stopped: the model asked for the same call of `{tool}` with the same \
                 arguments {times} times; it is not making progress"
            )),
        }
    }
}

/// What can stop a turn with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Approval(#[from] crate::approval::ApprovalError),
}

/// One session's agent.
pub struct Agent<'a> {
    pub provider: &'a dyn Provider,
    pub tools: &'a dyn ToolCatalogue,
    pub store: &'a SessionStore,
    pub session: String,
    pub approvals: &'a mut Approvals,
    pub prompter: &'a mut dyn Prompter,
    pub observer: &'a mut dyn Observer,
    pub config: LoopConfig,
}

impl Agent<'_> {
    /// Run one user message to its end.
    pub async fn turn(&mut self, user: &str) -> Result<TurnEnd, AgentError> {
        self.store.append(
            &self.session,
            &Event::User {
                content: user.to_string(),
            },
        )?;
        self.resume().await
    }

    /// Continue the session from its stored state (after `turn` appended the user's
    /// message, or after a process was killed mid-turn).
    pub async fn resume(&mut self) -> Result<TurnEnd, AgentError> {
        let tools = self.tools.tools();
        let by_name: HashMap<&str, &ToolInfo> =
            tools.iter().map(|t| (t.def.name.as_str(), t)).collect();
        let system = crate::prompt::system_prompt(&tools, self.config.instructions.as_deref());
        let defs: Vec<_> = tools.iter().map(|t| t.def.clone()).collect();
        let fixed_tokens = estimate_tokens(&system)
            + defs
                .iter()
                .map(|d| {
                    estimate_tokens(&d.description) + estimate_tokens(&d.input_schema.to_string())
                })
                .sum::<usize>();
        let mut repeats: HashMap<(String, String), usize> = HashMap::new();

        for _ in 0..self.config.max_requests {
            let mut events = self.store.live_events(&self.session)?;
            let window = self.provider.context_window();
            let used = fixed_tokens
                + context(&events)
                    .iter()
                    .map(|m| m.estimated_tokens())
                    .sum::<usize>();
            if used as f64 > self.config.compact_at * window as f64
                && self.compact(&system, fixed_tokens).await?
            {
                events = self.store.live_events(&self.session)?;
            }
            let mut request = ChatRequest {
                system: system.clone(),
                messages: context(&events),
                tools: defs.clone(),
                tool_choice: ToolChoice::Auto,
                stream: self.config.stream,
            };
            let reply = match self.ask_model(&request).await {
                Err(ProviderError::ContextOverflow { .. })
                    if self.compact(&system, fixed_tokens).await? =>
                {
                    // The provider knows its window better than our estimate: compact
                    // and try once more.
                    request.messages = context(&self.store.live_events(&self.session)?);
                    self.ask_model(&request).await?
                }
                other => other?,
            };
            self.observer.reply(&reply);
            self.store.append(
                &self.session,
                &Event::Assistant {
                    content: reply.content.clone(),
                    tool_calls: reply.tool_calls.clone(),
                    reasoning: reply.reasoning.clone(),
                    model: self.provider.describe(),
                },
            )?;
            if reply.tool_calls.is_empty() {
                return Ok(TurnEnd::Answered(reply.content));
            }
            // The loop detector: the same call once too often ends the turn.
            for call in &reply.tool_calls {
                let key = (call.name.clone(), canonical_arguments(&call.arguments));
                let n = repeats.entry(key).or_default();
                *n += 1;
                if *n > self.config.max_repeats {
                    let end = TurnEnd::Repeated {
                        tool: call.name.clone(),
                        times: *n,
                    };
                    self.notice(&end)?;
                    return Ok(end);
                }
            }
            self.run_calls(&reply.tool_calls, &by_name).await?;
        }
        let end = TurnEnd::RequestLimit(self.config.max_requests);
        self.notice(&end)?;
        Ok(end)
    }

    async fn ask_model(&mut self, request: &ChatRequest) -> Result<ModelReply, ProviderError> {
        let observer = &mut *self.observer;
        let mut on_event = |e: StreamEvent| match e {
            StreamEvent::Text(t) => observer.text(&t),
            StreamEvent::Reasoning(t) => observer.reasoning(&t),
        };
        self.provider.chat(request, &mut on_event).await
    }

    fn notice(&mut self, end: &TurnEnd) -> Result<(), AgentError> {
        if let Some(text) = end.message() {
            self.observer.notice(&text);
            self.store.append(&self.session, &Event::Notice { text })?;
        }
        Ok(())
    }

    /// Summarise older turns if there are any; returns whether it compacted.
    pub async fn compact(&mut self, system: &str, fixed_tokens: usize) -> Result<bool, AgentError> {
        let events = self.store.live_events(&self.session)?;
        let window = self.provider.context_window();
        let keep = (window as f64 * self.config.keep_share) as usize;
        let keep = keep.saturating_sub(fixed_tokens.min(keep / 2));
        let Some(through) = compaction::cut_point(&events, keep) else {
            return Ok(false);
        };
        let summary = compaction::summarise(self.provider, system, &events, through).await?;
        self.store.append(
            &self.session,
            &Event::Compaction {
                summary: summary.clone(),
                through,
            },
        )?;
        self.observer.compacted(through, &summary);
        Ok(true)
    }

    /// Decide every call of a reply, run the allowed ones in parallel, and store each
    /// result as it arrives.
    async fn run_calls(
        &mut self,
        calls: &[ToolCall],
        by_name: &HashMap<&str, &ToolInfo>,
    ) -> Result<(), AgentError> {
        let mut running = FuturesUnordered::new();
        for call in calls {
            let tool = by_name.get(call.name.as_str()).copied();
            self.observer.tool_started(call, tool);
            let refused = match tool {
                None => {
                    self.tools.audit(
                        CALLER,
                        "",
                        &call.name,
                        "refused",
                        "the model asked for a tool that no installed skill offers",
                    );
                    Some(format!(
                        "there is no tool named `{}`: the only tools are those listed, each \
                         from an installed skill",
                        call.name
                    ))
                }
                Some(tool) => {
                    if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                        &call.arguments,
                    )
                    .is_err()
                    {
                        Some("the arguments are not a JSON object".to_string())
                    } else {
                        match self
                            .approvals
                            .decide(tool, &call.arguments, &mut *self.prompter)?
                        {
                            Decision::Allowed(why) => {
                                if self.approvals.worth_auditing(tool, &why) {
                                    self.tools.audit(
                                        CALLER,
                                        &tool.skill,
                                        &tool.tool,
                                        "approved",
                                        &why,
                                    );
                                }
                                None
                            }
                            Decision::Refused(why) => {
                                self.tools
                                    .audit(CALLER, &tool.skill, &tool.tool, "refused", &why);
                                Some(format!("not run: {why}"))
                            }
                        }
                    }
                }
            };
            match (refused, tool) {
                (Some(message), _) => {
                    let outcome = ToolOutcome::error(message);
                    self.record_result(call, tool, &outcome)?;
                }
                (None, Some(tool)) => {
                    let catalogue = self.tools;
                    running.push(async move {
                        let started = Instant::now();
                        let mut outcome = catalogue.call(tool, &call.arguments, CALLER).await;
                        if outcome.elapsed.is_zero() {
                            outcome.elapsed = started.elapsed();
                        }
                        (call, tool, outcome)
                    });
                }
                (None, None) => unreachable!("an unknown tool is always refused"),
            }
        }
        while let Some((call, tool, mut outcome)) = running.next().await {
            bound(&mut outcome.content, self.config.max_result_bytes);
            self.record_result(call, Some(tool), &outcome)?;
        }
        Ok(())
    }

    fn record_result(
        &mut self,
        call: &ToolCall,
        tool: Option<&ToolInfo>,
        outcome: &ToolOutcome,
    ) -> Result<(), AgentError> {
        self.store.append(
            &self.session,
            &Event::ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: outcome.content.clone(),
                is_error: outcome.is_error,
                elapsed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
            },
        )?;
        self.observer.tool_finished(call, tool, outcome);
        Ok(())
    }
}

/// Arguments compared by meaning, not spelling, for the loop detector.
fn canonical_arguments(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(v) => canonical_json(&v),
        Err(_) => arguments.to_string(),
    }
}

/// Cut `text` to at most `max` bytes at a character boundary, saying so.
fn bound(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let total = text.len();
    text.truncate(cut);
    text.push_str(&format!(
        "\n[… cut: the result was {total} bytes, the first {cut} are shown]"
    ));
}
