//! The terminal sanitiser: whatever a skill writes, what reaches the terminal has no
//! control, bidi or invisible character and is bounded.
#![no_main]

use chitin_registry::untrusted::{for_terminal, is_unsafe, json_for_terminal, single_line};
use libfuzzer_sys::fuzz_target;

/// The longest escape of one character, `\u{e007f}`, against its shortest UTF-8 form.
const WORST: usize = 10;

// Two bytes of length limit, then the text.
fuzz_target!(|bytes: &[u8]| {
    let [a, b, rest @ ..] = bytes else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let max_len = usize::from(u16::from_le_bytes([*a, *b]) % 1024);
    let bound = WORST * text.len().min(max_len) + 40;

    let line = single_line(text, max_len);
    assert!(!line.chars().any(is_unsafe), "single_line left {line:?}");
    assert!(line.len() <= bound, "single_line: {} > {bound}", line.len());

    let multi = for_terminal(text, max_len);
    assert!(
        !multi
            .chars()
            .any(|c| is_unsafe(c) && c != '\n' && c != '\t'),
        "for_terminal left {multi:?}"
    );
    assert!(
        multi.len() <= bound,
        "for_terminal: {} > {bound}",
        multi.len()
    );

    // Safe text that fits is shown as it is.
    if text.len() <= max_len && !text.chars().any(is_unsafe) {
        assert_eq!(line, text);
        assert_eq!(multi, text);
    }

    // JSON: only the raw characters change, never the value.
    let json = serde_json::to_string(text).unwrap();
    let safe = json_for_terminal(&json);
    assert!(
        !safe.chars().any(is_unsafe),
        "json_for_terminal left {safe:?}"
    );
    let back: String = serde_json::from_str(&safe).expect("still JSON");
    assert_eq!(back, text);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let safe = json_for_terminal(text);
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value);
    }
});
