//! Skill references as a user or a lock file names them (`registry/repo:tag`,
//! `@sha256:…`, `:^1.2`, `oci-layout:dir:tag`).
#![no_main]

use std::str::FromStr;

use chitin_registry::SkillRef;
use chitin_registry::reference::is_loopback_registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = is_loopback_registry(text);
    let Ok(r) = SkillRef::from_str(text) else {
        return;
    };
    if let SkillRef::Oci(oci) = &r {
        let _ = oci.repository();
        let _ = oci.is_loopback();
    }
    // What is shown and written to lock files reads back as the same reference.
    let shown = r.to_string();
    let again = SkillRef::from_str(&shown)
        .unwrap_or_else(|e| panic!("`{shown}` (from `{text}`) does not parse again: {e}"));
    assert_eq!(r, again, "`{text}` shown as `{shown}` means something else");
});
