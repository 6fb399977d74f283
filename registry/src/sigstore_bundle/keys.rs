//! Signature checks with a signer's public key (DER SubjectPublicKeyInfo), for every key
//! type cosign accepts: ECDSA P-256, P-384 and P-521 (with SHA-256, SHA-384 and SHA-512
//! as cosign pairs them), Ed25519, and RSA (PKCS#1 v1.5 with SHA-256).

use aws_lc_rs::{
    digest,
    signature::{self, UnparsedPublicKey, VerificationAlgorithm},
};
use x509_cert::{
    der::{Decode, oid::ObjectIdentifier},
    spki::SubjectPublicKeyInfoRef,
};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The kinds of key a signer may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    P256,
    P384,
    P521,
    Ed25519,
    Rsa,
}

impl KeyKind {
    pub(crate) fn of(spki_der: &[u8]) -> Result<KeyKind, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
        match spki.algorithm.oid {
            ID_EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .ok_or("an EC key without a named curve")?
                    .decode_as()
                    .map_err(|e| format!("an EC key without a named curve: {e}"))?;
                match curve {
                    SECP256R1 => Ok(KeyKind::P256),
                    SECP384R1 => Ok(KeyKind::P384),
                    SECP521R1 => Ok(KeyKind::P521),
                    other => Err(format!("EC curve {other} is not supported")),
                }
            }
            ID_ED25519 => Ok(KeyKind::Ed25519),
            RSA_ENCRYPTION => Ok(KeyKind::Rsa),
            other => Err(format!("key algorithm {other} is not supported")),
        }
    }

    /// The algorithm cosign signs messages with for this kind of key.
    fn message_algorithm(self) -> &'static dyn VerificationAlgorithm {
        match self {
            KeyKind::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyKind::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyKind::P521 => &signature::ECDSA_P521_SHA512_ASN1,
            KeyKind::Ed25519 => &signature::ED25519,
            KeyKind::Rsa => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// Checks `sig` over `message` with the key `spki_der`.
pub(crate) fn verify_message(spki_der: &[u8], message: &[u8], sig: &[u8]) -> Result<(), String> {
    let kind = KeyKind::of(spki_der)?;
    UnparsedPublicKey::new(kind.message_algorithm(), spki_der)
        .verify(message, sig)
        .map_err(|_| format!("the {kind:?} signature does not verify"))
}

/// Checks `sig` over a message known only by its SHA-256 digest. Only keys whose
/// signatures hash the message with SHA-256 can be checked this way: ECDSA P-256 and RSA.
/// Ed25519 signs the message itself, and P-384/P-521 sign its SHA-384/SHA-512 digest.
pub(crate) fn verify_sha256_digest(
    spki_der: &[u8],
    sha256: &[u8; 32],
    sig: &[u8],
) -> Result<(), String> {
    let kind = KeyKind::of(spki_der)?;
    if !matches!(kind, KeyKind::P256 | KeyKind::Rsa) {
        return Err(format!(
            "a {kind:?} signature cannot be checked against a SHA-256 digest; give the artifact \
             itself"
        ));
    }
    let digest = digest::Digest::import_less_safe(sha256, &digest::SHA256)
        .expect("a SHA-256 digest is 32 bytes");
    UnparsedPublicKey::new(kind.message_algorithm(), spki_der)
        .verify_digest(&digest, sig)
        .map_err(|_| format!("the {kind:?} signature does not verify"))
}

/// Checks `sig` over `message` hashed with the digest algorithm `hash` (an OID), for
/// signatures such as a timestamp authority's over its signed attributes.
pub(crate) fn verify_with_hash(
    spki_der: &[u8],
    hash: ObjectIdentifier,
    message: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    use signature::*;
    let kind = KeyKind::of(spki_der)?;
    let alg: &'static dyn VerificationAlgorithm = match (kind, hash_name(hash)?) {
        (KeyKind::P256, "sha256") => &ECDSA_P256_SHA256_ASN1,
        (KeyKind::P256, "sha384") => &ECDSA_P256_SHA384_ASN1,
        (KeyKind::P384, "sha256") => &ECDSA_P384_SHA256_ASN1,
        (KeyKind::P384, "sha384") => &ECDSA_P384_SHA384_ASN1,
        (KeyKind::P521, "sha256") => &ECDSA_P521_SHA256_ASN1,
        (KeyKind::P521, "sha384") => &ECDSA_P521_SHA384_ASN1,
        (KeyKind::P521, "sha512") => &ECDSA_P521_SHA512_ASN1,
        (KeyKind::Rsa, "sha256") => &RSA_PKCS1_2048_8192_SHA256,
        (KeyKind::Rsa, "sha384") => &RSA_PKCS1_2048_8192_SHA384,
        (KeyKind::Rsa, "sha512") => &RSA_PKCS1_2048_8192_SHA512,
        (KeyKind::Ed25519, _) => &ED25519,
        (kind, hash) => return Err(format!("{kind:?} with {hash} is not supported")),
    };
    UnparsedPublicKey::new(alg, spki_der)
        .verify(message, sig)
        .map_err(|_| format!("the {kind:?} signature does not verify"))
}

