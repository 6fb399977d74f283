//! OCI image layouts (`oci-layout:<dir>`): an installed skill written out with its
//! signature and provenance for an air-gapped machine, and read back for an offline
//! install or audit.
//!
//! The layout's `index.json` and `oci-layout` are typed with `oci-spec`. The
//! manifests they point to (the skill's, cosign's signature image, Sigstore bundles as
//! referrers) are built and read by `chitin_registry::signatures`, the same code that
//! pushes and pulls them from a registry. A layout is untrusted input: every blob read
//! is checked against its digest, and what it holds is verified like a download.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chitin_registry::artifact::{self, parse_remote};
use chitin_registry::provenance::PREDICATE_TYPE_ANNOTATION;
use chitin_registry::signatures;
use chitin_registry::signing::{BUNDLE_MEDIA_TYPE, Envelope};
use chitin_registry::{InstalledSkill, RegistryError, Store};
use oci_spec::image::{
    Descriptor, DescriptorBuilder, ImageIndex, ImageIndexBuilder, MediaType, OciLayoutBuilder,
};

use crate::HostError;

/// The annotation naming a manifest's tag in a layout's index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Write an installed skill as an OCI image layout in `dir`, with its signature and
/// provenance, so that an offline install verifies them too.
pub fn export(store: &Store, skill: &InstalledSkill, dir: &Path) -> Result<(), HostError> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| HostError::Io(blobs.clone(), e))?;
    let write_blob = |bytes: &[u8]| -> Result<String, HostError> {
        let digest = artifact::sha256_digest(bytes);
        crate::engine::write_atomic(&blobs.join(digest.trim_start_matches("sha256:")), bytes)?;
        Ok(digest)
    };

    let manifest_bytes = store.read_blob(&skill.manifest_digest)?;
    let remote = parse_remote(&manifest_bytes)?;
    for digest in [
        &skill.manifest_digest,
        &skill.wasm_digest,
        &remote.manifest.config.digest,
    ] {
        write_blob(&store.read_blob(digest)?)?;
    }
    let mut entries = vec![descriptor(
        &manifest_bytes,
        &skill.manifest_digest,
        None,
        [(REF_NAME, skill.version.as_str())],
    )?];

    if let Some(verified) = &skill.signature {
        let (manifest, artifact_type, tag) = match &verified.envelope {
            Envelope::Cosign { signature, .. } => {
                let (payload, _) = verified
                    .envelope
                    .cosign_parts()
                    .expect("cosign")
                    .map_err(RegistryError::from)?;
                write_blob(&payload)?;
                let (manifest, config) =
                    signatures::cosign_manifest(vec![signatures::cosign_layer(
                        &payload, signature,
                    )]);
                write_blob(&config)?;
                let tag = chitin_registry::signing::signature_tag(&skill.manifest_digest);
                (manifest, None, Some(tag))
            }
            Envelope::Bundle { bundle } => {
                write_blob(bundle.as_bytes())?;
                write_blob(signatures::EMPTY_CONFIG)?;
                let manifest = signatures::bundle_manifest(
                    &skill.manifest_digest,
                    manifest_bytes.len(),
                    bundle.as_bytes(),
                );
                (manifest, Some(BUNDLE_MEDIA_TYPE), None)
            }
        };
        let bytes = serde_json::to_vec(&manifest).expect("JSON serializes");
        let digest = write_blob(&bytes)?;
        entries.push(descriptor(
            &bytes,
            &digest,
            artifact_type,
            tag.as_deref().map(|t| (REF_NAME, t)),
        )?);
    }

    for p in skill.signature.iter().flat_map(|v| &v.provenance) {
        write_blob(p.bundle.as_bytes())?;
        write_blob(signatures::EMPTY_CONFIG)?;
        let manifest = signatures::attestation_manifest(
            &skill.manifest_digest,
            manifest_bytes.len(),
            p.bundle.as_bytes(),
            &p.predicate_type,
        );
        let bytes = serde_json::to_vec(&manifest).expect("JSON serializes");
        let digest = write_blob(&bytes)?;
        entries.push(descriptor(
            &bytes,
            &digest,
            Some(BUNDLE_MEDIA_TYPE),
            [(PREDICATE_TYPE_ANNOTATION, p.predicate_type.as_str())],
        )?);
    }

    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(entries)
        .build()
        .map_err(spec_error)?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .map_err(spec_error)?;
    crate::engine::write_atomic(
        &dir.join("oci-layout"),
        &serde_json::to_vec(&layout).expect("JSON serializes"),
    )?;
    crate::engine::write_atomic(
        &dir.join("index.json"),
        &serde_json::to_vec(&index).expect("JSON serializes"),
    )?;
    Ok(())
}

/// The descriptor of an image manifest in the index.
fn descriptor<'a>(
    bytes: &[u8],
    digest: &str,
    artifact_type: Option<&str>,
    annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Descriptor, HostError> {
    let annotations: HashMap<String, String> = annotations
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut d = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(
            digest
                .parse::<oci_spec::image::Digest>()
                .map_err(spec_error)?,
        )
        .size(bytes.len() as u64)
        .build()
        .map_err(spec_error)?;
    d.set_artifact_type(artifact_type.map(MediaType::from));
    d.set_annotations((!annotations.is_empty()).then_some(annotations));
    Ok(d)
}

