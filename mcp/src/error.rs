//! What can go wrong starting or running the server (not a tool call: those become
//! tool results with `isError`).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum McpServerError {
    #[error("loading the installed skills: {0}")]
    Load(String),
    #[error("MCP session: {0}")]
    Session(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}
