//! Talking to OCI registries: push a skill artifact, resolve a tag or semver range to a
//! digest, fetch a manifest with a size limit, stream a blob to disk while re-checking
//! its digest. Built on `oci-client` (auth, tags, blob upload and download); manifests
//! are fetched here with `reqwest` because `oci-client` buffers them whole with no size
//! limit, which a hostile registry could use to exhaust memory.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::RegistryError;
use crate::artifact::{Artifact, MAX_MANIFEST_BYTES};
use crate::reference::{OciRef, is_loopback_registry};

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) that may be reached over plain HTTP. Loopback
    /// registries always may.
    pub insecure: Vec<String>,
    /// Give up on a connection or a stalled read after this long.
    pub timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A reference resolved to one immutable manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// `registry/repository@sha256:…`
    pub reference: Reference,
    pub digest: String,
    /// The tag it was resolved from, if any.
    pub tag: Option<String>,
}

/// A registry client for skills.
pub struct RegistryClient {
    pub(crate) client: Client,
    http: reqwest::Client,
    options: RegistryOptions,
}

impl RegistryClient {
    pub fn new(options: RegistryOptions) -> Result<Self, RegistryError> {
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(options.insecure.clone()),
            read_timeout: Some(options.timeout),
            connect_timeout: Some(options.timeout),
            ..Default::default()
        };
        let http = reqwest::Client::builder()
            .connect_timeout(options.timeout)
            .read_timeout(options.timeout)
            .build()
            .map_err(|e| RegistryError::Transport(e.to_string()))?;
        Ok(Self {
            client: Client::new(config),
            http,
            options,
        })
    }

    /// A client that may use plain HTTP for `r`'s registry only when it is on this
    /// machine or listed as insecure.
    pub fn for_ref(r: &OciRef, options: &RegistryOptions) -> Result<Self, RegistryError> {
        let mut options = options.clone();
        let registry = r.reference.resolve_registry().to_string();
        if is_loopback_registry(&registry) && !options.insecure.contains(&registry) {
            options.insecure.push(registry);
        }
        Self::new(options)
    }

    pub(crate) fn scheme(&self, registry: &str) -> &'static str {
        if self.options.insecure.iter().any(|r| r == registry) {
            "http"
        } else {
            "https"
        }
    }

    /// Push an artifact; returns the manifest digest. The manifest is pushed as the
    /// exact bytes whose digest we computed, so the digest is known before the push.
    pub async fn push(
        &self,
        artifact: &Artifact,
        target: &OciRef,
        auth: &RegistryAuth,
    ) -> Result<Pinned, RegistryError> {
        let r = &target.reference;
        if target.range.is_some() || r.digest().is_some() {
            return Err(RegistryError::Reference {
                input: target.reference.whole(),
                reason: "push to a tag, like `registry/repo:1.2.0`".into(),
            });
        }
        self.client
            .auth(r, auth, RegistryOperation::Push)
            .await
            .map_err(|e| map_oci(e, r))?;
        let layer = &artifact.manifest.layers[0];
        self.client
            .push_blob(r, artifact.wasm.clone(), &layer.digest)
            .await
            .map_err(|e| map_oci(e, r))?;
        self.client
            .push_blob(r, artifact.config.clone(), &artifact.manifest.config.digest)
            .await
            .map_err(|e| map_oci(e, r))?;
        let bytes = artifact.manifest_bytes();
        let digest = crate::artifact::sha256_digest(&bytes);
        self.client
            .push_manifest_raw(
                r,
                bytes,
                http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
            .map_err(|e| map_oci(e, r))?;
        Ok(Pinned {
            reference: r.clone_with_digest(digest.clone()),
            digest,
            tag: r.tag().map(str::to_string),
        })
    }

    /// Log in for pulls from `r`'s repository (blob pulls use the token).
    pub async fn authenticate(
        &self,
        r: &Reference,
        auth: &RegistryAuth,
    ) -> Result<(), RegistryError> {
        self.client
            .auth(r, auth, RegistryOperation::Pull)
            .await
            .map(|_| ())
            .map_err(|e| map_oci(e, r))
    }

    /// Every tag of a repository (following pagination).
    pub async fn list_tags(
        &self,
        r: &Reference,
        auth: &RegistryAuth,
    ) -> Result<Vec<String>, RegistryError> {
        const PAGE: usize = 1000;
        let mut all: Vec<String> = Vec::new();
        for _ in 0..100 {
            let page = self
                .client
                .list_tags(r, auth, Some(PAGE), all.last().map(String::as_str))
                .await
                .map_err(|e| map_oci(e, r))?;
            let n = page.tags.len();
            all.extend(page.tags);
            if n < PAGE {
                break;
            }
        }
        Ok(all)
    }

    /// Resolve a tag, digest or semver range to a pinned manifest digest.
    pub async fn resolve(&self, r: &OciRef, auth: &RegistryAuth) -> Result<Pinned, RegistryError> {
        let reference = &r.reference;
        if let Some(digest) = reference.digest() {
            return Ok(Pinned {
                reference: reference.clone(),
                digest: digest.to_string(),
                tag: reference.tag().map(str::to_string),
            });
        }
        let tag = match &r.range {
            Some(range) => {
                let tags = self.list_tags(reference, auth).await?;
                best_match(&tags, range).ok_or_else(|| RegistryError::NoMatchingVersion {
                    repository: r.repository(),
                    range: range.to_string(),
                    available: tags
                        .iter()
                        .filter(|t| semver::Version::parse(t.trim_start_matches('v')).is_ok())
                        .cloned()
                        .collect(),
                })?
            }
            None => reference.tag().unwrap_or("latest").to_string(),
        };
        let tagged = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            tag.clone(),
        );
        let digest = match self.fetch_manifest(&tagged, auth).await {
            Ok((_, digest)) => digest,
            // Say which tags there are, as for a range that matches none.
            Err(RegistryError::NotFound(_)) if r.range.is_none() => {
                return Err(RegistryError::NoSuchTag {
                    repository: r.repository(),
                    tag,
                    // Not the signature tags (`sha256-<hex>.sig`); a few dozen at most.
                    available: self
                        .list_tags(reference, auth)
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|t| !t.starts_with("sha256-"))
                        .take(30)
                        .collect(),
                });
            }
            Err(e) => return Err(e),
        };
        Ok(Pinned {
            reference: tagged.clone_with_digest(digest.clone()),
            digest,
            tag: Some(tag),
        })
    }

    /// Fetch a manifest (at most [`MAX_MANIFEST_BYTES`]); returns its bytes and digest.
    /// When `r` names a digest, the bytes must hash to it.
    pub async fn fetch_manifest(
        &self,
        r: &Reference,
        auth: &RegistryAuth,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let target = r.digest().or(r.tag()).unwrap_or("latest");
        let accept = format!(
            "{OCI_IMAGE_MEDIA_TYPE}, {OCI_IMAGE_INDEX_MEDIA_TYPE}, \
             application/vnd.docker.distribution.manifest.v2+json"
        );
        let body = self
            .get_limited(r, auth, &format!("manifests/{target}"), &accept)
            .await?;
        let digest = crate::artifact::sha256_digest(&body);
        if let Some(expected) = r.digest()
            && expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: "manifest".into(),
                expected: expected.to_string(),
                actual: digest,
            });
        }
        Ok((body, digest))
    }

    /// GET `/v2/<repository>/<path>` with a body of at most [`MAX_MANIFEST_BYTES`].
    pub(crate) async fn get_limited(
        &self,
        r: &Reference,
        auth: &RegistryAuth,
        path: &str,
        accept: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let token = self
            .client
            .auth(r, auth, RegistryOperation::Pull)
            .await
            .map_err(|e| map_oci(e, r))?;
        let registry = r.resolve_registry();
        let url = format!(
            "{}://{registry}/v2/{}/{path}",
            self.scheme(registry),
            r.repository()
        );
        let mut req = self.http.get(&url).header(reqwest::header::ACCEPT, accept);
        req = match (token, auth) {
            (Some(token), _) => req.bearer_auth(token),
            (None, RegistryAuth::Basic(user, pass)) => req.basic_auth(user, Some(pass)),
            _ => req,
        };
        let resp = req.send().await.map_err(|e| transport(e, &url))?;
        check_status(resp.status(), r)?;
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_BYTES as u64)
        {
            return Err(RegistryError::TooLarge {
                what: "manifest".into(),
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport(e, &url))?;
            if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(RegistryError::TooLarge {
                    what: "manifest".into(),
                    limit: MAX_MANIFEST_BYTES as u64,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Stream a blob into `dest` (created), hashing as it goes. Fails — leaving the
    /// file to the caller to delete — if the registry sends more than `size` bytes,
    /// fewer, or bytes that do not hash to `digest`.
    pub async fn pull_blob_to(
        &self,
        r: &Reference,
        digest: &str,
        size: u64,
        dest: &Path,
        progress: impl FnMut(u64),
    ) -> Result<(), RegistryError> {
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| RegistryError::Io(dest.to_path_buf(), e))?;
        let io = |e| RegistryError::Io(dest.to_path_buf(), e);
        self.pull_blob_into(r, digest, size, &mut file, io, progress)
            .await?;
        file.sync_all()
            .await
            .map_err(|e| RegistryError::Io(dest.to_path_buf(), e))
    }

    /// A small blob (at most `limit` bytes) into memory, size and digest checked.
    pub async fn pull_small_blob(
        &self,
        r: &Reference,
        digest: &str,
        size: u64,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        if size > limit {
            return Err(RegistryError::TooLarge {
                what: format!("blob {digest}"),
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        let io = |e: std::io::Error| RegistryError::Transport(e.to_string());
        self.pull_blob_into(r, digest, size, &mut bytes, io, |_| {})
            .await?;
        Ok(bytes)
    }

    /// Stream a blob into `sink`, checking size and digest; `io` names the sink in a
    /// write error.
    async fn pull_blob_into<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        r: &Reference,
        digest: &str,
        size: u64,
        sink: &mut W,
        io: impl Fn(std::io::Error) -> RegistryError,
        mut progress: impl FnMut(u64),
    ) -> Result<(), RegistryError> {
        let descriptor = oci_client::manifest::OciDescriptor {
            digest: digest.to_string(),
            size: size as i64,
            media_type: crate::artifact::LAYER_MEDIA_TYPE.into(),
            ..Default::default()
        };
        let mut stream = self
            .client
            .pull_blob_stream(r, &descriptor)
            .await
            .map_err(|e| map_oci(e, r))?;
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        while let Some(chunk) = stream.stream.next().await {
            let chunk = chunk.map_err(|e| body_error(e, digest, received, size))?;
            received += chunk.len() as u64;
            if received > size {
                return Err(RegistryError::TooLarge {
                    what: format!("blob {digest} (declared {size} bytes)"),
                    limit: size,
                });
            }
            hasher.update(&chunk);
            sink.write_all(&chunk).await.map_err(&io)?;
            progress(received);
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if received != size || actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob ({received} of {size} bytes received)"),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

/// The highest tag that parses as semver (a leading `v` allowed) and fits `range`.
pub fn best_match(tags: &[String], range: &semver::VersionReq) -> Option<String> {
    tags.iter()
        .filter_map(|t| {
            semver::Version::parse(t.trim_start_matches('v'))
                .ok()
                .map(|v| (v, t))
        })
        .filter(|(v, _)| range.matches(v))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.clone())
}

/// A reqwest error with its whole cause chain (its own text leaves the cause out).
fn transport(e: reqwest::Error, url: &str) -> RegistryError {
    if is_timeout(&e) {
        return RegistryError::Transport(format!("{url}: timed out"));
    }
    if e.is_connect() {
        // The innermost cause ("Connection refused", "failed to lookup address") says
        // why; the layers above it repeat the URL.
        let mut reason = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(cause) = cur {
            reason = cause.to_string();
            cur = cause.source();
        }
        let registry = e
            .url()
            .map(|u| match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_string(),
            })
            .unwrap_or_else(|| url.to_string());
        return RegistryError::Unreachable { registry, reason };
    }
    RegistryError::Transport(format!("{url}: {}", with_causes(&e)))
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && r.is_timeout()
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(cause) = cur {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        cur = cause.source();
    }
    text
}

/// An error while streaming a blob body: oci-client's own digest check (reported as
/// an io error) becomes a digest mismatch; timeouts say so; anything else keeps its
/// cause ("end of file before message length reached").
fn body_error(e: std::io::Error, digest: &str, received: u64, size: u64) -> RegistryError {
    if let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<oci_client::errors::DigestError>())
    {
        return RegistryError::DigestMismatch {
            what: format!("blob ({received} of {size} bytes received)"),
            expected: expected.clone(),
            actual: actual.clone(),
        };
    }
    if is_timeout(&e) {
        return RegistryError::Transport(format!(
            "reading {digest}: timed out after {received} of {size} bytes"
        ));
    }
    RegistryError::Transport(format!(
        "reading {digest} ({received} of {size} bytes received): {}",
        with_causes(&e)
    ))
}

fn check_status(status: reqwest::StatusCode, r: &Reference) -> Result<(), RegistryError> {
    match status.as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(RegistryError::Unauthorized(
            r.resolve_registry().to_string(),
        )),
        404 => Err(RegistryError::NotFound(r.whole())),
        code => Err(RegistryError::Status {
            status: code,
            what: r.whole(),
        }),
    }
}

/// Map oci-client errors onto ours, keeping the message.
pub(crate) fn map_oci(e: oci_client::errors::OciDistributionError, r: &Reference) -> RegistryError {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => {
            RegistryError::Unauthorized(r.resolve_registry().to_string())
        }
        E::ImageManifestNotFoundError(_) => RegistryError::NotFound(r.whole()),
        E::ServerError {
            code: 401 | 403, ..
        } => RegistryError::Unauthorized(r.resolve_registry().to_string()),
        E::ServerError { code: 404, .. } => RegistryError::NotFound(r.whole()),
        E::ServerError { code, .. } => RegistryError::Status {
            status: code,
            what: r.whole(),
        },
        E::RequestError(e) => transport(e, r.resolve_registry()),
        other => RegistryError::Transport(format!("{}: {other}", r.resolve_registry())),
    }
}

/// The docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn credentials_path() -> std::path::PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => std::path::PathBuf::from(dir).join("config.json"),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".docker/config.json"),
    }
}

