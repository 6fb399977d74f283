//! One entry point for every kind of bundle: [`verify_bundle`] checks a bundle for an
//! artifact (its bytes, or only its SHA-256 digest) against a policy (a public key, or a
//! keyless identity) and a trusted root.

use sha2::{Digest, Sha256};

use super::{
    Bundle, BundleError, CertIdentity, KeylessError, TrustedRoot,
    keyless::{verify_evidence, verify_keyless_artifact, verify_signed_content},
    tlog::Signer,
};
use crate::signing::PublicKey;

/// What was signed: the artifact's bytes, or only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    Bytes(Vec<u8>),
    Digest([u8; 32]),
}

impl Artifact {
    /// The artifact's SHA-256 digest.
    pub fn digest(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(b) => Sha256::digest(b).into(),
            Artifact::Digest(d) => *d,
        }
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum VerificationPolicy {
    /// A keyed signature by this key.
    Key(PublicKey),
    /// A keyless signature whose certificate names exactly this identity and issuer.
    Identity { subject: String, issuer: String },
}

/// Who signed, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Key { fingerprint: String },
    Certificate(CertIdentity),
}

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Keyless(#[from] KeylessError),
    #[error("the bundle is keyless (it has a certificate); a key was expected")]
    NotKeyed,
    #[error("signed by {found_subject} ({found_issuer}), not by {subject} ({issuer})")]
    IdentityMismatch {
        subject: String,
        issuer: String,
        found_subject: String,
        found_issuer: String,
    },
}

