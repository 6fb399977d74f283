//! What a user can name a skill by: an OCI reference (tag, digest or semver range),
//! an OCI image layout folder, or a local `.wasm` file.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use oci_client::Reference;

use crate::RegistryError;

/// A parsed skill reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkillRef {
    /// `registry/repo:tag`, `registry/repo@sha256:…`, or `registry/repo:^1.2` (a semver
    /// range resolved against the repository's tags).
    Oci(OciRef),
    /// `oci-layout:<dir>[:tag]`: an OCI image layout on disk (air-gapped installs).
    Layout { dir: PathBuf, tag: Option<String> },
}

/// A reference into a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    /// The repository, with a tag or digest when one was given (a range is not a tag).
    pub reference: Reference,
    /// A semver range to resolve against the tags, e.g. `^1.2`.
    pub range: Option<semver::VersionReq>,
}

impl OciRef {
    /// `registry/repository` without tag or digest.
    pub fn repository(&self) -> String {
        format!(
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        )
    }

    /// Is the registry on this machine (plain HTTP is allowed there)?
    pub fn is_loopback(&self) -> bool {
        is_loopback_registry(self.reference.registry())
    }
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Characters a tag may not contain but a semver range may.
fn looks_like_range(tag: &str) -> bool {
    tag.chars()
        .any(|c| matches!(c, '^' | '~' | '>' | '<' | '=' | '*' | ',' | ' '))
        || tag.split('.').any(|p| p == "x" || p == "X")
}

impl FromStr for SkillRef {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("oci-layout:") {
            // `dir:tag` — the last `:` after the last `/` separates a tag.
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') && !t.is_empty() => (d, Some(t.to_string())),
                _ => (rest, None),
            };
            if dir.is_empty() {
                return Err(RegistryError::Reference {
                    input: s.into(),
                    reason: "give the layout folder, like `oci-layout:./export`".into(),
                });
            }
            return Ok(SkillRef::Layout {
                dir: PathBuf::from(dir),
                tag,
            });
        }
        let bad = |reason: String| RegistryError::Reference {
            input: s.into(),
            reason,
        };
        // A semver range is not a valid tag; split it off before the OCI parser sees it.
        let (base, range) = match s.rsplit_once(':') {
            Some((base, tag))
                if !tag.contains('/') && !s.contains('@') && looks_like_range(tag) =>
            {
                let req = semver::VersionReq::parse(tag)
                    .map_err(|e| bad(format!("`{tag}` is not a semver range: {e}")))?;
                (base, Some(req))
            }
            _ => (s, None),
        };
        // `repo:1.0:^1`: which one? (The tag would be dropped when the reference is shown.)
        if range.is_some()
            && base
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            return Err(bad("give a tag or a semver range, not both".into()));
        }
        if !base.contains('/') {
            return Err(bad(
                "give the registry and repository, like `ghcr.io/acme/gh-issues:1.2`".into(),
            ));
        }
        let reference: Reference = base.parse().map_err(|e| bad(format!("{e}")))?;
        // The OCI parser takes `Acme/x` as `docker.io/Acme/x`, a repository name the
        // distribution spec forbids and that does not parse again once written out.
        if reference
            .repository()
            .bytes()
            .any(|b| b.is_ascii_uppercase())
        {
            return Err(bad(format!(
                "repository names are lowercase (`{}`)",
                reference.repository()
            )));
        }
        Ok(SkillRef::Oci(OciRef { reference, range }))
    }
}

impl fmt::Display for SkillRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkillRef::Oci(r) => match &r.range {
                Some(range) => write!(f, "{}:{range}", r.repository()),
                None => write!(f, "{}", r.reference.whole()),
            },
            SkillRef::Layout { dir, tag: Some(t) } => {
                write!(f, "oci-layout:{}:{t}", dir.display())
            }
            SkillRef::Layout { dir, tag: None } => write!(f, "oci-layout:{}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(s: &str) -> OciRef {
        match s.parse::<SkillRef>().unwrap() {
            SkillRef::Oci(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tags_digests_and_ranges() {
        let r = oci("127.0.0.1:5000/acme/gh-issues:1.2.0");
        assert_eq!(r.reference.tag(), Some("1.2.0"));
        assert!(r.range.is_none());
        assert!(r.is_loopback());
        let digest = format!("ghcr.io/acme/x@sha256:{}", "a".repeat(64));
        assert!(oci(&digest).reference.digest().is_some());
        let r = oci("ghcr.io/acme/gh-issues:^1.2");
        assert_eq!(r.range.unwrap().to_string(), "^1.2");
        assert!(!oci("ghcr.io/acme/x:1").is_loopback());
        let r = oci("localhost:5000/acme/x:1.x");
        assert!(r.range.is_some());
    }

    #[test]
    fn layouts_and_errors() {
        assert_eq!(
            "oci-layout:./out:v1".parse::<SkillRef>().unwrap(),
            SkillRef::Layout {
                dir: "./out".into(),
                tag: Some("v1".into())
            }
        );
        assert!("gh-issues".parse::<SkillRef>().is_err());
        assert!("ghcr.io/acme/x:^bad^".parse::<SkillRef>().is_err());
        assert!(is_loopback_registry("[::1]:5000"));
        assert!(is_loopback_registry("127.0.0.2"));
        assert!(!is_loopback_registry("localhost.evil.com"));
    }

    /// Found by fuzzing: `Ab/o` parsed as `docker.io/Ab/o`, which its own display
    /// `docker.io/Ab/o:latest` does not parse as.
    #[test]
    fn uppercase_repositories_are_refused_and_references_reparse() {
        for s in [
            "Ab/o",
            "ghcr.io/Acme/x:1",
            "localhost:5000/a/B:^1",
            // Also found by fuzzing: a tag and a range, the tag lost when shown.
            "ghcr.io/acme/x:1.0:^1",
            "localhost:5000/x:tag:>1",
        ] {
            assert!(s.parse::<SkillRef>().is_err(), "{s}");
        }
        for s in [
            "ab/o",
            "GHCR.io/acme/x:1",
            "ghcr.io/acme/x:^1.2",
            "oci-layout:./o:v1",
        ] {
            let r: SkillRef = s.parse().unwrap();
            assert_eq!(r.to_string().parse::<SkillRef>().unwrap(), r, "{s}");
        }
    }
}
