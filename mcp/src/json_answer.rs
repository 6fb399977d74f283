//! A session's answer to one request, sent as a plain JSON body when it is one message.
//!
//! rmcp answers every request of a session (protocol 2025-11-25) with an event stream,
//! even a call whose whole answer is one message. The specification lets a server answer
//! a POST with either an event stream or a JSON body, and a JSON body costs a client far
//! less to read (the Python SDK parses a stream line by line). So the stream is read up
//! to its first message: when that is the answer, it goes back as JSON; when it is
//! anything else (a progress notification, an elicitation request), the stream goes back
//! whole, the part already read first, and nothing is lost or reordered.

use bytes::{Bytes, BytesMut};
use futures_util::stream;
use http::{HeaderMap, Response, StatusCode, header};
use http_body_util::{BodyExt, BodyStream, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use serde::Deserialize;
use serde::de::IgnoredAny;

type HttpResponse = Response<BoxBody<Bytes, std::convert::Infallible>>;

/// Past this much stream without a complete first message, the stream is passed on as
/// it is: the answer is buffered whole only when that stays bounded.
const MOST_BUFFERED: usize = 16 << 20;

/// Whether the request lets the server answer with JSON (`Accept` names it, or `*/*`).
pub(crate) fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .any(|t| t.eq_ignore_ascii_case("application/json") || t == "*/*" || t == "application/*")
}

/// `response` with its event stream replaced by a JSON body when the stream's first
/// message is the answer; unchanged otherwise.
pub(crate) async fn answer_as_json(response: HttpResponse) -> HttpResponse {
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if response.status() != StatusCode::OK || !is_stream {
        return response;
    }
    let (mut parts, mut body) = response.into_parts();
    let mut read = BytesMut::new();
    'scan: loop {
        match first_message(&read) {
            Scan::Answer(data) => {
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                parts.headers.remove(header::CACHE_CONTROL);
                return Response::from_parts(parts, Full::new(Bytes::from(data)).boxed());
            }
            Scan::Other => break,
            Scan::Incomplete if read.len() > MOST_BUFFERED => break,
            Scan::Incomplete => {}
        }
        // Read until an event can have ended (a blank line, perhaps across frames), so a
        // message that comes in many frames is not scanned again for each.
        loop {
            let Some(Ok(frame)) = body.frame().await else {
                // The stream ended before a message: pass on what came.
                break 'scan;
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let from = read.len().saturating_sub(2);
            read.extend_from_slice(&data);
            if ends_an_event(&read[from..]) {
                break;
            }
        }
    }
    let already_read = stream::once(async move { Ok(Frame::data(read.freeze())) });
    let rest = BodyStream::new(body);
    Response::from_parts(
        parts,
        StreamBody::new(futures_util::StreamExt::chain(already_read, rest)).boxed(),
    )
}

#[derive(Debug, PartialEq)]
enum Scan {
    /// The first message is a response or an error: its JSON text.
    Answer(String),
    /// The first message is a notification or a request.
    Other,
    /// No complete message yet.
    Incomplete,
}

/// The first event with data in `stream`, classified. Events without data (rmcp's
/// priming event, keep-alive comments) are skipped. The stream is rmcp's: its lines end
/// in `\n`, and a tool's output sits JSON-escaped inside one `data:` line, so no byte a
/// skill controls can end a line or an event here.
fn first_message(stream: &[u8]) -> Scan {
    let mut data: Vec<&[u8]> = Vec::new();
    let mut rest = stream;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        rest = &rest[end + 1..];
        if line.is_empty() {
            // The end of an event.
            let message = data.join(&b'\n');
            if !message.trim_ascii().is_empty() {
                return classify(&message);
            }
            data.clear();
            continue;
        }
        if let Some(value) = line.strip_prefix(b"data:") {
            data.push(value.strip_prefix(b" ").unwrap_or(value));
        }
    }
    Scan::Incomplete
}

/// Whether `bytes` hold a blank line: `\n\n` or `\n\r\n`.
fn ends_an_event(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\n\n") || bytes.windows(3).any(|w| w == b"\n\r\n")
}

