//! Writes `fixtures/trusted_root.json` and `fixtures/keyless_bundle.json`: a trusted root
//! of a local test Sigstore and a good keyless bundle it verifies, so the fuzzers start
//! from input that gets past the signature check into the log entry, the inclusion
//! proof and the SCT. Run from fuzz/ (see fixtures/README.md).

use chitin_registry::sigstore_bundle::testing::TestSigstore;
use chitin_registry::verify_keyless;

fn main() {
    let sigstore = TestSigstore::new();
    let manifest = b"{}";
    let bundle = sigstore.sign(
        manifest,
        "https://github.com/acme/skills/.github/workflows/release.yml@refs/tags/v1",
        "https://token.actions.githubusercontent.com",
    );
    let root = sigstore.trusted_root_json();
    let digest: [u8; 32] = bundle.message_digest().expect("a digest");
    verify_keyless(&bundle, &digest, &sigstore.trusted_root()).expect("the bundle verifies");
    std::fs::write("fixtures/trusted_root.json", &root).unwrap();
    std::fs::write("fixtures/keyless_bundle.json", bundle.to_json()).unwrap();
}
