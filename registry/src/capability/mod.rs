//! The capabilities a skill can declare, one module per capability.
//!
//! [`Capability`] names them everywhere: the manifest's `[capabilities]` keys, the
//! `deny` ceilings of a trust policy, the import classes, audit findings, the host's
//! denials and the audit log. Its strings are the manifest's keys (`fs`, `http`,
//! `exec`, `env`, `secrets`), so stored data, policy files and JSON output keep them.
//!
//! Each capability's module holds its declaration (types, parsing, validation and
//! docs), the line it is shown as, the import class it covers and its audit findings,
//! with their tests. [`crate::manifest`] holds the table that gathers them, and
//! [`Grant`] one declared entry of any of them, for ceilings, consent lines and the
//! [`CapabilityDiff`] of an update or a lock file.
//!
//! From manifest field to enforcement to tests, one capability at a time:
//!
//! | field     | declared, checked, audited (here) | resolved and enforced (`host/src/capabilities/`) |
//! |-----------|-----------------------------------|--------------------------------------------------|
//! | `fs`      | [`fs`]                            | `fs/` (grant, `resolve`, `disk`)                 |
//! | `http`    | [`http`], [`crate::http_path`]    | `http.rs`                                        |
//! | `exec`    | [`exec`]                          | `exec/` (`contain`, `landlock`)                  |
//! | `env`     | [`env`](mod@env)                  | `env.rs` (and `exec` passes them on)             |
//! | `secrets` | [`secrets`]                       | `secrets.rs` (values, redaction), `http.rs`      |
//!
//! Each module's unit tests sit next to it; the end-to-end ones, with real skills, are
//! `tests/capability_matrix.rs` and `tests/attacks.rs`.

pub mod env;
pub mod exec;
pub mod fs;
pub mod http;
pub mod secrets;

mod diff;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use diff::CapabilityDiff;

use crate::{Access, EnvName, ExecGrant, FsGrant, HttpPattern, SecretGrant};

/// A kind of access a skill can declare beyond pure computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Folders (`fs`).
    Fs,
    /// Outgoing HTTP (`http`).
    Http,
    /// Programs on the host (`exec`).
    Exec,
    /// Environment variables (`env`).
    Env,
    /// Secrets the host adds to requests (`secrets`).
    Secrets,
}

impl Capability {
    /// Every capability, in the manifest's order.
    pub const ALL: [Capability; 5] = [
        Capability::Fs,
        Capability::Http,
        Capability::Exec,
        Capability::Env,
        Capability::Secrets,
    ];

    /// The manifest key: `fs`, `http`, `exec`, `env`, `secrets`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Fs => "fs",
            Capability::Http => "http",
            Capability::Exec => "exec",
            Capability::Env => "env",
            Capability::Secrets => "secrets",
        }
    }

    /// The word before one declared entry in a line (`secret GITHUB_TOKEN`).
    pub fn noun(self) -> &'static str {
        match self {
            Capability::Secrets => "secret",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown capability `{s}`: use fs, http, exec, env or secrets"))
    }
}

impl Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a trust rule's `deny` can forbid: a whole capability (`fs`, `http`, `exec`,
/// `env`, `secrets`) or only write access to folders (`fs-write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ceiling {
    Whole(Capability),
    /// Any read-write folder.
    FsWrite,
}

impl Ceiling {
    /// The words a policy file uses.
    pub const NAMES: &[&str] = &["fs", "fs-write", "http", "exec", "env", "secrets"];

    /// The capability this ceiling limits.
    pub fn capability(self) -> Capability {
        match self {
            Ceiling::Whole(c) => c,
            Ceiling::FsWrite => Capability::Fs,
        }
    }

    /// Does this ceiling forbid the entry?
    pub fn forbids(self, grant: &Grant) -> bool {
        match self {
            Ceiling::Whole(c) => grant.capability() == c,
            Ceiling::FsWrite => matches!(grant, Grant::Fs(f) if f.access == Access::ReadWrite),
        }
    }

    /// The first declared entry this ceiling forbids, as a line (`exec git log *`).
    pub fn first_use(self, c: &crate::Capabilities) -> Option<String> {
        c.grants()
            .into_iter()
            .find(|g| self.forbids(g))
            .map(|g| g.to_string())
    }
}

