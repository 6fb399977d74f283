//! The skill manifest (`skill.toml`): who the skill is and what it may do.
//!
//! ```toml
//! [skill]
//! name = "gh-issues"                      # lowercase letters, digits, '-' and '_'
//! version = "1.2.0"                       # semver
//! description = "Read and comment on GitHub issues"
//!
//! [capabilities]
//! # Folders. `$WORKSPACE` is the folder the user runs the skill on (mounted in the
//! # skill at /workspace), `$HOME` the user's home (mounted at /home); absolute paths
//! # are mounted where they are. access: "read" or "read-write".
//! fs      = [{ path = "$WORKSPACE", access = "read" }]
//! # Outgoing HTTP: scheme://host[:port][/path], `*` in the path matches anything,
//! # `*.` before a host matches its subdomains, `:*` any port. No path = any path.
//! http    = ["https://api.github.com/*"]
//! # Programs, started directly (never through a shell). Each argument pattern
//! # matches one argument (`*` inside matches any text); a final "**" matches any
//! # number of remaining arguments.
//! exec    = [{ program = "git", args = ["log", "*"] }]
//! # Environment variables the skill can read (values come from the host).
//! env     = ["LANG"]
//! # Secrets: the host adds `header: format` to requests to `hosts`; the skill never
//! # sees the value. A bare host means https on port 443, any path; a URL pattern
//! # (like an `http` entry) narrows scheme, port and path. Plain `http://` is only
//! # allowed for loopback hosts (`127.0.0.1`, `localhost`), where nothing is on the wire.
//! secrets = [{ name = "GITHUB_TOKEN", hosts = ["api.github.com"], header = "Authorization", format = "Bearer {}" }]
//! # e.g. hosts = ["https://api.example.com/v1/*", "http://127.0.0.1:8080/private/*"]
//!
//! [limits]
//! memory  = "64MiB"   # linear memory, default 64MiB
//! timeout = "10s"     # wall clock per call, default 10s
//! output  = "1MiB"    # result and stdout/stderr per call, default 1MiB
//! disk    = "64MiB"   # written into read-write folders per call, default 64MiB
//! ```
//!
//! Parsing rejects unknown fields and invalid values with the line and column of the
//! offending field, so `chitin` can tell the author exactly what to fix.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ManifestError;

/// A parsed and validated skill manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub skill: SkillInfo,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub limits: Limits,
}

/// The `[skill]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillInfo {
    pub name: SkillName,
    pub version: semver::Version,
    #[serde(default)]
    pub description: String,
}

/// The `[capabilities]` table: everything the skill may do beyond pure computation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fs: Vec<FsGrant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpPattern>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<ExecGrant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretGrant>,
}

impl Capabilities {
    /// True when the skill asks for nothing at all.
    pub fn is_empty(&self) -> bool {
        self.fs.is_empty()
            && self.http.is_empty()
            && self.exec.is_empty()
            && self.env.is_empty()
            && self.secrets.is_empty()
    }

    /// What these grants hold that `declared` does not, one line each; empty when the
    /// grants are within the declaration (equal, or narrowed by dropping entries).
    pub fn beyond(&self, declared: &Capabilities) -> Vec<String> {
        let mut out = Vec::new();
        let fs = self.fs.iter().filter(|g| !declared.fs.contains(g));
        out.extend(fs.map(|f| format!("fs {} {}", f.access, f.path)));
        let http = self.http.iter().filter(|g| !declared.http.contains(g));
        out.extend(http.map(|h| format!("http {h}")));
        let exec = self.exec.iter().filter(|g| !declared.exec.contains(g));
        out.extend(exec.map(|e| format!("exec {}", e.display_line())));
        let env = self.env.iter().filter(|g| !declared.env.contains(g));
        out.extend(env.map(|e| format!("env {e}")));
        let secrets = self
            .secrets
            .iter()
            .filter(|g| !declared.secrets.contains(g));
        out.extend(secrets.map(|s| format!("secret {}", s.name)));
        out
    }
}

/// Parse a `skill.toml`. Errors carry the line and column of what was wrong.
pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
    let manifest: Manifest =
        toml::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
    manifest.validate()?;
    Ok(manifest)
}

