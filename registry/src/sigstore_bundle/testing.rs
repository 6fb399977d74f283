//! A local, private Sigstore for tests: a Fulcio-like CA (P-384 root and intermediate, as
//! the public-good one), a Rekor log key and a CT log key, all made fresh per
//! [`TestSigstore::new`]. It issues keyless bundles that [`verify_keyless`] accepts against
//! [`TestSigstore::trusted_root`], and, with [`Fault`], bundles that are wrong in one way.
//!
//! ```
//! use chitin_registry::sigstore_bundle::{testing::TestSigstore, verify_keyless};
//! use sha2::{Digest, Sha256};
//!
//! let sigstore = TestSigstore::new();
//! let manifest = br#"{"schemaVersion":2}"#;
//! let bundle = sigstore.sign(manifest, "dev@example.com", "https://accounts.example.com");
//! let digest: [u8; 32] = Sha256::digest(manifest).into();
//! let who = verify_keyless(&bundle, &digest, &sigstore.trusted_root()).unwrap();
//! assert_eq!(who.subject, "dev@example.com");
//! ```
//!
//! [`verify_keyless`]: super::verify_keyless

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PublicKeyData, SanType, SerialNumber, SigningKey as _,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use sigstore_protobuf_specs::dev::sigstore::{
    common::v1::LogId,
    rekor::v1::{Checkpoint, InclusionPromise, InclusionProof, KindVersion, TransparencyLogEntry},
};
use x509_cert::der::{Decode, Encode, asn1::OctetString, asn1::Utf8StringRef};

use super::{Bundle, TrustedRoot, merkle, sct};

/// How long a test leaf certificate is valid, as Fulcio's.
pub const CERT_VALIDITY_SECS: i64 = 600;

/// One thing to get wrong in a bundle, for negative tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No transparency-log entry at all.
    NoLogEntry,
    /// A hash of the inclusion proof is altered.
    BadInclusionProof,
    /// The checkpoint is signed by a key that is not the log's.
    BadCheckpoint,
    /// The checkpoint names another root hash than the proof.
    CheckpointForOtherRoot,
    /// The signed entry timestamp is over other data.
    BadSignedEntryTimestamp,
    /// The entry is in a log that the trusted root does not list.
    UnknownLog,
    /// The entry's body names another artifact digest.
    BodyForOtherArtifact,
    /// The leaf certificate comes from a CA that is not in the trusted root.
    OtherCa,
    /// The leaf certificate has no embedded SCT.
    NoSct,
    /// The embedded SCT is signed by a key that is not the CT log's.
    BadSct,
    /// The signature is over other bytes than the manifest.
    BadSignature,
}

/// Knobs for [`TestSigstore::sign_with`]. The default is a good bundle made now.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Start of the leaf certificate's 10-minute validity, Unix seconds (default: 60 s ago).
    /// A time in the past gives a certificate that is expired now.
    pub cert_not_before: Option<i64>,
    /// The log entry's integratedTime (default: 30 s after `cert_not_before`).
    pub integrated_time: Option<i64>,
    /// Something to get wrong.
    pub fault: Option<Fault>,
    /// The certificate's source repository (Fulcio's extension 1.3.6.1.4.1.57264.1.12,
    /// which it fills from a CI token's repository claims).
    pub source_repository: Option<String>,
}

/// A local Sigstore: Fulcio CA, Rekor log and CT log. See the module doc.
pub struct TestSigstore {
    fulcio: TestCa,
    other_ca: TestCa,
    rekor: LogSigner,
    other_log: LogSigner,
    ct: LogSigner,
    /// Leaf hashes of the Rekor log so far; a bundle's proof is against the current tree.
    log: Mutex<Vec<merkle::Hash>>,
    serial: Mutex<u64>,
}

struct TestCa {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    intermediate: Issuer<'static, KeyPair>,
}

