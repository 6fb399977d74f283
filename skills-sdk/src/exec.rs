//! Run a declared program (`chitin:skill/exec`).
//!
//! The manifest lists each program with argument patterns (`"*"` matches one argument,
//! a final `"**"` any remaining ones); the host starts the program directly, never
//! through a shell, with an empty environment except granted variables, and refuses
//! anything that matches no declaration ([`ToolError::Denied`]).
//!
//! ```no_run
//! # fn main() -> Result<(), chitin_sdk::ToolError> {
//! // Declared as: exec = [{ program = "git", args = ["log", "--oneline", "-n", "*"] }]
//! let out = chitin_sdk::exec::run("git", &["log", "--oneline", "-n", "10"], Some("/workspace"))?
//!     .check()?;
//! let lines = out.stdout_text();
//! # Ok(()) }
//! ```

use serde::Serialize;

use crate::ToolError;

/// What a finished program produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    /// Exit code; `None` when the program was killed by a signal (e.g. at the timeout).
    pub status: Option<i32>,
    /// Standard output, cut at the host's output limit.
    pub stdout: Vec<u8>,
    /// Standard error, cut at the host's output limit.
    pub stderr: Vec<u8>,
    /// True when stdout or stderr was cut.
    pub truncated: bool,
}

impl Output {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// `Ok(self)` on exit code 0, otherwise [`ToolError::Failed`] with the exit status
    /// and the start of stderr.
    pub fn check(self) -> Result<Self, ToolError> {
        if self.success() {
            return Ok(self);
        }
        let status = match self.status {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        let stderr = self.stderr_text();
        let stderr = stderr.trim();
        let mut message = format!("the program {status}");
        if !stderr.is_empty() {
            let cut = stderr
                .char_indices()
                .nth(2000)
                .map_or(stderr.len(), |(i, _)| i);
            message.push_str(": ");
            message.push_str(&stderr[..cut]);
        }
        Err(ToolError::failed(message))
    }
}

/// Runs `program` with `args` in `cwd`, waits for it and returns its output.
///
/// `cwd` is a path inside a granted folder as the skill sees it (e.g. `/workspace`);
/// `None` means the first granted folder, or a fresh empty directory when there is
/// none. A non-zero exit is not an error here: see [`Output::check`].
pub fn run<S: AsRef<str>>(
    program: &str,
    args: &[S],
    cwd: Option<&str>,
) -> Result<Output, ToolError> {
    #[cfg(target_arch = "wasm32")]
    {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
        let out = crate::bindings::chitin::skill::exec::run(program, &args, cwd)?;
        Ok(Output {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            truncated: out.truncated,
        })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (args, cwd);
        Err(ToolError::failed(format!(
            "cannot run `{program}`: exec is only available inside the chitin host"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(status: Option<i32>, stderr: &str) -> Output {
        Output {
            status,
            stdout: b"out".to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn check_reports_status_and_stderr() {
        assert!(output(Some(0), "").check().is_ok());
        assert_eq!(
            output(Some(128), "fatal: not a git repository\n").check(),
            Err(ToolError::failed(
                "the program exited with status 128: fatal: not a git repository"
            ))
        );
        assert_eq!(
            output(None, "").check(),
            Err(ToolError::failed("the program was killed by a signal"))
        );
    }

    #[test]
    fn natively_exec_is_a_failure_not_a_panic() {
        let err = run("git", &["status"], None).unwrap_err();
        assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    }
}
