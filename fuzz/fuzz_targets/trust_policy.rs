//! The trust policy (`trust.toml`): parsing and matching repositories against its rules.
//! Key and root files are looked up in a folder that does not exist.
#![no_main]

use std::path::Path;

use chitin_registry::trust::TrustPolicy;
use libfuzzer_sys::fuzz_target;

// The policy, then after a NUL a repository to match.
fuzz_target!(|input: &str| {
    let (text, repository) = input.split_once('\0').unwrap_or((input, "ghcr.io/x/y"));
    let Ok(policy) = TrustPolicy::parse(
        text,
        Path::new("/nonexistent/chitin-fuzz"),
        Path::new("/nonexistent/chitin-fuzz/trust.toml"),
    ) else {
        return;
    };
    for repository in [repository, "ghcr.io/acme/skill", "localhost:5000/a/b"] {
        let matching = policy.matching(repository);
        if let Some(rule) = policy.signing_rule(repository) {
            assert!(rule.has_signers(), "a signing rule without signers");
            assert!(
                matching.iter().any(|r| std::ptr::eq(*r, rule)),
                "the signing rule does not match the repository"
            );
            let _ = (rule.label(), rule.signers());
        }
    }
});
