//! The OpenAI-style chat completions dialect: `POST {base_url}/chat/completions`,
//! spoken by OpenAI, Ollama, vLLM, llama.cpp server, llama-cpp-python, LM Studio,
//! OpenRouter, DeepSeek and Gemini's OpenAI endpoint.
//!
//! Requests are built and answers read by pure functions over `serde_json::Value`
//! ([`request_body`], [`parse_reply`], [`StreamState`]) that absorb the servers'
//! quirks; [`chat`] only moves them over HTTP. The quirks, each with a test:
//!
//! - tool-call `arguments` as a JSON object instead of a string (Ollama, llama.cpp):
//!   kept as its JSON text; missing or empty arguments become `{}`;
//! - tool calls without ids (Gemini): ids `call_<n>` are made up, `n` counting the tool
//!   calls of the whole conversation, so they are stable and unique within it;
//! - `finish_reason: "stop"` with tool calls: [`Finish::ToolCalls`];
//! - streamed tool calls without `index`, or all on index 0: a new `id` starts a new
//!   call; id and name repeated in every chunk (llama-cpp-python) are not
//!   concatenated, arguments are; a new id without a name (a server making up an id
//!   per chunk) continues the call;
//! - a legacy `function_call` next to `tool_calls` (llama-cpp-python) is ignored, alone
//!   it is one tool call;
//! - sent: `"content": ""` (never null) on assistant messages with tool calls, and
//!   `tool_choice` only as a string (LM Studio refuses the object form);
//! - `reasoning_content` (DeepSeek; `reasoning` on OpenRouter) read, streamed, and sent
//!   back on the assistant message.
//!
//! Usage in a streamed answer needs `stream_options = { include_usage = true }` in the
//! profile's `params`; it is not sent by default because some servers refuse it.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::http::{self, WireError};
use super::profile::Profile;
use super::{ProviderError, tool_calls_in};
use crate::message::{
    ChatRequest, Finish, Message, ModelReply, StreamEvent, ToolCall, ToolChoice, Usage,
};

/// The endpoint's URL for a profile.
pub fn endpoint(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

/// The JSON body of a request.
pub fn request_body(profile: &Profile, req: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for m in &req.messages {
        messages.push(match m {
            Message::User { content } => json!({"role": "user", "content": content}),
            Message::Assistant {
                content,
                tool_calls,
                reasoning,
            } => {
                // Always a string: some servers refuse `null` next to tool calls.
                let mut o = json!({"role": "assistant", "content": content});
                if !tool_calls.is_empty() {
                    o["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments},
                            })
                        })
                        .collect();
                }
                if let Some(r) = reasoning {
                    o["reasoning_content"] = json!(r);
                }
                o
            }
            Message::Tool {
                call_id, content, ..
            } => json!({"role": "tool", "tool_call_id": call_id, "content": content}),
        });
    }
    let mut body = Map::new();
    // Pass-through parameters first, so that chitin's own keys win.
    body.extend(profile.params_json());
    body.insert("model".into(), json!(profile.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(req.stream));
    if let Some(t) = profile.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(m) = profile.max_tokens {
        body.insert("max_tokens".into(), json!(m));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let choice = match req.tool_choice {
            ToolChoice::Auto => "auto",
            ToolChoice::Required => "required",
            ToolChoice::None => "none",
        };
        body.insert("tool_choice".into(), json!(choice));
    } else {
        body.remove("tools");
        body.remove("tool_choice");
    }
    Value::Object(body)
}

