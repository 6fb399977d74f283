//! The chitin host: runs WebAssembly skills in a fresh wasmtime instance per call, with
//! exactly the capabilities their manifest declares and the user granted.
//!
//! ```no_run
//! use chitin_host::{AuditLog, Grants, HostEnv, Outcome, Runtime, SkillEngine};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(SkillEngine::new("/tmp/chitin-cache")?, AuditLog::in_memory()?);
//! let skill = runtime.load(&std::fs::read("file-search.wasm")?)?;
//! let env = HostEnv::from_process(std::env::current_dir()?, None, None)?;
//! let grants = Grants::from_manifest(&skill.manifest, &env)?;
//! let report = runtime.invoke(&skill, &grants, "search", r#"{"pattern":"TODO"}"#).await;
//! match report.outcome {
//!     Outcome::Ok(json) => println!("{json}"),
//!     Outcome::ToolError(e) => eprintln!("the tool failed: {e:?}"),
//!     Outcome::Stopped(stop) => eprintln!("stopped: {stop}"),
//! }
//! for denial in &report.denials {
//!     eprintln!("denied {}: {}", denial.capability, denial.detail);
//! }
//! # Ok(()) }
//! ```

pub mod audit;
pub mod bindings;
pub mod capabilities;
pub mod catalogue;
pub mod engine;
pub mod grants;
pub mod install;
pub mod layout;
pub mod runtime;
pub mod state;

use std::path::PathBuf;

pub use audit::{AuditEntry, AuditLog, Denial, DenialKind};
pub use bindings::{SkillError, ToolSpec};
pub use engine::SkillEngine;
pub use grants::{Grants, HostEnv, Preopen};
pub use runtime::{CallReport, LoadedSkill, Outcome, Runtime, Stop, Tool};

/// What can go wrong in the host outside a call's own result.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("could not set up the WebAssembly engine: {0:#}")]
    Engine(wasmtime::Error),
    #[error("could not compile the component: {0:#}")]
    Compile(wasmtime::Error),
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    // The reason is the source, which the CLI prints as "caused by".
    #[error("the skill declares the folder `{declared}`, but it is not granted")]
    GrantRefused {
        declared: String,
        #[source]
        source: capabilities::fs::resolve::ResolveError,
    },
    #[error("could not open the granted folder {0}: {1}")]
    Preopen(PathBuf, String),
    #[error("secrets file {path}: {reason}")]
    SecretsFile { path: PathBuf, reason: String },
    #[error("audit log: {0}")]
    Audit(#[source] rusqlite::Error),
    #[error(transparent)]
    Component(#[from] chitin_registry::ComponentError),
    #[error("the component imports interfaces its manifest does not cover, so it will not be run:\n  {}", .0.join("\n  "))]
    UncoveredImports(Vec<String>),
    #[error("the component needs something the host does not provide: {0}")]
    Link(String),
    #[error("the skill's tool list is not usable: {0}")]
    BadTools(String),
    #[error(transparent)]
    Registry(#[from] chitin_registry::RegistryError),
    #[error("no skill named `{0}` is installed; see `chitin skill list`")]
    NotInstalled(String),
    #[error(
        "`{name}` is installed from {from}, and this one comes from {to}; refusing to \
         replace it without consent (pass --allow-repository-change, or remove it first)"
    )]
    RepositoryChanged {
        name: String,
        from: String,
        to: String,
    },
    #[error("refusing to load a tampered skill: {0}")]
    Tampered(String),
    #[error(
        "`{name}`: the grants go beyond what the skill declares ({}); grants can only narrow a declaration",
        .beyond.join("; ")
    )]
    GrantsBeyondDeclaration { name: String, beyond: Vec<String> },
    #[error(transparent)]
    Trust(#[from] chitin_registry::trust::TrustError),
}
