//! Provider profiles: which server, which model, which limits, and where the API key
//! is found, kept in a TOML file (`<config>/providers.toml` in the CLI).
//!
//! ```toml
//! default = "openai"
//! fallback = ["local"]
//!
//! [[profile]]
//! name = "openai"
//! dialect = "openai"
//! base_url = "https://api.openai.com/v1"
//! model = "gpt-4.1-mini"
//! context_window = 128000
//! api_key_env = ["OPENAI_API_KEY", "OPENAI_API_KEY_2"]   # or one name; rotated on 429
//!
//! [[profile]]
//! name = "local"
//! dialect = "openai"
//! base_url = "http://127.0.0.1:11434/v1"
//! model = "qwen3:8b"
//! context_window = 32768
//! ```
//!
//! The file never holds a key: only the name of an environment variable
//! (`api_key_env`) or of an entry of chitin's secrets store (`api_key_secret`). A
//! profile with a literal `api_key` is refused.
//!
//! `base_url` is the API root including its version path (`…/v1`); chitin appends
//! `/chat/completions` (openai dialect) or `/messages` (anthropic dialect).
//!
//! Plain `http://` is accepted only for loopback hosts (`localhost`, `127.0.0.0/8`,
//! `::1`): a key or a conversation sent in clear to another host is readable on the
//! way. A server on a trusted LAN needs `allow_insecure_http = true` in its profile,
//! written there on purpose, so the choice is visible in the file.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default output limit: Anthropic requires one on every request.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The two wire dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI-style chat completions (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, …).
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

/// One provider profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `[a-z0-9-]`, 1 to 64 characters.
    pub name: String,
    pub dialect: Dialect,
    pub base_url: String,
    pub model: String,
    /// The model's context window in tokens.
    #[serde(default = "default_context_window")]
    pub context_window: usize,
    /// Seconds to wait for the answer to start, and then between two pieces of it.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Retries of a transient failure on this profile before the next one is tried.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Output limit. Anthropic: sent always (default 4096). OpenAI dialect: sent as
    /// `max_tokens` only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Other request parameters, passed through as they are (`top_p`, `seed`, …). They
    /// never replace the ones chitin sets (model, messages, tools, stream).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub params: toml::Table,
    /// Environment variables holding the key, one or several (rotated on 429).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many",
        serialize_with = "ser_one_or_many"
    )]
    pub api_key_env: Vec<String>,
    /// The name of the key in chitin's secrets store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
    /// Stream answers (server-sent events). Off for servers that cannot stream with
    /// tools: llama-cpp-python's `chatml-function-calling` refuses automatic tool choice
    /// when streaming and closes the stream empty.
    #[serde(default = "default_stream", skip_serializing_if = "Clone::clone")]
    pub stream: bool,
    /// Allow plain http to a host that is not loopback.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
    /// Only read to refuse it with a helpful error; never written.
    #[serde(default, skip_serializing)]
    api_key: Option<toml::Value>,
}

fn default_context_window() -> usize {
    8192
}
fn default_timeout_secs() -> u64 {
    120
}
fn default_stream() -> bool {
    true
}
fn default_max_retries() -> u32 {
    2
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn ser_one_or_many<S: serde::Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    if let [one] = v {
        s.serialize_str(one)
    } else {
        v.serialize(s)
    }
}

impl Profile {
    /// A profile with the defaults for everything but what identifies it.
    pub fn new(name: &str, dialect: Dialect, base_url: &str, model: &str) -> Self {
        Profile {
            name: name.to_string(),
            dialect,
            base_url: base_url.to_string(),
            model: model.to_string(),
            context_window: default_context_window(),
            timeout_secs: default_timeout_secs(),
            max_retries: default_max_retries(),
            max_tokens: None,
            temperature: None,
            params: toml::Table::new(),
            api_key_env: Vec::new(),
            api_key_secret: None,
            stream: true,
            allow_insecure_http: false,
            api_key: None,
        }
    }