impl fmt::Display for Ceiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ceiling::Whole(Capability::Fs) => "folders (fs)",
            Ceiling::FsWrite => "write access to folders (fs-write)",
            Ceiling::Whole(Capability::Http) => "HTTP (http)",
            Ceiling::Whole(Capability::Exec) => "programs (exec)",
            Ceiling::Whole(Capability::Env) => "environment variables (env)",
            Ceiling::Whole(Capability::Secrets) => "secrets (secrets)",
        })
    }
}

impl FromStr for Ceiling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "fs-write" {
            return Ok(Ceiling::FsWrite);
        }
        s.parse().map(Ceiling::Whole)
    }
}

impl Serialize for Ceiling {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Ceiling::Whole(c) => c.as_str(),
            Ceiling::FsWrite => "fs-write",
        })
    }
}

impl<'de> Deserialize<'de> for Ceiling {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::unknown_variant(&s, Ceiling::NAMES))
    }
}

/// How much an audit finding matters (see [`crate::findings`](mod@crate::findings)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    High,
    Medium,
    Low,
}

/// How a component's import relates to the declaration (see [`crate::imports`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportClass {
    /// Always available and harmless without grants: stdio, clocks, random, the
    /// environment (only granted names are visible), files (only granted folders).
    Baseline,
    /// Covered by a declared capability.
    Covered(Capability),
    /// Needs a capability the manifest does not declare.
    Undeclared(Capability),
    /// Not part of the platform at all (`wit/skill.wit`).
    Refused,
}

/// One declared entry of any capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Fs(FsGrant),
    Http(HttpPattern),
    Exec(ExecGrant),
    Env(EnvName),
    Secret(SecretGrant),
}

impl Grant {
    pub fn capability(&self) -> Capability {
        match self {
            Grant::Fs(_) => Capability::Fs,
            Grant::Http(_) => Capability::Http,
            Grant::Exec(_) => Capability::Exec,
            Grant::Env(_) => Capability::Env,
            Grant::Secret(_) => Capability::Secrets,
        }
    }

    /// The entry without its capability: `read $WORKSPACE`, `https://x/*`,
    /// `git log *`, `LANG`, `TOKEN → api.example.com (Authorization)`.
    pub fn entry(&self) -> String {
        match self {
            Grant::Fs(f) => f.entry(),
            Grant::Http(h) => h.to_string(),
            Grant::Exec(e) => e.display_line(),
            Grant::Env(e) => e.to_string(),
            Grant::Secret(s) => s.entry(),
        }
    }
}

/// `fs read $WORKSPACE`, `exec git log *`, `secret TOKEN → api.example.com (Authorization)`:
/// the skill's own text, so escape it before it reaches a terminal.
impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.capability().noun(), self.entry())
    }
}

/// Helpers for the capability modules' tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::{Finding, Manifest};

    /// A manifest declaring `caps` (lines of the `[capabilities]` table).
    pub(crate) fn manifest_with(caps: &str) -> Manifest {
        crate::manifest::parse(&format!(
            "[skill]\nname = \"x\"\nversion = \"1.0.0\"\n[capabilities]\n{caps}"
        ))
        .unwrap()
    }

    /// The audit findings of a manifest alone (no imports, no tools).
    pub(crate) fn findings_of(m: &Manifest) -> Vec<Finding> {
        crate::findings(m, &[], &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_parse_from_the_policy_words() {
        for name in Ceiling::NAMES {
            let c: Ceiling = name.parse().unwrap();
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{name}\""));
        }
        assert_eq!("fs-write".parse(), Ok(Ceiling::FsWrite));
        assert_eq!(Ceiling::FsWrite.capability(), Capability::Fs);
        let err = serde_json::from_str::<Ceiling>("\"network\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }

    #[test]
    fn names_round_trip_and_match_the_manifest_keys() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
        // The keys of `[capabilities]`, in order.
        let keys: Vec<String> = Capability::ALL.iter().map(|c| c.to_string()).collect();
        assert_eq!(keys, ["fs", "http", "exec", "env", "secrets"]);
        assert!("secret".parse::<Capability>().is_err());
    }
}
