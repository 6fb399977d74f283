//! Sigstore bundles for skill signatures, and offline verification of keyless ones.
//!
//! chitin signs the OCI image manifest of a skill. A bundle's
//! `messageSignature.messageDigest` is the SHA-256 of the manifest bytes (the manifest
//! digest) and its signature is ECDSA P-256 over those bytes: the construction of
//! `cosign sign-blob` over the manifest file (not tested against cosign itself here).
//!
//! Two kinds of bundle:
//! - keyed ([`Bundle::keyed`]): `verificationMaterial.publicKey.hint` names the key; the
//!   caller looks the key up and checks the signature.
//! - keyless ([`Bundle::is_keyless`]): a short-lived Fulcio certificate binds an OIDC
//!   identity to an ephemeral key, and a Rekor transparency-log entry proves when the
//!   signature was made. [`verify_keyless`] checks all of it offline against a
//!   [`TrustedRoot`]; see its doc for the exact list.
//!
//! [`sign_keyless`] makes a keyless bundle with a Fulcio (v2 API) and a Rekor (v1 API).
//! `testing::TestSigstore` (feature `testing`) is a local Sigstore for tests that signs
//! directly or serves both APIs on loopback.
//!
//! The JSON model is `sigstore_protobuf_specs` (the Sigstore protobuf specs with their
//! canonical JSON mapping); this module adds the checks around it.
//!
//! [`verify_bundle`] verifies any bundle the Sigstore conformance suite's offline vectors
//! hold: message signatures and DSSE envelopes with in-toto statements; Rekor v1
//! (`hashedrekord` 0.0.1, `dsse` 0.0.1, `intoto` 0.0.2) and Rekor v2 (`hashedrekord` and
//! `dsse` 0.0.2) entries with checkpoints; RFC 3161 timestamps; keyless or keyed (ECDSA
//! P-256/384/521, Ed25519, RSA). Parsing follows the protobuf JSON mapping strictly, so a
//! field unknown to `sigstore_protobuf_specs` 0.5 makes a bundle or root malformed.

mod dsse;
mod keyless;
#[cfg(test)]
mod keyless_tests;
mod keys;
mod merkle;
mod sct;
mod sign;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod timestamp;
mod tlog;
mod trusted_root;
mod verify;

pub use keyless::{
    CertIdentity, KeylessError, certificate_source_repository, verify_keyless,
    verify_keyless_artifact,
};
pub use sign::{SignError, attest_keyless, sign_keyless};
pub use trusted_root::TrustedRoot;
pub use verify::{Artifact, VerificationPolicy, Verified, VerifyError, verify_bundle};

use sigstore_protobuf_specs::dev::sigstore::{
    bundle::v1::{self as pb, bundle::Content, verification_material},
    common::v1::{
        HashAlgorithm, HashOutput, MessageSignature, PublicKeyIdentifier, X509Certificate,
    },
    rekor::v1::TransparencyLogEntry,
};
use sigstore_protobuf_specs::io::intoto::Envelope;

/// The media type chitin writes.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Media types accepted when reading: v0.3 in both spellings, and the older v0.1 and v0.2
/// that cosign 2 still writes.
const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    BUNDLE_MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];

/// A bundle that cannot be read or is not one chitin can use.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("malformed Sigstore bundle: {0}; expected the JSON written by chitin or cosign")]
    Json(String),
    #[error(
        "unsupported Sigstore bundle media type `{0}`; expected {BUNDLE_MEDIA_TYPE} (or v0.1/v0.2)"
    )]
    MediaType(String),
    #[error("malformed Sigstore bundle: {0}")]
    Invalid(&'static str),
}

/// A parsed Sigstore bundle with a message signature over a SHA-256 digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    inner: pb::Bundle,
}

