//! Keyless verification against a local Sigstore (every fault it can make), against a real
//! public-good bundle, and cross-checked with the `sigstore` crate's verifier.

use sha2::{Digest, Sha256};

use super::testing::{CERT_VALIDITY_SECS, Fault, SignOptions, TestSigstore};
use super::*;

const MANIFEST: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
const EMAIL: &str = "dev@example.com";
const ISSUER: &str = "https://accounts.example.com";

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn verify_with(
    sigstore: &TestSigstore,
    options: SignOptions,
) -> Result<CertIdentity, KeylessError> {
    let bundle = sigstore.sign_with(MANIFEST, EMAIL, ISSUER, &options);
    verify_keyless(&bundle, &digest(MANIFEST), &sigstore.trusted_root())
}

fn fault(f: Fault) -> Result<CertIdentity, KeylessError> {
    let sigstore = TestSigstore::new();
    verify_with(
        &sigstore,
        SignOptions {
            fault: Some(f),
            ..Default::default()
        },
    )
}

#[test]
fn good_bundle_verifies_and_names_the_signer() {
    let sigstore = TestSigstore::new();
    let bundle = sigstore.sign(MANIFEST, EMAIL, ISSUER);
    assert!(bundle.is_keyless());
    assert_eq!(bundle.key_hint(), None);
    assert_eq!(bundle.message_digest(), Some(digest(MANIFEST)));
    let who = verify_keyless(&bundle, &digest(MANIFEST), &sigstore.trusted_root()).unwrap();
    assert_eq!(
        who,
        CertIdentity {
            issuer: ISSUER.into(),
            subject: EMAIL.into()
        }
    );
}

#[test]
fn bundle_survives_json_and_later_entries_in_the_log() {
    let sigstore = TestSigstore::new();
    let bundle = sigstore.sign(MANIFEST, EMAIL, ISSUER);
    // More entries after ours: our proof is still against the tree it was made for.
    for i in 0..3 {
        sigstore.sign(&[i], EMAIL, ISSUER);
    }
    let json = bundle.to_json();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains(BUNDLE_MEDIA_TYPE), "{text}");
    let back = Bundle::from_json(&json).unwrap();
    assert_eq!(back, bundle);
    verify_keyless(&back, &digest(MANIFEST), &sigstore.trusted_root()).unwrap();
}

#[test]
fn uri_subject_for_ci_workflows() {
    let sigstore = TestSigstore::new();
    let workflow =
        "https://github.com/chitin-dev/skills/.github/workflows/release.yml@refs/heads/main";
    let bundle = sigstore.sign(
        MANIFEST,
        workflow,
        "https://token.actions.githubusercontent.com",
    );
    let who = verify_keyless(&bundle, &digest(MANIFEST), &sigstore.trusted_root()).unwrap();
    assert_eq!(who.subject, workflow);
    assert_eq!(who.issuer, "https://token.actions.githubusercontent.com");
}

#[test]
fn wrong_identity_is_reported_as_is_for_the_caller_to_refuse() {
    let sigstore = TestSigstore::new();
    let bundle = sigstore.sign(MANIFEST, "mallory@example.com", "https://evil.example");
    let who = verify_keyless(&bundle, &digest(MANIFEST), &sigstore.trusted_root()).unwrap();
    assert_ne!(who.subject, EMAIL);
    assert_ne!(who.issuer, ISSUER);
}

