//! The install pipeline against a hostile registry: every fault a registry (or the
//! network to it) can commit gives a clear error and leaves the store, the index and
//! the lock file exactly as they were; a process killed mid-install leaves the previous
//! state usable and the next run cleans up; two installs at once both land.
//!
//! The registry is `chitin_tests::fake_registry`, an in-memory OCI registry on a
//! loopback port, because a real one cannot be made to misbehave like this. Each test
//! first installs `file-search` from it honestly, then attempts a faulty install of
//! another skill (`git-reader`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use chitin_host::install::{Installer, load_installed};
use chitin_registry::signatures;
use chitin_registry::signing::{Envelope, KeyPair, signature_tag};
use chitin_registry::trust::{TrustError, TrustPolicy};

use chitin_host::{AuditLog, Grants, HostError, Outcome, Runtime, SkillEngine};
use chitin_registry::artifact::{
    ANNOTATION_MANIFEST, Artifact, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MAX_MANIFEST_BYTES,
};
use chitin_registry::{InstalledSkill, LockFile, RegistryError, RegistryOptions, Store};
use chitin_tests::Fixture;
use chitin_tests::fake_registry::{Behavior, FakeRegistry, Target};

/// No trust rules: installs here pass `allow_unsigned` (see the note in `install`).
static NO_POLICY: std::sync::LazyLock<TrustPolicy> = std::sync::LazyLock::new(TrustPolicy::default);

const TAG: &str = "0.1.0";
/// The client timeout the tests install with.
const TIMEOUT: Duration = Duration::from_secs(2);
/// No single install may take longer than this, whatever the registry does.
const GIVE_UP: Duration = Duration::from_secs(90);

fn repo(name: &str) -> String {
    format!("skills/{name}")
}

fn artifact(name: &str) -> Artifact {
    Artifact::from_component(chitin_tests::skill_bytes(name)).unwrap()
}

/// What must not change when an install fails.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    rows: Vec<InstalledSkill>,
    blobs: BTreeSet<String>,
    lock: Vec<u8>,
    tmp: BTreeSet<String>,
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn snapshot(store: &Store, root: &Path, lock: &Path) -> Snapshot {
    Snapshot {
        rows: store.list().unwrap(),
        blobs: files(&root.join("blobs/sha256")),
        lock: std::fs::read(lock).unwrap_or_default(),
        tmp: files(&root.join("tmp")),
    }
}

/// A fake registry with the test skills published, a store, and `file-search`
/// installed from the registry.
struct World {
    fx: Fixture,
    reg: FakeRegistry,
    store: Store,
    lock: PathBuf,
    /// `git-reader`, published as `skills/git-reader:0.1.0` — the target of the
    /// faulty installs.
    git: Artifact,
    git_digest: String,
}

impl World {
    async fn new() -> Self {
        let fx = Fixture::new();
        let reg = FakeRegistry::start();
        let store = Store::open(&fx.path("store"), &fx.path("chitin.db")).unwrap();
        let lock = fx.path("chitin.lock");
        reg.push(&repo("file-search"), TAG, &artifact("file-search"));
        let git = artifact("git-reader");
        let git_digest = reg.push(&repo("git-reader"), TAG, &git);
        let mut world = Self {
            fx,
            reg,
            store,
            lock,
            git,
            git_digest,
        };
        let good = world.reg.reference(&repo("file-search"), TAG);
        let installed = world.install(&good).await.unwrap();
        assert_eq!(installed.name, "file-search");
        world
    }

    fn root(&self) -> PathBuf {
        self.fx.path("store")
    }

    fn snapshot(&self) -> Snapshot {
        snapshot(&self.store, &self.root(), &self.lock)
    }

    /// Prepare and commit with the declared grants, as `install --yes` does.
    async fn install(&mut self, reference: &str) -> Result<InstalledSkill, HostError> {
        // The fake registry serves no signatures: these tests are about transport.
        self.install_under(reference, &NO_POLICY, true).await
    }

    /// [`World::install`] under a trust policy.
    async fn install_under(
        &mut self,
        reference: &str,
        policy: &TrustPolicy,
        allow_unsigned: bool,
    ) -> Result<InstalledSkill, HostError> {
        let mut installer = Installer {
            runtime: &self.fx.runtime,
            store: &mut self.store,
            options: RegistryOptions {
                timeout: TIMEOUT,
                ..Default::default()
            },
            lock_path: self.lock.clone(),
            policy,
            allow_unsigned,
            allow_repository_change: false,
        };
        let prepared = tokio::time::timeout(GIVE_UP, installer.prepare(reference, |_, _| {}))
            .await
            .unwrap_or_else(|_| panic!("installing {reference} hung for {GIVE_UP:?}"))?;
        let grants = prepared.manifest.capabilities.clone();
        installer.commit(prepared, grants)
    }

