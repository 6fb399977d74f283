//! `http`: the destinations a skill may send requests to.
//!
//! ```toml
//! # scheme://host[:port][/path], `*` in the path matches anything, `*.` before a host
//! # matches its subdomains, `:*` any port. No path = any path.
//! http = ["https://api.github.com/*"]
//! ```
//!
//! Declared here; enforced on every request by the host's `capabilities::http`, after
//! the path is normalised with [`crate::http_path::normalize`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Capability, ImportClass, Risk};
use crate::glob::glob_match;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A host name pattern: exact (`api.github.com`) or subdomains (`*.github.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    Exact(String),
    /// Matches any name ending in `.suffix` (not `suffix` itself).
    Subdomains(String),
}

impl HostPattern {
    /// Does `host` (a name or IP literal, any case) match?
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self {
            HostPattern::Exact(h) => *h == host,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }

    /// Does every host `other` matches also match this pattern?
    pub fn covers(&self, other: &HostPattern) -> bool {
        match other {
            HostPattern::Exact(h) => self.matches(h),
            HostPattern::Subdomains(s) => match self {
                HostPattern::Exact(_) => false,
                HostPattern::Subdomains(mine) => {
                    s == mine
                        || s.strip_suffix(mine.as_str())
                            .is_some_and(|h| h.ends_with('.'))
                }
            },
        }
    }

    /// A name that never leaves the machine: `localhost` or an IPv4 address in
    /// 127.0.0.0/8. (Host patterns have no IPv6 literals.)
    pub fn is_loopback(&self) -> bool {
        match self {
            HostPattern::Exact(h) => {
                h == "localhost"
                    || h.parse::<std::net::Ipv4Addr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            HostPattern::Subdomains(_) => false,
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, lower),
        };
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if name.is_empty() || !name.chars().all(valid_char) || name.contains("..") {
            return Err(format!("invalid host `{s}`"));
        }
        // `matches` drops the trailing dot of a request's host, so a pattern with one
        // would never match anything.
        if name.ends_with('.') {
            return Err(format!("invalid host `{s}`: remove the trailing `.`"));
        }
        if wild && !name.contains('.') {
            return Err(format!(
                "invalid host `{s}`: a wildcard must cover subdomains of a real domain \
                 (like `*.example.com`), not a whole top-level domain"
            ));
        }
        Ok(if wild {
            HostPattern::Subdomains(name)
        } else {
            HostPattern::Exact(name)
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Subdomains(h) => write!(f, "*.{h}"),
        }
    }
}

/// A declared HTTP destination: `scheme://host[:port|:*][/path-glob]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpPattern {
    pub scheme: Scheme,
    pub host: HostPattern,
    /// `None` means any port.
    pub port: Option<u16>,
    /// Glob over the path (without query); `*` matches any text including `/`.
    pub path: String,
    /// Whether a port was written at all (for display).
    pub(crate) port_written: bool,
}

string_serde!(HttpPattern);

impl HttpPattern {
    /// Does a request to this URL's parts fit the pattern? `path` must be normalised
    /// first with [`crate::http_path::normalize`], so that `/public/../x` is matched as
    /// the `/x` a server would serve.
    pub fn matches(&self, scheme: &str, host: &str, port: u16, path: &str) -> bool {
        scheme.eq_ignore_ascii_case(self.scheme.as_str())
            && self.host.matches(host)
            && self.port.is_none_or(|p| p == port)
            && glob_match(&self.path, path)
    }

    /// True when the pattern lets the skill reach any path on any subdomain (a risk
    /// worth flagging in an audit).
    pub fn is_wildcard_host(&self) -> bool {
        matches!(self.host, HostPattern::Subdomains(_))
    }
}