pub(crate) const ID_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const ID_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(crate) const ID_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

fn hash_name(oid: ObjectIdentifier) -> Result<&'static str, String> {
    match oid {
        ID_SHA256 => Ok("sha256"),
        ID_SHA384 => Ok("sha384"),
        ID_SHA512 => Ok("sha512"),
        other => Err(format!("digest algorithm {other} is not supported")),
    }
}

/// `data` hashed with the digest algorithm `oid`.
pub(crate) fn hash(oid: ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, String> {
    let alg = match hash_name(oid)? {
        "sha256" => &digest::SHA256,
        "sha384" => &digest::SHA384,
        _ => &digest::SHA512,
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{
            ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
            ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
        },
    };

    fn ecdsa(alg: &'static signature::EcdsaSigningAlgorithm, msg: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
        let spki = key.public_key().as_der().unwrap().as_ref().to_vec();
        (spki, key.sign(&rng, msg).unwrap().as_ref().to_vec())
    }

    #[test]
    fn every_cosign_key_type_verifies_and_refuses_a_tampered_message() {
        let msg = b"the artifact";
        let mut cases = vec![
            (KeyKind::P256, ecdsa(&ECDSA_P256_SHA256_ASN1_SIGNING, msg)),
            (KeyKind::P384, ecdsa(&ECDSA_P384_SHA384_ASN1_SIGNING, msg)),
            (KeyKind::P521, ecdsa(&ECDSA_P521_SHA512_ASN1_SIGNING, msg)),
        ];
        let ed = Ed25519KeyPair::generate().unwrap();
        let ed_spki = ed.public_key().as_der().unwrap().as_ref().to_vec();
        cases.push((KeyKind::Ed25519, (ed_spki, ed.sign(msg).as_ref().to_vec())));
        for (kind, (spki, sig)) in cases {
            assert_eq!(KeyKind::of(&spki).unwrap(), kind);
            verify_message(&spki, msg, &sig).unwrap();
            assert!(
                verify_message(&spki, b"another artifact", &sig).is_err(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_p256_signature_verifies_over_the_digest_alone() {
        let msg = b"the artifact";
        let (spki, sig) = ecdsa(&ECDSA_P256_SHA256_ASN1_SIGNING, msg);
        let d: [u8; 32] = digest::digest(&digest::SHA256, msg)
            .as_ref()
            .try_into()
            .unwrap();
        verify_sha256_digest(&spki, &d, &sig).unwrap();
        let mut other = d;
        other[0] ^= 1;
        assert!(verify_sha256_digest(&spki, &other, &sig).is_err());
        // Ed25519 signs the message, not a digest: refused rather than guessed.
        let ed = Ed25519KeyPair::generate().unwrap();
        let ed_spki = ed.public_key().as_der().unwrap().as_ref().to_vec();
        let err = verify_sha256_digest(&ed_spki, &d, ed.sign(msg).as_ref()).unwrap_err();
        assert!(err.contains("artifact itself"), "{err}");
    }
}
