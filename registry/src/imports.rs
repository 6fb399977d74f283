//! Which declared capability covers each interface a component imports.
//!
//! WIT imports say *that* a skill uses HTTP; the manifest says *which* hosts. A skill
//! must not import a capability it did not declare: the host refuses to run it, and an
//! audit flags it.

use serde::Serialize;

use crate::Manifest;
use crate::capability;
pub use crate::capability::ImportClass;

/// One import and its classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportCheck {
    pub import: String,
    pub class: ImportClass,
    /// Why, for display.
    pub note: String,
}

impl ImportCheck {
    /// Is this import a reason to refuse running the skill?
    pub fn is_problem(&self) -> bool {
        matches!(
            self.class,
            ImportClass::Undeclared(_) | ImportClass::Refused
        )
    }
}

/// `wasi:http/outgoing-handler@0.2.12` → (`wasi:http`, `outgoing-handler`).
fn split(import: &str) -> (&str, &str) {
    let unversioned = import.split('@').next().unwrap_or(import);
    match unversioned.split_once('/') {
        Some((pkg, iface)) => (pkg, iface),
        None => (unversioned, ""),
    }
}

/// Classify every import of a component against its manifest.
pub fn check_imports(imports: &[String], manifest: &Manifest) -> Vec<ImportCheck> {
    let caps = &manifest.capabilities;
    imports
        .iter()
        .map(|import| {
            let (pkg, iface) = split(import);
            let (class, note) = match (pkg, iface) {
                ("wasi:cli" | "wasi:io" | "wasi:clocks" | "wasi:random", _) => (
                    ImportClass::Baseline,
                    "no access beyond the grants".to_string(),
                ),
                ("wasi:filesystem", _) => capability::fs::import(&caps.fs),
                ("chitin:skill", "log" | "types") => {
                    (ImportClass::Baseline, "host-side logging".to_string())
                }
                ("wasi:http", _) => capability::http::import(&caps.http),
                ("chitin:skill", "exec") => capability::exec::import(&caps.exec),
                // CPython's libc (componentize-py) imports the socket interfaces
                // whether a skill uses them or not; the host links them with every
                // address, bind and name lookup refused, so importing them grants nothing.
                ("wasi:sockets", _) => (
                    ImportClass::Baseline,
                    "raw network: every address and name lookup is refused; HTTP goes to declared hosts only"
                        .to_string(),
                ),
                _ => (
                    ImportClass::Refused,
                    "not part of the chitin platform (wit/skill.wit)".to_string(),
                ),
            };
            ImportCheck {
                import: import.clone(),
                class,
                note,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capability;

    #[test]
    fn classifies_against_the_declaration() {
        let m = crate::manifest::parse(
            "[skill]\nname='x'\nversion='1.0.0'\n[capabilities]\nhttp=['https://a.example/*']",
        )
        .unwrap();
        let imports: Vec<String> = [
            "wasi:cli/environment@0.2.12",
            "wasi:http/outgoing-handler@0.2.12",
            "chitin:skill/exec@0.1.0",
            "wasi:sockets/tcp@0.2.12",
            "evil:thing/x",
        ]
        .map(String::from)
        .to_vec();
        let c = check_imports(&imports, &m);
        assert_eq!(c[0].class, ImportClass::Baseline);
        assert_eq!(c[1].class, ImportClass::Covered(Capability::Http));
        assert_eq!(c[2].class, ImportClass::Undeclared(Capability::Exec));
        assert_eq!(c[3].class, ImportClass::Baseline);
        assert_eq!(c[4].class, ImportClass::Refused);
        assert_eq!(c.iter().filter(|c| c.is_problem()).count(), 2);
    }
}
