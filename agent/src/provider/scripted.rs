//! A scripted model server: a protocol fake, not a model. It speaks HTTP/1.1 (with
//! keep-alive) on 127.0.0.1 and answers every chat request, in either dialect
//! (`…/chat/completions`, `…/messages`), with the next reply of its script, recording
//! what it was sent. Used by this crate's tests, the agent-loop and CLI tests (which
//! point the real `chitin` binary at it) and benchmarks.
//!
//! When the script runs out the last reply repeats, like a model that calls the same
//! tool forever. Replies are built by hand ([`Reply`]) or with the helpers
//! ([`openai_text`], [`openai_tool_call`], [`anthropic_tool_use`], …).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A 200 JSON body (a non-streamed answer).
    Json(Value),
    /// A 200 `text/event-stream` body: each text is one event (`data: …`, or
    /// `event: …\ndata: …`), written followed by a blank line.
    Sse(Vec<String>),
    /// Any status with a body and headers (500, 429 with `Retry-After`, …).
    Status {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Wait, then answer (to make the client time out).
    Delay(Duration, Box<Reply>),
}

impl Reply {
    /// An error answer with a JSON-or-text body.
    pub fn status(status: u16, body: &str) -> Reply {
        Reply::Status {
            status,
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    /// HTTP 429, with `Retry-After` in seconds when given.
    pub fn rate_limited(retry_after_secs: Option<u64>) -> Reply {
        Reply::Status {
            status: 429,
            body: r#"{"error":{"message":"rate limited","type":"rate_limit_error"}}"#.into(),
            headers: retry_after_secs
                .map(|s| vec![("retry-after".to_string(), s.to_string())])
                .unwrap_or_default(),
        }
    }

    /// This reply, sent after `delay`.
    pub fn after(self, delay: Duration) -> Reply {
        Reply::Delay(delay, Box::new(self))
    }

    /// A stream of `data: <json>` events, each value one event.
    pub fn sse_data(chunks: &[Value]) -> Reply {
        Reply::Sse(chunks.iter().map(|c| format!("data: {c}")).collect())
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (a JSON string holding the text when it was not JSON).
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Reply>,
    last: Option<Reply>,
    log: Vec<Recorded>,
}

impl State {
    fn next_reply(&mut self) -> Option<Reply> {
        match self.script.pop_front() {
            Some(r) => {
                if self.script.is_empty() {
                    self.last = Some(r.clone());
                }
                Some(r)
            }
            None => self.last.clone(),
        }
    }
}

/// The running server; stopped when dropped.
#[derive(Debug)]
pub struct ScriptedServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        // Dropping the accept loop drops its set of connection tasks, which aborts them.
        self.task.abort();
    }
}

impl ScriptedServer {
    /// Start serving `script` on 127.0.0.1 at a free port.
    ///
    /// Panics if no port can be bound: it is a test fixture.
    pub async fn start(script: Vec<Reply>) -> ScriptedServer {
        match Self::try_start(script).await {
            Ok(s) => s,
            Err(e) => panic!("the scripted server could not bind 127.0.0.1: {e}"),
        }
    }

    pub async fn try_start(script: Vec<Reply>) -> std::io::Result<ScriptedServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        for r in script {
            push(&state, r);
        }
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let st = st.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| handle(st.clone(), req));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                // Reap finished connections so a long benchmark does not accumulate them.
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(ScriptedServer { addr, state, task })
    }

    /// The base URL for a profile of either dialect: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Add replies at the end of the script.
    pub fn push(&self, reply: Reply) {
        push(&self.state, reply);
    }

    /// The bodies of the requests received, in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state)
            .log
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// Forget the requests received so far (a long benchmark need not keep them).
    pub fn clear_requests(&self) {
        lock(&self.state).log.clear();
    }

    /// The requests received, with their paths and headers.
    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.state).log.clone()
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn push(state: &Mutex<State>, reply: Reply) {
    let mut s = lock(state);
    s.last = None;
    s.script.push_back(reply);
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if !(path.ends_with("/chat/completions") || path.ends_with("/messages")) {
        return Ok(respond(
            404,
            "text/plain",
            "not a chat endpoint".into(),
            &[],
        ));
    }
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let reply = {
        let mut s = lock(&state);
        s.log.push(Recorded {
            path,
            headers,
            body,
        });
        s.next_reply()
    };
    let mut reply = match reply {
        Some(r) => r,
        None => {
            return Ok(respond(
                500,
                "text/plain",
                "the script is empty".into(),
                &[],
            ));
        }
    };
    while let Reply::Delay(d, inner) = reply {
        tokio::time::sleep(d).await;
        reply = *inner;
    }
    Ok(match reply {
        Reply::Json(v) => respond(200, "application/json", v.to_string(), &[]),
        Reply::Sse(events) => {
            let mut text = String::new();
            for e in events {
                text.push_str(&e);
                text.push_str("\n\n");
            }
            respond(200, "text/event-stream", text, &[])
        }
        Reply::Status {
            status,
            body,
            headers,
        } => respond(status, "application/json", body, &headers),
        Reply::Delay(..) => respond(500, "text/plain", String::new(), &[]),
    })
}

