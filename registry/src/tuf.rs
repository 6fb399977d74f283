//! Refreshing the Sigstore trusted root through TUF, the way Sigstore clients do: the
//! root-signing repository (`https://tuf-repo-cdn.sigstore.dev`) publishes
//! `trusted_root.json` as a TUF target, and the chain from a root.json this client
//! already trusts (shipped in `data/sigstore-tuf-root.json`) to that target is verified
//! by `tough`: root rotation (each new root signed by the old one's and its own
//! threshold), timestamp, snapshot and targets signatures, versions never going back,
//! expiry, and the target's length and SHA-256.
//!
//! The shipped `trusted_root.json` stays the offline fallback: [`refresh`] only returns
//! a root, the caller decides where it is kept.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tough::{
    IntoVec, RepositoryLoader, TargetName, Transport, TransportError, TransportErrorKind,
    TransportStream,
};
use url::Url;

use crate::sigstore_bundle::TrustedRoot;

/// The public-good TUF repository of Sigstore.
pub const PUBLIC_GOOD_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";
/// The TUF target that is the trusted root.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";
/// Sigstore's TUF root.json as shipped (the start of the chain).
pub const SHIPPED_TUF_ROOT: &[u8] = include_bytes!("../data/sigstore-tuf-root.json");

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum TufError {
    #[error("`{0}` is not a URL: {1}")]
    Url(String, String),
    #[error("the TUF repository at {mirror} does not verify or cannot be read: {reason}")]
    Repository { mirror: String, reason: String },
    #[error("the TUF repository at {0} has no `trusted_root.json` target")]
    NoTarget(String),
    #[error("the `trusted_root.json` the TUF repository signs is not a usable trusted root: {0}")]
    BadTrustedRoot(String),
}

/// Fetches `trusted_root.json` from the TUF repository at `mirror` (metadata at the
/// root of it, targets under `targets/`), verified from the TUF `root` (root.json
/// bytes). Metadata already seen is cached in `datastore` so versions never go back.
/// Returns the target's bytes, which parse as a trusted root.
pub async fn refresh(
    root: &[u8],
    mirror: &str,
    datastore: &std::path::Path,
    timeout: Duration,
) -> Result<Vec<u8>, TufError> {
    let base = Url::parse(&format!("{}/", mirror.trim_end_matches('/')))
        .map_err(|e| TufError::Url(mirror.to_string(), e.to_string()))?;
    let targets = base
        .join("targets/")
        .map_err(|e| TufError::Url(mirror.to_string(), e.to_string()))?;
    let failed = |e: &dyn std::fmt::Display| TufError::Repository {
        mirror: mirror.to_string(),
        reason: e.to_string(),
    };
    let http = reqwest::Client::builder()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .build()
        .map_err(|e| failed(&e))?;
    let repo = RepositoryLoader::new(&root, base, targets)
        .transport(HttpTransport { http })
        .datastore(datastore)
        .load()
        .await
        .map_err(|e| failed(&chain(&e)))?;
    let name = TargetName::new(TRUSTED_ROOT_TARGET).expect("a valid target name");
    let stream = repo
        .read_target(&name)
        .await
        .map_err(|e| failed(&chain(&e)))?
        .ok_or_else(|| TufError::NoTarget(mirror.to_string()))?;
    let bytes = stream.into_vec().await.map_err(|e| failed(&chain(&e)))?;
    TrustedRoot::from_json(&bytes).map_err(|e| TufError::BadTrustedRoot(e.to_string()))?;
    Ok(bytes)
}

/// An error and its causes, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = c.source();
    }
    text
}

/// HTTP(S) for tough, through the same reqwest as the rest of chitin. A 404 is "not
/// found", which TUF needs to know when it looks for the next root version.
#[derive(Debug, Clone)]
struct HttpTransport {
    http: reqwest::Client,
}

