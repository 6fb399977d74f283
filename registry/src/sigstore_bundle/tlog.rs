//! Transparency-log entries: Rekor v1 (`hashedrekord` 0.0.1, `dsse` 0.0.1, `intoto`
//! 0.0.2) and Rekor v2 (`hashedrekord` 0.0.2, `dsse` 0.0.2), each with its RFC 6962
//! inclusion proof and a checkpoint signed by the log.
//!
//! Rekor v2 entries carry no integrated time; the time a signature was made comes from
//! RFC 3161 timestamps instead (see `timestamp`), and the log's key must have been valid
//! then.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use sha2::{Digest, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use sigstore_protobuf_specs::dev::sigstore::{
    common::v1::{HashAlgorithm, HashOutput},
    rekor::{
        v1::TransparencyLogEntry,
        v2::{self as rekor2, spec, verifier},
    },
};

use super::{TrustedRoot, merkle, trusted_root::LogKey};

/// What a log entry must be about.
pub(crate) struct Signed<'a> {
    /// The signature bytes: the message signature, or the DSSE envelope's one signature.
    pub(crate) signature: &'a [u8],
    pub(crate) signer: Signer<'a>,
    pub(crate) content: Content<'a>,
}

/// Who signed: a certificate (DER) or a public key (DER SubjectPublicKeyInfo).
#[derive(Clone, Copy)]
pub(crate) enum Signer<'a> {
    Certificate(&'a [u8]),
    Key(&'a [u8]),
}

/// What was signed.
pub(crate) enum Content<'a> {
    /// A message signature over an artifact with this SHA-256 digest.
    Message { digest: [u8; 32] },
    /// A DSSE envelope: its payload type and payload, and the SHA-256 of their PAE.
    Dsse {
        payload_type: &'a str,
        payload: &'a [u8],
        pae_digest: [u8; 32],
    },
}

/// Checks one entry. Returns the entry's integrated time when the log signed it (a
/// Rekor v1 entry with a verified inclusion promise), `None` otherwise. A Rekor v2 entry
/// is checked against the log key's validity at each of `timestamps` (the verified RFC
/// 3161 times), of which there must be at least one.
pub(crate) fn verify_entry(
    entry: &TransparencyLogEntry,
    signed: &Signed,
    root: &TrustedRoot,
    timestamps: &[i64],
) -> Result<Option<i64>, String> {
    let kv = entry.kind_version.as_ref().ok_or("no kindVersion")?;
    let v2 = match (kv.kind.as_str(), kv.version.as_str()) {
        ("hashedrekord", "0.0.1") | ("dsse", "0.0.1") | ("intoto", "0.0.2") => false,
        ("hashedrekord", "0.0.2") | ("dsse", "0.0.2") => true,
        (kind, version) => return Err(format!("kind {kind} {version} is not supported")),
    };
    let log_id = entry.log_id.as_ref().map(|l| l.key_id.as_slice());
    let log = log_id.and_then(|id| root.tlog(id)).ok_or_else(|| {
        format!(
            "log {} is not in the trusted root",
            hex::encode(log_id.unwrap_or_default())
        )
    })?;

    let body = &entry.canonicalized_body;
    match (kv.kind.as_str(), v2) {
        ("hashedrekord", false) => check_hashedrekord_v1(body, signed)?,
        ("dsse", false) => check_dsse_v1(body, signed)?,
        ("intoto", false) => check_intoto_v2(body, signed)?,
        _ => check_rekor2(body, &kv.kind, signed)?,
    }

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
    let leaf = merkle::leaf_hash(body);
    let computed = merkle::root_from_inclusion_proof(index, size, leaf, &hashes)?;
    if computed != root_hash {
        return Err("inclusion proof does not lead to its root hash".into());
    }
    let checkpoint = proof
        .checkpoint
        .as_ref()
        .ok_or("inclusion proof has no checkpoint")?;
    verify_checkpoint(&checkpoint.envelope, log, size, &root_hash)?;

    if v2 {
        if timestamps.is_empty() {
            return Err(
                "a Rekor v2 entry carries no time; the bundle needs an RFC 3161 timestamp".into(),
            );
        }
        if let Some(t) = timestamps.iter().find(|t| !log.valid.contains(**t)) {
            return Err(format!("log {} was not valid at {t}", log.base_url));
        }
        return Ok(None);
    }
    let t = entry.integrated_time;
    if t <= 0 {
        return Err("no integratedTime".into());
    }
    if !log.valid.contains(t) {
        return Err(format!("log {} was not valid at {t}", log.base_url));
    }
    match &entry.inclusion_promise {
        Some(promise) => {
            verify_set(entry, log, &promise.signed_entry_timestamp)?;
            Ok(Some(t))
        }
        // Without the log's signature the integrated time is only a claim.
        None => Ok(None),
    }
}