/// Arguments as JSON text: a string is kept as sent, anything else (an object from
/// Ollama or llama.cpp) is serialized; nothing becomes `{}`.
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn non_empty_args(s: String) -> String {
    if s.trim().is_empty() { "{}".into() } else { s }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Message content as text: a string, null, or a list of `{type: "text", text}` parts.
fn content_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn reasoning_text(v: &Value) -> Option<&str> {
    v.get("reasoning_content")
        .or_else(|| v.get("reasoning"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(crate) fn finish_of(reason: Option<&str>, has_tool_calls: bool) -> Finish {
    match reason {
        Some("length") => Finish::Length,
        _ if has_tool_calls => Finish::ToolCalls,
        None | Some("stop") | Some("eos") => Finish::Stop,
        Some("tool_calls") | Some("function_call") => Finish::ToolCalls,
        Some(other) => Finish::Other(other.to_string()),
    }
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        output_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

/// An error object inside a 200 answer or a stream chunk.
fn embedded_error(v: &Value) -> Option<WireError> {
    let e = v.get("error").filter(|e| !e.is_null())?;
    let status = e
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    Some(WireError::Server {
        status,
        body: v.to_string(),
    })
}

/// Read a non-streamed answer. `id_base` is the number of tool calls already in the
/// conversation, for made-up ids.
pub fn parse_reply(v: &Value, id_base: usize) -> Result<ModelReply, WireError> {
    if let Some(e) = embedded_error(v) {
        return Err(e);
    }
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| WireError::Protocol("the answer has no `choices`".into()))?;
    let msg = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| WireError::Protocol("the answer's choice has no `message`".into()))?;
    let mut tool_calls = Vec::new();
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            let f = c.get("function").unwrap_or(&Value::Null);
            let name = str_at(f, "name")
                .ok_or_else(|| WireError::Protocol("a tool call has no function name".into()))?;
            tool_calls.push(ToolCall {
                id: str_at(c, "id")
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("call_{}", id_base + tool_calls.len())),
                name: name.to_string(),
                arguments: non_empty_args(arguments_text(f.get("arguments"))),
            });
        }
    }
    if tool_calls.is_empty()
        && let Some(f) = msg.get("function_call").filter(|f| f.is_object())
        && let Some(name) = str_at(f, "name")
    {
        tool_calls.push(ToolCall {
            id: format!("call_{id_base}"),
            name: name.to_string(),
            arguments: non_empty_args(arguments_text(f.get("arguments"))),
        });
    }
    let reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty());
    Ok(ModelReply {
        content: content_text(msg.get("content")),
        reasoning: reasoning_text(msg).map(str::to_string),
        finish: finish_of(reason, !tool_calls.is_empty()),
        usage: usage_of(v),
        tool_calls,
    })
}

#[derive(Debug, Default)]
struct PartialCall {
    /// The server's `index` for it, if it sent one.
    index: Option<u64>,
    id: Option<String>,
    name: String,
    arguments: String,
}

/// The state of a streamed answer, fed one `data:` chunk at a time.
#[derive(Debug, Default)]
pub struct StreamState {
    id_base: usize,
    content: String,
    reasoning: String,
    calls: Vec<PartialCall>,
    legacy: Option<PartialCall>,
    finish_reason: Option<String>,
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