struct LogSigner {
    key: KeyPair,
    log_id: [u8; 32],
    origin: &'static str,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("key");
        let mut root = CertificateParams::default();
        root.distinguished_name = dn(&format!("{name} root"));
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root.not_before = rcgen::date_time_ymd(2020, 1, 1);
        root.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let root_der = root
            .self_signed(&root_key)
            .expect("root cert")
            .der()
            .to_vec();
        let root = Issuer::new(root, root_key);

        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("key");
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&format!("{name} intermediate"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // Fulcio's intermediate is limited to code signing too.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let intermediate_der = params
            .signed_by(&key, &root)
            .expect("intermediate cert")
            .der()
            .to_vec();
        TestCa {
            root_der,
            intermediate_der,
            intermediate: Issuer::new(params, key),
        }
    }
}

impl LogSigner {
    fn new(origin: &'static str) -> LogSigner {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let log_id = Sha256::digest(key.subject_public_key_info()).into();
        LogSigner {
            key,
            log_id,
            origin,
        }
    }

    fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.key.sign(data).expect("sign")
    }

    fn spki(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }
}

impl Default for TestSigstore {
    fn default() -> Self {
        TestSigstore::new()
    }
}

impl TestSigstore {
    /// A fresh CA, Rekor log (with a few earlier entries, so proofs have several hashes)
    /// and CT log.
    pub fn new() -> TestSigstore {
        let earlier = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
        TestSigstore {
            fulcio: TestCa::new("test fulcio"),
            other_ca: TestCa::new("other fulcio"),
            rekor: LogSigner::new("rekor.test"),
            other_log: LogSigner::new("other-rekor.test"),
            ct: LogSigner::new("ctfe.test"),
            log: Mutex::new(earlier),
            serial: Mutex::new(1),
        }
    }

