//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! ```no_run
//! # fn main() -> Result<(), chitin_sdk::ToolError> {
//! use chitin_sdk::http::{self, Method, Request};
//!
//! let repo: serde_json::Value = http::get("https://api.github.com/repos/rust-lang/rust")?
//!     .error_for_status()?
//!     .json()?;
//!
//! let resp = Request::new(Method::Post, "https://api.example.com/v1/items")
//!     .header("content-type", "application/json")
//!     .body(br#"{"name":"x"}"#.to_vec())
//!     .send()?;
//! println!("{} {}", resp.status, resp.text());
//! # Ok(()) }
//! ```
//!
//! Every request, including each redirect it follows (at most [`MAX_REDIRECTS`]), is
//! a separate outgoing request that the host checks against the skill's declared URL
//! patterns; a refused one is [`ToolError::Denied`] naming the URL. Secrets are added
//! by the host to requests for their declared hosts: do not set those headers
//! yourself. On a redirect to another origin, `authorization`, `cookie` and
//! `proxy-authorization` headers set by the skill are dropped.
//!
//! Response bodies are read fully into memory, up to [`MAX_BODY`] bytes.
//!
//! Why not a crate: the Rust HTTP clients that target WASI either bring an async
//! runtime (`wstd`, `reqwest` on `wasm32-wasip2`), or carry their own bindings of
//! an older WASI 0.2 release (`waki`), or belong to another host (`spin-sdk`). This
//! client is a few hundred lines over the bindings this crate already generates.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;

use crate::ToolError;

/// Largest response body read, in bytes (16 MiB); a longer one is
/// [`ToolError::Failed`].
pub const MAX_BODY: usize = 16 << 20;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
    /// Any other method (an HTTP token, e.g. `PROPFIND`).
    Other(String),
}

impl Method {
    /// The method as it goes on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Other(m) => m,
        }
    }
}

impl FromStr for Method {
    type Err = ToolError;

    /// Case-insensitive for the usual methods; other tokens are kept as given.
    fn from_str(s: &str) -> Result<Self, ToolError> {
        let known = [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Patch,
            Method::Options,
        ];
        if let Some(m) = known
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
        {
            return Ok(m);
        }
        let is_token = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if is_token {
            Ok(Method::Other(s.to_string()))
        } else {
            Err(ToolError::invalid_input(format!(
                "invalid HTTP method {s:?}"
            )))
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP request, built then [`send`](Request::send)t.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    follow_redirects: bool,
}

impl Request {
    /// A request with no headers and an empty body, following redirects.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            follow_redirects: true,
        }
    }

    /// Adds a header (names are case-insensitive; a name may repeat).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self, ToolError> {
        let body = serde_json::to_vec(value)?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Whether to follow redirects (default: yes, at most [`MAX_REDIRECTS`]).
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// Sends the request, follows redirects, and reads the whole response.
    ///
    /// Errors: [`ToolError::InvalidInput`] for a malformed URL, method or header;
    /// [`ToolError::Denied`] when the host refuses a request (the URL is not covered by
    /// the skill's grants); [`ToolError::Failed`] for network errors, too many
    /// redirects or a body over [`MAX_BODY`]. An HTTP error status is not an error
    /// here: see [`Response::error_for_status`].
    pub fn send(self) -> Result<Response, ToolError> {
        let Request {
            mut method,
            url,
            mut headers,
            mut body,
            follow_redirects,
        } = self;
        let mut url = Url::parse(&url)?;
        let mut redirects = 0;
        loop {
            let request_headers = with_content_length(&headers, &method, body.len());
            let (status, resp_headers, resp_body) =
                transport::send(&method, &url, &request_headers, &body)?;
            let location = match follow_redirects && is_redirect(status) {
                true => header_value(&resp_headers, "location").map(str::to_string),
                false => None,
            };
            let Some(location) = location else {
                return Ok(Response {
                    status,
                    headers: resp_headers,
                    body: resp_body,
                    url: url.to_string(),
                });
            };
            if redirects == MAX_REDIRECTS {
                return Err(ToolError::failed(format!(
                    "too many redirects (more than {MAX_REDIRECTS}), last to {url}"
                )));
            }
            redirects += 1;
            let next = url.join(&location)?;
            if !next.same_origin(&url) {
                headers.retain(|(name, _)| !is_credential_header(name));
            }
            if !keeps_method(status, &method) {
                method = Method::Get;
                body.clear();
                headers.retain(|(name, _)| !is_body_header(name));
            }
            url = next;
        }
    }
}

