//! One profile's client: its dialect over a shared `reqwest` client, and its API keys
//! in rotation. A key that got HTTP 429 cools down (for `Retry-After`, else
//! [`KEY_COOLDOWN`]) and the next one is used. One call is one request: retries and
//! the move to another profile are [`super::fallback::Fallback`]'s.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::profile::{Dialect, Profile};
use super::{Provider, ProviderError, anthropic, openai};
use crate::message::{ChatRequest, ModelReply, StreamEvent};

/// How long a rate-limited key rests when the server did not say.
pub const KEY_COOLDOWN: Duration = Duration::from_secs(60);

/// A client for one profile.
#[derive(Debug)]
pub struct Client {
    profile: Profile,
    keys: Vec<String>,
    /// The index of the key in use, and until when each key rests.
    rotation: Mutex<(usize, Vec<Option<Instant>>)>,
    http: reqwest::Client,
}

impl Client {
    /// A client for `profile` with its resolved `keys` (none for a local server).
    pub fn new(profile: Profile, keys: Vec<String>) -> Result<Client, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(profile.timeout_secs.min(30)))
            .build()
            .map_err(|source| ProviderError::Unreachable {
                url: profile.base_url.clone(),
                source,
            })?;
        let n = keys.len();
        Ok(Client {
            profile,
            keys,
            rotation: Mutex::new((0, vec![None; n])),
            http,
        })
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// How many keys rotate (0 for a keyless profile).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Is some key not resting (or is there no key at all)?
    pub fn has_ready_key(&self) -> bool {
        if self.keys.is_empty() {
            return true;
        }
        let now = Instant::now();
        let r = self.lock();
        r.1.iter().any(|c| c.is_none_or(|t| t <= now))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Vec<Option<Instant>>)> {
        // A poisoned lock only means another call panicked; the rotation state is
        // still a valid index and times.
        self.rotation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key to use now: the current one if it is not resting, else the next that
    /// is not, else the one that rests the shortest.
    fn pick_key(&self) -> Option<usize> {
        let n = self.keys.len();
        if n == 0 {
            return None;
        }
        let now = Instant::now();
        let mut r = self.lock();
        let start = r.0;
        let ready = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| r.1[i].is_none_or(|t| t <= now));
        let i = ready.unwrap_or_else(|| {
            (0..n)
                .min_by_key(|&i| r.1[i].unwrap_or(now))
                .unwrap_or(start)
        });
        r.0 = i;
        Some(i)
    }

    fn rest_key(&self, i: usize, for_: Duration) {
        let mut r = self.lock();
        let n = r.1.len();
        if i < n {
            r.1[i] = Some(Instant::now() + for_);
            r.0 = (i + 1) % n;
        }
    }

    /// One request with the key in turn.
    async fn send(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ModelReply, ProviderError> {
        // A profile that does not stream gets the whole answer at once.
        let unstreamed;
        let request = if request.stream && !self.profile.stream {
            unstreamed = ChatRequest {
                stream: false,
                ..request.clone()
            };
            &unstreamed
        } else {
            request
        };
        let key = self.pick_key();
        let k = key.map(|i| self.keys[i].as_str());
        let result = match self.profile.dialect {
            Dialect::Openai => openai::chat(&self.http, &self.profile, k, request, on_event).await,
            Dialect::Anthropic => {
                anthropic::chat(&self.http, &self.profile, k, request, on_event).await
            }
        };
        if let (Some(i), Err(ProviderError::RateLimited { retry_after, .. })) = (key, &result) {
            self.rest_key(i, retry_after.unwrap_or(KEY_COOLDOWN));
        }
        result
    }
}

#[async_trait::async_trait]
impl Provider for Client {
    async fn chat(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ModelReply, ProviderError> {
        self.send(request, on_event).await
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.profile.name, self.profile.model)
    }

    fn context_window(&self) -> usize {
        self.profile.context_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_rotate_past_resting_ones() {
        let p = Profile::new("p", Dialect::Openai, "http://127.0.0.1:1/v1", "m");
        let c = Client::new(p, vec!["a".into(), "b".into(), "c".into()]).unwrap();
        assert_eq!(c.pick_key(), Some(0));
        assert_eq!(c.pick_key(), Some(0), "a key is kept while it works");
        c.rest_key(0, Duration::from_secs(60));
        assert_eq!(c.pick_key(), Some(1));
        c.rest_key(1, Duration::from_secs(10));
        assert_eq!(c.pick_key(), Some(2));
        c.rest_key(2, Duration::from_secs(30));
        assert!(!c.has_ready_key());
        assert_eq!(c.pick_key(), Some(1), "all resting: the one back soonest");
        c.rest_key(1, Duration::ZERO);
        assert!(c.has_ready_key());
        assert_eq!(c.pick_key(), Some(1));
    }
}