impl FromStr for Manifest {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Manifest {
    /// Longest `skill.description`, in bytes.
    pub const MAX_DESCRIPTION: usize = 1024;

    /// Cross-field checks that a single field's parser cannot make.
    fn validate(&self) -> Result<(), ManifestError> {
        let caps = &self.capabilities;
        let invalid = |field: &str, reason: String| ManifestError::Invalid {
            field: field.to_string(),
            reason,
        };
        // Shown at every consent prompt and in the model's context: a screenful at most.
        if self.skill.description.len() > Self::MAX_DESCRIPTION {
            return Err(invalid(
                "skill.description",
                format!(
                    "{} bytes; a description holds at most {} (put details in the tools' \
                     descriptions or a README)",
                    self.skill.description.len(),
                    Self::MAX_DESCRIPTION
                ),
            ));
        }
        for (i, secret) in caps.secrets.iter().enumerate() {
            if caps.env.iter().any(|e| e.0 == secret.name.0) {
                return Err(invalid(
                    &format!("capabilities.secrets[{i}]"),
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
                        &format!("capabilities.secrets[{i}].hosts"),
                        format!(
                            "secret `{}` goes to `{}`, but no `http` pattern allows that \
                             scheme, host and port; add one or remove the destination",
                            secret.name, dest.pattern
                        ),
                    ));
                }
            }
        }
        let mut names: Vec<&str> = caps.secrets.iter().map(|s| s.name.0.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(
                "capabilities.secrets",
                format!("secret `{}` is declared twice", w[0]),
            ));
        }
        Ok(())
    }

    /// The manifest as TOML text, for embedding and display.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a manifest always serializes")
    }
}

/// Implements `Deserialize`/`Serialize` through `FromStr`/`Display`, so a bad value is
/// reported by the TOML parser with its line and column.
macro_rules! string_serde {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

/// A skill name: 1–64 of `a-z 0-9 - _`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkillName(String);
string_serde!(SkillName);

impl SkillName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SkillName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "invalid skill name `{s}`: use 1-64 lowercase letters, digits, `-` or `_`, \
                 starting with a letter"
            ))
        }
    }
}

impl fmt::Display for SkillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One folder the skill may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsGrant {
    pub path: FsPath,
    pub access: Access,
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Read,
    ReadWrite,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::ReadWrite => "read-write",
        })
    }
}

/// Where a declared folder is rooted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsRoot {
    /// `$WORKSPACE`: the folder the user runs the skill on; mounted at `/workspace`.
    Workspace,
    /// `$HOME` or `~`: the user's home folder; mounted at `/home`.
    Home,
    /// An absolute host path, mounted at the same path.
    Absolute,
}

/// A declared folder: a root and a relative part without `.`/`..` components.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FsPath {
    pub root: FsRoot,
    /// Normal components below the root (for `Absolute`, the whole path).
    pub relative: Vec<String>,
}

string_serde!(FsPath);

impl FsPath {
    /// Where the skill sees this folder.
    pub fn mount_point(&self) -> String {
        let base = match self.root {
            FsRoot::Workspace => "/workspace",
            FsRoot::Home => "/home",
            FsRoot::Absolute => "",
        };
        if self.relative.is_empty() {
            return if base.is_empty() {
                "/".into()
            } else {
                base.into()
            };
        }
        format!("{base}/{}", self.relative.join("/"))
    }
}