    /// Attempt an install that must fail with a registry error and change nothing.
    async fn refused(&mut self, reference: &str) -> RegistryError {
        let before = self.snapshot();
        let result = self.install(reference).await;
        let after = self.snapshot();
        let err = match result {
            Ok(s) => panic!("the faulty install of {reference} succeeded: {s:?}"),
            Err(HostError::Registry(e)) => e,
            Err(other) => panic!("expected a registry error installing {reference}, got {other:?}"),
        };
        assert_eq!(
            before, after,
            "the failed install ({err}) changed the store, index or lock file"
        );
        err
    }

    /// The installed `file-search` still works.
    async fn still_usable(&self) {
        let (skill, installed) =
            load_installed(&self.fx.runtime, &self.store, &NO_POLICY, "file-search").unwrap();
        let mut granted = skill.manifest.clone();
        granted.capabilities = installed.grants.clone();
        let grants = Grants::from_manifest(&granted, &self.fx.env).unwrap();
        let report = self.fx.runtime.invoke(&skill, &grants, "list", "{}").await;
        assert!(
            matches!(report.outcome, Outcome::Ok(_)),
            "{:?}",
            report.outcome
        );
    }

    fn git_layer(&self) -> (String, usize) {
        let layer = &self.git.manifest.layers[0];
        (layer.digest.clone(), layer.size as usize)
    }

    fn git_ref(&self) -> String {
        self.reg.reference(&repo("git-reader"), TAG)
    }

    /// Publish a doctored copy of git-reader's OCI manifest (same blobs) under `tag`.
    fn push_doctored(&self, tag: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut m = serde_json::to_value(&self.git.manifest).unwrap();
        edit(&mut m);
        self.reg
            .push_manifest(&repo("git-reader"), tag, serde_json::to_vec(&m).unwrap())
    }
}

// ------------------------------------------------------------- the baseline

/// The fake registry is good enough for an honest install, and the state the fault
/// tests compare against is what it should be.
#[tokio::test]
async fn an_honest_fake_registry_installs() {
    let mut w = World::new().await;
    let s = w.snapshot();
    assert_eq!(s.rows.len(), 1);
    let fs = &s.rows[0];
    assert_eq!(fs.name, "file-search");
    assert_eq!(fs.tag.as_deref(), Some(TAG));
    // Component, config and manifest, and nothing left in tmp/.
    assert_eq!(s.blobs.len(), 3, "{:?}", s.blobs);
    assert!(s.tmp.is_empty(), "{:?}", s.tmp);
    let lock = LockFile::read(&w.lock).unwrap();
    assert_eq!(lock.skills.len(), 1);
    assert_eq!(lock.skills[0].digest, fs.manifest_digest);
    w.still_usable().await;

    // A semver range resolves through the tag list.
    let range = format!("{}/{}:^0.1", w.reg.addr, repo("git-reader"));
    let git = w.install(&range).await.unwrap();
    assert_eq!(git.manifest_digest, w.git_digest);
    assert_eq!(w.store.list().unwrap().len(), 2);
}

// ------------------------------------------------------------- blobs

// Where chitin's errors are not yet what they should be, each fault has two tests: the
// one that runs checks the state is untouched and the error is at least about the
// right thing; the `#[ignore = "bug: …"]` one asks for the exact error, and is to be
// un-ignored with the fix.

/// Is this a refusal of the blob `digest` for not matching it? `strict` wants the
/// `DigestMismatch` error; otherwise any error naming the digest and a mismatch.
fn digest_refused(err: &RegistryError, digest: &str, strict: bool) -> bool {
    match err {
        RegistryError::DigestMismatch { expected, .. } => expected == digest,
        RegistryError::Transport(m) if !strict => {
            m.contains(digest) && m.to_lowercase().contains("digest")
        }
        _ => false,
    }
}

async fn wrong_blob(strict: bool) {
    let mut w = World::new().await;
    let (layer, _) = w.git_layer();
    // Same length, one byte flipped: only the digest can tell.
    let mut evil = w.git.wasm.clone();
    let mid = evil.len() / 2;
    evil[mid] ^= 0xff;
    w.reg
        .fault(Target::Blob(layer.clone()), Behavior::Bytes(evil));
    let r = w.git_ref();
    let err = w.refused(&r).await;
    assert!(digest_refused(&err, &layer, strict), "{err:?}");
    if strict {
        assert!(err.to_string().contains("digest mismatch"), "{err}");
    }
    w.still_usable().await;
}

#[tokio::test]
async fn a_blob_whose_digest_does_not_match_is_refused() {
    wrong_blob(false).await;
}

