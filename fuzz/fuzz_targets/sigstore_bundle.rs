//! Sigstore bundles as fetched from a registry: parsed, written back, and (for keyless
//! ones) verified against the public-good trusted root and the test root of
//! fixtures/, which the seed bundle verifies against: mutations of its log entry,
//! inclusion proof and SCT get past the signature check.
#![no_main]

use std::sync::OnceLock;

use chitin_registry::{Bundle, TrustedRoot, verify_keyless};
use libfuzzer_sys::fuzz_target;

fn roots() -> &'static [TrustedRoot; 2] {
    static ROOTS: OnceLock<[TrustedRoot; 2]> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let test = TrustedRoot::from_json(include_bytes!("../fixtures/trusted_root.json"))
            .expect("the fixture root parses");
        [TrustedRoot::public_good(), test]
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(bundle) = Bundle::from_json(bytes) else {
        return;
    };
    let written = bundle.to_json();
    let again = Bundle::from_json(&written).expect("a written bundle parses again");
    assert_eq!(again.to_json(), written, "a bundle changed in a round trip");
    let _ = (bundle.key_hint(), bundle.is_keyless(), bundle.signature());
    let digest = bundle.message_digest().unwrap_or([0; 32]);
    for root in roots() {
        let _ = verify_keyless(&bundle, &digest, root);
    }
});
