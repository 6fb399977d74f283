//! Streamable HTTP, with what a local server needs to be safe to leave running.
//!
//! rmcp's [`StreamableHttpService`] speaks the protocol and checks `Host`, `Origin` and
//! the body size; a small front in this module adds what it does not: a bearer token
//! on every request (401 without it), a bound on concurrent sessions (503 beyond it),
//! JSON-RPC errors for malformed bodies, a JSON body for a session's one-message answer
//! (see `json_answer`), and 204 for an ended session. Origins allowed: none
//! (non-browser clients send none), loopback origins of the server's own port, and
//! whatever the caller adds.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rand_core::{OsRng, RngCore};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{ChitinMcp, McpServerError, json_answer};

/// Limits and allowances of the HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Browser origins allowed besides the loopback ones of the server's own port
    /// (`scheme://host:port`).
    pub allowed_origins: Vec<String>,
    /// `Host` values accepted. `None`: loopback names when bound to a loopback
    /// address; any host otherwise (the token still guards every request).
    pub allowed_hosts: Option<Vec<String>>,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Most sessions open at once (503 for a new one beyond).
    pub max_sessions: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_hosts: None,
            max_body_bytes: 4 * 1024 * 1024,
            max_sessions: 64,
        }
    }
}

/// Bind `addr` and serve until the future is dropped or the listener fails.
pub async fn serve_http(
    addr: SocketAddr,
    token: String,
    server: ChitinMcp,
    options: HttpOptions,
) -> Result<(), McpServerError> {
    let listener = TcpListener::bind(addr).await?;
    serve_http_on(listener, token, server, options).await
}

/// Serve on a listener the caller bound (to learn the port of `127.0.0.1:0`).
/// Dropping the future closes every session.
pub async fn serve_http_on(
    listener: TcpListener,
    token: String,
    server: ChitinMcp,
    options: HttpOptions,
) -> Result<(), McpServerError> {
    let local = listener.local_addr()?;
    let stop = CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();

    let port = local.port();
    let mut origins = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ];
    origins.extend(options.allowed_origins.iter().cloned());
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(options.max_body_bytes)
        // Requests served statelessly (protocol 2026-07-28) are answered with a plain
        // JSON body when the call sends nothing before its result; rmcp falls back to an
        // event stream when it does (progress). Sessions of older versions keep theirs.
        .with_json_response(true)
        .with_cancellation_token(stop.child_token());
    config = match (&options.allowed_hosts, local.ip().is_loopback()) {
        (Some(hosts), _) => config.with_allowed_hosts(hosts.clone()),
        (None, true) => config,
        (None, false) => config.disable_allowed_hosts(),
    };
    let sessions = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
    let front = Arc::new(Front {
        token,
        service,
        sessions,
        max_sessions: options.max_sessions,
        max_body_bytes: options.max_body_bytes,
    });

    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait a little, keep serving.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return Ok(()),
        };
        // Answers are small and written whole: Nagle's algorithm would only hold the
        // last segment of a streamed answer back for the client's ACK.
        let _ = stream.set_nodelay(true);
        let front = front.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let front = front.clone();
                async move { Ok::<_, Infallible>(front.handle(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

type HttpResponse = Response<BoxBody<Bytes, Infallible>>;

/// The checks in front of rmcp's service.
struct Front {
    token: String,
    service: StreamableHttpService<ChitinMcp, LocalSessionManager>,
    sessions: Arc<LocalSessionManager>,
    max_sessions: usize,
    max_body_bytes: usize,
}

impl Front {
    async fn handle(&self, request: Request<Incoming>) -> HttpResponse {
        if !self.authorized(&request) {
            let mut response = plain(StatusCode::UNAUTHORIZED, "a bearer token is required");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
        // A POST without a session id may open a session (`initialize`).
        let opens_session = request.method() == http::Method::POST
            && !request.headers().contains_key("mcp-session-id");
        if opens_session && self.sessions.sessions.read().await.len() >= self.max_sessions {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
        }
        if request.method() != http::Method::POST {
            let deleting = request.method() == http::Method::DELETE;
            let mut response = self.service.handle(request).await;
            // rmcp closes the session, then answers 202; the Python SDK logs a warning
            // for anything but 200 or 204, at every disconnect. The session is already
            // gone, which 204 says.
            if deleting && response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            return response;
        }
        // A body announced too large is refused before a byte of it is read.
        let announced = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > self.max_body_bytes as u64) {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let (parts, body) = request.into_parts();
        let bytes = match http_body_util::Limited::new(body, self.max_body_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        };
        let json_allowed = json_answer::accepts_json(&parts.headers);
        let response = self
            .service
            .handle(Request::from_parts(parts, Full::new(bytes.clone())))
            .await;
        // rmcp answers a body that is not a JSON-RPC message with a plain-text 415;
        // JSON-RPC clients expect a JSON-RPC error (-32700 / -32600). Only then is the
        // body parsed here, so a well-formed message is parsed once.
        if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
            && let Err(error) = serde_json::from_slice::<ClientJsonRpcMessage>(&bytes)
        {
            return jsonrpc_error(&bytes, &error);
        }
        if json_allowed {
            json_answer::answer_as_json(response).await
        } else {
            response
        }
    }

    fn authorized<B>(&self, request: &Request<B>) -> bool {
        let Some(value) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, given)) = value.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && bool::from(given.trim().as_bytes().ct_eq(self.token.as_bytes()))
    }
}

/// A JSON-RPC error for a body that is not a client message: parse error when it is
/// not JSON, invalid request otherwise (with its `id` when it has a usable one).
fn jsonrpc_error(body: &[u8], error: &serde_json::Error) -> HttpResponse {
    let (code, message, id) = match serde_json::from_slice::<serde_json::Value>(body) {
        Err(_) => (-32700, "Parse error", serde_json::Value::Null),
        Ok(value) => {
            let id = value
                .get("id")
                .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            (-32600, "Invalid Request", id)
        }
    };
    let text = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message, "data": error.to_string()},
    })
    .to_string();
    let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The token in `path`, or a new one (32 random bytes, hex) written there readable by
/// the owner only. Creation is atomic: a file is linked into place only whole, and of
/// two processes racing, both end up with the one that got there first.
pub fn load_or_create_token(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return valid_token(text, path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let written = open.open(&tmp).and_then(|mut f| {
        f.write_all(token.as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(token),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            valid_token(std::fs::read_to_string(path)?, path)
        }
        Err(e) => Err(e),
    }
}

fn valid_token(text: String, path: &Path) -> io::Result<String> {
    let token = text.trim().to_string();
    if token.len() < 32 || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} does not hold a usable token", path.display()),
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/mcp-token");
        let first = load_or_create_token(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(load_or_create_token(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        std::fs::write(&path, "short").unwrap();
        assert!(load_or_create_token(&path).is_err());
    }
}