#[tokio::test]
async fn a_blob_whose_digest_does_not_match_is_a_digest_mismatch() {
    wrong_blob(true).await;
}

async fn wrong_config(strict: bool) {
    let mut w = World::new().await;
    let config = w.git.manifest.config.digest.clone();
    let mut evil = w.git.config.clone();
    evil[0] ^= 0x01;
    w.reg
        .fault(Target::Blob(config.clone()), Behavior::Bytes(evil));
    let r = w.git_ref();
    let err = w.refused(&r).await;
    assert!(digest_refused(&err, &config, strict), "{err:?}");
}

#[tokio::test]
async fn a_config_blob_whose_digest_does_not_match_is_refused() {
    wrong_config(false).await;
}

#[tokio::test]
async fn a_config_blob_whose_digest_does_not_match_is_a_digest_mismatch() {
    wrong_config(true).await;
}

/// The registry says how long the blob is, sends half and hangs up.
async fn cut_off(strict: bool) {
    let mut w = World::new().await;
    let (layer, size) = w.git_layer();
    w.reg.fault(
        Target::Blob(layer.clone()),
        Behavior::Truncated { send: size / 2 },
    );
    let r = w.git_ref();
    let err = w.refused(&r).await;
    assert!(
        matches!(
            err,
            RegistryError::Transport(_) | RegistryError::DigestMismatch { .. }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&layer),
        "the error does not name the blob: {text}"
    );
    if strict {
        // Today: "registry: reading sha256:…: error decoding response body".
        let says_why = [
            "closed",
            "end of file",
            "incomplete",
            "truncated",
            "bytes received",
        ]
        .iter()
        .any(|w| text.contains(w));
        assert!(
            says_why,
            "the error does not say the blob was cut off: {text}"
        );
    }
    w.still_usable().await;
}

#[tokio::test]
async fn a_blob_cut_off_mid_transfer_is_refused() {
    cut_off(false).await;
}

#[tokio::test]
async fn a_blob_cut_off_mid_transfer_says_so() {
    cut_off(true).await;
}

/// The registry sends half the blob as if it were all of it.
async fn short_blob(strict: bool) {
    let mut w = World::new().await;
    let (layer, size) = w.git_layer();
    let half = w.git.wasm[..size / 2].to_vec();
    w.reg
        .fault(Target::Blob(layer.clone()), Behavior::Bytes(half));
    let r = w.git_ref();
    let err = w.refused(&r).await;
    assert!(digest_refused(&err, &layer, strict), "{err:?}");
    if strict {
        let text = err.to_string();
        assert!(
            text.contains(&format!("{} of {size} bytes", size / 2)),
            "the error does not say the blob was short: {text}"
        );
    }
}

#[tokio::test]
async fn a_short_blob_is_refused() {
    short_blob(false).await;
}

#[tokio::test]
async fn a_short_blob_is_a_digest_mismatch_saying_how_short() {
    short_blob(true).await;
}