fn json(body: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
}

fn field<'v>(v: &'v serde_json::Value, ptr: &str) -> Result<&'v str, String> {
    v.pointer(ptr)
        .and_then(|x| x.as_str())
        .ok_or_else(|| format!("body has no {ptr}"))
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(s)
        .map_err(|e| format!("body {what} is not base64: {e}"))
}

fn check_kind(v: &serde_json::Value, kind: &str, version: &str) -> Result<(), String> {
    if field(v, "/kind")? != kind || field(v, "/apiVersion")? != version {
        return Err(format!("body is not a {kind} {version}"));
    }
    Ok(())
}

/// A PEM certificate or public key in a Rekor v1 body must be the signer.
fn check_pem_signer(pem_bytes: &[u8], signer: Signer) -> Result<(), String> {
    let pem = pem::parse(pem_bytes).map_err(|e| format!("body verifier is not PEM: {e}"))?;
    let (label, der) = (pem.tag(), pem.contents());
    let same = match signer {
        Signer::Certificate(cert) => label == "CERTIFICATE" && der == cert,
        Signer::Key(key) => label == "PUBLIC KEY" && der == key,
    };
    if !same {
        return Err("body names another certificate or key".into());
    }
    Ok(())
}

/// A Rekor v1 `hashedrekord`: the artifact digest, the signature and the signer. It must
/// be about this artifact, signature and signer; otherwise a valid entry for something
/// else could be attached (CVE-2022-36056).
fn check_hashedrekord_v1(body: &[u8], signed: &Signed) -> Result<(), String> {
    let v = json(body)?;
    check_kind(&v, "hashedrekord", "0.0.1")?;
    let Content::Message { digest } = &signed.content else {
        return Err("a hashedrekord 0.0.1 entry cannot log a DSSE envelope".into());
    };
    if field(&v, "/spec/data/hash/algorithm")? != "sha256"
        || !field(&v, "/spec/data/hash/value")?.eq_ignore_ascii_case(&hex::encode(digest))
    {
        return Err("body names another artifact digest".into());
    }
    if b64(field(&v, "/spec/signature/content")?, "signature")? != signed.signature {
        return Err("body names another signature".into());
    }
    let pem = b64(field(&v, "/spec/signature/publicKey/content")?, "key")?;
    check_pem_signer(&pem, signed.signer)
}

fn dsse_parts<'s>(signed: &'s Signed) -> Result<(&'s str, &'s [u8], &'s [u8; 32]), String> {
    match &signed.content {
        Content::Dsse {
            payload_type,
            payload,
            pae_digest,
        } => Ok((payload_type, payload, pae_digest)),
        Content::Message { .. } => Err("a DSSE entry cannot log a message signature".into()),
    }
}

/// The Rekor v1 `{algorithm, value}` at `ptr` is the payload's SHA-256.
fn check_payload_hash(v: &serde_json::Value, ptr: &str, payload: &[u8]) -> Result<(), String> {
    if field(v, &format!("{ptr}/algorithm"))? != "sha256"
        || field(v, &format!("{ptr}/value"))? != hex::encode(Sha256::digest(payload))
    {
        return Err("body names another payload".into());
    }
    Ok(())
}

