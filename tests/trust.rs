//! Signatures and the trust policy, end to end: the `chitin` binary against the real
//! CNCF registry, keys made by chitin, keyless signatures from a local Sigstore
//! (Fulcio and Rekor served by `TestSigstore`), and the `sigstore` crate's cosign
//! verifier as an independent check of what chitin stores.

use std::path::Path;
use std::process::Command;

use chitin_registry::oci_client::secrets::RegistryAuth;
use chitin_registry::signing::Envelope;
use chitin_registry::sigstore_bundle::testing::{Fault, SignOptions, TestSigstore, test_id_token};
use chitin_registry::{RegistryClient, RegistryOptions, SkillRef};
use chitin_tests::real_registry::RealRegistry;
use chitin_tests::user::{User, stderr};
use chitin_tests::{KEY_PASSWORD, Publisher, file_search_version, skills_dir};
use serde_json::Value;

/// A registry, two publishers (acme and someone else) and a user who can sign as either.
struct World {
    reg: RealRegistry,
    acme: Publisher,
    other: Publisher,
    user: User,
}

fn world() -> World {
    let mut user = User::new();
    user.env
        .push(("CHITIN_PASSWORD".into(), KEY_PASSWORD.into()));
    World {
        reg: RealRegistry::start(None),
        acme: Publisher::new(),
        other: Publisher::new(),
        user,
    }
}

impl World {
    /// The user's trust policy (`$CHITIN_TRUST_POLICY`).
    fn trust(&self, toml: &str) {
        std::fs::write(self.user.home.path().join("trust.toml"), toml).unwrap();
    }

    /// A rule trusting `who` for `repositories`, plus `extra` lines.
    fn rule(&self, repositories: &str, who: &[&Publisher], extra: &str) -> String {
        let keys: Vec<String> = who
            .iter()
            .map(|p| format!("\"{}\"", p.public.display()))
            .collect();
        format!(
            "[[rule]]\nrepositories = \"{}\"\nkeys = [{}]\n{extra}\n",
            self.reg.repo(repositories),
            keys.join(", ")
        )
    }

    /// Push `file` to `repo:tag`, signed by `by` (or not); returns the digest.
    fn push(&self, file: &Path, reference: &str, by: Option<&Publisher>) -> String {
        let reference = self.reg.repo(reference);
        let mut args = vec![
            "skill",
            "push",
            file.to_str().unwrap(),
            &reference,
            "--json",
        ];
        if let Some(p) = by {
            args.extend(["--sign-key", p.key.to_str().unwrap()]);
        }
        let out: Value = serde_json::from_str(&self.user.ok(&args)).unwrap();
        out["digest"].as_str().unwrap().to_string()
    }

    /// `skill export NAME` into a new OCI layout in the workspace; its folder.
    fn export(&self, name: &str) -> std::path::PathBuf {
        let layout = self.user.ws.path().join("layout");
        self.user
            .ok(&["skill", "export", name, "-o", layout.to_str().unwrap()]);
        layout
    }

    fn version(&self, v: &str) -> std::path::PathBuf {
        file_search_version(self.user.ws.path(), v, "")
    }

    fn install(&self, reference: &str, extra: &[&str]) -> std::process::Output {
        let reference = self.reg.repo(reference);
        let mut args = vec!["skill", "install", &reference, "--yes"];
        args.extend(extra);
        self.user.chitin(&args)
    }

    /// The store holds no blob: nothing was downloaded.
    fn nothing_stored(&self) -> bool {
        let blobs = self.user.home.path().join("store/blobs/sha256");
        !blobs.exists() || std::fs::read_dir(blobs).unwrap().count() == 0
    }