    /// Feed one parsed chunk.
    pub fn push(
        &mut self,
        v: &Value,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<(), WireError> {
        if let Some(e) = embedded_error(v) {
            return Err(e);
        }
        if let Some(u) = usage_of(v) {
            self.usage = Some(u);
        }
        let Some(choice) = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(()); // e.g. the final usage-only chunk
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        let text = content_text(delta.get("content"));
        if !text.is_empty() {
            self.content.push_str(&text);
            on_event(StreamEvent::Text(text));
        }
        if let Some(r) = reasoning_text(delta) {
            self.reasoning.push_str(r);
            on_event(StreamEvent::Reasoning(r.to_string()));
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                self.push_call(c);
            }
        }
        if let Some(f) = delta.get("function_call").filter(|f| f.is_object()) {
            let p = self.legacy.get_or_insert_with(PartialCall::default);
            merge_name(&mut p.name, str_at(f, "name"));
            p.arguments.push_str(&arguments_text(f.get("arguments")));
        }
        // Some servers send `""` rather than null while the answer goes on.
        if let Some(r) = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            self.finish_reason = Some(r.to_string());
        }
        Ok(())
    }

    fn push_call(&mut self, c: &Value) {
        let id = str_at(c, "id");
        let index = c.get("index").and_then(Value::as_u64);
        let f = c.get("function").unwrap_or(&Value::Null);
        let name = str_at(f, "name");
        let args = arguments_text(f.get("arguments"));

        let target = if let Some(id) = id {
            // A known id is a repeat (llama-cpp-python); a new one is a new call, even
            // on an index already used (servers that put every call on index 0). A
            // new call starts with its name: a new id without one is a server making
            // up an id per chunk, and continues the call at its index (or the last).
            let known = self.calls.iter().position(|p| p.id.as_deref() == Some(id));
            match (known, name, index) {
                (Some(i), _, _) => Some(i),
                (None, Some(_), _) => None,
                (None, None, Some(i)) => self.calls.iter().rposition(|p| p.index == Some(i)),
                (None, None, None) => self.calls.len().checked_sub(1),
            }
        } else if let Some(i) = index {
            self.calls.iter().rposition(|p| p.index == Some(i))
        } else {
            // Neither id nor index: continue the last call, unless it is complete and
            // this chunk names another one (whole calls, one per chunk).
            match self.calls.last() {
                Some(last)
                    if name.is_some_and(|n| n != last.name)
                        && serde_json::from_str::<Value>(&last.arguments).is_ok() =>
                {
                    None
                }
                Some(_) => Some(self.calls.len() - 1),
                None => None,
            }
        };
        let i = match target {
            Some(i) => i,
            None => {
                self.calls.push(PartialCall {
                    index,
                    id: id.map(str::to_string),
                    ..Default::default()
                });
                self.calls.len() - 1
            }
        };
        let p = &mut self.calls[i];
        if p.id.is_none() {
            p.id = id.map(str::to_string);
        }
        merge_name(&mut p.name, name);
        p.arguments.push_str(&args);
    }
}

