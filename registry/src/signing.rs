//! Keyed signatures over skill artifacts, in the formats cosign uses, so a skill signed
//! by chitin verifies with `cosign verify --key` and the other way round.
//!
//! What is signed is always the OCI manifest of the skill, pinned by its digest:
//! - **cosign form**: a "simple signing" JSON payload naming the manifest digest, signed
//!   with ECDSA P-256/SHA-256, stored in the registry under the tag
//!   `sha256-<hex>.sig` as an image whose layers are payloads with the signature in the
//!   `dev.cosignproject.cosign/signature` annotation;
//! - **bundle form**: a Sigstore bundle whose message signature is over the manifest
//!   bytes themselves (the construction of `cosign sign-blob`), attached as an OCI 1.1
//!   referrer.
//!
//! Keys are the sigstore crate's: `chitin keygen` writes what `cosign generate-key-pair`
//! writes (an scrypt + secretbox encrypted PKCS#8 P-256 key, and a PEM public key).
//!
//! ```
//! use chitin_registry::signing::{KeyPair, Envelope};
//!
//! let key = KeyPair::generate().unwrap();
//! let manifest = br#"{"schemaVersion":2}"#;
//! let digest = chitin_registry::artifact::sha256_digest(manifest);
//! let signed = Envelope::sign_cosign(&key, "example.com/skills/notes", &digest).unwrap();
//! signed.verify_with_key(manifest, &digest, &key.public_key()).unwrap();
//! let other = KeyPair::generate().unwrap();
//! assert!(signed.verify_with_key(manifest, &digest, &other.public_key()).is_err());
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use zeroize::Zeroizing;

use crate::sigstore_bundle::{
    Artifact, Bundle, KeylessError, TrustedRoot, VerificationPolicy, VerifyError, verify_bundle,
};

/// Media type of a cosign simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Media type (and OCI artifact type) of a Sigstore bundle.
pub use crate::sigstore_bundle::BUNDLE_MEDIA_TYPE;
/// The `critical.type` of a cosign payload.
const COSIGN_PAYLOAD_TYPE: &str = "cosign container image signature";
/// A payload or bundle larger than this is not a signature (real ones are < 10 KiB).
pub const MAX_SIGNATURE_BYTES: usize = 64 << 10;

/// What can be wrong with a key or a signature.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("could not read the private key: {0} (is the password right?)")]
    PrivateKey(String),
    #[error(
        "wrong password for the private key (it comes from CHITIN_PASSWORD, COSIGN_PASSWORD, or the prompt)"
    )]
    WrongPassword,
    #[error(
        "could not read the public key: {0}; expected a PEM `PUBLIC KEY` like `chitin keygen` or `cosign generate-key-pair` write"
    )]
    PublicKey(String),
    #[error("could not sign: {0}")]
    Sign(String),
    #[error("the signature does not verify with key {fingerprint}")]
    BadSignature { fingerprint: String },
    #[error("the signature is for {signed}, not for {expected}")]
    WrongDigest { signed: String, expected: String },
    #[error("malformed signature: {0}")]
    Malformed(String),
}

/// A signing key pair (ECDSA P-256, as cosign generates).
pub struct KeyPair {
    inner: SigStoreKeyPair,
}

impl KeyPair {
    pub fn generate() -> Result<Self, SignatureError> {
        let keys = ECDSAKeys::new(EllipticCurve::P256)
            .map_err(|e| SignatureError::PrivateKey(e.to_string()))?;
        Ok(Self {
            inner: SigStoreKeyPair::ECDSA(keys),
        })
    }

    /// Read an encrypted private key as `chitin keygen` or `cosign generate-key-pair`
    /// wrote it.
    pub fn from_encrypted_pem(pem: &[u8], password: &[u8]) -> Result<Self, SignatureError> {
        let inner = SigStoreKeyPair::from_encrypted_pem(pem, password).map_err(|e| {
            // sigstore tries every key type and reports the last failure ("Unsupported
            // key type"); when the encryption itself does not open, say so.
            if encrypted_body(pem).is_some_and(|body| {
                sigstore::crypto::signing_key::kdf::decrypt(&body, password).is_err()
            }) {
                SignatureError::WrongPassword
            } else {
                SignatureError::PrivateKey(e.to_string())
            }
        })?;
        Ok(Self { inner })
    }

    /// The private key, encrypted with `password` (scrypt + NaCl secretbox, as cosign).
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<Zeroizing<String>, SignatureError> {
        self.inner
            .private_key_to_encrypted_pem(password)
            .map_err(|e| SignatureError::PrivateKey(e.to_string()))
    }

