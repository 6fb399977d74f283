//! How a skill's declaration is shown to people: the same lines in `run`'s consent
//! prompt and in `skill audit`.

use chitin_host::Grants;
use chitin_registry::{Manifest, SecretGrant};

/// One line per capability: `(kind, text)`.
pub fn capability_lines(
    manifest: &Manifest,
    grants: Option<&Grants>,
) -> Vec<(&'static str, String)> {
    let caps = &manifest.capabilities;
    let mut lines = Vec::new();
    for (i, fs) in caps.fs.iter().enumerate() {
        let real = grants
            .and_then(|g| g.preopens.get(i))
            .map(|p| format!(" = {}", p.host_path.display()))
            .unwrap_or_default();
        lines.push((
            "fs",
            format!(
                "{:<10} {}{real} (seen as {})",
                fs.access.to_string(),
                fs.path,
                fs.path.mount_point()
            ),
        ));
    }
    for h in &caps.http {
        lines.push(("http", h.to_string()));
    }
    for e in &caps.exec {
        lines.push(("exec", e.display_line()));
    }
    for e in &caps.env {
        lines.push(("env", e.to_string()));
    }
    for s in &caps.secrets {
        lines.push(("secret", secret_line(s)));
    }
    lines
}

fn secret_line(s: &SecretGrant) -> String {
    let hosts: Vec<String> = s.hosts.iter().map(|h| h.to_string()).collect();
    format!(
        "{} sent as `{}: {}` to {} (the skill never sees the value)",
        s.name,
        s.header,
        s.format,
        hosts.join(", ")
    )
}

/// The plan shown before running: who, what, with which limits.
pub fn plan(manifest: &Manifest, digest: &str, grants: &Grants) -> String {
    let mut out = format!(
        "{} {} — {}\n  {digest}\n",
        manifest.skill.name, manifest.skill.version, manifest.skill.description
    );
    let lines = capability_lines(manifest, Some(grants));
    if lines.is_empty() {
        out.push_str("  asks for no capabilities: pure computation\n");
    } else {
        out.push_str("  asks for:\n");
        for (kind, text) in lines {
            out.push_str(&format!("    {kind:<7} {text}\n"));
        }
    }
    let l = &manifest.limits;
    out.push_str(&format!(
        "  limits: memory {}, time {} per call, output {}, disk writes {}\n",
        l.memory, l.timeout, l.output, l.disk
    ));
    out
}
