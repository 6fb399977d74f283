//! Secrets: values the host adds to outgoing HTTP requests for the declared hosts. The
//! skill never sees them: they are not in its environment, and responses that echo a
//! value back are redacted before the skill reads them.

use std::collections::BTreeMap;
use std::path::Path;

use chitin_registry::SecretGrant;

use crate::HostError;

/// Read a secrets file: TOML, `NAME = "value"` per line. Refused when other users could
/// read it, like ssh refuses a world-readable key.
pub fn read_secrets_file(path: &Path) -> Result<BTreeMap<String, String>, HostError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(HostError::Io(path.to_path_buf(), e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| HostError::Io(path.to_path_buf(), e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(HostError::SecretsFile {
                path: path.to_path_buf(),
                reason: format!(
                    "it is readable by other users (mode {:o}); run `chmod 600 {}`",
                    mode & 0o777,
                    path.display()
                ),
            });
        }
    }
    toml::from_str(&text).map_err(|e| HostError::SecretsFile {
        path: path.to_path_buf(),
        reason: format!("expected `NAME = \"value\"` lines: {e}"),
    })
}

/// A secret with its value, ready to be injected.
#[derive(Clone)]
pub struct ResolvedSecret {
    pub grant: SecretGrant,
    /// `None` when the user has not set it; requests then go out without it.
    pub value: Option<String>,
}

