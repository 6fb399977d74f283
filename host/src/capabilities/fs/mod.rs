//! Files: only granted folders are preopened, read-only or read-write as granted.
//!
//! Confinement itself is wasmtime-wasi's, built on cap-std: every path is resolved
//! beneath its preopened directory handle (on Linux with `openat2(RESOLVE_BENEATH)` or
//! component by component), so `..`, absolute paths and symlinks leading outside —
//! including a symlink swapped in after a check — are refused by the kernel-backed
//! lookup, not by string checks that could race. Writes through a read-only grant are
//! refused by the descriptor's permissions.
//!
//! This module adds the audit trail: the path operations are wrapped so that a refusal
//! (`not-permitted` or `access`) is recorded as a denial with the operation and path.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::FsError;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, Host as _, HostDescriptor as _, OpenFlags, PathFlags,
};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::HostError;
use crate::grants::Preopen;
use crate::state::CallState;
use chitin_registry::Access;

/// Preopen each granted folder with its permissions.
pub fn preopen(builder: &mut WasiCtxBuilder, preopens: &[Preopen]) -> Result<(), HostError> {
    for p in preopens {
        let perms = match p.access {
            Access::Read => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(&p.host_path, &p.guest_path, perms)
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
                    "fs",
                    format!("{op} `{path}`: outside the granted folders or their access"),
                );
            }
            Ok((Err(code),))
        }
    }
}

/// Shadow the path-taking `wasi:filesystem/types` methods with audited versions that
/// call wasmtime-wasi's own implementation.
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
                let r = state
                    .filesystem()
                    .open_at(fd, path_flags, path.clone(), oflags, flags)
                    .await;
                let op = if flags.contains(DescriptorFlags::WRITE)
                    || oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE)
                {
                    "open for writing"
                } else {
                    "open"
                };
                audited(state, op, &path, r)
            })
        },
    )?;
    inst.func_wrap_async(
        "[method]descriptor.stat-at",
        |mut store, (fd, path_flags, path): (Resource<Descriptor>, PathFlags, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let r = state
                    .filesystem()
                    .stat_at(fd, path_flags, path.clone())
                    .await;
                audited(state, "stat", &path, r)
            })
        },
    )?;
    inst.func_wrap_async(
        "[method]descriptor.readlink-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let r = state.filesystem().readlink_at(fd, path.clone()).await;
                audited(state, "readlink", &path, r)
            })
        },
    )?;
    inst.func_wrap_async(
        "[method]descriptor.create-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let r = state
                    .filesystem()
                    .create_directory_at(fd, path.clone())
                    .await;
                audited(state, "create folder", &path, r)
            })
        },
    )?;
    inst.func_wrap_async(
        "[method]descriptor.unlink-file-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let r = state.filesystem().unlink_file_at(fd, path.clone()).await;
                audited(state, "delete", &path, r)
            })
        },
    )?;
    inst.func_wrap_async(
        "[method]descriptor.remove-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let r = state
                    .filesystem()
                    .remove_directory_at(fd, path.clone())
                    .await;
                audited(state, "remove folder", &path, r)
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