/// Verifies `bundle` for `artifact` under `policy`, offline, against `root`.
///
/// - [`VerificationPolicy::Identity`]: [`verify_keyless_artifact`], then the certificate's
///   identity and issuer must be exactly the policy's.
/// - [`VerificationPolicy::Key`]: the bundle must be keyed; its signature must verify with
///   the key (over the artifact's bytes, or its digest for ECDSA P-256 and RSA keys; a
///   DSSE envelope over its PAE, with the artifact among the statement's subjects); and
///   every transparency-log entry and RFC 3161 timestamp it carries must verify against
///   `root` and name this signature and key. A keyed bundle needs neither.
pub fn verify_bundle(
    bundle: &Bundle,
    artifact: &Artifact,
    policy: &VerificationPolicy,
    root: &TrustedRoot,
) -> Result<Verified, VerifyError> {
    match policy {
        VerificationPolicy::Identity { subject, issuer } => {
            let found = verify_keyless_artifact(bundle, artifact, root)?;
            if &found.subject != subject || &found.issuer != issuer {
                return Err(VerifyError::IdentityMismatch {
                    subject: subject.clone(),
                    issuer: issuer.clone(),
                    found_subject: found.subject,
                    found_issuer: found.issuer,
                });
            }
            Ok(Verified::Certificate(found))
        }
        VerificationPolicy::Key(key) => {
            if bundle.is_keyless() {
                return Err(VerifyError::NotKeyed);
            }
            let spki = key.to_der();
            let content = verify_signed_content(bundle, artifact, spki)?;
            verify_evidence(bundle, Signer::Key(spki), content, root)?;
            Ok(Verified::Key {
                fingerprint: key.fingerprint(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    //! Tampered copies of the conformance suite's vectors
    //! (`tests/sigstore-conformance/bundle-verify`): each new acceptance path refuses a
    //! bundle with the part it checks broken.

    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;

    const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";

    fn dir(vector: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/sigstore-conformance/bundle-verify")
            .join(vector)
    }

    fn json(vector: &str) -> Value {
        serde_json::from_slice(&std::fs::read(dir(vector).join("bundle.sigstore.json")).unwrap())
            .unwrap()
    }

    fn root(vector: &str) -> TrustedRoot {
        match std::fs::read(dir(vector).join("trusted_root.json")) {
            Ok(bytes) => TrustedRoot::from_json(&bytes).unwrap(),
            Err(_) => TrustedRoot::public_good(),
        }
    }

    fn artifact() -> Artifact {
        Artifact::Bytes(std::fs::read(dir("a.txt")).unwrap())
    }

    fn identity() -> VerificationPolicy {
        VerificationPolicy::Identity {
            subject: IDENTITY.into(),
            issuer: ISSUER.into(),
        }
    }

    fn verify(
        vector: &str,
        bundle: &Value,
        policy: &VerificationPolicy,
    ) -> Result<Verified, VerifyError> {
        let bundle = Bundle::from_json(bundle.to_string().as_bytes())?;
        verify_bundle(&bundle, &artifact(), policy, &root(vector))
    }

    /// Flips one bit of the base64 value at `ptr`.
    fn flip(v: &mut Value, ptr: &str) {
        use base64::{Engine as _, engine::general_purpose::STANDARD};
        let s = v.pointer_mut(ptr).unwrap();
        let mut bytes = STANDARD.decode(s.as_str().unwrap()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        *s = STANDARD.encode(bytes).into();
    }

    fn keyed(vector: &str) -> VerificationPolicy {
        VerificationPolicy::Key(
            PublicKey::from_pem(&std::fs::read(dir(vector).join("key.pub")).unwrap()).unwrap(),
        )
    }

    #[test]
    fn a_keyed_bundles_log_entry_and_timestamp_are_verified_not_ignored() {
        let v = "managed-key-happy-path";
        let good = json(v);
        verify(v, &good, &keyed(v)).unwrap();
        let digest = Artifact::Digest(artifact().digest());
        let bundle = Bundle::from_json(good.to_string().as_bytes()).unwrap();
        verify_bundle(&bundle, &digest, &keyed(v), &root(v)).unwrap();

        for (ptr, needle) in [
            (
                "/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp",
                "signed entry timestamp",
            ),
            (
                "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp",
                "timestamp",
            ),
            ("/messageSignature/signature", "signature"),
        ] {
            let mut bad = good.clone();
            flip(&mut bad, ptr);
            let err = verify(v, &bad, &keyed(v)).unwrap_err();
            assert!(err.to_string().contains(needle), "{ptr}: {err}");
        }
    }

    #[test]
    fn a_timestamp_outside_the_certificates_validity_is_refused() {
        // The suite's vector has a line break inside its base64, so it already fails to
        // parse; with the break removed, the time check itself must refuse it.
        let v = "rekor2-timestamp-with-incorrect-time_fail";
        let mut b = json(v);
        let ptr =
            "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
        let ts = b.pointer(ptr).unwrap().as_str().unwrap().replace('\n', "");
        *b.pointer_mut(ptr).unwrap() = ts.into();
        let err = verify(v, &b, &identity()).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Keyless(KeylessError::NotValidAtLogTime { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn rekor_v2_and_timestamps_are_checked() {
        let v = "rekor2-happy-path";
        let good = json(v);
        verify(v, &good, &identity()).unwrap();

        // A second entry that does not verify is not ignored.
        let mut b = good.clone();
        let mut second = b["verificationMaterial"]["tlogEntries"][0].clone();
        let proof = &mut second["inclusionProof"];
        let cp = proof["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .to_string();
        proof["checkpoint"]["envelope"] = cp.replacen("\n736\n", "\n737\n", 1).into();
        b["verificationMaterial"]["tlogEntries"]
            .as_array_mut()
            .unwrap()
            .push(second);
        let err = verify(v, &b, &identity()).unwrap_err();
        assert!(err.to_string().contains("checkpoint"), "{err}");

        // The Rekor v2 log's key must have been valid at the timestamp's time.
        let bundle = Bundle::from_json(good.to_string().as_bytes()).unwrap();
        let mut r: Value =
            serde_json::from_slice(&std::fs::read(dir(v).join("trusted_root.json")).unwrap())
                .unwrap();
        for tlog in r["tlogs"].as_array_mut().unwrap() {
            tlog["publicKey"]["validFor"]["end"] = "2025-06-01T00:00:00Z".into();
        }
        let expired = TrustedRoot::from_json(r.to_string().as_bytes()).unwrap();
        let err = verify_bundle(&bundle, &artifact(), &identity(), &expired).unwrap_err();
        assert!(
            err.to_string()
                .contains("log2025-alpha1.rekor.sigstage.dev was not valid at"),
            "{err}"
        );

        // The checkpoint's log signature.
        let mut b = good.clone();
        let ptr = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";
        let cp = b.pointer(ptr).unwrap().as_str().unwrap().to_string();
        let tampered = cp.replacen("\n736\n", "\n737\n", 1);
        assert_ne!(cp, tampered);
        *b.pointer_mut(ptr).unwrap() = tampered.into();
        assert!(verify(v, &b, &identity()).is_err());

        // The entry's body (so also its leaf hash and inclusion proof).
        let mut b = good.clone();
        flip(
            &mut b,
            "/verificationMaterial/tlogEntries/0/inclusionProof/hashes/0",
        );
        assert!(verify(v, &b, &identity()).is_err());

        // Without the timestamp nothing says when the signature was made.
        let mut b = good.clone();
        b["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
        let err = verify(v, &b, &identity()).unwrap_err();
        assert!(err.to_string().contains("RFC 3161"), "{err}");

        // Another identity or issuer.
        let other = VerificationPolicy::Identity {
            subject: IDENTITY.replace("main", "evil"),
            issuer: ISSUER.into(),
        };
        assert!(matches!(
            verify(v, &good, &other).unwrap_err(),
            VerifyError::IdentityMismatch { .. }
        ));
    }

    #[test]
    fn a_dsse_attestation_is_about_its_subjects_only() {
        let v = "rekor2-dsse-happy-path";
        let good = json(v);
        verify(v, &good, &identity()).unwrap();
        let bundle = Bundle::from_json(good.to_string().as_bytes()).unwrap();
        let err = verify_bundle(
            &bundle,
            &Artifact::Bytes(b"another artifact".to_vec()),
            &identity(),
            &root(v),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no subject"), "{err}");

        // The envelope's signature covers its payload (here one more byte, the
        // statement unchanged otherwise).
        let mut b = good.clone();
        let payload = b["dsseEnvelope"]["payload"].as_str().unwrap();
        let mut bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, payload).unwrap();
        bytes.push(b' ');
        b["dsseEnvelope"]["payload"] =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes).into();
        let err = verify(v, &b, &identity()).unwrap_err();
        assert!(
            matches!(err, VerifyError::Keyless(KeylessError::BadSignature(_))),
            "{err}"
        );

        // A DSSE attestation is never taken for a skill's signature.
        let envelope = crate::signing::Envelope::Bundle {
            bundle: good.to_string(),
        };
        let err = envelope.bundle().unwrap().unwrap_err();
        assert!(err.to_string().contains("attestation"), "{err}");
    }

    #[test]
    fn an_authority_without_a_validity_start_is_refused() {
        let bytes = std::fs::read(dir("rekor2-happy-path").join("trusted_root.json")).unwrap();
        let good: Value = serde_json::from_slice(&bytes).unwrap();
        for ptr in [
            "/certificateAuthorities/0/validFor",
            "/timestampAuthorities/0/validFor",
            "/ctlogs/0/publicKey/validFor",
            "/tlogs/0/publicKey/validFor",
        ] {
            let mut r = good.clone();
            r.pointer_mut(ptr)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("start");
            let err = TrustedRoot::from_json(r.to_string().as_bytes()).unwrap_err();
            assert!(err.to_string().contains("validFor.start"), "{ptr}: {err}");
        }
    }
}
