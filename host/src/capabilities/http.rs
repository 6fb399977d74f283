//! Outgoing HTTP: only to declared destinations, with secrets injected by the host.
//!
//! Every request the skill makes passes [`HttpPolicy::send_request`] before anything
//! touches the network: the URL is matched against the declared patterns (scheme, host,
//! port, path), so names outside the allowlist are never even resolved. The path is
//! matched after normalisation ([`chitin_registry::http_path`]: dot segments removed,
//! ambiguous escapes refused) and the normalised path is what is sent. Redirects are
//! not followed by the host: the skill sees the 3xx and a follow-up is a new request,
//! checked again. Raw sockets are not granted (wasi:sockets denies every address).
//!
//! A secret is added only when the whole URL (scheme, host, port, path) matches one of
//! its declared destinations; any other allowed request goes out without it, with no
//! denial: it is not a refusal, only a request without credentials. A request that
//! carries a secret is made so that its response can be redacted: headers that let the
//! server compress, re-encode or cut the response are removed, and a response that is
//! encoded or partial anyway is refused (an error to the skill and a denial) instead of
//! being passed on undecoded. The response is then read whole, within
//! [`MAX_REDACTED_BODY`], while the connection is driven, and echoes of the secret are
//! redacted ([`super::secrets::Redactor`]) before the skill reads anything.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::secrets::Redactor;
use crate::audit::{Denial, Denials};
use crate::grants::ResolvedSecret;
use chitin_registry::http_path;
use chitin_registry::{Capability, HttpPattern};

/// Largest response body the host buffers to redact secrets from it.
pub const MAX_REDACTED_BODY: usize = 32 << 20;

/// Request headers that let the server transform the response (compress it, transcode
/// it, or send it in pieces), so that no literal copy of an echoed secret is left to
/// redact. Removed from requests that carry a secret; `Accept-Encoding` is set to
/// `identity` instead.
const TRANSFORMING_REQUEST_HEADERS: [HeaderName; 4] = [
    // Pieces: each half of an echo is unredacted.
    header::RANGE,
    header::IF_RANGE,
    // Transfer codings (`TE: gzip`) and trailers.
    header::TE,
    // A body transcoded to UTF-16 has no ASCII copy of the secret.
    header::ACCEPT_CHARSET,
];

/// The per-call HTTP policy (the `hooks` of wasmtime-wasi-http).
pub struct HttpPolicy {
    patterns: Vec<HttpPattern>,
    secrets: Vec<ResolvedSecret>,
    /// Refusals, shared with the call state after the call.
    pub(crate) denials: Arc<Mutex<Denials>>,
}

/// An allowed request: where it goes, with the path to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Normalised; replaces the skill's path in the request.
    pub path: String,
    /// The URI to send: the skill's, with the normalised path.
    pub uri: http::Uri,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme, self.host, self.port, self.path
        )
    }
}

impl HttpPolicy {
    pub fn new(patterns: Vec<HttpPattern>, secrets: Vec<ResolvedSecret>) -> Self {
        Self {
            patterns,
            secrets,
            denials: Arc::default(),
        }
    }

    /// Is this request allowed? `Ok` is where it goes; `Err` the reason, for the audit
    /// log.
    pub fn check(&self, uri: &http::Uri) -> Result<Target, String> {
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let host = uri.host().unwrap_or("").to_string();
        let port = uri.port_u16().unwrap_or(match scheme.as_str() {
            "https" => 443,
            _ => 80,
        });
        let raw_path = uri.path();
        let path = http_path::normalize(raw_path)
            .map_err(|e| format!("{scheme}://{host}:{port}{raw_path}: ambiguous path: {e}"))?;
        if !self
            .patterns
            .iter()
            .any(|p| p.matches(&scheme, &host, port, &path))
        {
            let why = if self.patterns.is_empty() {
                "the skill declared no HTTP access".to_string()
            } else {
                let declared: Vec<String> = self.patterns.iter().map(|p| p.to_string()).collect();
                format!("not in the declared hosts ({})", declared.join(", "))
            };
            let shown = if path == raw_path {
                path
            } else {
                format!("{raw_path} (read as {path})")
            };
            return Err(format!("{scheme}://{host}:{port}{shown}: {why}"));
        }
        let mut parts = uri.clone().into_parts();
        let path_and_query = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        parts.path_and_query = Some(
            path_and_query
                .parse()
                .map_err(|e| format!("{scheme}://{host}:{port}{path}: {e}"))?,
        );
        let uri = http::Uri::from_parts(parts)
            .map_err(|e| format!("{scheme}://{host}:{port}{path}: {e}"))?;
        Ok(Target {
            scheme,
            host,
            port,
            path,
            uri,
        })
    }

