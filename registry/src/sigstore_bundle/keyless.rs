//! Offline verification of keyless (Fulcio + Rekor) bundles.
//!
//! The rules follow sigstore-python and sigstore-go. The `sigstore` crate's
//! `bundle::verify::Verifier` is not used because it checks neither the inclusion proof
//! nor the signed entry timestamp, checks the certificate chain at the certificate's issue
//! time instead of the log's, and knows neither Rekor v2 nor RFC 3161 timestamps.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::VerificationMaterial;
use x509_cert::{
    Certificate,
    der::{Decode, Encode, asn1::Utf8StringRef, oid::ObjectIdentifier},
    ext::pkix::{KeyUsage, SubjectAltName, name::GeneralName},
};

use super::{
    Artifact, Bundle, BundleError, TrustedRoot, dsse, keys,
    sct::verify_embedded_scts,
    timestamp,
    tlog::{self, Content, Signed, Signer},
    trusted_root::CertAuthority,
};

/// Who signed: the OIDC issuer that vouched for the signer, and the signer's identity (the
/// certificate's email or URI subject alternative name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertIdentity {
    pub issuer: String,
    pub subject: String,
}

/// Why a keyless bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(
        "the bundle is keyed (public key hint `{0}`), not keyless; verify it with that key instead"
    )]
    NotKeyless(String),
    #[error("invalid Sigstore trusted root: {0}")]
    TrustedRoot(String),
    #[error(
        "the bundle signs sha256:{found}, not this manifest (sha256:{expected}); the signature \
         belongs to another artifact"
    )]
    DigestMismatch { expected: String, found: String },
    #[error("the signature does not verify with the signer's key: {0}")]
    BadSignature(String),
    #[error("the DSSE envelope is not one chitin accepts: {0}")]
    Dsse(String),
    #[error("invalid RFC 3161 timestamp: {0}")]
    InvalidTimestamp(String),
    #[error(
        "nothing proves when the signature was made: a keyless bundle needs an RFC 3161 \
         timestamp from a timestamp authority of the trusted root, or a Rekor v1 entry with \
         a signed inclusion promise"
    )]
    NoVerifiedTime,
    #[error("malformed signing certificate: {0}")]
    Certificate(String),
    #[error(
        "the bundle has no transparency-log entry; a keyless signature needs a Rekor entry that \
         proves when its short-lived certificate was used (sign with upload to Rekor)"
    )]
    NoLogEntry,
    #[error("no valid transparency-log entry in the bundle: {0}")]
    InvalidLogEntry(String),
    #[error(
        "the signing certificate was valid from {not_before} to {not_after} (Unix seconds) but \
         a log entry or timestamp puts the signature at {integrated_time}: the signature was \
         not made while the certificate was valid"
    )]
    NotValidAtLogTime {
        not_before: i64,
        not_after: i64,
        integrated_time: i64,
    },
    #[error(
        "the signing certificate does not chain to a Fulcio CA of the trusted root at \
         {integrated_time} (Unix seconds): {reason}"
    )]
    UntrustedCertificate {
        integrated_time: i64,
        reason: String,
    },
    #[error(
        "certificate transparency check failed: {0}; the certificate needs an SCT from a CT \
         log of the trusted root"
    )]
    Sct(String),
}

/// Extended key usage id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content octets.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer extension (v2: a DER UTF8String).
pub(crate) const OID_ISSUER_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's deprecated OIDC issuer extension (v1: the raw string bytes).
pub(crate) const OID_ISSUER_V1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");

/// Fulcio's Source Repository URI extension (DER UTF8String), filled from a CI token.
const OID_SOURCE_REPOSITORY_URI: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.12");

/// The source repository a Fulcio certificate (DER) names in its extension
/// 1.3.6.1.4.1.57264.1.12, if it has one: signed by the CA, from the CI system's token,
/// so stronger than anything the signer wrote in a payload.
pub fn certificate_source_repository(leaf_der: &[u8]) -> Result<Option<String>, KeylessError> {
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| KeylessError::Certificate(format!("not DER X.509: {e}")))?;
    let Some(ext) = leaf
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|e| e.extn_id == OID_SOURCE_REPOSITORY_URI)
    else {
        return Ok(None);
    };
    Utf8StringRef::from_der(ext.extn_value.as_bytes())
        .map(|s| Some(s.as_str().to_string()))
        .map_err(|e| KeylessError::Certificate(format!("bad source repository extension: {e}")))
}

/// Verifies a keyless bundle for `manifest_digest`, fully offline, and returns who signed.
/// The same as [`verify_keyless_artifact`] with only the artifact's digest.
pub fn verify_keyless(
    bundle: &Bundle,
    manifest_digest: &[u8; 32],
    root: &TrustedRoot,
) -> Result<CertIdentity, KeylessError> {
    verify_keyless_artifact(bundle, &Artifact::Digest(*manifest_digest), root)
}

