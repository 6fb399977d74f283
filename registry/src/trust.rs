//! The trust policy: whose signatures this machine accepts, for which repositories,
//! and what skills from there may never ask for. Default deny: a repository no rule
//! covers does not install (short of an explicit `--allow-unsigned`).
//!
//! The policy is TOML (the README documents every field). Files are merged in order,
//! the project's (`.chitin/trust.toml`) before the user's; for a repository, the most
//! specific matching rule that names signers decides who may sign, and the `deny`
//! ceilings of every matching rule apply.
//!
//! ```
//! use chitin_registry::trust::TrustPolicy;
//! use chitin_registry::signing::{Envelope, KeyPair};
//!
//! let key = KeyPair::generate().unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("acme.pub"), key.public_key().to_pem()).unwrap();
//! let policy = TrustPolicy::parse(r#"
//!     [[rule]]
//!     repositories = "ghcr.io/acme/**"
//!     keys = ["acme.pub"]
//!     deny = ["exec"]
//! "#, dir.path(), &dir.path().join("trust.toml")).unwrap();
//!
//! let manifest = br#"{"schemaVersion":2}"#;
//! let digest = chitin_registry::artifact::sha256_digest(manifest);
//! let signed = Envelope::sign_cosign(&key, "ghcr.io/acme/notes", &digest).unwrap();
//! let ok = policy.verify("ghcr.io/acme/notes", manifest, &digest, &[signed.clone()]).unwrap();
//! assert_eq!(ok.signer.to_string(), format!("key {}", key.public_key().fingerprint()));
//! // The same key is not trusted for another namespace.
//! assert!(policy.verify("ghcr.io/evil/notes", manifest, &digest, &[signed]).is_err());
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use globset::GlobMatcher;
use serde::{Deserialize, Serialize};

use crate::Capabilities;
pub use crate::capability::Ceiling;
use crate::provenance::{Provenance, ProvenancePattern, ProvenanceRule};
use crate::signing::{Envelope, PublicKey};
use crate::sigstore_bundle::{TrustedRoot, verify_keyless};

/// Who signed a skill, as recorded at install and shown by `audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Signer {
    /// A key, named by the SHA-256 of its public key.
    Key { fingerprint: String },
    /// A keyless signer: the certificate's subject and the OIDC issuer that vouched.
    Identity { issuer: String, subject: String },
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Key { fingerprint } => write!(f, "key {fingerprint}"),
            Signer::Identity { issuer, subject } => write!(f, "{subject} (issuer {issuer})"),
        }
    }
}

/// A signature the policy accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub signer: Signer,
    /// The rule that trusts the signer: its pattern and file.
    pub rule: String,
    /// The signature itself, kept so every load can check it again.
    pub envelope: Envelope,
    /// The provenance attestations the policy required, verified (bundles included, so
    /// every load can check them again offline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance: Vec<Provenance>,
}

/// Why a skill is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("trust policy {path}: {reason}")]
    Policy { path: PathBuf, reason: String },
    #[error(
        "no trust rule covers {repository}, and chitin installs nothing by default; add a rule \
         naming its publisher's key or identity to {policy} (see the README, \"Trust\"), or \
         install it anyway with --allow-unsigned"
    )]
    NoRule { repository: String, policy: String },
    #[error(
        "{repository} has no signature; the rule {rule} requires one from {signers} \
         (install it anyway with --allow-unsigned)"
    )]
    Unsigned {
        repository: String,
        rule: String,
        signers: String,
    },
    #[error(
        "no signature on {repository} is from a signer the rule {rule} trusts ({signers}):\n  {}",
        .reasons.join("\n  ")
    )]
    Untrusted {
        repository: String,
        rule: String,
        signers: String,
        reasons: Vec<String>,
    },
    #[error("the rule {rule} does not let skills from {repository} ask for {what}: {line}")]
    Ceiling {
        repository: String,
        rule: String,
        what: String,
        line: String,
    },
    #[error(
        "{repository} has no provenance the rule {rule} requires: {required}; {}",
        if .found.is_empty() { "it has no provenance attestation (attach one with `chitin skill attest`)".to_string() } else { format!("found:\n  {}", .found.join("\n  ")) }
    )]
    NoProvenance {
        repository: String,
        rule: String,
        required: String,
        found: Vec<String>,
    },
    #[error(
        "{repository}@{digest} was yanked by its publisher ({signer}): {reason}; install \
         another version"
    )]
    Yanked {
        repository: String,
        digest: String,
        reason: String,
        signer: Box<Signer>,
    },
    #[error(
        "the update of `{name}` is signed by {new}, but the installed version by {installed}; \
         refusing a change of publisher (the rule {rule} would need `allow-signer-change = true`, \
         or remove the skill and install it again)"
    )]
    SignerChanged {
        name: String,
        installed: Box<Signer>,
        new: Box<Signer>,
        rule: String,
    },
}

