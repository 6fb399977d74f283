//! Build provenance: SLSA provenance attestations attached to a skill, and the trust
//! policy's `provenance` requirement over them.
//!
//! An attestation is a keyless Sigstore bundle whose DSSE envelope carries an in-toto
//! Statement v1 with `predicateType` `https://slsa.dev/provenance/v1` and the skill's
//! OCI manifest digest among its subjects, attached to the skill as an OCI referrer (see
//! `signatures`). [`inspect`] verifies one offline against a trusted root and reads who
//! built the skill from where; [`ProvenanceRule::check`] says whether that is what a
//! rule requires.
//!
//! What counts, strongest first:
//! - the **builder** is the Fulcio certificate's identity (its URI or email SAN, e.g.
//!   the release workflow `https://github.com/acme/gh-issues/.github/workflows/release.yml@refs/tags/v1`)
//!   and the OIDC issuer that vouched for it: both signed by the CA. The predicate's
//!   `runDetails.builder.id` is written by the builder itself and only shown.
//! - the **source** repository is the certificate's Source Repository URI extension
//!   (1.3.6.1.4.1.57264.1.12, filled by Fulcio from the CI token) when it has one; only
//!   without it, the predicate's `buildDefinition.externalParameters.workflow.repository`
//!   or its first `resolvedDependencies[].uri`. [`Provenance::source_from`] says which.

use std::fmt;

use globset::GlobMatcher;
use serde::{Deserialize, Serialize};

use crate::sigstore_bundle::{
    Artifact, Bundle, TrustedRoot, certificate_source_repository, verify_keyless_artifact,
};

/// The predicate type of SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// The annotation cosign puts on an attestation's OCI artifact, naming its predicate.
pub const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// An attestation is larger than a signature, but never this large.
pub const MAX_ATTESTATION_BYTES: usize = 256 << 10;

/// Where the source repository was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceOrigin {
    /// The Fulcio certificate's extension 1.3.6.1.4.1.57264.1.12 (signed by the CA).
    Certificate,
    /// The provenance predicate (written by the builder; trusted as far as the builder is).
    Predicate,
}

/// A verified provenance attestation: who built the skill, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The certificate identity that signed the attestation (the builder).
    pub builder: String,
    /// The OIDC issuer that vouched for the builder identity.
    pub issuer: String,
    /// The source repository, normalised (`github.com/acme/gh-issues`).
    pub source: Option<String>,
    pub source_from: Option<SourceOrigin>,
    /// `runDetails.builder.id` of the predicate, as the builder wrote it.
    pub builder_id: Option<String>,
    pub predicate_type: String,
    /// The bundle itself (JSON), kept so every load can check it again offline.
    pub bundle: String,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "built by {} (issuer {})", self.builder, self.issuer)?;
        match (&self.source, self.source_from) {
            (Some(s), Some(SourceOrigin::Certificate)) => write!(f, " from {s} (certificate)"),
            (Some(s), _) => write!(f, " from {s} (predicate)"),
            (None, _) => write!(f, ", no source repository"),
        }
    }
}

/// A rule's `provenance = { builder, issuer, source }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenancePattern {
    /// A glob over the builder's certificate identity (`*` stays within a path segment).
    pub builder: String,
    /// The OIDC issuer, exactly.
    pub issuer: String,
    /// The source repository, e.g. `github.com/acme/gh-issues` (scheme, `git+`, `.git`
    /// and a trailing `@ref` are ignored on both sides).
    pub source: String,
}

/// A parsed `provenance` requirement.
#[derive(Debug, Clone)]
pub struct ProvenanceRule {
    pub pattern: ProvenancePattern,
    builder: GlobMatcher,
}