/// Verifies a keyless bundle for `artifact`, fully offline, and returns who signed.
///
/// Checked, in order:
/// 1. the signature, with the leaf certificate's key (see [`verify_signed_content`]);
/// 2. every RFC 3161 timestamp and every transparency-log entry (see [`verify_evidence`]),
///    of which there must be at least one log entry and one verified time: an RFC 3161
///    time, or the integrated time of a Rekor v1 entry whose inclusion promise verifies;
/// 3. at each verified time, the leaf certificate was valid, and it chains to a Fulcio
///    CA of `root` that was valid then (so an expired short-lived certificate is fine
///    when the log or a timestamp authority proves it was used in time); it has the
///    digitalSignature key usage and the code-signing extended key usage;
/// 4. when `root` lists CT logs, an embedded SCT from one of them verifies;
/// 5. the identity: the email or URI SAN, and the issuer from Fulcio's extension
///    1.3.6.1.4.1.57264.1.8, or the older 1.3.6.1.4.1.57264.1.1.
///
/// Not checked: who the identity is (the caller's policy decides).
pub fn verify_keyless_artifact(
    bundle: &Bundle,
    artifact: &Artifact,
    root: &TrustedRoot,
) -> Result<CertIdentity, KeylessError> {
    let Some(leaf_der) = bundle.leaf_certificate_der() else {
        return Err(KeylessError::NotKeyless(
            bundle.key_hint().unwrap_or_default().to_string(),
        ));
    };
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| KeylessError::Certificate(format!("not DER X.509: {e}")))?;
    let spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| KeylessError::Certificate(e.to_string()))?;

    // 1. What was signed, and the signature.
    let signer = Signer::Certificate(leaf_der);
    let content = verify_signed_content(bundle, artifact, &spki)?;

    // 2. When: timestamps and log entries.
    if material(bundle).tlog_entries.is_empty() {
        return Err(KeylessError::NoLogEntry);
    }
    let times = verify_evidence(bundle, signer, content, root)?;
    if times.is_empty() {
        return Err(KeylessError::NoVerifiedTime);
    }

    // 3. The certificate at each time the signature is proven to have existed.
    let validity = &leaf.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs() as i64;
    let not_after = validity.not_after.to_unix_duration().as_secs() as i64;
    let mut ca = None;
    for &t in &times {
        if t < not_before || t > not_after {
            return Err(KeylessError::NotValidAtLogTime {
                not_before,
                not_after,
                integrated_time: t,
            });
        }
        ca = Some(verify_chain(leaf_der, root, t)?);
    }
    let ca = ca.expect("at least one time");
    check_key_usage(&leaf)?;

    // 4. Certificate transparency.
    if !root.ctlogs.is_empty() {
        let issuer = issuer_of(&leaf, ca).ok_or_else(|| {
            KeylessError::Sct(format!(
                "the issuer of the certificate is not in {}",
                ca.uri
            ))
        })?;
        let issuer_spki = issuer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| KeylessError::Sct(e.to_string()))?;
        verify_embedded_scts(&leaf, &issuer_spki, root).map_err(KeylessError::Sct)?;
    }

    // 5. Who signed.
    identity(&leaf)
}

pub(crate) fn material(bundle: &Bundle) -> &VerificationMaterial {
    bundle
        .as_proto()
        .verification_material
        .as_ref()
        .expect("checked when parsed")
}

/// Checks what the bundle signs against `artifact`, and the signature with the signer's
/// key (`spki_der`):
/// - a message signature: its `messageDigest` (when present) is the artifact's SHA-256,
///   and the signature verifies over the artifact's bytes, or over its digest when only
///   the digest is given (ECDSA P-256 and RSA keys; see `keys`);
/// - a DSSE envelope: an in-toto statement with the artifact's SHA-256 among its
///   subjects, and the signature verifies over the envelope's PAE.
pub(crate) fn verify_signed_content<'b>(
    bundle: &'b Bundle,
    artifact: &Artifact,
    spki_der: &[u8],
) -> Result<Content<'b>, KeylessError> {
    let digest = artifact.digest();
    if let Some(envelope) = bundle.dsse_envelope() {
        let sig = dsse::check_envelope(envelope, &digest).map_err(KeylessError::Dsse)?;
        keys::verify_message(
            spki_der,
            &dsse::pae(&envelope.payload_type, &envelope.payload),
            sig,
        )
        .map_err(KeylessError::BadSignature)?;
        return Ok(Content::Dsse {
            payload_type: &envelope.payload_type,
            payload: &envelope.payload,
            pae_digest: dsse::pae_digest(envelope),
        });
    }
    if let Some(found) = bundle.message_digest()
        && found != digest
    {
        return Err(KeylessError::DigestMismatch {
            expected: hex::encode(digest),
            found: hex::encode(found),
        });
    }
    match artifact {
        Artifact::Bytes(bytes) => keys::verify_message(spki_der, bytes, bundle.signature()),
        Artifact::Digest(d) => keys::verify_sha256_digest(spki_der, d, bundle.signature()),
    }
    .map_err(KeylessError::BadSignature)?;
    Ok(Content::Message { digest })
}

