//! Request paths as the host checks them: normalised the way a server reads them, or
//! refused when servers disagree about what they mean.
//!
//! A declared pattern such as `http://localhost:*/public/*` must hold for the path the
//! server serves, not for the characters the skill wrote: `/public/../secret.txt` and
//! `/public/%2e%2e/secret.txt` both start with `/public/`, and a stock server serves
//! `/secret.txt` for both. So before matching, [`normalize`]:
//!
//! 1. decodes the escapes of unreserved characters (`%41` → `A`, `%7e` → `~`) and
//!    upper-cases the hex digits of the others (`%3a` → `%3A`), RFC 3986 §6.2.2;
//! 2. percent-encodes raw characters that are not allowed in a path (`{` → `%7B`);
//! 3. removes dot segments, RFC 3986 §5.2.4 (`/a/./b/../c` → `/a/c`).
//!
//! The host matches the result *and sends it* in place of the skill's path, so the
//! server gets no dot segment to resolve in its own way. What stays ambiguous is
//! refused, because servers, frameworks and proxies read it differently:
//!
//! - `%2F`, an encoded `/`: some servers decode it before routing (`/public/..%2Fx`);
//! - `\` and `%5C`: a separator for Windows servers and WHATWG URL parsers;
//! - `%25`, an encoded `%`: a second decoding turns `%252e` into `.`;
//! - a `.` or `..` segment written with an escape (`%2e%2e`): never needed, only
//!   useful to slip past a matcher;
//! - `;`: servlet containers cut `;params` off segments, so `/public/..;/x` is `/x`;
//! - control characters (`%00`-`%1F`, `%7F`), raw or escaped, and escape sequences
//!   that are not UTF-8 (the overlong `%C0%AE` for `.`);
//! - malformed escapes (`%`, `%zz`).
//!
//! Not covered: servers that fold Unicode (NFKC turns the full-width `%EF%BC%8E` into
//! `.`) or case (`/PUBLIC` on a case-insensitive file system). An encoded `/` is
//! refused even where an API wants it (GitLab's `group%2Fproject`): use the numeric id.

use percent_encoding::percent_decode_str;

/// Why a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with `/`")]
    NotAbsolute,
    #[error("a malformed percent-escape")]
    BadEscape,
    #[error("an encoded `/` (%2F), which servers may decode before routing")]
    EncodedSlash,
    #[error("a backslash, which some servers read as `/`")]
    Backslash,
    #[error("an encoded `%` (%25), which a second decoding would turn into another escape")]
    EncodedPercent,
    #[error("an encoded control character")]
    EncodedControl,
    #[error("a control character")]
    Control,
    #[error("escapes that are not UTF-8 (such as the overlong `%C0%AE` for `.`)")]
    NotUtf8,
    #[error("a `.` or `..` segment written with escapes (`%2e`)")]
    EncodedDotSegment,
    #[error("a `;`, which servlet containers read as the start of path parameters")]
    Semicolon,
}

/// The path a request is checked against and sent with; see the module docs.
pub fn normalize(raw: &str) -> Result<String, PathError> {
    if raw.is_empty() {
        return Ok("/".to_string());
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // The escapes, decoded all at once, must be UTF-8: an overlong or stray byte means
    // something different to each server that tries to make sense of it.
    if percent_decode_str(raw).decode_utf8().is_err() {
        return Err(PathError::NotUtf8);
    }
    let segments: Vec<String> = raw[1..]
        .split('/')
        .map(normalize_segment)
        .collect::<Result<_, _>>()?;
    // RFC 3986 §5.2.4 over whole segments: `.` goes, `..` removes the one before; when
    // either is last, the path keeps its trailing `/`.
    let mut out: Vec<&str> = Vec::new();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        match segment.as_str() {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        if i == last && (segment == "." || segment == "..") {
            out.push("");
        }
    }
    Ok(format!("/{}", out.join("/")))
}

/// One segment: unreserved escapes decoded, the others upper-cased, raw characters
/// outside RFC 3986 `pchar` encoded, the ambiguous refused.
fn normalize_segment(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut escaped_dot = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
                let hex = std::str::from_utf8(hex).map_err(|_| PathError::BadEscape)?;
                if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                    return Err(PathError::BadEscape);
                }
                let decoded = u8::from_str_radix(hex, 16).map_err(|_| PathError::BadEscape)?;
                match decoded {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::Backslash),
                    b'%' => return Err(PathError::EncodedPercent),
                    b';' => return Err(PathError::Semicolon),
                    0x00..=0x1f | 0x7f => return Err(PathError::EncodedControl),
                    d if is_unreserved(d) => {
                        escaped_dot |= d == b'.';
                        out.push(d as char);
                    }
                    d => out.push_str(&format!("%{d:02X}")),
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b';' => return Err(PathError::Semicolon),
            // Encoded, it would be the `%00`-`%1F` or `%7F` refused above.
            0x00..=0x1f | 0x7f => return Err(PathError::Control),
            b if is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@' => {
                out.push(b as char);
                i += 1;
            }
            b => {
                out.push_str(&format!("%{b:02X}"));
                i += 1;
            }
        }
    }
    if escaped_dot && (out == "." || out == "..") {
        return Err(PathError::EncodedDotSegment);
    }
    Ok(out)
}

