//! Yanked versions: a publisher withdraws one published digest of a skill, with a reason.
//!
//! A yank is a small JSON statement (`repository`, `digest`, `reason`) stored as the one
//! layer of an OCI artifact (artifact type [`YANK_ARTIFACT_TYPE`]) whose `subject` is the
//! yanked manifest, so it is found through the referrers API or the referrers tag like a
//! Sigstore bundle. The yank artifact's manifest is then **signed like a skill** (cosign
//! signature or Sigstore bundle over its digest, keyed or keyless), and a yank counts only
//! when the trust policy's signing rule for the repository accepts that signature: anyone
//! who can push to a registry can attach a yank, and an unsigned or foreign one must not
//! deny service.
//!
//! The statement names its repository, so a yank signed for `acme/a@X` cannot be copied
//! to `acme/b`, which may hold the same digest.

use oci_client::Reference;
use oci_client::secrets::RegistryAuth;
use serde::{Deserialize, Serialize};

use crate::RegistryError;
use crate::oci::RegistryClient;
use crate::signatures::referrer_manifest;
use crate::signing::Envelope;
use crate::trust::{Signer, TrustPolicy};

/// The OCI artifact type (and layer media type) of a yank.
pub const YANK_ARTIFACT_TYPE: &str = "application/vnd.chitin.yank.v1+json";
/// The `_type` of a yank statement.
pub const YANK_STATEMENT_TYPE: &str = "https://chitin.dev/yank/v1";
/// A reason longer than this is refused when yanking and cut when shown.
pub const MAX_REASON_CHARS: usize = 500;
/// A yank statement is small.
const MAX_STATEMENT_BYTES: usize = 16 << 10;

/// What a yank says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YankStatement {
    #[serde(rename = "_type")]
    pub kind: String,
    /// `registry/repository` of the yanked skill.
    pub repository: String,
    /// The yanked manifest digest.
    pub digest: String,
    pub reason: String,
}

impl YankStatement {
    pub fn new(repository: &str, digest: &str, reason: &str) -> Result<Self, String> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err("a yank needs a reason (--reason), shown to everyone who has it".into());
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(format!(
                "the reason is longer than {MAX_REASON_CHARS} characters"
            ));
        }
        Ok(Self {
            kind: YANK_STATEMENT_TYPE.into(),
            repository: repository.into(),
            digest: digest.into(),
            reason: reason.into(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("JSON serializes")
    }
}

/// A yank as found in a registry, not yet judged.
#[derive(Debug, Clone)]
pub struct FoundYank {
    /// The yank artifact's manifest (what is signed) and its digest.
    pub manifest_bytes: Vec<u8>,
    pub manifest_digest: String,
    /// Its statement layer, digest-checked.
    pub statement: Vec<u8>,
    /// The signatures stored for the yank artifact.
    pub envelopes: Vec<Envelope>,
}

/// A yank the trust policy accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Yank {
    pub reason: String,
    pub signer: Signer,
}

/// What the yank check found for a digest.
#[derive(Debug, Clone, Default)]
pub struct YankCheck {
    /// The first yank signed by someone the policy trusts for the repository.
    pub yanked: Option<Yank>,
    /// Yanks that were ignored, and why (unsigned, untrusted signer, another digest…).
    pub ignored: Vec<String>,
}

/// Judges `found` for the skill `digest` of `repository`: a yank counts when the
/// policy's signing rule for `repository` trusts its signature, and its statement names
/// this repository and digest.
pub fn judge(
    policy: &TrustPolicy,
    repository: &str,
    digest: &str,
    found: &[FoundYank],
) -> YankCheck {
    let mut check = YankCheck::default();
    for f in found {
        match judge_one(policy, repository, digest, f) {
            Ok(y) if check.yanked.is_none() => check.yanked = Some(y),
            Ok(_) => {}
            Err(why) => check.ignored.push(why),
        }
    }
    check
}

fn judge_one(
    policy: &TrustPolicy,
    repository: &str,
    digest: &str,
    found: &FoundYank,
) -> Result<Yank, String> {
    let verified = policy
        .verify(
            repository,
            &found.manifest_bytes,
            &found.manifest_digest,
            &found.envelopes,
        )
        .map_err(|e| format!("a yank not signed by a trusted publisher: {e}"))?;
    // The signature covers the manifest, which names the statement by digest.
    let manifest: serde_json::Value = serde_json::from_slice(&found.manifest_bytes)
        .map_err(|e| format!("a malformed yank manifest: {e}"))?;
    let named = crate::signatures::referrer_layer(&manifest, digest, YANK_ARTIFACT_TYPE)
        .ok()
        .flatten()
        .map(|(d, _)| d);
    if named.as_deref() != Some(crate::artifact::sha256_digest(&found.statement).as_str()) {
        return Err("a yank whose statement is not the one its signed manifest names".into());
    }
    let statement: YankStatement = serde_json::from_slice(&found.statement)
        .map_err(|e| format!("a malformed yank statement: {e}"))?;
    if statement.kind != YANK_STATEMENT_TYPE {
        return Err(format!("a yank statement of type `{}`", statement.kind));
    }
    if statement.digest != digest || statement.repository != repository {
        return Err(format!(
            "a yank of {}@{}, not of this skill",
            statement.repository, statement.digest
        ));
    }
    let reason: String = statement.reason.chars().take(MAX_REASON_CHARS).collect();
    Ok(Yank {
        reason,
        signer: verified.signer,
    })
}

