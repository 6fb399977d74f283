//! `env`: the environment variables a skill may read.
//!
//! ```toml
//! env = ["LANG"]     # values come from the host's environment; unset ones stay unset
//! ```
//!
//! A secret is never also an environment variable (checked in [`super::secrets`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An environment variable name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);
string_serde!(EnvName);

impl EnvName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "invalid name `{s}`: use letters, digits and `_`, not starting with a digit"
            ))
        }
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        // (name, valid?)
        let cases = [
            ("LANG", true),
            ("_X1", true),
            ("1X", false),
            ("", false),
            ("A-B", false),
            ("A B", false),
            ("A=B", false),
        ];
        for (name, valid) in cases {
            assert_eq!(name.parse::<EnvName>().is_ok(), valid, "{name:?}");
        }
    }
}
