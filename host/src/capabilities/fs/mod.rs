//! Files: only granted folders are preopened, read-only or read-write as granted.
//!
//! Confinement itself is wasmtime-wasi's, built on cap-std: every path is resolved
//! beneath its preopened directory handle (on Linux with `openat2(RESOLVE_BENEATH)` or
//! component by component), so `..`, absolute paths and symlinks leading outside —
//! including a symlink swapped in after a check — are refused by the kernel-backed
//! lookup, not by string checks that could race. Writes through a read-only grant are
//! refused by the descriptor's permissions.
//!
//! This module adds what wasmtime-wasi does not:
//! - grant folders resolved at every call without following links a skill could have
//!   planted, and never to the host's own interfaces or chitin's data ([`resolve`]);
//! - special files (FIFOs, sockets, devices) refused at open, so a skill cannot block a
//!   host thread on a FIFO nobody writes to;
//! - the audit trail: every method that can be refused is wrapped so that a refusal
//!   (`not-permitted` or `access`) is recorded as a denial with the operation and path.

use std::path::{Path, PathBuf};

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, Host as _, HostDescriptor as _,
    NewTimestamp, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynOutputStream, FsError};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

pub mod disk;
pub mod resolve;

use crate::HostError;
use crate::state::CallState;
use chitin_registry::{Access, Capability, FsGrant, FsRoot};
use resolve::{Lookup, ResolvedDir};

/// A folder made visible to the skill.
#[derive(Debug, Clone)]
pub struct Preopen {
    /// The real folder, read back from the open folder (see [`fs::resolve`]).
    pub host_path: PathBuf,
    /// Where the skill sees it.
    pub guest_path: String,
    pub access: Access,
    /// The folder itself, open since it was checked.
    pub(crate) dir: ResolvedDir,
}

/// Resolve the declared folders on this machine: `$WORKSPACE` and `$HOME` stand for
/// `workspace` and `home`, and no folder may be, hold or lie in a `protected` path. Fails when a declared folder does not
/// exist, leads through a link that a skill may have planted, or exposes the host (see
/// [`resolve`]), naming it. Called for every call: a folder is checked as it is now,
/// not as it was at install.
pub fn grant(
    declared: &[FsGrant],
    workspace: &Path,
    home: &Path,
    protected: &[PathBuf],
) -> Result<Vec<Preopen>, HostError> {
    let mut preopens = Vec::new();
    for grant in declared {
        let (root, lookup) = match grant.path.root {
            FsRoot::Workspace => (workspace, Lookup::Beneath),
            FsRoot::Home => (home, Lookup::Beneath),
            FsRoot::Absolute => (Path::new("/"), Lookup::NoSymlinks),
        };
        let dir =
            resolve::resolve(root, &grant.path.relative, lookup, protected).map_err(|source| {
                HostError::GrantRefused {
                    declared: grant.path.to_string(),
                    source,
                }
            })?;
        preopens.push(Preopen {
            host_path: dir.real.clone(),
            guest_path: grant.path.mount_point(),
            access: grant.access,
            dir,
        });
    }
    Ok(preopens)
}

/// Map a path as the skill sees it to the real path, if it lies in a granted folder.
/// The result is checked again after resolving symlinks.
pub fn host_path_for<'a>(preopens: &'a [Preopen], guest: &str) -> Option<(PathBuf, &'a Preopen)> {
    let best = preopens
        .iter()
        .filter(|p| {
            guest == p.guest_path
                || guest
                    .strip_prefix(p.guest_path.as_str())
                    .is_some_and(|rest| rest.starts_with('/') || p.guest_path == "/")
        })
        .max_by_key(|p| p.guest_path.len())?;
    let rest = &guest[best.guest_path.len()..];
    let mut host = best.host_path.clone();
    for part in rest.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if part == ".." {
            return None;
        }
        host.push(part);
    }
    let real = host.canonicalize().ok()?;
    real.starts_with(&best.host_path).then_some((real, best))
}

