//! DSSE envelopes with in-toto statements (<https://github.com/secure-systems-lab/dsse>,
//! <https://github.com/in-toto/attestation>): the signature is over the envelope's PAE,
//! and the artifact is one of the statement's subjects.

use sha2::{Digest, Sha256};
use sigstore_protobuf_specs::io::intoto::Envelope;

/// The only payload type chitin accepts in a bundle.
pub(crate) const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

/// The DSSE pre-authentication encoding: what the signature is over.
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The envelope's one signature, after checking that its payload is an in-toto statement
/// with a subject whose SHA-256 is `artifact_digest`.
pub(crate) fn check_envelope<'e>(
    envelope: &'e Envelope,
    artifact_digest: &[u8; 32],
) -> Result<&'e [u8], String> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "payload type `{}` is not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE})",
            envelope.payload_type
        ));
    }
    let [signature] = envelope.signatures.as_slice() else {
        return Err(format!(
            "the envelope has {} signatures; a bundle's has exactly one",
            envelope.signatures.len()
        ));
    };
    #[derive(serde::Deserialize)]
    struct Statement {
        #[serde(rename = "_type")]
        kind: String,
        subject: Vec<Subject>,
    }
    #[derive(serde::Deserialize)]
    struct Subject {
        #[serde(default)]
        digest: std::collections::BTreeMap<String, String>,
    }
    let statement: Statement = serde_json::from_slice(&envelope.payload)
        .map_err(|e| format!("the payload is not an in-toto statement: {e}"))?;
    if !STATEMENT_TYPES.contains(&statement.kind.as_str()) {
        return Err(format!(
            "unknown in-toto statement type `{}`",
            statement.kind
        ));
    }
    let wanted = hex::encode(artifact_digest);
    if !statement.subject.iter().any(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(&wanted))
    }) {
        return Err(format!(
            "the statement has no subject with digest sha256:{wanted}"
        ));
    }
    Ok(&signature.sig)
}

/// SHA-256 of the envelope's PAE (what Rekor v2 logs for a DSSE envelope).
pub(crate) fn pae_digest(envelope: &Envelope) -> [u8; 32] {
    Sha256::digest(pae(&envelope.payload_type, &envelope.payload)).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstore_protobuf_specs::io::intoto::Signature;

    fn envelope(payload: &str) -> Envelope {
        Envelope {
            payload: payload.as_bytes().to_vec(),
            payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
            signatures: vec![Signature {
                sig: vec![1, 2, 3],
                keyid: String::new(),
            }],
        }
    }

    #[test]
    fn pae_is_the_spec_encoding() {
        // The example of the DSSE specification (protocol.md).
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn the_artifact_must_be_a_subject() {
        let d = [0xab; 32];
        let statement = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicateType":"p","predicate":{{}}}}"#,
            hex::encode(d)
        );
        assert_eq!(
            check_envelope(&envelope(&statement), &d).unwrap(),
            &[1, 2, 3]
        );
        let err = check_envelope(&envelope(&statement), &[0xac; 32]).unwrap_err();
        assert!(err.contains("no subject"), "{err}");

        let mut other_type = envelope(&statement);
        other_type.payload_type = "text/plain".into();
        assert!(check_envelope(&other_type, &d).is_err());

        let mut two = envelope(&statement);
        two.signatures.push(two.signatures[0].clone());
        assert!(check_envelope(&two, &d).is_err());

        let not_statement = statement.replace("Statement/v1", "Bundle/v1");
        assert!(check_envelope(&envelope(&not_statement), &d).is_err());
    }
}
