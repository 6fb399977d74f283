//! Text a skill controls, made safe to show on a terminal.
//!
//! A skill chooses its description, its tool descriptions, the strings in its
//! manifest, the error values it returns, its log lines and the paths it asks for.
//! Printed raw, such text can drive the terminal: `ESC[8m` hides the lines after it,
//! `ESC[6A ESC[J` moves up and erases the real capability lines of a consent prompt,
//! OSC 52 writes the clipboard, a bidi override shows `txt.exe` as `exe.txt`. So every
//! piece of it goes through this module before it reaches a terminal:
//!
//! - control characters (C0, DEL, C1 `U+0080`–`U+009F`) and invisible or
//!   direction-changing characters (bidi embeddings, overrides and isolates, zero-width
//!   characters, the Unicode tag block…) are shown as visible escapes: `\x1b`,
//!   `\u{202e}`;
//! - [`single_line`] also shows newlines, carriage returns and tabs as `\n`, `\r`,
//!   `\t`, so a field cannot start a line of its own that looks like the host's;
//!   [`for_terminal`] keeps newlines and tabs (multi-line text) but still escapes `\r`;
//! - text longer than `max_len` bytes is cut at a character boundary and ends with a
//!   visible `… (N more bytes)`.
//!
//! A backslash is left as it is: a skill that writes the four characters `\x1b`
//! shows those four characters, which is harmless; escaping every backslash would
//! garble paths and regular expressions in ordinary descriptions.
//!
//! JSON output needs no line rules (serde escapes C0 inside strings), but serde leaves
//! DEL, C1 and the invisible characters raw: [`json_for_terminal`] writes those as
//! `\uXXXX`, which gives the same JSON value.
//!
//! ```
//! use chitin_registry::untrusted::{for_terminal, single_line};
//!
//! assert_eq!(single_line("evil\x1b[8m\nhidden", 100), r"evil\x1b[8m\nhidden");
//! assert_eq!(for_terminal("two\nlines\u{202e}", 100), "two\nlines\\u{202e}");
//! assert_eq!(single_line("abcdef", 3), "abc… (3 more bytes)");
//! assert_eq!(single_line("plain", 100), "plain"); // borrowed, no copy
//! ```

use std::borrow::Cow;
use std::fmt::Write;

/// A bound for one-line fields: names, versions, paths, capability lines, log columns.
pub const FIELD: usize = 512;
/// A bound for multi-line text: tool descriptions, error values, log lines.
pub const TEXT: usize = 16 * 1024;

/// Is `c` unsafe to print raw, in any mode? Newlines and tabs are decided by the mode.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        // C0 controls (ESC, BEL, backspace, carriage return…) and DEL.
        '\0'..='\x1f' | '\x7f'
        // C1 controls: U+009B is a one-character CSI on terminals that honour C1.
        | '\u{80}'..='\u{9f}'
        // Soft hyphen, Arabic letter mark, Hangul fillers, Mongolian vowel separator:
        // invisible, so they can disguise a name.
        | '\u{ad}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{180e}' | '\u{3164}' | '\u{ffa0}'
        // Zero-width space, non-joiner, joiner; left-to-right and right-to-left marks.
        | '\u{200b}'..='\u{200f}'
        // Line and paragraph separators; bidi embeddings and overrides (LRE…RLO).
        | '\u{2028}'..='\u{202e}'
        // Word joiner, invisible operators; bidi isolates (LRI…PDI); deprecated
        // format characters.
        | '\u{2060}'..='\u{206f}'
        // Zero-width no-break space (BOM), interlinear annotations.
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        // Tag characters: invisible copies of ASCII, used to smuggle text.
        | '\u{e0000}'..='\u{e007f}'
    )
}

/// How line breaks are shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// Multi-line text: `\n` and `\t` stay.
    Keep,
    /// One field on one line: `\n` and `\t` are escaped too.
    Escape,
}

/// Multi-line text (an error value, a tool's description) made safe for a terminal:
/// newlines and tabs stay, every other control or invisible character is escaped, and
/// more than `max_len` bytes are cut with a visible marker.
pub fn for_terminal(text: &str, max_len: usize) -> Cow<'_, str> {
    escape(text, max_len, Lines::Keep)
}

