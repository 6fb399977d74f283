//! The skill manifest (`skill.toml`, and the annotation of a pulled artifact): any text
//! parses or is refused without a panic, and what parses survives a round trip.
#![no_main]

use chitin_registry::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(m) = manifest::parse(text) else {
        return;
    };
    let again = manifest::parse(&m.to_toml())
        .unwrap_or_else(|e| panic!("the written manifest does not parse again: {e}"));
    assert_eq!(m, again, "the manifest changed in a round trip");
    for grant in &m.capabilities.exec {
        let _ = grant.display_line();
    }
    for grant in &m.capabilities.fs {
        let _ = grant.path.mount_point();
    }
});