/// The one signature in the list at `ptr` (a bundle's envelope has exactly one).
fn one_signature<'v>(v: &'v serde_json::Value, ptr: &str) -> Result<&'v serde_json::Value, String> {
    match v.pointer(ptr).and_then(|s| s.as_array()).map(Vec::as_slice) {
        Some([sig]) => Ok(sig),
        Some(_) => Err("body must name exactly the envelope's one signature".into()),
        None => Err("body has no signatures".into()),
    }
}

/// A Rekor v1 `dsse`: the payload's hash and the envelope's signatures with verifiers.
fn check_dsse_v1(body: &[u8], signed: &Signed) -> Result<(), String> {
    let v = json(body)?;
    check_kind(&v, "dsse", "0.0.1")?;
    let (_, payload, _) = dsse_parts(signed)?;
    check_payload_hash(&v, "/spec/payloadHash", payload)?;
    let sig = one_signature(&v, "/spec/signatures")?;
    if b64(field(sig, "/signature")?, "signature")? != signed.signature {
        return Err("body names another signature".into());
    }
    check_pem_signer(&b64(field(sig, "/verifier")?, "verifier")?, signed.signer)
}

/// A Rekor v1 `intoto` 0.0.2: the envelope (payload and signatures base64-encoded twice)
/// and the payload's hash.
fn check_intoto_v2(body: &[u8], signed: &Signed) -> Result<(), String> {
    let v = json(body)?;
    check_kind(&v, "intoto", "0.0.2")?;
    let (payload_type, payload, _) = dsse_parts(signed)?;
    check_payload_hash(&v, "/spec/content/payloadHash", payload)?;
    if field(&v, "/spec/content/envelope/payloadType")? != payload_type {
        return Err("body names another payload type".into());
    }
    if let Ok(p) = field(&v, "/spec/content/envelope/payload")
        && b64(p, "payload")? != BASE64.encode(payload).as_bytes()
    {
        return Err("body names another payload".into());
    }
    let sig = one_signature(&v, "/spec/content/envelope/signatures")?;
    let once = b64(field(sig, "/sig")?, "signature")?;
    let sig_bytes = BASE64
        .decode(&once)
        .map_err(|e| format!("body signature is not base64: {e}"))?;
    if sig_bytes != signed.signature {
        return Err("body names another signature".into());
    }
    check_pem_signer(&b64(field(sig, "/publicKey")?, "key")?, signed.signer)
}

/// A Rekor v2 entry (`hashedrekord` 0.0.2 or `dsse` 0.0.2), in the protobuf JSON mapping.
fn check_rekor2(body: &[u8], kind: &str, signed: &Signed) -> Result<(), String> {
    let entry: rekor2::Entry =
        serde_json::from_slice(body).map_err(|e| format!("body is not a Rekor v2 entry: {e}"))?;
    if entry.kind != kind || entry.api_version != "0.0.2" {
        return Err(format!("body is not a {kind} 0.0.2"));
    }
    let check_sig = |sig: Option<&rekor2::Signature>| -> Result<(), String> {
        let sig = sig.ok_or("body has no signature")?;
        if sig.content != signed.signature {
            return Err("body names another signature".into());
        }
        let verifier = sig
            .verifier
            .as_ref()
            .and_then(|v| v.verifier.as_ref())
            .ok_or("body signature has no verifier")?;
        let same = match (verifier, signed.signer) {
            (verifier::Verifier::X509Certificate(c), Signer::Certificate(cert)) => {
                c.raw_bytes == cert
            }
            (verifier::Verifier::PublicKey(k), Signer::Key(key)) => k.raw_bytes == key,
            _ => false,
        };
        if !same {
            return Err("body names another certificate or key".into());
        }
        Ok(())
    };
    let sha256_is = |h: Option<&HashOutput>, expected: &[u8; 32]| {
        h.is_some_and(|h| h.algorithm == HashAlgorithm::Sha2256 as i32 && h.digest == expected)
    };
    match entry.spec.and_then(|s| s.spec) {
        Some(spec::Spec::HashedRekordV002(h)) if kind == "hashedrekord" => {
            // For a DSSE envelope, Rekor v2 logs a hashedrekord over its PAE.
            let digest = match &signed.content {
                Content::Message { digest } => digest,
                Content::Dsse { pae_digest, .. } => pae_digest,
            };
            if !sha256_is(h.data.as_ref(), digest) {
                return Err("body names another artifact digest".into());
            }
            check_sig(h.signature.as_ref())
        }
        Some(spec::Spec::DsseV002(d)) if kind == "dsse" => {
            let (_, payload, _) = dsse_parts(signed)?;
            if !sha256_is(d.payload_hash.as_ref(), &Sha256::digest(payload).into()) {
                return Err("body names another payload".into());
            }
            let [sig] = d.signatures.as_slice() else {
                return Err("body must name exactly the envelope's one signature".into());
            };
            check_sig(Some(sig))
        }
        _ => Err(format!("body has no {kind} 0.0.2 spec")),
    }
}

