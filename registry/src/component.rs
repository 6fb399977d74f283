//! Reading and writing what a component carries about itself, without an engine:
//! the embedded manifest (a top-level custom section) and the imported and exported
//! interface names.

use wasm_encoder::{ComponentSection, CustomSection};
use wasmparser::{Chunk, Parser, Payload};

use crate::{ComponentError, Manifest};

/// The name of the custom section holding the skill's `skill.toml`.
pub const MANIFEST_SECTION: &str = "chitin:skill/manifest";

/// What a component's binary says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Top-level imports, e.g. `wasi:http/outgoing-handler@0.2.12`.
    pub imports: Vec<String>,
    /// Top-level exports, e.g. `chitin:skill/guest@0.1.0`.
    pub exports: Vec<String>,
    /// The embedded manifest text, if any.
    pub manifest_text: Option<String>,
}

/// The interface every skill exports (any version).
pub const GUEST_INTERFACE: &str = "chitin:skill/guest";

impl ComponentInfo {
    /// Refuse a component that does not export `chitin:skill/guest`: a plain WASI
    /// command or library is not a skill, whatever manifest is embedded in it.
    pub fn check_exports(&self) -> Result<(), ComponentError> {
        let is_guest = |e: &String| {
            e.strip_prefix(GUEST_INTERFACE)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
        };
        if self.exports.iter().any(is_guest) {
            return Ok(());
        }
        Err(ComponentError::NotASkill {
            exports: if self.exports.is_empty() {
                "nothing".to_string()
            } else {
                self.exports.join(", ")
            },
        })
    }

    /// Parse and validate the embedded manifest.
    pub fn manifest(&self) -> Result<Manifest, ComponentError> {
        let text = self
            .manifest_text
            .as_deref()
            .ok_or(ComponentError::NoManifest)?;
        crate::manifest::parse(text).map_err(ComponentError::Manifest)
    }
}

/// A top-level section's byte range and, for custom sections, its name.
struct TopSection {
    range: std::ops::Range<usize>,
    custom_name: Option<String>,
}

/// Walk the top-level sections of a component without descending into nested modules.
fn top_sections(bytes: &[u8]) -> Result<(bool, Vec<TopSection>, ComponentInfo), ComponentError> {
    let mut parser = Parser::new(0);
    let mut offset = 0usize;
    let mut sections = Vec::new();
    let mut info = ComponentInfo::default();
    let mut is_component = false;
    loop {
        let chunk = parser
            .parse(&bytes[offset..], true)
            .map_err(|e| ComponentError::Malformed(e.to_string()))?;
        let (consumed, payload) = match chunk {
            Chunk::NeedMoreData(_) => {
                return Err(ComponentError::Malformed("unexpected end of file".into()));
            }
            Chunk::Parsed { consumed, payload } => (consumed, payload),
        };
        let start = offset;
        offset += consumed;
        match payload {
            Payload::Version { encoding, .. } => {
                is_component = encoding == wasmparser::Encoding::Component;
            }
            Payload::CustomSection(reader) => {
                let end = reader.range().end;
                sections.push(TopSection {
                    range: start..end,
                    custom_name: Some(reader.name().to_string()),
                });
                if reader.name() == MANIFEST_SECTION {
                    // Two declarations: which one a reader takes would decide what is
                    // shown and what is granted; refuse instead of choosing.
                    if info.manifest_text.is_some() {
                        return Err(ComponentError::Malformed(format!(
                            "the component holds two `{MANIFEST_SECTION}` manifest sections; \
                             repack it with `chitin skill pack`, which writes one"
                        )));
                    }
                    let text = std::str::from_utf8(reader.data()).map_err(|_| {
                        ComponentError::Malformed("the embedded manifest is not UTF-8".into())
                    })?;
                    info.manifest_text = Some(text.to_string());
                }
                offset = end;
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(|e| ComponentError::Malformed(e.to_string()))?;
                    info.imports.push(import.name.0.to_string());
                }
                sections.push(TopSection {
                    range: start..offset,
                    custom_name: None,
                });
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| ComponentError::Malformed(e.to_string()))?;
                    info.exports.push(export.name.0.to_string());
                }
                sections.push(TopSection {
                    range: start..offset,
                    custom_name: None,
                });
            }
            // Nested modules and components: keep their bytes, skip their contents (the
            // outer parser has already moved past them; only the header was consumed).
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                offset = unchecked_range.end;
                sections.push(TopSection {
                    range: start..offset,
                    custom_name: None,
                });
            }
            Payload::End(_) => break,
            _ => sections.push(TopSection {
                range: start..offset,
                custom_name: None,
            }),
        }
    }
    Ok((is_component, sections, info))
}

/// Read imports, exports and the embedded manifest of a component binary.
pub fn inspect(bytes: &[u8]) -> Result<ComponentInfo, ComponentError> {
    let (is_component, _, info) = top_sections(bytes)?;
    if !is_component {
        return Err(ComponentError::NotAComponent);
    }
    Ok(info)
}

/// Return `bytes` with `manifest` embedded as the manifest section, replacing any
/// manifest section already there. The manifest is validated first, so a component
/// never carries a declaration the host would reject.
pub fn embed_manifest(bytes: &[u8], manifest_text: &str) -> Result<Vec<u8>, ComponentError> {
    crate::manifest::parse(manifest_text).map_err(ComponentError::Manifest)?;
    let (is_component, sections, _) = top_sections(bytes)?;
    if !is_component {
        return Err(ComponentError::NotAComponent);
    }
    // The 8-byte preamble, then every section but old manifests, then the new one.
    let mut out = bytes[..8].to_vec();
    for s in &sections {
        if s.custom_name.as_deref() != Some(MANIFEST_SECTION) {
            out.extend_from_slice(&bytes[s.range.clone()]);
        }
    }
    let section = CustomSection {
        name: MANIFEST_SECTION.into(),
        data: manifest_text.as_bytes().into(),
    };
    section.append_to_component(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_component() -> Vec<u8> {
        wasm_encoder::Component::new().finish()
    }

    const MANIFEST: &str = "[skill]\nname = \"t\"\nversion = \"0.1.0\"\n";

    #[test]
    fn embed_then_inspect_round_trips_and_replaces() {
        let c = embed_manifest(&tiny_component(), MANIFEST).unwrap();
        let info = inspect(&c).unwrap();
        assert_eq!(info.manifest_text.as_deref(), Some(MANIFEST));
        assert_eq!(info.manifest().unwrap().skill.name.as_str(), "t");
        let other = MANIFEST.replace("0.1.0", "0.2.0");
        let c2 = embed_manifest(&c, &other).unwrap();
        assert_eq!(
            inspect(&c2).unwrap().manifest_text.as_deref(),
            Some(other.as_str())
        );
        wasmparser::Validator::new().validate_all(&c2).unwrap();
    }

    #[test]
    fn rejects_core_modules_and_bad_manifests() {
        let module = wasm_encoder::Module::new().finish();
        assert!(matches!(
            inspect(&module),
            Err(ComponentError::NotAComponent)
        ));
        assert!(matches!(
            embed_manifest(&tiny_component(), "[skill]\nname = 1"),
            Err(ComponentError::Manifest(_))
        ));
        assert!(matches!(
            inspect(&tiny_component()).unwrap().manifest(),
            Err(ComponentError::NoManifest)
        ));
        assert!(inspect(b"\0asm garbage").is_err());
    }
}
