//! One entry point for every kind of bundle: [`verify_bundle`] checks a bundle for an
//! artifact (its bytes, or only its SHA-256 digest) against a policy (a public key, or a
//! keyless identity) and a trusted root.

use sha2::{Digest, Sha256};

use super::{Bundle, BundleError, CertIdentity, KeylessError, TrustedRoot, verify_keyless};
use crate::signing::{PublicKey, SignatureError};

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
    #[error("the keyed signature does not verify")]
    Key(#[source] SignatureError),
    #[error("the bundle is keyless (it has a certificate); a key was expected")]
    NotKeyed,
    #[error(
        "the bundle signs sha256:{found}, not this artifact (sha256:{expected}); the signature \
         belongs to another artifact"
    )]
    DigestMismatch { expected: String, found: String },
    #[error("signed by {found_subject} ({found_issuer}), not by {subject} ({issuer})")]
    IdentityMismatch {
        subject: String,
        issuer: String,
        found_subject: String,
        found_issuer: String,
    },
    #[error("{0} is not supported")]
    Unsupported(&'static str),
}

/// Verifies `bundle` for `artifact` under `policy`, offline, against `root`.
pub fn verify_bundle(
    bundle: &Bundle,
    artifact: &Artifact,
    policy: &VerificationPolicy,
    root: &TrustedRoot,
) -> Result<Verified, VerifyError> {
    let digest = artifact.digest();
    match policy {
        VerificationPolicy::Identity { subject, issuer } => {
            let found = verify_keyless(bundle, &digest, root)?;
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
            if let Some(found) = bundle.message_digest()
                && found != digest
            {
                return Err(VerifyError::DigestMismatch {
                    expected: hex::encode(digest),
                    found: hex::encode(found),
                });
            }
            let Artifact::Bytes(bytes) = artifact else {
                return Err(VerifyError::Unsupported("keyed verification over a digest"));
            };
            key.verify(bytes, bundle.signature())
                .map_err(VerifyError::Key)?;
            Ok(Verified::Key {
                fingerprint: key.fingerprint(),
            })
        }
    }
}
