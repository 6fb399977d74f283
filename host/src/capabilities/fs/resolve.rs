//! Resolving a declared folder to the folder a call gets, at every call, without
//! trusting anything a skill could have changed since the user approved the grant.
//!
//! A skill with a read-write folder can plant symbolic links in it, and the next call
//! (of this skill or another) must not be sent through them. So:
//! - below its root (`$WORKSPACE`, `$HOME`) a declared path is opened by the kernel with
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: a link is followed only while
//!   it stays beneath the root, and `..` cannot climb out;
//! - an absolute declared path follows no link at all (`RESOLVE_NO_SYMLINKS`): nothing
//!   bounds where it could lead;
//! - where the kernel lacks `openat2`, every path is walked one component at a time with
//!   `O_NOFOLLOW`, which follows no link either (stricter, never looser).
//!
//! The folder is then handed to wasmtime-wasi through its open descriptor (see
//! [`ResolvedDir::preopen_path`]), so nothing can be swapped between this check and the
//! preopen. Folders that expose the host itself are refused whatever path leads there:
//! `/proc`, `/sys`, `/dev`, the whole file system, and chitin's own data (its folder
//! and the secrets file), which hold the audit log, the grants and the secret values.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Kernel interfaces that expose the host process, other processes and devices: a
/// grant of any of them (or of a folder containing them) lets a skill read the host's
/// memory and environment (`/proc/self/mem`, `/proc/self/environ`).
pub const HOST_INTERFACES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// How a declared folder may be reached from its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Symbolic links are followed only while they stay beneath the root.
    Beneath,
    /// No symbolic link is followed.
    NoSymlinks,
}

/// A granted folder, open.
#[derive(Debug, Clone)]
pub struct ResolvedDir {
    /// Where it really is (read back from the open descriptor).
    pub real: PathBuf,
    fd: Arc<OwnedFd>,
}

impl std::os::fd::AsFd for ResolvedDir {
    /// The folder that was checked (for rules that must name it, not its path).
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl ResolvedDir {
    /// A path that opens exactly this folder while `self` lives: the descriptor's entry
    /// in `/proc/self/fd`. wasmtime-wasi takes preopens by path only; through this one
    /// it reopens the folder that was checked, not whatever the name points to now.
    pub fn preopen_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Why a declared folder is not granted.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{path} cannot be opened as a folder: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} leads through a symbolic link that points outside {root}; a skill may have \
         planted it, so it is not followed (grant the real folder instead)"
    )]
    LinkOutside { path: PathBuf, root: PathBuf },
    #[error("{path} goes through a symbolic link; an absolute grant must name the real folder")]
    LinkInAbsolute { path: PathBuf },
    #[error("{real} is never granted to a skill: {why}")]
    HostInterface { real: PathBuf, why: String },
}

/// Open `root`/`relative` as a folder under `lookup`, and refuse it when it is, holds
/// or lies inside a host interface or one of the `protected` paths.
pub fn resolve(
    root: &Path,
    relative: &[String],
    lookup: Lookup,
    protected: &[PathBuf],
) -> Result<ResolvedDir, ResolveError> {
    let full = relative.iter().fold(root.to_path_buf(), |p, c| p.join(c));
    let open_err = |source: Errno| ResolveError::Open {
        path: full.clone(),
        source: source.into(),
    };
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    // The root is the user's own choice (`--workspace`, `$HOME`): links in it are theirs.
    let root_fd = match lookup {
        Lookup::Beneath => rustix::fs::open(root, dir_flags, Mode::empty()),
        Lookup::NoSymlinks => rustix::fs::open("/", dir_flags, Mode::empty()),
    }
    .map_err(|e| ResolveError::Open {
        path: root.to_path_buf(),
        source: e.into(),
    })?;
    let rel: PathBuf = match lookup {
        Lookup::Beneath => relative.iter().collect(),
        // Absolute: the declared path itself, below `/`.
        Lookup::NoSymlinks => full.strip_prefix("/").unwrap_or(&full).to_path_buf(),
    };
    let fd = if rel.as_os_str().is_empty() {
        root_fd
    } else {
        let how = match lookup {
            Lookup::Beneath => ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            Lookup::NoSymlinks => ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        };
        match rustix::fs::openat2(&root_fd, &rel, dir_flags, Mode::empty(), how) {
            Ok(fd) => fd,
            // EXDEV: a link or `..` led outside the root; ELOOP: a link where none may be.
            Err(Errno::XDEV) => {
                return Err(ResolveError::LinkOutside {
                    path: full,
                    root: root.to_path_buf(),
                });
            }
            Err(Errno::LOOP) if lookup == Lookup::NoSymlinks => {
                return Err(ResolveError::LinkInAbsolute { path: full });
            }
            Err(Errno::NOSYS) => walk_without_links(&root_fd, &rel, &full)?,
            Err(e) => return Err(open_err(e)),
        }
    };
    let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| {
        ResolveError::Open {
            path: full.clone(),
            source: e,
        }
    })?;
    if let Some(why) = exposes_host(&real, protected) {
        return Err(ResolveError::HostInterface { real, why });
    }
    Ok(ResolvedDir {
        real,
        fd: Arc::new(fd),
    })
}