#[tokio::test]
async fn an_endless_blob_is_cut_at_its_declared_size() {
    let mut w = World::new().await;
    let (layer, size) = w.git_layer();
    w.reg.fault(Target::Blob(layer.clone()), Behavior::Endless);
    let r = w.git_ref();
    let started = Instant::now();
    let err = w.refused(&r).await;
    assert!(
        matches!(&err, RegistryError::TooLarge { what, limit } if what.contains(&layer) && *limit == size as u64),
        "{err:?}"
    );
    assert!(err.to_string().contains("larger than the limit"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    w.still_usable().await;
}

/// A blob bigger than the manifest declares is cut where the declaration ends.
#[tokio::test]
async fn a_blob_longer_than_declared_is_refused() {
    let mut w = World::new().await;
    let (layer, size) = w.git_layer();
    let mut long = w.git.wasm.clone();
    long.extend_from_slice(&[0u8; 4096]);
    w.reg
        .fault(Target::Blob(layer.clone()), Behavior::Bytes(long));
    let r = w.git_ref();
    let err = w.refused(&r).await;
    assert!(
        matches!(&err, RegistryError::TooLarge { limit, .. } if *limit == size as u64),
        "{err:?}"
    );
}

// ------------------------------------------------------------- manifests

#[tokio::test]
async fn a_manifest_over_the_size_limit_is_refused() {
    let mut w = World::new().await;
    let padding = "x".repeat(MAX_MANIFEST_BYTES + 1024);
    w.push_doctored("huge", |m| {
        m["annotations"]["dev.example.padding"] = padding.into();
    });
    let huge = w.reg.reference(&repo("git-reader"), "huge");
    let too_large = |err: &RegistryError| {
        matches!(err, RegistryError::TooLarge { what, limit }
            if what == "manifest" && *limit == MAX_MANIFEST_BYTES as u64)
    };

    // With a Content-Length saying so.
    let err = w.refused(&huge).await;
    assert!(too_large(&err), "{err:?}");
    assert!(
        err.to_string()
            .contains("manifest is larger than the limit"),
        "{err}"
    );

    // Chunked, so only counting the bytes can tell.
    w.reg.fault(Target::Manifests, Behavior::Chunked);
    let err = w.refused(&huge).await;
    assert!(too_large(&err), "chunked: {err:?}");

    // A manifest that never ends.
    w.reg.heal();
    w.reg.fault(Target::Manifests, Behavior::Endless);
    let r = w.git_ref();
    let err = w.refused(&r).await;
    assert!(too_large(&err), "endless: {err:?}");

    // A normal manifest, chunked, is fine.
    w.reg.heal();
    w.reg.fault(Target::Manifests, Behavior::Chunked);
    w.install(&r).await.unwrap();
}

#[tokio::test]
async fn wrong_media_types_are_not_a_skill() {
    let mut w = World::new().await;
    let container_config = "application/vnd.oci.image.config.v1+json";
    let tar_layer = "application/vnd.oci.image.layer.v1.tar+gzip";
    w.push_doctored("container", |m| {
        m["config"]["mediaType"] = container_config.into();
    });
    w.push_doctored("tarball", |m| {
        m["layers"][0]["mediaType"] = tar_layer.into();
    });
    w.push_doctored("two-layers", |m| {
        let layer = m["layers"][0].clone();
        m["layers"].as_array_mut().unwrap().push(layer);
    });
    w.reg.push_manifest(
        &repo("git-reader"),
        "index",
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
        }))
        .unwrap(),
    );
    for (tag, needle) in [
        (
            "container",
            format!("config has media type `{container_config}`, expected `{CONFIG_MEDIA_TYPE}`"),
        ),
        (
            "tarball",
            format!("layer has media type `{tar_layer}`, expected `{LAYER_MEDIA_TYPE}`"),
        ),
        ("two-layers", "it has 2 layers".to_string()),
        ("index", "not a valid image manifest".to_string()),
    ] {
        let r = w.reg.reference(&repo("git-reader"), tag);
        let err = w.refused(&r).await;
        assert!(matches!(err, RegistryError::NotASkill(_)), "{tag}: {err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("not a chitin skill") && text.contains(&needle),
            "{tag}: {text}"
        );
    }
    // A skill's blobs were never requested for any of them.
    let (layer, _) = w.git_layer();
    assert!(
        !w.reg
            .saw(&FakeRegistry::blob_path(&repo("git-reader"), &layer))
    );
}

