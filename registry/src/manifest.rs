//! The skill manifest (`skill.toml`): who the skill is and what it may do.
//!
//! ```toml
//! The `[capabilities]` table holds one entry per capability; each is declared,
//! checked and shown in its own module of [`crate::capability`], which this module
//! re-exports.
//!
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
pub use crate::capability::env::EnvName;
pub use crate::capability::exec::{ExecGrant, Program};
pub use crate::capability::fs::{Access, FsGrant, FsPath, FsRoot};
pub use crate::capability::http::{HostPattern, HttpPattern, Scheme};
pub use crate::capability::secrets::{HeaderName, SecretDestination, SecretFormat, SecretGrant};
use crate::capability::{CapabilityDiff, Grant, secrets};
pub use crate::glob::glob_match;

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

    /// Every declared entry, in the table's order.
    pub fn grants(&self) -> Vec<Grant> {
        let mut out = Vec::new();
        out.extend(self.fs.iter().cloned().map(Grant::Fs));
        out.extend(self.http.iter().cloned().map(Grant::Http));
        out.extend(self.exec.iter().cloned().map(Grant::Exec));
        out.extend(self.env.iter().cloned().map(Grant::Env));
        out.extend(self.secrets.iter().cloned().map(Grant::Secret));
        out
    }

    /// What these grants hold that `declared` does not, one line each; empty when the
    /// grants are within the declaration (equal, or narrowed by dropping entries).
    pub fn beyond(&self, declared: &Capabilities) -> Vec<String> {
        CapabilityDiff::between(declared, self)
            .added
            .iter()
            .map(Grant::to_string)
            .collect()
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
        // Shown at every consent prompt and in the model's context: a screenful at most.
        if self.skill.description.len() > Self::MAX_DESCRIPTION {
            return Err(ManifestError::Invalid {
                field: "skill.description".into(),
                reason: format!(
                    "{} bytes; a description holds at most {} (put details in the tools' \
                     descriptions or a README)",
                    self.skill.description.len(),
                    Self::MAX_DESCRIPTION
                ),
            });
        }
        secrets::validate(caps)
    }

    /// The manifest as TOML text, for embedding and display.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a manifest always serializes")
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const FULL: &str = r#"
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
                &[
                    "http https://exfil.example/*",
                    "secret TOKEN → exfil.example (Authorization)",
                ],
            ),
        ];
        for (grants, beyond) in table {
            assert_eq!(caps(grants).beyond(&declared), *beyond, "grants: {grants}");
        }
        assert_eq!(declared.beyond(&declared), Vec::<String>::new());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!("512KiB".parse::<ByteSize>().unwrap(), ByteSize(512 << 10));
        assert!("5XB".parse::<ByteSize>().is_err());
        assert_eq!("500ms".parse::<Timeout>().unwrap().to_string(), "500ms");
        assert!("10".parse::<Timeout>().is_err());
        assert!("0s".parse::<Timeout>().is_err());
    }
}
