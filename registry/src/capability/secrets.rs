//! `secrets`: values the host adds to outgoing requests; the skill never sees them.
//!
//! ```toml
//! # The host adds `header: format` to requests to `hosts`. A bare host means https on
//! # port 443, any path; a URL pattern (like an `http` entry) narrows scheme, port and
//! # path. Plain `http://` is only allowed for loopback hosts (`127.0.0.1`,
//! # `localhost`), where nothing is on the wire.
//! secrets = [{ name = "GITHUB_TOKEN", hosts = ["api.github.com"], header = "Authorization", format = "Bearer {}" }]
//! # e.g. hosts = ["https://api.example.com/v1/*", "http://127.0.0.1:8080/private/*"]
//! ```
//!
//! Declared and checked against the `http` and `env` declarations here; injected and
//! redacted by the host's `capabilities::secrets` and `capabilities::http`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Risk;
use super::http::Scheme;
use crate::{Capabilities, EnvName, HostPattern, HttpPattern, ManifestError};

/// A secret the host adds to outgoing requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretGrant {
    pub name: EnvName,
    /// Where the secret may go (the field keeps its name, `hosts`, for existing
    /// manifests: a bare host is still valid and means https on port 443).
    pub hosts: Vec<SecretDestination>,
    pub header: HeaderName,
    #[serde(default = "default_secret_format")]
    pub format: SecretFormat,
}

fn default_secret_format() -> SecretFormat {
    SecretFormat("{}".into())
}

impl SecretGrant {
    /// The header value for a secret value.
    pub fn header_value(&self, secret: &str) -> String {
        self.format.0.replacen("{}", secret, 1)
    }
    /// Does this secret go to this URL? `path` normalised as for
    /// [`HttpPattern::matches`].
    pub fn applies_to(&self, scheme: &str, host: &str, port: u16, path: &str) -> bool {
        self.hosts
            .iter()
            .any(|d| d.pattern.matches(scheme, host, port, path))
    }
}

/// Where a secret may go: scheme, host, port and path, as an [`HttpPattern`].
///
/// Written as a bare host (`api.github.com`, `*.example.com`), it means
/// `https://<host>/*`: https on port 443, any path. Written as a URL pattern
/// (`https://api.example.com:8443/v1/*`), it is exactly that. Plain `http` is refused
/// unless the host is loopback: anywhere else the secret would cross the network in
/// clear text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretDestination {
    pattern: HttpPattern,
    /// Written as a bare host (kept so that display and round trip show it that way).
    bare: bool,
}
string_serde!(SecretDestination);

impl SecretDestination {
    /// The URL pattern (a bare host as `https://<host>/*`).
    pub fn pattern(&self) -> &HttpPattern {
        &self.pattern
    }

    /// The host part.
    pub fn host(&self) -> &HostPattern {
        &self.pattern.host
    }

    /// Can a request allowed by `http` reach this destination's scheme, host and port?
    fn reachable_through(&self, http: &HttpPattern) -> bool {
        let d = &self.pattern;
        http.scheme == d.scheme
            && http.host.covers(&d.host)
            && match (http.port, d.port) {
                (None, _) => true,
                (Some(a), Some(b)) => a == b,
                (Some(_), None) => false,
            }
    }
}

impl FromStr for SecretDestination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.contains("://") {
            if s.contains('/') || s.contains(':') {
                return Err(format!(
                    "invalid secret destination `{s}`: give a host name (`api.github.com`, \
                     meaning https on port 443) or a URL pattern (`https://host:port/path/*`)"
                ));
            }
            let host = HostPattern::parse(s)?;
            return Ok(Self {
                pattern: HttpPattern {
                    scheme: Scheme::Https,
                    host,
                    port: Some(Scheme::Https.default_port()),
                    path: "/*".into(),
                    port_written: false,
                },
                bare: true,
            });
        }
        let pattern: HttpPattern = s.parse()?;
        if pattern.scheme == Scheme::Http && !pattern.host.is_loopback() {
            return Err(format!(
                "invalid secret destination `{s}`: plain `http://` would send the secret \
                 unencrypted; use `https://` (plain http is allowed only for loopback \
                 hosts: `localhost` and 127.x.x.x)"
            ));
        }
        Ok(Self {
            pattern,
            bare: false,
        })
    }
}

impl fmt::Display for SecretDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bare {
            self.pattern.host.fmt(f)
        } else {
            self.pattern.fmt(f)
        }
    }
}

/// An HTTP header name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderName(String);
string_serde!(HeaderName);