/// Drop the `exec = [...]` block of a skill.toml.
fn without_exec(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("exec") {
            skipping = !t.ends_with(']');
            continue;
        }
        if skipping {
            skipping = t != "]";
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The annotation (what the user is shown and approves) claims less than the
/// component embeds.
#[tokio::test]
async fn annotations_that_understate_the_component_are_refused() {
    let mut w = World::new().await;
    let annotations = w.git.manifest.annotations.clone().unwrap();
    let declared = &annotations[ANNOTATION_MANIFEST];
    let understated = without_exec(declared);
    let full = chitin_registry::manifest::parse(declared).unwrap();
    let less = chitin_registry::manifest::parse(&understated).unwrap();
    assert!(!full.capabilities.exec.is_empty() && less.capabilities.exec.is_empty());
    assert_eq!(full.capabilities.fs, less.capabilities.fs);
    w.push_doctored("understated", |m| {
        m["annotations"][ANNOTATION_MANIFEST] = understated.clone().into();
    });
    let r = w.reg.reference(&repo("git-reader"), "understated");
    let err = w.refused(&r).await;
    assert!(matches!(err, RegistryError::NotASkill(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("annotations differ from the manifest embedded in the component"),
        "{err}"
    );

    // No declaration at all.
    w.push_doctored("undeclared", |m| {
        m["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(ANNOTATION_MANIFEST);
    });
    let r = w.reg.reference(&repo("git-reader"), "undeclared");
    let err = w.refused(&r).await;
    assert!(matches!(err, RegistryError::NoDeclaration), "{err:?}");
}

/// The tag resolves to A; asked for A by digest, the registry serves B.
#[tokio::test]
async fn a_tag_that_moves_between_resolve_and_pull_is_refused() {
    let mut w = World::new().await;
    let probe = artifact("probe");
    w.reg.push_blobs(&probe);
    let b_bytes = probe.manifest_bytes();
    let b = w.reg.put_manifest(b_bytes.clone());
    let a = w.git_digest.clone();
    w.reg.fault(
        Target::Tag {
            repo: repo("git-reader"),
            tag: TAG.into(),
        },
        Behavior::MoveTagTo(b.clone()),
    );
    w.reg
        .fault(Target::ManifestDigest(a.clone()), Behavior::Bytes(b_bytes));
    let r = w.git_ref();
    let err = w.refused(&r).await;
    assert!(
        matches!(&err, RegistryError::DigestMismatch { what, expected, actual }
            if what == "manifest" && *expected == a && *actual == b),
        "{err:?}"
    );
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    // Neither A's nor B's component was pulled.
    let (layer, _) = w.git_layer();
    assert!(
        !w.reg
            .saw(&FakeRegistry::blob_path(&repo("git-reader"), &layer))
    );
}

/// An honest registry whose tag moves right after the resolve: the install gets
/// exactly what was resolved, and the next install of the tag gets the new one.
#[tokio::test]
async fn a_tag_that_moves_after_resolve_installs_what_was_resolved() {
    let mut w = World::new().await;
    let probe = artifact("probe");
    w.reg.push_blobs(&probe);
    let b = w.reg.put_manifest(probe.manifest_bytes());
    w.reg.fault(
        Target::Tag {
            repo: repo("git-reader"),
            tag: TAG.into(),
        },
        Behavior::MoveTagTo(b.clone()),
    );
    let r = w.git_ref();
    let installed = w.install(&r).await.unwrap();
    assert_eq!(installed.name, "git-reader");
    assert_eq!(installed.manifest_digest, w.git_digest);
    let manifest_path = format!("/v2/{}/manifests/{}", repo("git-reader"), w.git_digest);
    assert!(w.reg.saw(&manifest_path), "{:?}", w.reg.requests());
    let moved = w.install(&r).await.unwrap();
    assert_eq!(moved.name, "probe");
    assert_eq!(moved.manifest_digest, b);
}

// ------------------------------------------------------------- errors and stalls

#[tokio::test]
async fn http_500_on_manifests_and_blobs_is_reported() {
    let mut w = World::new().await;
    let r = w.git_ref();

    for (target, status) in [
        (Target::Manifests, 500),
        (Target::Blobs, 500),
        (Target::Blobs, 503),
    ] {
        w.reg.heal();
        w.reg.fault(target.clone(), Behavior::Status(status));
        let err = w.refused(&r).await;
        assert!(
            matches!(err, RegistryError::Status { status: s, .. } if s == status),
            "{target:?}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("HTTP {status}")) && text.contains("git-reader"),
            "{text}"
        );
    }

    // Healed, the same install goes through.
    w.reg.heal();
    w.install(&r).await.unwrap();
}

/// `what` stalls longer than the client timeout: a Transport error after about the
/// timeout; `strict` wants it to say it timed out.
async fn times_out(w: &mut World, target: Target, behavior: Behavior, what: &str, strict: bool) {
    w.reg.heal();
    w.reg.fault(target, behavior);
    let r = w.git_ref();
    let started = Instant::now();
    let err = w.refused(&r).await;
    let took = started.elapsed();
    assert!(
        matches!(&err, RegistryError::Transport(m) if !strict || m.contains("timed out")),
        "{what}: {err:?}"
    );
    assert!(
        took >= TIMEOUT && took < TIMEOUT * 10,
        "{what}: gave up after {took:?}"
    );
}

#[tokio::test]
async fn a_manifest_that_never_comes_times_out() {
    let mut w = World::new().await;
    times_out(&mut w, Target::Manifests, Behavior::Stall, "manifest", true).await;
    // Half a manifest, then silence.
    let half = Behavior::StallAfter { send: 10 };
    times_out(&mut w, Target::Manifests, half, "half a manifest", true).await;
    w.still_usable().await;
}

async fn blob_stalls(strict: bool) {
    let mut w = World::new().await;
    let (layer, size) = w.git_layer();
    let (before, halfway) = (Behavior::Stall, Behavior::StallAfter { send: size / 2 });
    times_out(&mut w, Target::Blob(layer.clone()), before, "blob", strict).await;
    times_out(&mut w, Target::Blob(layer), halfway, "half a blob", strict).await;
    w.still_usable().await;
}

#[tokio::test]
async fn a_blob_that_never_comes_or_stops_halfway_fails_after_the_timeout() {
    blob_stalls(false).await;
}

#[tokio::test]
async fn a_blob_that_never_comes_or_stops_halfway_says_it_timed_out() {
    blob_stalls(true).await;
}

// ------------------------------------------------------------- signatures

// A registry can withhold signatures, but what it serves as one is bounded like
// everything else, and a fault there fails the install before the component is pulled.

/// A cosign signature image for git-reader at its `.sig` tag, whose payload layer
/// declares `declared` bytes (its true length if `None`). Returns the payload's digest
/// and the tag.
fn push_signature(w: &World, declared: Option<usize>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let envelope = Envelope::sign_cosign(&key, "skills/git-reader", &w.git_digest).unwrap();
    let (payload, _) = envelope.cosign_parts().unwrap().unwrap();
    let Envelope::Cosign { signature, .. } = &envelope else {
        unreachable!()
    };
    let payload_digest = w.reg.put_blob(payload.clone());
    let mut layer = signatures::cosign_layer(&payload, signature);
    if let Some(n) = declared {
        layer["size"] = n.into();
    }
    let (manifest, config) = signatures::cosign_manifest(vec![layer]);
    w.reg.put_blob(config);
    let tag = signature_tag(&w.git_digest);
    w.reg.push_manifest(
        &repo("git-reader"),
        &tag,
        serde_json::to_vec(&manifest).unwrap(),
    );
    (payload_digest, tag)
}

impl World {
    /// git-reader's component was never requested.
    fn component_untouched(&self) -> bool {
        let (layer, _) = self.git_layer();
        !self
            .reg
            .saw(&FakeRegistry::blob_path(&repo("git-reader"), &layer))
    }
}

/// What the manifest alone decides — the signature, a moved version tag — is decided
/// before the component is requested.
#[tokio::test]
async fn an_untrusted_skill_or_a_moved_tag_costs_no_download() {
    let mut w = World::new().await;
    let key = KeyPair::generate().unwrap();
    let policy = TrustPolicy::single_key(key.public_key(), "test key");
    let before = w.snapshot();
    let err = w
        .install_under(&w.git_ref(), &policy, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HostError::Trust(TrustError::Unsigned { .. })),
        "{err:?}"
    );
    // Signed by another key than the trusted one.
    push_signature(&w, None);
    let err = w
        .install_under(&w.git_ref(), &policy, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HostError::Trust(TrustError::Untrusted { .. })),
        "{err:?}"
    );
    // git-reader 0.1.0's manifest under the tag 9.9.9.
    let moved = w.reg.reference(&repo("git-reader"), "9.9.9");
    w.push_doctored("9.9.9", |_| {});
    let err = w.refused(&moved).await;
    assert!(matches!(err, RegistryError::TagMismatch { .. }), "{err:?}");
    assert_eq!(before, w.snapshot());
    assert!(w.component_untouched());
}

#[tokio::test]
async fn a_signature_image_that_never_ends_is_cut_at_the_manifest_limit() {
    let mut w = World::new().await;
    let (_, tag) = push_signature(&w, None);
    let target = Target::Tag {
        repo: repo("git-reader"),
        tag,
    };
    w.reg.fault(target, Behavior::Endless);
    let err = w.refused(&w.git_ref()).await;
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err:?}");
    assert!(w.component_untouched());
    w.still_usable().await;
}

#[tokio::test]
async fn a_signature_payload_declared_too_large_is_not_downloaded() {
    let mut w = World::new().await;
    let (payload, _) = push_signature(&w, Some(64 << 20));
    let err = w.refused(&w.git_ref()).await;
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err:?}");
    assert!(
        !w.reg
            .saw(&FakeRegistry::blob_path(&repo("git-reader"), &payload))
    );
    assert!(w.component_untouched());
}

#[tokio::test]
async fn an_endless_signature_payload_is_cut_at_its_declared_size() {
    let mut w = World::new().await;
    let (payload, _) = push_signature(&w, None);
    w.reg.fault(Target::Blob(payload), Behavior::Endless);
    let err = w.refused(&w.git_ref()).await;
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err:?}");
    assert!(w.component_untouched());
}