/// A checkpoint is a signed note (<https://github.com/transparency-dev/formats>,
/// C2SP signed-note): the lines `origin`, `tree size`, `base64 root hash` (and optional
/// more), a blank line, then lines `— <name> <base64(4-byte key hint || signature)>`.
/// The log's line is the one whose name is the log's host name and whose key hint is the
/// first 4 bytes of its log ID; other lines (witness cosignatures, whose keys the trusted
/// root does not distribute) are skipped, wherever they stand.
pub(crate) fn verify_checkpoint(
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
    // The origin names the log: its host, and for Rekor v1 ` - <tree ID>` after it.
    let name = log_name(&log.base_url);
    if origin != name && !origin.starts_with(&format!("{name} - ")) {
        return Err(format!(
            "checkpoint is from `{origin}`, not from log {name}"
        ));
    }
    let key = CosignVerificationKey::try_from_der(&log.spki_der)
        .map_err(|e| format!("log key of {} is not usable: {e}", log.base_url))?;
    let mut failure = None;
    for line in signatures.lines() {
        let Some((line_name, sig)) = line
            .strip_prefix("\u{2014} ")
            .and_then(|rest| rest.split_once(' '))
        else {
            continue;
        };
        let Ok(sig) = BASE64.decode(sig) else {
            continue;
        };
        if line_name != name || sig.len() <= 4 || log.log_id.get(..4) != Some(&sig[..4]) {
            continue;
        }
        match key.verify_signature(Signature::Raw(&sig[4..]), note.as_bytes()) {
            Ok(()) => return Ok(()),
            Err(e) => failure = Some(format!("checkpoint signature does not verify: {e}")),
        }
    }
    Err(failure.unwrap_or_else(|| format!("checkpoint has no signature by log {name}")))
}