#[test]
fn expired_certificate_is_fine_when_the_log_proves_it_was_used_in_time() {
    let sigstore = TestSigstore::new();
    let two_days_ago = now() - 2 * 86400;
    let who = verify_with(
        &sigstore,
        SignOptions {
            cert_not_before: Some(two_days_ago),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(who.subject, EMAIL);
}

#[test]
fn log_entry_outside_the_certificate_validity_is_refused() {
    let sigstore = TestSigstore::new();
    let not_before = now() - 2 * 86400;
    for integrated_time in [not_before - 10, not_before + CERT_VALIDITY_SECS + 10] {
        let err = verify_with(
            &sigstore,
            SignOptions {
                cert_not_before: Some(not_before),
                integrated_time: Some(integrated_time),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, KeylessError::NotValidAtLogTime { .. }),
            "{err}"
        );
    }
}

#[test]
fn expired_certificate_without_log_entry_is_refused() {
    let sigstore = TestSigstore::new();
    let err = verify_with(
        &sigstore,
        SignOptions {
            cert_not_before: Some(now() - 2 * 86400),
            fault: Some(Fault::NoLogEntry),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, KeylessError::NoLogEntry), "{err}");
}

#[test]
fn other_manifest_is_a_digest_mismatch() {
    let sigstore = TestSigstore::new();
    let bundle = sigstore.sign(MANIFEST, EMAIL, ISSUER);
    let err = verify_keyless(
        &bundle,
        &digest(b"other manifest"),
        &sigstore.trusted_root(),
    )
    .unwrap_err();
    assert!(matches!(err, KeylessError::DigestMismatch { .. }), "{err}");
}

#[test]
fn bad_signature_is_refused() {
    let err = fault(Fault::BadSignature).unwrap_err();
    assert!(matches!(err, KeylessError::BadSignature(_)), "{err}");
}

#[test]
fn missing_log_entry_is_refused() {
    let err = fault(Fault::NoLogEntry).unwrap_err();
    assert!(matches!(err, KeylessError::NoLogEntry), "{err}");
}

fn assert_invalid_entry(f: Fault, needle: &str) {
    let err = fault(f).unwrap_err();
    match &err {
        KeylessError::InvalidLogEntry(reason) => {
            assert!(reason.contains(needle), "{f:?}: {err}")
        }
        _ => panic!("{f:?}: expected an invalid log entry, got {err}"),
    }
}

#[test]
fn bad_inclusion_proof_is_refused() {
    assert_invalid_entry(Fault::BadInclusionProof, "inclusion proof does not lead");
}

#[test]
fn checkpoint_by_another_key_is_refused() {
    assert_invalid_entry(Fault::BadCheckpoint, "checkpoint signature does not verify");
}

#[test]
fn checkpoint_for_another_root_is_refused() {
    assert_invalid_entry(Fault::CheckpointForOtherRoot, "checkpoint is for tree size");
}

#[test]
fn bad_signed_entry_timestamp_is_refused() {
    assert_invalid_entry(
        Fault::BadSignedEntryTimestamp,
        "signed entry timestamp does not verify",
    );
}

#[test]
fn entry_in_an_unknown_log_is_refused() {
    assert_invalid_entry(Fault::UnknownLog, "not in the trusted root");
}

#[test]
fn entry_for_another_artifact_is_refused() {
    assert_invalid_entry(Fault::BodyForOtherArtifact, "another artifact");
}

#[test]
fn entry_without_proof_checkpoint_or_promise_is_refused() {
    let sigstore = TestSigstore::new();
    let bundle = sigstore.sign(MANIFEST, EMAIL, ISSUER);
    let root = sigstore.trusted_root();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(&bundle.to_json()).unwrap();
        f(&mut v["verificationMaterial"]["tlogEntries"][0]);
        Bundle::from_json(v.to_string().as_bytes()).unwrap()
    };

    // Without the log's signed promise the integrated time is only a claim: with no RFC
    // 3161 timestamp either, nothing proves when the certificate was used.
    let no_promise = edit(&|e| {
        e.as_object_mut().unwrap().remove("inclusionPromise");
    });
    let err = verify_keyless(&no_promise, &digest(MANIFEST), &root).unwrap_err();
    assert!(matches!(err, KeylessError::NoVerifiedTime), "{err}");

    let no_proof = edit(&|e| {
        e.as_object_mut().unwrap().remove("inclusionProof");
    });
    let err = verify_keyless(&no_proof, &digest(MANIFEST), &root).unwrap_err();
    assert!(err.to_string().contains("no inclusion proof"), "{err}");

    let no_checkpoint = edit(&|e| {
        e["inclusionProof"]
            .as_object_mut()
            .unwrap()
            .remove("checkpoint");
    });
    let err = verify_keyless(&no_checkpoint, &digest(MANIFEST), &root).unwrap_err();
    assert!(err.to_string().contains("no checkpoint"), "{err}");
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let err = fault(Fault::OtherCa).unwrap_err();
    assert!(
        matches!(err, KeylessError::UntrustedCertificate { .. }),
        "{err}"
    );
}

#[test]
fn bundle_from_another_sigstore_is_refused() {
    let theirs = TestSigstore::new();
    let ours = TestSigstore::new();
    let bundle = theirs.sign(MANIFEST, EMAIL, ISSUER);
    let err = verify_keyless(&bundle, &digest(MANIFEST), &ours.trusted_root()).unwrap_err();
    assert!(matches!(err, KeylessError::InvalidLogEntry(_)), "{err}");
}

#[test]
fn ca_outside_its_validity_window_is_refused() {
    let sigstore = TestSigstore::new();
    let mut root: serde_json::Value =
        serde_json::from_slice(&sigstore.trusted_root_json()).unwrap();
    root["certificateAuthorities"][0]["validFor"]["end"] = "2021-01-01T00:00:00Z".into();
    let root = TrustedRoot::from_json(root.to_string().as_bytes()).unwrap();
    let bundle = sigstore.sign(MANIFEST, EMAIL, ISSUER);
    let err = verify_keyless(&bundle, &digest(MANIFEST), &root).unwrap_err();
    assert!(
        matches!(err, KeylessError::UntrustedCertificate { .. }),
        "{err}"
    );
}

#[test]
fn missing_or_bad_sct_is_refused_when_the_root_lists_ct_logs() {
    for f in [Fault::NoSct, Fault::BadSct] {
        let err = fault(f).unwrap_err();
        assert!(matches!(err, KeylessError::Sct(_)), "{f:?}: {err}");
    }
    // A root without CT logs does not ask for SCTs.
    let sigstore = TestSigstore::new();
    let mut root: serde_json::Value =
        serde_json::from_slice(&sigstore.trusted_root_json()).unwrap();
    root.as_object_mut().unwrap().remove("ctlogs");
    let root = TrustedRoot::from_json(root.to_string().as_bytes()).unwrap();
    let bundle = sigstore.sign_with(
        MANIFEST,
        EMAIL,
        ISSUER,
        &SignOptions {
            fault: Some(Fault::NoSct),
            ..Default::default()
        },
    );
    verify_keyless(&bundle, &digest(MANIFEST), &root).unwrap();
}

#[test]
fn keyed_bundle_is_not_keyless() {
    let bundle = Bundle::keyed(digest(MANIFEST), vec![0x30, 0], "SHA256:abc");
    let err = verify_keyless(&bundle, &digest(MANIFEST), &TrustedRoot::public_good()).unwrap_err();
    assert!(
        matches!(err, KeylessError::NotKeyless(ref h) if h == "SHA256:abc"),
        "{err}"
    );
}

/// A real bundle from the public-good Sigstore (cosign, January 2024): the test asset of
/// the `sigstore_protobuf_specs` crate. It checks our rules against Rekor's and Fulcio's
/// real formats: checkpoint, SET, SCT, certificate extensions.
#[test]
fn real_public_good_bundle_verifies_offline() {
    let artifact = include_bytes!("../../data/testdata/a.txt");
    let bundle = Bundle::from_json(include_bytes!("../../data/testdata/a.txt.sigstore")).unwrap();
    let root = TrustedRoot::public_good();
    let who = verify_keyless(&bundle, &digest(artifact), &root).unwrap();
    assert_eq!(
        who,
        CertIdentity {
            issuer: "https://github.com/login/oauth".into(),
            subject: "a@tny.town".into()
        }
    );
    let err = verify_keyless(&bundle, &digest(b"tampered"), &root).unwrap_err();
    assert!(matches!(err, KeylessError::DigestMismatch { .. }), "{err}");
}

/// The `sigstore` crate's verifier (chain, SCT, identity policy, signature; it ignores the
/// inclusion proof and SET) accepts what `TestSigstore` makes: an independent check that the
/// test certificates and bundle are shaped as Sigstore's.
#[test]
fn sigstore_crate_verifier_accepts_test_bundles() {
    use sigstore::bundle::verify::{blocking::Verifier, policy::Identity};
    use sigstore::trust::ManualTrustRoot;

    let sigstore = TestSigstore::new();
    let bundle = sigstore.sign(MANIFEST, EMAIL, ISSUER);
    let [root, intermediate] = sigstore.fulcio_chain_der();
    let trust = ManualTrustRoot {
        fulcio_certs: vec![root.into(), intermediate.into()],
        rekor_keys: Default::default(),
        ctfe_keys: [("ctfe.test".to_string(), sigstore.ct_log_spki())].into(),
    };
    let verifier = Verifier::new(Default::default(), trust).unwrap();
    let mut hasher = Sha256::new();
    hasher.update(MANIFEST);
    verifier
        .verify_digest(
            hasher,
            bundle.as_proto().clone(),
            &Identity::new(EMAIL, ISSUER),
            true,
        )
        .unwrap();

    let mut hasher = Sha256::new();
    hasher.update(b"other");
    assert!(
        verifier
            .verify_digest(
                hasher,
                bundle.as_proto().clone(),
                &Identity::new(EMAIL, ISSUER),
                true
            )
            .is_err()
    );
}

/// The real bundle with one part altered: each check rejects it, so none passes vacuously
/// on the real formats.
#[test]
fn real_bundle_with_altered_parts_is_refused() {
    let artifact = include_bytes!("../../data/testdata/a.txt");
    let json = include_bytes!("../../data/testdata/a.txt.sigstore");
    let root = TrustedRoot::public_good();
    let altered = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(json).unwrap();
        f(&mut v["verificationMaterial"]["tlogEntries"][0]);
        let bundle = Bundle::from_json(v.to_string().as_bytes()).unwrap();
        verify_keyless(&bundle, &digest(artifact), &root).unwrap_err()
    };
    let flip_base64 = |s: &str| {
        use base64::{Engine as _, engine::general_purpose::STANDARD};
        let mut bytes = STANDARD.decode(s).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        STANDARD.encode(bytes)
    };

    let err = altered(&|e| {
        let set = e["inclusionPromise"]["signedEntryTimestamp"]
            .as_str()
            .unwrap();
        e["inclusionPromise"]["signedEntryTimestamp"] = flip_base64(set).into();
    });
    assert!(err.to_string().contains("signed entry timestamp"), "{err}");

    let err = altered(&|e| {
        let t = e["integratedTime"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap();
        e["integratedTime"] = (t + 1).to_string().into();
    });
    assert!(err.to_string().contains("signed entry timestamp"), "{err}");

    let err = altered(&|e| {
        let h = e["inclusionProof"]["hashes"][0].as_str().unwrap();
        e["inclusionProof"]["hashes"][0] = flip_base64(h).into();
    });
    assert!(
        err.to_string().contains("inclusion proof does not lead"),
        "{err}"
    );

    let err = altered(&|e| {
        let cp = e["inclusionProof"]["checkpoint"]["envelope"]
            .as_str()
            .unwrap();
        // Another tree size in the signed note breaks its signature and its match.
        let mut lines: Vec<String> = cp.split('\n').map(str::to_string).collect();
        lines[1] = format!("{}", lines[1].parse::<u64>().unwrap() + 1);
        e["inclusionProof"]["checkpoint"]["envelope"] = lines.join("\n").into();
    });
    assert!(err.to_string().contains("checkpoint"), "{err}");

    // SCTs really are checked: with another CT log in the root, the real SCT is unknown.
    let mut root_json: serde_json::Value = serde_json::from_slice(include_bytes!(
        "../../data/sigstore-public-good-trusted-root.json"
    ))
    .unwrap();
    let test_root: serde_json::Value =
        serde_json::from_slice(&TestSigstore::new().trusted_root_json()).unwrap();
    root_json["ctlogs"] = test_root["ctlogs"].clone();
    let other_ct = TrustedRoot::from_json(root_json.to_string().as_bytes()).unwrap();
    let bundle = Bundle::from_json(json).unwrap();
    let err = verify_keyless(&bundle, &digest(artifact), &other_ct).unwrap_err();
    assert!(matches!(err, KeylessError::Sct(_)), "{err}");
}

/// Keyless signing end to end against `TestSigstore` served as Fulcio and Rekor over HTTP.
#[tokio::test]
async fn sign_keyless_against_a_local_fulcio_and_rekor_verifies() {
    let sigstore = std::sync::Arc::new(TestSigstore::new());
    let url = sigstore.clone().serve().await.unwrap();
    let token = super::testing::test_id_token(ISSUER, EMAIL);
    let bundle = sign_keyless(MANIFEST, &token, &url, &url).await.unwrap();
    let bundle = Bundle::from_json(&bundle.to_json()).unwrap();
    let who = verify_keyless(&bundle, &digest(MANIFEST), &sigstore.trusted_root()).unwrap();
    assert_eq!(
        who,
        CertIdentity {
            issuer: ISSUER.into(),
            subject: EMAIL.into()
        }
    );

    // A CI identity (URI subject, no email claim).
    let workflow =
        "https://github.com/chitin-dev/skills/.github/workflows/release.yml@refs/heads/main";
    let token =
        super::testing::test_id_token("https://token.actions.githubusercontent.com", workflow);
    let bundle = sign_keyless(MANIFEST, &token, &url, &url).await.unwrap();
    let who = verify_keyless(&bundle, &digest(MANIFEST), &sigstore.trusted_root()).unwrap();
    assert_eq!(who.subject, workflow);
}

#[tokio::test]
async fn sign_keyless_reports_refusals_and_unreachable_services() {
    let sigstore = std::sync::Arc::new(TestSigstore::new());
    let url = sigstore.clone().serve().await.unwrap();
    let err = sign_keyless(MANIFEST, "not-a-jwt", &url, &url)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SignError::FulcioRefused { status: 401, .. }),
        "{err}"
    );

    // A port nothing listens on: bind one, then free it.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let token = super::testing::test_id_token(ISSUER, EMAIL);
    let err = sign_keyless(MANIFEST, &token, &dead, &url)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignError::Unreachable {
                service: "Fulcio",
                ..
            }
        ),
        "{err}"
    );
    let err = sign_keyless(MANIFEST, &token, &url, &dead)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignError::Unreachable {
                service: "Rekor",
                ..
            }
        ),
        "{err}"
    );
}
