//! RFC 3161 timestamps (`timestampVerificationData.rfc3161Timestamps`): a timestamp
//! authority of the trusted root signs the time at which it saw the bundle's signature.
//!
//! The ASN.1 structures are the RustCrypto `x509-tsp` and `cms` crates'; the checks
//! follow sigstore-go's `VerifyTimestampResponse`. Only the trusted root's certificates
//! are used: certificates embedded in the token are ignored, so a token signed by any
//! other authority does not verify.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::{
    Certificate,
    der::{Decode, Encode, asn1::OctetString, oid::ObjectIdentifier},
};
use x509_tsp::{TimeStampResp, TimeStampToken, TstInfo};

use super::{TrustedRoot, keys, trusted_root::CertAuthority};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// Extended key usage id-kp-timeStamping (1.3.6.1.5.5.7.3.8), DER content octets.
const EKU_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Verifies one timestamp (a DER `TimeStampResp`, or a bare `TimeStampToken`) over
/// `signature` and returns its time in Unix seconds.
///
/// Checked: the response was granted; the token is CMS SignedData over a TSTInfo; the
/// TSTInfo's message imprint is the hash of `signature`; exactly one signer, whose signed
/// attributes name the TSTInfo content type and its digest, and whose signature over them
/// verifies with the signing certificate of a timestamp authority of `root`; that
/// authority's validity window (both ends included) contains the time; and the
/// authority's chain, with the timeStamping extended key usage, was valid at that time.
pub(crate) fn verify_timestamp(
    der: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<i64, String> {
    let token = match TimeStampResp::from_der(der) {
        Ok(resp) => {
            if resp.status.status as u8 > 1 {
                return Err("the timestamp response is not granted".into());
            }
            resp.time_stamp_token
                .ok_or("the timestamp response has no token")?
        }
        Err(_) => TimeStampToken::from_der(der)
            .map_err(|e| format!("not a DER timestamp response or token: {e}"))?,
    };
    if token.content_type != ID_SIGNED_DATA {
        return Err("the timestamp token is not CMS SignedData".into());
    }
    let signed_data: cms::signed_data::SignedData = token
        .content
        .decode_as()
        .map_err(|e| format!("the timestamp token is not CMS SignedData: {e}"))?;
    let encap = &signed_data.encap_content_info;
    if encap.econtent_type != ID_CT_TST_INFO {
        return Err("the timestamp token does not hold a TSTInfo".into());
    }
    let tst_der = encap
        .econtent
        .as_ref()
        .ok_or("the timestamp token has no TSTInfo")?
        .decode_as::<OctetString>()
        .map_err(|e| format!("the TSTInfo is not an OCTET STRING: {e}"))?;
    let tst_der = tst_der.as_bytes();
    let tst = TstInfo::from_der(tst_der).map_err(|e| format!("malformed TSTInfo: {e}"))?;

    // The timestamp is about this signature.
    let imprint = &tst.message_imprint;
    if keys::hash(imprint.hash_algorithm.oid, signature)? != imprint.hashed_message.as_bytes() {
        return Err("the timestamp is for other data than the bundle's signature".into());
    }

    let signers = signed_data.signer_infos.0.as_slice();
    let [signer] = signers else {
        return Err(format!(
            "the timestamp token has {} signers, not one",
            signers.len()
        ));
    };
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("the timestamp signer has no signed attributes")?;
    let attr = |oid: ObjectIdentifier| {
        let found: Vec<_> = attrs.iter().filter(|a| a.oid == oid).collect();
        match found.as_slice() {
            [a] if a.values.len() == 1 => Ok(a.values.get(0).expect("one value")),
            _ => Err(format!(
                "the timestamp signer needs exactly one {oid} attribute"
            )),
        }
    };
    let content_type: ObjectIdentifier = attr(ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(|e| format!("bad content-type attribute: {e}"))?;
    if content_type != ID_CT_TST_INFO {
        return Err("the timestamp signer signed another content type".into());
    }
    let digest: OctetString = attr(ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(|e| format!("bad message-digest attribute: {e}"))?;
    if keys::hash(signer.digest_alg.oid, tst_der)? != digest.as_bytes() {
        return Err("the timestamp signer signed another TSTInfo".into());
    }
    // RFC 5652 5.4: the signature is over the DER of the attributes as a SET OF.
    let signed_bytes = attrs
        .to_der()
        .map_err(|e| format!("cannot re-encode signed attributes: {e}"))?;

    let time = tst.gen_time.to_unix_duration().as_secs() as i64;
    let mut reasons = Vec::new();
    for tsa in &root.tsas {
        match check_authority(tsa, signer.digest_alg.oid, &signed_bytes, signer, time) {
            Ok(()) => return Ok(time),
            Err(e) => reasons.push(format!("{}: {e}", tsa.uri)),
        }
    }
    if reasons.is_empty() {
        reasons.push("the trusted root lists no timestamp authorities".into());
    }
    Err(format!(
        "no timestamp authority of the trusted root vouches for the timestamp: {}",
        reasons.join("; ")
    ))
}

fn check_authority(
    tsa: &CertAuthority,
    digest_alg: ObjectIdentifier,
    signed_bytes: &[u8],
    signer: &cms::signed_data::SignerInfo,
    time: i64,
) -> Result<(), String> {
    let leaf_der = &tsa.chain_der[0];
    let leaf = Certificate::from_der(leaf_der).map_err(|e| format!("bad certificate: {e}"))?;
    let spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    keys::verify_with_hash(&spki, digest_alg, signed_bytes, signer.signature.as_bytes())
        .map_err(|e| format!("its signing certificate did not sign the timestamp ({e})"))?;
    if !tsa.valid.contains(time) {
        return Err(format!("the authority was not trusted at {time}"));
    }
    verify_chain_at(&tsa.chain_der, time)
}

/// The authority's chain (signing certificate first, root last) at `time`, with the
/// timeStamping extended key usage on the signing certificate.
fn verify_chain_at(chain: &[Vec<u8>], time: i64) -> Result<(), String> {
    let (leaf, rest) = chain.split_first().expect("checked when parsed");
    let leaf_der = CertificateDer::from(leaf.as_slice());
    let ee = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| e.to_string())?;
    let Some((anchor, intermediates)) = rest.split_last() else {
        // A lone certificate is its own anchor: only its validity can be checked.
        let cert = Certificate::from_der(leaf).map_err(|e| e.to_string())?;
        let v = &cert.tbs_certificate.validity;
        let (from, to) = (
            v.not_before.to_unix_duration().as_secs() as i64,
            v.not_after.to_unix_duration().as_secs() as i64,
        );
        return if from <= time && time <= to {
            Ok(())
        } else {
            Err(format!("its certificate was not valid at {time}"))
        };
    };
    let anchor_der = CertificateDer::from(anchor.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&anchor_der).map_err(|e| e.to_string())?;
    let intermediates: Vec<CertificateDer> = intermediates
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let at = UnixTime::since_unix_epoch(Duration::from_secs(time.max(0) as u64));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &intermediates,
        at,
        webpki::KeyUsage::required(EKU_TIME_STAMPING),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| format!("its chain was not valid at {time}: {e:?}"))
}

#[cfg(test)]
mod tests {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use x509_cert::der::{Any, asn1::GeneralizedTime};

    use super::*;
    use crate::sigstore_bundle::Bundle;

    fn vector() -> (Vec<u8>, Vec<u8>, TrustedRoot) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/sigstore-conformance/bundle-verify/rekor2-happy-path");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap())
                .unwrap();
        let ts = json
            .pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp")
            .unwrap()
            .as_str()
            .unwrap();
        let bundle = Bundle::from_json(json.to_string().as_bytes()).unwrap();
        let root =
            TrustedRoot::from_json(&std::fs::read(dir.join("trusted_root.json")).unwrap()).unwrap();
        (
            STANDARD.decode(ts).unwrap(),
            bundle.signature().to_vec(),
            root,
        )
    }

    /// The response with its TSTInfo edited and everything else (signed attributes,
    /// signature) kept.
    fn with_tst_info(der: &[u8], edit: impl Fn(&mut TstInfo)) -> Vec<u8> {
        let mut resp = TimeStampResp::from_der(der).unwrap();
        let token = resp.time_stamp_token.as_mut().unwrap();
        let mut sd: cms::signed_data::SignedData = token.content.decode_as().unwrap();
        let octets: OctetString = sd
            .encap_content_info
            .econtent
            .as_ref()
            .unwrap()
            .decode_as()
            .unwrap();
        let mut tst = TstInfo::from_der(octets.as_bytes()).unwrap();
        edit(&mut tst);
        let octets = OctetString::new(tst.to_der().unwrap()).unwrap();
        sd.encap_content_info.econtent = Some(Any::encode_from(&octets).unwrap());
        token.content = Any::encode_from(&sd).unwrap();
        resp.to_der().unwrap()
    }

    #[test]
    fn a_timestamp_verifies_and_its_signed_content_cannot_be_swapped() {
        let (der, signature, root) = vector();
        let t = verify_timestamp(&der, &signature, &root).unwrap();
        assert_eq!(t, 1_749_729_740); // 2025-06-12T12:02:20Z, the suite's README says

        // Unchanged content re-encodes to the same bytes (the edit below is the only change).
        assert_eq!(with_tst_info(&der, |_| {}), der);

        // A later time under the same signed attributes: the message-digest attribute no
        // longer matches.
        let later = with_tst_info(&der, |tst| {
            let d = tst.gen_time.to_unix_duration() + std::time::Duration::from_secs(86_400);
            tst.gen_time = GeneralizedTime::from_unix_duration(d).unwrap();
        });
        let err = verify_timestamp(&later, &signature, &root).unwrap_err();
        assert!(err.contains("another TSTInfo"), "{err}");

        // A timestamp of other data.
        let err = verify_timestamp(&der, b"another signature", &root).unwrap_err();
        assert!(err.contains("other data"), "{err}");
    }
}