fn respond(
    status: u16,
    content_type: &str,
    body: String,
    headers: &[(String, String)],
) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", content_type);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id(prefix: &str) -> String {
    format!("{prefix}{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Cut text in up to three pieces, at character boundaries, to stream it.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len().div_ceil(3).max(1);
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

fn parse_args(args_json: &str) -> Value {
    serde_json::from_str(args_json).unwrap_or_else(|_| json!({}))
}

/// An OpenAI-dialect answer with text.
pub fn openai_text(text: &str) -> Reply {
    Reply::Json(json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }))
}

/// An OpenAI-dialect answer calling one tool.
pub fn openai_tool_call(name: &str, args_json: &str) -> Reply {
    Reply::Json(json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": next_id("call_s"), "type": "function",
                            "function": {"name": name, "arguments": args_json}}]},
            "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }))
}

/// [`openai_text`], streamed in pieces.
pub fn openai_text_stream(text: &str) -> Reply {
    let mut chunks =
        vec![json!({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})];
    for p in pieces(text) {
        chunks.push(json!({"choices":[{"index":0,"delta":{"content":p}}]}));
    }
    chunks.push(json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}));
    let mut events: Vec<String> = chunks.iter().map(|c| format!("data: {c}")).collect();
    events.push("data: [DONE]".into());
    Reply::Sse(events)
}

/// [`openai_tool_call`], streamed with the arguments in pieces.
pub fn openai_tool_call_stream(name: &str, args_json: &str) -> Reply {
    let mut chunks = vec![
        json!({"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[
        {"index":0,"id":next_id("call_s"),"type":"function","function":{"name":name,"arguments":""}}]}}]}),
    ];
    for p in pieces(args_json) {
        chunks.push(json!({"choices":[{"index":0,"delta":{"tool_calls":[
            {"index":0,"function":{"arguments":p}}]}}]}));
    }
    chunks.push(json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}));
    let mut events: Vec<String> = chunks.iter().map(|c| format!("data: {c}")).collect();
    events.push("data: [DONE]".into());
    Reply::Sse(events)
}

/// An Anthropic-dialect answer with text.
pub fn anthropic_text(text: &str) -> Reply {
    Reply::Json(json!({
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": "scripted",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }))
}

/// An Anthropic-dialect answer calling one tool.
pub fn anthropic_tool_use(name: &str, input_json: &str) -> Reply {
    Reply::Json(json!({
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": "scripted",
        "content": [{"type": "tool_use", "id": next_id("toolu_s"), "name": name,
                     "input": parse_args(input_json)}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }))
}

fn anthropic_events(blocks: Vec<Value>, stop_reason: &str) -> Reply {
    let mut events = vec![
        json!({"type":"message_start","message":{"id":"msg_scripted","type":"message","role":"assistant",
            "content":[],"model":"scripted","stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}),
        json!({"type":"ping"}),
    ];
    events.extend(blocks);
    events.push(json!({"type":"message_delta","delta":{"stop_reason":stop_reason},"usage":{"output_tokens":5}}));
    events.push(json!({"type":"message_stop"}));
    Reply::Sse(
        events
            .iter()
            .map(|e| {
                let t = e.get("type").and_then(Value::as_str).unwrap_or("");
                format!("event: {t}\ndata: {e}")
            })
            .collect(),
    )
}

/// [`anthropic_text`], streamed.
pub fn anthropic_text_stream(text: &str) -> Reply {
    let mut blocks = vec![
        json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
    ];
    for p in pieces(text) {
        blocks.push(
            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":p}}),
        );
    }
    blocks.push(json!({"type":"content_block_stop","index":0}));
    anthropic_events(blocks, "end_turn")
}

/// [`anthropic_tool_use`], streamed with the input in pieces.
pub fn anthropic_tool_use_stream(name: &str, input_json: &str) -> Reply {
    let mut blocks = vec![
        json!({"type":"content_block_start","index":0,"content_block":
        {"type":"tool_use","id":next_id("toolu_s"),"name":name,"input":{}}}),
    ];
    for p in pieces(input_json) {
        blocks.push(json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":p}}));
    }
    blocks.push(json!({"type":"content_block_stop","index":0}));
    anthropic_events(blocks, "tool_use")
}