    /// Check everything that can be checked without the network.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let name = &self.name;
        if self.api_key.is_some() {
            return Err(ProfileError::InlineKey {
                profile: name.clone(),
            });
        }
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ProfileError::BadName { name: name.clone() });
        }
        let bad_url = |reason: &str| ProfileError::BadUrl {
            profile: name.clone(),
            url: self.base_url.clone(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(&self.base_url).map_err(|e| bad_url(&e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                if !self.allow_insecure_http && !is_loopback(&url) {
                    return Err(ProfileError::InsecureHttp {
                        profile: name.clone(),
                        url: self.base_url.clone(),
                    });
                }
            }
            _ => return Err(bad_url("the scheme must be http or https")),
        }
        if url.host().is_none() {
            return Err(bad_url("it has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad_url("it must not have a query or a fragment"));
        }
        let invalid = |message: &str| ProfileError::Invalid {
            profile: name.clone(),
            message: message.to_string(),
        };
        if self.model.trim().is_empty() {
            return Err(invalid("`model` is empty"));
        }
        if self.context_window == 0 {
            return Err(invalid("`context_window` must be more than 0"));
        }
        if self.timeout_secs == 0 {
            return Err(invalid("`timeout_secs` must be more than 0"));
        }
        if self.max_tokens == Some(0) {
            return Err(invalid("`max_tokens` must be more than 0"));
        }
        if !self.api_key_env.is_empty() && self.api_key_secret.is_some() {
            return Err(invalid(
                "set either `api_key_env` or `api_key_secret`, not both",
            ));
        }
        if self
            .api_key_env
            .iter()
            .any(|v| v.is_empty() || v.contains('='))
        {
            return Err(invalid("`api_key_env` must name environment variables"));
        }
        Ok(())
    }

    /// The keys to use, in rotation order, looked up through `env` (environment
    /// variables) and `secret` (the secrets store). Empty when the profile has no key
    /// (a local server). Variables that are unset are skipped; none set is an error.
    pub fn resolve_keys_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, ProfileError> {
        if let Some(name) = &self.api_key_secret {
            return match secret(name).filter(|k| !k.is_empty()) {
                Some(k) => Ok(vec![k]),
                None => Err(ProfileError::MissingKey {
                    profile: self.name.clone(),
                    wanted: format!("the secret {name:?} is not in the secrets store"),
                }),
            };
        }
        if self.api_key_env.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = self
            .api_key_env
            .iter()
            .filter_map(|v| env(v).filter(|k| !k.is_empty()))
            .collect();
        if keys.is_empty() {
            return Err(ProfileError::MissingKey {
                profile: self.name.clone(),
                wanted: format!(
                    "set the environment variable {}",
                    self.api_key_env.join(" or ")
                ),
            });
        }
        Ok(keys)
    }

    /// [`Profile::resolve_keys_with`] over the process environment.
    pub fn resolve_keys(
        &self,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, ProfileError> {
        self.resolve_keys_with(&|v| std::env::var(v).ok(), secret)
    }

    /// The extra parameters as JSON, for the request body.
    pub fn params_json(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(&self.params) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The providers file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Providers {
    /// The profile used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Profiles tried in order after the default one fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
    #[serde(default, rename = "profile")]
    pub profiles: Vec<Profile>,
}

impl Providers {
    /// Load and validate the file; a missing file is an empty set of profiles.
    pub fn load(path: &Path) -> Result<Providers, ProfileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Providers::default()),
            Err(source) => {
                return Err(ProfileError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(&text).map_err(|e| match e {
            ProfileError::Parse { source, .. } => ProfileError::Parse {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Parse and validate the file's text.
    pub fn parse(text: &str) -> Result<Providers, ProfileError> {
        // Look for an inline key before the typed parse, so that mistake gets its own
        // message whatever else is wrong with the file.
        if let Ok(raw) = text.parse::<toml::Table>()
            && let Some(toml::Value::Array(ps)) = raw.get("profile")
        {
            for p in ps {
                if p.get("api_key").is_some() {
                    let profile = p
                        .get("name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("?")
                        .to_string();
                    return Err(ProfileError::InlineKey { profile });
                }
            }
        }
        let providers: Providers = toml::from_str(text).map_err(|source| ProfileError::Parse {
            path: PathBuf::new(),
            source,
        })?;
        providers.validate()?;
        Ok(providers)
    }

    /// Check every profile and the names `default` and `fallback` refer to.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let mut seen = BTreeSet::new();
        for p in &self.profiles {
            p.validate()?;
            if !seen.insert(p.name.as_str()) {
                return Err(ProfileError::Duplicate {
                    name: p.name.clone(),
                });
            }
        }
        for name in self.default.iter().chain(&self.fallback) {
            self.get(name)?;
        }
        Ok(())
    }

    /// The profile named `name`.
    pub fn get(&self, name: &str) -> Result<&Profile, ProfileError> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ProfileError::UnknownProfile {
                name: name.to_string(),
            })
    }

    /// The profiles' names, in file order.
    pub fn list(&self) -> Vec<&str> {
        self.profiles.iter().map(|p| p.name.as_str()).collect()
    }

    /// Add a profile after validating it. The first profile added becomes the default.
    pub fn add(&mut self, profile: Profile) -> Result<(), ProfileError> {
        profile.validate()?;
        if self.profiles.iter().any(|p| p.name == profile.name) {
            return Err(ProfileError::Duplicate { name: profile.name });
        }
        if self.default.is_none() {
            self.default = Some(profile.name.clone());
        }
        self.profiles.push(profile);
        Ok(())
    }

    /// Remove a profile, and its mentions as default or fallback.
    pub fn remove(&mut self, name: &str) -> Result<Profile, ProfileError> {
        self.get(name)?;
        let i = self
            .profiles
            .iter()
            .position(|p| p.name == name)
            .unwrap_or(0);
        let p = self.profiles.remove(i);
        if self.default.as_deref() == Some(name) {
            self.default = None;
        }
        self.fallback.retain(|f| f != name);
        Ok(p)
    }

    pub fn set_default(&mut self, name: &str) -> Result<(), ProfileError> {
        self.get(name)?;
        self.default = Some(name.to_string());
        Ok(())
    }

    pub fn set_fallback(&mut self, names: Vec<String>) -> Result<(), ProfileError> {
        for n in &names {
            self.get(n)?;
        }
        self.fallback = names;
        Ok(())
    }

    /// The profiles to try, in order: `first` (or the default) then the fallback chain,
    /// each once.
    pub fn chain(&self, first: Option<&str>) -> Result<Vec<&Profile>, ProfileError> {
        let first = match first.or(self.default.as_deref()) {
            Some(f) => f,
            None => return Err(ProfileError::NoDefault),
        };
        let mut out: Vec<&Profile> = vec![self.get(first)?];
        for n in &self.fallback {
            let p = self.get(n)?;
            if !out.iter().any(|q| q.name == p.name) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Write the file atomically (a temporary file renamed over it), readable only by
    /// its owner.
    pub fn save(&self, path: &Path) -> Result<(), ProfileError> {
        self.validate()?;
        let text = toml::to_string_pretty(self).map_err(ProfileError::Serialize)?;
        let write_err = |source| ProfileError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(write_err)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "providers.toml".into());
        let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write_err)
    }
}

/// What is wrong with a providers file or profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("could not read the providers file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the providers file {} is not valid", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error(
        "profile {profile:?} has an inline `api_key`: keys are never stored in the providers file. Remove it, put the key in an environment variable and set `api_key_env = \"VARIABLE\"` (or store it as a secret and set `api_key_secret = \"name\"`)"
    )]
    InlineKey { profile: String },
    #[error("profile name {name:?} is not valid: use 1 to 64 characters of a-z, 0-9 and -")]
    BadName { name: String },
    #[error("profile {profile:?}: base_url {url:?} is not valid: {reason}")]
    BadUrl {
        profile: String,
        url: String,
        reason: String,
    },
    #[error(
        "profile {profile:?}: base_url {url:?} uses plain http to a host that is not loopback, so the key and the conversation would cross the network unencrypted. Use https, or set `allow_insecure_http = true` in the profile if the network is trusted"
    )]
    InsecureHttp { profile: String, url: String },
    #[error("profile {profile:?}: {message}")]
    Invalid { profile: String, message: String },
    #[error("there are two profiles named {name:?}: choose another name")]
    Duplicate { name: String },
    #[error("there is no profile named {name:?}")]
    UnknownProfile { name: String },
    #[error("no profile was named and there is no default profile: set one")]
    NoDefault,
    #[error("profile {profile:?} has no API key: {wanted}")]
    MissingKey { profile: String, wanted: String },
    #[error("could not write the providers file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not set up the client of profile {profile:?}")]
    Client {
        profile: String,
        #[source]
        source: super::ProviderError,
    },
    #[error("could not serialize the providers file")]
    Serialize(#[source] toml::ser::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Profile {
        Profile::new("p", Dialect::Openai, "https://api.example.com/v1", "m")
    }

    #[test]
    fn validates_profiles() {
        type Edit = fn(&mut Profile);
        let cases: &[(&str, Edit, Option<&str>)] = &[
            ("the base is valid", |_| {}, None),
            (
                "upper case name",
                |p| p.name = "Open".into(),
                Some("BadName"),
            ),
            (
                "name with a dot",
                |p| p.name = "a.b".into(),
                Some("BadName"),
            ),
            ("empty name", |p| p.name = String::new(), Some("BadName")),
            ("long name", |p| p.name = "a".repeat(65), Some("BadName")),
            (
                "name with digits and dashes",
                |p| p.name = "gpt-4-1".into(),
                None,
            ),
            (
                "not a url",
                |p| p.base_url = "api.openai.com".into(),
                Some("BadUrl"),
            ),
            ("ftp", |p| p.base_url = "ftp://x/v1".into(), Some("BadUrl")),
            (
                "query",
                |p| p.base_url = "https://x/v1?a=b".into(),
                Some("BadUrl"),
            ),
            (
                "http to localhost",
                |p| p.base_url = "http://localhost:11434/v1".into(),
                None,
            ),
            (
                "http to 127.0.0.2",
                |p| p.base_url = "http://127.0.0.2:8080/v1".into(),
                None,
            ),
            (
                "http to ::1",
                |p| p.base_url = "http://[::1]:8080/v1".into(),
                None,
            ),
            (
                "http to a LAN host",
                |p| p.base_url = "http://192.168.1.5:11434/v1".into(),
                Some("InsecureHttp"),
            ),
            (
                "http to a name",
                |p| p.base_url = "http://llm.example.com/v1".into(),
                Some("InsecureHttp"),
            ),
            (
                "localhost lookalike",
                |p| p.base_url = "http://localhost.example.com/v1".into(),
                Some("InsecureHttp"),
            ),
            (
                "http to a LAN host, allowed",
                |p| {
                    p.base_url = "http://192.168.1.5:11434/v1".into();
                    p.allow_insecure_http = true;
                },
                None,
            ),
            ("empty model", |p| p.model = " ".into(), Some("Invalid")),
            ("zero window", |p| p.context_window = 0, Some("Invalid")),
            ("zero timeout", |p| p.timeout_secs = 0, Some("Invalid")),
            (
                "zero max_tokens",
                |p| p.max_tokens = Some(0),
                Some("Invalid"),
            ),
            (
                "both key sources",
                |p| {
                    p.api_key_env = vec!["K".into()];
                    p.api_key_secret = Some("k".into());
                },
                Some("Invalid"),
            ),
            (
                "env var with =",
                |p| p.api_key_env = vec!["K=sk-1".into()],
                Some("Invalid"),
            ),
            (
                "inline key",
                |p| p.api_key = Some(toml::Value::String("sk".into())),
                Some("InlineKey"),
            ),
        ];
        for (name, edit, want) in cases {
            let mut p = base();
            edit(&mut p);
            let got = p.validate().err().map(|e| format!("{e:?}"));
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) if g.starts_with(w) => {}
                _ => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn parses_files() {
        let ok = r#"
default = "a"
fallback = ["b"]
[[profile]]
name = "a"
dialect = "anthropic"
base_url = "https://api.anthropic.com/v1"
model = "claude"
api_key_env = "ANTHROPIC_API_KEY"
[profile.params]
top_k = 5
[[profile]]
name = "b"
dialect = "openai"
base_url = "http://127.0.0.1:8080/v1"
model = "local"
"#;
        let ps = Providers::parse(ok).unwrap();
        assert_eq!(ps.profiles[0].api_key_env, ["ANTHROPIC_API_KEY"]);
        assert_eq!(ps.profiles[0].params_json()["top_k"], 5);
        assert_eq!(ps.profiles[1].max_retries, 2);

        let cases = [
            (
                "unknown field",
                ok.replace("model = \"local\"", "model = \"local\"\nmodle = 1"),
                "Parse",
            ),
            (
                "unknown dialect",
                ok.replace("\"openai\"", "\"gemini\""),
                "Parse",
            ),
            (
                "unknown default",
                ok.replace("default = \"a\"", "default = \"z\""),
                "UnknownProfile",
            ),
            (
                "unknown fallback",
                ok.replace("[\"b\"]", "[\"z\"]"),
                "UnknownProfile",
            ),
            (
                "duplicate",
                ok.replace("name = \"b\"", "name = \"a\""),
                "Duplicate",
            ),
            (
                "inline key, even in a file with other errors",
                ok.replace(
                    "model = \"local\"",
                    "model = \"local\"\napi_key = \"sk\"\nmodle = 1",
                ),
                "InlineKey",
            ),
        ];
        for (name, text, want) in cases {
            let got = format!("{:?}", Providers::parse(&text).unwrap_err());
            assert!(got.starts_with(want), "{name}: {got}");
        }
    }

    #[test]
    fn resolves_keys() {
        let env = |v: &str| match v {
            "A" => Some("key-a".to_string()),
            "B" => Some("key-b".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let secret = |n: &str| (n == "s").then(|| "key-s".to_string());
        let with = |envs: &[&str], sec: Option<&str>| {
            let mut p = base();
            p.api_key_env = envs.iter().map(|s| s.to_string()).collect();
            p.api_key_secret = sec.map(str::to_string);
            p.resolve_keys_with(&env, &secret)
        };
        assert_eq!(with(&[], None).unwrap(), Vec::<String>::new());
        assert_eq!(with(&["A"], None).unwrap(), ["key-a"]);
        assert_eq!(with(&["A", "NONE", "B"], None).unwrap(), ["key-a", "key-b"]);
        assert_eq!(with(&[], Some("s")).unwrap(), ["key-s"]);
        for (envs, sec) in [
            (&["NONE"][..], None),
            (&["EMPTY"][..], None),
            (&[][..], Some("x")),
        ] {
            let e = with(envs, sec).unwrap_err();
            assert!(matches!(e, ProfileError::MissingKey { .. }), "{e:?}");
        }
    }

    #[test]
    fn serializes_one_key_variable_as_a_string() {
        let mut ps = Providers::default();
        let mut p = base();
        p.api_key_env = vec!["K".into()];
        ps.add(p).unwrap();
        let text = toml::to_string(&ps).unwrap();
        assert!(text.contains("api_key_env = \"K\""), "{text}");
        assert_eq!(Providers::parse(&text).unwrap(), ps);
    }
}
