//! Storing and finding signatures of a skill in its registry, where cosign keeps them:
//!
//! - cosign signatures under the tag `sha256-<hex>.sig` of the same repository: an
//!   image whose layers are simple-signing payloads, the signature in an annotation
//!   (one layer per signature; signing again appends);
//! - Sigstore bundles as OCI 1.1 referrers of the skill's manifest (`subject`), found
//!   through the referrers API or, on registries without it (such as the CNCF
//!   `docker-registry` 2.x), the referrers tag `sha256-<hex>` that lists them.
//!
//! Everything fetched is size-limited and digest-checked like the skill itself; a
//! registry can withhold signatures but not forge them.

use oci_client::Reference;
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use serde_json::{Value, json};

use crate::RegistryError;
use crate::artifact::sha256_digest;
use crate::oci::{RegistryClient, map_oci};
use crate::signing::{
    BUNDLE_MEDIA_TYPE, Envelope, MAX_SIGNATURE_BYTES, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE, signature_tag,
};

const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// A repository with more signatures on one digest than this is not honest.
const MAX_SIGNATURES: usize = 32;

impl RegistryClient {
    /// Every signature stored for `digest` in `repo`'s repository: cosign signatures and
    /// Sigstore bundles. None is an empty list, not an error.
    pub async fn fetch_signatures(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
    ) -> Result<Vec<Envelope>, RegistryError> {
        let mut found = self.fetch_cosign_signatures(repo, digest, auth).await?;
        found.extend(self.fetch_bundles(repo, digest, auth).await?);
        Ok(found)
    }

    async fn fetch_cosign_signatures(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
    ) -> Result<Vec<Envelope>, RegistryError> {
        let tag = tagged(repo, &signature_tag(digest));
        let manifest = match self.fetch_manifest(&tag, auth).await {
            Ok((bytes, _)) => parse_json(&bytes, "signature manifest")?,
            Err(RegistryError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found = Vec::new();
        for (layer_digest, size, signature) in cosign_layers(&manifest)? {
            let payload = self
                .pull_small_blob(&tag, &layer_digest, size, MAX_SIGNATURE_BYTES as u64)
                .await?;
            found.push(cosign_envelope(&payload, signature));
        }
        Ok(found)
    }

    async fn fetch_bundles(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
    ) -> Result<Vec<Envelope>, RegistryError> {
        let found = self
            .fetch_referrer_blobs(repo, digest, auth, BUNDLE_MEDIA_TYPE, MAX_SIGNATURE_BYTES)
            .await?;
        let mut bundles = Vec::new();
        for (annotations, bytes) in found {
            let bundle = String::from_utf8(bytes)
                .map_err(|_| RegistryError::NotASkill("a Sigstore bundle is not UTF-8".into()))?;
            // Attestations are statements about the skill, not signatures of it.
            if is_attestation(&annotations, &bundle) {
                continue;
            }
            bundles.push(Envelope::Bundle { bundle });
        }
        Ok(bundles)
    }

    /// The Sigstore bundles with DSSE envelopes (attestations, such as SLSA provenance)
    /// attached to `digest` in `repo`'s repository, as JSON; unverified.
    pub async fn fetch_attestations(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
    ) -> Result<Vec<String>, RegistryError> {
        let found = self
            .fetch_referrer_blobs(
                repo,
                digest,
                auth,
                BUNDLE_MEDIA_TYPE,
                crate::provenance::MAX_ATTESTATION_BYTES,
            )
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|(annotations, bytes)| {
                let bundle = String::from_utf8(bytes).ok()?;
                is_attestation(&annotations, &bundle).then_some(bundle)
            })
            .collect())
    }

    /// The referrers of `digest` with `artifact_type`: each one's manifest annotations,
    /// and its one layer of that media type (at most `limit` bytes). Only manifests whose
    /// `subject` is this very digest count, whatever an index claims.
    pub async fn fetch_referrer_blobs(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
        artifact_type: &str,
        limit: usize,
    ) -> Result<Vec<(Value, Vec<u8>)>, RegistryError> {
        Ok(self
            .fetch_referrers(repo, digest, auth, artifact_type, limit)
            .await?
            .into_iter()
            .map(|r| (r.manifest["annotations"].clone(), r.blob))
            .collect())
    }