impl HeaderName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HeaderName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // RFC 9110 token characters.
        let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !s.is_empty() && s.chars().all(tchar) {
            Ok(Self(s.to_string()))
        } else {
            Err(format!("invalid header name `{s}`"))
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The header value template: `{}` marks where the secret goes, exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretFormat(String);
string_serde!(SecretFormat);

impl FromStr for SecretFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.matches("{}").count() != 1 {
            return Err(format!(
                "invalid format `{s}`: it must contain `{{}}` exactly once, where the \
                 secret goes (like \"Bearer {{}}\")"
            ));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(format!("invalid format `{s}`: control characters"));
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for SecretFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SecretGrant {
    /// The entry as one line: `GITHUB_TOKEN → api.github.com (Authorization)`.
    pub fn entry(&self) -> String {
        let hosts: Vec<String> = self.hosts.iter().map(|h| h.to_string()).collect();
        format!("{} → {} ({})", self.name, hosts.join(","), self.header)
    }
}

/// Rules across fields: a secret is never an environment variable, goes only where an
/// `http` pattern reaches, and is declared once.
pub(crate) fn validate(caps: &Capabilities) -> Result<(), ManifestError> {
    let invalid = |field: String, reason: String| ManifestError::Invalid { field, reason };
    for (i, secret) in caps.secrets.iter().enumerate() {
        if caps.env.contains(&secret.name) {
            return Err(invalid(
                format!("capabilities.secrets[{i}]"),
                format!(
                    "`{}` is both a secret and an environment variable; a secret must \
                     never be readable by the skill, so remove it from `env`",
                    secret.name
                ),
            ));
        }
        for dest in &secret.hosts {
            // Scheme, host and port must be reachable at all; the path is checked
            // per request against both the `http` patterns and the destination.
            if !caps.http.iter().any(|p| dest.reachable_through(p)) {
                return Err(invalid(
                    format!("capabilities.secrets[{i}].hosts"),
                    format!(
                        "secret `{}` goes to `{}`, but no `http` pattern allows that \
                         scheme, host and port; add one or remove the destination",
                        secret.name, dest.pattern
                    ),
                ));
            }
        }
    }
    let mut names: Vec<&str> = caps.secrets.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(
            "capabilities.secrets".to_string(),
            format!("secret `{}` is declared twice", w[0]),
        ));
    }
    Ok(())
}