impl ProvenanceRule {
    pub fn new(pattern: ProvenancePattern) -> Result<Self, String> {
        if pattern.builder.is_empty() || pattern.issuer.is_empty() || pattern.source.is_empty() {
            return Err("`provenance` needs `builder`, `issuer` and `source`".into());
        }
        let builder = globset::GlobBuilder::new(&pattern.builder)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("provenance builder `{}`: {e}", pattern.builder))?
            .compile_matcher();
        Ok(Self { pattern, builder })
    }

    /// What the rule requires, for messages.
    pub fn describe(&self) -> String {
        format!(
            "SLSA provenance built by {} (issuer {}) from {}",
            self.pattern.builder, self.pattern.issuer, self.pattern.source
        )
    }

    /// Does the verified `found` satisfy this rule? `Err` says what differs.
    pub fn check(&self, found: &Provenance) -> Result<(), String> {
        if found.predicate_type != SLSA_PROVENANCE_V1 {
            return Err(format!(
                "predicate type {}, not {SLSA_PROVENANCE_V1}",
                found.predicate_type
            ));
        }
        if found.issuer != self.pattern.issuer {
            return Err(format!(
                "built by {} with issuer {}, not {}",
                found.builder, found.issuer, self.pattern.issuer
            ));
        }
        if !self.builder.is_match(&found.builder) {
            return Err(format!(
                "built by {}, which is not {}",
                found.builder, self.pattern.builder
            ));
        }
        let wanted = normalise_source(&self.pattern.source);
        match &found.source {
            Some(s) if *s == wanted => Ok(()),
            Some(s) => Err(format!("built from {s}, not {wanted}")),
            None => Err(format!(
                "no source repository in the certificate or the predicate (wanted {wanted})"
            )),
        }
    }
}

/// Verifies the keyless attestation `bundle_json` for the manifest `digest`
/// (`sha256:<hex>`) against `root`, offline, and reads its provenance. Checked: the
/// bundle (certificate chain, log entry, signature over the DSSE PAE; see
/// [`verify_keyless_artifact`]), the statement naming `digest` as a subject, and its
/// predicate type. Who built it is for [`ProvenanceRule::check`] to judge.
pub fn inspect(bundle_json: &str, digest: &str, root: &TrustedRoot) -> Result<Provenance, String> {
    let bundle = Bundle::from_json(bundle_json.as_bytes()).map_err(|e| e.to_string())?;
    let Some(envelope) = bundle.dsse_envelope() else {
        return Err("a signature, not an attestation (no DSSE envelope)".into());
    };
    if !bundle.is_keyless() {
        return Err("a keyed attestation; provenance must be signed keyless by its builder".into());
    }
    let digest_bytes: [u8; 32] = hex::decode(digest.trim_start_matches("sha256:"))
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| format!("`{digest}` is not a SHA-256 digest"))?;
    let id = verify_keyless_artifact(&bundle, &Artifact::Digest(digest_bytes), root)
        .map_err(|e| e.to_string())?;
    let statement: serde_json::Value = serde_json::from_slice(&envelope.payload)
        .map_err(|e| format!("the statement is not JSON: {e}"))?;
    let predicate_type = statement["predicateType"]
        .as_str()
        .ok_or("the statement has no predicateType")?
        .to_string();
    let predicate = &statement["predicate"];
    let leaf = bundle.leaf_certificate_der().expect("keyless");
    let (source, source_from) =
        match certificate_source_repository(leaf).map_err(|e| e.to_string())? {
            Some(s) => (Some(normalise_source(&s)), Some(SourceOrigin::Certificate)),
            None => match predicate_source(predicate) {
                Some(s) => (Some(normalise_source(&s)), Some(SourceOrigin::Predicate)),
                None => (None, None),
            },
        };
    Ok(Provenance {
        builder: id.subject,
        issuer: id.issuer,
        source,
        source_from,
        builder_id: predicate["runDetails"]["builder"]["id"]
            .as_str()
            .map(str::to_string),
        predicate_type,
        bundle: bundle_json.to_string(),
    })
}

/// The source repository a SLSA v1 predicate names: GitHub's
/// `externalParameters.workflow.repository`, else the first resolved dependency.
fn predicate_source(predicate: &serde_json::Value) -> Option<String> {
    let definition = &predicate["buildDefinition"];
    definition["externalParameters"]["workflow"]["repository"]
        .as_str()
        .or_else(|| definition["externalParameters"]["source"].as_str())
        .or_else(|| definition["resolvedDependencies"][0]["uri"].as_str())
        .map(str::to_string)
}

/// `git+https://github.com/acme/x.git@refs/tags/v1` → `github.com/acme/x`.
pub fn normalise_source(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("git+").unwrap_or(s);
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let s = s.split_once('@').map_or(s, |(before, _)| before);
    let s = s.trim_end_matches('/');
    let s = s.strip_suffix(".git").unwrap_or(s);
    s.to_ascii_lowercase()
}