    /// Adds the secrets whose destinations match `target` (replacing whatever the skill
    /// put in those headers) and returns `(name, value)` pairs to redact: each value and
    /// each full header value.
    fn inject(&self, headers: &mut HeaderMap, target: &Target) -> Vec<(String, String)> {
        let mut injected = Vec::new();
        for secret in &self.secrets {
            let Some(value) = &secret.value else { continue };
            if !secret
                .grant
                .applies_to(&target.scheme, &target.host, target.port, &target.path)
            {
                continue;
            }
            let header_value = secret.grant.header_value(value);
            let Ok(mut hv) = HeaderValue::from_str(&header_value) else {
                continue;
            };
            hv.set_sensitive(true);
            let name = HeaderName::from_bytes(secret.grant.header.as_str().as_bytes())
                .expect("validated header name");
            headers.insert(name, hv);
            injected.push((secret.grant.name.to_string(), value.clone()));
            injected.push((secret.grant.name.to_string(), header_value));
        }
        injected
    }
}

/// The response's body and header values with every secret and header value that was
/// sent replaced (see [`Redactor`]).
fn redact_response(
    redactor: &Redactor,
    parts: &mut http::response::Parts,
    body: Vec<u8>,
) -> Vec<u8> {
    let body = redactor.redact(&body).unwrap_or(body);
    // The body may have changed length (and is no longer what any digest or length
    // header described).
    parts.headers.remove(header::CONTENT_LENGTH);
    for value in parts.headers.values_mut() {
        if let Some(clean) = redactor.redact(value.as_bytes()) {
            *value = HeaderValue::from_bytes(&clean)
                .unwrap_or_else(|_| HeaderValue::from_static("[REDACTED]"));
        }
    }
    body
}

/// Asks for the response as one plain, whole body: see [`TRANSFORMING_REQUEST_HEADERS`].
fn ask_for_a_plain_response(headers: &mut HeaderMap) {
    for name in TRANSFORMING_REQUEST_HEADERS {
        headers.remove(name);
    }
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
}

/// Why the response to a request that carried a secret cannot be redacted, if it cannot:
/// its bytes are not the plain text of the whole representation. A server may encode
/// or cut a response it was not asked to, so this is checked whatever was asked.
fn not_redactable(parts: &http::response::Parts) -> Option<String> {
    // The comma-separated tokens of every field with this name, lower-cased.
    let tokens = |name: HeaderName| -> Vec<String> {
        let mut out = Vec::new();
        for value in parts.headers.get_all(name) {
            for token in String::from_utf8_lossy(value.as_bytes()).split(',') {
                let token = token.trim().to_ascii_lowercase();
                if !token.is_empty() {
                    out.push(token);
                }
            }
        }
        out
    };
    if parts.status == http::StatusCode::PARTIAL_CONTENT {
        return Some("it is a partial response (206)".into());
    }
    if parts.headers.contains_key(header::CONTENT_RANGE) {
        return Some("it is a range of the content (Content-Range)".into());
    }
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE)
        && String::from_utf8_lossy(ct.as_bytes())
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/byteranges")
    {
        return Some("it is made of ranges (multipart/byteranges)".into());
    }
    let encodings: Vec<String> = tokens(header::CONTENT_ENCODING)
        .into_iter()
        .filter(|t| t != "identity")
        .collect();
    if !encodings.is_empty() {
        return Some(format!(
            "it is encoded (Content-Encoding: {})",
            encodings.join(", ")
        ));
    }
    // hyper decodes `chunked` only; any other transfer coding would reach the skill as is.
    let codings: Vec<String> = tokens(header::TRANSFER_ENCODING)
        .into_iter()
        .filter(|t| t != "chunked")
        .collect();
    if !codings.is_empty() {
        return Some(format!(
            "it is encoded (Transfer-Encoding: {})",
            codings.join(", ")
        ));
    }
    None
}

