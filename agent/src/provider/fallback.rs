//! A [`Provider`] over an ordered chain of profiles' clients.
//!
//! A transient failure ([`ProviderError::is_transient`]: timeout, unreachable, 429,
//! 5xx) is retried on the same profile, up to its `max_retries`, after an exponential
//! backoff (`base_delay`, doubled each time, at most `max_delay`), or after the
//! server's `Retry-After` when it sent one (also at most `max_delay`). A 429 on a
//! profile with several keys moves to the next key at once, without waiting. When a
//! profile's retries are spent, the next profile is tried. Any other error (auth,
//! context overflow, protocol, other 4xx) is returned at once: the caller must act on
//! it (a context overflow means compacting the conversation).
//!
//! Streaming: once a piece of a reply has been passed to `on_event`, a failure is
//! returned as it is, not retried: the caller has already shown that text, and a
//! second answer would not continue it.

use std::time::Duration;

use super::client::Client;
use super::profile::{ProfileError, Providers};
use super::{Provider, ProviderError};
use crate::message::{ChatRequest, ModelReply, StreamEvent};

/// The backoff between retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first wait; doubled for each further retry.
    pub base_delay: Duration,
    /// The longest wait, also for a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        retry_after.unwrap_or(backoff).min(self.max_delay)
    }
}

/// Profiles tried in order.
#[derive(Debug)]
pub struct Fallback {
    clients: Vec<Client>,
    policy: RetryPolicy,
}

impl Fallback {
    /// A chain over `clients`, tried in this order. It must not be empty.
    pub fn new(clients: Vec<Client>) -> Fallback {
        Fallback {
            clients,
            policy: RetryPolicy::default(),
        }
    }

    /// The chain of `providers.chain(first)` (the named or default profile, then the
    /// fallback list), keys resolved from the environment and through `secret`.
    pub fn from_providers(
        providers: &Providers,
        first: Option<&str>,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Fallback, ProfileError> {
        let mut clients = Vec::new();
        for p in providers.chain(first)? {
            let keys = p.resolve_keys(secret)?;
            let client = Client::new(p.clone(), keys).map_err(|source| ProfileError::Client {
                profile: p.name.clone(),
                source,
            })?;
            clients.push(client);
        }
        Ok(Fallback::new(clients))
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Fallback {
        self.policy = policy;
        self
    }

    pub fn clients(&self) -> &[Client] {
        &self.clients
    }
}

#[async_trait::async_trait]
impl Provider for Fallback {
    async fn chat(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ModelReply, ProviderError> {
        let mut last: Option<ProviderError> = None;
        for client in &self.clients {
            let max_retries = client.profile().max_retries;
            // Key changes after a 429 do not count as retries, but are bounded too.
            let mut key_switches = 0;
            let mut retries = 0;
            loop {
                let mut streamed = false;
                let result = {
                    let mut forward = |e: StreamEvent| {
                        streamed = true;
                        on_event(e);
                    };
                    client.chat(request, &mut forward).await
                };
                let err = match result {
                    Ok(reply) => return Ok(reply),
                    Err(e) if !e.is_transient() || streamed => return Err(e),
                    Err(e) => e,
                };
                if matches!(err, ProviderError::RateLimited { .. })
                    && client.has_ready_key()
                    && key_switches < client.key_count()
                {
                    key_switches += 1;
                    continue;
                }
                if retries >= max_retries {
                    last = Some(err);
                    break;
                }
                retries += 1;
                let retry_after = match &err {
                    ProviderError::RateLimited { retry_after, .. } => *retry_after,
                    _ => None,
                };
                tokio::time::sleep(self.policy.delay(retries, retry_after)).await;
            }
        }
        Err(last.unwrap_or_else(|| ProviderError::Protocol {
            url: String::new(),
            message: "no provider profile to try".into(),
        }))
    }

    fn describe(&self) -> String {
        let mut names = self.clients.iter().map(|c| c.describe());
        let first = names.next().unwrap_or_default();
        let rest: Vec<String> = names.collect();
        if rest.is_empty() {
            first
        } else {
            format!("{first}, falling back to {}", rest.join(", "))
        }
    }

    /// The smallest window of the chain, so that a conversation compacted for it fits
    /// whichever profile answers.
    fn context_window(&self) -> usize {
        self.clients
            .iter()
            .map(|c| c.context_window())
            .min()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(p.delay(1, None)), 100);
        assert_eq!(ms(p.delay(2, None)), 200);
        assert_eq!(ms(p.delay(3, None)), 400);
        assert_eq!(ms(p.delay(10, None)), 1000);
        assert_eq!(ms(p.delay(40, None)), 1000);
        assert_eq!(ms(p.delay(1, Some(Duration::from_millis(700)))), 700);
        assert_eq!(ms(p.delay(1, Some(Duration::from_secs(3600)))), 1000);
    }
}
