//! Everything about chitin skill artifacts that does not need a WebAssembly engine:
//! the manifest a skill declares its capabilities in, and reading or embedding that
//! manifest in a component.
//!
//! ```
//! use chitin_registry::{manifest, Access};
//!
//! let m = manifest::parse(r#"
//!     [skill]
//!     name = "notes"
//!     version = "0.1.0"
//!     [capabilities]
//!     fs = [{ path = "$WORKSPACE/notes", access = "read-write" }]
//!     http = ["https://api.example.com/v1/*"]
//! "#).unwrap();
//! assert_eq!(m.capabilities.fs[0].access, Access::ReadWrite);
//! assert_eq!(m.capabilities.fs[0].path.mount_point(), "/workspace/notes");
//! assert!(m.capabilities.http[0].matches("https", "api.example.com", 443, "/v1/items"));
//! assert!(!m.capabilities.http[0].matches("https", "evil.example", 443, "/v1/items"));
//! ```

pub mod component;
pub mod imports;
pub mod manifest;

pub use component::{ComponentInfo, MANIFEST_SECTION, embed_manifest, inspect};
pub use imports::{ImportCheck, ImportClass, check_imports};
pub use manifest::{
    Access, ByteSize, Capabilities, EnvName, ExecGrant, FsGrant, FsPath, FsRoot, HostPattern,
    HttpPattern, Limits, Manifest, SecretGrant, SkillName, Timeout,
};

/// A manifest that could not be parsed or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Syntax, an unknown field or a bad value; the message names the line and column.
    #[error("invalid skill manifest: {0}")]
    Parse(String),
    /// A rule across fields was broken.
    #[error("invalid skill manifest: `{field}`: {reason}")]
    Invalid { field: String, reason: String },
}

/// A component binary that cannot be used as a skill.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error(
        "not a WebAssembly component (a core module or another file); build it for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    NotAComponent,
    #[error("malformed WebAssembly: {0}")]
    Malformed(String),
    #[error(
        "the component has no embedded skill manifest; embed one with `chitin skill pack <file.wasm> --manifest skill.toml`"
    )]
    NoManifest,
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}