/// A keyless signer pattern.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityPattern {
    /// The OIDC issuer, exactly (e.g. `https://token.actions.githubusercontent.com`).
    pub issuer: String,
    /// A glob over the certificate subject (an email or a workflow URI).
    pub subject: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    rule: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleFile {
    repositories: String,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    identities: Vec<IdentityPattern>,
    trusted_root: Option<String>,
    #[serde(default)]
    deny: Vec<Ceiling>,
    #[serde(default)]
    allow_signer_change: bool,
    provenance: Option<ProvenancePattern>,
}

/// One `[[rule]]`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The glob over `registry/repository` as written.
    pub repositories: String,
    pub source: PathBuf,
    matcher: GlobMatcher,
    /// Trusted keys, with the file each came from.
    pub keys: Vec<(String, PublicKey)>,
    pub identities: Vec<(IdentityPattern, GlobMatcher)>,
    /// The Sigstore root keyless signatures are checked against; `None` is the
    /// public-good one, parsed only when a keyless signature needs it (most rules name
    /// keys, and every `chitin run` reads the policy).
    pub trusted_root: Option<std::sync::Arc<TrustedRoot>>,
    /// `public-good`, or the trusted_root.json file, for display.
    pub trusted_root_name: String,
    pub deny: Vec<Ceiling>,
    pub allow_signer_change: bool,
    /// Skills from here need a SLSA provenance attestation matching this.
    pub provenance: Option<ProvenanceRule>,
    /// The one key given on the command line (`verify --key`), not a policy file's rule.
    pub given_key: bool,
}

impl Rule {
    /// `"pattern" (file)`, or `--key FILE` for a key given on the command line, for
    /// messages.
    pub fn label(&self) -> String {
        if self.given_key {
            return format!("--key {}", self.source.display());
        }
        format!("\"{}\" ({})", self.repositories, self.source.display())
    }

    pub fn has_signers(&self) -> bool {
        !self.keys.is_empty() || !self.identities.is_empty()
    }

    /// The signers, for messages.
    pub fn signers(&self) -> String {
        let mut all: Vec<String> = self
            .keys
            .iter()
            .map(|(file, key)| format!("key {} ({file})", key.fingerprint()))
            .collect();
        all.extend(
            self.identities
                .iter()
                .map(|(i, _)| format!("{} from {}", i.subject, i.issuer)),
        );
        all.join(", ")
    }

    /// Does any signer of this rule vouch for the manifest through `envelope`?
    fn accepts(
        &self,
        envelope: &Envelope,
        manifest_bytes: &[u8],
        digest: &str,
        public_good: &std::sync::Arc<TrustedRoot>,
    ) -> Result<Signer, String> {
        let mut reasons = Vec::new();
        let keyless = match envelope.bundle() {
            Some(Ok(b)) if b.is_keyless() => Some(b),
            Some(Err(e)) => return Err(e.to_string()),
            _ => None,
        };
        if let Some(bundle) = keyless {
            if self.identities.is_empty() {
                return Err("a keyless signature, but the rule trusts only keys".into());
            }
            let digest_bytes: [u8; 32] = hex::decode(digest.trim_start_matches("sha256:"))
                .ok()
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| format!("`{digest}` is not a SHA-256 digest"))?;
            if crate::artifact::sha256_digest(manifest_bytes) != digest {
                return Err("the manifest bytes are not the ones the digest names".into());
            }
            let root = self
                .trusted_root
                .clone()
                .unwrap_or_else(|| public_good.clone());
            let id = verify_keyless(&bundle, &digest_bytes, &root).map_err(|e| e.to_string())?;
            let trusted = self
                .identities
                .iter()
                .any(|(p, subject)| p.issuer == id.issuer && subject.is_match(&id.subject));
            if !trusted {
                return Err(format!(
                    "signed by {} (issuer {}), an identity the rule does not trust",
                    id.subject, id.issuer
                ));
            }
            return Ok(Signer::Identity {
                issuer: id.issuer,
                subject: id.subject,
            });
        }
        for (_, key) in &self.keys {
            match envelope.verify_with_key_in(
                manifest_bytes,
                digest,
                key,
                Some(self.trusted_root.as_deref().unwrap_or(public_good)),
            ) {
                Ok(()) => {
                    return Ok(Signer::Key {
                        fingerprint: key.fingerprint(),
                    });
                }
                Err(e) => reasons.push(e.to_string()),
            }
        }
        if reasons.is_empty() {
            reasons.push("no signer of this rule could check it".to_string());
        }
        // Most useful reason: a digest mismatch or malformed input beats "bad
        // signature with key X" repeated for every key.
        reasons.dedup();
        Err(reasons.join("; "))
    }
}

