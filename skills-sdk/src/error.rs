//! [`ToolError`]: why a tool call failed, as the host and the model see it.

use std::fmt;
use std::io;

/// Why a tool call failed.
///
/// It maps one to one onto the WIT `error` variant of `chitin:skill/types`: the host
/// passes it on to the model as a value, it is never a crash. Return it from a tool with
/// `?` or build one with [`ToolError::invalid_input`], [`ToolError::denied`] or
/// [`ToolError::failed`].
///
/// `std::io::Error` converts into it (so `std::fs::read(path)?` works in a tool): a
/// refusal by the sandbox (permission denied, read-only file system, "not capable")
/// becomes [`ToolError::Denied`], anything else [`ToolError::Failed`]. Add the path
/// with [`ToolError::context`] so the model knows what was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The arguments did not fit the tool's schema or were otherwise unusable.
    InvalidInput(String),
    /// The host refused a capability the tool needed (a path, host, program...).
    Denied(String),
    /// Anything else.
    Failed(String),
}

impl ToolError {
    /// The arguments did not fit the tool's schema or were otherwise unusable.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// The host refused a capability the tool needed.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(message.into())
    }

    /// Anything else went wrong.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput(m) | Self::Denied(m) | Self::Failed(m) => m,
        }
    }

    /// Prefixes the message with what was being done, keeping the kind:
    /// `ToolError::from(e).context(format!("reading {path}"))` gives
    /// `reading /workspace/x: Permission denied (os error 2)`.
    pub fn context(self, what: impl fmt::Display) -> Self {
        match self {
            Self::InvalidInput(m) => Self::InvalidInput(format!("{what}: {m}")),
            Self::Denied(m) => Self::Denied(format!("{what}: {m}")),
            Self::Failed(m) => Self::Failed(format!("{what}: {m}")),
        }
    }

    /// Converts an I/O error and names what was being done, e.g. the path.
    pub fn io(error: io::Error, what: impl fmt::Display) -> Self {
        Self::from(error).context(what)
    }
}

/// `ENOTCAPABLE` of wasi-libc: an older spelling of "the sandbox said no".
#[cfg(target_os = "wasi")]
const ENOTCAPABLE: i32 = 76;

/// Whether an I/O error is the sandbox refusing (rather than the operation failing).
pub(crate) fn is_denial(error: &io::Error) -> bool {
    #[cfg(target_os = "wasi")]
    if error.raw_os_error() == Some(ENOTCAPABLE) {
        return true;
    }
    matches!(
        error.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}

impl From<io::Error> for ToolError {
    fn from(error: io::Error) -> Self {
        if is_denial(&error) {
            Self::Denied(error.to_string())
        } else {
            Self::Failed(error.to_string())
        }
    }
}

impl From<serde_json::Error> for ToolError {
    /// A JSON error while building a result: `failed`. (Errors while reading a tool's
    /// arguments are turned into `invalid-input` by the dispatcher itself.)
    fn from(error: serde_json::Error) -> Self {
        Self::Failed(format!("JSON: {error}"))
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Denied(m) => write!(f, "denied: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for ToolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_are_denials() {
        let e = ToolError::from(io::Error::new(io::ErrorKind::PermissionDenied, "nope"));
        assert_eq!(e, ToolError::Denied("nope".into()));
        let e = ToolError::from(io::Error::from(io::ErrorKind::ReadOnlyFilesystem));
        assert!(matches!(e, ToolError::Denied(_)), "{e:?}");
        #[cfg(unix)]
        {
            // EACCES / EPERM from the OS, as wasi-libc reports them too.
            let e = ToolError::from(io::Error::from_raw_os_error(13));
            assert!(matches!(e, ToolError::Denied(_)), "{e:?}");
            let e = ToolError::from(io::Error::from_raw_os_error(1));
            assert!(matches!(e, ToolError::Denied(_)), "{e:?}");
        }
    }

    #[test]
    fn other_io_errors_are_failures() {
        let e = ToolError::from(io::Error::new(io::ErrorKind::NotFound, "no such file"));
        assert_eq!(e, ToolError::Failed("no such file".into()));
        let e = ToolError::from(io::Error::other("disk on fire"));
        assert_eq!(e.message(), "disk on fire");
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = ToolError::io(
            io::Error::new(io::ErrorKind::PermissionDenied, "Permission denied"),
            "reading /etc/passwd",
        );
        assert_eq!(
            e,
            ToolError::Denied("reading /etc/passwd: Permission denied".into())
        );
        assert_eq!(
            e.to_string(),
            "denied: reading /etc/passwd: Permission denied"
        );
        let e = ToolError::invalid_input("bad").context("search");
        assert_eq!(e, ToolError::InvalidInput("search: bad".into()));
    }
}
