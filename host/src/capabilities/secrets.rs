//! Secrets: values the host adds to outgoing HTTP requests for the declared hosts. The
//! skill never sees them: they are not in its environment, and responses that echo a
//! value back are redacted before the skill reads them.

use std::collections::BTreeMap;
use std::path::Path;

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

/// Replace every occurrence of any secret value in `bytes` by `[REDACTED:<name>]`.
/// Values shorter than 4 bytes are not redacted (they would destroy ordinary text, and
/// the manifest docs ask for real tokens).
pub fn redact(bytes: &[u8], secrets: &[(String, String)]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for (name, value) in secrets {
        let needle = value.as_bytes();
        if needle.len() < 4 {
            continue;
        }
        let hay = out.as_deref().unwrap_or(bytes);
        if !contains(hay, needle) {
            continue;
        }
        let mark = format!("[REDACTED:{name}]");
        let mut result = Vec::with_capacity(hay.len());
        let mut i = 0;
        while i < hay.len() {
            if hay[i..].starts_with(needle) {
                result.extend_from_slice(mark.as_bytes());
                i += needle.len();
            } else {
                result.push(hay[i]);
                i += 1;
            }
        }
        out = Some(result);
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence() {
        let s = vec![("T".to_string(), "s3cr3t".to_string())];
        let out = redact(b"a s3cr3t b s3cr3ts3cr3t", &s).unwrap();
        assert_eq!(out, b"a [REDACTED:T] b [REDACTED:T][REDACTED:T]");
        assert!(redact(b"nothing here", &s).is_none());
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