/// `GET url`, following redirects.
pub fn get(url: &str) -> Result<Response, ToolError> {
    Request::new(Method::Get, url).send()
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields as received (names in lowercase), in order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
    /// The URL that answered (after redirects).
    pub url: String,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// Status 200 to 299.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ToolError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ToolError::failed(format!(
                "the response from {} is not the JSON expected: {e}",
                self.url
            ))
        })
    }

    /// `Ok(self)` for a 2xx status, otherwise [`ToolError::Failed`] with the status and
    /// the start of the body.
    pub fn error_for_status(self) -> Result<Self, ToolError> {
        if self.is_success() {
            return Ok(self);
        }
        let text = self.text();
        let cut = text.char_indices().nth(500).map_or(text.len(), |(i, _)| i);
        Err(ToolError::failed(format!(
            "{} answered HTTP {}: {}",
            self.url,
            self.status,
            text[..cut].trim()
        )))
    }
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The headers to send: `headers` plus a `content-length` when the skill set none and
/// there is a body (or the method usually has one), so that servers see a plain
/// length-delimited body rather than a chunked one.
fn with_content_length(
    headers: &[(String, String)],
    method: &Method,
    body_len: usize,
) -> Vec<(String, String)> {
    let mut headers = headers.to_vec();
    let has_body = body_len > 0 || matches!(method, Method::Post | Method::Put | Method::Patch);
    if has_body && header_value(&headers, "content-length").is_none() {
        headers.push(("content-length".to_string(), body_len.to_string()));
    }
    headers
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Whether a redirect with `status` repeats the method and body (307, 308, and 301/302
/// for anything but POST, as browsers do), or turns into a GET without body.
fn keeps_method(status: u16, method: &Method) -> bool {
    match status {
        303 => *method == Method::Head,
        301 | 302 => *method != Method::Post,
        _ => true,
    }
}

fn is_credential_header(name: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn is_body_header(name: &str) -> bool {
    ["content-type", "content-length", "content-encoding"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// An absolute http(s) URL split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    /// `http` or `https`.
    scheme: String,
    /// `host[:port]`, no user info.
    authority: String,
    /// Starts with `/`; no fragment.
    path_query: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, ToolError> {
        let bad = |why: &str| ToolError::invalid_input(format!("invalid URL {url:?}: {why}"));
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains whitespace or control characters"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it is not absolute"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("only http and https are supported"));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_query) = rest.split_at(end);
        if authority.is_empty() {
            return Err(bad("it has no host"));
        }
        if authority.contains('@') {
            return Err(bad("credentials in URLs are not supported (use a header)"));
        }
        if authority.contains(['\\', '%']) {
            return Err(bad("invalid character in the host"));
        }
        let path_query = match path_query.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{path_query}"),
            Some(_) => path_query.to_string(),
        };
        Ok(Url {
            scheme,
            authority: authority.to_ascii_lowercase(),
            path_query,
        })
    }

    /// Resolves a `Location` header against this URL.
    fn join(&self, location: &str) -> Result<Url, ToolError> {
        let location = location.trim();
        let has_scheme = location.split_once("://").is_some_and(|(s, _)| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        let absolute = if has_scheme {
            location.to_string()
        } else if location.starts_with("//") {
            format!("{}:{location}", self.scheme)
        } else if location.starts_with('/') {
            format!("{}://{}{location}", self.scheme, self.authority)
        } else {
            let path = self.path_query.split('?').next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            if location.starts_with('?') {
                format!("{}://{}{path}{location}", self.scheme, self.authority)
            } else {
                format!("{}://{}{dir}{location}", self.scheme, self.authority)
            }
        };
        Url::parse(&absolute).map_err(|e| {
            ToolError::failed(format!(
                "{self} redirected to an unusable location: {}",
                e.message()
            ))
        })
    }

    fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.authority == other.authority
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.path_query)
    }
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

#[cfg(target_arch = "wasm32")]
mod transport {
    use super::{Answer, MAX_BODY, Method, Url};
    use crate::ToolError;
    use crate::bindings::wasi::http::outgoing_handler;
    use crate::bindings::wasi::http::types::{
        self as wasi, ErrorCode, Fields, HeaderError, IncomingBody, OutgoingBody, OutgoingRequest,
        Scheme,
    };
    use crate::bindings::wasi::io::streams::StreamError;

    /// `blocking-write-and-flush` takes at most 4096 bytes at a time.
    const WRITE_CHUNK: usize = 4096;
    const READ_CHUNK: u64 = 64 * 1024;

    pub(super) fn send(
        method: &Method,
        url: &Url,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, ToolError> {
        let fields = Fields::new();
        for (name, value) in headers {
            fields
                .append(&name.to_ascii_lowercase(), value.as_bytes())
                .map_err(|e| header_error(e, name))?;
        }
        let request = OutgoingRequest::new(fields);
        let invalid = |what: &str| ToolError::invalid_input(format!("{url}: invalid {what}"));
        let wasi_method = match method {
            Method::Get => wasi::Method::Get,
            Method::Head => wasi::Method::Head,
            Method::Post => wasi::Method::Post,
            Method::Put => wasi::Method::Put,
            Method::Delete => wasi::Method::Delete,
            Method::Patch => wasi::Method::Patch,
            Method::Options => wasi::Method::Options,
            Method::Other(m) => wasi::Method::Other(m.clone()),
        };
        request
            .set_method(&wasi_method)
            .map_err(|()| invalid("method"))?;
        let scheme = if url.scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(&url.authority))
            .map_err(|()| invalid("host"))?;
        request
            .set_path_with_query(Some(&url.path_query))
            .map_err(|()| invalid("path"))?;
        let outgoing_body = request
            .body()
            .map_err(|()| ToolError::failed("request body already taken"))?;

        let future = outgoing_handler::handle(request, None).map_err(|e| http_error(e, url))?;
        let sent = write_body(outgoing_body, body, url);
        // Wait for the answer even when sending the body failed: a refused or failed
        // request also breaks the body stream, and the answer says why.
        let response = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(e))) => return Err(http_error(e, url)),
                Some(Err(())) => return Err(ToolError::failed("response already taken")),
                None => future.subscribe().block(),
            }
        };
        drop(future);
        sent?;

        let status = response.status();
        let headers: Vec<(String, String)> = {
            let fields = response.headers();
            fields
                .entries()
                .into_iter()
                .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
                .collect()
        };
        let incoming = response
            .consume()
            .map_err(|()| ToolError::failed("response body already taken"))?;
        let length = super::header_value(&headers, "content-length").and_then(|l| l.parse().ok());
        let body = read_body(&incoming, url, length)?;
        drop(IncomingBody::finish(incoming));
        Ok((status, headers, body))
    }

    fn write_body(outgoing: OutgoingBody, body: &[u8], url: &Url) -> Result<(), ToolError> {
        if !body.is_empty() {
            let stream = outgoing
                .write()
                .map_err(|()| ToolError::failed("request body stream already taken"))?;
            for chunk in body.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| stream_error(e, url, "sending the request body"))?;
            }
        }
        OutgoingBody::finish(outgoing, None).map_err(|e| http_error(e, url))
    }

    fn read_body(
        incoming: &IncomingBody,
        url: &Url,
        length: Option<usize>,
    ) -> Result<Vec<u8>, ToolError> {
        let too_large = || {
            ToolError::failed(format!(
                "the response from {url} is larger than {} MiB",
                MAX_BODY >> 20
            ))
        };
        if length.is_some_and(|l| l > MAX_BODY) {
            return Err(too_large());
        }
        let stream = incoming
            .stream()
            .map_err(|()| ToolError::failed("response body stream already taken"))?;
        // A known length is allocated once instead of doubling up to it.
        let mut body = Vec::with_capacity(length.unwrap_or(0));
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => return Ok(body),
                Err(e) => return Err(stream_error(e, url, "reading the response")),
            }
        }
    }

    fn header_error(e: HeaderError, name: &str) -> ToolError {
        match e {
            HeaderError::Forbidden => {
                ToolError::invalid_input(format!("header `{name}` may not be set by a skill"))
            }
            HeaderError::InvalidSyntax => {
                ToolError::invalid_input(format!("header `{name}`: invalid name or value"))
            }
            HeaderError::Immutable => ToolError::failed("request headers are immutable"),
        }
    }

    fn stream_error(e: StreamError, url: &Url, doing: &str) -> ToolError {
        match e {
            StreamError::Closed => {
                ToolError::failed(format!("{doing} for {url}: the connection was closed"))
            }
            StreamError::LastOperationFailed(err) => match wasi::http_error_code(&err) {
                Some(code) => http_error(code, url).context(doing),
                None => ToolError::failed(format!("{doing} for {url}: {}", err.to_debug_string())),
            },
        }
    }

    fn http_error(e: ErrorCode, url: &Url) -> ToolError {
        match e {
            ErrorCode::HttpRequestDenied => ToolError::denied(format!(
                "the host refused the request to {url}: it is not covered by this skill's grants"
            )),
            ErrorCode::DnsError(d) => ToolError::failed(format!(
                "cannot resolve the host of {url}: {}",
                d.rcode.unwrap_or_else(|| "DNS error".into())
            )),
            ErrorCode::DestinationNotFound => {
                ToolError::failed(format!("cannot resolve the host of {url}"))
            }
            ErrorCode::ConnectionRefused => ToolError::failed(format!("{url}: connection refused")),
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout => ToolError::failed(format!("{url}: timed out")),
            ErrorCode::TlsCertificateError | ErrorCode::TlsProtocolError => {
                ToolError::failed(format!("{url}: TLS error ({e:?})"))
            }
            ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestUriTooLong => {
                ToolError::invalid_input(format!("{url}: the host rejected the URL ({e:?})"))
            }
            ErrorCode::InternalError(Some(message)) => {
                ToolError::failed(format!("{url}: {message}"))
            }
            other => ToolError::failed(format!("request to {url} failed: {other:?}")),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod transport {
    use super::{Answer, Method, Url};
    use crate::ToolError;

    pub(super) fn send(
        method: &Method,
        url: &Url,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Answer, ToolError> {
        Err(ToolError::failed(format!(
            "cannot {method} {url}: HTTP is only available inside the chitin host"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn parses_urls_into_wasi_parts() {
        let u = url("HTTPS://API.github.com/repos/a/b/issues?state=open#frag");
        assert_eq!(u.scheme, "https");
        assert_eq!(u.authority, "api.github.com");
        assert_eq!(u.path_query, "/repos/a/b/issues?state=open");
        assert_eq!(
            u.to_string(),
            "https://api.github.com/repos/a/b/issues?state=open"
        );
        assert_eq!(url("http://127.0.0.1:8080").path_query, "/");
        assert_eq!(url("http://127.0.0.1:8080").authority, "127.0.0.1:8080");
        assert_eq!(url("http://h?q=1").path_query, "/?q=1");
        assert_eq!(url("http://[::1]:80/x").authority, "[::1]:80");
    }

    #[test]
    fn rejects_unusable_urls() {
        for bad in [
            "api.github.com/x",
            "ftp://host/x",
            "file:///etc/passwd",
            "http:///path",
            "http://user:pass@evil.com/",
            "http://allowed.com@evil.com/",
            "http://host/a b",
            "http://host/\r\nX: y",
            "http://ho%73t/",
        ] {
            match Url::parse(bad) {
                Err(ToolError::InvalidInput(m)) => assert!(m.contains("invalid URL"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn resolves_redirect_locations() {
        let base = url("http://127.0.0.1:8080/a/b/c?x=1");
        let cases = [
            ("https://other.example/z", "https://other.example/z"),
            ("//cdn.example/y", "http://cdn.example/y"),
            ("/root?q", "http://127.0.0.1:8080/root?q"),
            ("sibling", "http://127.0.0.1:8080/a/b/sibling"),
            ("?y=2", "http://127.0.0.1:8080/a/b/c?y=2"),
            (" /trimmed ", "http://127.0.0.1:8080/trimmed"),
        ];
        for (location, expected) in cases {
            assert_eq!(
                base.join(location).unwrap().to_string(),
                expected,
                "{location}"
            );
        }
        assert!(matches!(
            base.join("file:///etc/passwd"),
            Err(ToolError::Failed(_))
        ));
        assert_eq!(url("http://h").join("x").unwrap().to_string(), "http://h/x");
    }

    #[test]
    fn redirect_rules() {
        for s in [301, 302, 303, 307, 308] {
            assert!(is_redirect(s));
        }
        for s in [200, 300, 304, 305, 400] {
            assert!(!is_redirect(s));
        }
        assert!(keeps_method(307, &Method::Post));
        assert!(keeps_method(308, &Method::Put));
        assert!(keeps_method(301, &Method::Get));
        assert!(keeps_method(302, &Method::Delete));
        assert!(!keeps_method(301, &Method::Post));
        assert!(!keeps_method(302, &Method::Post));
        assert!(!keeps_method(303, &Method::Put));
        assert!(keeps_method(303, &Method::Head));
        assert!(is_credential_header("Authorization"));
        assert!(!is_credential_header("accept"));
        let a = url("https://api.github.com/x");
        assert!(a.same_origin(&url("https://API.github.com/y")));
        assert!(!a.same_origin(&url("http://api.github.com/x")));
        assert!(!a.same_origin(&url("https://api.github.com:8443/x")));
    }

    #[test]
    fn bodies_get_a_content_length() {
        let h = |v: &[(String, String)]| header_value(v, "content-length").map(str::to_string);
        assert_eq!(h(&with_content_length(&[], &Method::Get, 0)), None);
        assert_eq!(
            h(&with_content_length(&[], &Method::Post, 0)),
            Some("0".into())
        );
        assert_eq!(
            h(&with_content_length(&[], &Method::Put, 7)),
            Some("7".into())
        );
        assert_eq!(
            h(&with_content_length(&[], &Method::Delete, 3)),
            Some("3".into())
        );
        let own = [("Content-Length".to_string(), "3".to_string())];
        assert_eq!(with_content_length(&own, &Method::Post, 3).len(), 1);
    }

    #[test]
    fn methods_parse_case_insensitively() {
        assert_eq!("get".parse::<Method>().unwrap(), Method::Get);
        assert_eq!("Patch".parse::<Method>().unwrap(), Method::Patch);
        assert_eq!(
            "PROPFIND".parse::<Method>().unwrap(),
            Method::Other("PROPFIND".into())
        );
        assert!("GET /".parse::<Method>().is_err());
        assert!("".parse::<Method>().is_err());
    }

    #[test]
    fn response_helpers() {
        let resp = Response {
            status: 404,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"message":"Not Found"}"#.to_vec(),
            url: "https://api.github.com/x".into(),
        };
        assert_eq!(resp.header("Content-Type"), Some("application/json"));
        assert!(!resp.is_success());
        let v: serde_json::Value = resp.json().unwrap();
        assert_eq!(v["message"], "Not Found");
        assert!(matches!(resp.json::<Vec<u8>>(), Err(ToolError::Failed(_))));
        assert_eq!(
            resp.error_for_status().unwrap_err(),
            ToolError::failed(
                r#"https://api.github.com/x answered HTTP 404: {"message":"Not Found"}"#
            )
        );
    }

    #[test]
    fn natively_http_is_a_failure_not_a_panic() {
        let err = get("http://127.0.0.1:1/").unwrap_err();
        assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
        assert!(matches!(get("nope"), Err(ToolError::InvalidInput(_))));
    }
}
