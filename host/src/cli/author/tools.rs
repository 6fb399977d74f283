//! The external tools a build runs: finding them, running them, reading what they wrote,
//! and copying a project's sources into the build folder.

use super::*;

pub(super) fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
}

pub(super) fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cargo"))
        .join("bin")
}

/// `name` on PATH, or in one of `extra`.
pub(super) fn find_program(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::join_paths(std::env::split_paths(&path).chain(extra.iter().cloned())).ok()?;
    let cwd = std::env::current_dir().ok()?;
    which::which_in(name, Some(dirs), cwd).ok()
}

pub(super) fn need(
    name: &str,
    extra: &[PathBuf],
    lang: Lang,
    install: &str,
) -> Result<PathBuf, AuthorError> {
    find_program(name, extra).ok_or_else(|| AuthorError::MissingTool {
        tool: format!("`{name}`"),
        lang: lang.label(),
        install: install.to_string(),
    })
}

/// Run a tool: its stdout on success; on failure an error with the end of its output.
pub(super) fn run(cmd: &mut Command, tool: &str) -> Result<String, AuthorError> {
    let out = cmd.output().map_err(|e| AuthorError::ToolFailed {
        tool: tool.to_string(),
        status: format!("could not start: {e}"),
        output: String::new(),
    })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    // The end of a long log is where the error is.
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(60)..].join("\n");
    Err(AuthorError::ToolFailed {
        tool: tool.to_string(),
        status: out.status.to_string(),
        output: tail,
    })
}

pub(super) fn read_output(path: &Path) -> Result<Vec<u8>, AuthorError> {
    std::fs::read(path).map_err(|_| AuthorError::NoOutput(path.to_path_buf()))
}

/// Copy the files with one of `exts` (recursively, skipping build output and
/// dependencies) from `from` into `to`.
pub(super) fn copy_sources(from: &Path, to: &Path, exts: &[&str]) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !matches!(
                name.as_ref(),
                "node_modules" | "target" | "wit" | "__pycache__"
            ) && !name.starts_with('.')
            {
                copy_sources(&path, &to.join(&*name), exts)?;
            }
        } else if path
            .extension()
            .is_some_and(|e| exts.iter().any(|x| e == *x))
        {
            std::fs::copy(&path, to.join(&*name))?;
        }
    }
    Ok(())
}
