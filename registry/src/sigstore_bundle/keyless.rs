//! Offline verification of keyless (Fulcio + Rekor) bundles.
//!
//! The rules follow sigstore-python and sigstore-go. The `sigstore` crate's
//! `bundle::verify::Verifier` is not used because it checks neither the inclusion proof
//! nor the signed entry timestamp, and checks the certificate chain at the certificate's
//! issue time instead of the log's.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use p256::{
    ecdsa::{Signature as P256Signature, VerifyingKey, signature::hazmat::PrehashVerifier},
    pkcs8::DecodePublicKey,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use sigstore::crypto::{CosignVerificationKey, Signature};
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::TransparencyLogEntry;
use x509_cert::{
    Certificate,
    der::{Decode, DecodePem, Encode, asn1::Utf8StringRef, oid::ObjectIdentifier},
    ext::pkix::{KeyUsage, SubjectAltName, name::GeneralName},
};

use super::{
    Bundle, BundleError, TrustedRoot, merkle,
    sct::verify_embedded_scts,
    trusted_root::{CertAuthority, LogKey},
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
    #[error("the signature does not verify with the signing certificate's key: {0}")]
    BadSignature(String),
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
         the log entry was integrated at {integrated_time}: the signature was not made while \
         the certificate was valid"
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

/// Verifies a keyless bundle for `manifest_digest`, fully offline, and returns who signed.
///
/// Checked, in order:
/// 1. the bundle's `messageDigest` (when present) equals `manifest_digest`, and the
///    signature verifies over it with the leaf certificate's ECDSA P-256 key;
/// 2. at least one Rekor v1 `hashedrekord` entry whose log is in `root` and valid at the
///    entry's `integratedTime`, whose body names this digest, signature and certificate,
///    whose RFC 6962 inclusion proof leads to its root hash, whose checkpoint is signed by
///    the log's key for that root hash and tree size, and whose signed entry timestamp
///    (inclusion promise) verifies when present;
/// 3. the leaf certificate was valid at that `integratedTime`, has the digitalSignature key
///    usage and code-signing extended key usage, and chains to a Fulcio CA of `root` that
///    was valid then (so an expired short-lived certificate is fine when the log proves it
///    was used in time);
/// 4. when `root` lists CT logs, an embedded SCT from one of them verifies;
/// 5. the identity: the email or URI SAN, and the issuer from Fulcio's extension
///    1.3.6.1.4.1.57264.1.8, or the older 1.3.6.1.4.1.57264.1.1.
///
/// Not checked: who the identity is (the caller's policy decides) and RFC 3161 timestamps.
pub fn verify_keyless(
    bundle: &Bundle,
    manifest_digest: &[u8; 32],
    root: &TrustedRoot,
) -> Result<CertIdentity, KeylessError> {
    let Some(leaf_der) = bundle.leaf_certificate_der() else {
        return Err(KeylessError::NotKeyless(
            bundle.key_hint().unwrap_or_default().to_string(),
        ));
    };

    // 1. Digest and signature. A bundle without a stated digest is still bound to the
    // manifest by the signature check, which uses `manifest_digest`.
    if let Some(found) = bundle.message_digest()
        && &found != manifest_digest
    {
        return Err(KeylessError::DigestMismatch {
            expected: hex::encode(manifest_digest),
            found: hex::encode(found),
        });
    }
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| KeylessError::Certificate(format!("not DER X.509: {e}")))?;
    verify_signature(&leaf, bundle.signature(), manifest_digest)?;

    // 2. A transparency-log entry that proves when the signature was made.
    let entries = &bundle
        .as_proto()
        .verification_material
        .as_ref()
        .expect("checked when parsed")
        .tlog_entries;
    if entries.is_empty() {
        return Err(KeylessError::NoLogEntry);
    }
    let mut reasons = Vec::new();
    let mut integrated_time = None;
    for entry in entries {
        match verify_tlog_entry(entry, bundle, leaf_der, manifest_digest, root) {
            Ok(t) => {
                integrated_time = Some(t);
                break;
            }
            Err(reason) => reasons.push(format!("entry {}: {reason}", entry.log_index)),
        }
    }
    let Some(integrated_time) = integrated_time else {
        return Err(KeylessError::InvalidLogEntry(reasons.join("; ")));
    };

    // 3. The certificate at the time the log saw the signature.
    let validity = &leaf.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs() as i64;
    let not_after = validity.not_after.to_unix_duration().as_secs() as i64;
    if integrated_time < not_before || integrated_time > not_after {
        return Err(KeylessError::NotValidAtLogTime {
            not_before,
            not_after,
            integrated_time,
        });
    }
    check_key_usage(&leaf)?;
    let ca = verify_chain(leaf_der, root, integrated_time)?;

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

/// The ECDSA P-256 signature over the digest (the message itself is not at hand).
fn verify_signature(
    leaf: &Certificate,
    signature: &[u8],
    digest: &[u8; 32],
) -> Result<(), KeylessError> {
    let spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| KeylessError::Certificate(e.to_string()))?;
    let key = VerifyingKey::from_public_key_der(&spki).map_err(|e| {
        KeylessError::Certificate(format!(
            "the key is not ECDSA P-256, which chitin uses: {e}"
        ))
    })?;
    let sig = P256Signature::from_der(signature)
        .map_err(|e| KeylessError::BadSignature(format!("not a DER ECDSA signature: {e}")))?;
    key.verify_prehash(digest, &sig)
        .map_err(|e| KeylessError::BadSignature(e.to_string()))
}

