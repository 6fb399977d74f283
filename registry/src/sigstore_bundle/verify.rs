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
