//! The Anthropic Messages dialect: `POST {base_url}/messages`, where `base_url` is
//! the API root with its version, `https://api.anthropic.com/v1` (the same convention
//! as the OpenAI dialect's `…/v1`), with headers `x-api-key` and
//! `anthropic-version: 2023-06-01`.
//!
//! The system prompt goes in the top-level `system`; tools as `{name, description,
//! input_schema}`; the model's calls arrive as `tool_use` blocks and their results go
//! back as `tool_result` blocks of a user message, consecutive results (and a user
//! text after them) merged into one user message, as the API requires. `max_tokens`
//! is required: the profile's, or 4096.
//!
//! Thinking blocks are read (into `reasoning`) but not sent back: without their
//! signature the API would refuse them, and chitin does not enable extended thinking.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::http::{self, WireError};
use super::profile::{DEFAULT_MAX_TOKENS, Profile};
use super::{ProviderError, tool_calls_in};
use crate::message::{
    ChatRequest, Finish, Message, ModelReply, StreamEvent, ToolCall, ToolChoice, Usage,
};

pub const API_VERSION: &str = "2023-06-01";

/// The endpoint's URL for a profile.
pub fn endpoint(base_url: &str) -> String {
    format!("{}/messages", base_url.trim_end_matches('/'))
}

/// The JSON body of a request.
pub fn request_body(profile: &Profile, req: &ChatRequest) -> Value {
    // (role, content blocks); consecutive messages of one role are merged.
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m {
            Message::User { content } => (
                "user",
                if content.is_empty() {
                    vec![]
                } else {
                    vec![json!({"type": "text", "text": content})]
                },
            ),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut b = Vec::new();
                if !content.is_empty() {
                    b.push(json!({"type": "text", "text": content}));
                }
                for c in tool_calls {
                    // The API wants an object; arguments that are not one (a model's
                    // broken JSON) are sent as an empty object.
                    let input = serde_json::from_str::<Value>(&c.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    b.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                }
                ("assistant", b)
            }
            Message::Tool {
                call_id,
                content,
                is_error,
                ..
            } => {
                let mut b =
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
                if *is_error {
                    b["is_error"] = json!(true);
                }
                ("user", vec![b])
            }
        };
        if blocks.is_empty() {
            continue; // the API refuses empty content
        }
        match turns.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();

    let mut body = Map::new();
    body.extend(profile.params_json());
    body.insert("model".into(), json!(profile.model));
    body.insert(
        "max_tokens".into(),
        json!(profile.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(req.stream));
    if !req.system.is_empty() {
        body.insert("system".into(), json!(req.system));
    }
    if let Some(t) = profile.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let choice = match req.tool_choice {
            ToolChoice::Auto => "auto",
            ToolChoice::Required => "any",
            ToolChoice::None => "none",
        };
        body.insert("tool_choice".into(), json!({"type": choice}));
    } else {
        body.remove("tools");
        body.remove("tool_choice");
    }
    Value::Object(body)
}

fn finish_of(reason: Option<&str>, has_tool_calls: bool) -> Finish {
    match reason {
        Some("max_tokens") => Finish::Length,
        _ if has_tool_calls => Finish::ToolCalls,
        None | Some("end_turn") | Some("stop_sequence") => Finish::Stop,
        Some("tool_use") => Finish::ToolCalls,
        Some(other) => Finish::Other(other.to_string()),
    }
}

/// Input tokens count the cached ones too: compaction cares about the whole prompt.
fn input_tokens(u: &Value) -> u64 {
    [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ]
    .iter()
    .filter_map(|k| u.get(*k).and_then(Value::as_u64))
    .sum()
}

/// An `{"type": "error", "error": {"type", "message"}}` object, as an answer or a
/// stream event.
fn embedded_error(v: &Value) -> Option<WireError> {
    if v.get("type").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let status = match v.pointer("/error/type").and_then(Value::as_str) {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("overloaded_error") => 529,
        _ => 500,
    };
    Some(WireError::Server {
        status,
        body: v.to_string(),
    })
}

fn tool_call(block: &Value, input: String, n: usize) -> Result<ToolCall, WireError> {
    let name = block
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WireError::Protocol("a tool_use block has no name".into()))?;
    let id = block
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("call_{n}"));
    Ok(ToolCall {
        id,
        name: name.to_string(),
        arguments: if input.trim().is_empty() {
            "{}".into()
        } else {
            input
        },
    })
}