    /// The referrers of `digest` with `artifact_type`: each one's manifest (bytes and
    /// digest) and its layer of that media type.
    pub async fn fetch_referrers(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
        artifact_type: &str,
        limit: usize,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let Some(index) = self.referrers(repo, digest, auth).await? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for entry in manifests(&index).iter().take(MAX_SIGNATURES) {
            if entry["artifactType"] != artifact_type {
                continue;
            }
            let (manifest_digest, _) = descriptor(entry)?;
            let at = repo.clone_with_digest(manifest_digest.to_string());
            let (bytes, manifest_digest) = self.fetch_manifest(&at, auth).await?;
            let manifest = parse_json(&bytes, "referrer manifest")?;
            let Some((layer_digest, size)) = referrer_layer(&manifest, digest, artifact_type)?
            else {
                continue;
            };
            let blob = self
                .pull_small_blob(&at, &layer_digest, size, limit as u64)
                .await?;
            found.push(Referrer {
                manifest,
                manifest_bytes: bytes,
                manifest_digest,
                blob,
            });
        }
        Ok(found)
    }

    /// The referrers index of `digest`: from the referrers API, else from the
    /// referrers tag; `None` when there is neither.
    async fn referrers(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
    ) -> Result<Option<Value>, RegistryError> {
        let path = format!("referrers/{digest}");
        match self
            .get_limited(repo, auth, &path, OCI_IMAGE_INDEX_MEDIA_TYPE)
            .await
        {
            Ok(bytes) => return Ok(Some(parse_json(&bytes, "referrers index")?)),
            Err(RegistryError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        match self
            .fetch_manifest(&tagged(repo, &referrers_tag(digest)), auth)
            .await
        {
            Ok((bytes, _)) => Ok(Some(parse_json(&bytes, "referrers tag index")?)),
            Err(RegistryError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Store a signature next to the skill `digest` in `repo`'s repository.
    pub async fn push_signature(
        &self,
        repo: &Reference,
        digest: &str,
        subject_size: usize,
        envelope: &Envelope,
        auth: &RegistryAuth,
    ) -> Result<(), RegistryError> {
        self.client
            .auth(repo, auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| map_oci(e, repo))?;
        match envelope {
            Envelope::Cosign { signature, .. } => {
                let (payload, _) = envelope.cosign_parts().expect("a cosign envelope")?;
                self.push_cosign(repo, digest, payload, signature, auth)
                    .await
            }
            Envelope::Bundle { bundle } => {
                self.push_bundle(repo, digest, subject_size, bundle.as_bytes(), auth)
                    .await
            }
        }
    }

    async fn push_cosign(
        &self,
        repo: &Reference,
        digest: &str,
        payload: Vec<u8>,
        signature: &str,
        auth: &RegistryAuth,
    ) -> Result<(), RegistryError> {
        let tag = tagged(repo, &signature_tag(digest));
        let mut layers: Vec<Value> = match self.fetch_manifest(&tag, auth).await {
            Ok((bytes, _)) => layers(&parse_json(&bytes, "signature manifest")?).to_vec(),
            Err(RegistryError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let layer = cosign_layer(&payload, signature);
        if layers.contains(&layer) {
            return Ok(());
        }
        self.put_blob(&tag, payload).await?;
        layers.push(layer);
        let (manifest, config) = cosign_manifest(layers);
        self.put_blob(&tag, config).await?;
        self.put_manifest(&tag, &manifest, OCI_IMAGE_MEDIA_TYPE)
            .await
    }

    async fn push_bundle(
        &self,
        repo: &Reference,
        digest: &str,
        subject_size: usize,
        bundle: &[u8],
        auth: &RegistryAuth,
    ) -> Result<(), RegistryError> {
        let manifest = bundle_manifest(digest, subject_size, bundle);
        self.push_referrer(repo, digest, bundle, &manifest, auth)
            .await
            .map(|_| ())
    }

    /// Attach a keyless attestation bundle (a DSSE envelope) to the skill `digest` as
    /// an OCI referrer, annotated with its predicate type as cosign does.
    pub async fn push_attestation(
        &self,
        repo: &Reference,
        digest: &str,
        subject_size: usize,
        bundle: &[u8],
        predicate_type: &str,
        auth: &RegistryAuth,
    ) -> Result<(), RegistryError> {
        self.client
            .auth(repo, auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| map_oci(e, repo))?;
        let manifest = attestation_manifest(digest, subject_size, bundle, predicate_type);
        self.push_referrer(repo, digest, bundle, &manifest, auth)
            .await
            .map(|_| ())
    }

    /// Push an artifact `manifest` whose one layer is `blob` and whose `subject` is
    /// `digest`, and list it where referrers are found. Returns the manifest's bytes and
    /// digest. The caller has authenticated for push.
    pub async fn push_referrer(
        &self,
        repo: &Reference,
        digest: &str,
        blob: &[u8],
        manifest: &Value,
        auth: &RegistryAuth,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        self.put_blob(repo, EMPTY_CONFIG.to_vec()).await?;
        self.put_blob(repo, blob.to_vec()).await?;
        let bytes = serde_json::to_vec(manifest).expect("JSON serializes");
        let manifest_digest = sha256_digest(&bytes);
        let at = repo.clone_with_digest(manifest_digest.clone());
        self.put_manifest(&at, manifest, OCI_IMAGE_MEDIA_TYPE)
            .await?;
        // A registry with the referrers API indexes it by itself; otherwise keep the
        // referrers tag (the OCI 1.1 fallback cosign also uses) up to date.
        let path = format!("referrers/{digest}");
        match self
            .get_limited(repo, auth, &path, OCI_IMAGE_INDEX_MEDIA_TYPE)
            .await
        {
            Ok(_) => return Ok((bytes, manifest_digest)),
            Err(RegistryError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let tag = tagged(repo, &referrers_tag(digest));
        let mut entries: Vec<Value> = match self.fetch_manifest(&tag, auth).await {
            Ok((bytes, _)) => manifests(&parse_json(&bytes, "referrers tag index")?).to_vec(),
            Err(RegistryError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut entry = json!({
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "artifactType": manifest["artifactType"],
            "digest": manifest_digest,
            "size": bytes.len(),
        });
        if manifest["annotations"].is_object() {
            entry["annotations"] = manifest["annotations"].clone();
        }
        entries.push(entry);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
            "manifests": entries,
        });
        self.put_manifest(&tag, &index, OCI_IMAGE_INDEX_MEDIA_TYPE)
            .await?;
        Ok((bytes, manifest_digest))
    }

    async fn put_blob(&self, r: &Reference, bytes: Vec<u8>) -> Result<(), RegistryError> {
        let digest = sha256_digest(&bytes);
        self.client
            .push_blob(r, bytes, &digest)
            .await
            .map(|_| ())
            .map_err(|e| map_oci(e, r))
    }

    async fn put_manifest(
        &self,
        r: &Reference,
        manifest: &Value,
        media_type: &'static str,
    ) -> Result<(), RegistryError> {
        let bytes = serde_json::to_vec(manifest).expect("JSON serializes");
        self.client
            .push_manifest_raw(r, bytes, http::HeaderValue::from_static(media_type))
            .await
            .map(|_| ())
            .map_err(|e| map_oci(e, r))
    }
}

/// The empty config of an OCI artifact.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// A cosign signature layer: the payload's descriptor, the signature annotated.
pub fn cosign_layer(payload: &[u8], signature: &str) -> Value {
    json!({
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": sha256_digest(payload),
        "size": payload.len(),
        "annotations": { SIGNATURE_ANNOTATION: signature },
    })
}

/// The cosign signature image for `layers`, and its config (an image config listing
/// the layers, as cosign writes it).
pub fn cosign_manifest(layers: Vec<Value>) -> (Value, Vec<u8>) {
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {},
        "created": "0001-01-01T00:00:00Z",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .expect("JSON serializes");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "config": {
            "mediaType": IMAGE_CONFIG_MEDIA_TYPE,
            "digest": sha256_digest(&config),
            "size": config.len(),
        },
        "layers": layers,
    });
    (manifest, config)
}

/// The signature layers of a cosign signature image: (payload digest, size,
/// base64 signature).
pub fn cosign_layers(manifest: &Value) -> Result<Vec<(String, u64, &str)>, RegistryError> {
    let mut out = Vec::new();
    for layer in layers(manifest).iter().take(MAX_SIGNATURES) {
        if layer["mediaType"] != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        let Some(signature) = layer["annotations"][SIGNATURE_ANNOTATION].as_str() else {
            continue;
        };
        let (digest, size) = descriptor(layer)?;
        out.push((digest.to_string(), size, signature));
    }
    Ok(out)
}

/// A cosign envelope from a fetched payload and its annotated signature.
pub fn cosign_envelope(payload: &[u8], signature: &str) -> Envelope {
    use base64::Engine as _;
    Envelope::Cosign {
        payload: base64::engine::general_purpose::STANDARD.encode(payload),
        signature: signature.to_string(),
    }
}

/// The OCI artifact carrying a Sigstore bundle as a referrer of `subject_digest`.
pub fn bundle_manifest(subject_digest: &str, subject_size: usize, bundle: &[u8]) -> Value {
    referrer_manifest(BUNDLE_MEDIA_TYPE, subject_digest, subject_size, bundle)
}

/// The referrer manifest of an attestation bundle: a bundle manifest annotated with the
/// attestation's predicate type, as cosign does.
pub fn attestation_manifest(
    subject_digest: &str,
    subject_size: usize,
    bundle: &[u8],
    predicate_type: &str,
) -> Value {
    let mut manifest = bundle_manifest(subject_digest, subject_size, bundle);
    manifest["annotations"] =
        json!({ crate::provenance::PREDICATE_TYPE_ANNOTATION: predicate_type });
    manifest
}

/// An OCI artifact of `artifact_type` whose one layer (of that media type) is `blob`,
/// referring to `subject_digest`.
pub fn referrer_manifest(
    artifact_type: &str,
    subject_digest: &str,
    subject_size: usize,
    blob: &[u8],
) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "artifactType": artifact_type,
        "config": {
            "mediaType": EMPTY_CONFIG_MEDIA_TYPE,
            "digest": sha256_digest(EMPTY_CONFIG),
            "size": EMPTY_CONFIG.len(),
        },
        "layers": [{
            "mediaType": artifact_type,
            "digest": sha256_digest(blob),
            "size": blob.len(),
        }],
        "subject": {
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "digest": subject_digest,
            "size": subject_size,
        },
    })
}

/// A referrer found for a digest.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub manifest: Value,
    pub manifest_bytes: Vec<u8>,
    pub manifest_digest: String,
    /// Its layer of the artifact type, digest-checked.
    pub blob: Vec<u8>,
}

/// An attestation rather than a signature: annotated with a predicate type, or a
/// bundle holding a DSSE envelope.
fn is_attestation(annotations: &Value, bundle: &str) -> bool {
    annotations[crate::provenance::PREDICATE_TYPE_ANNOTATION].is_string()
        || serde_json::from_str::<Value>(bundle)
            .map(|b| b["dsseEnvelope"].is_object())
            .unwrap_or(false)
}

/// The bundle layer of a bundle artifact, if it refers to `subject_digest` (only a
/// referrer of this very digest counts, whatever an index claims).
pub fn bundle_layer(
    manifest: &Value,
    subject_digest: &str,
) -> Result<Option<(String, u64)>, RegistryError> {
    referrer_layer(manifest, subject_digest, BUNDLE_MEDIA_TYPE)
}

/// The layer of media type `media_type` of an artifact, if it refers to
/// `subject_digest`.
pub fn referrer_layer(
    manifest: &Value,
    subject_digest: &str,
    media_type: &str,
) -> Result<Option<(String, u64)>, RegistryError> {
    if manifest["subject"]["digest"] != subject_digest {
        return Ok(None);
    }
    let Some(layer) = layers(manifest)
        .iter()
        .find(|l| l["mediaType"] == media_type)
    else {
        return Ok(None);
    };
    let (digest, size) = descriptor(layer)?;
    Ok(Some((digest.to_string(), size)))
}

/// The OCI 1.1 referrers tag of a digest: `sha256-<hex>`.
pub fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

fn tagged(repo: &Reference, tag: &str) -> Reference {
    Reference::with_tag(
        repo.registry().to_string(),
        repo.repository().to_string(),
        tag.to_string(),
    )
}

pub fn parse_json(bytes: &[u8], what: &str) -> Result<Value, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::NotASkill(format!("{what}: {e}")))
}

pub fn layers(manifest: &Value) -> &[Value] {
    manifest["layers"].as_array().map_or(&[], Vec::as_slice)
}

pub fn manifests(index: &Value) -> &[Value] {
    index["manifests"].as_array().map_or(&[], Vec::as_slice)
}

/// A descriptor's digest and size, checked for shape.
fn descriptor(d: &Value) -> Result<(&str, u64), RegistryError> {
    let digest = d["digest"]
        .as_str()
        .filter(|s| s.starts_with("sha256:") && s.len() == 71)
        .ok_or_else(|| RegistryError::NotASkill(format!("bad descriptor digest in {d}")))?;
    let size = d["size"]
        .as_u64()
        .ok_or_else(|| RegistryError::NotASkill(format!("bad descriptor size in {d}")))?;
    Ok((digest, size))
}