    /// The trusted root that trusts this Sigstore's CA, Rekor log and CT log, as
    /// `trusted_root.json`.
    pub fn trusted_root_json(&self) -> Vec<u8> {
        let log = |signer: &LogSigner, url: &str| {
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": BASE64.encode(signer.spki()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": "2020-01-01T00:00:00Z" }
                },
                "logId": { "keyId": BASE64.encode(signer.log_id) }
            })
        };
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(&self.rekor, "https://rekor.test")],
            "certificateAuthorities": [{
                "subject": { "organization": "test", "commonName": "test fulcio" },
                "uri": "https://fulcio.test",
                "certChain": { "certificates": [
                    { "rawBytes": BASE64.encode(&self.fulcio.intermediate_der) },
                    { "rawBytes": BASE64.encode(&self.fulcio.root_der) }
                ]},
                "validFor": { "start": "2020-01-01T00:00:00Z" }
            }],
            "ctlogs": [log(&self.ct, "https://ctfe.test")],
        });
        serde_json::to_vec_pretty(&root).expect("json")
    }

    /// [`TestSigstore::trusted_root_json`], parsed.
    pub fn trusted_root(&self) -> TrustedRoot {
        TrustedRoot::from_json(&self.trusted_root_json()).expect("test trusted root parses")
    }

    /// A good keyless bundle for `manifest_bytes`: an ephemeral P-256 key, a 10-minute leaf
    /// certificate for `subject` (email, or URI when it has `://`) and OIDC `issuer`, and a
    /// hashedrekord entry with inclusion proof, signed checkpoint and signed entry
    /// timestamp.
    pub fn sign(&self, manifest_bytes: &[u8], subject: &str, issuer: &str) -> Bundle {
        self.sign_with(manifest_bytes, subject, issuer, &SignOptions::default())
    }

    /// Like [`TestSigstore::sign`], with times and a fault chosen by `options`.
    pub fn sign_with(
        &self,
        manifest_bytes: &[u8],
        subject: &str,
        issuer: &str,
        options: &SignOptions,
    ) -> Bundle {
        let fault = options.fault;
        let not_before = options.cert_not_before.unwrap_or_else(|| now() - 60);
        let integrated_time = options.integrated_time.unwrap_or(not_before + 30);
        let digest: [u8; 32] = Sha256::digest(manifest_bytes).into();

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let ca = if fault == Some(Fault::OtherCa) {
            &self.other_ca
        } else {
            &self.fulcio
        };
        let leaf = LeafSpec {
            subject,
            issuer,
            not_before,
            source_repository: options.source_repository.as_deref(),
        };
        let leaf_der = self.leaf_certificate(ca, &key, &leaf, fault);
        let signed = if fault == Some(Fault::BadSignature) {
            b"something else".as_slice()
        } else {
            manifest_bytes
        };
        let signature = key.sign(signed).expect("sign");

        let mut entries = Vec::new();
        if fault != Some(Fault::NoLogEntry) {
            let body = hashedrekord_body(&leaf_der, &signature, digest, fault);
            entries.push(self.append_entry(body, integrated_time, fault));
        }
        Bundle::keyless(digest, signature, leaf_der, entries)
    }

    /// A keyless attestation: a DSSE envelope whose payload is the in-toto `statement`,
    /// signed over its PAE with a leaf certificate for `subject` and `issuer`, logged as a
    /// Rekor v1 `dsse` 0.0.1 entry (as `cosign attest` makes them).
    pub fn attest_with(
        &self,
        statement: &[u8],
        subject: &str,
        issuer: &str,
        options: &SignOptions,
    ) -> Bundle {
        use sigstore_protobuf_specs::io::intoto::{Envelope, Signature};
        let fault = options.fault;
        let not_before = options.cert_not_before.unwrap_or_else(|| now() - 60);
        let integrated_time = options.integrated_time.unwrap_or(not_before + 30);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let leaf = LeafSpec {
            subject,
            issuer,
            not_before,
            source_repository: options.source_repository.as_deref(),
        };
        let ca = if fault == Some(Fault::OtherCa) {
            &self.other_ca
        } else {
            &self.fulcio
        };
        let leaf_der = self.leaf_certificate(ca, &key, &leaf, fault);
        let signed = if fault == Some(Fault::BadSignature) {
            b"something else".to_vec()
        } else {
            super::dsse::pae(super::dsse::IN_TOTO_PAYLOAD_TYPE, statement)
        };
        let signature = key.sign(&signed).expect("sign");
        let envelope = Envelope {
            payload: statement.to_vec(),
            payload_type: super::dsse::IN_TOTO_PAYLOAD_TYPE.into(),
            signatures: vec![Signature {
                sig: signature.clone(),
                keyid: String::new(),
            }],
        };
        let mut entries = Vec::new();
        if fault != Some(Fault::NoLogEntry) {
            let body = dsse_body(&envelope, &leaf_der);
            entries.push(self.append_entry(body, integrated_time, fault));
        }
        Bundle::keyless_dsse(envelope, leaf_der, entries)
    }

    /// A leaf certificate as Fulcio issues it, with an SCT from the CT log embedded.
    fn leaf_certificate(
        &self,
        ca: &TestCa,
        key: &impl PublicKeyData,
        leaf: &LeafSpec,
        fault: Option<Fault>,
    ) -> Vec<u8> {
        let LeafSpec {
            subject,
            issuer,
            not_before,
            source_repository,
        } = *leaf;
        let serial = {
            let mut s = self.serial.lock().expect("lock");
            *s += 1;
            *s
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![if subject.contains("://") {
            SanType::URI(subject.try_into().expect("URI SAN"))
        } else {
            SanType::Rfc822Name(subject.try_into().expect("email SAN"))
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        params.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).expect("time");
        params.not_after =
            time::OffsetDateTime::from_unix_timestamp(not_before + CERT_VALIDITY_SECS)
                .expect("time");
        let issuer_v2 = Utf8StringRef::new(issuer)
            .and_then(|s| s.to_der())
            .expect("issuer");
        params.custom_extensions = vec![
            // Fulcio writes both: the deprecated raw form and the DER UTF8String.
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 1], issuer.into()),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], issuer_v2),
        ];
        if let Some(repository) = source_repository {
            let value = Utf8StringRef::new(repository)
                .and_then(|s| s.to_der())
                .expect("source repository");
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 57264, 1, 12],
                    value,
                ));
        }
        let precert = params
            .signed_by(key, &ca.intermediate)
            .expect("leaf")
            .der()
            .to_vec();
        if fault == Some(Fault::NoSct) {
            return precert;
        }

        // The CT log signs the certificate without the SCT extension; the extension is then
        // added and the certificate signed again, as Fulcio does with its precertificate.
        let precert = x509_cert::Certificate::from_der(&precert).expect("parse leaf");
        let tbs = sct::precert_tbs_der(&precert).expect("tbs");
        let issuer_key_hash: [u8; 32] =
            Sha256::digest(ca.intermediate.key().subject_public_key_info()).into();
        let timestamp_ms = (not_before as u64) * 1000;
        let signed = sct::signed_data(timestamp_ms, &issuer_key_hash, &tbs, &[]);
        let ct = if fault == Some(Fault::BadSct) {
            &self.other_log
        } else {
            &self.ct
        };
        let sig = ct.sign(&signed);
        let sct_list = OctetString::new(encode_sct_list(&self.ct.log_id, timestamp_ms, &sig))
            .and_then(|o| o.to_der())
            .expect("SCT list");
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
                sct_list,
            ));
        params
            .signed_by(key, &ca.intermediate)
            .expect("leaf")
            .der()
            .to_vec()
    }

    /// Appends an entry with this body to the log and returns it with its proof,
    /// checkpoint and signed entry timestamp.
    fn append_entry(
        &self,
        body: Vec<u8>,
        integrated_time: i64,
        fault: Option<Fault>,
    ) -> TransparencyLogEntry {
        let log = if fault == Some(Fault::UnknownLog) {
            &self.other_log
        } else {
            &self.rekor
        };
        let (index, size, root, mut proof) = {
            let mut leaves = self.log.lock().expect("lock");
            leaves.push(merkle::leaf_hash(&body));
            let index = leaves.len() - 1;
            (
                index,
                leaves.len(),
                merkle::tree_root(&leaves),
                merkle::inclusion_proof(index, &leaves),
            )
        };
        if fault == Some(Fault::BadInclusionProof) {
            proof[0][0] ^= 1;
        }
        let checkpoint_root = if fault == Some(Fault::CheckpointForOtherRoot) {
            [0; 32]
        } else {
            root
        };
        let note = format!(
            "{} - 1\n{size}\n{}\n",
            log.origin,
            BASE64.encode(checkpoint_root)
        );
        let note_signer = if fault == Some(Fault::BadCheckpoint) {
            &self.other_log
        } else {
            log
        };
        let mut note_sig = log.log_id[..4].to_vec();
        note_sig.extend(note_signer.sign(note.as_bytes()));
        let envelope = format!(
            "{note}\n\u{2014} {} {}\n",
            log.origin,
            BASE64.encode(note_sig)
        );

        // The signed entry timestamp: keys written in sorted (RFC 8785) order, so the
        // output is canonical with or without serde_json's preserve_order.
        let set_payload = serde_json::to_vec(&json!({
            "body": BASE64.encode(&body),
            "integratedTime": integrated_time,
            "logID": hex::encode(log.log_id),
            "logIndex": index as i64 + if fault == Some(Fault::BadSignedEntryTimestamp) { 1 } else { 0 },
        }))
        .expect("json");
        let set = log.sign(&set_payload);

        TransparencyLogEntry {
            log_index: index as i64,
            log_id: Some(LogId {
                key_id: log.log_id.to_vec(),
            }),
            kind_version: Some(kind_version(&body)),
            integrated_time,
            inclusion_promise: Some(InclusionPromise {
                signed_entry_timestamp: set,
            }),
            inclusion_proof: Some(InclusionProof {
                log_index: index as i64,
                root_hash: root.to_vec(),
                tree_size: size as i64,
                hashes: proof.iter().map(|h| h.to_vec()).collect(),
                checkpoint: Some(Checkpoint { envelope }),
            }),
            canonicalized_body: body,
        }
    }

    /// Issues a Fulcio leaf certificate for a P-256 public key (DER SPKI), as Fulcio does
    /// for an identity token; returns the chain, leaf first.
    pub fn issue_certificate(
        &self,
        spki_der: &[u8],
        subject: &str,
        issuer: &str,
        source_repository: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, String> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki_der)
            .map_err(|e| format!("not a DER public key: {e}"))?;
        let key = P256PublicKey(spki.subject_public_key.raw_bytes().to_vec());
        let spec = LeafSpec {
            subject,
            issuer,
            not_before: now(),
            source_repository,
        };
        let leaf = self.leaf_certificate(&self.fulcio, &key, &spec, None);
        Ok(vec![
            leaf,
            self.fulcio.intermediate_der.clone(),
            self.fulcio.root_der.clone(),
        ])
    }

    /// Logs an entry body now, as Rekor does, and returns the entry.
    pub fn log_body(&self, body: Vec<u8>) -> TransparencyLogEntry {
        self.append_entry(body, now(), None)
    }

    /// Serves this Sigstore over HTTP on 127.0.0.1 until the runtime stops: Fulcio's
    /// `POST /api/v2/signingCert` (CSR form, embedded SCT) and Rekor's
    /// `POST /api/v1/log/entries` (hashedrekord). Identity tokens are read, not verified:
    /// make them with [`test_id_token`]. Returns the base URL, for both services.
    pub async fn serve(self: std::sync::Arc<Self>) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let sigstore = self.clone();
                tokio::spawn(async move { server::handle(&sigstore, socket).await });
            }
        });
        Ok(url)
    }

    /// The DER of this Sigstore's Fulcio root and intermediate (for other verifiers).
    pub fn fulcio_chain_der(&self) -> [Vec<u8>; 2] {
        [
            self.fulcio.root_der.clone(),
            self.fulcio.intermediate_der.clone(),
        ]
    }

    /// The CT log's DER public key (SPKI).
    pub fn ct_log_spki(&self) -> Vec<u8> {
        self.ct.spki()
    }
}