impl FromStr for FsPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (root, rest) = if let Some(rest) = s.strip_prefix("$WORKSPACE") {
            (FsRoot::Workspace, rest)
        } else if let Some(rest) = s.strip_prefix("$HOME") {
            (FsRoot::Home, rest)
        } else if let Some(rest) = s.strip_prefix('~') {
            (FsRoot::Home, rest)
        } else if s.starts_with('/') {
            (FsRoot::Absolute, s)
        } else {
            return Err(format!(
                "invalid folder `{s}`: start it with `$WORKSPACE`, `$HOME`, `~` or `/`"
            ));
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(format!(
                "invalid folder `{s}`: put a `/` after the variable"
            ));
        }
        let mut relative = Vec::new();
        for part in rest.split('/').filter(|p| !p.is_empty()) {
            // Control and invisible characters could disguise the folder when shown.
            if part.chars().any(crate::untrusted::is_unsafe) {
                return Err(format!(
                    "invalid folder `{s}`: control or invisible characters are not allowed"
                ));
            }
            if part == "." || part == ".." || part.contains('$') {
                return Err(format!(
                    "invalid folder `{s}`: `{part}` is not allowed in a declared path"
                ));
            }
            relative.push(part.to_string());
        }
        if root == FsRoot::Absolute {
            // The host's own interfaces: `/proc/self/environ` and `/proc/self/mem` hold
            // the host's secrets, `/dev` and `/sys` its devices. The host refuses them
            // again at every call, by real path, however they are reached.
            let first = relative.first().map(String::as_str);
            if let None | Some("proc" | "sys" | "dev") = first {
                return Err(format!(
                    "invalid folder `{s}`: {} exposes the host's processes, memory or \
                     devices and is never granted to a skill",
                    first.map_or("the whole file system".to_string(), |f| format!("/{f}"))
                ));
            }
        }
        Ok(Self { root, relative })
    }
}

impl fmt::Display for FsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = match self.root {
            FsRoot::Workspace => "$WORKSPACE",
            FsRoot::Home => "$HOME",
            FsRoot::Absolute => "",
        };
        if self.root == FsRoot::Absolute && self.relative.is_empty() {
            return f.write_str("/");
        }
        write!(f, "{root}")?;
        for part in &self.relative {
            write!(f, "/{part}")?;
        }
        Ok(())
    }
}

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

    fn parse(s: &str) -> Result<Self, String> {
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
    port_written: bool,
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

/// One program the skill may run, with the arguments it may pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecGrant {
    pub program: Program,
    #[serde(default)]
    pub args: Vec<String>,
}

impl ExecGrant {
    /// Do these arguments fit the declared patterns? Each pattern matches one argument
    /// (`*` inside matches any text); a final `**` matches any remaining arguments.
    ///
    /// A wildcard never supplies an option: an argument starting with `-` fits only a
    /// pattern that starts with `-` itself (`--oneline`, `--format=*`). Otherwise `git
    /// log *` would admit `--output=FILE` and `find *` would admit `-delete`: options
    /// reach past every grant, so they must be written out in the declaration.
    pub fn args_match(&self, args: &[String]) -> bool {
        let (patterns, rest_any) = match self.args.split_last() {
            Some((last, init)) if last == "**" => (init, true),
            _ => (self.args.as_slice(), false),
        };
        if args.len() < patterns.len() || (!rest_any && args.len() != patterns.len()) {
            return false;
        }
        let fits =
            |p: &str, a: &str| (!a.starts_with('-') || p.starts_with('-')) && glob_match(p, a);
        patterns.iter().zip(args).all(|(p, a)| fits(p, a))
            && args[patterns.len()..].iter().all(|a| !a.starts_with('-'))
    }

    /// The argument patterns as a shell-like line, for display.
    pub fn display_line(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A program name (`git`, looked up on the host's PATH) or an absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Program(String);
string_serde!(Program);

impl Program {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The file name part (`/usr/bin/git` → `git`).
    pub fn base_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl FromStr for Program {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && !s.contains(char::is_whitespace)
            && !s.chars().any(crate::untrusted::is_unsafe)
            && (s.starts_with('/') || !s.contains('/'))
            && !s.split('/').any(|p| p == "..");
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "invalid program `{s}`: give a bare name (looked up on PATH) or an absolute \
                 path, without spaces or control characters; arguments go in `args`"
            ))
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An environment variable name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);
string_serde!(EnvName);

impl EnvName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "invalid name `{s}`: use letters, digits and `_`, not starting with a digit"
            ))
        }
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

/// The `[limits]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "Limits::default_memory")]
    pub memory: ByteSize,
    #[serde(default = "Limits::default_timeout")]
    pub timeout: Timeout,
    #[serde(default = "Limits::default_output")]
    pub output: ByteSize,
    /// Bytes one call may write into its read-write folders (file data, and growth by
    /// `set-size`); a write past it fails with `quota`.
    #[serde(default = "Limits::default_disk")]
    pub disk: ByteSize,
}