    /// The bytes of a manifest in the registry (what was signed).
    fn manifest_bytes(&self, repo: &str, reference: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args([
                "-sf",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
            ])
            .arg(format!(
                "http://{}/v2/{repo}/manifests/{reference}",
                self.reg.addr
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl GET manifest");
        out.stdout
    }

    /// Point `repo:tag` at `bytes` (what an attacker with push rights can do).
    fn put_manifest(&self, repo: &str, tag: &str, bytes: &[u8]) {
        let file = self.user.ws.path().join("moved-manifest.json");
        std::fs::write(&file, bytes).unwrap();
        let out = Command::new("curl")
            .args(["-sf", "-X", "PUT", "-H"])
            .arg("Content-Type: application/vnd.oci.image.manifest.v1+json")
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!(
                "http://{}/v2/{repo}/manifests/{tag}",
                self.reg.addr
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl PUT manifest");
    }

    /// Store `envelope` as a signature of `digest` in `repo`.
    fn attach(&self, repo: &str, digest: &str, envelope: &Envelope) {
        let SkillRef::Oci(r) = self.reg.repo(&format!("{repo}:x")).parse().unwrap() else {
            unreachable!()
        };
        let size = self.manifest_bytes(repo, digest).len();
        let client = RegistryClient::for_ref(&r, &RegistryOptions::default()).unwrap();
        rt().block_on(client.push_signature(
            &r.reference,
            digest,
            size,
            envelope,
            &RegistryAuth::Anonymous,
        ))
        .unwrap();
    }

    /// The signatures stored for `digest`.
    fn signatures(&self, repo: &str, digest: &str) -> Vec<Envelope> {
        let SkillRef::Oci(r) = self.reg.repo(&format!("{repo}:x")).parse().unwrap() else {
            unreachable!()
        };
        let client = RegistryClient::for_ref(&r, &RegistryOptions::default()).unwrap();
        rt().block_on(client.fetch_signatures(&r.reference, digest, &RegistryAuth::Anonymous))
            .unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn without_a_rule_or_a_signature_nothing_installs_unless_the_user_says_so() {
    let w = world();
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", None);

    // No policy at all: default deny, before anything is downloaded.
    let out = w.install("acme/fs:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no trust rule covers"),
        "{}",
        stderr(&out)
    );
    assert!(w.nothing_stored());

    // A rule for acme, but the skill is unsigned.
    w.trust(&w.rule("acme/*", &[&w.acme], ""));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no signature"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("--allow-unsigned"),
        "{}",
        stderr(&out)
    );
    assert!(w.nothing_stored() && w.user.list().is_empty());

    // Explicitly allowed: installed, loudly, and recorded as such.
    let out = w.install("acme/fs:0.1.0", &["--allow-unsigned"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("WARNING: NOT SIGNED"),
        "{}",
        stderr(&out)
    );
    let row = w.user.installed("file-search").unwrap();
    assert_eq!(row["unsigned"], true);
    assert!(row["signature"].is_null());
    let audit = w.user.ok(&["skill", "audit", "file-search"]);
    assert!(audit.contains("installed with --allow-unsigned"), "{audit}");
    assert!(audit.contains("HIGH   trust"), "{audit}");
    assert!(w.user.ok(&["skill", "list"]).contains("UNSIGNED"));
    w.user.ok(&["run", "file-search", "list"]);
}

#[test]
fn signed_by_a_trusted_key_installs_and_shows_its_signer() {
    let w = world();
    let digest = w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    w.trust(&w.rule("acme/*", &[&w.acme], ""));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("signed by key {}", w.acme.fingerprint())));
    let row = w.user.installed("file-search").unwrap();
    assert_eq!(row["unsigned"], false);
    assert_eq!(
        row["signature"]["signer"]["fingerprint"],
        w.acme.fingerprint()
    );

    // Audit from the registry (nothing pulled) and of the installed skill.
    let remote = w
        .user
        .ok(&["skill", "audit", &w.reg.repo("acme/fs:0.1.0"), "--json"]);
    let doc: Value = serde_json::from_str(&remote).unwrap();
    assert_eq!(doc["signature"]["status"], "trusted");
    assert_eq!(
        doc["signature"]["signer"]["fingerprint"],
        w.acme.fingerprint()
    );
    assert_eq!(doc["digest"], digest.as_str());
    let installed = w.user.ok(&["skill", "audit", "file-search"]);
    assert!(installed.contains(&w.acme.fingerprint()), "{installed}");

    // `verify` on its own: with the policy, with the right key, with another key.
    let reference = w.reg.repo("acme/fs:0.1.0");
    let v: Value =
        serde_json::from_str(&w.user.ok(&["skill", "verify", &reference, "--json"])).unwrap();
    assert_eq!(v["verified"], true);
    let acme_pub = w.acme.public.to_str().unwrap();
    w.user
        .ok(&["skill", "verify", &reference, "--key", acme_pub]);
    let other_pub = w.other.public.to_str().unwrap();
    let err = w
        .user
        .fails(1, &["skill", "verify", &reference, "--key", other_pub]);
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn an_untrusted_key_or_a_key_outside_its_namespace_is_refused() {
    let w = world();
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.other));
    w.push(&w.version("0.1.0"), "partner/fs:0.1.0", Some(&w.acme));
    w.trust(&format!(
        "{}{}",
        w.rule("acme/*", &[&w.acme], ""),
        w.rule("partner/*", &[&w.other], "")
    ));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not verify with key"),
        "{}",
        stderr(&out)
    );
    // acme's key is trusted, but not for partner/*.
    let out = w.install("partner/fs:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&w.other.fingerprint()),
        "{}",
        stderr(&out)
    );
    assert!(w.nothing_stored());
}

#[test]
fn a_signature_moved_to_another_digest_is_refused() {
    let w = world();
    let signed = w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    // The same skill with one more capability, unsigned, and acme's signature of the
    // first one copied next to it: a manifest changed after signing.
    let wider = file_search_version(
        w.user.ws.path(),
        "0.1.1",
        "http = [\"https://exfil.example/*\"]",
    );
    let tampered = w.push(&wider, "acme/fs:0.1.1", None);
    for envelope in w.signatures("acme/fs", &signed) {
        w.attach("acme/fs", &tampered, &envelope);
    }
    assert!(!w.signatures("acme/fs", &tampered).is_empty());
    w.trust(&w.rule("acme/*", &[&w.acme], ""));
    let out = w.install("acme/fs:0.1.1", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("the signature is for {signed}")),
        "{}",
        stderr(&out)
    );
    assert!(w.nothing_stored());
}