/// What a leaf certificate says.
#[derive(Clone, Copy)]
struct LeafSpec<'a> {
    subject: &'a str,
    issuer: &'a str,
    not_before: i64,
    source_repository: Option<&'a str>,
}

/// The kind and version a Rekor v1 body names (`hashedrekord` 0.0.1 when it names none).
fn kind_version(body: &[u8]) -> KindVersion {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    KindVersion {
        kind: v["kind"].as_str().unwrap_or("hashedrekord").into(),
        version: v["apiVersion"].as_str().unwrap_or("0.0.1").into(),
    }
}

/// The canonical Rekor v1 `dsse` 0.0.1 body Rekor stores for an envelope signed by the
/// leaf certificate: the hashes of the envelope and its payload, and the signatures with
/// their verifiers.
fn dsse_body(envelope: &sigstore_protobuf_specs::io::intoto::Envelope, leaf_der: &[u8]) -> Vec<u8> {
    let envelope_json = json!({
        "payload": BASE64.encode(&envelope.payload),
        "payloadType": envelope.payload_type,
        "signatures": envelope.signatures.iter()
            .map(|s| json!({ "sig": BASE64.encode(&s.sig) })).collect::<Vec<_>>(),
    })
    .to_string();
    dsse_canonical_body(
        envelope_json.as_bytes(),
        &envelope.payload,
        &envelope.signatures[0].sig,
        pem_certificate(leaf_der).as_bytes(),
    )
}

