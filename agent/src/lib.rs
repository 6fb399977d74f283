//! The chitin agent: a model whose only tools are the tools of installed, signed skills.
//!
//! The agent has no powers of its own: no shell, no files, no network. Everything it
//! can do goes through a [`tools::ToolCatalogue`], which in the CLI is the installed
//! skills, each call run in a fresh instance under that skill's grants.

pub mod message;
pub mod provider;