#[async_trait]
impl Transport for HttpTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::new(
                TransportErrorKind::UnsupportedUrlScheme,
                url,
            ));
        }
        let response = self.http.get(url.clone()).send().await.map_err(|e| {
            TransportError::new_with_cause(TransportErrorKind::Other, url.clone(), e)
        })?;
        match response.status().as_u16() {
            200..=299 => {}
            403 | 404 => {
                return Err(TransportError::new(TransportErrorKind::FileNotFound, url));
            }
            code => {
                return Err(TransportError::new_with_cause(
                    TransportErrorKind::Other,
                    url,
                    format!("HTTP {code}"),
                ));
            }
        }
        let stream = response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| {
                TransportError::new_with_cause(TransportErrorKind::Other, url.clone(), e)
            })
        });
        Ok(Box::pin(stream))
    }
}

/// A TUF repository for tests, made with tough's editor: one ECDSA P-256 key for every
/// role, consistent snapshots (as Sigstore's), `trusted_root.json` as its target, served
/// over HTTP on 127.0.0.1.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use std::collections::HashMap;
    use std::num::NonZeroU64;
    use std::path::{Path, PathBuf};

    use tough::editor::RepositoryEditor;
    use tough::editor::signed::{PathExists, SignedRole};
    use tough::key_source::{KeySource, LocalKeySource};
    use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};

    /// The repository's files: `root.json` (its first root), and `repo/` as served.
    pub struct TestTufRepo {
        pub dir: tempfile::TempDir,
        key: PathBuf,
        /// The signed root.json a client starts from.
        pub root_json: Vec<u8>,
        version: u64,
    }

    fn keys(path: &Path) -> Vec<Box<dyn KeySource>> {
        vec![Box::new(LocalKeySource {
            path: path.to_path_buf(),
        })]
    }

    impl TestTufRepo {
        /// A new repository (fresh key) publishing `trusted_root` as `trusted_root.json`.
        pub async fn new(trusted_root: &[u8]) -> TestTufRepo {
            let dir = tempfile::tempdir().expect("temp dir");
            let key = dir.path().join("key.pk8");
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
            std::fs::write(&key, pair.serialize_der()).expect("write key");
            let sign = LocalKeySource { path: key.clone() }
                .as_sign()
                .await
                .expect("tough reads the key");
            let tuf_key = sign.tuf_key();
            let id = tuf_key.key_id().expect("key id");
            let role = || RoleKeys {
                keyids: vec![id.clone()],
                threshold: NonZeroU64::new(1).expect("1"),
                _extra: HashMap::new(),
            };
            let root = Root {
                spec_version: "1.0.0".into(),
                consistent_snapshot: true,
                version: NonZeroU64::new(1).expect("1"),
                expires: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365),
                keys: HashMap::from([(id.clone(), tuf_key)]),
                roles: HashMap::from([
                    (RoleType::Root, role()),
                    (RoleType::Snapshot, role()),
                    (RoleType::Targets, role()),
                    (RoleType::Timestamp, role()),
                ]),
                _extra: HashMap::new(),
            };
            let signed = SignedRole::new(
                root.clone(),
                &KeyHolder::Root(root),
                &keys(&key),
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .await
            .expect("sign root");
            let root_json = signed.buffer().clone();
            std::fs::write(dir.path().join("root.json"), &root_json).expect("write root");
            let mut repo = TestTufRepo {
                dir,
                key,
                root_json,
                version: 0,
            };
            repo.publish(trusted_root).await;
            repo
        }

        /// Publish `trusted_root` as a new version of the target (new targets, snapshot
        /// and timestamp versions).
        pub async fn publish(&mut self, trusted_root: &[u8]) {
            self.version += 1;
            let version = NonZeroU64::new(self.version).expect("> 0");
            let staging = self.dir.path().join("staging");
            std::fs::create_dir_all(&staging).expect("mkdir");
            let target = staging.join(super::TRUSTED_ROOT_TARGET);
            std::fs::write(&target, trusted_root).expect("write target");
            let mut editor = RepositoryEditor::new(self.dir.path().join("root.json"))
                .await
                .expect("editor");
            let in_a_week = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 7);
            editor
                .add_target_paths(vec![target])
                .await
                .expect("add target")
                .targets_version(version)
                .expect("targets version")
                .targets_expires(in_a_week)
                .expect("targets expiry")
                .snapshot_version(version)
                .snapshot_expires(in_a_week)
                .timestamp_version(version)
                .timestamp_expires(in_a_week);
            let signed = editor.sign(&keys(&self.key)).await.expect("sign");
            let out = self.repo_dir();
            signed.write(&out).await.expect("write metadata");
            signed
                .copy_targets(&staging, out.join("targets"), PathExists::Replace)
                .await
                .expect("copy targets");
        }

        /// The folder served: metadata at its root, targets in `targets/`.
        pub fn repo_dir(&self) -> PathBuf {
            self.dir.path().join("repo")
        }

        /// Serve `repo_dir()` on 127.0.0.1 until the runtime stops; returns the base URL.
        pub async fn serve(&self) -> std::io::Result<String> {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            let root = self.repo_dir();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let root = root.clone();
                    tokio::spawn(async move { serve_file(&root, socket).await });
                }
            });
            Ok(url)
        }
    }

    /// One GET of a file below `root` (no `..`), 404 when missing.
    async fn serve_file(root: &Path, mut socket: tokio::net::TcpStream) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let file = (!path.contains(".."))
            .then(|| std::fs::read(root.join(path.trim_start_matches('/'))).ok())
            .flatten();
        let (status, body) = match file {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", Vec::new()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(&body).await;
        let _ = socket.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::testing::TestTufRepo;
    use super::*;
    use crate::sigstore_bundle::testing::TestSigstore;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// The trusted root comes through the TUF chain from the client's root.json, and
    /// nothing else does: a target changed on the mirror, or a repository signed by
    /// another root, is refused.
    #[test]
    fn the_trusted_root_is_fetched_through_a_verified_tuf_chain() {
        let rt = rt();
        rt.block_on(async {
            let first = TestSigstore::new().trusted_root_json();
            let mut repo = TestTufRepo::new(&first).await;
            let url = repo.serve().await.unwrap();
            let cache = tempfile::tempdir().unwrap();
            let t = Duration::from_secs(5);
            let got = refresh(&repo.root_json, &url, cache.path(), t)
                .await
                .unwrap();
            assert_eq!(got, first);

            // A newer version is picked up.
            let second = TestSigstore::new().trusted_root_json();
            repo.publish(&second).await;
            let got = refresh(&repo.root_json, &url, cache.path(), t)
                .await
                .unwrap();
            assert_eq!(got, second);

            // The mirror swaps the target's bytes: its hash no longer matches.
            let targets = repo.repo_dir().join("targets");
            for entry in std::fs::read_dir(&targets).unwrap() {
                let path = entry.unwrap().path();
                if path.to_string_lossy().ends_with(TRUSTED_ROOT_TARGET) {
                    std::fs::write(&path, TestSigstore::new().trusted_root_json()).unwrap();
                }
            }
            let fresh = tempfile::tempdir().unwrap();
            let err = refresh(&repo.root_json, &url, fresh.path(), t)
                .await
                .unwrap_err();
            assert!(matches!(err, TufError::Repository { .. }), "{err}");

            // Another repository, signed by keys the client's root does not name.
            let other = TestTufRepo::new(&first).await;
            let other_url = other.serve().await.unwrap();
            let fresh = tempfile::tempdir().unwrap();
            let err = refresh(&repo.root_json, &other_url, fresh.path(), t)
                .await
                .unwrap_err();
            assert!(matches!(err, TufError::Repository { .. }), "{err}");

            // Nothing listening: an error the caller can fall back on.
            let fresh = tempfile::tempdir().unwrap();
            let err = refresh(&repo.root_json, "http://127.0.0.1:9", fresh.path(), t)
                .await
                .unwrap_err();
            assert!(matches!(err, TufError::Repository { .. }), "{err}");
        });
    }

    #[test]
    fn the_shipped_tuf_root_parses() {
        let v: serde_json::Value = serde_json::from_slice(SHIPPED_TUF_ROOT).unwrap();
        assert_eq!(v["signed"]["_type"], "root");
    }
}