fn classify(data: &[u8]) -> Scan {
    // Only the shape is read here; the client parses the message.
    #[derive(Deserialize)]
    struct Shape {
        id: Option<IgnoredAny>,
        method: Option<IgnoredAny>,
        result: Option<IgnoredAny>,
        error: Option<IgnoredAny>,
    }
    match serde_json::from_slice::<Shape>(data) {
        Ok(m)
            if m.method.is_none()
                && m.id.is_some()
                && (m.result.is_some() || m.error.is_some()) =>
        {
            match String::from_utf8(data.to_vec()) {
                Ok(text) => Scan::Answer(text),
                Err(_) => Scan::Other,
            }
        }
        _ => Scan::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_message_decides() {
        let answer = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#;
        let error = r#"{"jsonrpc":"2.0","id":"a","error":{"code":-1,"message":"no"}}"#;
        let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
        let elicit = r#"{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{}}"#;
        let cases: &[(String, Scan)] = &[
            (format!("data: {answer}\n\n"), Scan::Answer(answer.into())),
            (format!("data: {error}\n\n"), Scan::Answer(error.into())),
            // rmcp's priming event and a keep-alive comment come first.
            (
                format!("id: 0\nretry: 3000\ndata:\n\n: ping\n\nid: 1\ndata: {answer}\n\n"),
                Scan::Answer(answer.into()),
            ),
            (
                format!("data: {answer}\r\n\r\n"),
                Scan::Answer(answer.into()),
            ),
            // Data split over lines is joined with newlines (JSON whitespace).
            (
                "data: {\"id\":1,\ndata: \"result\":{}}\n\n".into(),
                Scan::Answer("{\"id\":1,\n\"result\":{}}".into()),
            ),
            (
                format!("data: {progress}\n\ndata: {answer}\n\n"),
                Scan::Other,
            ),
            (format!("data: {elicit}\n\n"), Scan::Other),
            ("data: not json\n\n".into(), Scan::Other),
            // Not yet ended by a blank line.
            (format!("data: {answer}\n"), Scan::Incomplete),
            ("id: 0\nretry: 3000\ndata:\n\n".into(), Scan::Incomplete),
            (String::new(), Scan::Incomplete),
        ];
        for (stream, expected) in cases {
            assert_eq!(&first_message(stream.as_bytes()), expected, "{stream:?}");
        }
    }

    #[test]
    fn json_is_accepted_when_named() {
        let cases = [
            ("application/json, text/event-stream", true),
            ("text/event-stream, application/json;q=0.9", true),
            ("*/*", true),
            ("text/event-stream", false),
            ("", false),
        ];
        for (accept, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, accept.parse().unwrap());
            assert_eq!(accepts_json(&headers), expected, "{accept}");
        }
        assert!(!accepts_json(&HeaderMap::new()));
    }

    fn sse(events: &'static str) -> HttpResponse {
        let mut response = Response::new(Full::new(Bytes::from_static(events.as_bytes())).boxed());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        response
    }

    async fn body_of(response: HttpResponse) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn an_event_ends_at_a_blank_line() {
        let cases: &[(&[u8], bool)] = &[
            (b"data: x\n\n", true),
            (b"data: x\r\n\r\n", true),
            (b"\n\n", true),
            (b"data: x\n", false),
            (b"data: x\r\n", false),
            (b"", false),
        ];
        for (bytes, expected) in cases {
            assert_eq!(ends_an_event(bytes), *expected, "{bytes:?}");
        }
    }

    #[tokio::test]
    async fn an_answer_split_over_frames_becomes_json() {
        let frames = ["data:\n", "\ndata: {\"id\":1,", "\"result\":{}}\n", "\n"];
        let body =
            StreamBody::new(stream::iter(frames.map(|f| {
                Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(f)))
            })));
        let mut response = Response::new(body.boxed());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        let answered = answer_as_json(response).await;
        assert_eq!(answered.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(body_of(answered).await, "{\"id\":1,\"result\":{}}");
    }

    #[tokio::test]
    async fn an_answer_becomes_json_and_anything_else_passes_whole() {
        let answered = answer_as_json(sse("data:\n\ndata: {\"id\":1,\"result\":{}}\n\n")).await;
        assert_eq!(answered.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(body_of(answered).await, "{\"id\":1,\"result\":{}}");

        let events =
            "data: {\"method\":\"notifications/progress\"}\n\ndata: {\"id\":1,\"result\":{}}\n\n";
        let passed = answer_as_json(sse(events)).await;
        assert_eq!(passed.headers()[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(body_of(passed).await, events);
    }
}