/// Verifies every RFC 3161 timestamp and every transparency-log entry of the bundle (one
/// that does not verify refuses the bundle: nothing in it is ignored) and returns the
/// verified times: each timestamp's, and each Rekor v1 entry's integrated time that the
/// log signed (its inclusion promise).
pub(crate) fn verify_evidence(
    bundle: &Bundle,
    signer: Signer,
    content: Content,
    root: &TrustedRoot,
) -> Result<Vec<i64>, KeylessError> {
    let material = material(bundle);
    let mut times = Vec::new();
    if let Some(data) = &material.timestamp_verification_data {
        for (i, ts) in data.rfc3161_timestamps.iter().enumerate() {
            let t = timestamp::verify_timestamp(&ts.signed_timestamp, bundle.signature(), root)
                .map_err(|e| KeylessError::InvalidTimestamp(format!("timestamp {i}: {e}")))?;
            times.push(t);
        }
    }
    let signed = Signed {
        signature: bundle.signature(),
        signer,
        content,
    };
    let timestamps = times.clone();
    for entry in &material.tlog_entries {
        let t = tlog::verify_entry(entry, &signed, root, &timestamps).map_err(|reason| {
            KeylessError::InvalidLogEntry(format!("entry {}: {reason}", entry.log_index))
        })?;
        times.extend(t);
    }
    Ok(times)
}

fn check_key_usage(leaf: &Certificate) -> Result<(), KeylessError> {
    match leaf.tbs_certificate.get::<KeyUsage>() {
        Ok(Some((_, ku))) if ku.digital_signature() => Ok(()),
        Ok(_) => Err(KeylessError::Certificate(
            "no digitalSignature key usage".into(),
        )),
        Err(e) => Err(KeylessError::Certificate(format!("bad key usage: {e}"))),
    }
}

/// Verifies the chain with webpki at `time` against each CA valid then; returns the CA.
fn verify_chain<'r>(
    leaf_der: &[u8],
    root: &'r TrustedRoot,
    time: i64,
) -> Result<&'r CertAuthority, KeylessError> {
    let untrusted = |reason: String| KeylessError::UntrustedCertificate {
        integrated_time: time,
        reason,
    };
    let leaf_der = CertificateDer::from(leaf_der);
    let ee = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| KeylessError::Certificate(e.to_string()))?;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(time as u64));
    let mut reasons = Vec::new();
    for ca in &root.cas {
        if !ca.valid.contains(time) {
            reasons.push(format!("{} was not valid then", ca.uri));
            continue;
        }
        let (anchor, intermediates) = ca.chain_der.split_last().expect("checked when parsed");
        let anchor_der = CertificateDer::from(anchor.as_slice());
        let anchor = match webpki::anchor_from_trusted_cert(&anchor_der) {
            Ok(a) => a,
            Err(e) => {
                reasons.push(format!("{}: bad root certificate: {e}", ca.uri));
                continue;
            }
        };
        let intermediates: Vec<CertificateDer> = intermediates
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        match ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &intermediates,
            at,
            webpki::KeyUsage::required(EKU_CODE_SIGNING),
            None,
            None,
        ) {
            Ok(_) => return Ok(ca),
            Err(e) => reasons.push(format!("{}: {e:?}", ca.uri)),
        }
    }
    if reasons.is_empty() {
        reasons.push("the trusted root lists no certificate authorities".into());
    }
    Err(untrusted(reasons.join("; ")))
}

/// The certificate of `ca` that issued `leaf`.
fn issuer_of(leaf: &Certificate, ca: &CertAuthority) -> Option<Certificate> {
    ca.chain_der
        .iter()
        .filter_map(|d| Certificate::from_der(d).ok())
        .find(|c| c.tbs_certificate.subject == leaf.tbs_certificate.issuer)
}

fn identity(leaf: &Certificate) -> Result<CertIdentity, KeylessError> {
    let bad = |s: &str| KeylessError::Certificate(s.to_string());
    let san = match leaf.tbs_certificate.get::<SubjectAltName>() {
        Ok(Some((_, san))) => san,
        Ok(None) => return Err(bad("no subject alternative name")),
        Err(e) => return Err(KeylessError::Certificate(format!("bad SAN: {e}"))),
    };
    let subject = san
        .0
        .iter()
        .find_map(|name| match name {
            GeneralName::Rfc822Name(email) => Some(email.as_str().to_string()),
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str().to_string()),
            _ => None,
        })
        .ok_or_else(|| bad("no email or URI subject alternative name"))?;

    let extensions = leaf.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
    let value = |oid| {
        extensions
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    };
    let issuer = if let Some(v2) = value(OID_ISSUER_V2) {
        Utf8StringRef::from_der(v2)
            .map(|s| s.as_str().to_string())
            .map_err(|e| KeylessError::Certificate(format!("bad OIDC issuer extension: {e}")))?
    } else if let Some(v1) = value(OID_ISSUER_V1) {
        String::from_utf8(v1.to_vec()).map_err(|_| bad("OIDC issuer extension is not UTF-8"))?
    } else {
        return Err(bad("no Fulcio OIDC issuer extension"));
    };
    Ok(CertIdentity { issuer, subject })
}