    pub fn public_key(&self) -> PublicKey {
        let der = self
            .inner
            .public_key_to_der()
            .expect("a generated or decoded key has a public key");
        PublicKey::from_der(&der).expect("our own public key parses")
    }

    /// Sign `message`; returns the ASN.1 DER signature.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let signer = self
            .inner
            .to_sigstore_signer(&SigningScheme::default())
            .map_err(|e| SignatureError::Sign(e.to_string()))?;
        signer
            .sign(message)
            .map_err(|e| SignatureError::Sign(e.to_string()))
    }
}

/// The decoded body of an encrypted cosign or sigstore private key PEM.
fn encrypted_body(pem: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = std::str::from_utf8(pem).ok()?;
    let mut lines = text.lines().map(str::trim);
    let begin = lines.find(|l| l.starts_with("-----BEGIN "))?;
    if !begin.contains("ENCRYPTED") {
        return None;
    }
    let body: String = lines.take_while(|l| !l.starts_with("-----END ")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// A public key that signatures are checked against.
#[derive(Debug, Clone)]
pub struct PublicKey {
    der: Vec<u8>,
    key: CosignVerificationKey,
}

impl PublicKey {
    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo): ECDSA P-256/384/521, Ed25519 or RSA.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SignatureError> {
        let (label, der) = x509_cert::der::pem::decode_vec(pem)
            .map_err(|e| SignatureError::PublicKey(format!("not PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(SignatureError::PublicKey(format!(
                "a PEM `{label}`, not a `PUBLIC KEY`"
            )));
        }
        Self::from_der(&der)
    }

    pub fn from_der(der: &[u8]) -> Result<Self, SignatureError> {
        let key = CosignVerificationKey::try_from_der(der)
            .map_err(|e| SignatureError::PublicKey(e.to_string()))?;
        Ok(Self {
            der: der.to_vec(),
            key,
        })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        x509_cert::der::pem::encode_string(
            "PUBLIC KEY",
            x509_cert::der::pem::LineEnding::LF,
            &self.der,
        )
        .expect("a PEM label and base64 always encode")
    }

    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo: how chitin names a key.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.der)))
    }

    pub fn verify(&self, message: &[u8], signature_der: &[u8]) -> Result<(), SignatureError> {
        self.key
            .verify_signature(Signature::Raw(signature_der), message)
            .map_err(|_| SignatureError::BadSignature {
                fingerprint: self.fingerprint(),
            })
    }
}

/// The cosign "simple signing" payload for a manifest digest.
pub fn simple_signing_payload(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": manifest_digest },
            "type": COSIGN_PAYLOAD_TYPE,
        },
        "optional": null,
    }))
    .expect("JSON serializes")
}

