//! Embedded signed certificate timestamps (RFC 6962 section 3): proof that a CT log saw
//! the Fulcio certificate before it was issued.
//!
//! Hand-written because the `sigstore` crate's SCT check is crate-private. The signed
//! structure is rebuilt from the final certificate: its TBS without the SCT extension is
//! what the log signed as the precertificate.

use sha2::{Digest, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::{
    Certificate,
    der::{Decode, Encode, oid::ObjectIdentifier},
    ext::pkix::SignedCertificateTimestampList,
};

use super::TrustedRoot;

/// The X.509 extension that carries the SCT list (RFC 6962 3.3).
pub(crate) const SCT_LIST_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Checks that at least one embedded SCT is signed by a CT log of `root` that was valid at
/// the SCT's time. `issuer_spki_der` is the DER SPKI of the certificate's issuer.
pub(crate) fn verify_embedded_scts(
    leaf: &Certificate,
    issuer_spki_der: &[u8],
    root: &TrustedRoot,
) -> Result<(), String> {
    let extensions = leaf.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
    let ext = extensions
        .iter()
        .find(|e| e.extn_id == SCT_LIST_OID)
        .ok_or("the certificate has no embedded SCT list")?;
    let scts = SignedCertificateTimestampList::from_der(ext.extn_value.as_bytes())
        .map_err(|e| format!("SCT list extension is not DER: {e}"))?
        .parse_timestamps()
        .map_err(|e| format!("SCT list is malformed: {e:?}"))?;

    let precert_tbs = precert_tbs_der(leaf).map_err(|e| format!("cannot re-encode TBS: {e}"))?;
    let issuer_key_hash: [u8; 32] = Sha256::digest(issuer_spki_der).into();

    let mut reasons = Vec::new();
    for serialized in scts {
        let sct = serialized
            .parse_timestamp()
            .map_err(|e| format!("SCT is malformed: {e:?}"))?;
        let log_id = sct.log_id.key_id;
        let Some(log) = root.ctlog(&log_id) else {
            reasons.push(format!(
                "SCT from CT log {} not in the trusted root",
                hex::encode(log_id)
            ));
            continue;
        };
        let seconds = (sct.timestamp / 1000) as i64;
        if !log.valid.contains(seconds) {
            reasons.push(format!(
                "CT log {} was not valid at {seconds}",
                log.base_url
            ));
            continue;
        }
        let signed = signed_data(
            sct.timestamp,
            &issuer_key_hash,
            &precert_tbs,
            sct.extensions.as_slice(),
        );
        let verified = CosignVerificationKey::try_from_der(&log.spki_der)
            .and_then(|key| {
                key.verify_signature(Signature::Raw(sct.signature.signature.as_slice()), &signed)
            })
            .map_err(|e| e.to_string());
        match verified {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(format!("SCT from {} does not verify: {e}", log.base_url)),
        }
    }
    if reasons.is_empty() {
        reasons.push("the SCT list is empty".into());
    }
    Err(reasons.join("; "))
}

/// The leaf's TBS certificate without the SCT extension: what the CT log signed.
pub(crate) fn precert_tbs_der(leaf: &Certificate) -> Result<Vec<u8>, x509_cert::der::Error> {
    let mut tbs = leaf.tbs_certificate.clone();
    if let Some(exts) = tbs.extensions.as_mut() {
        exts.retain(|e| e.extn_id != SCT_LIST_OID);
    }
    tbs.to_der()
}

/// The `digitally-signed` struct of an SCT over a precertificate (RFC 6962 3.2), in TLS
/// encoding: version v1, signature type certificate_timestamp, entry type precert_entry.
pub(crate) fn signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8; 32],
    precert_tbs: &[u8],
    extensions: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(precert_tbs.len() + 64);
    out.push(0); // sct_version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    let len = precert_tbs.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]); // opaque TBSCertificate<1..2^24-1>
    out.extend_from_slice(precert_tbs);
    out.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    out.extend_from_slice(extensions);
    out
}