/// An in-toto Statement v1 with a SLSA provenance v1 predicate for `digest`, naming
/// `builder_id` and `repository` (for tests and examples).
pub fn example_statement(digest: &str, builder_id: &str, repository: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "skill", "digest": { "sha256": digest.trim_start_matches("sha256:") } }],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": { "workflow": { "repository": repository, "path": ".github/workflows/release.yml", "ref": "refs/tags/v1" } },
                "resolvedDependencies": [{ "uri": format!("git+{repository}@refs/tags/v1") }]
            },
            "runDetails": { "builder": { "id": builder_id } }
        }
    }))
    .expect("JSON serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore_bundle::testing::{SignOptions, TestSigstore};

    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    const RELEASE: &str =
        "https://github.com/acme/gh-issues/.github/workflows/release.yml@refs/tags/v1";

    fn rule() -> ProvenanceRule {
        ProvenanceRule::new(ProvenancePattern {
            builder: "https://github.com/acme/gh-issues/.github/workflows/release.yml@refs/tags/*"
                .into(),
            issuer: ISSUER.into(),
            source: "github.com/acme/gh-issues".into(),
        })
        .unwrap()
    }

    fn found(builder: &str, issuer: &str, source: Option<&str>, predicate: &str) -> Provenance {
        Provenance {
            builder: builder.into(),
            issuer: issuer.into(),
            source: source.map(normalise_source),
            source_from: Some(SourceOrigin::Certificate),
            builder_id: None,
            predicate_type: predicate.into(),
            bundle: String::new(),
        }
    }

    /// Each part of the requirement refuses exactly the provenance that gets it wrong.
    #[test]
    fn the_rule_matches_builder_issuer_source_and_predicate() {
        let evil_release = RELEASE.replace("acme/gh-issues", "evil/gh-issues");
        let branch = RELEASE.replace("refs/tags/v1", "refs/heads/main");
        let other_workflow = RELEASE.replace("release.yml", "test.yml");
        // (builder, issuer, source, predicate type, refused because)
        type Row<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, Option<&'a str>);
        let table: &[Row] = &[
            (
                RELEASE,
                ISSUER,
                Some("https://github.com/acme/gh-issues"),
                SLSA_PROVENANCE_V1,
                None,
            ),
            (
                RELEASE,
                ISSUER,
                Some("git+https://github.com/acme/gh-issues.git@refs/tags/v1"),
                SLSA_PROVENANCE_V1,
                None,
            ),
            (
                RELEASE,
                ISSUER,
                Some("https://GitHub.com/Acme/gh-issues/"),
                SLSA_PROVENANCE_V1,
                None,
            ),
            (
                &evil_release,
                ISSUER,
                Some("https://github.com/acme/gh-issues"),
                SLSA_PROVENANCE_V1,
                Some("which is not"),
            ),
            (
                &branch,
                ISSUER,
                Some("https://github.com/acme/gh-issues"),
                SLSA_PROVENANCE_V1,
                Some("which is not"),
            ),
            (
                &other_workflow,
                ISSUER,
                Some("https://github.com/acme/gh-issues"),
                SLSA_PROVENANCE_V1,
                Some("which is not"),
            ),
            (
                RELEASE,
                "https://accounts.evil.example",
                Some("https://github.com/acme/gh-issues"),
                SLSA_PROVENANCE_V1,
                Some("issuer"),
            ),
            (
                RELEASE,
                ISSUER,
                Some("https://github.com/evil/gh-issues"),
                SLSA_PROVENANCE_V1,
                Some("built from github.com/evil/gh-issues"),
            ),
            (
                RELEASE,
                ISSUER,
                Some("https://github.com/acme/gh-issues-fork"),
                SLSA_PROVENANCE_V1,
                Some("built from"),
            ),
            (
                RELEASE,
                ISSUER,
                None,
                SLSA_PROVENANCE_V1,
                Some("no source repository"),
            ),
            (
                RELEASE,
                ISSUER,
                Some("https://github.com/acme/gh-issues"),
                "https://slsa.dev/provenance/v0.2",
                Some("predicate type"),
            ),
        ];
        for (builder, issuer, source, predicate, refused) in table {
            let result = rule().check(&found(builder, issuer, *source, predicate));
            match refused {
                None => assert!(result.is_ok(), "{builder} {source:?}: {result:?}"),
                Some(why) => {
                    let err = result.expect_err(&format!(
                        "{builder} {issuer} {source:?} {predicate} accepted"
                    ));
                    assert!(err.contains(why), "{err}");
                }
            }
        }
    }

    #[test]
    fn a_rule_needs_all_three_parts() {
        let err = ProvenanceRule::new(ProvenancePattern {
            builder: RELEASE.into(),
            issuer: ISSUER.into(),
            source: String::new(),
        })
        .unwrap_err();
        assert!(err.contains("source"), "{err}");
    }

    const MANIFEST: &[u8] = br#"{"schemaVersion":2}"#;

    fn attest(
        sigstore: &TestSigstore,
        digest: &str,
        cert_source: Option<&str>,
        predicate_repo: &str,
    ) -> String {
        let statement =
            example_statement(digest, "https://github.com/actions/runner", predicate_repo);
        let options = SignOptions {
            source_repository: cert_source.map(str::to_string),
            ..Default::default()
        };
        String::from_utf8(
            sigstore
                .attest_with(&statement, RELEASE, ISSUER, &options)
                .to_json(),
        )
        .unwrap()
    }

    #[test]
    fn the_certificate_source_wins_over_the_predicate() {
        let sigstore = TestSigstore::new();
        let digest = crate::artifact::sha256_digest(MANIFEST);
        let bundle = attest(
            &sigstore,
            &digest,
            Some("https://github.com/acme/gh-issues"),
            "https://github.com/evil/x",
        );
        let p = inspect(&bundle, &digest, &sigstore.trusted_root()).unwrap();
        assert_eq!(p.builder, RELEASE);
        assert_eq!(p.source.as_deref(), Some("github.com/acme/gh-issues"));
        assert_eq!(p.source_from, Some(SourceOrigin::Certificate));
        rule().check(&p).unwrap();
        // Without the extension, the predicate's word is all there is.
        let bundle = attest(
            &sigstore,
            &digest,
            None,
            "https://github.com/acme/gh-issues",
        );
        let p = inspect(&bundle, &digest, &sigstore.trusted_root()).unwrap();
        assert_eq!(p.source_from, Some(SourceOrigin::Predicate));
        rule().check(&p).unwrap();
        // A predicate cannot contradict the certificate.
        let bundle = attest(
            &sigstore,
            &digest,
            Some("https://github.com/evil/x"),
            "https://github.com/acme/gh-issues",
        );
        let p = inspect(&bundle, &digest, &sigstore.trusted_root()).unwrap();
        assert!(rule().check(&p).is_err());
    }

    #[test]
    fn an_attestation_for_another_digest_or_root_is_refused() {
        let sigstore = TestSigstore::new();
        let digest = crate::artifact::sha256_digest(MANIFEST);
        let other = crate::artifact::sha256_digest(b"{}");
        let bundle = attest(
            &sigstore,
            &other,
            Some("https://github.com/acme/gh-issues"),
            "x",
        );
        let err = inspect(&bundle, &digest, &sigstore.trusted_root()).unwrap_err();
        assert!(err.contains("no subject"), "{err}");
        let bundle = attest(
            &sigstore,
            &digest,
            Some("https://github.com/acme/gh-issues"),
            "x",
        );
        assert!(inspect(&bundle, &digest, &TestSigstore::new().trusted_root()).is_err());
        // A plain signature is not an attestation.
        let sig = String::from_utf8(sigstore.sign(MANIFEST, RELEASE, ISSUER).to_json()).unwrap();
        let err = inspect(&sig, &digest, &sigstore.trusted_root()).unwrap_err();
        assert!(err.contains("not an attestation"), "{err}");
    }

    #[test]
    fn sources_are_normalised() {
        for s in [
            "github.com/acme/x",
            "https://github.com/acme/x",
            "git+https://github.com/acme/x.git",
            "git+https://github.com/acme/x@refs/heads/main",
            "https://github.com/acme/x/",
        ] {
            assert_eq!(normalise_source(s), "github.com/acme/x", "{s}");
        }
    }
}
