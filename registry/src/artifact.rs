//! The OCI artifact a skill is published as: the CNCF wasm layout (config
//! `application/vnd.wasm.config.v0+json` listing the component's imports and exports,
//! one `application/wasm` layer), with the skill's name, version, description and full
//! declared manifest in the OCI manifest's annotations — so an audit of a remote
//! reference needs only the small OCI manifest, never the code.

use std::collections::BTreeMap;

use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Manifest, RegistryError};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
pub const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";
/// The skill's `skill.toml`, as embedded in the component.
pub const ANNOTATION_MANIFEST: &str = "dev.chitin.skill.manifest";

/// Largest OCI manifest accepted (they are a few KiB).
pub const MAX_MANIFEST_BYTES: usize = 256 << 10;
/// Largest config blob accepted.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Largest component accepted (JS and Python components are 12-18 MB).
pub const MAX_WASM_BYTES: u64 = 256 << 20;

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The `created` date of an artifact: `SOURCE_DATE_EPOCH` (the reproducible-builds
/// convention) when set to a valid time, else the Unix epoch.
fn created() -> String {
    let t = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The config blob (CNCF "wasm config" v0).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When it was built (RFC 3339): `SOURCE_DATE_EPOCH` when set, else the Unix
    /// epoch, so the same component always gives the same artifact digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    pub layer_digests: Vec<String>,
    pub component: ComponentSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ComponentSummary {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// A skill ready to push: the three blobs and the OCI manifest that ties them.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub wasm: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: OciImageManifest,
    pub skill: Manifest,
}

impl Artifact {
    /// Build the artifact for a skill component (which must embed its manifest). The
    /// result is deterministic: the same component always gives the same digest.
    pub fn from_component(wasm: Vec<u8>) -> Result<Self, RegistryError> {
        let info = crate::inspect(&wasm)?;
        let skill = info.manifest()?;
        info.check_exports()?;
        let text = info.manifest_text.clone().unwrap_or_default();
        let wasm_digest = sha256_digest(&wasm);
        let config = WasmConfig {
            created: Some(created()),
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![wasm_digest.clone()],
            component: ComponentSummary {
                imports: info.imports.clone(),
                exports: info.exports.clone(),
            },
        };
        let config = serde_json::to_vec(&config).expect("config serializes");
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_TITLE.to_string(), skill.skill.name.to_string());
        annotations.insert(
            ANNOTATION_VERSION.to_string(),
            skill.skill.version.to_string(),
        );
        annotations.insert(
            ANNOTATION_DESCRIPTION.to_string(),
            skill.skill.description.clone(),
        );
        annotations.insert(ANNOTATION_MANIFEST.to_string(), text);
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_string()),
            config: OciDescriptor {
                media_type: CONFIG_MEDIA_TYPE.into(),
                digest: sha256_digest(&config),
                size: config.len() as i64,
                ..Default::default()
            },
            layers: vec![OciDescriptor {
                media_type: LAYER_MEDIA_TYPE.into(),
                digest: wasm_digest,
                size: wasm.len() as i64,
                // Tools such as oras name a pulled file by it, and skip untitled layers.
                annotations: Some(BTreeMap::from([(
                    ANNOTATION_TITLE.to_string(),
                    format!("{}.wasm", skill.skill.name),
                )])),
                ..Default::default()
            }],
            annotations: Some(annotations),
            ..Default::default()
        };
        Ok(Self {
            wasm,
            config,
            manifest,
            skill,
        })
    }

    /// The OCI manifest as pushed (its digest is the artifact's identity).
    pub fn manifest_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.manifest).expect("manifest serializes")
    }
}

/// What the annotations of a pulled OCI manifest say, checked for shape: the right
/// media types, exactly one wasm layer of acceptable size, a declared manifest.
#[derive(Debug, Clone)]
pub struct RemoteSkill {
    pub manifest: OciImageManifest,
    /// The declared capabilities, from the annotation.
    pub skill: Manifest,
    /// The annotation's raw text.
    pub skill_text: String,
    pub layer: OciDescriptor,
}

/// Parse and check an OCI manifest fetched for a skill.
pub fn parse_remote(bytes: &[u8]) -> Result<RemoteSkill, RegistryError> {
    let bad = |reason: String| RegistryError::NotASkill(reason);
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "its OCI manifest is {} bytes, more than the {MAX_MANIFEST_BYTES} allowed",
            bytes.len()
        )));
    }
    let manifest: OciImageManifest = serde_json::from_slice(bytes).map_err(|e| {
        bad(format!(
            "its OCI manifest is not a valid image manifest: {e}"
        ))
    })?;
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(bad(format!(
            "its config has media type `{}`, expected `{CONFIG_MEDIA_TYPE}` (is it a container image?)",
            manifest.config.media_type
        )));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(bad(format!(
            "it has {} layers; a skill has exactly one `{LAYER_MEDIA_TYPE}` layer",
            manifest.layers.len()
        )));
    };
    if layer.media_type != LAYER_MEDIA_TYPE {
        return Err(bad(format!(
            "its layer has media type `{}`, expected `{LAYER_MEDIA_TYPE}`",
            layer.media_type
        )));
    }
    if layer.size < 0 || layer.size as u64 > MAX_WASM_BYTES {
        return Err(bad(format!(
            "its component is {} bytes, more than the {MAX_WASM_BYTES} allowed",
            layer.size
        )));
    }
    let annotations = manifest.annotations.clone().unwrap_or_default();
    let skill_text = annotations
        .get(ANNOTATION_MANIFEST)
        .cloned()
        .ok_or(RegistryError::NoDeclaration)?;
    let skill = crate::manifest::parse(&skill_text)?;
    Ok(RemoteSkill {
        layer: layer.clone(),
        manifest,
        skill,
        skill_text,
    })
}

impl RemoteSkill {
    /// After pulling the component: its embedded manifest must say exactly what the
    /// annotations said (what the user approved), and its digest must be the layer's.
    pub fn check_component(&self, wasm: &[u8]) -> Result<Manifest, RegistryError> {
        let digest = sha256_digest(wasm);
        if digest != self.layer.digest {
            return Err(RegistryError::DigestMismatch {
                what: "component".into(),
                expected: self.layer.digest.clone(),
                actual: digest,
            });
        }
        let embedded = crate::inspect(wasm)?.manifest()?;
        if embedded != self.skill {
            return Err(RegistryError::NotASkill(
                "the capabilities in its annotations differ from the manifest embedded in \
                 the component; it may have been tampered with"
                    .into(),
            ));
        }
        Ok(embedded)
    }
}