/// Checks one log entry and returns its integrated time.
fn verify_tlog_entry(
    entry: &TransparencyLogEntry,
    bundle: &Bundle,
    leaf_der: &[u8],
    digest: &[u8; 32],
    root: &TrustedRoot,
) -> Result<i64, String> {
    match &entry.kind_version {
        Some(kv) if kv.kind == "hashedrekord" && kv.version == "0.0.1" => {}
        Some(kv) => {
            return Err(format!(
                "kind {} {} is not supported (only Rekor v1 hashedrekord 0.0.1)",
                kv.kind, kv.version
            ));
        }
        None => return Err("no kindVersion".into()),
    }
    let log_id = entry.log_id.as_ref().map(|l| l.key_id.as_slice());
    let log = log_id.and_then(|id| root.tlog(id)).ok_or_else(|| {
        format!(
            "log {} is not in the trusted root",
            hex::encode(log_id.unwrap_or_default())
        )
    })?;
    let t = entry.integrated_time;
    if t <= 0 {
        return Err("no integratedTime".into());
    }
    if !log.valid.contains(t) {
        return Err(format!("log {} was not valid at {t}", log.base_url));
    }

    check_body(
        &entry.canonicalized_body,
        bundle.signature(),
        leaf_der,
        digest,
    )?;

    let proof = entry
        .inclusion_proof
        .as_ref()
        .ok_or("no inclusion proof; offline verification needs one")?;
    let root_hash: merkle::Hash = proof
        .root_hash
        .as_slice()
        .try_into()
        .map_err(|_| "inclusion proof root hash is not 32 bytes")?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into())
        .collect::<Result<Vec<merkle::Hash>, _>>()
        .map_err(|_| "inclusion proof hash is not 32 bytes")?;
    let (index, size) = (
        u64::try_from(proof.log_index).map_err(|_| "negative log index")?,
        u64::try_from(proof.tree_size).map_err(|_| "negative tree size")?,
    );
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    let computed = merkle::root_from_inclusion_proof(index, size, leaf, &hashes)?;
    if computed != root_hash {
        return Err("inclusion proof does not lead to its root hash".into());
    }
    let checkpoint = proof
        .checkpoint
        .as_ref()
        .ok_or("inclusion proof has no checkpoint")?;
    verify_checkpoint(&checkpoint.envelope, log, size, &root_hash)?;

    if let Some(promise) = &entry.inclusion_promise {
        verify_set(entry, log, &promise.signed_entry_timestamp)?;
    }
    Ok(t)
}