#[tokio::test]
async fn a_signature_that_never_comes_times_out() {
    let mut w = World::new().await;
    let (_, tag) = push_signature(&w, None);
    let target = Target::Tag {
        repo: repo("git-reader"),
        tag,
    };
    times_out(&mut w, target, Behavior::Stall, "signature", true).await;
    assert!(w.component_untouched());
    w.still_usable().await;
}

// ------------------------------------------------------------- a killed process

/// The `chitin` binary of this build (`cargo build -p chitin-host`), or `$CHITIN_BIN`.
fn chitin_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CHITIN_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/hostile_registry-… → target/debug/chitin
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("chitin"))
        .unwrap();
    assert!(
        bin.is_file(),
        "{} is missing; build it with `cargo build -p chitin-host` (or set CHITIN_BIN)",
        bin.display()
    );
    bin
}

fn chitin(home: &Path) -> Command {
    let mut cmd = Command::new(chitin_bin());
    cmd.env("CHITIN_HOME", home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("CHITIN_REGISTRY_TIMEOUT", "30")
        .env_remove("CHITIN_LOCKFILE")
        .env_remove("CHITIN_REGISTRY_USERNAME")
        .env_remove("CHITIN_REGISTRY_PASSWORD")
        .env_remove("CHITIN_INSECURE_REGISTRIES")
        .stdin(Stdio::null());
    cmd
}

fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Files in `dir` with at least one byte.
fn nonempty_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_process_killed_mid_install_leaves_the_previous_state_usable() {
    use std::os::unix::process::ExitStatusExt;

    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let (root, db, lock) = (
        home.join("store"),
        home.join("chitin.db"),
        home.join("chitin.lock"),
    );
    // Outside chitin's data folder, which is never granted.
    let work = tempfile::tempdir().unwrap();
    let workspace = work.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(workspace.join("notes.md"), "still here\n").unwrap();
    let reg = FakeRegistry::start();
    reg.push(&repo("file-search"), TAG, &artifact("file-search"));
    let git = artifact("git-reader");
    reg.push(&repo("git-reader"), TAG, &git);

    succeeds(chitin(home).args([
        "skill",
        "install",
        &reg.reference(&repo("file-search"), TAG),
        "--allow-unsigned",
        "--yes",
    ]));
    let before = snapshot(&Store::open(&root, &db).unwrap(), &root, &lock);
    assert_eq!(before.rows.len(), 1);
    assert!(!before.lock.is_empty());

    // git-reader's component arrives halfway, then nothing: kill the install there.
    let mut child = a_stalled_install(home, &reg, &git);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status}");

    // The partial download is left behind in tmp/, and nothing else changed.
    let leftovers = nonempty_files(&root.join("tmp"));
    assert!(!leftovers.is_empty());
    // A concurrent install's fresh temp file (its process is alive: this one) stays.
    let live = root
        .join("tmp")
        .join(format!("blob-{}-live", std::process::id()));
    std::fs::write(&live, b"a concurrent download").unwrap();
    let store = Store::open(&root, &db).unwrap();
    let after = snapshot(&store, &root, &lock);
    assert_eq!(
        (&before.rows, &before.blobs, &before.lock),
        (&after.rows, &after.blobs, &after.lock)
    );
    // The killed process's downloads are gone at the next open: its pid is dead.
    assert!(leftovers.iter().all(|p| !p.exists()), "{leftovers:?}");
    assert!(live.exists());
    drop(store);
    std::fs::remove_file(&live).unwrap();

    // The previous install still runs.
    let out = succeeds(chitin(home).args([
        "run",
        "file-search",
        "list",
        "--yes",
        "--json",
        "--workspace",
        workspace.to_str().unwrap(),
    ]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["outcome"], "ok", "{doc}");
    assert!(doc.to_string().contains("notes.md"), "{doc}");

    // And with the registry healed, the install goes through.
    reg.heal();
    succeeds(chitin(home).args([
        "skill",
        "install",
        &reg.reference(&repo("git-reader"), TAG),
        "--allow-unsigned",
        "--yes",
    ]));
    let out = succeeds(chitin(home).args(["skill", "list", "--json"]));
    let listed: Vec<InstalledSkill> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["file-search", "git-reader"]);
    assert!(files(&root.join("tmp")).is_empty());
}