/// RFC 3986 `unreserved`: the characters whose escapes mean the same as themselves.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `sub-delims` (`;` is one, but is refused before this is asked).
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_what_servers_agree_on() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("/public/x", "/public/x"),
            // Dot segments, RFC 3986 §5.2.4 and its examples.
            ("/public/../secret.txt", "/secret.txt"),
            ("/public/./x", "/public/x"),
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/public/a/../b", "/public/b"),
            ("/public/..", "/"),
            ("/public/.", "/public/"),
            ("/public/x/..", "/public/"),
            ("/../../x", "/x"),
            ("/a//../b", "/a/b"),
            ("//a/../b", "//b"),
            ("/...", "/..."),
            ("/a..b/.x", "/a..b/.x"),
            // Unreserved escapes decoded, others upper-cased, raw oddities encoded.
            ("/public/%41%7e%2D", "/public/A~-"),
            ("/public/a%2eb", "/public/a.b"),
            ("/public/%2e%2e%2e", "/public/..."),
            ("/p/%3a%20x", "/p/%3A%20x"),
            ("/p/{x}|^", "/p/%7Bx%7D%7C%5E"),
            ("/p/a:b@c!$&'()*+,=", "/p/a:b@c!$&'()*+,="),
            ("/p/%C3%A9t%C3%A9", "/p/%C3%A9t%C3%A9"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_what_servers_disagree_on() {
        use PathError::*;
        let cases = [
            ("public", NotAbsolute),
            ("/public/%2e%2e/secret.txt", EncodedDotSegment),
            ("/public/%2E%2E/secret.txt", EncodedDotSegment),
            ("/public/.%2e/secret.txt", EncodedDotSegment),
            ("/public/%2e/x", EncodedDotSegment),
            ("/public/..%2fsecret.txt", EncodedSlash),
            ("/public/..%2Fsecret.txt", EncodedSlash),
            ("/public/..\\secret.txt", Backslash),
            ("/public/..%5csecret.txt", Backslash),
            ("/public/%252e%252e/secret.txt", EncodedPercent),
            ("/public/..;/secret.txt", Semicolon),
            ("/public/x;jsessionid=1", Semicolon),
            ("/public/x%3b", Semicolon),
            ("/public/x%00.txt", EncodedControl),
            ("/public/x%0a", EncodedControl),
            ("/public/x%7F", EncodedControl),
            // Raw, they would be sent as the escapes refused above (found by fuzzing).
            ("/a/./\x0b\0../c", Control),
            ("/public/x\n", Control),
            ("/public/\x7f", Control),
            ("/public/%c0%ae%c0%ae/secret.txt", NotUtf8),
            ("/public/%ff", NotUtf8),
            ("/public/%", BadEscape),
            ("/public/%2", BadEscape),
            ("/public/%zz", BadEscape),
            ("/public/%+1", BadEscape),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw), Err(want), "{raw}");
        }
    }

    /// Normalising twice changes nothing: what is sent is what was matched, and a
    /// server that normalises again finds nothing left to do.
    #[test]
    fn normalizing_is_idempotent() {
        for raw in [
            "/a/../b/./c/",
            "/p/%41%3a{x}",
            "/..",
            "/a//b/../../c",
            "/%C3%A9/é",
        ] {
            let once = normalize(raw).unwrap();
            assert_eq!(normalize(&once).unwrap(), once, "{raw}");
        }
    }

    /// A differential against the WHATWG URL parser of the `url` crate (what browsers
    /// and most HTTP clients do), over every path of up to four segments drawn from an
    /// alphabet of plain and dot segments. The two agree on paths without escapes.
    #[test]
    fn agrees_with_the_url_crate_on_dot_segments() {
        let alphabet = ["a", "b.c", ".", "..", "", "...", ".x"];
        let mut paths = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| alphabet.iter().map(move |s| format!("{p}/{s}")))
                .collect();
            paths.extend(longer);
        }
        paths.retain(|p| !p.is_empty());
        assert!(paths.len() > 2000);
        for path in paths {
            let reference = url::Url::parse(&format!("http://h{path}")).unwrap();
            assert_eq!(normalize(&path).unwrap(), reference.path(), "{path}");
        }
    }
}
