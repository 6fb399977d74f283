//! What a registry serves about a skill: its OCI image manifest with the capability
//! annotation, signature manifests and indexes, cosign payloads and envelopes, tags.
#![no_main]

use std::sync::OnceLock;

use chitin_registry::artifact::parse_remote;
use chitin_registry::oci::best_match;
use chitin_registry::signatures;
use chitin_registry::signing::{Envelope, KeyPair, PublicKey, payload_digest};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate().expect("a key").public_key())
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(remote) = parse_remote(bytes) {
        assert_eq!(remote.manifest.layers.len(), 1);
        assert!(remote.layer.size >= 0);
        let _ = remote.check_component(b"\0asm\x0d\0\x01\0");
    }
    if let Ok(value) = signatures::parse_json(bytes, "fuzz") {
        let _ = signatures::cosign_layers(&value);
        let _ = signatures::layers(&value).len();
        let _ = signatures::manifests(&value).len();
    }
    let _ = payload_digest(bytes);
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(bytes) {
        let _ = envelope.bundle();
        let manifest = b"{}";
        let digest = chitin_registry::artifact::sha256_digest(manifest);
        let _ = envelope.verify_with_key(manifest, &digest, key());
    }
    // Tags listed by a registry, against a range from the first line.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let mut lines = text.lines();
        if let Some(Ok(range)) = lines.next().map(semver::VersionReq::parse) {
            let tags: Vec<String> = lines.map(str::to_string).collect();
            if let Some(best) = best_match(&tags, &range) {
                assert!(tags.contains(&best));
                let v = semver::Version::parse(best.trim_start_matches('v')).unwrap();
                assert!(range.matches(&v));
            }
        }
    }
});