impl Bundle {
    /// Parses a bundle and checks its shape: a known media type, verification material and
    /// a message signature. Trust is checked later, by [`verify_keyless`] or by the caller
    /// for keyed bundles.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let inner: pb::Bundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
        Bundle::from_proto(inner)
    }

    /// Wraps an already decoded bundle after the same checks as [`Bundle::from_json`].
    pub fn from_proto(inner: pb::Bundle) -> Result<Bundle, BundleError> {
        if !ACCEPTED_MEDIA_TYPES.contains(&inner.media_type.as_str()) {
            return Err(BundleError::MediaType(inner.media_type));
        }
        let material = inner
            .verification_material
            .as_ref()
            .ok_or(BundleError::Invalid("no verificationMaterial"))?;
        match &material.content {
            Some(verification_material::Content::PublicKey(_))
            | Some(verification_material::Content::Certificate(_)) => {}
            Some(verification_material::Content::X509CertificateChain(chain))
                if !chain.certificates.is_empty() => {}
            _ => {
                return Err(BundleError::Invalid(
                    "verificationMaterial has no public key hint and no certificate",
                ));
            }
        }
        let signature = match &inner.content {
            Some(Content::MessageSignature(s)) => s,
            Some(Content::DsseEnvelope(envelope)) => {
                if envelope.signatures.len() != 1 || envelope.signatures[0].sig.is_empty() {
                    return Err(BundleError::Invalid(
                        "a DSSE envelope in a bundle has exactly one signature",
                    ));
                }
                return Ok(Bundle { inner });
            }
            None => return Err(BundleError::Invalid("no messageSignature or dsseEnvelope")),
        };
        if signature.signature.is_empty() {
            return Err(BundleError::Invalid("messageSignature.signature is empty"));
        }
        // The digest is optional in the spec, but when present it must be one we can compare.
        if let Some(d) = &signature.message_digest
            && (d.algorithm != HashAlgorithm::Sha2256 as i32 || d.digest.len() != 32)
        {
            return Err(BundleError::Invalid(
                "messageSignature.messageDigest is not a SHA-256 digest",
            ));
        }
        Ok(Bundle { inner })
    }

    /// The bundle as JSON (protobuf JSON mapping, as cosign writes it).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.inner).expect("a protobuf message always serializes to JSON")
    }

    /// A keyed bundle: `verificationMaterial.publicKey.hint` is the key fingerprint and
    /// there are no transparency-log entries.
    pub fn keyed(manifest_digest: [u8; 32], signature_der: Vec<u8>, key_hint: &str) -> Bundle {
        Bundle {
            inner: pb::Bundle {
                media_type: BUNDLE_MEDIA_TYPE.to_string(),
                verification_material: Some(pb::VerificationMaterial {
                    content: Some(verification_material::Content::PublicKey(
                        PublicKeyIdentifier {
                            hint: key_hint.to_string(),
                        },
                    )),
                    tlog_entries: Vec::new(),
                    timestamp_verification_data: None,
                }),
                content: Some(Content::MessageSignature(message_signature(
                    manifest_digest,
                    signature_der,
                ))),
            },
        }
    }

    /// A keyless bundle: the signing certificate and transparency-log entries.
    pub(crate) fn keyless(
        manifest_digest: [u8; 32],
        signature_der: Vec<u8>,
        leaf_certificate_der: Vec<u8>,
        tlog_entries: Vec<TransparencyLogEntry>,
    ) -> Bundle {
        Self::with_certificate(
            Content::MessageSignature(message_signature(manifest_digest, signature_der)),
            leaf_certificate_der,
            tlog_entries,
        )
    }

    /// A keyless attestation bundle: a DSSE envelope, its signing certificate and
    /// transparency-log entries.
    pub(crate) fn keyless_dsse(
        envelope: Envelope,
        leaf_certificate_der: Vec<u8>,
        tlog_entries: Vec<TransparencyLogEntry>,
    ) -> Bundle {
        Self::with_certificate(
            Content::DsseEnvelope(envelope),
            leaf_certificate_der,
            tlog_entries,
        )
    }

    /// A bundle of `content` signed by the key of a certificate, with its log entries.
    fn with_certificate(
        content: Content,
        leaf_certificate_der: Vec<u8>,
        tlog_entries: Vec<TransparencyLogEntry>,
    ) -> Bundle {
        Bundle {
            inner: pb::Bundle {
                media_type: BUNDLE_MEDIA_TYPE.to_string(),
                verification_material: Some(pb::VerificationMaterial {
                    content: Some(verification_material::Content::Certificate(
                        X509Certificate {
                            raw_bytes: leaf_certificate_der,
                        },
                    )),
                    tlog_entries,
                    timestamp_verification_data: None,
                }),
                content: Some(content),
            },
        }
    }

    /// The signed SHA-256 digest of a message signature, when the bundle states it (never
    /// for a DSSE envelope).
    pub fn message_digest(&self) -> Option<[u8; 32]> {
        self.message_signature()?
            .message_digest
            .as_ref()
            .and_then(|d| d.digest.as_slice().try_into().ok())
    }

    /// The signature: the message signature's, or the DSSE envelope's one signature.
    pub fn signature(&self) -> &[u8] {
        match &self.inner.content {
            Some(Content::MessageSignature(s)) => &s.signature,
            Some(Content::DsseEnvelope(e)) => &e.signatures[0].sig,
            None => unreachable!("checked in from_proto"),
        }
    }

    /// The DSSE envelope of an attestation bundle.
    pub fn dsse_envelope(&self) -> Option<&Envelope> {
        match &self.inner.content {
            Some(Content::DsseEnvelope(e)) => Some(e),
            _ => None,
        }
    }

    /// The public key hint of a keyed bundle.
    pub fn key_hint(&self) -> Option<&str> {
        match &self.material().content {
            Some(verification_material::Content::PublicKey(k)) => Some(&k.hint),
            _ => None,
        }
    }

    /// Whether the bundle carries a signing certificate (a keyless signature).
    pub fn is_keyless(&self) -> bool {
        self.leaf_certificate_der().is_some()
    }

    /// The DER of the signing (leaf) certificate of a keyless bundle.
    pub fn leaf_certificate_der(&self) -> Option<&[u8]> {
        match &self.material().content {
            Some(verification_material::Content::Certificate(c)) => Some(&c.raw_bytes),
            Some(verification_material::Content::X509CertificateChain(chain)) => {
                chain.certificates.first().map(|c| c.raw_bytes.as_slice())
            }
            _ => None,
        }
    }

    /// The decoded protobuf message, for interop with the `sigstore` crate.
    pub fn as_proto(&self) -> &pb::Bundle {
        &self.inner
    }

    fn material(&self) -> &pb::VerificationMaterial {
        self.inner
            .verification_material
            .as_ref()
            .expect("checked in from_proto")
    }

    fn message_signature(&self) -> Option<&MessageSignature> {
        match &self.inner.content {
            Some(Content::MessageSignature(s)) => Some(s),
            _ => None,
        }
    }
}

