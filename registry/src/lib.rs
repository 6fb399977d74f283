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

/// Implements `Deserialize`/`Serialize` through `FromStr`/`Display`, so a bad value is
/// reported by the TOML parser with its line and column.
macro_rules! string_serde {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

pub mod artifact;
pub mod atomic;
pub mod capability;
pub mod component;
pub mod findings;
pub mod glob;
pub mod http_path;
pub mod imports;
pub mod lock;
pub mod manifest;
pub mod oci;
pub mod provenance;
pub mod reference;
pub mod signatures;
pub mod signing;
pub mod sigstore_bundle;
pub mod store;
pub mod trust;
pub mod tuf;
pub mod untrusted;
pub mod yank;

pub use capability::{Capability, CapabilityDiff, Grant};
pub use component::{ComponentInfo, MANIFEST_SECTION, embed_manifest, inspect};
pub use findings::{Area, Finding, Risk, findings};
pub use imports::{ImportCheck, ImportClass, check_imports};
pub use lock::{LockFile, LockedSkill};
pub use manifest::{
    Access, ByteSize, Capabilities, EnvName, ExecGrant, FsGrant, FsPath, FsRoot, HostPattern,
    HttpPattern, Limits, Manifest, SecretDestination, SecretGrant, SkillName, Timeout,
};
pub use oci::{Pinned, RegistryClient, RegistryOptions};
/// The OCI client crate, for its reference and auth types.
pub use oci_client;
pub use reference::{OciRef, SkillRef};
pub use sigstore_bundle::{Bundle, CertIdentity, KeylessError, TrustedRoot, verify_keyless};
pub use store::{InstalledSkill, Store};

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
    #[error(
        "not a chitin skill: it exports {exports}; a skill exports `chitin:skill/guest` (the `skill` world of wit/skill.wit)"
    )]
    NotASkill {
        /// The component's exports, for the message (`nothing` when none).
        exports: String,
    },
}

/// Failures of registry operations, the local store and the lock file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("`{input}` is not a skill reference: {reason}")]
    Reference { input: String, reason: String },
    #[error("not a chitin skill: {0}")]
    NotASkill(String),
    #[error(
        "the artifact declares no capabilities (no `dev.chitin.skill.manifest` annotation): it was not published by `chitin skill push` (oras, wkg and other tools do not write it); publish the component with `chitin skill push FILE REF`, after `chitin skill pack` if it embeds no skill.toml yet"
    )]
    NoDeclaration,
    #[error(
        "{what}: digest mismatch, expected {expected}, got {actual}; the registry or the file served something else than what was named"
    )]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("the {what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("no tag of {repository} matches `{range}` (semver tags there: {})", if .available.is_empty() { "none".to_string() } else { .available.join(", ") })]
    NoMatchingVersion {
        repository: String,
        range: String,
        available: Vec<String>,
    },
    #[error("{0}: not found in the registry")]
    NotFound(String),
    #[error(
        "{0}: the registry refused the credentials (or needs some); log in with `chitin registry login {0}` or set CHITIN_REGISTRY_USERNAME and CHITIN_REGISTRY_PASSWORD"
    )]
    Unauthorized(String),
    #[error("{what}: the registry answered HTTP {status}")]
    Status { status: u16, what: String },
    #[error("registry: {0}")]
    Transport(String),
    #[error(
        "cannot reach the registry at {registry}: is it running, and is the address right? ({reason})"
    )]
    Unreachable { registry: String, reason: String },
    #[error("{repository} has no tag `{tag}`; its tags: {}", if .available.is_empty() { "none (is the repository name right?)".to_string() } else { .available.join(", ") })]
    NoSuchTag {
        repository: String,
        tag: String,
        available: Vec<String>,
    },
    #[error("{0}: {1}")]
    Io(std::path::PathBuf, #[source] std::io::Error),
    #[error("the index: {0}")]
    Index(#[source] rusqlite::Error),
    #[error("lock file {path}: {reason}")]
    Lock {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Signature(#[from] signing::SignatureError),
    #[error(
        "the tag `{tag}` points to version {version} of the skill: the tag was moved \
         (to roll you back to an older signed version?) or pushed wrongly; refusing it. \
         Install by digest if you mean that version"
    )]
    TagMismatch { tag: String, version: String },
}