/// The entry must be about this artifact, signature and certificate; otherwise a valid
/// entry for something else could be attached (CVE-2022-36056).
fn check_body(
    body: &[u8],
    signature: &[u8],
    leaf_der: &[u8],
    digest: &[u8; 32],
) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let field = |ptr: &str| {
        v.pointer(ptr)
            .and_then(|x| x.as_str())
            .ok_or_else(|| format!("body has no {ptr}"))
    };
    if field("/kind")? != "hashedrekord" || field("/apiVersion")? != "0.0.1" {
        return Err("body is not a hashedrekord 0.0.1".into());
    }
    if field("/spec/data/hash/algorithm")? != "sha256"
        || !field("/spec/data/hash/value")?.eq_ignore_ascii_case(&hex::encode(digest))
    {
        return Err("body names another artifact digest".into());
    }
    let sig = BASE64
        .decode(field("/spec/signature/content")?)
        .map_err(|e| format!("body signature is not base64: {e}"))?;
    if sig != signature {
        return Err("body names another signature".into());
    }
    let pem = BASE64
        .decode(field("/spec/signature/publicKey/content")?)
        .map_err(|e| format!("body public key is not base64: {e}"))?;
    let cert = Certificate::from_pem(&pem)
        .and_then(|c| c.to_der())
        .map_err(|e| format!("body public key is not a PEM certificate: {e}"))?;
    if cert != leaf_der {
        return Err("body names another certificate".into());
    }
    Ok(())
}

/// A checkpoint is a signed note (<https://github.com/transparency-dev/formats>): the
/// lines `origin`, `tree size`, `base64 root hash` (and optional more), a blank line, then
/// lines `— <name> <base64(4-byte key hint || signature)>`. Rekor v1's key hint is the
/// first 4 bytes of its log ID.
fn verify_checkpoint(
    envelope: &str,
    log: &LogKey,
    tree_size: u64,
    root_hash: &[u8; 32],
) -> Result<(), String> {
    let split = envelope
        .find("\n\n")
        .ok_or("checkpoint has no blank line before its signatures")?;
    // The signed text is the note including its last newline.
    let (note, signatures) = (&envelope[..split + 1], &envelope[split + 2..]);
    let mut lines = note.lines();
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err("checkpoint has no origin".into());
    }
    let size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("checkpoint tree size is not a number")?;
    let hash = lines
        .next()
        .and_then(|l| BASE64.decode(l).ok())
        .ok_or("checkpoint root hash is not base64")?;
    if size != tree_size || hash != root_hash {
        return Err(format!(
            "checkpoint is for tree size {size} and root {}, not the proof's {tree_size} and {}",
            hex::encode(&hash),
            hex::encode(root_hash)
        ));
    }
    let key = CosignVerificationKey::try_from_der(&log.spki_der)
        .map_err(|e| format!("log key of {} is not usable: {e}", log.base_url))?;
    for line in signatures.lines() {
        let Some((_name, sig)) = line
            .strip_prefix("\u{2014} ")
            .and_then(|rest| rest.split_once(' '))
        else {
            continue;
        };
        let Ok(sig) = BASE64.decode(sig) else {
            continue;
        };
        if sig.len() > 4 && log.log_id.get(..4) == Some(&sig[..4]) {
            return key
                .verify_signature(Signature::Raw(&sig[4..]), note.as_bytes())
                .map_err(|e| format!("checkpoint signature does not verify: {e}"));
        }
    }
    Err(format!(
        "checkpoint has no signature by log {}",
        log.base_url
    ))
}

/// The signed entry timestamp is the log's signature over the RFC 8785 canonical JSON of
/// body, integratedTime, logID (hex) and logIndex. Written out by hand: the values are
/// base64, hex and integers, which need no escaping, and the keys are already in
/// canonical (sorted) order.
fn verify_set(entry: &TransparencyLogEntry, log: &LogKey, set: &[u8]) -> Result<(), String> {
    let payload = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        BASE64.encode(&entry.canonicalized_body),
        entry.integrated_time,
        hex::encode(&log.log_id),
        entry.log_index
    );
    CosignVerificationKey::try_from_der(&log.spki_der)
        .and_then(|key| key.verify_signature(Signature::Raw(set), payload.as_bytes()))
        .map_err(|e| format!("signed entry timestamp does not verify: {e}"))
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