/// Save a login the way `docker login` does (an `auths` entry with base64
/// `user:password`), so chitin, docker, oras and wkg all see it. The file is written
/// atomically with mode 0600; other entries are kept.
pub fn store_credentials(
    path: &Path,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<(), RegistryError> {
    use base64::Engine as _;
    let io = |e| RegistryError::Io(path.to_path_buf(), e);
    let mut config: serde_json::Value = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| RegistryError::Lock {
            path: path.to_path_buf(),
            reason: format!("not valid JSON: {e}"),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(io(e)),
    };
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    if !config["auths"].is_object() {
        config["auths"] = serde_json::json!({});
    }
    config["auths"][registry] = serde_json::json!({ "auth": auth });
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    // Credentials: readable by the owner only.
    crate::atomic::write(path, config.to_string().as_bytes()).map_err(io)
}

/// Credentials for a registry: `CHITIN_REGISTRY_USERNAME`/`CHITIN_REGISTRY_PASSWORD`,
/// then the docker config (`~/.docker/config.json`, including credential helpers),
/// else anonymous.
pub fn auth_for(registry: &str) -> RegistryAuth {
    if let (Ok(user), Ok(pass)) = (
        std::env::var("CHITIN_REGISTRY_USERNAME"),
        std::env::var("CHITIN_REGISTRY_PASSWORD"),
    ) {
        return RegistryAuth::Basic(user, pass);
    }
    match docker_credential::get_credential(registry) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => {
            RegistryAuth::Basic(u, p)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(t)) => RegistryAuth::Bearer(t),
        Err(_) => RegistryAuth::Anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_ranges_pick_the_highest_match() {
        let tags: Vec<String> = [
            "1.0.0",
            "1.2.0",
            "v1.3.1",
            "2.0.0",
            "latest",
            "1.4.0-beta.1",
        ]
        .map(String::from)
        .to_vec();
        let r = |s: &str| semver::VersionReq::parse(s).unwrap();
        assert_eq!(best_match(&tags, &r("^1.2")).as_deref(), Some("v1.3.1"));
        assert_eq!(best_match(&tags, &r("~1.2")).as_deref(), Some("1.2.0"));
        assert_eq!(best_match(&tags, &r(">=2")).as_deref(), Some("2.0.0"));
        assert_eq!(best_match(&tags, &r("^3")), None);
    }
}