/// The name a log signs its checkpoints with: the host of its base URL.
fn log_name(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
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

#[cfg(test)]
mod tests {
    //! The entry bodies of the conformance suite's vectors, checked against what the
    //! bundle signs, with one part changed at a time. (A changed body cannot be tested
    //! through a whole bundle: its inclusion proof would fail first.)

    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use serde_json::Value;

    use super::*;
    use crate::sigstore_bundle::{Bundle, dsse};

    fn bundle(vector: &str) -> Bundle {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/sigstore-conformance/bundle-verify")
            .join(vector)
            .join("bundle.sigstore.json");
        Bundle::from_json(&std::fs::read(path).unwrap()).unwrap()
    }

    fn body(b: &Bundle) -> Vec<u8> {
        b.as_proto()
            .verification_material
            .as_ref()
            .unwrap()
            .tlog_entries[0]
            .canonicalized_body
            .clone()
    }

    fn artifact_digest() -> [u8; 32] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/sigstore-conformance/bundle-verify/a.txt");
        Sha256::digest(std::fs::read(path).unwrap()).into()
    }

    fn content(b: &Bundle) -> Content<'_> {
        match b.dsse_envelope() {
            Some(e) => Content::Dsse {
                payload_type: &e.payload_type,
                payload: &e.payload,
                pae_digest: dsse::pae_digest(e),
            },
            None => Content::Message {
                digest: artifact_digest(),
            },
        }
    }

    /// A named change to an entry body.
    type Edit<'a> = (&'a str, &'a dyn Fn(&mut Value));

    /// Runs `check` on the vector's body as is (accepted), then with each edit (refused).
    fn check_edits(vector: &str, check: fn(&[u8], &Signed) -> Result<(), String>, edits: &[Edit]) {
        let b = bundle(vector);
        let leaf = b.leaf_certificate_der().unwrap();
        let signed = Signed {
            signature: b.signature(),
            signer: Signer::Certificate(leaf),
            content: content(&b),
        };
        let good = body(&b);
        check(&good, &signed).unwrap();
        for (what, edit) in edits {
            let mut v: Value = serde_json::from_slice(&good).unwrap();
            edit(&mut v);
            let err = check(v.to_string().as_bytes(), &signed).unwrap_err();
            println!("{vector}, {what}: {err}");
        }
        // Another signer (a certificate of the same shape, one byte changed).
        let mut other = leaf.to_vec();
        let last = other.len() - 1;
        other[last] ^= 1;
        let signed = Signed {
            signer: Signer::Certificate(&other),
            ..signed
        };
        assert!(check(&good, &signed).is_err(), "{vector}: another signer");
    }

    fn flip_b64(v: &mut Value, ptr: &str) {
        let s = v.pointer_mut(ptr).unwrap();
        let mut bytes = STANDARD.decode(s.as_str().unwrap()).unwrap();
        bytes[0] ^= 1;
        *s = STANDARD.encode(bytes).into();
    }

    fn check_v2_hashedrekord(body: &[u8], signed: &Signed) -> Result<(), String> {
        check_rekor2(body, "hashedrekord", signed)
    }

    #[test]
    fn rekor_v2_hashedrekord_body_must_name_this_digest_signature_and_signer() {
        let spec = "/spec/hashedRekordV002";
        let digest = format!("{spec}/data/digest");
        let sig = format!("{spec}/signature/content");
        for vector in ["rekor2-happy-path", "rekor2-dsse-happy-path"] {
            check_edits(
                vector,
                check_v2_hashedrekord,
                &[
                    ("digest", &|v| flip_b64(v, &digest)),
                    ("signature", &|v| flip_b64(v, &sig)),
                    ("kind", &|v| v["apiVersion"] = "0.0.1".into()),
                ],
            );
        }
    }

    /// A Rekor v2 `dsse` 0.0.2 body for the envelope of `rekor2-dsse-happy-path` (the
    /// suite has no vector of this kind), made from its `hashedrekord` body.
    fn check_v2_dsse(body: &[u8], signed: &Signed) -> Result<(), String> {
        let v: Value = serde_json::from_slice(body).unwrap();
        let dsse = match v.pointer("/spec/hashedRekordV002") {
            Some(h) => {
                let Content::Dsse { payload, .. } = &signed.content else {
                    unreachable!()
                };
                serde_json::json!({
                    "apiVersion": "0.0.2", "kind": "dsse",
                    "spec": {"dsseV002": {
                        "payloadHash": {"algorithm": "SHA2_256",
                                        "digest": STANDARD.encode(Sha256::digest(payload))},
                        "signatures": [h["signature"]],
                    }},
                })
            }
            None => v,
        };
        check_rekor2(dsse.to_string().as_bytes(), "dsse", signed)
    }

    #[test]
    fn rekor_v2_dsse_body_must_name_this_payload_signature_and_signer() {
        check_edits(
            "rekor2-dsse-happy-path",
            check_v2_dsse,
            &[
                ("payload hash", &|v| {
                    flip_b64(v, "/spec/hashedRekordV002/data/digest");
                    let h = v["spec"]["hashedRekordV002"].take();
                    let mut d = serde_json::json!({"dsseV002": {
                        "payloadHash": {"algorithm": "SHA2_256", "digest": STANDARD.encode([0u8; 32])},
                        "signatures": [h["signature"]],
                    }});
                    v["kind"] = "dsse".into();
                    v["spec"] = d.take();
                }),
                ("signature", &|v| {
                    flip_b64(v, "/spec/hashedRekordV002/signature/content")
                }),
            ],
        );
    }

    #[test]
    fn rekor_v1_dsse_body_must_name_this_payload_signature_and_signer() {
        check_edits(
            "happy-path-intoto-in-dsse-v3",
            check_dsse_v1,
            &[
                ("payload hash", &|v| {
                    v["spec"]["payloadHash"]["value"] = hex::encode([0u8; 32]).into()
                }),
                ("signature", &|v| {
                    flip_b64(v, "/spec/signatures/0/signature")
                }),
                ("two signatures", &|v| {
                    let s = v["spec"]["signatures"][0].clone();
                    v["spec"]["signatures"].as_array_mut().unwrap().push(s);
                }),
            ],
        );
    }

    #[test]
    fn rekor_v1_intoto_body_must_name_this_payload_signature_and_signer() {
        check_edits(
            "intoto-with-custom-trust-root",
            check_intoto_v2,
            &[
                ("payload hash", &|v| {
                    v["spec"]["content"]["payloadHash"]["value"] = hex::encode([0u8; 32]).into()
                }),
                ("payload type", &|v| {
                    v["spec"]["content"]["envelope"]["payloadType"] = "text/plain".into()
                }),
            ],
        );
    }

    #[test]
    fn rekor_v1_hashedrekord_body_must_name_this_digest_signature_and_signer() {
        check_edits(
            "happy-path-v0.3",
            check_hashedrekord_v1,
            &[
                ("digest", &|v| {
                    v["spec"]["data"]["hash"]["value"] = hex::encode([0u8; 32]).into()
                }),
                ("signature", &|v| flip_b64(v, "/spec/signature/content")),
            ],
        );
    }

    #[test]
    fn the_log_signature_line_must_carry_the_logs_name() {
        let b = bundle("rekor2-happy-path");
        let entry = &b
            .as_proto()
            .verification_material
            .as_ref()
            .unwrap()
            .tlog_entries[0];
        let proof = entry.inclusion_proof.as_ref().unwrap();
        let envelope = &proof.checkpoint.as_ref().unwrap().envelope;
        let root_json = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../tests/sigstore-conformance/bundle-verify/rekor2-happy-path/trusted_root.json",
        ))
        .unwrap();
        let root = crate::sigstore_bundle::TrustedRoot::from_json(&root_json).unwrap();
        let log = root.tlog(&entry.log_id.as_ref().unwrap().key_id).unwrap();
        let hash: [u8; 32] = proof.root_hash.as_slice().try_into().unwrap();
        let size = proof.tree_size as u64;
        verify_checkpoint(envelope, log, size, &hash).unwrap();
        // The same valid signature under another name is not the log's.
        let renamed = envelope.replace(
            "\u{2014} log2025-alpha1.rekor.sigstage.dev ",
            "\u{2014} log2025-alpha1.rekor.example.dev ",
        );
        assert_ne!(&renamed, envelope);
        let err = verify_checkpoint(&renamed, log, size, &hash).unwrap_err();
        assert!(err.contains("no signature by log"), "{err}");
        // Nor is a checkpoint of another log's origin.
        let other_origin =
            envelope.replacen("log2025-alpha1.rekor.sigstage.dev\n", "other.dev\n", 1);
        let err = verify_checkpoint(&other_origin, log, size, &hash).unwrap_err();
        assert!(err.contains("not from log"), "{err}");
    }
}