fn dsse_canonical_body(
    envelope_json: &[u8],
    payload: &[u8],
    signature: &[u8],
    verifier_pem: &[u8],
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope_json)) },
            "payloadHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(payload)) },
            "signatures": [{
                "signature": BASE64.encode(signature),
                "verifier": BASE64.encode(verifier_pem),
            }],
        }
    }))
    .expect("json")
}

/// A Rekor `hashedrekord` 0.0.1 body for a signature by the leaf certificate.
fn hashedrekord_body(
    leaf_der: &[u8],
    signature: &[u8],
    digest: [u8; 32],
    fault: Option<Fault>,
) -> Vec<u8> {
    let logged_digest = if fault == Some(Fault::BodyForOtherArtifact) {
        Sha256::digest(b"another artifact").into()
    } else {
        digest
    };
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(logged_digest) } },
            "signature": {
                "content": BASE64.encode(signature),
                "publicKey": { "content": BASE64.encode(pem_certificate(leaf_der)) }
            }
        }
    }))
    .expect("json")
}

/// An unsigned JWT with `iss`, `sub` and, for email subjects, `email`: what
/// [`TestSigstore::serve`]'s Fulcio reads the identity from.
pub fn test_id_token(issuer: &str, subject: &str) -> String {
    test_id_token_with(issuer, subject, None)
}