/// What deserves a second look in where the secrets go.
pub(crate) fn findings(grants: &[SecretGrant], mut add: impl FnMut(Risk, String)) {
    for s in grants {
        // GITHUB_TOKEN → "github": a secret should go to its own service's hosts.
        let service = s
            .name
            .as_str()
            .split('_')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        for dest in &s.hosts {
            // The host only: a path like `/github/*` says nothing about who gets it.
            let host = dest.host();
            let text = host.to_string();
            if service.len() >= 3 && !text.contains(&service) {
                add(
                    Risk::Medium,
                    format!(
                        "secret {} is sent to {text}, which does not look like {service}'s",
                        s.name
                    ),
                );
            }
            if matches!(host, HostPattern::Subdomains(_)) {
                add(
                    Risk::Medium,
                    format!("secret {} is sent to every subdomain of {text}", s.name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::testing::{findings_of, manifest_with};
    use crate::manifest::parse;
    use crate::manifest::tests::FULL;

    #[test]
    fn secrets_cannot_be_env_and_must_have_http() {
        let text = FULL.replace(r#"env     = ["LANG"]"#, r#"env = ["GITHUB_TOKEN"]"#);
        assert!(
            parse(&text)
                .unwrap_err()
                .to_string()
                .contains("both a secret")
        );
        let text = FULL.replace(r#"hosts = ["api.github.com"]"#, r#"hosts = ["evil.com"]"#);
        assert!(
            parse(&text)
                .unwrap_err()
                .to_string()
                .contains("no `http` pattern")
        );
    }

    #[test]
    fn secret_destinations() {
        // (declared, request scheme, host, port, path, is the secret sent?)
        let cases = [
            // A bare host: https on 443, any path, never plain http or another port.
            ("api.github.com", "https", "api.github.com", 443, "/x", true),
            ("api.github.com", "http", "api.github.com", 80, "/x", false),
            ("api.github.com", "http", "api.github.com", 443, "/x", false),
            (
                "api.github.com",
                "https",
                "api.github.com",
                8443,
                "/x",
                false,
            ),
            ("api.github.com", "https", "github.com", 443, "/x", false),
            ("*.example.com", "https", "a.example.com", 443, "/", true),
            // A URL pattern: exactly its scheme, host, port and path.
            (
                "https://api.example.com/v1/*",
                "https",
                "api.example.com",
                443,
                "/v1/a",
                true,
            ),
            (
                "https://api.example.com/v1/*",
                "https",
                "api.example.com",
                443,
                "/v2/a",
                false,
            ),
            (
                "https://api.example.com:8443/*",
                "https",
                "api.example.com",
                8443,
                "/",
                true,
            ),
            (
                "https://api.example.com:8443/*",
                "https",
                "api.example.com",
                443,
                "/",
                false,
            ),
            (
                "http://127.0.0.1:*/private/*",
                "http",
                "127.0.0.1",
                8123,
                "/private/a",
                true,
            ),
            (
                "http://127.0.0.1:*/private/*",
                "http",
                "127.0.0.1",
                8123,
                "/public/a",
                false,
            ),
            (
                "http://127.0.0.1:*/private/*",
                "https",
                "127.0.0.1",
                8123,
                "/private/a",
                false,
            ),
            (
                "http://127.0.0.1:8080/*",
                "http",
                "127.0.0.1",
                8081,
                "/",
                false,
            ),
            (
                "http://localhost:8080/*",
                "http",
                "localhost",
                8080,
                "/",
                true,
            ),
        ];
        for (declared, scheme, host, port, path, sent) in cases {
            let d: SecretDestination = declared.parse().unwrap();
            let grant = SecretGrant {
                name: "T".parse().unwrap(),
                hosts: vec![d.clone()],
                header: "X-T".parse().unwrap(),
                format: default_secret_format(),
            };
            assert_eq!(
                grant.applies_to(scheme, host, port, path),
                sent,
                "{declared} for {scheme}://{host}:{port}{path}"
            );
            // Written the way it was declared.
            assert_eq!(d.to_string(), declared);
        }
    }

    #[test]
    fn secret_destinations_refused_at_parse() {
        let cases = [
            ("http://api.example.com/*", "plain `http://`"),
            ("http://10.0.0.1/*", "plain `http://`"),
            ("http://*.localhost.example/*", "plain `http://`"),
            ("http://127.0.0.1.evil.com/*", "plain `http://`"),
            ("api.example.com:8443", "give a host name"),
            ("api.example.com/v1", "give a host name"),
            ("ftp://api.example.com/", "scheme must be"),
        ];
        for (declared, why) in cases {
            let err = declared.parse::<SecretDestination>().unwrap_err();
            assert!(err.contains(why), "{declared}: {err}");
        }
        // The same, through the manifest: the error names the line.
        let text = FULL
            .replace(
                r#"hosts = ["api.github.com"]"#,
                r#"hosts = ["http://api.github.com/*"]"#,
            )
            .replace(
                r#"http    = ["https://api.github.com/*"]"#,
                r#"http    = ["http://api.github.com/*"]"#,
            );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("line 12") && err.contains("unencrypted"),
            "{err}"
        );
    }

    #[test]
    fn secret_destinations_need_a_matching_http_pattern() {
        // (http patterns, destination, valid?)
        let cases = [
            (r#""https://api.github.com/*""#, "api.github.com", true),
            (r#""http://127.0.0.1:*/*""#, "127.0.0.1", false),
            (
                r#""http://127.0.0.1:*/*""#,
                "http://127.0.0.1:*/private/*",
                true,
            ),
            (
                r#""http://127.0.0.1:8080/*""#,
                "http://127.0.0.1:8080/*",
                true,
            ),
            (
                r#""http://127.0.0.1:8080/*""#,
                "http://127.0.0.1:9090/*",
                false,
            ),
            (
                r#""http://127.0.0.1:8080/*""#,
                "http://127.0.0.1:*/*",
                false,
            ),
            (
                r#""https://*.example.com/*""#,
                "https://a.example.com/*",
                true,
            ),
            (r#""https://a.example.com/*""#, "*.example.com", false),
        ];
        for (http, dest, valid) in cases {
            let text = format!(
                "[skill]\nname = \"x\"\nversion = \"0.1.0\"\n[capabilities]\nhttp = [{http}]\n\
                 secrets = [{{ name = \"T\", hosts = [\"{dest}\"], header = \"X-T\" }}]\n"
            );
            let result = parse(&text);
            assert_eq!(result.is_ok(), valid, "{http} / {dest}: {result:?}");
            if !valid {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("no `http` pattern"), "{err}");
            }
        }
    }

    #[test]
    fn a_secret_destination_is_judged_by_its_host_not_its_path() {
        let m = manifest_with(
            "http = [\"https://collector.evil.example/*\"]\n\
             secrets = [{ name = \"GITHUB_TOKEN\", hosts = [\"https://collector.evil.example/github/*\"], header = \"X\" }]",
        );
        let f = findings_of(&m);
        assert!(
            f.iter()
                .any(|f| f.risk == Risk::Medium && f.area == crate::Capability::Secrets),
            "{f:#?}"
        );
    }
}
