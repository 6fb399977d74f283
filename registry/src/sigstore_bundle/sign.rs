//! Keyless signing: an ephemeral key, a Fulcio certificate for an OIDC identity token, and
//! a Rekor entry for the signature.
//!
//! Speaks Fulcio's v2 REST API (`POST /api/v2/signingCert` with a CSR) and Rekor's v1 API
//! (`POST /api/v1/log/entries` with a `hashedrekord` 0.0.1). Written against those APIs
//! directly because the `sigstore` crate's signing session only talks to the public-good
//! instance and needs an `email` claim, which CI tokens do not have.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use p256::ecdsa::{DerSignature, Signature as P256Signature, SigningKey, signature::Signer};
use sha2::{Digest, Sha256};
use sigstore_protobuf_specs::dev::sigstore::{
    common::v1::LogId,
    rekor::v1::{Checkpoint, InclusionPromise, InclusionProof, KindVersion, TransparencyLogEntry},
};
use x509_cert::{
    Certificate,
    builder::{Builder, RequestBuilder},
    der::{Decode, DecodePem, Encode, EncodePem, pem::LineEnding},
    name::Name,
};

use super::Bundle;

/// Why keyless signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot reach {service} at {url}: {reason}")]
    Unreachable {
        service: &'static str,
        url: String,
        reason: String,
    },
    #[error("Fulcio refused the certificate request ({status}): {body}; check the identity token")]
    FulcioRefused { status: u16, body: String },
    #[error("Fulcio answered something unexpected: {0}")]
    FulcioResponse(String),
    #[error("Rekor refused the log entry ({status}): {body}")]
    RekorRefused { status: u16, body: String },
    #[error("Rekor answered something unexpected: {0}")]
    RekorResponse(String),
    #[error("cannot make the signing key or request: {0}")]
    Local(String),
}

/// Signs `manifest_bytes` keyless: makes an ephemeral P-256 key, gets a certificate for
/// `id_token`'s identity from Fulcio at `fulcio_url`, signs, and logs the signature in
/// Rekor at `rekor_url`. The bundle carries the certificate and the log entry with its
/// inclusion proof, checkpoint and signed entry timestamp.
///
/// The services are trusted only for availability here: check the result with
/// [`super::verify_keyless`] against the trusted root before publishing it.
pub async fn sign_keyless(
    manifest_bytes: &[u8],
    id_token: &str,
    fulcio_url: &str,
    rekor_url: &str,
) -> Result<Bundle, SignError> {
    let http = reqwest::Client::new();
    let key = SigningKey::random(&mut rand_core::OsRng);
    let leaf_der = request_certificate(&http, &key, id_token, fulcio_url).await?;

    let signature: P256Signature = key.sign(manifest_bytes);
    let signature = signature.to_der().as_bytes().to_vec();
    let digest: [u8; 32] = Sha256::digest(manifest_bytes).into();
    let entry = log_signature(&http, &leaf_der, &signature, &digest, rekor_url).await?;
    Ok(Bundle::keyless(digest, signature, leaf_der, vec![entry]))
}

/// Signs an in-toto `statement` keyless as a DSSE envelope (what `cosign attest` makes):
/// the signature is over the envelope's PAE, and the envelope is logged in Rekor as a
/// `dsse` 0.0.1 entry. As with [`sign_keyless`], verify the result before publishing it.
pub async fn attest_keyless(
    statement: &[u8],
    id_token: &str,
    fulcio_url: &str,
    rekor_url: &str,
) -> Result<Bundle, SignError> {
    use sigstore_protobuf_specs::io::intoto::{Envelope, Signature};
    let http = reqwest::Client::new();
    let key = SigningKey::random(&mut rand_core::OsRng);
    let leaf_der = request_certificate(&http, &key, id_token, fulcio_url).await?;
    let payload_type = super::dsse::IN_TOTO_PAYLOAD_TYPE;
    let signature: P256Signature = key.sign(&super::dsse::pae(payload_type, statement));
    let signature = signature.to_der().as_bytes().to_vec();
    let envelope_json = serde_json::json!({
        "payload": BASE64.encode(statement),
        "payloadType": payload_type,
        "signatures": [{ "sig": BASE64.encode(&signature) }],
    })
    .to_string();
    let leaf_pem = Certificate::from_der(&leaf_der)
        .and_then(|c| c.to_pem(LineEnding::LF))
        .map_err(|e| SignError::Local(e.to_string()))?;
    let proposed = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": { "proposedContent": {
            "envelope": envelope_json,
            "verifiers": [BASE64.encode(leaf_pem)],
        }}
    });
    let entry = log_entry(&http, &proposed, rekor_url).await?;
    let envelope = Envelope {
        payload: statement.to_vec(),
        payload_type: payload_type.to_string(),
        signatures: vec![Signature {
            sig: signature,
            keyid: String::new(),
        }],
    };
    Ok(Bundle::keyless_dsse(envelope, leaf_der, vec![entry]))
}