fn message_signature(digest: [u8; 32], signature: Vec<u8>) -> MessageSignature {
    MessageSignature {
        message_digest: Some(HashOutput {
            algorithm: HashAlgorithm::Sha2256 as i32,
            digest: digest.to_vec(),
        }),
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_bundle_round_trips_through_json() {
        let b = Bundle::keyed([7; 32], vec![0x30, 0x02, 0x01, 0x01], "SHA256:abc");
        let json = b.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains(BUNDLE_MEDIA_TYPE), "{text}");
        assert!(text.contains(r#""hint":"SHA256:abc""#), "{text}");
        let back = Bundle::from_json(&json).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.message_digest(), Some([7; 32]));
        assert_eq!(back.signature(), &[0x30, 0x02, 0x01, 0x01]);
        assert_eq!(back.key_hint(), Some("SHA256:abc"));
        assert!(!back.is_keyless());
    }

    #[test]
    fn refuses_unknown_media_type_and_missing_parts() {
        let b = Bundle::keyed([7; 32], vec![1], "k");
        let mut v: serde_json::Value = serde_json::from_slice(&b.to_json()).unwrap();
        v["mediaType"] = "application/vnd.dev.sigstore.bundle.v9+json".into();
        let err = Bundle::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, BundleError::MediaType(_)), "{err}");

        let mut v: serde_json::Value = serde_json::from_slice(&b.to_json()).unwrap();
        v.as_object_mut().unwrap().remove("messageSignature");
        let err = Bundle::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no messageSignature"), "{err}");

        let err = Bundle::from_json(b"{not json").unwrap_err();
        assert!(matches!(err, BundleError::Json(_)), "{err}");
    }

    #[test]
    fn accepts_older_media_types() {
        let b = Bundle::keyed([7; 32], vec![1], "k");
        let mut v: serde_json::Value = serde_json::from_slice(&b.to_json()).unwrap();
        v["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
        Bundle::from_json(v.to_string().as_bytes()).unwrap();
    }
}