/// One field (a name, a path, a description shown on one line) made safe for a
/// terminal: like [`for_terminal`], and newlines and tabs are shown as `\n` and `\t`.
pub fn single_line(text: &str, max_len: usize) -> Cow<'_, str> {
    escape(text, max_len, Lines::Escape)
}

/// `text` cut to at most `max_len` bytes at a character boundary, and what was cut.
pub fn split_bounded(text: &str, max_len: usize) -> (&str, &str) {
    let mut cut = text.len().min(max_len);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.split_at(cut)
}

/// `text` bounded to `max_len` bytes (cut at a character boundary) with a visible
/// `… (N more bytes)` marker, unescaped: for text the host stores (log lines, denials).
pub fn bounded(text: &str, max_len: usize) -> Cow<'_, str> {
    match split_bounded(text, max_len) {
        (_, "") => Cow::Borrowed(text),
        (shown, rest) => Cow::Owned(format!("{shown}… ({} more bytes)", rest.len())),
    }
}

fn escape(text: &str, max_len: usize, lines: Lines) -> Cow<'_, str> {
    let (shown, rest) = split_bounded(text, max_len);
    let kept = |c: char| lines == Lines::Keep && (c == '\n' || c == '\t');
    if rest.is_empty() && !shown.chars().any(|c| is_unsafe(c) && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(shown.len() + 24);
    for c in shown.chars() {
        match c {
            c if !is_unsafe(c) || kept(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\x7f' => write!(out, "\\x{:02x}", c as u32).expect("writing to a String"),
            c => write!(out, "\\u{{{:x}}}", c as u32).expect("writing to a String"),
        }
    }
    if !rest.is_empty() {
        write!(out, "… ({} more bytes)", rest.len()).expect("writing to a String");
    }
    Cow::Owned(out)
}

/// Serialized JSON made safe for a terminal without changing its value: the characters
/// serde leaves raw inside strings (DEL, C1, invisible and bidi characters) become
/// `\uXXXX` escapes. Only for text that is JSON: there, those characters can only occur
/// inside strings, where the escape means the same character.
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    // serde writes newlines and spaces between tokens and escapes C0 inside strings.
    let raw = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(out, "\\u{unit:04x}").expect("writing to a String");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_is_cut_at_a_character_boundary() {
        // (text, max, expected)
        let cases = [
            ("short", 10, "short"),
            ("exactly10!", 10, "exactly10!"),
            ("eleven char", 10, "eleven cha… (1 more bytes)"),
            ("ééé", 3, "é… (4 more bytes)"),
            ("", 0, ""),
        ];
        for (text, max, want) in cases {
            assert_eq!(bounded(text, max), want, "{text:?} {max}");
        }
    }

    /// `(input, single_line, for_terminal)` with a generous bound.
    const CASES: &[(&str, &str, &str)] = &[
        ("plain text", "plain text", "plain text"),
        ("", "", ""),
        // The consent-prompt attack: hidden text, cursor up, erase.
        (
            "ok\x1b[8m\n  asks for no capabilities",
            r"ok\x1b[8m\n  asks for no capabilities",
            "ok\\x1b[8m\n  asks for no capabilities",
        ),
        ("\x1b[6A\x1b[J", r"\x1b[6A\x1b[J", r"\x1b[6A\x1b[J"),
        // OSC 52 (clipboard write), ended by BEL or by ST.
        (
            "\x1b]52;c;Y3VybA==\x07",
            r"\x1b]52;c;Y3VybA==\x07",
            r"\x1b]52;c;Y3VybA==\x07",
        ),
        (
            "\x1b]52;c;eA==\x1b\\",
            r"\x1b]52;c;eA==\x1b\",
            r"\x1b]52;c;eA==\x1b\",
        ),
        // Clear screen, backspace, carriage return, NUL, DEL.
        ("\x1b[2J\x1b[H", r"\x1b[2J\x1b[H", r"\x1b[2J\x1b[H"),
        ("ab\x08\x08xy", r"ab\x08\x08xy", r"ab\x08\x08xy"),
        ("fake\rreal", r"fake\rreal", r"fake\rreal"),
        ("a\0b\x7f", r"a\x00b\x7f", r"a\x00b\x7f"),
        // Tabs and newlines: escaped on one line, kept in multi-line text.
        ("a\tb\nc", r"a\tb\nc", "a\tb\nc"),
        // C1: a one-character CSI, NEL, OSC.
        (
            "\u{9b}2J\u{85}\u{9d}",
            r"\u{9b}2J\u{85}\u{9d}",
            r"\u{9b}2J\u{85}\u{9d}",
        ),
        // Bidi overrides and isolates.
        (
            "invoice\u{202e}fdp.exe",
            r"invoice\u{202e}fdp.exe",
            r"invoice\u{202e}fdp.exe",
        ),
        (
            "\u{202a}\u{202b}\u{202c}\u{202d}",
            r"\u{202a}\u{202b}\u{202c}\u{202d}",
            r"\u{202a}\u{202b}\u{202c}\u{202d}",
        ),
        (
            "\u{2066}x\u{2067}\u{2068}\u{2069}",
            r"\u{2066}x\u{2067}\u{2068}\u{2069}",
            r"\u{2066}x\u{2067}\u{2068}\u{2069}",
        ),
        // Zero-width and invisible characters.
        ("pay\u{200b}pal", r"pay\u{200b}pal", r"pay\u{200b}pal"),
        (
            "\u{200d}\u{2060}\u{feff}",
            r"\u{200d}\u{2060}\u{feff}",
            r"\u{200d}\u{2060}\u{feff}",
        ),
        (
            "x\u{e0041}\u{e007f}",
            r"x\u{e0041}\u{e007f}",
            r"x\u{e0041}\u{e007f}",
        ),
        ("a\u{2028}b", r"a\u{2028}b", r"a\u{2028}b"),
        // Ordinary non-ASCII text stays: accents, CJK, emoji, the em dash.
        ("café — 日本 🦀", "café — 日本 🦀", "café — 日本 🦀"),
        // A backslash is not an escape character here.
        (r"C:\x1b\path", r"C:\x1b\path", r"C:\x1b\path"),
    ];

    #[test]
    fn escapes_every_case() {
        for (input, one, multi) in CASES {
            assert_eq!(single_line(input, FIELD), *one, "single_line({input:?})");
            assert_eq!(for_terminal(input, TEXT), *multi, "for_terminal({input:?})");
        }
    }

    #[test]
    fn output_never_holds_an_unsafe_character() {
        let every: String = (0u32..0x11_0000).filter_map(char::from_u32).collect();
        let one = single_line(&every, usize::MAX);
        assert!(!one.chars().any(is_unsafe), "single_line");
        let multi = for_terminal(&every, usize::MAX);
        assert!(
            !multi
                .chars()
                .any(|c| is_unsafe(c) && c != '\n' && c != '\t'),
            "for_terminal"
        );
    }

    #[test]
    fn safe_text_is_borrowed() {
        assert!(matches!(
            single_line("name 1.0 — ok", FIELD),
            Cow::Borrowed(_)
        ));
        assert!(matches!(for_terminal("a\nb\tc", TEXT), Cow::Borrowed(_)));
        assert!(matches!(for_terminal("a\x1bb", TEXT), Cow::Owned(_)));
    }

    #[test]
    fn long_text_is_cut_with_a_visible_marker() {
        assert_eq!(single_line("abcdef", 6), "abcdef");
        assert_eq!(single_line("abcdef", 4), "abcd… (2 more bytes)");
        assert_eq!(for_terminal("abcdef", 0), "… (6 more bytes)");
        // Never inside a character: "é" is two bytes.
        assert_eq!(single_line("aé", 2), "a… (2 more bytes)");
        // The bound is on the skill's bytes, before escaping.
        assert_eq!(single_line("\x1b\x1b\x1b", 2), r"\x1b\x1b… (1 more bytes)");
        let huge = "x".repeat(1 << 20);
        assert_eq!(
            single_line(&huge, FIELD).len(),
            FIELD + "… (1048064 more bytes)".len()
        );
    }

    #[test]
    fn json_keeps_its_value_and_loses_its_raw_characters() {
        let value = serde_json::json!({
            "description": "a\u{1b}[8m\u{7f}\u{9b}\u{202e}\u{200b}\u{e0041}\n",
            "plain": "café 🦀",
        });
        let text = serde_json::to_string_pretty(&value).unwrap();
        let safe = json_for_terminal(&text);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        assert!(
            safe.contains(r"\u202e") && safe.contains(r"\udb40\udc41"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
        assert!(matches!(
            json_for_terminal("{\n  \"a\": \"é\"\n}"),
            Cow::Borrowed(_)
        ));
    }
}