impl FromStr for HttpPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid URL pattern `{s}`: {why}");
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("expected `https://host/path`"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("the scheme must be `http` or `https`")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/*"),
        };
        if authority.contains('@') {
            return Err(bad("credentials in URLs are not allowed; declare a secret"));
        }
        if path.contains('?') || path.contains('#') {
            return Err(bad(
                "a pattern matches paths only; remove the query or fragment",
            ));
        }
        let (host, port, port_written) = match authority.rsplit_once(':') {
            Some((h, "*")) => (h, None, true),
            Some((h, p)) => {
                let port: u16 = p
                    .parse()
                    .map_err(|_| bad("the port must be a number or `*`"))?;
                (h, Some(port), true)
            }
            None => (authority, Some(scheme.default_port()), false),
        };
        let host = HostPattern::parse(host).map_err(|e| bad(&e))?;
        Ok(Self {
            scheme,
            host,
            port,
            path: path.to_string(),
            port_written,
        })
    }
}

impl fmt::Display for HttpPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        match (self.port, self.port_written) {
            (None, _) => f.write_str(":*")?,
            (Some(p), true) => write!(f, ":{p}")?,
            (Some(_), false) => {}
        }
        f.write_str(&self.path)
    }
}

/// What deserves a second look in the declared destinations.
pub(crate) fn findings(patterns: &[HttpPattern], mut add: impl FnMut(Risk, String)) {
    for h in patterns {
        if matches!(h.host, HostPattern::Subdomains(_)) {
            add(Risk::Medium, format!("wildcard host: {h}"));
        }
        if h.port.is_none() {
            add(Risk::Low, format!("any port: {h}"));
        }
    }
}

/// `wasi:http` is covered only by declared destinations.
pub(crate) fn import(patterns: &[HttpPattern]) -> (ImportClass, String) {
    if patterns.is_empty() {
        (
            ImportClass::Undeclared(Capability::Http),
            "imports HTTP but declares no `http` destinations".to_string(),
        )
    } else {
        (
            ImportClass::Covered(Capability::Http),
            format!("limited to {} declared URL pattern(s)", patterns.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_patterns() {
        // (declared, request scheme, host, port, normalised path, allowed?)
        let cases = [
            (
                "https://api.github.com/repos/*",
                "https",
                "api.github.com",
                443,
                "/repos/a/b",
                true,
            ),
            (
                "https://api.github.com/repos/*",
                "https",
                "API.github.com.",
                443,
                "/repos/a",
                true,
            ),
            (
                "https://api.github.com/repos/*",
                "http",
                "api.github.com",
                443,
                "/repos/a",
                false,
            ),
            (
                "https://api.github.com/repos/*",
                "https",
                "api.github.com",
                444,
                "/repos/a",
                false,
            ),
            (
                "https://api.github.com/repos/*",
                "https",
                "api.github.com.evil.com",
                443,
                "/repos/a",
                false,
            ),
            (
                "https://api.github.com/repos/*",
                "https",
                "api.github.com",
                443,
                "/users",
                false,
            ),
            (
                "https://api.github.com/repos/*",
                "https",
                "api.github.com",
                443,
                "/repos",
                false,
            ),
            (
                "https://api.github.com",
                "https",
                "api.github.com",
                443,
                "/anything/at/all",
                true,
            ),
            ("http://127.0.0.1:*/*", "http", "127.0.0.1", 8123, "/", true),
            (
                "http://127.0.0.1:8080/*",
                "http",
                "127.0.0.1",
                8081,
                "/",
                false,
            ),
            (
                "https://*.example.com",
                "https",
                "a.example.com",
                443,
                "/x",
                true,
            ),
            (
                "https://*.example.com",
                "https",
                "a.b.example.com",
                443,
                "/x",
                true,
            ),
            (
                "https://*.example.com",
                "https",
                "example.com",
                443,
                "/x",
                false,
            ),
            (
                "https://*.example.com",
                "https",
                "badexample.com",
                443,
                "/x",
                false,
            ),
            (
                "https://a.example/v1/*",
                "https",
                "a.example",
                443,
                "/v1/",
                true,
            ),
            (
                "https://a.example/v1/*",
                "https",
                "a.example",
                443,
                "/v1",
                false,
            ),
        ];
        for (declared, scheme, host, port, path, allowed) in cases {
            let p: HttpPattern = declared.parse().unwrap();
            assert_eq!(
                p.matches(scheme, host, port, path),
                allowed,
                "{declared} for {scheme}://{host}:{port}{path}"
            );
        }
        let any_port: HttpPattern = "http://127.0.0.1:*/*".parse().unwrap();
        assert_eq!(any_port.to_string(), "http://127.0.0.1:*/*");
        for refused in [
            "https://*.com/",
            "https://user@host/",
            "ftp://a.example/",
            "https://a.example/x?q",
        ] {
            assert!(refused.parse::<HttpPattern>().is_err(), "{refused}");
        }
    }

    /// Found by fuzzing: `http://api.example.com./` was accepted, and matched nothing,
    /// not even its own host, since a request's trailing dot is dropped before matching.
    #[test]
    fn host_patterns_with_a_trailing_dot_are_refused() {
        for p in [
            "https://api.example.com./",
            "https://*.example.com.",
            "http://1.2.3.4.:*/",
        ] {
            let err = p.parse::<HttpPattern>().unwrap_err();
            assert!(err.contains("trailing `.`"), "{p}: {err}");
        }
        for p in [
            "https://api.example.com/",
            "https://*.example.com",
            "http://localhost:*/",
        ] {
            let pattern: HttpPattern = p.parse().unwrap();
            let (HostPattern::Exact(host) | HostPattern::Subdomains(host)) = &pattern.host;
            assert!(pattern.host.covers(&pattern.host), "{p}");
            assert!(pattern.host.matches(&format!("a.{host}")) || pattern.host.matches(host));
        }
    }
}
