//! The installed skills as an MCP server.
//!
//! [`ChitinMcp`] serves a live [`ToolCatalogue`](chitin_agent::tools::ToolCatalogue)
//! (the same one `chitin agent` uses, so tools have the same names and the same
//! approvals) to MCP clients over stdio ([`serve_stdio`]) or Streamable HTTP
//! ([`serve_http`]). Nothing a client sends can grant or widen a capability: clients
//! only pick a tool and its arguments; what a skill may do comes from its install-time
//! grants, and whether a call runs from the user's approvals.

mod error;
pub mod http;
mod json_answer;
pub mod server;
mod stdio;

pub use error::McpServerError;
pub use http::{HttpOptions, load_or_create_token, serve_http, serve_http_on};
pub use server::{CatalogueSource, ChitinMcp, McpOptions, mcp_tool, serve_stdio};
