//! `trusted_root.json` files named by a trust policy; a parsed root is used to verify the
//! keyless bundle of fixtures/, which the seed root (fixtures/trusted_root.json) accepts.
#![no_main]

use std::sync::OnceLock;

use chitin_registry::{Bundle, TrustedRoot, verify_keyless};
use libfuzzer_sys::fuzz_target;

fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        Bundle::from_json(include_bytes!("../fixtures/keyless_bundle.json"))
            .expect("the fixture parses")
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(root) = TrustedRoot::from_json(bytes) else {
        return;
    };
    let bundle = bundle();
    let digest = bundle.message_digest().unwrap_or([0; 32]);
    let _ = verify_keyless(bundle, &digest, &root);
});