fn spec_error(e: oci_spec::OciSpecError) -> HostError {
    RegistryError::NotASkill(format!("OCI layout: {e}")).into()
}

/// The skill's manifest in the layout `dir`: the one tagged `tag`, or the only one.
/// Returns its bytes (checked against its digest) and its digest.
pub fn manifest(dir: &Path, tag: Option<&str>) -> Result<(Vec<u8>, String), HostError> {
    let (index, index_path) = read_index(dir)?;
    // Signatures and attestations stored beside the skill are not candidates.
    let candidates: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|m| {
            m.artifact_type().is_none() && !ref_name(m).is_some_and(|t| t.ends_with(".sig"))
        })
        .collect();
    let chosen = match tag {
        Some(t) => candidates.iter().find(|m| ref_name(m) == Some(t)),
        None if candidates.len() == 1 => candidates.first(),
        None => None,
    }
    .ok_or_else(|| {
        RegistryError::NotASkill(format!(
            "{}: no manifest {} (it lists {})",
            index_path.display(),
            tag.map(|t| format!("tagged `{t}`"))
                .unwrap_or("(give a tag)".into()),
            candidates.len()
        ))
    })?;
    let digest = chosen.digest().to_string();
    Ok((blob(dir, &digest)?, digest))
}

/// The signatures the layout carries for `digest`: a cosign signature image under the
/// tag `sha256-<hex>.sig`, and Sigstore bundles referring to it.
pub fn signatures(dir: &Path, digest: &str) -> Result<Vec<Envelope>, HostError> {
    let (index, _) = read_index(dir)?;
    let sig_tag = chitin_registry::signing::signature_tag(digest);
    let mut found = Vec::new();
    for entry in index.manifests() {
        let is_cosign = ref_name(entry) == Some(sig_tag.as_str());
        if !is_cosign && !is_bundle(entry) {
            continue;
        }
        let manifest =
            signatures::parse_json(&blob(dir, entry.digest().as_ref())?, "signature manifest")?;
        if is_cosign {
            for (payload_digest, _, signature) in signatures::cosign_layers(&manifest)? {
                let payload = blob(dir, &payload_digest)?;
                found.push(signatures::cosign_envelope(&payload, signature));
            }
        } else if let Some((layer, _)) = signatures::bundle_layer(&manifest, digest)? {
            let bundle = String::from_utf8(blob(dir, &layer)?)
                .map_err(|_| RegistryError::NotASkill("a Sigstore bundle is not UTF-8".into()))?;
            if !is_attestation(entry, &bundle) {
                found.push(Envelope::Bundle { bundle });
            }
        }
    }
    Ok(found)
}

/// The attestation bundles the layout carries for `digest`.
pub fn attestations(dir: &Path, digest: &str) -> Result<Vec<String>, HostError> {
    let (index, _) = read_index(dir)?;
    let mut found = Vec::new();
    for entry in index.manifests().iter().filter(|e| is_bundle(e)) {
        let manifest =
            signatures::parse_json(&blob(dir, entry.digest().as_ref())?, "attestation manifest")?;
        if let Some((layer, _)) = signatures::bundle_layer(&manifest, digest)?
            && let Ok(bundle) = String::from_utf8(blob(dir, &layer)?)
            && is_attestation(entry, &bundle)
        {
            found.push(bundle);
        }
    }
    Ok(found)
}

/// Read a blob of the layout and check its digest.
pub fn blob(dir: &Path, digest: &str) -> Result<Vec<u8>, HostError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| RegistryError::NotASkill(format!("bad digest `{digest}` in the layout")))?;
    let path = dir.join("blobs/sha256").join(hex);
    let bytes = std::fs::read(&path).map_err(|e| RegistryError::Io(path.clone(), e))?;
    let actual = artifact::sha256_digest(&bytes);
    if actual != digest {
        return Err(RegistryError::DigestMismatch {
            what: path.display().to_string(),
            expected: digest.to_string(),
            actual,
        }
        .into());
    }
    Ok(bytes)
}

fn read_index(dir: &Path) -> Result<(ImageIndex, PathBuf), HostError> {
    let path = dir.join("index.json");
    let text = std::fs::read(&path).map_err(|e| RegistryError::Io(path.clone(), e))?;
    let index = serde_json::from_slice(&text)
        .map_err(|e| RegistryError::NotASkill(format!("{}: {e}", path.display())))?;
    Ok((index, path))
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

fn is_bundle(d: &Descriptor) -> bool {
    d.artifact_type()
        .as_ref()
        .is_some_and(|t| t.to_string() == BUNDLE_MEDIA_TYPE)
}

/// An attestation (annotated with a predicate type, or holding a DSSE envelope), not a
/// signature.
fn is_attestation(d: &Descriptor, bundle: &str) -> bool {
    d.annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(PREDICATE_TYPE_ANNOTATION))
        || serde_json::from_str::<serde_json::Value>(bundle)
            .is_ok_and(|b| b["dsseEnvelope"].is_object())
}