impl Limits {
    /// Upper bounds a manifest may ask for.
    pub const MAX_MEMORY: u64 = 4 << 30;
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
    pub const MAX_OUTPUT: u64 = 64 << 20;

    fn default_memory() -> ByteSize {
        ByteSize(64 << 20)
    }
    fn default_timeout() -> Timeout {
        Timeout(Duration::from_secs(10))
    }
    fn default_output() -> ByteSize {
        ByteSize(1 << 20)
    }
    fn default_disk() -> ByteSize {
        ByteSize(64 << 20)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: Self::default_memory(),
            timeout: Self::default_timeout(),
            output: Self::default_output(),
            disk: Self::default_disk(),
        }
    }
}

/// A size such as `64MiB`, `512KiB`, `1GiB`, `100KB` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);
string_serde!(ByteSize);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size `{s}`: expected a number like `64MiB`"))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "invalid size `{s}`: unknown unit `{other}` (use B, KiB, MiB or GiB)"
                ));
            }
        };
        let bytes = n
            .checked_mul(mult)
            .ok_or_else(|| format!("invalid size `{s}`: too large"))?;
        if bytes > Limits::MAX_MEMORY.max(Limits::MAX_OUTPUT) {
            return Err(format!("invalid size `{s}`: at most 4GiB"));
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= size && b.is_multiple_of(size) {
                return write!(f, "{}{unit}", b / size);
            }
        }
        write!(f, "{b}B")
    }
}

/// A duration such as `10s`, `500ms` or `2m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timeout(pub Duration);
string_serde!(Timeout);