/// Preopen each granted folder with its permissions.
pub fn preopen(builder: &mut WasiCtxBuilder, preopens: &[Preopen]) -> Result<(), HostError> {
    for p in preopens {
        let perms = match p.access {
            Access::Read => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(p.dir.preopen_path(), &p.guest_path, perms)
            .map_err(|e| HostError::Preopen(p.host_path.clone(), e.to_string()))?;
    }
    Ok(())
}

/// Turn a filesystem result into what the guest gets, recording refusals.
fn audited<T>(
    state: &mut CallState,
    op: &str,
    path: &str,
    result: Result<T, FsError>,
) -> wasmtime::Result<(Result<T, ErrorCode>,)> {
    match result {
        Ok(v) => Ok((Ok(v),)),
        Err(e) => {
            let code = state.filesystem().convert_error_code(e)?;
            if matches!(code, ErrorCode::NotPermitted | ErrorCode::Access) {
                state.deny(
                    Capability::Fs,
                    format!("{op} `{path}`: outside the granted folders or their access"),
                );
            }
            Ok((Err(code),))
        }
    }
}

/// Shadow one `wasi:filesystem/types` method with a version that calls wasmtime-wasi's
/// own implementation and audits a refusal as `$op` on the path the skill gave.
macro_rules! audited_method {
    ($inst:ident, $name:literal, $op:literal,
     |$state:ident, $($arg:ident : $ty:ty),*| path = $path:expr, call = $call:expr) => {
        $inst.func_wrap_async(
            $name,
            |mut store, ($($arg,)*): ($($ty,)*)| {
                Box::new(async move {
                    let $state = store.data_mut();
                    let path: String = $path;
                    let r = $call.await;
                    audited($state, $op, &path, r)
                })
            },
        )?;
    };
}

/// Shadow the `wasi:filesystem/types` methods that can be refused with audited
/// versions that call wasmtime-wasi's own implementation; `open-at` also refuses
/// special files.
pub fn add_audit_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut inst = linker.instance("wasi:filesystem/types@0.2.12")?;
    inst.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                let op = if flags.contains(DescriptorFlags::WRITE)
                    || oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE)
                {
                    "open for writing"
                } else {
                    "open"
                };
                let borrowed = Resource::new_borrow(fd.rep());
                if let Some(kind) = special_file(state, borrowed, path_flags, &path).await {
                    state.deny(
                        Capability::Fs,
                        format!(
                            "{op} `{path}`: a {kind}; only regular files and folders can be \
                             opened (opening one could block the host)"
                        ),
                    );
                    return Ok((Err(ErrorCode::Access),));
                }
                let r = state
                    .filesystem()
                    .open_at(fd, path_flags, path.clone(), oflags, flags)
                    .await;
                audited(state, op, &path, r)
            })
        },
    )?;
    audited_method!(
        inst,
        "[method]descriptor.stat-at",
        "stat",
        |state, fd: Resource<Descriptor>, flags: PathFlags, path: String| path = path.clone(),
        call = state.filesystem().stat_at(fd, flags, path)
    );
    audited_method!(
        inst,
        "[method]descriptor.readlink-at",
        "readlink",
        |state, fd: Resource<Descriptor>, path: String| path = path.clone(),
        call = state.filesystem().readlink_at(fd, path)
    );
    audited_method!(
        inst,
        "[method]descriptor.create-directory-at",
        "create folder",
        |state, fd: Resource<Descriptor>, path: String| path = path.clone(),
        call = state.filesystem().create_directory_at(fd, path)
    );
    audited_method!(
        inst,
        "[method]descriptor.unlink-file-at",
        "delete",
        |state, fd: Resource<Descriptor>, path: String| path = path.clone(),
        call = state.filesystem().unlink_file_at(fd, path)
    );
    audited_method!(
        inst,
        "[method]descriptor.remove-directory-at",
        "remove folder",
        |state, fd: Resource<Descriptor>, path: String| path = path.clone(),
        call = state.filesystem().remove_directory_at(fd, path)
    );
    audited_method!(
        inst,
        "[method]descriptor.rename-at",
        "rename",
        |state,
         fd: Resource<Descriptor>,
         old: String,
         new_fd: Resource<Descriptor>,
         new: String| path = format!("{old}` to `{new}"),
        call = state.filesystem().rename_at(fd, old, new_fd, new)
    );
    audited_method!(
        inst,
        "[method]descriptor.link-at",
        "hard link",
        |state,
         fd: Resource<Descriptor>,
         flags: PathFlags,
         old: String,
         new_fd: Resource<Descriptor>,
         new: String| path = format!("{new}` to `{old}"),
        call = state.filesystem().link_at(fd, flags, old, new_fd, new)
    );
    audited_method!(
        inst,
        "[method]descriptor.symlink-at",
        "create symbolic link",
        |state, fd: Resource<Descriptor>, target: String, path: String| path =
            format!("{path}` to `{target}"),
        call = state.filesystem().symlink_at(fd, target, path)
    );
    audited_method!(
        inst,
        "[method]descriptor.set-times-at",
        "set times",
        |state,
         fd: Resource<Descriptor>,
         flags: PathFlags,
         path: String,
         atim: NewTimestamp,
         mtim: NewTimestamp| path = path.clone(),
        call = state.filesystem().set_times_at(fd, flags, path, atim, mtim)
    );
    audited_method!(
        inst,
        "[method]descriptor.set-times",
        "set times",
        |state, fd: Resource<Descriptor>, atim: NewTimestamp, mtim: NewTimestamp| path =
            "(an open file)".into(),
        call = state.filesystem().set_times(fd, atim, mtim)
    );
    audited_method!(
        inst,
        "[method]descriptor.set-size",
        "set size",
        |state, fd: Resource<Descriptor>, size: u64| path = "(an open file)".into(),
        call = async {
            // Growth counts against the disk limit (a sparse file still fills a disk
            // once copied).
            let current = state
                .filesystem()
                .stat(Resource::new_borrow(fd.rep()))
                .await?
                .size;
            if !state.disk.charge(size.saturating_sub(current)) {
                return Err(ErrorCode::Quota.into());
            }
            state.filesystem().set_size(fd, size).await
        }
    );
    audited_method!(
        inst,
        "[method]descriptor.write",
        "write",
        |state, fd: Resource<Descriptor>, buf: Vec<u8>, offset: u64| path = "(an open file)".into(),
        call = async {
            if !state.disk.charge(buf.len() as u64) {
                return Err(ErrorCode::Quota.into());
            }
            state.filesystem().write(fd, buf, offset).await
        }
    );
    // File streams: wasmtime-wasi's stream, behind the call's disk budget.
    inst.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
            let state = store.data_mut();
            let stream = state.filesystem().write_via_stream(fd, offset);
            metered(state, stream)
        },
    )?;
    inst.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut store, (fd,): (Resource<Descriptor>,)| {
            let state = store.data_mut();
            let stream = state.filesystem().append_via_stream(fd);
            metered(state, stream)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Put a file's output stream behind the call's disk budget (and audit a refusal).
fn metered(
    state: &mut CallState,
    stream: Result<Resource<DynOutputStream>, FsError>,
) -> wasmtime::Result<(Result<Resource<DynOutputStream>, ErrorCode>,)> {
    let stream = match stream {
        Ok(stream) => {
            let inner = state.table.delete(stream)?;
            let budget = state.disk.clone();
            Ok(state.table.push(disk::MeteredStream::wrap(inner, budget))?)
        }
        Err(e) => Err(e),
    };
    audited(state, "write", "(an open file)", stream)
}

/// What `path` is when it is neither a regular file nor a folder nor missing: FIFOs
/// block the opener until a writer comes, devices and sockets are no files to read.
/// An allow-list: wasmtime-wasi reports a FIFO as `unknown` on Unix.
async fn special_file(
    state: &mut CallState,
    fd: Resource<Descriptor>,
    flags: PathFlags,
    path: &str,
) -> Option<&'static str> {
    let stat = state
        .filesystem()
        .stat_at(fd, flags, path.to_string())
        .await
        .ok()?;
    match stat.type_ {
        // A link is stat'ed itself only when not followed; opening it then fails.
        DescriptorType::RegularFile | DescriptorType::Directory | DescriptorType::SymbolicLink => {
            None
        }
        DescriptorType::Socket => Some("socket"),
        DescriptorType::CharacterDevice => Some("character device"),
        DescriptorType::BlockDevice => Some("block device"),
        DescriptorType::Fifo | DescriptorType::Unknown => Some("named pipe (FIFO) or special file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guest path maps into the granted folder that holds it most closely, and never
    /// out of it: not by `..`, not through a link, not by a name that only starts like
    /// a granted one.
    #[test]
    fn guest_paths_map_into_their_granted_folder_only() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().canonicalize().unwrap();
        for d in ["ws/notes/sub", "outside"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("ws/notes/a.md"), "").unwrap();
        std::fs::write(base.join("outside/secret"), "").unwrap();
        std::os::unix::fs::symlink(base.join("outside/secret"), base.join("ws/notes/link"))
            .unwrap();
        let granted = |relative: &[&str], guest: &str| {
            let relative: Vec<String> = relative.iter().map(|s| s.to_string()).collect();
            let dir = resolve::resolve(&base, &relative, Lookup::Beneath, &[]).unwrap();
            Preopen {
                host_path: dir.real.clone(),
                guest_path: guest.into(),
                access: Access::Read,
                dir,
            }
        };
        let preopens = [
            granted(&["ws"], "/workspace"),
            granted(&["ws", "notes"], "/workspace/notes"),
        ];
        // (guest path, the real path below `base` and the folder it is found through)
        let cases: [(&str, Option<(&str, &str)>); 10] = [
            (
                "/workspace/notes/a.md",
                Some(("ws/notes/a.md", "/workspace/notes")),
            ),
            ("/workspace/notes", Some(("ws/notes", "/workspace/notes"))),
            ("/workspace", Some(("ws", "/workspace"))),
            (
                "/workspace/./notes/sub",
                Some(("ws/notes/sub", "/workspace")),
            ),
            ("/workspace/notes/../notes/a.md", None),
            ("/workspace/notes/link", None),
            ("/workspace/missing", None),
            ("/workspacex/a", None),
            ("/outside/secret", None),
            ("", None),
        ];
        for (guest, want) in cases {
            let got = host_path_for(&preopens, guest).map(|(real, p)| (real, p.guest_path.clone()));
            let want = want.map(|(real, through)| (base.join(real), through.to_string()));
            assert_eq!(got, want, "{guest}");
        }
    }
}