impl std::fmt::Debug for ResolvedSecret {
    // Never print secret values, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedSecret")
            .field("name", &self.grant.name)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Pair each declared secret with its value in `values` (the user's secrets file, then
/// the environment); an empty value counts as unset.
pub fn grant(declared: &[SecretGrant], values: &BTreeMap<String, String>) -> Vec<ResolvedSecret> {
    declared
        .iter()
        .map(|s| ResolvedSecret {
            grant: s.clone(),
            value: values
                .get(s.name.as_str())
                .cloned()
                .filter(|v| !v.is_empty()),
        })
        .collect()
}

/// Finds the secrets a request carried in its response, literally or encoded, and
/// replaces them by `[REDACTED:<name>]`.
///
/// For each secret it looks for the value and for the whole header value sent (e.g.
/// `Token <value>`), each in these forms:
///
/// - as text, ASCII case-insensitively, where any byte may also be written as a
///   percent-escape (`%73`, any case; `+` for a space, as in forms) or a JSON escape
///   (`\u0073`, and `\/` for `/`), in any mix: echoes in URLs, query strings, JSON,
///   and upper- or lower-cased;
/// - in base64, standard and URL-safe alphabets, at each of the three alignments
///   inside a longer base64 text (only the characters that depend on the secret
///   alone, so the ends of an unaligned match stay visible; exact case).
///
/// Not covered (SECURITY.md): other encodings (hex, HTML entities, quoted-printable,
/// UTF-16), compression (the HTTP policy refuses encoded responses instead), a secret
/// cut in pieces (the policy drops `Range`; a server that truncates an echo or returns
/// pieces of it on its own is not covered), and values shorter than 4 bytes, or base64
/// forms shorter than 6 characters, which would destroy ordinary text.
#[derive(Default)]
pub struct Redactor {
    needles: Vec<Needle>,
}

struct Needle {
    /// The secret's name, for the mark.
    name: String,
    bytes: Vec<u8>,
    /// Exact bytes (base64) or text with escapes and case folded.
    exact: bool,
}

/// Shortest value redacted as text.
const MIN_TEXT: usize = 4;
/// Shortest base64 fragment redacted.
const MIN_BASE64: usize = 6;

impl Redactor {
    /// For these `(name, value)` pairs: each secret's value and each header value sent.
    pub fn new(secrets: &[(String, String)]) -> Self {
        let mut needles = Vec::new();
        for (name, value) in secrets {
            let value = value.as_bytes();
            if value.len() < MIN_TEXT {
                continue;
            }
            needles.push(Needle {
                name: name.clone(),
                bytes: value.to_vec(),
                exact: false,
            });
            for engine in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ] {
                for fragment in base64_fragments(&engine, value) {
                    if fragment.len() >= MIN_BASE64 {
                        needles.push(Needle {
                            name: name.clone(),
                            bytes: fragment.into_bytes(),
                            exact: true,
                        });
                    }
                }
            }
        }
        // Longest first, so the whole header value is replaced before the bare secret
        // inside it.
        needles.sort_by_key(|n| std::cmp::Reverse(n.bytes.len()));
        needles.dedup_by(|a, b| a.bytes == b.bytes && a.exact == b.exact);
        Self { needles }
    }

    /// Nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `bytes` with every secret replaced, or `None` when there was none.
    pub fn redact(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for needle in &self.needles {
            let hay = out.as_deref().unwrap_or(bytes);
            if let Some(clean) = needle.replace_in(hay) {
                out = Some(clean);
            }
        }
        out
    }
}

impl Needle {
    fn replace_in(&self, hay: &[u8]) -> Option<Vec<u8>> {
        let mark = format!("[REDACTED:{}]", self.name);
        let mut result: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut i = 0;
        while i < hay.len() {
            let found = if self.exact {
                match memchr::memmem::find(&hay[i..], &self.bytes) {
                    Some(at) => Some((i + at, self.bytes.len())),
                    None => break,
                }
            } else {
                match_text(&hay[i..], &self.bytes).map(|len| (i, len))
            };
            match found {
                Some((at, len)) => {
                    let out = result.get_or_insert_with(|| Vec::with_capacity(hay.len()));
                    out.extend_from_slice(&hay[copied..at]);
                    out.extend_from_slice(mark.as_bytes());
                    i = at + len;
                    copied = i;
                }
                None => i += 1,
            }
        }
        let mut out = result?;
        out.extend_from_slice(&hay[copied..]);
        Some(out)
    }
}

/// The length of `hay`'s prefix that spells `needle` as text: each byte itself (ASCII
/// case-insensitively), its percent-escape, `+` for a space, or a JSON escape.
fn match_text(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut j = 0;
    for &b in needle {
        let rest = &hay[j..];
        let first = *rest.first()?;
        j += if first.eq_ignore_ascii_case(&b) || (first == b'+' && b == b' ') {
            1
        } else if rest.len() >= 3 && first == b'%' && hex_byte(&rest[1..3]) == Some(b) {
            3
        } else if rest.len() >= 2 && rest[..2] == *b"\\/" && b == b'/' {
            2
        } else if rest.len() >= 6
            && rest[..2] == *b"\\u"
            && hex_byte(&rest[2..4]) == Some(0)
            && hex_byte(&rest[4..6]) == Some(b)
        {
            6
        } else {
            return None;
        };
    }
    Some(j)
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    let s = std::str::from_utf8(two).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(s, 16).ok()
}

/// The base64 characters that encode `value` alone, at each of the three positions it
/// can start at inside a longer encoded text (offset 0, 1 or 2 bytes after a 3-byte
/// boundary). Character `i` covers bits `6i..6i+6`; those within the value's bits are
/// the same whatever surrounds it.
fn base64_fragments(engine: &impl base64::Engine, value: &[u8]) -> Vec<String> {
    (0..3usize)
        .map(|offset| {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(value);
            let encoded = engine.encode(&shifted);
            let start = (8 * offset).div_ceil(6);
            let end = (8 * (offset + value.len())) / 6;
            encoded[start..end].to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&[
            ("T".to_string(), "Token ab/Cd+ef-s3cr3t".to_string()),
            ("T".to_string(), "ab/Cd+ef-s3cr3t".to_string()),
        ])
    }

    #[test]
    fn redacts_every_occurrence() {
        let r = Redactor::new(&[("T".to_string(), "s3cr3t".to_string())]);
        let out = r.redact(b"a s3cr3t b s3cr3ts3cr3t").unwrap();
        assert_eq!(out, b"a [REDACTED:T] b [REDACTED:T][REDACTED:T]");
        assert!(r.redact(b"nothing here").is_none());
        assert!(Redactor::new(&[("T".into(), "abc".into())]).is_empty());
    }

    #[test]
    fn redacts_the_secret_written_in_other_ways() {
        use base64::Engine as _;
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let b64url = |s: &[u8]| base64::engine::general_purpose::URL_SAFE.encode(s);
        let secret = "ab/Cd+ef-s3cr3t";
        let echoes: Vec<(&str, String)> = vec![
            ("literal", format!("x={secret}&")),
            ("upper case", secret.to_uppercase()),
            ("lower case", secret.to_lowercase()),
            ("percent-encoded", "ab%2FCd%2Bef-s3cr3t".into()),
            ("percent, lower hex", "ab%2fCd%2bef-s3cr3t".into()),
            (
                "every byte escaped",
                secret.bytes().map(|b| format!("%{b:02x}")).collect(),
            ),
            (
                "header value, form-encoded",
                "Token+ab%2FCd%2Bef-s3cr3t".into(),
            ),
            (
                "header value, escaped",
                "Token%20ab%2FCd%2Bef-s3cr3t".into(),
            ),
            ("JSON \\/", r#"{"t":"ab\/Cd+ef-s3cr3t"}"#.into()),
            ("JSON \\u", r#"{"t":"ab\u002fCd\u002Bef-s3cr3t"}"#.into()),
            ("base64", b64(secret.as_bytes())),
            (
                "base64 of the header",
                b64(format!("Token {secret}").as_bytes()),
            ),
            ("base64url", b64url(secret.as_bytes())),
            // Inside a longer base64 text, at each alignment.
            ("base64, offset 1", b64(format!("{{{secret}}}").as_bytes())),
            (
                "base64, offset 2",
                b64(format!("{{\"{secret}\"}}").as_bytes()),
            ),
            (
                "base64, offset 0",
                b64(format!("abc{secret}xyz").as_bytes()),
            ),
            (
                "base64url, offset 1",
                b64url(format!("?{secret}?").as_bytes()),
            ),
        ];
        let r = redactor();
        for (what, echo) in echoes {
            let out = r
                .redact(echo.as_bytes())
                .unwrap_or_else(|| panic!("{what}: {echo}"));
            let out = String::from_utf8(out).unwrap();
            assert!(out.contains("[REDACTED:T]"), "{what}: {out}");
            assert!(!out.to_lowercase().contains("s3cr3t"), "{what}: {out}");
            if what.starts_with("base64") {
                // What is left around the mark no longer decodes to the secret.
                assert!(!out.contains(&b64(secret.as_bytes())[..8]), "{what}: {out}");
            }
        }
    }

    #[test]
    fn leaves_other_text_alone() {
        let r = redactor();
        for text in [
            "ab/Cd+ef-s3cr3",
            "ab%2FCd%2Bef-s3cr",
            "s3cr3t",
            "%zz%",
            "\\u00",
            "+",
        ] {
            assert!(r.redact(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn world_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secrets.toml");
        std::fs::write(&p, "A = \"b\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_secrets_file(&p).is_err());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secrets_file(&p).unwrap()["A"], "b");
    }
}
