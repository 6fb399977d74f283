//! `fs`: the folders a skill may use.
//!
//! ```toml
//! # `$WORKSPACE` is the folder the user runs the skill on (mounted in the skill at
//! # /workspace), `$HOME` the user's home (mounted at /home); absolute paths are
//! # mounted where they are. access: "read" or "read-write".
//! fs = [{ path = "$WORKSPACE", access = "read" }]
//! ```
//!
//! Declared here; resolved against this machine and enforced by the host's
//! `capabilities::fs`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ImportClass, Risk};

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

impl FsGrant {
    /// The entry as one line: `read-write $WORKSPACE/notes`.
    pub fn entry(&self) -> String {
        format!("{} {}", self.access, self.path)
    }
}

/// Host folders that hold the system's configuration or other users' files: `(folder,
/// risk to read, risk to write, what is in it)`. (`/proc`, `/sys` and `/dev` are never
/// declared at all: the manifest refuses them.)
const SYSTEM_FOLDERS: &[(&str, Risk, Risk, &str)] = &[
    (
        "etc",
        Risk::Medium,
        Risk::High,
        "the system's configuration, some of it secret",
    ),
    (
        "root",
        Risk::High,
        Risk::High,
        "the administrator's home folder",
    ),
    (
        "home",
        Risk::High,
        Risk::High,
        "every user's home folder (~/.ssh, wallets, .env files)",
    ),
];

/// What deserves a second look in the declared folders.
pub(crate) fn findings(grants: &[FsGrant], mut add: impl FnMut(Risk, String)) {
    for fs in grants {
        let first = fs.path.relative.first().map(String::as_str);
        let system = SYSTEM_FOLDERS
            .iter()
            .find(|(folder, ..)| fs.path.root == FsRoot::Absolute && first == Some(*folder));
        if let Some((folder, read, write, what)) = system {
            let risk = if fs.access == Access::ReadWrite {
                *write
            } else {
                *read
            };
            add(
                risk,
                format!(
                    "{} access to {} (/{folder} holds {what})",
                    fs.access, fs.path
                ),
            );
        }
        let dot = fs.path.relative.first().is_some_and(|c| c.starts_with('.'));
        let whole_home = fs.path.root == FsRoot::Home && fs.path.relative.is_empty();
        let root = fs.path.root == FsRoot::Absolute && fs.path.relative.is_empty();
        let under_home = fs.path.root == FsRoot::Home;
        match (fs.access, whole_home || root, dot && under_home) {
            (_, true, _) => add(
                Risk::High,
                format!(
                    "{} access to all of {} (including ~/.ssh, wallets and .env files)",
                    fs.access, fs.path
                ),
            ),
            (_, _, true) => add(
                Risk::High,
                format!("{} access to the hidden folder {}", fs.access, fs.path),
            ),
            (Access::ReadWrite, _, _) if under_home => add(
                Risk::Medium,
                format!("write access inside the home folder: {}", fs.path),
            ),
            _ => {}
        }
    }
}

/// The filesystem interfaces are always linked: a skill sees only its declared folders.
pub(crate) fn import(grants: &[FsGrant]) -> (ImportClass, String) {
    (
        ImportClass::Baseline,
        if grants.is_empty() {
            "no folders declared: sees none".to_string()
        } else {
            format!("sees only the {} declared folder(s)", grants.len())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::testing::{findings_of, manifest_with};

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
    fn system_folders_are_flagged_by_access() {
        use Risk::*;
        let cases = [
            ("/etc", "read", Medium),
            ("/etc/cron.d", "read-write", High),
            ("/home", "read", High),
            ("/root", "read", High),
        ];
        for (path, access, risk) in cases {
            let m = manifest_with(&format!(
                "fs = [{{ path = \"{path}\", access = \"{access}\" }}]"
            ));
            let f = findings_of(&m);
            assert_eq!(f.len(), 1, "{path}: {f:#?}");
            assert_eq!(
                (f[0].risk, f[0].area.as_str()),
                (risk, "fs"),
                "{path}: {f:#?}"
            );
            assert!(f[0].message.contains(path), "{f:#?}");
        }
        // Elsewhere outside the home folder: nothing to say.
        let m = manifest_with("fs = [{ path = \"/data/etc\", access = \"read-write\" }]");
        assert!(findings_of(&m).is_empty());
    }
}