/// A streamed name piece: equal to the name so far it is a repeat, else appended.
fn merge_name(name: &mut String, piece: Option<&str>) {
    if let Some(piece) = piece
        && piece != name
    {
        name.push_str(piece);
    }
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
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth {
        headers.push(("authorization", a));
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
    /// Feed one event's data. Returns `true` at `[DONE]`.
    fn push_data(
        &mut self,
        data: &str,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<bool, WireError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| WireError::Protocol(format!("a streamed chunk is not JSON: {e}")))?;
        self.push(&v, on_event)?;
        Ok(false)
    }

    /// The stream ended: the complete reply.
    fn finish(self) -> Result<ModelReply, WireError> {
        let nothing = self.content.is_empty() && self.calls.is_empty() && self.legacy.is_none();
        if !self.done && self.finish_reason.is_none() && nothing {
            // llama-cpp-python does this when it cannot stream with tools.
            return Err(WireError::Protocol(
                "the server closed the stream without sending anything; if it cannot stream \
                 (with tools), add the profile again with --no-stream"
                    .into(),
            ));
        }
        if !self.done && self.finish_reason.is_none() {
            return Err(WireError::Protocol(
                "the stream ended before the answer was complete".into(),
            ));
        }
        let mut calls = self.calls;
        if calls.is_empty()
            && let Some(l) = self.legacy
        {
            calls.push(l);
        }
        let mut tool_calls = Vec::with_capacity(calls.len());
        for (n, p) in calls.into_iter().enumerate() {
            if p.name.is_empty() {
                return Err(WireError::Protocol(
                    "a streamed tool call has no function name".into(),
                ));
            }
            tool_calls.push(ToolCall {
                id: p.id.unwrap_or_else(|| format!("call_{}", self.id_base + n)),
                name: p.name,
                arguments: non_empty_args(p.arguments),
            });
        }
        Ok(ModelReply {
            content: self.content,
            reasoning: (!self.reasoning.is_empty()).then_some(self.reasoning),
            finish: finish_of(self.finish_reason.as_deref(), !tool_calls.is_empty()),
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

    fn profile() -> Profile {
        Profile::new("p", Dialect::Openai, "http://127.0.0.1:1/v1", "m")
    }

    fn stream(chunks: &[Value]) -> (Result<ModelReply, WireError>, Vec<StreamEvent>) {
        let mut events = Vec::new();
        let mut s = StreamState::new(0);
        let mut on = |e| events.push(e);
        for c in chunks {
            if let Err(e) = s.push(c, &mut on) {
                return (Err(e), events);
            }
        }
        (s.finish(), events)
    }

    fn call(id: &str, name: &str, args: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    #[test]
    fn parses_whole_answers() {
        let cases: Vec<(&str, Value, Vec<ToolCall>, Finish)> = vec![
            (
                "arguments as an object (Ollama)",
                json!({"choices":[{"message":{"role":"assistant","content":"","tool_calls":[
                    {"function":{"name":"f","arguments":{"a":1}}}]},"finish_reason":"stop"}]}),
                vec![call("call_0", "f", r#"{"a":1}"#)],
                Finish::ToolCalls,
            ),
            (
                "missing ids (Gemini), two calls",
                json!({"choices":[{"message":{"tool_calls":[
                    {"type":"function","function":{"name":"f","arguments":"{}"}},
                    {"type":"function","id":"","function":{"name":"g","arguments":""}}]},
                    "finish_reason":"tool_calls"}]}),
                vec![call("call_0", "f", "{}"), call("call_1", "g", "{}")],
                Finish::ToolCalls,
            ),
            (
                "legacy function_call ignored next to tool_calls",
                json!({"choices":[{"message":{"content":null,
                    "function_call":{"name":"f","arguments":"{\"x\":1}"},
                    "tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{\"x\":1}"}}]},
                    "finish_reason":"tool_calls"}]}),
                vec![call("c1", "f", r#"{"x":1}"#)],
                Finish::ToolCalls,
            ),
            (
                "legacy function_call alone",
                json!({"choices":[{"message":{"function_call":{"name":"f","arguments":"{}"}},
                    "finish_reason":"function_call"}]}),
                vec![call("call_0", "f", "{}")],
                Finish::ToolCalls,
            ),
            (
                "length",
                json!({"choices":[{"message":{"content":"abc"},"finish_reason":"length"}]}),
                vec![],
                Finish::Length,
            ),
            (
                "empty reason",
                json!({"choices":[{"message":{"content":"abc"},"finish_reason":""}]}),
                vec![],
                Finish::Stop,
            ),
            (
                "unknown reason kept",
                json!({"choices":[{"message":{"content":"abc"},"finish_reason":"content_filter"}]}),
                vec![],
                Finish::Other("content_filter".into()),
            ),
        ];
        for (name, v, calls, finish) in cases {
            let r = parse_reply(&v, 0).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(r.tool_calls, calls, "{name}");
            assert_eq!(r.finish, finish, "{name}");
        }
    }

    #[test]
    fn made_up_ids_count_the_conversation() {
        let v = json!({"choices":[{"message":{"tool_calls":[{"function":{"name":"f"}}]}}]});
        assert_eq!(parse_reply(&v, 3).unwrap().tool_calls[0].id, "call_3");
    }

    #[test]
    fn parses_reasoning_usage_and_parts() {
        let v = json!({"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
            "reasoning_content":"think"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}});
        let r = parse_reply(&v, 0).unwrap();
        assert_eq!(r.content, "ab");
        assert_eq!(r.reasoning.as_deref(), Some("think"));
        assert_eq!(
            r.usage,
            Some(Usage {
                input_tokens: 10,
                output_tokens: 2
            })
        );
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        let cases = [
            json!({}),
            json!({"choices":[]}),
            json!({"choices":[{"message":null}]}),
            json!({"choices":[{"message":{"tool_calls":[{"function":{"arguments":"{}"}}]}}]}),
            json!({"choices":"x"}),
            json!([1, 2]),
        ];
        for v in cases {
            assert!(
                matches!(parse_reply(&v, 0), Err(WireError::Protocol(_))),
                "{v}"
            );
        }
        assert!(matches!(
            parse_reply(&json!({"error":{"message":"boom","code":503}}), 0),
            Err(WireError::Server { status: 503, .. })
        ));
    }

    #[test]
    fn parses_streams() {
        let tc = |c: Value| json!({"choices":[{"delta":{"tool_calls":[c]}}]});
        let end = |r: &str| json!({"choices":[{"delta":{},"finish_reason":r}]});
        let cases: Vec<(&str, Vec<Value>, Vec<ToolCall>, Finish)> = vec![
            (
                "openai: index, id once, args in pieces",
                vec![
                    tc(json!({"index":0,"id":"a","function":{"name":"f","arguments":""}})),
                    tc(json!({"index":0,"function":{"arguments":"{\"x\":"}})),
                    tc(json!({"index":0,"function":{"arguments":"1}"}})),
                    tc(json!({"index":1,"id":"b","function":{"name":"g","arguments":"{}"}})),
                    end("tool_calls"),
                ],
                vec![call("a", "f", r#"{"x":1}"#), call("b", "g", "{}")],
                Finish::ToolCalls,
            ),
            (
                "all on index 0, a new id starts a call",
                vec![
                    tc(json!({"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}})),
                    tc(json!({"index":0,"function":{"arguments":":1}"}})),
                    tc(json!({"index":0,"id":"b","function":{"name":"g","arguments":"{}"}})),
                    end("tool_calls"),
                ],
                vec![call("a", "f", r#"{"x":1}"#), call("b", "g", "{}")],
                Finish::ToolCalls,
            ),
            (
                "no index at all",
                vec![
                    tc(json!({"id":"a","function":{"name":"f","arguments":"{}"}})),
                    tc(json!({"id":"b","function":{"name":"g","arguments":"{\"y\":"}})),
                    tc(json!({"function":{"arguments":"2}"}})),
                    end("tool_calls"),
                ],
                vec![call("a", "f", "{}"), call("b", "g", r#"{"y":2}"#)],
                Finish::ToolCalls,
            ),
            (
                "a new id in every chunk, the name only in the first",
                vec![
                    tc(json!({"index":0,"id":"x1","function":{"name":"f","arguments":"{\"a\""}})),
                    tc(json!({"index":0,"id":"x2","function":{"arguments":":1}"}})),
                    tc(json!({"index":1,"id":"x3","function":{"name":"g","arguments":"{}"}})),
                    tc(json!({"index":1,"id":"x4","function":{"arguments":""}})),
                    end("tool_calls"),
                ],
                vec![call("x1", "f", r#"{"a":1}"#), call("x3", "g", "{}")],
                Finish::ToolCalls,
            ),
            (
                "llama-cpp-python: id and name repeated, legacy function_call too",
                vec![
                    json!({"choices":[{"delta":{
                        "function_call":{"name":"f","arguments":"{\"q\":"},
                        "tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"f","arguments":"{\"q\":"}}]}}]}),
                    json!({"choices":[{"delta":{
                        "function_call":{"name":"f","arguments":"\"hi\"}"},
                        "tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"f","arguments":"\"hi\"}"}}]}}]}),
                    end("tool_calls"),
                ],
                vec![call("call_x", "f", r#"{"q":"hi"}"#)],
                Finish::ToolCalls,
            ),
            (
                "legacy function_call alone",
                vec![
                    json!({"choices":[{"delta":{"function_call":{"name":"f","arguments":"{\"q\":"}}}]}),
                    json!({"choices":[{"delta":{"function_call":{"name":"f","arguments":"1}"}}}]}),
                    end("function_call"),
                ],
                vec![call("call_0", "f", r#"{"q":1}"#)],
                Finish::ToolCalls,
            ),
            (
                "Gemini: no ids, whole calls, finish stop",
                vec![
                    tc(json!({"function":{"name":"f","arguments":"{\"a\":1}"}})),
                    tc(json!({"function":{"name":"g","arguments":"{}"}})),
                    end("stop"),
                ],
                vec![call("call_0", "f", r#"{"a":1}"#), call("call_1", "g", "{}")],
                Finish::ToolCalls,
            ),
            (
                "Ollama: object arguments in one chunk",
                vec![
                    tc(json!({"id":"o1","index":0,"function":{"name":"f","arguments":{"a":[1]}}})),
                    end("stop"),
                ],
                vec![call("o1", "f", r#"{"a":[1]}"#)],
                Finish::ToolCalls,
            ),
            (
                "text only, length",
                vec![
                    json!({"choices":[{"delta":{"role":"assistant","content":"he"}}]}),
                    json!({"choices":[{"delta":{"content":"llo"},"finish_reason":"length"}]}),
                ],
                vec![],
                Finish::Length,
            ),
        ];
        for (name, chunks, calls, finish) in cases {
            let (r, _) = stream(&chunks);
            let r = r.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(r.tool_calls, calls, "{name}");
            assert_eq!(r.finish, finish, "{name}");
        }
    }

    #[test]
    fn streams_text_reasoning_and_usage() {
        let (r, events) = stream(&[
            json!({"choices":[{"delta":{"reasoning_content":"th"}}]}),
            json!({"choices":[{"delta":{"reasoning_content":"ink","content":null}}]}),
            json!({"choices":[{"delta":{"content":"an"}}]}),
            json!({"choices":[{"delta":{"content":"swer"},"finish_reason":"stop"}]}),
            json!({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}),
        ]);
        let r = r.unwrap();
        assert_eq!(r.content, "answer");
        assert_eq!(r.reasoning.as_deref(), Some("think"));
        assert_eq!(r.finish, Finish::Stop);
        assert_eq!(r.usage.map(|u| u.output_tokens), Some(3));
        assert_eq!(
            events,
            vec![
                StreamEvent::Reasoning("th".into()),
                StreamEvent::Reasoning("ink".into()),
                StreamEvent::Text("an".into()),
                StreamEvent::Text("swer".into()),
            ]
        );
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let (r, _) = stream(&[json!({"choices":[{"delta":{"content":"a"}}]})]);
        assert!(matches!(r, Err(WireError::Protocol(_))));
        let mut s = StreamState::new(0);
        let mut on = |_| {};
        assert!(s.push_data("{not json", &mut on).is_err());
        assert!(s.push_data("[DONE]", &mut on).unwrap());
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
                    content: String::new(),
                    tool_calls: vec![call("c1", "f", r#"{"a":1}"#)],
                    reasoning: Some("because".into()),
                },
                Message::Tool {
                    call_id: "c1".into(),
                    name: "f".into(),
                    content: "42".into(),
                    is_error: false,
                },
            ],
            tools: vec![ToolDef {
                name: "f".into(),
                description: "d".into(),
                input_schema: json!({"type":"object"}),
            }],
            tool_choice: ToolChoice::Required,
            stream: true,
        };
        let mut p = profile();
        p.temperature = Some(0.5);
        p.params.insert("top_p".into(), toml::Value::Float(0.9));
        p.params
            .insert("model".into(), toml::Value::String("evil".into()));
        let b = request_body(&p, &req);
        assert_eq!(b["model"], "m", "params never replace chitin's keys");
        assert_eq!(b["top_p"], 0.9);
        assert_eq!(b["temperature"], 0.5);
        assert_eq!(b["stream"], true);
        assert_eq!(b["tool_choice"], "required");
        assert!(b.get("max_tokens").is_none());
        assert_eq!(b["messages"][0], json!({"role":"system","content":"sys"}));
        assert_eq!(b["messages"][2]["content"], "");
        assert_eq!(b["messages"][2]["reasoning_content"], "because");
        assert_eq!(
            b["messages"][2]["tool_calls"][0],
            json!({"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}})
        );
        assert_eq!(
            b["messages"][3],
            json!({"role":"tool","tool_call_id":"c1","content":"42"})
        );
        assert_eq!(
            b["tools"][0]["function"]["parameters"],
            json!({"type":"object"})
        );
    }
}