/// Start an install of git-reader whose component stops halfway down, and return once
/// that half is in the store's `tmp/`.
fn a_stalled_install(home: &Path, reg: &FakeRegistry, git: &Artifact) -> std::process::Child {
    let layer = git.manifest.layers[0].digest.clone();
    reg.fault(
        Target::Blob(layer.clone()),
        Behavior::StallAfter {
            send: git.wasm.len() / 2,
        },
    );
    let mut child = chitin(home)
        .args([
            "skill",
            "install",
            &reg.reference(&repo("git-reader"), TAG),
            "--allow-unsigned",
            "--yes",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let blob_path = FakeRegistry::blob_path(&repo("git-reader"), &layer);
    while !reg.saw(&blob_path) || nonempty_files(&home.join("store/tmp")).is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the install ended ({status}) before it could be stopped");
        }
        assert!(
            Instant::now() < deadline,
            "the install never got to the blob: {:?}",
            reg.requests()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Interrupt (SIGINT, as Ctrl-C) an install of git-reader while its component is
/// halfway down; returns the child's output.
fn interrupt_an_install(home: &Path, reg: &FakeRegistry, git: &Artifact) -> Output {
    let child = a_stalled_install(home, reg, git);
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait_with_output().unwrap()
}

#[test]
fn ctrl_c_during_an_install_says_so_and_leaves_no_download_behind() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let reg = FakeRegistry::start();
    let git = artifact("git-reader");
    reg.push(&repo("git-reader"), TAG, &git);

    let out = interrupt_an_install(home, &reg, &git);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted; nothing was installed"), "{err}");
    assert!(
        files(&home.join("store/tmp")).is_empty(),
        "{:?}",
        files(&home.join("store/tmp"))
    );
    let out = succeeds(chitin(home).args(["skill", "list", "--json"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn gc_removes_downloads_an_interrupted_run_left_behind() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    succeeds(chitin(home).args(["skill", "list"]));
    let tmp = home.join("store/tmp");
    // One of a process that is gone, one from before temp files named their process
    // (over a minute old), one of a live process (this one: a concurrent install).
    let dead = tmp.join("blob-4194304999-x");
    let old = tmp.join("blob-abcdef");
    let live = tmp.join(format!("blob-{}-y", std::process::id()));
    for p in [&dead, &old, &live] {
        std::fs::write(p, b"half a component").unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    let out = succeeds(chitin(home).args(["skill", "gc", "--json"]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["temp_files"], 2, "{doc}");
    assert!(!dead.exists() && !old.exists());
    assert!(live.exists(), "a live process's download was removed");

    // The next run of any command removes them too, not only gc.
    std::fs::write(&dead, b"half a component").unwrap();
    succeeds(chitin(home).args(["skill", "list"]));
    assert!(!dead.exists());
    assert!(live.exists());
}

// ------------------------------------------------------------- two at once

/// One install as a separate process would do it: its own store connection, runtime
/// and installer on the shared paths. `remove_first` removes the skill before.
fn install_in_thread(
    home: PathBuf,
    reference: String,
    name: &'static str,
    remove_first: bool,
    barrier: Arc<Barrier>,
) -> std::thread::JoinHandle<Result<InstalledSkill, String>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opened = (|| -> Result<(Runtime, Store), HostError> {
            let engine = SkillEngine::new(home.join("cache/compiled"))?;
            let audit = AuditLog::open(&home.join("chitin.db"))?;
            let store = Store::open(&home.join("store"), &home.join("chitin.db"))?;
            Ok((Runtime::new(engine, audit), store))
        })();
        let (runtime, mut store) = match opened {
            Ok(o) => o,
            Err(e) => {
                barrier.wait();
                return Err(format!("{name}: opening: {e}"));
            }
        };
        let mut installer = Installer {
            runtime: &runtime,
            store: &mut store,
            options: RegistryOptions {
                timeout: TIMEOUT,
                ..Default::default()
            },
            lock_path: home.join("chitin.lock"),
            policy: &NO_POLICY,
            allow_unsigned: true,
            allow_repository_change: false,
        };
        let prepared = (|| {
            if remove_first {
                installer.remove(name)?;
            }
            rt.block_on(installer.prepare(&reference, |_, _| {}))
        })()
        .map_err(|e| format!("{name}: {e}"));
        // Commit at the same moment as the other install (whatever happened before).
        barrier.wait();
        let prepared = prepared?;
        let grants = prepared.manifest.capabilities.clone();
        installer
            .commit(prepared, grants)
            .map_err(|e| format!("{name}: {e}"))
    })
}

/// Two installs at once, several times over: both always land in the index (`list`)
/// and in the lock file.
fn two_at_once(rounds: usize, check_lock: bool) {
    let home = tempfile::tempdir().unwrap();
    let reg = FakeRegistry::start();
    let names = ["file-search", "git-reader"];
    for n in names {
        reg.push(&repo(n), TAG, &artifact(n));
    }
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                install_in_thread(
                    home.path().to_path_buf(),
                    reg.reference(&repo(n), TAG),
                    n,
                    round > 0,
                    barrier.clone(),
                )
            })
            .collect();
        for h in handles {
            let installed = h.join().unwrap().unwrap();
            assert!(names.contains(&installed.name.as_str()));
        }
        let store =
            Store::open(&home.path().join("store"), &home.path().join("chitin.db")).unwrap();
        let listed: Vec<String> = store.list().unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(listed, names, "round {round}: the index");
        for s in store.list().unwrap() {
            store.read_blob(&s.wasm_digest).unwrap();
        }
        if check_lock {
            let lock = LockFile::read(&home.path().join("chitin.lock")).unwrap();
            let locked: Vec<&str> = lock.skills.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(locked, names, "round {round}: the lock file");
        }
    }
}

#[test]
fn two_installs_at_once_both_land_in_the_index() {
    two_at_once(6, false);
}

#[test]
fn two_installs_at_once_both_land_in_the_lock_file() {
    // The race is between two fsyncs: enough rounds to lose it on nearly every run.
    two_at_once(100, true);
}
