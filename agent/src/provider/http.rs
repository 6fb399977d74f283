//! The thin HTTP layer both dialects share: post a JSON body, map a failed answer to a
//! [`ProviderError`], read a JSON or server-sent-events body under a timeout and a
//! size limit. The mapping of error answers is a pure function with its table of
//! real servers' messages.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::ProviderError;
use super::sse::{SseEvent, SseParser};
use crate::message::{ModelReply, StreamEvent};

/// A non-streamed answer larger than this is refused.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// At most this much of a server's error text is kept in an error.
const MAX_MESSAGE: usize = 600;

/// POST `body` to `url`; an answer that is not 2xx becomes its [`ProviderError`].
/// `timeout` bounds the wait for the answer's headers.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
    timeout: Duration,
) -> Result<reqwest::Response, ProviderError> {
    let mut req = http.post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = match tokio::time::timeout(timeout, req.send()).await {
        Err(_) => {
            return Err(ProviderError::Timeout {
                url: url.to_string(),
                after: timeout,
            });
        }
        Ok(Err(e)) => return Err(from_reqwest(url, timeout, e)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // The error body is small and only read for its message: a failure to read it
    // leaves the message empty.
    let text = match tokio::time::timeout(timeout, read_limited(resp, url, timeout)).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    Err(classify_error(url, status, retry_after.as_deref(), &text))
}

fn from_reqwest(url: &str, timeout: Duration, e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout {
            url: url.to_string(),
            after: timeout,
        }
    } else {
        ProviderError::Unreachable {
            url: url.to_string(),
            source: e,
        }
    }
}

async fn read_limited(
    resp: reqwest::Response,
    url: &str,
    timeout: Duration,
) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    loop {
        let next = tokio::time::timeout(timeout, stream.next())
            .await
            .map_err(|_| ProviderError::Timeout {
                url: url.to_string(),
                after: timeout,
            })?;
        match next {
            None => return Ok(out),
            Some(Err(e)) => return Err(from_reqwest(url, timeout, e)),
            Some(Ok(chunk)) => {
                if out.len() + chunk.len() > MAX_BODY {
                    return Err(protocol(url, "the answer is too large"));
                }
                out.extend_from_slice(&chunk);
            }
        }
    }
}

/// Read a whole JSON answer.
/// How a dialect reads a streamed answer, one `data:` at a time.
pub(crate) trait ReplyStream {
    /// Feed one event's data; `true` when the stream says it is done.
    fn push_data(
        &mut self,
        data: &str,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<bool, WireError>;
    /// The stream ended: the complete reply.
    fn finish(self) -> Result<ModelReply, WireError>;
}

/// One request of either dialect: sent, then its answer read whole or streamed.
pub(crate) struct Exchange<'a> {
    pub url: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a Value,
    pub timeout: Duration,
    pub stream: bool,
}

impl Exchange<'_> {
    pub async fn run<S: ReplyStream>(
        mut self,
        http: &reqwest::Client,
        parse: impl Fn(&Value) -> Result<ModelReply, WireError>,
        mut state: S,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ModelReply, ProviderError> {
        let url = self.url;
        if self.stream {
            self.headers.push(("accept", "text/event-stream"));
        }
        let resp = post(http, url, &self.headers, self.body, self.timeout).await?;
        // Some servers ignore `stream: true` and answer with one JSON body: take it.
        if !self.stream || is_json(&resp) {
            let v = read_json(resp, url, self.timeout).await?;
            return parse(&v).map_err(|e| e.into_provider(url));
        }
        read_sse(resp, url, self.timeout, |ev| {
            state
                .push_data(&ev.data, on_event)
                .map_err(|e| e.into_provider(url))
        })
        .await?;
        state.finish().map_err(|e| e.into_provider(url))
    }
}

/// Whether the answer is a JSON body (not an event stream).
pub(crate) fn is_json(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/json"))
}

pub(crate) async fn read_json(
    resp: reqwest::Response,
    url: &str,
    timeout: Duration,
) -> Result<Value, ProviderError> {
    let bytes = read_limited(resp, url, timeout).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| protocol(url, &format!("the answer is not JSON: {e}")))
}

