//! The argv matcher of exec grants: patterns from a manifest against the arguments a
//! skill passes.
#![no_main]

use chitin_registry::ExecGrant;
use libfuzzer_sys::fuzz_target;

// The argument patterns one a line, an empty line, the arguments one a line.
fuzz_target!(|text: &str| {
    let (patterns, args) = text.split_once("\n\n").unwrap_or((text, ""));
    let lines = |s: &str| -> Vec<String> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split('\n').map(str::to_string).collect()
        }
    };
    let (patterns, args) = (lines(patterns), lines(args));
    let grant: ExecGrant =
        match serde_json::from_value(serde_json::json!({ "program": "git", "args": patterns })) {
            Ok(g) => g,
            Err(_) => return,
        };
    let matched = grant.args_match(&args);
    let _ = grant.display_line();
    let (fixed, rest_any) = match patterns.split_last() {
        Some((last, init)) if last == "**" => (init, true),
        _ => (patterns.as_slice(), false),
    };
    // Never more or fewer arguments than granted.
    if matched {
        assert!(args.len() >= fixed.len());
        if !rest_any {
            assert_eq!(args.len(), fixed.len());
        }
    }
    // Patterns without wildcards match exactly themselves.
    if fixed.iter().all(|p| !p.contains(['*', '?'])) {
        let exact = if rest_any {
            args.len() >= fixed.len() && args[..fixed.len()] == *fixed
        } else {
            args == fixed
        };
        assert_eq!(matched, exact, "{patterns:?} against {args:?}");
        // And the literal arguments themselves always fit.
        assert!(grant.args_match(fixed));
    }
});