/// The merged policy.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    pub rules: Vec<Rule>,
    /// The files it was read from (existing or not), for messages.
    pub sources: Vec<PathBuf>,
    /// What `public-good` means: a trusted root refreshed through TUF (`chitin trust
    /// refresh`), or `None` for the one shipped with chitin.
    pub public_good: Option<std::sync::Arc<TrustedRoot>>,
}

impl TrustPolicy {
    /// Read and merge `files` in order; a file that does not exist adds nothing.
    pub fn load(files: &[PathBuf]) -> Result<Self, TrustError> {
        let mut policy = TrustPolicy {
            sources: files.to_vec(),
            ..Default::default()
        };
        for file in files {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(TrustError::Policy {
                        path: file.clone(),
                        reason: e.to_string(),
                    });
                }
            };
            let base = file.parent().unwrap_or(Path::new("."));
            policy.rules.extend(Self::parse(&text, base, file)?.rules);
        }
        Ok(policy)
    }

    /// Parse one policy file; relative key and root paths are relative to `base`.
    pub fn parse(text: &str, base: &Path, source: &Path) -> Result<Self, TrustError> {
        let err = |reason: String| TrustError::Policy {
            path: source.to_path_buf(),
            reason,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut rules = Vec::new();
        for r in file.rule {
            let matcher = glob(&r.repositories)
                .map_err(|e| err(format!("`repositories = \"{}\"`: {e}", r.repositories)))?;
            let mut keys = Vec::new();
            for k in &r.keys {
                let path = base.join(k);
                let pem = std::fs::read(&path)
                    .map_err(|e| err(format!("key `{k}` ({}): {e}", path.display())))?;
                let key = PublicKey::from_pem(&pem).map_err(|e| err(format!("key `{k}`: {e}")))?;
                keys.push((k.clone(), key));
            }
            let mut identities = Vec::new();
            for i in r.identities {
                if i.issuer.is_empty() || i.subject.is_empty() {
                    return Err(err("an identity needs both `issuer` and `subject`".into()));
                }
                let m = glob(&i.subject)
                    .map_err(|e| err(format!("identity subject `{}`: {e}", i.subject)))?;
                identities.push((i, m));
            }
            let (trusted_root_name, trusted_root) = match r.trusted_root.as_deref() {
                None | Some("public-good") => ("public-good".to_string(), None),
                Some(p) => {
                    let path = base.join(p);
                    let json = std::fs::read(&path).map_err(|e| {
                        err(format!("trusted-root `{p}` ({}): {e}", path.display()))
                    })?;
                    let root = TrustedRoot::from_json(&json)
                        .map_err(|e| err(format!("trusted-root `{p}`: {e}")))?;
                    (path.display().to_string(), Some(std::sync::Arc::new(root)))
                }
            };
            let provenance = r
                .provenance
                .map(ProvenanceRule::new)
                .transpose()
                .map_err(err)?;
            rules.push(Rule {
                repositories: r.repositories,
                source: source.to_path_buf(),
                matcher,
                keys,
                identities,
                trusted_root,
                trusted_root_name,
                deny: r.deny,
                allow_signer_change: r.allow_signer_change,
                provenance,
                given_key: false,
            });
        }
        Ok(TrustPolicy {
            rules,
            sources: vec![source.to_path_buf()],
            public_good: None,
        })
    }

    /// A policy of one rule: `key` trusted for every repository (`verify --key`).
    pub fn single_key(key: PublicKey, label: &str) -> Self {
        TrustPolicy {
            rules: vec![Rule {
                repositories: "**".into(),
                source: PathBuf::from(label),
                matcher: glob("**").expect("valid glob"),
                keys: vec![(label.to_string(), key)],
                identities: Vec::new(),
                trusted_root: None,
                trusted_root_name: "public-good".into(),
                deny: Vec::new(),
                allow_signer_change: false,
                provenance: None,
                given_key: true,
            }],
            sources: vec![PathBuf::from(label)],
            public_good: None,
        }
    }

    /// The rules covering `repository`.
    pub fn matching(&self, repository: &str) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.matcher.is_match(repository))
            .collect()
    }

    /// The rule that decides who may sign for `repository`: the most specific matching
    /// rule with signers (the longest pattern; on a tie, the earlier file).
    pub fn signing_rule(&self, repository: &str) -> Option<&Rule> {
        self.matching(repository)
            .into_iter()
            .filter(|r| r.has_signers())
            .fold(None, |best: Option<&Rule>, r| match best {
                Some(b) if b.repositories.len() >= r.repositories.len() => Some(b),
                _ => Some(r),
            })
    }

    fn sources_text(&self) -> String {
        self.sources
            .iter()
            .map(|p| match p.exists() {
                true => p.display().to_string(),
                false => format!("{} (which does not exist)", p.display()),
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// Find a signature on the manifest (`manifest_bytes`, whose digest is `digest`)
    /// that the policy trusts for `repository`.
    pub fn verify(
        &self,
        repository: &str,
        manifest_bytes: &[u8],
        digest: &str,
        envelopes: &[Envelope],
    ) -> Result<Verified, TrustError> {
        let rule = self
            .signing_rule(repository)
            .ok_or_else(|| TrustError::NoRule {
                repository: repository.to_string(),
                policy: self.sources_text(),
            })?;
        if envelopes.is_empty() {
            return Err(TrustError::Unsigned {
                repository: repository.to_string(),
                rule: rule.label(),
                signers: rule.signers(),
            });
        }
        let mut reasons = Vec::new();
        for envelope in envelopes {
            match rule.accepts(envelope, manifest_bytes, digest, &self.default_root()) {
                Ok(signer) => {
                    return Ok(Verified {
                        signer,
                        rule: rule.label(),
                        envelope: envelope.clone(),
                        provenance: Vec::new(),
                    });
                }
                Err(reason) => reasons.push(format!("{}: {reason}", envelope.form())),
            }
        }
        Err(TrustError::Untrusted {
            repository: repository.to_string(),
            rule: rule.label(),
            signers: rule.signers(),
            reasons,
        })
    }

    /// The `provenance` requirement of every rule covering `repository` (like ceilings,
    /// each applies), each met by one of `attestations` (Sigstore bundle JSON) for the
    /// manifest `digest`, verified against that rule's trusted root. Returns what met
    /// them; none when no rule requires provenance.
    pub fn check_provenance(
        &self,
        repository: &str,
        digest: &str,
        attestations: &[String],
    ) -> Result<Vec<Provenance>, TrustError> {
        let mut met = Vec::new();
        for rule in self.matching(repository) {
            let Some(required) = &rule.provenance else {
                continue;
            };
            let root = rule
                .trusted_root
                .clone()
                .unwrap_or_else(|| self.default_root());
            let mut found = Vec::new();
            let mut ok = None;
            for bundle in attestations {
                match crate::provenance::inspect(bundle, digest, &root) {
                    Ok(p) => match required.check(&p) {
                        Ok(()) => {
                            ok = Some(p);
                            break;
                        }
                        Err(why) => found.push(why),
                    },
                    Err(why) => found.push(format!("an attestation that does not verify: {why}")),
                }
            }
            match ok {
                Some(p) => {
                    if !met.contains(&p) {
                        met.push(p);
                    }
                }
                None => {
                    return Err(TrustError::NoProvenance {
                        repository: repository.to_string(),
                        rule: rule.label(),
                        required: required.describe(),
                        found,
                    });
                }
            }
        }
        Ok(met)
    }

    /// Every attestation of `attestations` for `digest`, verified against the trusted
    /// root of the rule that requires provenance for `repository` (else the signing
    /// rule's; else public-good), for display; none is judged against a requirement.
    pub fn inspect_provenance(
        &self,
        repository: &str,
        digest: &str,
        attestations: &[String],
    ) -> Vec<Result<Provenance, String>> {
        let rules = self.matching(repository);
        let root = rules
            .iter()
            .find(|r| r.provenance.is_some())
            .copied()
            .or_else(|| self.signing_rule(repository))
            .and_then(|r| r.trusted_root.clone())
            .unwrap_or_else(|| self.default_root());
        attestations
            .iter()
            .map(|b| crate::provenance::inspect(b, digest, &root))
            .collect()
    }

    /// What the rules covering `repository` require of provenance, for display.
    pub fn provenance_required(&self, repository: &str) -> Vec<String> {
        self.matching(repository)
            .iter()
            .filter_map(|r| {
                r.provenance
                    .as_ref()
                    .map(|p| format!("{} (rule {})", p.describe(), r.label()))
            })
            .collect()
    }

    /// The root `public-good` stands for: the refreshed one if set, else the shipped one.
    pub fn default_root(&self) -> std::sync::Arc<TrustedRoot> {
        self.public_good.clone().unwrap_or_else(public_good)
    }

    /// Whether any rule covering `repository` requires provenance.
    pub fn requires_provenance(&self, repository: &str) -> bool {
        self.matching(repository)
            .iter()
            .any(|r| r.provenance.is_some())
    }

    /// Check the declared capabilities against the `deny` of every matching rule.
    pub fn check_ceiling(
        &self,
        repository: &str,
        capabilities: &Capabilities,
    ) -> Result<(), TrustError> {
        for rule in self.matching(repository) {
            for denied in &rule.deny {
                if let Some(line) = denied.first_use(capabilities) {
                    return Err(TrustError::Ceiling {
                        repository: repository.to_string(),
                        rule: rule.label(),
                        what: denied.to_string(),
                        line,
                    });
                }
            }
        }
        Ok(())
    }

    /// An update must come from the publisher of the installed version, unless the
    /// signing rule allows a change.
    pub fn check_same_signer(
        &self,
        name: &str,
        repository: &str,
        installed: &Signer,
        new: &Verified,
    ) -> Result<(), TrustError> {
        if *installed == new.signer {
            return Ok(());
        }
        let rule = self.signing_rule(repository);
        if rule.is_some_and(|r| r.allow_signer_change) {
            return Ok(());
        }
        Err(TrustError::SignerChanged {
            name: name.to_string(),
            installed: Box::new(installed.clone()),
            new: Box::new(new.signer.clone()),
            rule: new.rule.clone(),
        })
    }
}

/// The public-good root, parsed once per process.
fn public_good() -> std::sync::Arc<TrustedRoot> {
    static ROOT: std::sync::OnceLock<std::sync::Arc<TrustedRoot>> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| std::sync::Arc::new(TrustedRoot::public_good()))
        .clone()
}

/// `*` stays within a path segment, `**` crosses them.
fn glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// The first declared capability of kind `denied`, as a line for the message.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::KeyPair;

    struct Fixture {
        dir: tempfile::TempDir,
        acme: KeyPair,
        other: KeyPair,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let acme = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("acme.pub"), acme.public_key().to_pem()).unwrap();
        std::fs::write(dir.path().join("other.pub"), other.public_key().to_pem()).unwrap();
        Fixture { dir, acme, other }
    }

    fn policy(f: &Fixture, text: &str) -> TrustPolicy {
        TrustPolicy::parse(text, f.dir.path(), &f.dir.path().join("trust.toml")).unwrap()
    }

    const MANIFEST: &[u8] = br#"{"schemaVersion":2}"#;

    fn signed(key: &KeyPair) -> (String, Envelope) {
        let digest = crate::artifact::sha256_digest(MANIFEST);
        let env = Envelope::sign_cosign(key, "r", &digest).unwrap();
        (digest, env)
    }

    #[test]
    fn default_deny_without_a_rule() {
        let f = fixture();
        let p = policy(&f, "");
        let (digest, env) = signed(&f.acme);
        let err = p
            .verify("ghcr.io/acme/x", MANIFEST, &digest, &[env])
            .unwrap_err();
        assert!(matches!(err, TrustError::NoRule { .. }), "{err}");
        assert!(err.to_string().contains("--allow-unsigned"));
    }

    #[test]
    fn unsigned_and_untrusted_are_refused() {
        let f = fixture();
        let p = policy(
            &f,
            "[[rule]]\nrepositories = \"ghcr.io/acme/*\"\nkeys = [\"acme.pub\"]\n",
        );
        let (digest, by_other) = signed(&f.other);
        let err = p
            .verify("ghcr.io/acme/x", MANIFEST, &digest, &[])
            .unwrap_err();
        assert!(matches!(err, TrustError::Unsigned { .. }), "{err}");
        let err = p
            .verify("ghcr.io/acme/x", MANIFEST, &digest, &[by_other])
            .unwrap_err();
        assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
        assert!(err.to_string().contains("does not verify"), "{err}");
    }

    #[test]
    fn a_key_is_trusted_only_for_its_namespace() {
        let f = fixture();
        let p = policy(
            &f,
            r#"
            [[rule]]
            repositories = "ghcr.io/acme/*"
            keys = ["acme.pub"]
            [[rule]]
            repositories = "ghcr.io/other/*"
            keys = ["other.pub"]
            "#,
        );
        let (digest, by_acme) = signed(&f.acme);
        p.verify(
            "ghcr.io/acme/x",
            MANIFEST,
            &digest,
            std::slice::from_ref(&by_acme),
        )
        .unwrap();
        let err = p
            .verify(
                "ghcr.io/other/x",
                MANIFEST,
                &digest,
                std::slice::from_ref(&by_acme),
            )
            .unwrap_err();
        assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
        // `*` does not cross `/`.
        let err = p
            .verify("ghcr.io/acme/nested/x", MANIFEST, &digest, &[by_acme])
            .unwrap_err();
        assert!(matches!(err, TrustError::NoRule { .. }), "{err}");
    }

    #[test]
    fn the_most_specific_rule_decides_and_every_ceiling_applies() {
        let f = fixture();
        let p = policy(
            &f,
            r#"
            [[rule]]
            repositories = "ghcr.io/**"
            keys = ["other.pub"]
            deny = ["exec"]
            [[rule]]
            repositories = "ghcr.io/acme/**"
            keys = ["acme.pub"]
            deny = ["fs-write"]
            "#,
        );
        let (digest, by_acme) = signed(&f.acme);
        let ok = p
            .verify("ghcr.io/acme/x", MANIFEST, &digest, &[by_acme])
            .unwrap();
        assert!(ok.rule.contains("ghcr.io/acme/**"));
        let m = crate::manifest::parse(
            r#"
            [skill]
            name = "x"
            version = "1.0.0"
            [capabilities]
            fs = [{ path = "$WORKSPACE", access = "read" }]
            exec = [{ program = "git", args = ["log"] }]
            "#,
        )
        .unwrap();
        let err = p
            .check_ceiling("ghcr.io/acme/x", &m.capabilities)
            .unwrap_err();
        assert!(err.to_string().contains("exec git"), "{err}");
        let mut read_only = m.capabilities.clone();
        read_only.exec.clear();
        p.check_ceiling("ghcr.io/acme/x", &read_only).unwrap();
        read_only.fs[0].access = crate::Access::ReadWrite;
        let err = p.check_ceiling("ghcr.io/acme/x", &read_only).unwrap_err();
        assert!(err.to_string().contains("fs-write"), "{err}");
    }

    #[test]
    fn a_rule_without_signers_only_adds_ceilings() {
        let f = fixture();
        let p = policy(
            &f,
            r#"
            [[rule]]
            repositories = "ghcr.io/**"
            deny = ["exec"]
            "#,
        );
        let (digest, by_acme) = signed(&f.acme);
        let err = p
            .verify("ghcr.io/acme/x", MANIFEST, &digest, &[by_acme])
            .unwrap_err();
        assert!(matches!(err, TrustError::NoRule { .. }), "{err}");
        let mut caps = Capabilities::default();
        p.check_ceiling("ghcr.io/acme/x", &caps).unwrap();
        caps.exec = crate::manifest::parse(
            "[skill]\nname = \"x\"\nversion = \"1.0.0\"\n[capabilities]\nexec = [{ program = \"git\", args = [\"log\"] }]\n",
        )
        .unwrap()
        .capabilities
        .exec;
        assert!(p.check_ceiling("ghcr.io/acme/x", &caps).is_err());
    }

    /// Every `deny` kind refuses exactly the skills that declare it, and nothing else.
    #[test]
    fn each_ceiling_refuses_exactly_its_capability() {
        let f = fixture();
        let declaring = |line: &str| {
            crate::manifest::parse(&format!(
                "[skill]\nname = \"x\"\nversion = \"1.0.0\"\n[capabilities]\n{line}\n"
            ))
            .unwrap()
            .capabilities
        };
        let skills = [
            (
                "fs-read",
                declaring(r#"fs = [{ path = "$WORKSPACE", access = "read" }]"#),
            ),
            (
                "fs-write",
                declaring(r#"fs = [{ path = "$WORKSPACE", access = "read-write" }]"#),
            ),
            ("http", declaring(r#"http = ["https://api.example.com/*"]"#)),
            (
                "exec",
                declaring(r#"exec = [{ program = "git", args = ["log"] }]"#),
            ),
            ("env", declaring(r#"env = ["LANG"]"#)),
            (
                "secrets",
                declaring(
                    r#"http = ["https://api.example.com/*"]
secrets = [{ name = "TOKEN", hosts = ["api.example.com"], header = "Authorization", format = "Bearer {}" }]"#,
                ),
            ),
            ("nothing", Capabilities::default()),
        ];
        // (deny, the skills it refuses, what the refusal quotes)
        let table: &[(&str, &[&str], &str)] = &[
            ("fs", &["fs-read", "fs-write"], "fs "),
            ("fs-write", &["fs-write"], "fs read-write $WORKSPACE"),
            (
                "http",
                &["http", "secrets"],
                "http https://api.example.com/*",
            ),
            ("exec", &["exec"], "exec git log"),
            ("env", &["env"], "env LANG"),
            ("secrets", &["secrets"], "secret TOKEN"),
        ];
        for (deny, refused, quoted) in table {
            let p = policy(
                &f,
                &format!("[[rule]]\nrepositories = \"ghcr.io/**\"\ndeny = [\"{deny}\"]\n"),
            );
            for (name, caps) in &skills {
                let result = p.check_ceiling("ghcr.io/acme/x", caps);
                if refused.contains(name) {
                    let err = result.expect_err(&format!("deny {deny} let {name} through"));
                    assert!(matches!(err, TrustError::Ceiling { .. }), "{err}");
                    assert!(err.to_string().contains(quoted), "deny {deny}: {err}");
                } else {
                    assert!(result.is_ok(), "deny {deny} refused {name}: {result:?}");
                }
            }
            // A rule for another namespace sets no ceiling here.
            for (_, caps) in &skills {
                p.check_ceiling("docker.io/acme/x", caps).unwrap();
            }
        }
    }

    /// Two rules equally specific for a repository: the one read first decides who
    /// signs, so a later file (a project's) cannot take over the user's namespace.
    #[test]
    fn a_tie_between_rules_goes_to_the_earlier_file() {
        let f = fixture();
        let user = f.dir.path().join("user.toml");
        let project = f.dir.path().join("project.toml");
        std::fs::write(
            &user,
            "[[rule]]\nrepositories = \"ghcr.io/acme/*\"\nkeys = [\"acme.pub\"]\n",
        )
        .unwrap();
        std::fs::write(
            &project,
            "[[rule]]\nrepositories = \"ghcr.io/*cme/x\"\nkeys = [\"other.pub\"]\n",
        )
        .unwrap();
        for (files, winner, loser) in [
            ([user.clone(), project.clone()], &f.acme, &f.other),
            ([project.clone(), user.clone()], &f.other, &f.acme),
        ] {
            let p = TrustPolicy::load(&files).unwrap();
            let rule = p.signing_rule("ghcr.io/acme/x").unwrap();
            assert_eq!(rule.source, files[0]);
            let (digest, by_winner) = signed(winner);
            p.verify("ghcr.io/acme/x", MANIFEST, &digest, &[by_winner])
                .unwrap();
            let (digest, by_loser) = signed(loser);
            let err = p
                .verify("ghcr.io/acme/x", MANIFEST, &digest, &[by_loser])
                .unwrap_err();
            assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
        }
    }

    #[test]
    fn a_change_of_signer_needs_the_rule_to_allow_it() {
        let f = fixture();
        let text = r#"
            [[rule]]
            repositories = "ghcr.io/acme/*"
            keys = ["acme.pub", "other.pub"]
            "#;
        let p = policy(&f, text);
        let (digest, by_other) = signed(&f.other);
        let new = p
            .verify("ghcr.io/acme/x", MANIFEST, &digest, &[by_other])
            .unwrap();
        let installed = Signer::Key {
            fingerprint: f.acme.public_key().fingerprint(),
        };
        let err = p
            .check_same_signer("x", "ghcr.io/acme/x", &installed, &new)
            .unwrap_err();
        assert!(matches!(err, TrustError::SignerChanged { .. }), "{err}");
        let p = policy(&f, &format!("{text}allow-signer-change = true\n"));
        p.check_same_signer("x", "ghcr.io/acme/x", &installed, &new)
            .unwrap();
    }

    mod keyless {
        use super::*;
        use crate::sigstore_bundle::testing::{Fault, SignOptions, TestSigstore};

        const ISSUER: &str = "https://token.actions.example.com";
        const WORKFLOW: &str =
            "https://git.example.com/acme/skills/.github/workflows/release.yml@refs/tags/v1";

        /// A private Sigstore and a policy trusting acme's release workflow from it.
        fn setup() -> (Fixture, TestSigstore, TrustPolicy) {
            let f = fixture();
            let sigstore = TestSigstore::new();
            std::fs::write(f.dir.path().join("root.json"), sigstore.trusted_root_json()).unwrap();
            let p = policy(
                &f,
                &format!(
                    r#"
                    [[rule]]
                    repositories = "ghcr.io/acme/**"
                    trusted-root = "root.json"
                    identities = [{{ issuer = "{ISSUER}", subject = "https://git.example.com/acme/skills/.github/workflows/release.yml@refs/tags/*" }}]
                    "#
                ),
            );
            (f, sigstore, p)
        }

        fn envelope(bundle: crate::Bundle) -> Envelope {
            Envelope::Bundle {
                bundle: String::from_utf8(bundle.to_json()).unwrap(),
            }
        }

        fn check(p: &TrustPolicy, env: Envelope) -> Result<Verified, TrustError> {
            let digest = crate::artifact::sha256_digest(MANIFEST);
            p.verify("ghcr.io/acme/x", MANIFEST, &digest, &[env])
        }

        #[test]
        fn a_trusted_identity_is_accepted() {
            let (_f, sigstore, p) = setup();
            let ok = check(&p, envelope(sigstore.sign(MANIFEST, WORKFLOW, ISSUER))).unwrap();
            assert_eq!(
                ok.signer,
                Signer::Identity {
                    issuer: ISSUER.into(),
                    subject: WORKFLOW.into()
                }
            );
        }

        #[test]
        fn wrong_identity_issuer_or_root_is_refused() {
            let (_f, sigstore, p) = setup();
            let other_repo = WORKFLOW.replace("acme/skills", "evil/skills");
            for (subject, issuer) in [
                (other_repo.as_str(), ISSUER),
                (WORKFLOW, "https://accounts.evil.example"),
            ] {
                let err =
                    check(&p, envelope(sigstore.sign(MANIFEST, subject, issuer))).unwrap_err();
                assert!(err.to_string().contains("does not trust"), "{err}");
            }
            // The public-good root (a rule without `trusted-root`) does not vouch for a
            // private Sigstore's certificates.
            let err = check(
                &p,
                envelope(TestSigstore::new().sign(MANIFEST, WORKFLOW, ISSUER)),
            )
            .unwrap_err();
            assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
        }

        #[test]
        fn an_expired_certificate_needs_its_log_entry() {
            let (_f, sigstore, p) = setup();
            let an_hour_ago = SignOptions {
                cert_not_before: Some(now() - 3600),
                ..Default::default()
            };
            check(
                &p,
                envelope(sigstore.sign_with(MANIFEST, WORKFLOW, ISSUER, &an_hour_ago)),
            )
            .unwrap();
            let unlogged = SignOptions {
                fault: Some(Fault::NoLogEntry),
                ..an_hour_ago
            };
            let err = check(
                &p,
                envelope(sigstore.sign_with(MANIFEST, WORKFLOW, ISSUER, &unlogged)),
            )
            .unwrap_err();
            assert!(err.to_string().contains("log"), "{err}");
        }

        #[test]
        fn a_signature_over_another_manifest_is_refused() {
            let (_f, sigstore, p) = setup();
            let other = sigstore.sign(br#"{"schemaVersion":3}"#, WORKFLOW, ISSUER);
            let err = check(&p, envelope(other)).unwrap_err();
            assert!(matches!(err, TrustError::Untrusted { .. }), "{err}");
        }

        /// A `provenance` requirement applies from every matching rule, and is met only
        /// by an attestation of this digest by the named builder from the named source.
        #[test]
        fn provenance_is_required_by_every_matching_rule() {
            let (f, sigstore, _) = setup();
            let p = policy(
                &f,
                &format!(
                    r#"
                    [[rule]]
                    repositories = "ghcr.io/**"
                    trusted-root = "root.json"
                    provenance = {{ builder = "{WORKFLOW}", issuer = "{ISSUER}", source = "git.example.com/acme/skills" }}
                    [[rule]]
                    repositories = "ghcr.io/acme/*"
                    keys = ["acme.pub"]
                    "#
                ),
            );
            let digest = crate::artifact::sha256_digest(MANIFEST);
            let attest = |digest: &str, source: &str| {
                let statement = crate::provenance::example_statement(digest, "b", "x");
                let options = SignOptions {
                    source_repository: Some(source.into()),
                    ..Default::default()
                };
                String::from_utf8(
                    sigstore
                        .attest_with(&statement, WORKFLOW, ISSUER, &options)
                        .to_json(),
                )
                .unwrap()
            };
            let good = attest(&digest, "https://git.example.com/acme/skills");
            let met = p
                .check_provenance("ghcr.io/acme/x", &digest, std::slice::from_ref(&good))
                .unwrap();
            assert_eq!(met.len(), 1);
            assert_eq!(met[0].builder, WORKFLOW);
            for (attestations, why) in [
                (vec![], "no provenance attestation"),
                (
                    vec![attest(&digest, "https://git.example.com/evil/skills")],
                    "built from",
                ),
                (
                    vec![attest(
                        &crate::artifact::sha256_digest(b"{}"),
                        "https://git.example.com/acme/skills",
                    )],
                    "does not verify",
                ),
            ] {
                let err = p
                    .check_provenance("ghcr.io/acme/x", &digest, &attestations)
                    .unwrap_err();
                assert!(matches!(err, TrustError::NoProvenance { .. }), "{err}");
                assert!(err.to_string().contains(why), "{err}");
            }
            // Outside the rule's repositories nothing is required.
            assert!(
                p.check_provenance("docker.io/acme/x", &digest, &[])
                    .unwrap()
                    .is_empty()
            );
        }

        #[test]
        fn a_keyless_signature_under_a_keys_only_rule_is_refused() {
            let f = fixture();
            let p = policy(
                &f,
                "[[rule]]\nrepositories = \"ghcr.io/acme/**\"\nkeys = [\"acme.pub\"]\n",
            );
            let sigstore = TestSigstore::new();
            let err = check(&p, envelope(sigstore.sign(MANIFEST, WORKFLOW, ISSUER))).unwrap_err();
            assert!(err.to_string().contains("only keys"), "{err}");
        }

        fn now() -> i64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
        }
    }

    #[test]
    fn policy_errors_name_the_problem() {
        let f = fixture();
        let parse = |t: &str| {
            TrustPolicy::parse(t, f.dir.path(), Path::new("trust.toml"))
                .unwrap_err()
                .to_string()
        };
        assert!(parse("[[rule]]\nrepositories = \"x\"\nkey = []\n").contains("unknown field"));
        assert!(
            parse("[[rule]]\nrepositories = \"x\"\nkeys = [\"missing.pub\"]\n")
                .contains("missing.pub")
        );
        assert!(
            parse("[[rule]]\nrepositories = \"x\"\ndeny = [\"network\"]\n")
                .contains("unknown variant")
        );
    }
}