/// [`test_id_token`] for a CI job of `repository` (`owner/name`) on the forge at
/// `server_url`: the claims GitHub Actions tokens carry, from which Fulcio fills the
/// certificate's source-repository extension (`server_url/repository`).
pub fn test_id_token_with(issuer: &str, subject: &str, repository: Option<(&str, &str)>) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims = json!({ "iss": issuer, "sub": subject, "aud": "sigstore" });
    if let Some((server_url, repository)) = repository {
        claims["server_url"] = server_url.into();
        claims["repository"] = repository.into();
    }
    if !subject.contains("://") {
        claims["email"] = subject.into();
    }
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// A P-256 public key (uncompressed point) that rcgen can certify.
struct P256PublicKey(Vec<u8>);

impl PublicKeyData for P256PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

/// The HTTP side of [`TestSigstore::serve`]: one request a connection, enough for reqwest.
mod server {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use x509_cert::der::DecodePem;

    pub(super) async fn handle(sigstore: &TestSigstore, mut socket: tokio::net::TcpStream) {
        let Some((path, body)) = read_request(&mut socket).await else {
            return;
        };
        let (status, answer) = match path.as_str() {
            "/api/v2/signingCert" => fulcio(sigstore, &body),
            "/api/v1/log/entries" => rekor(sigstore, body),
            _ => Err((404, format!("no route {path}"))),
        }
        .unwrap_or_else(|(status, message)| (status, json!({ "message": message })));
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{answer}",
            answer.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = socket.shutdown().await;
    }