impl FromStr for Timeout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid duration `{s}`: expected a number like `10s`"))?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            _ => {
                return Err(format!(
                    "invalid duration `{s}`: give a unit, `ms`, `s` or `m`"
                ));
            }
        };
        if d.is_zero() || d > Limits::MAX_TIMEOUT {
            return Err(format!(
                "invalid duration `{s}`: must be more than 0 and at most 10m"
            ));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Glob with `*` (any text, including `/`) and `?` (one character); everything else
/// literal. Iterative with backtracking to the last `*`, so it is linear-ish and cannot
/// blow up on hostile input.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) && p[pi] != '*' {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[skill]
name = "gh-issues"
version = "1.2.0"
description = "Read and comment on GitHub issues"

[capabilities]
http    = ["https://api.github.com/*"]
fs      = [{ path = "$WORKSPACE", access = "read" }]
exec    = [{ program = "git", args = ["log", "*"] }]
env     = ["LANG"]
secrets = [{ name = "GITHUB_TOKEN", hosts = ["api.github.com"], header = "Authorization", format = "Bearer {}" }]

[limits]
memory = "64MiB"
timeout = "10s"
"#;

    #[test]
    fn parses_the_documented_example() {
        let m = parse(FULL).unwrap();
        assert_eq!(m.skill.name.as_str(), "gh-issues");
        assert_eq!(m.capabilities.fs[0].path.mount_point(), "/workspace");
        assert_eq!(m.capabilities.fs[0].access, Access::Read);
        assert_eq!(m.limits.memory, ByteSize(64 << 20));
        assert_eq!(m.limits.output, ByteSize(1 << 20));
        assert_eq!(m.limits.disk, ByteSize(64 << 20));
        assert_eq!(m.capabilities.secrets[0].header_value("abc"), "Bearer abc");
        // Round trip through the canonical TOML.
        assert_eq!(parse(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn unknown_fields_are_rejected_with_line() {
        let text = FULL.replace("env     =", "envv    =");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("unknown field `envv`"), "{err}");
        assert!(err.contains("line 11"), "{err}");
    }

    #[test]
    fn bad_values_name_the_line() {
        let text = FULL.replace("https://api.github.com/*", "ftp://x");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("line 8"), "{err}");
        assert!(err.contains("scheme must be"), "{err}");
    }

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
    fn fs_paths() {
        assert!("$WORKSPACE/../x".parse::<FsPath>().is_err());
        assert!("relative".parse::<FsPath>().is_err());
        assert!("$WORKSPACEx".parse::<FsPath>().is_err());
        assert_eq!(
            "~/.config/x".parse::<FsPath>().unwrap().mount_point(),
            "/home/.config/x"
        );
        assert_eq!(
            "/data/x".parse::<FsPath>().unwrap().mount_point(),
            "/data/x"
        );
        assert_eq!(
            "$WORKSPACE/ro".parse::<FsPath>().unwrap().to_string(),
            "$WORKSPACE/ro"
        );
    }

    #[test]
    fn fs_paths_that_expose_the_host_are_refused() {
        // (declared, refused?)
        let cases = [
            ("/", true),
            ("//", true),
            ("/proc", true),
            ("/proc/self", true),
            ("//proc/self", true),
            ("/sys/kernel", true),
            ("/dev", true),
            ("/dev/shm", true),
            ("/procfs", false),
            ("/srv/proc", false),
            ("$WORKSPACE/proc", false),
        ];
        for (declared, refused) in cases {
            let got = declared.parse::<FsPath>();
            assert_eq!(got.is_err(), refused, "{declared}: {got:?}");
            if refused {
                assert!(got.unwrap_err().contains("never granted"), "{declared}");
            }
        }
    }

    #[test]
    fn names_versions_folders_and_programs_refuse_control_characters() {
        // TOML's \u escapes put the raw characters into the values.
        for (from, to) in [
            (r#""gh-issues""#, r#""gh-issues\u001b[8m""#),
            (r#""1.2.0""#, r#""1.2.0-\u202e""#),
            (r#""$WORKSPACE""#, r#""$WORKSPACE/\u001b[6A""#),
            (r#""git""#, r#""git\u009b""#),
        ] {
            let text = FULL.replace(from, to);
            assert_ne!(text, FULL, "{from} is in the example");
            assert!(parse(&text).is_err(), "{to} was accepted");
        }
        // A description may hold anything: it is escaped wherever it is shown.
        let text = FULL.replace("on GitHub issues", r"\u001b[8m\u202e");
        assert_eq!(
            parse(&text).unwrap().skill.description,
            "Read and comment \u{1b}[8m\u{202e}"
        );
    }

    #[test]
    fn http_patterns() {
        let p: HttpPattern = "https://api.github.com/repos/*".parse().unwrap();
        assert!(p.matches("https", "api.github.com", 443, "/repos/a/b"));
        assert!(p.matches("https", "API.github.com.", 443, "/repos/a"));
        assert!(!p.matches("http", "api.github.com", 443, "/repos/a"));
        assert!(!p.matches("https", "api.github.com", 444, "/repos/a"));
        assert!(!p.matches("https", "api.github.com.evil.com", 443, "/repos/a"));
        assert!(!p.matches("https", "api.github.com", 443, "/users"));
        let any_port: HttpPattern = "http://127.0.0.1:*/*".parse().unwrap();
        assert!(any_port.matches("http", "127.0.0.1", 8123, "/"));
        assert_eq!(any_port.to_string(), "http://127.0.0.1:*/*");
        let sub: HttpPattern = "https://*.example.com".parse().unwrap();
        assert!(sub.matches("https", "a.example.com", 443, "/x"));
        assert!(!sub.matches("https", "example.com", 443, "/x"));
        assert!(!sub.matches("https", "badexample.com", 443, "/x"));
        assert!("https://*.com/".parse::<HttpPattern>().is_err());
        assert!("https://user@host/".parse::<HttpPattern>().is_err());
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

    /// Grants are within a declaration when every entry is declared exactly: a wider
    /// access, another host, program, pattern, name or secret destination is beyond it.
    #[test]
    fn grants_beyond_the_declaration() {
        let caps = |lines: &str| {
            parse(&format!(
                "[skill]\nname = \"x\"\nversion = \"1.0.0\"\n[capabilities]\n{lines}\n"
            ))
            .unwrap()
            .capabilities
        };
        let declared = caps(
            r#"fs = [{ path = "$WORKSPACE", access = "read" }]
http = ["https://api.example.com/*"]
exec = [{ program = "git", args = ["log", "*"] }]
env = ["LANG"]
secrets = [{ name = "TOKEN", hosts = ["api.example.com"], header = "Authorization", format = "Bearer {}" }]"#,
        );
        // (grants, what is beyond the declaration)
        let table: &[(&str, &[&str])] = &[
            ("", &[]),
            (r#"fs = [{ path = "$WORKSPACE", access = "read" }]"#, &[]),
            (r#"env = ["LANG"]"#, &[]),
            (
                r#"fs = [{ path = "$WORKSPACE", access = "read-write" }]"#,
                &["fs read-write $WORKSPACE"],
            ),
            (
                r#"fs = [{ path = "$HOME/.ssh", access = "read" }]"#,
                &["fs read $HOME/.ssh"],
            ),
            (
                r#"http = ["https://exfil.example/*"]"#,
                &["http https://exfil.example/*"],
            ),
            (
                r#"exec = [{ program = "git", args = ["*", "*"] }]"#,
                &["exec git * *"],
            ),
            (
                r#"exec = [{ program = "sh", args = ["-c", "*"] }]"#,
                &["exec sh -c *"],
            ),
            (r#"env = ["LANG", "AWS_SECRET"]"#, &["env AWS_SECRET"]),
            (
                r#"http = ["https://exfil.example/*"]
secrets = [{ name = "TOKEN", hosts = ["exfil.example"], header = "Authorization", format = "Bearer {}" }]"#,
                &["http https://exfil.example/*", "secret TOKEN"],
            ),
        ];
        for (grants, beyond) in table {
            assert_eq!(caps(grants).beyond(&declared), *beyond, "grants: {grants}");
        }
        assert_eq!(declared.beyond(&declared), Vec::<String>::new());
    }

    #[test]
    fn exec_args() {
        let g = ExecGrant {
            program: "git".parse().unwrap(),
            args: vec!["log".into(), "-n".into(), "*".into()],
        };
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(g.args_match(&v(&["log", "-n", "5"])));
        assert!(!g.args_match(&v(&["log", "-n"])));
        assert!(!g.args_match(&v(&["log", "-n", "5", "--exec=sh"])));
        let rest = ExecGrant {
            program: "echo".parse().unwrap(),
            args: vec!["hi".into(), "**".into()],
        };
        assert!(rest.args_match(&v(&["hi"])));
        assert!(rest.args_match(&v(&["hi", "a", "b"])));
        assert!(!rest.args_match(&v(&["ho"])));
        // Wildcards never supply options; patterns that start with `-` do.
        let opts = ExecGrant {
            program: "git".parse().unwrap(),
            args: vec!["log".into(), "--format=*".into(), "*".into(), "**".into()],
        };
        // (arguments, admitted?)
        let cases: [(&[&str], bool); 7] = [
            (&["log", "--format=%h", "main"], true),
            (&["log", "--format=%h", "main", "src"], true),
            (&["log", "--format=%h", "--output=/tmp/x"], false),
            (&["log", "--format=%h", "main", "--output=/tmp/x"], false),
            (&["log", "--format=%h", "-"], false),
            (&["log", "--output=x", "main"], false),
            (&["log", "--format=%h", "--", "x"], false),
        ];
        for (args, admitted) in cases {
            assert_eq!(opts.args_match(&v(args)), admitted, "{args:?}");
        }
        assert!(!g.args_match(&v(&["log", "-n", "-5"])));
        assert!("sh -c".parse::<Program>().is_err());
        assert!("bin/sh".parse::<Program>().is_err());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!("512KiB".parse::<ByteSize>().unwrap(), ByteSize(512 << 10));
        assert!("5XB".parse::<ByteSize>().is_err());
        assert_eq!("500ms".parse::<Timeout>().unwrap().to_string(), "500ms");
        assert!("10".parse::<Timeout>().is_err());
        assert!("0s".parse::<Timeout>().is_err());
    }

    #[test]
    fn glob() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("/x/*", "/x/a/b"));
        assert!(!glob_match("a*c", "abbb"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match(&"*a".repeat(20), &"a".repeat(19)));
    }
}