/// The fallback for kernels without `openat2`: one component at a time, refusing links.
fn walk_without_links(root: &OwnedFd, rel: &Path, full: &Path) -> Result<OwnedFd, ResolveError> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let mut fd = rustix::io::dup(root).map_err(|e| ResolveError::Open {
        path: full.to_path_buf(),
        source: e.into(),
    })?;
    for part in rel.components() {
        let Component::Normal(name) = part else {
            return Err(ResolveError::LinkOutside {
                path: full.to_path_buf(),
                root: PathBuf::from("/"),
            });
        };
        fd = rustix::fs::openat(&fd, name, flags, Mode::empty()).map_err(|e| match e {
            // O_PATH|O_NOFOLLOW on a link opens the link itself; O_DIRECTORY then fails.
            Errno::LOOP | Errno::NOTDIR => ResolveError::LinkInAbsolute {
                path: full.to_path_buf(),
            },
            e => ResolveError::Open {
                path: full.to_path_buf(),
                source: e.into(),
            },
        })?;
    }
    Ok(fd)
}

/// Why `real` must not be granted, if it must not: it is, holds or lies inside a host
/// interface or a protected path.
pub fn exposes_host(real: &Path, protected: &[PathBuf]) -> Option<String> {
    for iface in HOST_INTERFACES {
        let iface = Path::new(iface);
        if real.starts_with(iface) || iface.starts_with(real) {
            return Some(format!(
                "{} gives access to the host's processes, memory or devices",
                iface.display()
            ));
        }
    }
    for p in protected {
        if real.starts_with(p) || p.starts_with(real) {
            return Some(format!(
                "it is, holds or lies in chitin's own data at {} (audit log, grants, secrets)",
                p.display()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn host_interfaces_and_protected_paths_are_refused() {
        let protected = [PathBuf::from("/home/u/.local/share/chitin")];
        // (path, refused?)
        let cases = [
            ("/proc", true),
            ("/proc/self", true),
            ("/proc/1/root", true),
            ("/sys/kernel", true),
            ("/dev", true),
            ("/dev/shm", true),
            ("/", true),
            ("/home/u", true),
            ("/home/u/.local/share/chitin/store", true),
            ("/home/u/.local/share/chitin", true),
            ("/home/u/project", false),
            ("/home/u/.local/share/chitinx", false),
            ("/procfs", false),
            ("/srv/dev", false),
        ];
        for (path, refused) in cases {
            assert_eq!(
                exposes_host(Path::new(path), &protected).is_some(),
                refused,
                "{path}"
            );
        }
    }

    /// A workspace with `data` → `../outside` (a planted relative link), `inner` →
    /// `real` (a link that stays inside), and an `outside` folder next to it.
    fn layout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("real/sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink("../outside", ws.join("data")).unwrap();
        std::os::unix::fs::symlink("real", ws.join("inner")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), ws.join("abs")).unwrap();
        std::os::unix::fs::symlink("/proc/self", ws.join("proc")).unwrap();
        dir
    }

    #[test]
    fn links_beneath_the_root_are_followed_only_while_they_stay_beneath() {
        let dir = layout();
        let ws = dir.path().join("ws");
        let real_ws = ws.canonicalize().unwrap();
        // (relative, Ok(real path below the workspace) or Err)
        let cases: [(&[&str], Option<&str>); 7] = [
            (&[], Some("")),
            (&["real"], Some("real")),
            (&["real", "sub"], Some("real/sub")),
            (&["inner", "sub"], Some("real/sub")),
            (&["data"], None),
            (&["abs"], None),
            (&["proc"], None),
        ];
        for (parts, want) in cases {
            let got = resolve(&ws, &rel(parts), Lookup::Beneath, &[]);
            match want {
                Some(sub) => {
                    let want = if sub.is_empty() {
                        real_ws.clone()
                    } else {
                        real_ws.join(sub)
                    };
                    assert_eq!(got.unwrap().real, want, "{parts:?}");
                }
                None => assert!(
                    matches!(got, Err(ResolveError::LinkOutside { .. })),
                    "{parts:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn absolute_grants_follow_no_link() {
        let dir = layout();
        let ws = dir.path().join("ws").canonicalize().unwrap();
        let parts = |p: &Path| -> Vec<String> {
            p.components()
                .skip(1)
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        };
        let ok = resolve(
            Path::new("/"),
            &parts(&ws.join("real")),
            Lookup::NoSymlinks,
            &[],
        );
        assert_eq!(ok.unwrap().real, ws.join("real"));
        for link in ["inner", "data", "abs"] {
            let got = resolve(
                Path::new("/"),
                &parts(&ws.join(link)),
                Lookup::NoSymlinks,
                &[],
            );
            assert!(
                matches!(got, Err(ResolveError::LinkInAbsolute { .. })),
                "{link}: {got:?}"
            );
        }
        let got = resolve(
            Path::new("/"),
            &rel(&["proc", "1"]),
            Lookup::NoSymlinks,
            &[],
        );
        assert!(
            matches!(got, Err(ResolveError::HostInterface { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn the_fallback_walk_refuses_every_link() {
        let dir = layout();
        let ws = dir.path().join("ws");
        let root = rustix::fs::open(&ws, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        assert!(walk_without_links(&root, Path::new("real/sub"), &ws).is_ok());
        for link in ["inner/sub", "data", "abs"] {
            assert!(
                walk_without_links(&root, Path::new(link), &ws).is_err(),
                "{link}"
            );
        }
    }

    #[test]
    fn the_preopen_path_keeps_the_checked_folder_when_the_name_is_swapped() {
        let dir = layout();
        let ws = dir.path().join("ws");
        let got = resolve(&ws, &rel(&["real"]), Lookup::Beneath, &[]).unwrap();
        // Swap the checked folder for a link to the outside after the check.
        std::fs::rename(ws.join("real"), ws.join("moved")).unwrap();
        std::os::unix::fs::symlink("../outside", ws.join("real")).unwrap();
        let seen = std::fs::canonicalize(got.preopen_path()).unwrap();
        assert_eq!(seen, ws.canonicalize().unwrap().join("moved"));
    }
}