#[test]
fn a_tag_moved_back_to_an_older_signed_version_is_refused() {
    let w = world();
    w.trust(&w.rule("acme/*", &[&w.acme], ""));
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    w.push(&w.version("0.2.0"), "acme/fs:0.2.0", Some(&w.acme));
    w.push(&w.version("0.2.0"), "acme/fs:latest", Some(&w.acme));
    let out = w.install("acme/fs:latest", &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Both tags now point at 0.1.0, whose signature is genuine.
    let old = w.manifest_bytes("acme/fs", "0.1.0");
    w.put_manifest("acme/fs", "0.2.0", &old);
    w.put_manifest("acme/fs", "latest", &old);
    let out = w.install("acme/fs:0.2.0", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the tag `0.2.0` points to version 0.1.0"),
        "{}",
        stderr(&out)
    );
    let err = w.user.fails(1, &["skill", "update", "--yes"]);
    assert!(err.contains("refusing to downgrade"), "{err}");
    assert_eq!(w.user.installed("file-search").unwrap()["version"], "0.2.0");
}

#[test]
fn an_update_from_another_signer_needs_the_policy_to_allow_it() {
    let w = world();
    let both = [&w.acme, &w.other];
    w.trust(&w.rule("acme/*", &both, ""));
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    let out = w.install("acme/fs:^0", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.push(&w.version("0.2.0"), "acme/fs:0.2.0", Some(&w.other));
    let err = w.user.fails(1, &["skill", "update", "--yes"]);
    assert!(err.contains("refusing a change of publisher"), "{err}");
    assert_eq!(w.user.installed("file-search").unwrap()["version"], "0.1.0");

    w.trust(&w.rule("acme/*", &both, "allow-signer-change = true"));
    let out = w.user.chitin(&["skill", "update", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGNER CHANGED"), "{}", stderr(&out));
    let row = w.user.installed("file-search").unwrap();
    assert_eq!(
        row["signature"]["signer"]["fingerprint"],
        w.other.fingerprint()
    );
}

#[test]
fn a_skill_of_the_same_name_from_another_repository_needs_its_own_consent() {
    let w = world();
    w.trust(&w.rule("**", &[&w.acme], ""));
    let v1 = w.version("0.1.0");
    w.push(&v1, "acme/fs:0.1.0", Some(&w.acme));
    assert!(w.install("acme/fs:0.1.0", &[]).status.success());
    let acme = w.reg.repo("acme/fs");
    let from_acme = |w: &World| {
        let row = w.user.installed("file-search").unwrap();
        row["repository"] == acme.as_str()
    };

    // The same bytes under another repository (was: "Unchanged", the new reference
    // silently ignored) and a newer version there (was: "replaces 0.1.0", nothing
    // about the repository). `--yes` alone never replaces it without a terminal.
    w.push(&v1, "evil/fs:0.1.0", Some(&w.acme));
    w.push(&w.version("0.2.0"), "evil/fs:0.2.0", Some(&w.acme));
    for tag in ["evil/fs:0.1.0", "evil/fs:0.2.0"] {
        let out = w.install(tag, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(5), "{tag}: {err}");
        assert!(err.contains("REPOSITORY CHANGED"), "{tag}: {err}");
        assert!(err.contains(&w.reg.repo("evil/fs")), "{tag}: {err}");
        assert!(err.contains("--allow-repository-change"), "{tag}: {err}");
        assert!(!err.contains("Unchanged"), "{tag}: {err}");
        assert!(from_acme(&w), "{tag}: the installed skill was replaced");
    }

    // The library refuses it too, whoever calls it: a lock file edited to take the
    // name from another repository.
    let lock = w.user.home.path().join("chitin.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    let evil_digest = w.push(&w.version("0.2.0"), "evil/fs:0.2.0", Some(&w.acme));
    let acme_digest = w.user.installed("file-search").unwrap()["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let edited = text
        .replace(&acme, &w.reg.repo("evil/fs"))
        .replace(&acme_digest, &evil_digest)
        .replace("0.1.0", "0.2.0");
    std::fs::write(&lock, edited).unwrap();
    let err = w.user.fails(1, &["skill", "install", "--locked", "--yes"]);
    assert!(err.contains("--allow-repository-change"), "{err}");
    assert!(from_acme(&w));
    std::fs::write(&lock, text).unwrap();

    // Named consent replaces it, and says so.
    let out = w.install("evil/fs:0.2.0", &["--allow-repository-change", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("REPOSITORY CHANGED"),
        "{}",
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["replaced_repository"], acme.as_str());
    assert!(!from_acme(&w));
}

#[test]
fn a_capability_ceiling_refuses_even_a_trusted_skill() {
    let w = world();
    w.trust(&w.rule("acme/*", &[&w.acme], "deny = [\"exec\", \"fs-write\"]"));
    w.push(
        &skills_dir().join("git-reader.wasm"),
        "acme/git:0.1.0",
        Some(&w.acme),
    );
    let out = w.install("acme/git:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not let skills"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("programs (exec)"), "{}", stderr(&out));
    // Not even with --allow-unsigned: that waives the signature, not the ceiling.
    let out = w.install("acme/git:0.1.0", &["--allow-unsigned"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(w.nothing_stored());

    // A ceiling added after install applies at the next load.
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    assert!(w.install("acme/fs:0.1.0", &[]).status.success());
    w.user.ok(&["run", "file-search", "list"]);
    w.trust(&w.rule("acme/*", &[&w.acme], "deny = [\"fs\"]"));
    let err = w.user.fails(1, &["run", "file-search", "list"]);
    assert!(err.contains("folders (fs)"), "{err}");
}

#[test]
fn a_signature_swapped_in_the_local_index_is_refused_at_load() {
    let w = world();
    let digest = w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    w.trust(&w.rule("acme/*", &[&w.acme], ""));
    assert!(w.install("acme/fs:0.1.0", &[]).status.success());
    w.user.ok(&["run", "file-search", "list"]);

    // Someone with write access to the index swaps in their own signature over the
    // same digest, keeping the recorded signer.
    let db = rusqlite::Connection::open(w.user.home.path().join("chitin.db")).unwrap();
    let stored: String = db
        .query_row("SELECT signature FROM skills", [], |r| r.get(0))
        .unwrap();
    let mut verified: Value = serde_json::from_str(&stored).unwrap();
    let forged = Envelope::sign_cosign(&w.other.pair, "x", &digest).unwrap();
    verified["envelope"] = serde_json::to_value(&forged).unwrap();
    db.execute("UPDATE skills SET signature = ?1", [verified.to_string()])
        .unwrap();
    let err = w.user.fails(1, &["run", "file-search", "list"]);
    assert!(err.contains("does not verify"), "{err}");

    // And a signer no longer trusted (the rule removed) is refused too.
    db.execute("UPDATE skills SET signature = ?1", [stored])
        .unwrap();
    w.user.ok(&["run", "file-search", "list"]);
    w.trust(&w.rule("partner/*", &[&w.acme], ""));
    let err = w.user.fails(1, &["run", "file-search", "list"]);
    assert!(err.contains("no trust rule covers"), "{err}");
}

#[test]
fn the_sigstore_crate_verifies_what_chitin_signs() {
    use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
    use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
    use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

    let w = world();
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    let image: OciReference = w.reg.repo("acme/fs:0.1.0").parse().unwrap();
    let layers = rt().block_on(async {
        let mut client = ClientBuilder::default()
            .with_oci_client_config(ClientConfig {
                protocol: ClientProtocol::Http,
                ..Default::default()
            })
            .build()
            .unwrap();
        client
            .trusted_signature_layers(&Auth::Anonymous, &image)
            .await
            .unwrap()
    });
    assert!(!layers.is_empty(), "the sigstore crate found no signature");
    let check = |p: &Publisher| {
        let pem = std::fs::read(&p.public).unwrap();
        let constraints: Vec<Box<dyn VerificationConstraint>> =
            vec![Box::new(PublicKeyVerifier::try_from(&pem).unwrap())];
        verify_constraints(&layers, constraints.iter()).is_ok()
    };
    assert!(
        check(&w.acme),
        "cosign's verifier rejects chitin's signature"
    );
    assert!(!check(&w.other), "cosign's verifier accepts the wrong key");
}

#[test]
fn keyless_signatures_from_a_private_sigstore_are_checked_offline() {
    const ISSUER: &str = "https://token.actions.example.com";
    const RELEASE: &str =
        "https://git.example.com/acme/skills/.github/workflows/release.yml@refs/tags/v1";
    let w = world();
    let sigstore = std::sync::Arc::new(TestSigstore::new());
    let root = w.user.home.path().join("private-root.json");
    std::fs::write(&root, sigstore.trusted_root_json()).unwrap();
    let runtime = rt();
    let url = runtime.block_on(sigstore.clone().serve()).unwrap();
    // The server runs on `runtime`; keep it turning while chitin talks to it.
    let _serving = std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    w.trust(&format!(
        "[[rule]]\nrepositories = \"{}\"\ntrusted-root = \"{}\"\nidentities = [{{ issuer = \"{ISSUER}\", subject = \"https://git.example.com/acme/skills/.github/workflows/*@refs/tags/*\" }}]\n",
        w.reg.repo("acme/*"),
        root.display()
    ));

    // Signed in "CI" by acme's release workflow, through Fulcio and Rekor.
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", None);
    let sign = |reference: &str, subject: &str| {
        let mut signer = User::new();
        signer
            .env
            .push(("SIGSTORE_ID_TOKEN".into(), test_id_token(ISSUER, subject)));
        signer.chitin(&[
            "skill",
            "sign",
            &w.reg.repo(reference),
            "--keyless",
            "--fulcio-url",
            &url,
            "--rekor-url",
            &url,
            "--trusted-root",
            root.to_str().unwrap(),
        ])
    };
    let out = sign("acme/fs:0.1.0", RELEASE);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(RELEASE), "{}", stderr(&out));
    w.user.ok(&["run", "file-search", "list"]);

    // Signed by a workflow of another repository: the wrong identity.
    w.push(&w.version("0.1.1"), "acme/other:0.1.1", None);
    let evil = RELEASE.replace("acme/skills", "evil/skills");
    assert!(sign("acme/other:0.1.1", &evil).status.success());
    let out = w.install("acme/other:0.1.1", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not trust"), "{}", stderr(&out));

    // An expired certificate: fine with its log entry, refused without one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expired = SignOptions {
        cert_not_before: Some(now - 7200),
        ..Default::default()
    };
    for (repo, fault, ok) in [
        ("acme/logged", None, true),
        ("acme/unlogged", Some(Fault::NoLogEntry), false),
    ] {
        let digest = w.push(&w.version("0.1.0"), &format!("{repo}:0.1.0"), None);
        let bytes = w.manifest_bytes(repo, &digest);
        let options = SignOptions {
            fault,
            ..expired.clone()
        };
        let bundle = sigstore.sign_with(&bytes, RELEASE, ISSUER, &options);
        let envelope = Envelope::Bundle {
            bundle: String::from_utf8(bundle.to_json()).unwrap(),
        };
        w.attach(repo, &digest, &envelope);
        let user = User::new();
        std::fs::copy(
            w.user.home.path().join("trust.toml"),
            user.home.path().join("trust.toml"),
        )
        .unwrap();
        let out = user.chitin(&[
            "skill",
            "install",
            &w.reg.repo(&format!("{repo}:0.1.0")),
            "--yes",
        ]);
        assert_eq!(out.status.success(), ok, "{repo}: {}", stderr(&out));
        if !ok {
            assert!(stderr(&out).contains("log"), "{}", stderr(&out));
        }
    }
}

#[test]
fn keygen_writes_a_protected_key_and_a_wrong_password_signs_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let w = world();
    let prefix = w.user.ws.path().join("mine");
    w.user.ok(&["keygen", prefix.to_str().unwrap()]);
    let key = prefix.with_extension("key");
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.contains("ENCRYPTED SIGSTORE PRIVATE KEY"), "{text}");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(prefix.with_extension("pub").exists());
    let err = w.user.fails(1, &["keygen", prefix.to_str().unwrap()]);
    assert!(err.contains("--force"), "{err}");

    // The key signs with its password (COSIGN_PASSWORD works too)…
    let mut cosign_user = User::new();
    cosign_user
        .env
        .push(("COSIGN_PASSWORD".into(), KEY_PASSWORD.into()));
    let file = w.version("0.1.0");
    let reference = w.reg.repo("acme/fs:0.1.0");
    cosign_user.ok(&[
        "skill",
        "push",
        file.to_str().unwrap(),
        &reference,
        "--sign-key",
        key.to_str().unwrap(),
    ]);
    // …and a wrong one fails before anything is pushed.
    let mut wrong = User::new();
    wrong.env.push(("CHITIN_PASSWORD".into(), "wrong".into()));
    let other_ref = w.reg.repo("acme/fs:dev");
    let err = wrong.fails(
        1,
        &[
            "skill",
            "push",
            file.to_str().unwrap(),
            &other_ref,
            "--sign-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(err.contains("password"), "{err}");
    assert!(!w.manifest_exists("acme/fs", "dev"));
}

impl World {
    fn manifest_exists(&self, repo: &str, tag: &str) -> bool {
        Command::new("curl")
            .args(["-sf", "-o", "/dev/null"])
            .arg(format!(
                "http://{}/v2/{repo}/manifests/{tag}",
                self.reg.addr
            ))
            .status()
            .unwrap()
            .success()
    }
}

#[test]
fn trust_show_lists_the_policy_in_force() {
    let user = User::new();
    let out = user.ok(&["trust", "show"]);
    assert!(out.contains("(not present)"), "{out}");
    assert!(out.contains("No rules"), "{out}");

    let acme = Publisher::new();
    std::fs::write(
        user.home.path().join("trust.toml"),
        format!(
            "[[rule]]\nrepositories = \"ghcr.io/acme/*\"\nkeys = [\"{}\"]\ndeny = [\"exec\"]\n\n\
             [[rule]]\nrepositories = \"ghcr.io/**\"\ndeny = [\"secrets\"]\n",
            acme.public.display()
        ),
    )
    .unwrap();
    let out = user.ok(&["trust", "show"]);
    assert!(out.contains("ghcr.io/acme/*"), "{out}");
    assert!(out.contains(&acme.fingerprint()), "{out}");
    assert!(out.contains("programs (exec)"), "{out}");
    assert!(out.contains("only adds ceilings"), "{out}");
    let doc: Value = serde_json::from_str(&user.ok(&["trust", "show", "--json"])).unwrap();
    assert_eq!(
        doc["rules"][0]["keys"][0]["fingerprint"],
        acme.fingerprint()
    );
    assert_eq!(doc["rules"][1]["deny"][0], "secrets");

    // A broken policy is an error that names the file and the problem.
    std::fs::write(
        user.home.path().join("trust.toml"),
        "[[rule]]\nrepos = \"x\"\n",
    )
    .unwrap();
    let err = user.fails(1, &["trust", "show"]);
    assert!(
        err.contains("trust.toml") && err.contains("unknown field"),
        "{err}"
    );
}

#[test]
fn an_exported_layout_carries_its_signature_into_audit_and_an_offline_install() {
    let w = world();
    let digest = w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    w.trust(&w.rule("acme/*", &[&w.acme], ""));
    assert!(w.install("acme/fs:0.1.0", &[]).status.success());
    let layout = w.export("file-search");

    // Another machine, no registry: the layout is audited and verified offline.
    let offline = User::new();
    let reference = format!("oci-layout:{}:0.1.0", layout.display());
    std::fs::write(
        offline.home.path().join("trust.toml"),
        format!(
            "[[rule]]\nrepositories = \"oci-layout:{}\"\nkeys = [\"{}\"]\n",
            layout.display(),
            w.acme.public.display()
        ),
    )
    .unwrap();
    let doc: Value =
        serde_json::from_str(&offline.ok(&["skill", "audit", &reference, "--json"])).unwrap();
    assert_eq!(doc["digest"], digest.as_str());
    assert_eq!(
        doc["signature"]["signer"]["fingerprint"],
        w.acme.fingerprint()
    );
    assert!(!doc["raw_imports"].as_array().unwrap().is_empty());
    offline.ok(&["skill", "verify", &reference]);
    offline.ok(&["skill", "install", &reference, "--yes"]);
    assert_eq!(
        offline.installed("file-search").unwrap()["signature"]["signer"]["fingerprint"],
        w.acme.fingerprint()
    );
}

#[test]
fn a_project_policy_is_read_first_and_policy_replaces_both() {
    let user = User::new();
    std::fs::create_dir_all(user.ws.path().join(".chitin")).unwrap();
    let project = user.ws.path().join(".chitin/trust.toml");
    std::fs::write(&project, "[[rule]]\nrepositories = \"project/**\"\n").unwrap();
    std::fs::write(
        user.home.path().join("trust.toml"),
        "[[rule]]\nrepositories = \"user/**\"\n",
    )
    .unwrap();
    let doc: Value = serde_json::from_str(&user.ok(&["trust", "show", "--json"])).unwrap();
    let repos: Vec<&str> = doc["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repositories"].as_str().unwrap())
        .collect();
    assert_eq!(repos, ["project/**", "user/**"]);
    assert_eq!(doc["files"][0]["path"], project.to_str().unwrap());

    let only = user.ws.path().join("only.toml");
    std::fs::write(&only, "[[rule]]\nrepositories = \"only/**\"\n").unwrap();
    let doc: Value = serde_json::from_str(&user.ok(&[
        "trust",
        "show",
        "--json",
        "--policy",
        only.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(doc["rules"].as_array().unwrap().len(), 1);
    assert_eq!(doc["rules"][0]["repositories"], "only/**");
}

/// A private Sigstore serving Fulcio and Rekor on 127.0.0.1, and its trusted root in a
/// file; the server keeps running on its own thread.
fn served_sigstore(w: &World) -> (std::sync::Arc<TestSigstore>, String, std::path::PathBuf) {
    let sigstore = std::sync::Arc::new(TestSigstore::new());
    let root = w.user.home.path().join("private-root.json");
    std::fs::write(&root, sigstore.trusted_root_json()).unwrap();
    let runtime = rt();
    let url = runtime.block_on(sigstore.clone().serve()).unwrap();
    std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    (sigstore, url, root)
}

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GH_RELEASE: &str =
    "https://github.com/acme/gh-issues/.github/workflows/release.yml@refs/tags/v1";

/// `chitin skill attest` of `reference` as the CI job `workflow` of `repository`
/// (`owner/name` on github.com).
fn attest(
    w: &World,
    url: &str,
    root: &Path,
    reference: &str,
    workflow: &str,
    repository: &str,
) -> std::process::Output {
    use chitin_registry::sigstore_bundle::testing::test_id_token_with;
    let predicate = w.user.ws.path().join("provenance.json");
    std::fs::write(
        &predicate,
        serde_json::json!({
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": { "workflow": {
                    "repository": format!("https://github.com/{repository}"),
                    "path": ".github/workflows/release.yml", "ref": "refs/tags/v1" } },
            },
            "runDetails": { "builder": { "id": "https://github.com/actions/runner/github-hosted" } },
        })
        .to_string(),
    )
    .unwrap();
    let mut ci = User::new();
    ci.env.push((
        "SIGSTORE_ID_TOKEN".into(),
        test_id_token_with(
            GITHUB_ISSUER,
            workflow,
            Some(("https://github.com", repository)),
        ),
    ));
    ci.chitin(&[
        "skill",
        "attest",
        &w.reg.repo(reference),
        "--predicate",
        predicate.to_str().unwrap(),
        "--keyless",
        "--fulcio-url",
        url,
        "--rekor-url",
        url,
        "--trusted-root",
        root.to_str().unwrap(),
    ])
}

#[test]
fn a_rule_requiring_provenance_refuses_a_skill_without_the_right_one() {
    let w = world();
    let (_sigstore, url, root) = served_sigstore(&w);
    let rule = w.rule(
        "acme/*",
        &[&w.acme],
        &format!(
            "trusted-root = \"{}\"\nprovenance = {{ builder = \"https://github.com/acme/gh-issues/.github/workflows/release.yml@refs/tags/*\", issuer = \"{GITHUB_ISSUER}\", source = \"github.com/acme/gh-issues\" }}",
            root.display()
        ),
    );
    w.trust(&rule);

    // Signed by a trusted key, but without provenance: refused, saying what is required.
    let digest = w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no provenance") && err.contains("github.com/acme/gh-issues"),
        "{err}"
    );
    assert!(w.nothing_stored());
    let audit: Value = serde_json::from_str(&w.user.ok(&[
        "skill",
        "audit",
        &w.reg.repo("acme/fs:0.1.0"),
        "--json",
    ]))
    .unwrap();
    assert_eq!(audit["provenance"]["status"], "none", "{audit}");
    assert!(audit["provenance"]["error"].is_string(), "{audit}");
    // `skill verify` holds a reference to the same rule.
    let err = w
        .user
        .fails(1, &["skill", "verify", &w.reg.repo("acme/fs:0.1.0")]);
    assert!(err.contains("no provenance"), "{err}");

    // Attested by acme's release workflow, through Fulcio and Rekor: installs, and
    // audit shows who built it from where (the source from the certificate).
    let out = attest(
        &w,
        &url,
        &root,
        "acme/fs:0.1.0",
        GH_RELEASE,
        "acme/gh-issues",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("provenance: built by"),
        "{}",
        stderr(&out)
    );
    w.user.ok(&["run", "file-search", "list"]);
    let verified: Value = serde_json::from_str(&w.user.ok(&[
        "skill",
        "verify",
        &w.reg.repo("acme/fs:0.1.0"),
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        verified["provenance"][0]["builder"], GH_RELEASE,
        "{verified}"
    );
    for target in ["file-search".to_string(), w.reg.repo("acme/fs:0.1.0")] {
        let audit: Value =
            serde_json::from_str(&w.user.ok(&["skill", "audit", &target, "--json"])).unwrap();
        let p = &audit["provenance"];
        assert_eq!(p["status"], "verified", "{target}: {audit}");
        assert_eq!(p["attestations"][0]["builder"], GH_RELEASE);
        assert_eq!(p["attestations"][0]["source"], "github.com/acme/gh-issues");
        assert_eq!(p["attestations"][0]["source_from"], "certificate");
        assert!(p["error"].is_null(), "{audit}");
    }
    let text = w.user.ok(&["skill", "audit", "file-search"]);
    assert!(text.contains(&format!("by {GH_RELEASE}")), "{text}");

    // The stored attestation is checked again at every load: one removed from the
    // index, or replaced by another skill's, is refused.
    let db = rusqlite::Connection::open(w.user.home.path().join("chitin.db")).unwrap();
    let stored: String = db
        .query_row("SELECT signature FROM skills", [], |r| r.get(0))
        .unwrap();
    let mut verified: Value = serde_json::from_str(&stored).unwrap();
    verified.as_object_mut().unwrap().remove("provenance");
    db.execute("UPDATE skills SET signature = ?1", [verified.to_string()])
        .unwrap();
    let err = w.user.fails(1, &["run", "file-search", "list"]);
    assert!(err.contains("no provenance"), "{err}");
    db.execute("UPDATE skills SET signature = ?1", [&stored])
        .unwrap();
    w.user.ok(&["run", "file-search", "list"]);

    // `export` carries the attestation: an offline machine whose policy requires the
    // same provenance for the layout installs it, and audits its provenance.
    let layout = w.export("file-search");
    let offline = User::new();
    std::fs::write(
        offline.home.path().join("trust.toml"),
        rule.replace(
            &w.reg.repo("acme/*"),
            &format!("oci-layout:{}", layout.display()),
        ),
    )
    .unwrap();
    let reference = format!("oci-layout:{}:0.1.0", layout.display());
    let audit: Value =
        serde_json::from_str(&offline.ok(&["skill", "audit", &reference, "--json"])).unwrap();
    assert_eq!(audit["provenance"]["status"], "verified", "{audit}");
    assert!(audit["provenance"]["error"].is_null(), "{audit}");
    assert_eq!(audit["yank"]["status"], "not-checked", "{audit}");
    offline.ok(&["skill", "install", &reference, "--yes"]);
    offline.ok(&["run", "file-search", "list"]);

    // Attested by a workflow of another repository: refused.
    w.push(&w.version("0.1.0"), "acme/evil:0.1.0", Some(&w.acme));
    let evil = GH_RELEASE.replace("acme/gh-issues", "evil/gh-issues");
    let out = attest(&w, &url, &root, "acme/evil:0.1.0", &evil, "evil/gh-issues");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.install("acme/evil:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("which is not"), "{}", stderr(&out));

    // acme's own workflow, but a build from another source repository: refused.
    w.push(&w.version("0.1.0"), "acme/fork:0.1.0", Some(&w.acme));
    let out = attest(
        &w,
        &url,
        &root,
        "acme/fork:0.1.0",
        GH_RELEASE,
        "evil/gh-issues",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.install("acme/fork:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("built from github.com/evil/gh-issues"),
        "{}",
        stderr(&out)
    );

    // acme's genuine attestation of 0.1.0, copied onto another skill: refused.
    let other = w.push(&w.version("0.1.1"), "acme/copy:0.1.1", Some(&w.acme));
    let SkillRef::Oci(r) = w.reg.repo("acme/fs:0.1.0").parse().unwrap() else {
        unreachable!()
    };
    let client = RegistryClient::for_ref(&r, &RegistryOptions::default()).unwrap();
    let genuine = rt()
        .block_on(client.fetch_attestations(&r.reference, &digest, &RegistryAuth::Anonymous))
        .unwrap();
    assert_eq!(genuine.len(), 1);
    let SkillRef::Oci(copy) = w.reg.repo("acme/copy:0.1.1").parse().unwrap() else {
        unreachable!()
    };
    let size = w.manifest_bytes("acme/copy", &other).len();
    rt().block_on(client.push_attestation(
        &copy.reference,
        &other,
        size,
        genuine[0].as_bytes(),
        chitin_registry::provenance::SLSA_PROVENANCE_V1,
        &RegistryAuth::Anonymous,
    ))
    .unwrap();
    let out = w.install("acme/copy:0.1.1", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no subject"), "{}", stderr(&out));
}

#[test]
fn a_version_yanked_by_its_publisher_is_refused_and_flagged() {
    let w = world();
    w.trust(&w.rule("acme/*", &[&w.acme], ""));
    let yank = |reference: &str, by: &Publisher, reason: &str| {
        w.user.chitin(&[
            "skill",
            "yank",
            &w.reg.repo(reference),
            "--reason",
            reason,
            "--key",
            by.key.to_str().unwrap(),
        ])
    };
    let fresh_install = |reference: &str| {
        let user = User::new();
        std::fs::copy(
            w.user.home.path().join("trust.toml"),
            user.home.path().join("trust.toml"),
        )
        .unwrap();
        user.chitin(&["skill", "install", &w.reg.repo(reference), "--yes"])
    };
    w.push(&w.version("0.1.0"), "acme/fs:0.1.0", Some(&w.acme));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Value = serde_json::from_str(&w.user.ok(&["skill", "list", "--json"])).unwrap();
    assert_eq!(list[0]["yank"]["status"], "not-yanked", "{list}");

    // Anyone who can push can attach a yank; one not signed by a trusted publisher is
    // ignored, or they could deny service.
    let out = yank("acme/fs:0.1.0", &w.other, "not really");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = fresh_install("acme/fs:0.1.0");
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Value = serde_json::from_str(&w.user.ok(&["skill", "list", "--json"])).unwrap();
    assert_eq!(list[0]["yank"]["status"], "not-yanked", "{list}");

    // The publisher's own yank: install refuses, with the reason made inert.
    let out = yank(
        "acme/fs:0.1.0",
        &w.acme,
        "leaks tokens \x1b[2J\x1b]0;owned\x07 upgrade",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = fresh_install("acme/fs:0.1.0");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("yanked by its publisher") && err.contains("leaks tokens"),
        "{err}"
    );
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    let err = w
        .user
        .fails(1, &["skill", "verify", &w.reg.repo("acme/fs:0.1.0")]);
    assert!(err.contains("yanked by its publisher"), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");

    // Installed already: list and audit flag it.
    let out = w.user.chitin(&["skill", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0.1.0 YANKED"));
    assert!(
        stderr(&out).contains("was yanked by key"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains('\x1b'), "{:?}", stderr(&out));
    let list: Value = serde_json::from_str(&w.user.ok(&["skill", "list", "--json"])).unwrap();
    assert_eq!(list[0]["yank"]["status"], "yanked", "{list}");
    let audit: Value =
        serde_json::from_str(&w.user.ok(&["skill", "audit", "file-search", "--json"])).unwrap();
    assert_eq!(audit["yank"]["status"], "yanked", "{audit}");
    assert!(
        audit["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("yanked"),
        "{audit}"
    );
    let text = w.user.ok(&["skill", "audit", "file-search"]);
    assert!(text.contains("YANKED"), "{text}");

    // An update to a yanked version is refused too.
    let updater = User::new();
    std::fs::copy(
        w.user.home.path().join("trust.toml"),
        updater.home.path().join("trust.toml"),
    )
    .unwrap();
    w.push(&w.version("0.2.0"), "acme/up:stable", Some(&w.acme));
    updater.ok(&["skill", "install", &w.reg.repo("acme/up:stable"), "--yes"]);
    w.push(&w.version("0.2.1"), "acme/up:stable", Some(&w.acme));
    let out = yank("acme/up:stable", &w.acme, "broken build");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = updater.chitin(&["skill", "update", "--yes"]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("broken build"), "{}", stderr(&out));

    // Offline, list says it could not check, and still lists.
    let World { reg, user, .. } = w;
    drop(reg);
    let out = user.chitin(&["skill", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("could not check"), "{}", stderr(&out));
    let list: Value = serde_json::from_str(&user.ok(&["skill", "list", "--json"])).unwrap();
    assert_eq!(list[0]["yank"]["status"], "unknown", "{list}");
}

#[test]
fn the_public_good_root_is_refreshed_through_tuf_and_kept_when_offline() {
    use chitin_registry::tuf::testing::TestTufRepo;
    const ISSUER: &str = "https://token.actions.example.com";
    const RELEASE: &str =
        "https://git.example.com/acme/skills/.github/workflows/release.yml@refs/tags/v1";
    let w = world();
    // A private Sigstore stands in for the public-good one: its trusted root is the
    // TUF repository's `trusted_root.json` target, served on 127.0.0.1.
    let sigstore = TestSigstore::new();
    let runtime = rt();
    let (tuf, mirror) = runtime.block_on(async {
        let tuf = TestTufRepo::new(&sigstore.trusted_root_json()).await;
        let url = tuf.serve().await.unwrap();
        (tuf, url)
    });
    let _serving = std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    let tuf_root = w.user.home.path().join("tuf-root.json");
    std::fs::write(&tuf_root, &tuf.root_json).unwrap();
    // A rule without `trusted-root`: the public-good root decides.
    w.trust(&format!(
        "[[rule]]\nrepositories = \"{}\"\nidentities = [{{ issuer = \"{ISSUER}\", subject = \"{RELEASE}\" }}]\n",
        w.reg.repo("acme/*"),
    ));
    let digest = w.push(&w.version("0.1.0"), "acme/fs:0.1.0", None);
    let bytes = w.manifest_bytes("acme/fs", &digest);
    let bundle = sigstore.sign(&bytes, RELEASE, ISSUER);
    w.attach(
        "acme/fs",
        &digest,
        &Envelope::Bundle {
            bundle: String::from_utf8(bundle.to_json()).unwrap(),
        },
    );
    // The shipped root does not know this Sigstore.
    let out = w.install("acme/fs:0.1.0", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let refresh = |mirror: &str, root: &Path| {
        w.user.chitin(&[
            "trust",
            "refresh",
            "--mirror",
            mirror,
            "--tuf-root",
            root.to_str().unwrap(),
        ])
    };

    // A repository signed by keys the starting root does not name is refused, and
    // nothing changes.
    let other = std::fs::read(&tuf_root).unwrap();
    let foreign = rt().block_on(TestTufRepo::new(&sigstore.trusted_root_json()));
    let foreign_root = w.user.home.path().join("foreign-root.json");
    std::fs::write(&foreign_root, &foreign.root_json).unwrap();
    let out = refresh(&mirror, &foreign_root);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("shipped with chitin stays in use"),
        "{}",
        stderr(&out)
    );
    assert_eq!(other, std::fs::read(&tuf_root).unwrap());

    // Refreshed through the TUF chain: `public-good` now means that root.
    let out = refresh(&mirror, &tuf_root);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.install("acme/fs:0.1.0", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.user.ok(&["run", "file-search", "list"]);
    assert!(
        w.user
            .ok(&["trust", "show"])
            .contains("refreshed through TUF")
    );

    // Offline: the refresh fails, says so, and the refreshed root stays in use.
    let out = refresh("http://127.0.0.1:9", &tuf_root);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refreshed earlier"),
        "{}",
        stderr(&out)
    );
    w.user.ok(&["run", "file-search", "list"]);
}