/// The manifest digest a simple-signing payload vouches for.
pub fn payload_digest(payload: &[u8]) -> Result<String, SignatureError> {
    #[derive(Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(Deserialize)]
    struct Critical {
        image: Image,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct Image {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    let p: Payload = serde_json::from_slice(payload)
        .map_err(|e| SignatureError::Malformed(format!("cosign payload: {e}")))?;
    if p.critical.kind != COSIGN_PAYLOAD_TYPE {
        return Err(SignatureError::Malformed(format!(
            "cosign payload of type `{}`",
            p.critical.kind
        )));
    }
    Ok(p.critical.image.digest)
}

/// The tag cosign stores the signatures of `manifest_digest` under.
pub fn signature_tag(manifest_digest: &str) -> String {
    format!("{}.sig", manifest_digest.replacen(':', "-", 1))
}

/// A cosign payload and its DER signature.
pub type CosignParts = (Vec<u8>, Vec<u8>);

/// One signature as found in a registry and as kept in the local index, so it can be
/// checked again at every load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "kebab-case")]
pub enum Envelope {
    /// A cosign signature: the payload and its signature, both base64.
    Cosign { payload: String, signature: String },
    /// A Sigstore bundle (JSON), signing the manifest bytes.
    Bundle { bundle: String },
}

impl Envelope {
    /// Sign `manifest_digest` the way `cosign sign --key` does.
    pub fn sign_cosign(
        key: &KeyPair,
        docker_reference: &str,
        manifest_digest: &str,
    ) -> Result<Self, SignatureError> {
        let payload = simple_signing_payload(docker_reference, manifest_digest);
        let signature = key.sign(&payload)?;
        Ok(Envelope::Cosign {
            payload: B64.encode(payload),
            signature: B64.encode(signature),
        })
    }

    /// A short name for messages.
    pub fn form(&self) -> &'static str {
        match self {
            Envelope::Cosign { .. } => "cosign signature",
            Envelope::Bundle { .. } => "Sigstore bundle",
        }
    }

    /// The cosign payload and signature bytes.
    pub fn cosign_parts(&self) -> Option<Result<CosignParts, SignatureError>> {
        let Envelope::Cosign { payload, signature } = self else {
            return None;
        };
        let decode = |what, s: &str| {
            B64.decode(s)
                .map_err(|e| SignatureError::Malformed(format!("{what}: {e}")))
        };
        Some(decode("payload", payload).and_then(|p| Ok((p, decode("signature", signature)?))))
    }

    /// Check that this is a signature by `key` over the manifest `manifest_bytes`
    /// whose digest is `manifest_digest`. A bundle's transparency-log entries and
    /// timestamps, if it has any, are checked against the public-good trusted root.
    pub fn verify_with_key(
        &self,
        manifest_bytes: &[u8],
        manifest_digest: &str,
        key: &PublicKey,
    ) -> Result<(), SignatureError> {
        self.verify_with_key_in(manifest_bytes, manifest_digest, key, None)
    }

    /// [`Envelope::verify_with_key`], checking a keyed bundle's transparency-log entries
    /// and RFC 3161 timestamps (a keyed bundle needs none, but those it has must verify)
    /// against `root`, or the public-good root when `None`.
    pub fn verify_with_key_in(
        &self,
        manifest_bytes: &[u8],
        manifest_digest: &str,
        key: &PublicKey,
        root: Option<&TrustedRoot>,
    ) -> Result<(), SignatureError> {
        check_manifest_digest(manifest_bytes, manifest_digest)?;
        match self {
            Envelope::Cosign { .. } => {
                let (payload, signature) = self.cosign_parts().expect("a cosign envelope")?;
                key.verify(&payload, &signature)?;
                let signed = payload_digest(&payload)?;
                if signed != manifest_digest {
                    return Err(SignatureError::WrongDigest {
                        signed,
                        expected: manifest_digest.to_string(),
                    });
                }
                Ok(())
            }
            Envelope::Bundle { .. } => {
                let bundle = self.bundle().expect("a bundle envelope")?;
                if bundle.is_keyless() {
                    return Err(SignatureError::Malformed(
                        "a keyless bundle (it has a certificate) cannot be checked against a key"
                            .into(),
                    ));
                }
                if let Some(found) = bundle.message_digest() {
                    let signed = format!("sha256:{}", hex::encode(found));
                    if signed != manifest_digest {
                        return Err(SignatureError::WrongDigest {
                            signed,
                            expected: manifest_digest.to_string(),
                        });
                    }
                }
                let public_good;
                let root = match root {
                    Some(r) => r,
                    None => {
                        public_good = TrustedRoot::public_good();
                        &public_good
                    }
                };
                let policy = VerificationPolicy::Key(key.clone());
                match verify_bundle(
                    &bundle,
                    &Artifact::Bytes(manifest_bytes.to_vec()),
                    &policy,
                    root,
                ) {
                    Ok(_) => Ok(()),
                    Err(VerifyError::Keyless(KeylessError::BadSignature(_))) => {
                        Err(SignatureError::BadSignature {
                            fingerprint: key.fingerprint(),
                        })
                    }
                    Err(e) => Err(SignatureError::Malformed(format!("Sigstore bundle: {e}"))),
                }
            }
        }
    }
}

impl Envelope {
    /// Sign the manifest bytes into a keyed Sigstore bundle (no transparency-log
    /// entry), naming the key by its fingerprint.
    pub fn sign_bundle(key: &KeyPair, manifest_bytes: &[u8]) -> Result<Self, SignatureError> {
        let signature = key.sign(manifest_bytes)?;
        let digest: [u8; 32] = Sha256::digest(manifest_bytes).into();
        let bundle = Bundle::keyed(digest, signature, &key.public_key().fingerprint());
        Ok(Envelope::Bundle {
            bundle: String::from_utf8(bundle.to_json()).expect("JSON is UTF-8"),
        })
    }

    /// The parsed bundle, for a bundle envelope.
    pub fn bundle(&self) -> Option<Result<Bundle, SignatureError>> {
        let Envelope::Bundle { bundle } = self else {
            return None;
        };
        Some(
            Bundle::from_json(bundle.as_bytes())
                .map_err(|e| SignatureError::Malformed(format!("Sigstore bundle: {e}")))
                .and_then(|b| match b.dsse_envelope() {
                    // An attestation is a statement about the skill (provenance, say), not
                    // the publisher's signature of its manifest.
                    Some(_) => Err(SignatureError::Malformed(
                        "a DSSE attestation, not a signature of the skill's manifest".into(),
                    )),
                    None => Ok(b),
                }),
        )
    }
}

/// The bytes we were given must be the manifest the digest names, or a signature over
/// the digest says nothing about them.
fn check_manifest_digest(
    manifest_bytes: &[u8],
    manifest_digest: &str,
) -> Result<(), SignatureError> {
    let actual = crate::artifact::sha256_digest(manifest_bytes);
    if actual != manifest_digest {
        return Err(SignatureError::WrongDigest {
            signed: manifest_digest.to_string(),
            expected: actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_key_round_trips_and_wrong_password_fails() {
        let key = KeyPair::generate().unwrap();
        let pem = key.to_encrypted_pem(b"hunter2").unwrap();
        assert!(pem.contains("ENCRYPTED SIGSTORE PRIVATE KEY"));
        let back = KeyPair::from_encrypted_pem(pem.as_bytes(), b"hunter2").unwrap();
        assert_eq!(
            back.public_key().fingerprint(),
            key.public_key().fingerprint()
        );
        let err = KeyPair::from_encrypted_pem(pem.as_bytes(), b"wrong")
            .err()
            .unwrap();
        assert!(err.to_string().contains("password"), "{err}");
    }

    #[test]
    fn a_key_written_by_cosign_signs_and_verifies() {
        let pem = include_bytes!("../data/testdata/cosign_generated_encrypted_empty_private.key");
        let key = KeyPair::from_encrypted_pem(pem, b"").unwrap();
        let signature = key.sign(b"payload").unwrap();
        let public = PublicKey::from_pem(key.public_key().to_pem().as_bytes()).unwrap();
        public.verify(b"payload", &signature).unwrap();
    }

    #[test]
    fn public_key_pem_round_trips() {
        let key = KeyPair::generate().unwrap().public_key();
        let back = PublicKey::from_pem(key.to_pem().as_bytes()).unwrap();
        assert_eq!(back.fingerprint(), key.fingerprint());
        assert!(PublicKey::from_pem(b"not a key").is_err());
        let private = KeyPair::generate().unwrap().to_encrypted_pem(b"x").unwrap();
        let err = PublicKey::from_pem(private.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("not a `PUBLIC KEY`"), "{err}");
    }

    #[test]
    fn cosign_signature_binds_the_digest() {
        let key = KeyPair::generate().unwrap();
        let manifest = b"{}";
        let digest = crate::artifact::sha256_digest(manifest);
        let other = crate::artifact::sha256_digest(b"{ }");
        let env = Envelope::sign_cosign(&key, "r/x", &other).unwrap();
        // A valid signature, but over another manifest.
        let err = env
            .verify_with_key(b"{ }", &other, &key.public_key())
            .map(|_| ());
        assert!(err.is_ok());
        let err = env
            .verify_with_key(manifest, &digest, &key.public_key())
            .unwrap_err();
        assert!(matches!(err, SignatureError::WrongDigest { .. }), "{err}");
        // Bytes that are not the manifest the digest names.
        let err = env
            .verify_with_key(manifest, &other, &key.public_key())
            .unwrap_err();
        assert!(matches!(err, SignatureError::WrongDigest { .. }), "{err}");
    }

    #[test]
    fn bundle_signature_binds_the_manifest_bytes() {
        let key = KeyPair::generate().unwrap();
        let manifest = br#"{"schemaVersion":2}"#;
        let digest = crate::artifact::sha256_digest(manifest);
        let env = Envelope::sign_bundle(&key, manifest).unwrap();
        env.verify_with_key(manifest, &digest, &key.public_key())
            .unwrap();
        let other = KeyPair::generate().unwrap().public_key();
        let err = env.verify_with_key(manifest, &digest, &other).unwrap_err();
        assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
        let tampered = br#"{"schemaVersion":3}"#;
        let err = env
            .verify_with_key(
                tampered,
                &crate::artifact::sha256_digest(tampered),
                &key.public_key(),
            )
            .unwrap_err();
        assert!(matches!(err, SignatureError::WrongDigest { .. }), "{err}");
    }

    #[test]
    fn signature_tag_is_coslike() {
        assert_eq!(signature_tag("sha256:abc"), "sha256-abc.sig");
    }
}