/// Read a non-streamed answer. `id_base` is the number of tool calls already in the
/// conversation, for made-up ids.
pub fn parse_reply(v: &Value, id_base: usize) -> Result<ModelReply, WireError> {
    if let Some(e) = embedded_error(v) {
        return Err(e);
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::Protocol("the answer has no `content` list".into()))?;
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => content.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => {
                reasoning.push_str(b.get("thinking").and_then(Value::as_str).unwrap_or(""))
            }
            Some("tool_use") => {
                let input = b.get("input").map(Value::to_string).unwrap_or_default();
                tool_calls.push(tool_call(b, input, id_base + tool_calls.len())?);
            }
            _ => {}
        }
    }
    let usage = v.get("usage").filter(|u| u.is_object()).map(|u| Usage {
        input_tokens: input_tokens(u),
        output_tokens: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
    });
    let reason = v.get("stop_reason").and_then(Value::as_str);
    Ok(ModelReply {
        content,
        reasoning: (!reasoning.is_empty()).then_some(reasoning),
        finish: finish_of(reason, !tool_calls.is_empty()),
        usage,
        tool_calls,
    })
}

#[derive(Debug)]
enum Block {
    Text,
    Thinking,
    ToolUse { start: Value, json: String },
    Other,
}

/// The state of a streamed answer, fed one event at a time.
#[derive(Debug, Default)]
pub struct StreamState {
    id_base: usize,
    content: String,
    reasoning: String,
    /// By the server's block index.
    blocks: Vec<(u64, Block)>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
}

impl StreamState {
    pub fn new(id_base: usize) -> Self {
        StreamState {
            id_base,
            ..Default::default()
        }
    }

    /// Feed one parsed event.
    pub fn push(
        &mut self,
        v: &Value,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<(), WireError> {
        if let Some(e) = embedded_error(v) {
            return Err(e);
        }
        let index = v.get("index").and_then(Value::as_u64);
        match v.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(u) = v.pointer("/message/usage").filter(|u| u.is_object()) {
                    self.usage = Some(Usage {
                        input_tokens: input_tokens(u),
                        output_tokens: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
                    });
                }
            }
            Some("content_block_start") => {
                let index = index.ok_or_else(|| no_index("content_block_start"))?;
                let cb = v.get("content_block").unwrap_or(&Value::Null);
                let block = match cb.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        self.text(cb.get("text"), on_event);
                        Block::Text
                    }
                    Some("thinking") => {
                        self.thinking(cb.get("thinking"), on_event);
                        Block::Thinking
                    }
                    Some("tool_use") => Block::ToolUse {
                        start: cb.clone(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.push((index, block));
            }
            Some("content_block_delta") => {
                let index = index.ok_or_else(|| no_index("content_block_delta"))?;
                let d = v.get("delta").unwrap_or(&Value::Null);
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => self.text(d.get("text"), on_event),
                    Some("thinking_delta") => self.thinking(d.get("thinking"), on_event),
                    Some("input_json_delta") => {
                        let piece = d.get("partial_json").and_then(Value::as_str).unwrap_or("");
                        match self.blocks.iter_mut().rev().find(|(i, _)| *i == index) {
                            Some((_, Block::ToolUse { json, .. })) => json.push_str(piece),
                            _ => {
                                return Err(WireError::Protocol(
                                    "input_json_delta for a block that is not a tool_use".into(),
                                ));
                            }
                        }
                    }
                    _ => {} // signature_delta, citations: not needed
                }
            }
            Some("message_delta") => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(r.to_string());
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    let usage = self.usage.get_or_insert_with(Usage::default);
                    if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
                        usage.output_tokens = o;
                    }
                    let i = input_tokens(u);
                    if i > 0 {
                        usage.input_tokens = i;
                    }
                }
            }
            Some("message_stop") => self.done = true,
            _ => {} // ping, content_block_stop, unknown future events
        }
        Ok(())
    }

    fn text(&mut self, t: Option<&Value>, on_event: &mut (dyn FnMut(StreamEvent) + Send)) {
        if let Some(t) = t.and_then(Value::as_str).filter(|t| !t.is_empty()) {
            self.content.push_str(t);
            on_event(StreamEvent::Text(t.to_string()));
        }
    }

    fn thinking(&mut self, t: Option<&Value>, on_event: &mut (dyn FnMut(StreamEvent) + Send)) {
        if let Some(t) = t.and_then(Value::as_str).filter(|t| !t.is_empty()) {
            self.reasoning.push_str(t);
            on_event(StreamEvent::Reasoning(t.to_string()));
        }
    }
}

