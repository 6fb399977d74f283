//! The Sigstore trusted root (`trusted_root.json`): which Fulcio CAs, Rekor logs and CT
//! logs to trust, and for which time windows.

use sha2::{Digest, Sha256};
use sigstore_protobuf_specs::dev::sigstore::{
    common::v1::TimeRange, trustroot::v1 as pb, trustroot::v1::TransparencyLogInstance,
};

use super::KeylessError;

/// The Sigstore public-good trusted root shipped with chitin: sigstore-python 4.5.1's
/// embedded snapshot of the TUF target of tuf-repo-cdn.sigstore.dev, copied 2026-12-01
/// (see `data/README.md`). Refresh it from the Sigstore TUF repository when keys rotate.
const PUBLIC_GOOD_JSON: &[u8] = include_bytes!("../../data/sigstore-public-good-trusted-root.json");

/// A parsed Sigstore trusted root.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub(crate) tlogs: Vec<LogKey>,
    pub(crate) ctlogs: Vec<LogKey>,
    pub(crate) cas: Vec<CertAuthority>,
    /// RFC 3161 timestamp authorities.
    pub(crate) tsas: Vec<CertAuthority>,
}

/// A transparency log's key (Rekor or CT) and when it may be used.
#[derive(Debug, Clone)]
pub(crate) struct LogKey {
    /// The log ID as the trusted root states it: SHA-256 of the key's DER SPKI.
    pub(crate) log_id: Vec<u8>,
    pub(crate) spki_der: Vec<u8>,
    pub(crate) valid: Window,
    pub(crate) base_url: String,
}

/// A Fulcio CA or a timestamp authority: its chain, issuing (or signing) certificate
/// first and root last.
#[derive(Debug, Clone)]
pub(crate) struct CertAuthority {
    pub(crate) chain_der: Vec<Vec<u8>>,
    pub(crate) valid: Window,
    pub(crate) uri: String,
}

/// A validity window in Unix seconds, both ends included (the spec's `TimeRange` is a
/// closed interval); an open end is unbounded. The start is required.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: Option<i64>,
}

impl Window {
    pub(crate) fn contains(&self, t: i64) -> bool {
        self.start <= t && self.end.is_none_or(|e| t <= e)
    }

    /// A missing start is refused rather than read as "since always": a key or authority
    /// is trusted only from a stated time on.
    fn from_proto(range: Option<&TimeRange>, what: &str) -> Result<Window, KeylessError> {
        let start = range
            .and_then(|r| r.start.as_ref())
            .map(|t| t.seconds)
            .ok_or_else(|| KeylessError::TrustedRoot(format!("{what} has no validFor.start")))?;
        Ok(Window {
            start,
            end: range.and_then(|r| r.end.as_ref()).map(|t| t.seconds),
        })
    }
}

impl TrustedRoot {
    /// Parses a `trusted_root.json` (media type
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1` or `0.2`).
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, KeylessError> {
        let root: pb::TrustedRoot = serde_json::from_slice(bytes)
            .map_err(|e| KeylessError::TrustedRoot(format!("not a trusted_root.json: {e}")))?;
        if !root
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot")
        {
            return Err(KeylessError::TrustedRoot(format!(
                "unexpected media type `{}`",
                root.media_type
            )));
        }
        let tlogs = root.tlogs.iter().map(log_key).collect::<Result<_, _>>()?;
        let ctlogs = root.ctlogs.iter().map(log_key).collect::<Result<_, _>>()?;
        let cas = authorities(&root.certificate_authorities, "certificate authority")?;
        let tsas = authorities(&root.timestamp_authorities, "timestamp authority")?;
        Ok(TrustedRoot {
            tlogs,
            ctlogs,
            cas,
            tsas,
        })
    }

    /// The Sigstore public-good trusted root (Fulcio, Rekor and CT logs at sigstore.dev),
    /// as shipped in this crate.
    pub fn public_good() -> TrustedRoot {
        TrustedRoot::from_json(PUBLIC_GOOD_JSON).expect("the shipped public-good root parses")
    }

    /// The Rekor log with this log ID.
    pub(crate) fn tlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }

    /// The CT log with this log ID.
    pub(crate) fn ctlog(&self, log_id: &[u8]) -> Option<&LogKey> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }
}

fn authorities(
    list: &[pb::CertificateAuthority],
    what: &str,
) -> Result<Vec<CertAuthority>, KeylessError> {
    list.iter()
        .map(|ca| {
            let chain_der: Vec<Vec<u8>> = ca
                .cert_chain
                .as_ref()
                .map(|c| c.certificates.iter().map(|c| c.raw_bytes.clone()).collect())
                .unwrap_or_default();
            if chain_der.is_empty() {
                return Err(KeylessError::TrustedRoot(format!(
                    "{what} {} has no certificates",
                    ca.uri
                )));
            }
            Ok(CertAuthority {
                chain_der,
                valid: Window::from_proto(ca.valid_for.as_ref(), &format!("{what} {}", ca.uri))?,
                uri: ca.uri.clone(),
            })
        })
        .collect()
}

fn log_key(log: &TransparencyLogInstance) -> Result<LogKey, KeylessError> {
    let key = log.public_key.as_ref();
    let spki_der = key
        .and_then(|k| k.raw_bytes.clone())
        .ok_or_else(|| KeylessError::TrustedRoot(format!("log {} has no key", log.base_url)))?;
    // Logs that omit the ID are identified the RFC 6962 way, by the key's hash.
    let log_id = match &log.log_id {
        Some(id) if !id.key_id.is_empty() => id.key_id.clone(),
        _ => Sha256::digest(&spki_der).to_vec(),
    };
    Ok(LogKey {
        log_id,
        spki_der,
        valid: Window::from_proto(
            key.and_then(|k| k.valid_for.as_ref()),
            &format!("the key of log {}", log.base_url),
        )?,
        base_url: log.base_url.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_good_root_parses() {
        let root = TrustedRoot::public_good();
        assert!(!root.cas.is_empty());
        assert!(
            root.tlogs
                .iter()
                .any(|l| l.base_url == "https://rekor.sigstore.dev")
        );
        assert!(!root.ctlogs.is_empty());
        // The Rekor v1 log ID is the SHA-256 of its key, which is what entries name.
        let rekor = root
            .tlogs
            .iter()
            .find(|l| l.base_url == "https://rekor.sigstore.dev")
            .unwrap();
        assert_eq!(rekor.log_id, Sha256::digest(&rekor.spki_der).to_vec());
        assert!(rekor.valid.contains(1_700_000_000));
        assert!(!rekor.valid.contains(1_600_000_000));
        // The first Fulcio CA was retired at the end of 2022.
        assert!(root.cas.iter().any(|ca| ca.valid.end.is_some()));
    }

    #[test]
    fn refuses_garbage() {
        let err = TrustedRoot::from_json(b"{\"mediaType\": \"x\"}").unwrap_err();
        assert!(err.to_string().contains("media type"), "{err}");
        assert!(TrustedRoot::from_json(b"[]").is_err());
    }
}