    async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let path = head.split_whitespace().nth(1)?.to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some((path, buf[head_end..head_end + length].to_vec()))
    }

    type Answer = Result<(u16, serde_json::Value), (u16, String)>;

    fn fulcio(sigstore: &TestSigstore, body: &[u8]) -> Answer {
        let bad = |m: String| (400, m);
        let request: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        let token = request
            .pointer("/credentials/oidcIdentityToken")
            .and_then(|t| t.as_str())
            .ok_or_else(|| bad("no credentials.oidcIdentityToken".into()))?;
        let claims: serde_json::Value = token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or_else(|| (401, "identity token is not a JWT".to_string()))?;
        let issuer = claims["iss"].as_str().unwrap_or_default();
        let subject = claims["email"]
            .as_str()
            .or(claims["sub"].as_str())
            .unwrap_or_default();
        let csr = request["certificateSigningRequest"]
            .as_str()
            .and_then(|c| BASE64.decode(c).ok())
            .and_then(|pem| x509_cert::request::CertReq::from_pem(pem).ok())
            .ok_or_else(|| bad("certificateSigningRequest is not a base64 PEM CSR".into()))?;
        let spki = csr
            .info
            .public_key
            .to_der()
            .map_err(|e| bad(e.to_string()))?;
        let source = match (claims["server_url"].as_str(), claims["repository"].as_str()) {
            (Some(server), Some(repository)) => Some(format!("{server}/{repository}")),
            _ => None,
        };
        let chain = sigstore
            .issue_certificate(&spki, subject, issuer, source.as_deref())
            .map_err(bad)?;
        let pems: Vec<String> = chain.iter().map(|der| pem_certificate(der)).collect();
        Ok((
            200,
            json!({ "signedCertificateEmbeddedSct": { "chain": { "certificates": pems } } }),
        ))
    }

    fn rekor(sigstore: &TestSigstore, body: Vec<u8>) -> Answer {
        // Rekor logs the canonical form of the proposed entry.
        let proposed: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| (400, e.to_string()))?;
        let canonical = if proposed["kind"] == "dsse" {
            dsse_proposal(&proposed).map_err(|e| (400, e))?
        } else {
            serde_json::to_vec(&proposed).expect("json")
        };
        let entry = sigstore.log_body(canonical);
        let proof = entry.inclusion_proof.as_ref().expect("always made");
        let uuid = hex::encode(merkle::leaf_hash(&entry.canonicalized_body));
        let hashes: Vec<String> = proof.hashes.iter().map(hex::encode).collect();
        Ok((
            201,
            json!({ uuid: {
                "body": BASE64.encode(&entry.canonicalized_body),
                "integratedTime": entry.integrated_time,
                "logID": hex::encode(&entry.log_id.as_ref().expect("always set").key_id),
                "logIndex": entry.log_index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": proof.checkpoint.as_ref().expect("always made").envelope,
                        "hashes": hashes,
                        "logIndex": proof.log_index,
                        "rootHash": hex::encode(&proof.root_hash),
                        "treeSize": proof.tree_size,
                    },
                    "signedEntryTimestamp": BASE64.encode(
                        &entry.inclusion_promise.as_ref().expect("always made").signed_entry_timestamp
                    ),
                }
            }}),
        ))
    }
}

/// The canonical body of a proposed Rekor v1 `dsse` entry:
/// `spec.proposedContent.{envelope (JSON text), verifiers (base64 PEM)}`.
fn dsse_proposal(proposed: &serde_json::Value) -> Result<Vec<u8>, String> {
    let content = &proposed["spec"]["proposedContent"];
    let envelope_text = content["envelope"]
        .as_str()
        .ok_or("no spec.proposedContent.envelope")?;
    let envelope: serde_json::Value =
        serde_json::from_str(envelope_text).map_err(|e| format!("envelope: {e}"))?;
    let b64 = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| BASE64.decode(s).ok())
            .ok_or_else(|| format!("{v} is not base64"))
    };
    let payload = b64(&envelope["payload"])?;
    let signature = b64(&envelope["signatures"][0]["sig"])?;
    let verifier = b64(&content["verifiers"][0])?;
    Ok(dsse_canonical_body(
        envelope_text.as_bytes(),
        &payload,
        &signature,
        &verifier,
    ))
}

/// A one-SCT `SignedCertificateTimestampList` in TLS encoding (RFC 6962 3.2, 3.3).
fn encode_sct_list(log_id: &[u8; 32], timestamp_ms: u64, signature: &[u8]) -> Vec<u8> {
    let mut sct = vec![0]; // version v1
    sct.extend_from_slice(log_id);
    sct.extend_from_slice(&timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&[0, 0]); // no extensions
    sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
    sct.extend_from_slice(&(signature.len() as u16).to_be_bytes());
    sct.extend_from_slice(signature);
    let mut item = (sct.len() as u16).to_be_bytes().to_vec();
    item.extend(sct);
    let mut list = (item.len() as u16).to_be_bytes().to_vec();
    list.extend(item);
    list
}

fn pem_certificate(der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "chitin test");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}
