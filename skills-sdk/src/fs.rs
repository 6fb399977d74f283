//! Files: use [`std::fs`]; this module only names the mount points.
//!
//! Granted folders appear in the guest at fixed paths, whatever they are on the user's
//! machine:
//!
//! | declared in `skill.toml`   | seen by the skill at |
//! |----------------------------|----------------------|
//! | `$WORKSPACE`               | `/workspace`         |
//! | `$WORKSPACE/docs`          | `/workspace/docs`    |
//! | `$HOME/.config/app`        | `/home/.config/app`  |
//! | `/srv/data` (absolute)     | `/srv/data`          |
//!
//! A folder declared with `access = "read"` is read-only (writes give a
//! `PermissionDenied` / read-only error, i.e. [`ToolError::Denied`](crate::ToolError)
//! through `?`). Paths outside every granted folder do not exist for the skill
//! (`NotFound`); `..` or a symlink leading out of a granted folder is refused
//! (`PermissionDenied`).

use std::path::{Path, PathBuf};

/// Where `$WORKSPACE` is mounted.
pub const WORKSPACE: &str = "/workspace";

/// Where `$HOME` is mounted.
pub const HOME: &str = "/home";

/// Resolves a path given by the model: relative paths are taken from [`WORKSPACE`],
/// absolute ones are kept. It does not check anything: the host does.
pub fn resolve(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        Path::new(WORKSPACE).join(path)
    }
}

/// The folders granted to this call, as the skill sees them (e.g. `["/workspace"]`).
/// Empty outside WebAssembly.
pub fn granted_folders() -> Vec<String> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::wasi::filesystem::preopens::get_directories()
            .into_iter()
            .map(|(_descriptor, path)| path)
            .collect()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_in_the_workspace() {
        assert_eq!(resolve("src/lib.rs"), Path::new("/workspace/src/lib.rs"));
        assert_eq!(resolve("/workspace/x"), Path::new("/workspace/x"));
        assert_eq!(resolve("/home/notes.md"), Path::new("/home/notes.md"));
    }
}