/// Fulcio v2: a CSR (it proves possession of the key) for the token's identity; returns the
/// leaf certificate's DER.
async fn request_certificate(
    http: &reqwest::Client,
    key: &SigningKey,
    id_token: &str,
    fulcio_url: &str,
) -> Result<Vec<u8>, SignError> {
    let local = |e: &dyn std::fmt::Display| SignError::Local(e.to_string());
    // Fulcio takes the identity from the token, so the CSR's subject stays empty.
    let csr = RequestBuilder::new(Name::default(), key)
        .map_err(|e| local(&e))?
        .build::<DerSignature>()
        .map_err(|e| local(&e))?
        .to_pem(LineEnding::LF)
        .map_err(|e| local(&e))?;
    let request = serde_json::json!({
        "credentials": { "oidcIdentityToken": id_token },
        "certificateSigningRequest": BASE64.encode(csr),
    });
    let url = format!("{}/api/v2/signingCert", fulcio_url.trim_end_matches('/'));
    let (status, body) = post_json(http, "Fulcio", &url, Some(id_token), &request).await?;
    if !(200..300).contains(&status) {
        return Err(SignError::FulcioRefused {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let bad = |s: &str| SignError::FulcioResponse(s.to_string());
    let response: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| bad(&e.to_string()))?;
    // Only embedded SCTs: a detached SCT would not travel in the bundle.
    let leaf_pem = response
        .pointer("/signedCertificateEmbeddedSct/chain/certificates/0")
        .and_then(|c| c.as_str())
        .ok_or_else(|| bad("no signedCertificateEmbeddedSct chain"))?;
    let leaf = Certificate::from_pem(leaf_pem).map_err(|e| bad(&e.to_string()))?;
    let ours = key
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    if leaf
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        != ours
    {
        return Err(bad("the certificate is for another key"));
    }
    leaf.to_der().map_err(|e| bad(&e.to_string()))
}

/// Rekor v1: logs a hashedrekord for the signature and returns the entry as a bundle has it.
async fn log_signature(
    http: &reqwest::Client,
    leaf_der: &[u8],
    signature: &[u8],
    digest: &[u8; 32],
    rekor_url: &str,
) -> Result<TransparencyLogEntry, SignError> {
    let leaf_pem = Certificate::from_der(leaf_der)
        .and_then(|c| c.to_pem(LineEnding::LF))
        .map_err(|e| SignError::Local(e.to_string()))?;
    let proposed = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(digest) } },
            "signature": {
                "content": BASE64.encode(signature),
                "publicKey": { "content": BASE64.encode(leaf_pem) }
            }
        }
    });
    log_entry(http, &proposed, rekor_url).await
}

/// Rekor v1: propose an entry; returns it as a bundle has it.
async fn log_entry(
    http: &reqwest::Client,
    proposed: &serde_json::Value,
    rekor_url: &str,
) -> Result<TransparencyLogEntry, SignError> {
    let url = format!("{}/api/v1/log/entries", rekor_url.trim_end_matches('/'));
    let (status, body) = post_json(http, "Rekor", &url, None, proposed).await?;
    if !(200..300).contains(&status) {
        return Err(SignError::RekorRefused {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let response: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| SignError::RekorResponse(format!("not JSON: {e}")))?;
    // The answer is `{ "<entry uuid>": <LogEntry> }`.
    let entry = response
        .as_object()
        .and_then(|m| m.values().next())
        .ok_or_else(|| SignError::RekorResponse("no log entry".into()))?;
    rekor_entry_to_bundle_entry(entry).map_err(SignError::RekorResponse)
}

/// Rekor's v1 `LogEntry` JSON (hex and base64 strings) as the bundle's protobuf entry.
fn rekor_entry_to_bundle_entry(e: &serde_json::Value) -> Result<TransparencyLogEntry, String> {
    let str_at = |ptr: &str| {
        e.pointer(ptr)
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("no {ptr}"))
    };
    let int_at = |ptr: &str| {
        e.pointer(ptr)
            .and_then(|v| v.as_i64())
            .ok_or_else(|| format!("no {ptr}"))
    };
    let b64 = |ptr: &str| {
        BASE64
            .decode(str_at(ptr)?)
            .map_err(|e| format!("{ptr} is not base64: {e}"))
    };
    let hex_at = |s: &str| hex::decode(s).map_err(|e| format!("{s} is not hex: {e}"));
    // The kind is the logged body's (Rekor canonicalises what was proposed).
    let body: serde_json::Value = serde_json::from_slice(&b64("/body")?)
        .map_err(|e| format!("the logged body is not JSON: {e}"))?;
    let kind = body["kind"].as_str().ok_or("the logged body has no kind")?;
    let version = body["apiVersion"]
        .as_str()
        .ok_or("the logged body has no apiVersion")?;
    let hashes = e
        .pointer("/verification/inclusionProof/hashes")
        .and_then(|v| v.as_array())
        .ok_or("no inclusion proof hashes")?
        .iter()
        .map(|h| hex_at(h.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TransparencyLogEntry {
        log_index: int_at("/logIndex")?,
        log_id: Some(LogId {
            key_id: hex_at(str_at("/logID")?)?,
        }),
        kind_version: Some(KindVersion {
            kind: kind.into(),
            version: version.into(),
        }),
        integrated_time: int_at("/integratedTime")?,
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp: b64("/verification/signedEntryTimestamp")?,
        }),
        inclusion_proof: Some(InclusionProof {
            log_index: int_at("/verification/inclusionProof/logIndex")?,
            root_hash: hex_at(str_at("/verification/inclusionProof/rootHash")?)?,
            tree_size: int_at("/verification/inclusionProof/treeSize")?,
            hashes,
            checkpoint: Some(Checkpoint {
                envelope: str_at("/verification/inclusionProof/checkpoint")?.to_string(),
            }),
        }),
        canonicalized_body: b64("/body")?,
    })
}

async fn post_json(
    http: &reqwest::Client,
    service: &'static str,
    url: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> Result<(u16, Vec<u8>), SignError> {
    let unreachable = |e: reqwest::Error| SignError::Unreachable {
        service,
        url: url.to_string(),
        reason: e.to_string(),
    };
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(serde_json::to_vec(body).expect("json"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(unreachable)?;
    Ok((status, bytes.to_vec()))
}
