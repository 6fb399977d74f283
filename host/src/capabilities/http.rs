//! Outgoing HTTP: only to declared destinations, with secrets injected by the host.
//!
//! Every request the skill makes passes [`HttpPolicy::send_request`] before anything
//! touches the network: the URL is matched against the declared patterns (scheme, host,
//! port, path), so names outside the allowlist are never even resolved. Redirects are
//! not followed by the host: the skill sees the 3xx and a follow-up is a new request,
//! checked again. Raw sockets are not granted (wasi:sockets denies every address).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::HeaderValue;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::audit::{Denial, Denials};
use crate::grants::ResolvedSecret;
use chitin_registry::HttpPattern;

/// Largest response body the host buffers to redact secrets from it.
pub const MAX_REDACTED_BODY: usize = 32 << 20;

/// The per-call HTTP policy (the `hooks` of wasmtime-wasi-http).
pub struct HttpPolicy {
    patterns: Vec<HttpPattern>,
    secrets: Vec<ResolvedSecret>,
    /// Refusals, shared with the call state after the call.
    pub(crate) denials: Arc<Mutex<Denials>>,
}

impl HttpPolicy {
    pub fn new(patterns: Vec<HttpPattern>, secrets: Vec<ResolvedSecret>) -> Self {
        Self {
            patterns,
            secrets,
            denials: Arc::default(),
        }
    }

    /// Is this request allowed? `Err` carries the reason for the audit log.
    pub fn check(&self, uri: &http::Uri) -> Result<(), String> {
        let scheme = uri.scheme_str().unwrap_or("");
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(match scheme {
            "https" => 443,
            _ => 80,
        });
        let path = uri.path();
        if self
            .patterns
            .iter()
            .any(|p| p.matches(scheme, host, port, path))
        {
            return Ok(());
        }
        let why = if self.patterns.is_empty() {
            "the skill declared no HTTP access".to_string()
        } else {
            let declared: Vec<String> = self.patterns.iter().map(|p| p.to_string()).collect();
            format!("not in the declared hosts ({})", declared.join(", "))
        };
        Err(format!("{scheme}://{host}:{port}{path}: {why}"))
    }
}

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        drop(fut);
        if let Err(reason) = self.check(request.uri()) {
            self.denials.lock().unwrap().push(Denial {
                capability: "http",
                detail: reason,
            });
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // Inject the secrets that belong to this host; whatever the skill put in those
        // headers is replaced.
        let host = request.uri().host().unwrap_or("").to_string();
        let mut injected: Vec<(String, String)> = Vec::new();
        for secret in &self.secrets {
            let Some(value) = &secret.value else { continue };
            if !secret.grant.applies_to(&host) {
                continue;
            }
            let header_value = secret.grant.header_value(value);
            let Ok(mut hv) = HeaderValue::from_str(&header_value) else {
                continue;
            };
            hv.set_sensitive(true);
            let name = http::HeaderName::from_bytes(secret.grant.header.as_str().as_bytes())
                .expect("validated header name");
            request.headers_mut().insert(name, hv);
            injected.push((secret.grant.name.to_string(), value.clone()));
            injected.push((secret.grant.name.to_string(), header_value));
        }
        // Longest first, so the full header value is replaced before the bare secret.
        injected.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));

        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> = Box::new(io);
            if injected.is_empty() {
                return Ok((response.map(BodyExt::boxed_unsync), io));
            }
            // A secret was sent: read the whole (bounded) response and redact echoes.
            let (mut parts, mut body) = response.into_parts();
            let mut buf = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame?;
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > MAX_REDACTED_BODY {
                        return Err(HttpError::HttpResponseBodySize(Some(
                            (buf.len() + data.len()) as u64,
                        )));
                    }
                    buf.extend_from_slice(&data);
                }
            }
            if let Some(clean) = super::secrets::redact(&buf, &injected) {
                buf = clean;
                parts.headers.remove(http::header::CONTENT_LENGTH);
            }
            for value in parts.headers.values_mut() {
                if let Some(clean) = super::secrets::redact(value.as_bytes(), &injected) {
                    *value = HeaderValue::from_bytes(&clean)
                        .unwrap_or_else(|_| HeaderValue::from_static("[REDACTED]"));
                }
            }
            let body = Full::new(Bytes::from(buf))
                .map_err(|never| match never {})
                .boxed_unsync();
            Ok((http::Response::from_parts(parts, body), io))
        })
    }
}