/// Read a server-sent-events answer, passing each event to `on_event` until it
/// returns `Ok(true)` (the stream's end marker) or the body ends. `timeout` bounds
/// the wait for each piece.
pub(crate) async fn read_sse(
    resp: reqwest::Response,
    url: &str,
    timeout: Duration,
    mut on_event: impl FnMut(SseEvent) -> Result<bool, ProviderError>,
) -> Result<(), ProviderError> {
    let mut parser = SseParser::new();
    let mut stream = resp.bytes_stream();
    loop {
        let next = tokio::time::timeout(timeout, stream.next())
            .await
            .map_err(|_| ProviderError::Timeout {
                url: url.to_string(),
                after: timeout,
            })?;
        match next {
            None => {
                if let Some(ev) = parser.finish() {
                    on_event(ev)?;
                }
                return Ok(());
            }
            Some(Err(e)) => return Err(from_reqwest(url, timeout, e)),
            Some(Ok(chunk)) => {
                let events = parser
                    .push(&chunk)
                    .map_err(|e| protocol(url, &e.to_string()))?;
                for ev in events {
                    if on_event(ev)? {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// What the pure parsing functions of the dialects report, before the URL is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The answer could not be understood.
    Protocol(String),
    /// The server reported an error inside an answer (an error object in a 200 body
    /// or a stream): classified like an error status with this body.
    Server { status: u16, body: String },
}

impl WireError {
    pub fn into_provider(self, url: &str) -> ProviderError {
        match self {
            WireError::Protocol(m) => protocol(url, &m),
            WireError::Server { status, body } => classify_error(url, status, None, &body),
        }
    }
}

pub(crate) fn protocol(url: &str, message: &str) -> ProviderError {
    ProviderError::Protocol {
        url: url.to_string(),
        message: message.to_string(),
    }
}

/// Cut untrusted text to a length fit for an error message, without control
/// characters (a terminal would obey escape sequences in it).
pub(crate) fn truncate(text: &str) -> String {
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.as_str();
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The human message in an error body: `error.message` (OpenAI, Anthropic,
/// llama.cpp), `error` as a string (Ollama, llama-cpp-python), `message`, or the text.
pub(crate) fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return truncate(body);
    };
    let v = match &v {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null), // Gemini wraps in a list
        _ => v,
    };
    let msg = v
        .pointer("/error/message")
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .or_else(|| v.get("message"))
        .or_else(|| v.get("detail"))
        .and_then(Value::as_str);
    match msg {
        Some(m) => truncate(m),
        None => truncate(body),
    }
}

/// Does this error text say the prompt did not fit the context window?
pub(crate) fn is_context_overflow(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    [
        "context_length_exceeded",                      // OpenAI's code
        "maximum context length",                       // OpenAI, vLLM messages
        "exceed_context_size",                          // llama.cpp server's error type
        "exceeds the available context",                // llama.cpp server
        "exceeds the context window",                   // llama.cpp, others
        "exceed context window", // llama-cpp-python "Requested tokens (…) exceed context window of …"
        "prompt is too long",    // Anthropic
        "input is too long",     // Bedrock-style proxies
        "context window exceeded", //
        "too many tokens in the prompt", //
        "reduce the length of the messages", // OpenAI's advice, with various codes
        "exceeded max context length", // Ollama
        "greater than the context length", // LM Studio
        "exceeds the maximum number of tokens allowed", // Gemini
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// Map an error answer to its [`ProviderError`].
pub fn classify_error(
    url: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> ProviderError {
    let message = error_message(body);
    let url = url.to_string();
    match status {
        401 | 403 => ProviderError::Auth {
            url,
            status,
            message,
        },
        429 => ProviderError::RateLimited {
            url,
            retry_after: retry_after.and_then(parse_retry_after),
        },
        _ if is_context_overflow(body) => ProviderError::ContextOverflow { message },
        _ => ProviderError::Status {
            url,
            status,
            message,
        },
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from these APIs, and ignored).
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_error_answers() {
        enum Want {
            Overflow,
            Auth,
            Rate(Option<u64>),
            Status,
        }
        use Want::*;
        let cases: &[(&str, u16, Option<&str>, &str, Want)] = &[
            (
                "openai code",
                400,
                None,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
                Overflow,
            ),
            (
                "llama.cpp server",
                400,
                None,
                r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
                Overflow,
            ),
            (
                "llama-cpp-python",
                400,
                None,
                r#"{"error":{"message":"Requested tokens (5000) exceed context window of 4096","type":"internal_server_error"}}"#,
                Overflow,
            ),
            (
                "llama.cpp older message, 500",
                500,
                None,
                r#"{"error":{"message":"input exceeds the context window"}}"#,
                Overflow,
            ),
            (
                "anthropic",
                400,
                None,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
                Overflow,
            ),
            (
                "gemini",
                400,
                None,
                r#"[{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}]"#,
                Overflow,
            ),
            (
                "lm studio",
                400,
                None,
                r#"{"error":"The number of tokens to keep from the initial prompt is greater than the context length."}"#,
                Overflow,
            ),
            (
                "401",
                401,
                None,
                r#"{"error":{"message":"Incorrect API key"}}"#,
                Auth,
            ),
            ("403", 403, None, "forbidden", Auth),
            ("429 with seconds", 429, Some("7"), "{}", Rate(Some(7))),
            ("429 without header", 429, None, "slow down", Rate(None)),
            (
                "429 with a date",
                429,
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                "",
                Rate(None),
            ),
            ("500", 500, None, "oops", Status),
            ("502 html", 502, None, "<html>bad gateway</html>", Status),
            (
                "400 other",
                400,
                None,
                r#"{"error":"invalid tool schema"}"#,
                Status,
            ),
        ];
        for (name, status, ra, body, want) in cases {
            let got = classify_error("u", *status, *ra, body);
            let ok = match (want, &got) {
                (Overflow, ProviderError::ContextOverflow { .. }) => true,
                (Auth, ProviderError::Auth { status: s, .. }) => s == status,
                (Rate(secs), ProviderError::RateLimited { retry_after, .. }) => {
                    *retry_after == secs.map(Duration::from_secs)
                }
                (Status, ProviderError::Status { status: s, .. }) => s == status,
                _ => false,
            };
            assert!(ok, "{name}: got {got:?}");
        }
    }

    #[test]
    fn extracts_messages() {
        let cases = [
            (r#"{"error":{"message":"bad key"}}"#, "bad key"),
            (r#"{"error":"model not found"}"#, "model not found"),
            (r#"[{"error":{"code":400,"message":"gemini"}}]"#, "gemini"),
            (r#"{"detail":"vllm"}"#, "vllm"),
            ("plain text", "plain text"),
            ("esc\u{1b}[31mape\n", "esc [31mape"),
        ];
        for (body, want) in cases {
            assert_eq!(error_message(body), want);
        }
        let long = "é".repeat(1000);
        assert!(error_message(&long).len() <= MAX_MESSAGE + 3);
    }
}
