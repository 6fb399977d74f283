//! Model providers: the two wire dialects (OpenAI-style chat completions, Anthropic
//! Messages), provider profiles, and the fallback chain over them.
//!
//! A thin client on `reqwest` with chitin's own tolerant types: real servers differ
//! from the specifications in small ways (listed in [`openai`] and [`anthropic`], each
//! with its fixture in the tests), and strict
//! generated clients refuse their answers.
//!
//! - [`profile`]: the profiles file; [`client::Client`]: one profile's client;
//!   [`fallback::Fallback`]: retries and the chain of profiles; [`check`]: what a
//!   profile's server can do.
//! - [`openai`], [`anthropic`]: the dialects, as pure functions over JSON that
//!   normalise the servers' quirks, and a thin HTTP call; [`sse`]: the event-stream
//!   parser; [`http`]: the shared HTTP plumbing and the mapping of error answers.
//! - `scripted` (feature `scripted`): a scripted model server, a protocol fake for
//!   tests and benchmarks.

use std::time::Duration;

use crate::message::{ChatRequest, Message, ModelReply, StreamEvent};

pub mod anthropic;
pub mod check;
pub mod client;
pub mod fallback;
pub mod http;
pub mod openai;
pub mod profile;
#[cfg(feature = "scripted")]
pub mod scripted;
pub mod sse;

pub use client::Client;
pub use fallback::{Fallback, RetryPolicy};
pub use profile::{Dialect, Profile, ProfileError, Providers};

/// The number of tool calls already in the conversation: made-up call ids count on
/// from it, so they are unique within the conversation and the same on every replay.
pub(crate) fn tool_calls_in(req: &ChatRequest) -> usize {
    req.messages
        .iter()
        .map(|m| match m {
            Message::Assistant { tool_calls, .. } => tool_calls.len(),
            _ => 0,
        })
        .sum()
}

/// Something that answers chat requests: one profile's client, a fallback chain, or
/// a scripted model in tests.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Send `request`; while a streamed reply arrives, pass its pieces to `on_event`.
    async fn chat(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ModelReply, ProviderError>;

    /// The name shown to the user (the profile's name and model).
    fn describe(&self) -> String;

    /// The context window in tokens, for compaction.
    fn context_window(&self) -> usize;
}

/// What can go wrong talking to a model.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the request to {url} timed out after {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("could not reach {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} refused the credentials (HTTP {status}): {message}")]
    Auth {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} is rate limiting (HTTP 429){}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    RateLimited {
        url: String,
        retry_after: Option<Duration>,
    },
    /// The conversation no longer fits the model's context window.
    #[error("the conversation is longer than the model's context window: {message}")]
    ContextOverflow { message: String },
    #[error("{url} answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// The server's answer could not be understood even with the known quirks.
    #[error("could not understand the answer of {url}: {message}")]
    Protocol { url: String, message: String },
    #[error("no API key: {0}")]
    MissingKey(String),
}

impl ProviderError {
    /// Worth retrying, then moving to the next profile: timeouts, 429, 5xx,
    /// connection failures.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Timeout { .. }
            | ProviderError::Unreachable { .. }
            | ProviderError::RateLimited { .. } => true,
            ProviderError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