fn no_index(event: &str) -> WireError {
    WireError::Protocol(format!("a {event} event has no index"))
}

/// One request over HTTP.
pub(crate) async fn chat(
    http_client: &reqwest::Client,
    profile: &Profile,
    key: Option<&str>,
    req: &ChatRequest,
    on_event: &mut (dyn FnMut(StreamEvent) + Send),
) -> Result<ModelReply, ProviderError> {
    let url = endpoint(&profile.base_url);
    let timeout = Duration::from_secs(profile.timeout_secs);
    let body = request_body(profile, req);
    let mut headers: Vec<(&str, &str)> = vec![("anthropic-version", API_VERSION)];
    if let Some(k) = key {
        headers.push(("x-api-key", k));
    }
    let id_base = tool_calls_in(req);
    let exchange = http::Exchange {
        url: &url,
        headers,
        body: &body,
        timeout,
        stream: req.stream,
    };
    exchange
        .run(
            http_client,
            |v| parse_reply(v, id_base),
            StreamState::new(id_base),
            on_event,
        )
        .await
}

impl http::ReplyStream for StreamState {
    /// Feed one event's data. Returns `true` at `message_stop`.
    fn push_data(
        &mut self,
        data: &str,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<bool, WireError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| WireError::Protocol(format!("a streamed event is not JSON: {e}")))?;
        self.push(&v, on_event)?;
        Ok(self.done)
    }

    /// The stream ended: the complete reply.
    fn finish(self) -> Result<ModelReply, WireError> {
        if !self.done && self.stop_reason.is_none() {
            return Err(WireError::Protocol(
                "the stream ended before the answer was complete".into(),
            ));
        }
        let mut tool_calls = Vec::new();
        for (_, b) in self.blocks {
            if let Block::ToolUse { start, json } = b {
                // The input streams as JSON pieces; a server that sent it whole in the
                // start block has no pieces.
                let input = if json.trim().is_empty() {
                    start
                        .get("input")
                        .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        .map(Value::to_string)
                        .unwrap_or_default()
                } else {
                    json
                };
                tool_calls.push(tool_call(&start, input, self.id_base + tool_calls.len())?);
            }
        }
        Ok(ModelReply {
            content: self.content,
            reasoning: (!self.reasoning.is_empty()).then_some(self.reasoning),
            finish: finish_of(self.stop_reason.as_deref(), !tool_calls.is_empty()),
            usage: self.usage,
            tool_calls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolDef;
    use crate::provider::http::ReplyStream;
    use crate::provider::profile::Dialect;

    fn call(id: &str, name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    fn tool(call_id: &str, content: &str, is_error: bool) -> Message {
        Message::Tool {
            call_id: call_id.into(),
            name: "f".into(),
            content: content.into(),
            is_error,
        }
    }

    #[test]
    fn builds_requests() {
        let req = ChatRequest {
            system: "sys".into(),
            messages: vec![
                Message::User {
                    content: "hi".into(),
                },
                Message::Assistant {
                    content: "let me see".into(),
                    tool_calls: vec![call("t1", "f", r#"{"a":1}"#), call("t2", "f", "not json")],
                    reasoning: Some("hmm".into()),
                },
                tool("t1", "42", false),
                tool("t2", "boom", true),
                Message::User {
                    content: "and?".into(),
                },
            ],
            tools: vec![ToolDef {
                name: "f".into(),
                description: "d".into(),
                input_schema: json!({"type":"object"}),
            }],
            tool_choice: ToolChoice::Required,
            stream: false,
        };
        let b = request_body(
            &Profile::new("p", Dialect::Anthropic, "https://x/v1", "claude"),
            &req,
        );
        assert_eq!(b["system"], "sys");
        assert_eq!(b["max_tokens"], 4096);
        assert_eq!(b["tool_choice"], json!({"type":"any"}));
        assert_eq!(
            b["tools"][0],
            json!({"name":"f","description":"d","input_schema":{"type":"object"}})
        );
        let m = b["messages"].as_array().unwrap();
        assert_eq!(
            m.len(),
            3,
            "tool results and the next user text are one user message"
        );
        assert_eq!(
            m[1]["content"],
            json!([
                {"type":"text","text":"let me see"},
                {"type":"tool_use","id":"t1","name":"f","input":{"a":1}},
                {"type":"tool_use","id":"t2","name":"f","input":{}},
            ])
        );
        assert_eq!(
            m[2],
            json!({"role":"user","content":[
                {"type":"tool_result","tool_use_id":"t1","content":"42"},
                {"type":"tool_result","tool_use_id":"t2","content":"boom","is_error":true},
                {"type":"text","text":"and?"},
            ]})
        );
    }

    #[test]
    fn parses_whole_answers() {
        let v = json!({"type":"message","role":"assistant","content":[
            {"type":"thinking","thinking":"hmm","signature":"s"},
            {"type":"text","text":"ok"},
            {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],
            "stop_reason":"tool_use","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3}});
        let r = parse_reply(&v, 0).unwrap();
        assert_eq!(r.content, "ok");
        assert_eq!(r.reasoning.as_deref(), Some("hmm"));
        assert_eq!(r.tool_calls, vec![call("toolu_1", "f", r#"{"a":1}"#)]);
        assert_eq!(r.finish, Finish::ToolCalls);
        assert_eq!(
            r.usage,
            Some(Usage {
                input_tokens: 15,
                output_tokens: 3
            })
        );
        let cases = [
            ("end_turn", Finish::Stop),
            ("max_tokens", Finish::Length),
            ("refusal", Finish::Other("refusal".into())),
        ];
        for (reason, want) in cases {
            let v = json!({"content":[{"type":"text","text":"a"}],"stop_reason":reason});
            assert_eq!(parse_reply(&v, 0).unwrap().finish, want, "{reason}");
        }
        for bad in [
            json!({}),
            json!({"content":"x"}),
            json!({"content":[{"type":"tool_use"}]}),
        ] {
            assert!(
                matches!(parse_reply(&bad, 0), Err(WireError::Protocol(_))),
                "{bad}"
            );
        }
    }

    fn stream(events: &[Value]) -> (Result<ModelReply, WireError>, Vec<StreamEvent>) {
        let mut out = Vec::new();
        let mut s = StreamState::new(2);
        let mut on = |e| out.push(e);
        for e in events {
            if let Err(err) = s.push(e, &mut on) {
                return (Err(err), out);
            }
        }
        (s.finish(), out)
    }

    #[test]
    fn parses_streams() {
        let (r, events) = stream(&[
            json!({"type":"message_start","message":{"usage":{"input_tokens":20,"output_tokens":1}}}),
            json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"x"}}),
            json!({"type":"content_block_stop","index":0}),
            json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
            json!({"type":"ping"}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}),
            json!({"type":"content_block_stop","index":1}),
            json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"tu","name":"f","input":{}}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"1}"}}),
            json!({"type":"content_block_stop","index":2}),
            json!({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","name":"g","input":{}}}),
            json!({"type":"content_block_stop","index":3}),
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}),
            json!({"type":"message_stop"}),
        ]);
        let r = r.unwrap();
        assert_eq!(r.content, "Hi");
        assert_eq!(r.reasoning.as_deref(), Some("hm"));
        assert_eq!(
            r.tool_calls,
            vec![call("tu", "f", r#"{"a":1}"#), call("call_3", "g", "{}")]
        );
        assert_eq!(r.finish, Finish::ToolCalls);
        assert_eq!(
            r.usage,
            Some(Usage {
                input_tokens: 20,
                output_tokens: 9
            })
        );
        assert_eq!(
            events,
            vec![
                StreamEvent::Reasoning("hm".into()),
                StreamEvent::Text("Hi".into())
            ]
        );
    }

    #[test]
    fn stream_errors() {
        let (r, _) = stream(&[
            json!({"type":"message_start","message":{}}),
            json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
        ]);
        assert!(matches!(r, Err(WireError::Server { status: 529, .. })));
        let (r, _) = stream(&[json!({"type":"message_start","message":{}})]);
        assert!(matches!(r, Err(WireError::Protocol(_))), "cut stream");
        let (r, _) = stream(&[
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text"}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}),
        ]);
        assert!(matches!(r, Err(WireError::Protocol(_))));
    }
}