impl RegistryClient {
    /// Attach the yank `statement` to the skill `digest` in `repo`'s repository; returns
    /// the yank artifact's manifest bytes and digest, which the caller signs.
    pub async fn push_yank(
        &self,
        repo: &Reference,
        digest: &str,
        subject_size: usize,
        statement: &YankStatement,
        auth: &RegistryAuth,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        self.client
            .auth(repo, auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| crate::oci::map_oci(e, repo))?;
        let blob = statement.to_bytes();
        let manifest = referrer_manifest(YANK_ARTIFACT_TYPE, digest, subject_size, &blob);
        self.push_referrer(repo, digest, &blob, &manifest, auth)
            .await
    }

    /// The yanks attached to `digest` in `repo`'s repository, with their signatures;
    /// unjudged.
    pub async fn fetch_yanks(
        &self,
        repo: &Reference,
        digest: &str,
        auth: &RegistryAuth,
    ) -> Result<Vec<FoundYank>, RegistryError> {
        let referrers = self
            .fetch_referrers(repo, digest, auth, YANK_ARTIFACT_TYPE, MAX_STATEMENT_BYTES)
            .await?;
        let mut found = Vec::new();
        for r in referrers {
            let at = repo.clone_with_digest(r.manifest_digest.clone());
            let envelopes = self.fetch_signatures(&at, &r.manifest_digest, auth).await?;
            found.push(FoundYank {
                manifest_bytes: r.manifest_bytes,
                manifest_digest: r.manifest_digest,
                statement: r.blob,
                envelopes,
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::KeyPair;

    const REPO: &str = "ghcr.io/acme/x";
    const SKILL: &[u8] = br#"{"schemaVersion":2}"#;

    fn found(statement: &YankStatement, by: &KeyPair) -> FoundYank {
        let blob = statement.to_bytes();
        let manifest = referrer_manifest(
            YANK_ARTIFACT_TYPE,
            &crate::artifact::sha256_digest(SKILL),
            SKILL.len(),
            &blob,
        );
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest_digest = crate::artifact::sha256_digest(&manifest_bytes);
        let envelope = Envelope::sign_cosign(by, REPO, &manifest_digest).unwrap();
        FoundYank {
            manifest_bytes,
            manifest_digest,
            statement: blob,
            envelopes: vec![envelope],
        }
    }

    /// Only a yank of this repository and digest, signed by a signer the repository's
    /// rule trusts, counts.
    #[test]
    fn a_yank_counts_only_when_trusted_and_about_this_skill() {
        let dir = tempfile::tempdir().unwrap();
        let acme = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("acme.pub"), acme.public_key().to_pem()).unwrap();
        let policy = TrustPolicy::parse(
            "[[rule]]\nrepositories = \"ghcr.io/acme/*\"\nkeys = [\"acme.pub\"]\n",
            dir.path(),
            &dir.path().join("trust.toml"),
        )
        .unwrap();
        let digest = crate::artifact::sha256_digest(SKILL);
        let good = YankStatement::new(REPO, &digest, "leaks tokens").unwrap();
        let other_repo = YankStatement::new("ghcr.io/acme/y", &digest, "x").unwrap();
        let other_digest =
            YankStatement::new(REPO, &crate::artifact::sha256_digest(b"{}"), "x").unwrap();
        let mut unsigned = found(&good, &acme);
        unsigned.envelopes.clear();
        let mut wrong_type = good.clone();
        wrong_type.kind = "https://example.com/other".into();
        let table: &[(FoundYank, Option<&str>)] = &[
            (found(&good, &acme), None),
            (
                found(&good, &other),
                Some("not signed by a trusted publisher"),
            ),
            (unsigned, Some("not signed by a trusted publisher")),
            (found(&other_repo, &acme), Some("not of this skill")),
            (found(&other_digest, &acme), Some("not of this skill")),
            (found(&wrong_type, &acme), Some("of type")),
        ];
        for (f, ignored) in table {
            let check = judge(&policy, REPO, &digest, std::slice::from_ref(f));
            match ignored {
                None => {
                    let y = check.yanked.expect("a trusted yank counts");
                    assert_eq!(y.reason, "leaks tokens");
                    assert_eq!(
                        y.signer,
                        Signer::Key {
                            fingerprint: acme.public_key().fingerprint()
                        }
                    );
                }
                Some(why) => {
                    assert!(check.yanked.is_none(), "{why}: counted");
                    assert!(check.ignored[0].contains(why), "{:?}", check.ignored);
                }
            }
        }
        // A yank signed with the statement swapped afterwards: the signature is over the
        // yank manifest, which names the statement by digest.
        let mut swapped = found(&good, &acme);
        swapped.statement = YankStatement::new(REPO, &digest, "another reason")
            .unwrap()
            .to_bytes();
        let check = judge(&policy, REPO, &digest, &[swapped]);
        assert!(check.yanked.is_none());
        assert!(
            check.ignored[0].contains("not the one"),
            "{:?}",
            check.ignored
        );
    }

    #[test]
    fn a_yank_needs_a_short_reason() {
        assert!(YankStatement::new(REPO, "sha256:x", "  ").is_err());
        assert!(YankStatement::new(REPO, "sha256:x", &"x".repeat(501)).is_err());
    }
}