/// Reads a whole body into `buf`, refused as soon as it would pass `limit`: the size
/// is checked before each copy, so `buf` never holds more than `limit` bytes. Trailers
/// are dropped (they are not asked for: `TE` is removed).
async fn read_bounded<B>(mut body: B, limit: usize, buf: &mut Vec<u8>) -> Result<(), HttpError>
where
    B: hyper::body::Body<Data = Bytes, Error = HttpError> + Unpin,
{
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let total = buf.len() + data.len();
            if total > limit {
                return Err(HttpError::HttpResponseBodySize(Some(total as u64)));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(())
}

/// The response's declared length, when it is over `limit` (refused before reading).
fn declared_too_long(parts: &http::response::Parts, limit: usize) -> Option<u64> {
    let len: u64 = parts
        .headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (len > limit as u64).then_some(len)
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        drop(fut);
        let target = match self.check(request.uri()) {
            Ok(target) => target,
            Err(reason) => {
                self.denials.lock().unwrap().push(Denial {
                    capability: Capability::Http.into(),
                    detail: reason,
                });
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        };
        *request.uri_mut() = target.uri.clone();
        let injected = self.inject(request.headers_mut(), &target);
        if injected.is_empty() {
            return Box::new(async move {
                let (response, io) =
                    wasmtime_wasi_http::default_send_request(request, options).await?;
                let io: IoFuture = Box::new(io);
                Ok((response.map(BodyExt::boxed_unsync), io))
            });
        }

        // A secret goes out: its echo must come back whole and as plain text.
        ask_for_a_plain_response(request.headers_mut());
        let redactor = Redactor::new(&injected);
        let mut names: Vec<String> = injected.into_iter().map(|(name, _)| name).collect();
        names.dedup();
        let denials = self.denials.clone();
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let (mut parts, body) = response.into_parts();
            if let Some(why) = not_redactable(&parts) {
                denials.lock().unwrap().push(Denial {
                    capability: Capability::Http.into(),
                    detail: format!(
                        "{target}: response refused: the request carried the secret {} and \
                         {why}, which the host cannot redact",
                        names.join(", ")
                    ),
                });
                return Err(HttpError::HttpRequestDenied);
            }
            if let Some(len) = declared_too_long(&parts, MAX_REDACTED_BODY) {
                return Err(HttpError::HttpResponseBodySize(Some(len)));
            }
            // The connection future (`io`) is what moves the body's bytes: poll it while
            // reading, or a body that is not in the first packet never arrives.
            let mut io = Box::pin(io);
            let mut io_result = None;
            let mut buf = Vec::new();
            {
                let read = read_bounded(Box::pin(body), MAX_REDACTED_BODY, &mut buf);
                tokio::pin!(read);
                loop {
                    tokio::select! {
                        read = &mut read => break read?,
                        done = &mut io, if io_result.is_none() => io_result = Some(done),
                    }
                }
            }
            let io: IoFuture = match io_result {
                Some(done) => Box::new(std::future::ready(done)),
                None => Box::new(io),
            };
            let buf = redact_response(&redactor, &mut parts, buf);
            let body = Full::new(Bytes::from(buf))
                .map_err(|never| match never {})
                .boxed_unsync();
            Ok((http::Response::from_parts(parts, body), io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chitin_registry::SecretGrant;

    fn policy() -> HttpPolicy {
        let patterns = ["http://localhost:*/public/*", "http://127.0.0.1:*/*"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let grant: SecretGrant = toml::from_str(
            r#"name = "T"
               hosts = ["http://127.0.0.1:8000/private/*"]
               header = "X-T"
               format = "Token {}""#,
        )
        .unwrap();
        let secret = ResolvedSecret {
            grant,
            value: Some("s3cr3t-value".into()),
        };
        HttpPolicy::new(patterns, vec![secret])
    }

    #[test]
    fn paths_are_matched_and_sent_normalised() {
        // (URL, Ok(the URI sent) or Err(part of the reason))
        let cases: [(&str, Result<&str, &str>); 12] = [
            (
                "http://localhost:1/public/x",
                Ok("http://localhost:1/public/x"),
            ),
            (
                "http://localhost:1/public/a/../b?q=../x",
                Ok("http://localhost:1/public/b?q=../x"),
            ),
            (
                "http://localhost:1/public/%41",
                Ok("http://localhost:1/public/A"),
            ),
            (
                "http://localhost:1/public/../secret.txt",
                Err("(read as /secret.txt): not in the declared"),
            ),
            (
                "http://localhost:1/public/./../secret.txt",
                Err("not in the declared"),
            ),
            (
                "http://localhost:1/public/%2e%2e/secret.txt",
                Err("ambiguous path"),
            ),
            (
                "http://localhost:1/public/..%2fsecret.txt",
                Err("ambiguous path"),
            ),
            (
                "http://localhost:1/public/..%5csecret.txt",
                Err("ambiguous path"),
            ),
            (
                "http://localhost:1/public/..;/secret.txt",
                Err("ambiguous path"),
            ),
            ("http://localhost:1/public/x%00", Err("ambiguous path")),
            ("http://localhost:1/private", Err("not in the declared")),
            ("http://127.0.0.1:1/a/../../b", Ok("http://127.0.0.1:1/b")),
        ];
        let policy = policy();
        for (url, want) in cases {
            let got = policy.check(&url.parse().unwrap());
            match (got, want) {
                (Ok(t), Ok(sent)) => assert_eq!(t.uri.to_string(), sent, "{url}"),
                (Err(e), Err(why)) => assert!(e.contains(why), "{url}: {e}"),
                (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn secrets_go_only_to_their_destination() {
        // (URL, is the secret added?)
        let cases = [
            ("http://127.0.0.1:8000/private/x", true),
            ("http://127.0.0.1:8000/private/a/../b", true),
            ("http://127.0.0.1:8001/private/x", false),
            ("http://127.0.0.1:8000/public/x", false),
            ("http://127.0.0.1:8000/private/../public/x", false),
            ("http://localhost:8000/public/x", false),
        ];
        let policy = policy();
        for (url, sent) in cases {
            let target = policy.check(&url.parse().unwrap()).unwrap();
            let mut headers = HeaderMap::new();
            headers.insert("x-t", HeaderValue::from_static("the skill's own"));
            let injected = policy.inject(&mut headers, &target);
            assert_eq!(!injected.is_empty(), sent, "{url}");
            let seen = headers["x-t"].to_str().unwrap();
            assert_eq!(seen == "Token s3cr3t-value", sent, "{url}: {seen}");
        }
    }

    /// What was sent with a secret is redacted in the response: the secret and the
    /// whole header value (base64 of `Token s3cr3t-value` does not contain a base64
    /// form of the bare secret), in the body and in every response header.
    #[test]
    fn the_secret_and_the_whole_header_value_are_redacted_in_body_and_headers() {
        use base64::Engine as _;
        let policy = policy();
        let target = policy
            .check(&"http://127.0.0.1:8000/private/x".parse().unwrap())
            .unwrap();
        let injected = policy.inject(&mut HeaderMap::new(), &target);
        let redactor = Redactor::new(&injected);
        let whole = "Token s3cr3t-value";
        let b64 = base64::engine::general_purpose::STANDARD.encode(whole);
        // (text echoed by the server, what the skill gets)
        let cases = [
            ("s3cr3t-value".to_string(), "[REDACTED:T]"),
            (whole.to_string(), "[REDACTED:T]"),
            (b64.clone(), "[REDACTED:T]"),
            (format!("auth={b64};"), "auth=[REDACTED:T];"),
            ("nothing secret".to_string(), "nothing secret"),
        ];
        for (echo, want) in &cases {
            let (mut parts, ()) = http::Response::builder()
                .header("x-echo", echo.as_str())
                .header("set-cookie", format!("s={echo}"))
                .header("content-length", echo.len())
                .body(())
                .unwrap()
                .into_parts();
            let body = redact_response(&redactor, &mut parts, echo.as_bytes().to_vec());
            assert_eq!(String::from_utf8(body).unwrap(), *want, "body: {echo}");
            assert_eq!(parts.headers["x-echo"], *want, "header: {echo}");
            assert_eq!(parts.headers["set-cookie"], format!("s={want}"), "{echo}");
            assert!(parts.headers.get("content-length").is_none());
        }
    }

    #[test]
    fn secret_bearing_requests_ask_for_a_plain_whole_response() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("accept-encoding", "gzip, br"),
            ("range", "bytes=0-10"),
            ("if-range", "\"etag\""),
            ("te", "gzip, trailers"),
            ("accept-charset", "utf-16"),
            ("accept", "application/json"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        headers.append("accept-encoding", HeaderValue::from_static("deflate"));
        ask_for_a_plain_response(&mut headers);
        let mut left: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ("accept".to_string(), "application/json".to_string()),
                ("accept-encoding".to_string(), "identity".to_string()),
            ]
        );
    }

    #[test]
    fn encoded_or_partial_responses_are_not_redactable() {
        // (status, headers, refused?)
        type Case = (u16, &'static [(&'static str, &'static str)], bool);
        let cases: [Case; 14] = [
            (200, &[], false),
            (200, &[("content-encoding", "identity")], false),
            (200, &[("transfer-encoding", "chunked")], false),
            (404, &[("content-type", "text/plain")], false),
            (200, &[("content-encoding", "gzip")], true),
            (200, &[("content-encoding", "GZIP")], true),
            (200, &[("content-encoding", "identity, br")], true),
            (
                200,
                &[
                    ("content-encoding", "identity"),
                    ("content-encoding", "x-custom"),
                ],
                true,
            ),
            (200, &[("transfer-encoding", "gzip, chunked")], true),
            (206, &[], true),
            (200, &[("content-range", "bytes 0-9/100")], true),
            (416, &[("content-range", "bytes */100")], true),
            (
                200,
                &[("content-type", "multipart/byteranges; boundary=x")],
                true,
            ),
            (200, &[("content-type", " Multipart/ByteRanges")], true),
        ];
        for (status, headers, refused) in cases {
            let mut response = http::Response::builder().status(status);
            for (n, v) in headers {
                response = response.header(*n, *v);
            }
            let (parts, ()) = response.body(()).unwrap().into_parts();
            assert_eq!(
                not_redactable(&parts).is_some(),
                refused,
                "{status} {headers:?}"
            );
        }
    }

    fn body(chunks: &[usize]) -> impl hyper::body::Body<Data = Bytes, Error = HttpError> + Unpin {
        let frames: Vec<Result<hyper::body::Frame<Bytes>, HttpError>> = chunks
            .iter()
            .map(|&n| Ok(hyper::body::Frame::data(Bytes::from(vec![b'x'; n]))))
            .collect();
        http_body_util::StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn bodies_are_bounded_before_they_are_copied() {
        // (chunk sizes, limit, Ok(length) or Err(the size that was refused))
        let cases: [(&[usize], usize, Result<usize, u64>); 5] = [
            (&[], 10, Ok(0)),
            (&[4, 6], 10, Ok(10)),
            (&[4, 7], 10, Err(11)),
            // Refused at the chunk that would pass the limit, not after reading it all.
            (&[10, 1, 1000], 10, Err(11)),
            (&[11], 10, Err(11)),
        ];
        for (chunks, limit, want) in cases {
            let mut buf = Vec::new();
            let got = read_bounded(body(chunks), limit, &mut buf).await;
            match (got, want) {
                (Ok(()), Ok(len)) => assert_eq!(buf.len(), len, "{chunks:?}"),
                (Err(HttpError::HttpResponseBodySize(Some(size))), Err(want)) => {
                    assert_eq!(size, want, "{chunks:?}");
                    // What would pass the bound was never copied.
                    assert!(buf.len() <= limit, "{chunks:?}: {} buffered", buf.len());
                }
                (got, want) => panic!("{chunks:?}: got {got:?}, want {want:?}"),
            }
        }
        let declared = |len: &str| {
            let (parts, ()) = http::Response::builder()
                .header("content-length", len)
                .body(())
                .unwrap()
                .into_parts();
            declared_too_long(&parts, 10)
        };
        assert_eq!(declared("10"), None);
        assert_eq!(declared("11"), Some(11));
        assert_eq!(declared("nonsense"), None);
    }
}
