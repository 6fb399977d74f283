//! The chitin agent: a model whose only tools are the tools of installed, signed skills.
//!
//! The agent has no powers of its own: no shell, no files, no network. Everything it
//! can do goes through a [`tools::ToolCatalogue`], which in the CLI is the installed
//! skills, each call run in a fresh instance under that skill's grants.
//!
//! - [`provider`]: the model, in the OpenAI or Anthropic dialect, with fallbacks.
//! - [`agent`]: the loop of one turn.
//! - [`session`]: the conversation in SQLite, one serial lane per session.
//! - [`approval`]: which calls run without asking.
//! - [`compaction`]: summaries that keep a long session inside the context window.

pub mod agent;
pub mod approval;
pub mod compaction;
pub mod message;
pub mod prompt;
pub mod provider;
pub mod session;
pub mod tools;
