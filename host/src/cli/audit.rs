//! `chitin skill audit`, `chitin skill pack` and `chitin log`.

use std::path::PathBuf;

use chitin_registry::SkillRef;

use anyhow::Context;
use chitin_registry::{ImportClass, check_imports};
use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::display::{self, field};
use super::{Exit, exit};

#[derive(Args)]
pub struct AuditArgs {
    /// A file given as a path (with a `/` or ending in `.wasm`), an installed skill's
    /// name, or a registry reference (only the OCI manifest and config are fetched: no
    /// code is pulled or run). A bare name is an installed skill, never a file.
    skill: String,
    #[command(flatten)]
    registry: super::lifecycle::RegistryArgs,
    /// Print one JSON document on stdout: `{source, digest, size, manifest,
    /// manifest_error, granted, imports, raw_imports, exports, problems, findings,
    /// signature}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PackArgs {
    /// The component built by the language's toolchain.
    component: PathBuf,
    /// The manifest to embed.
    #[arg(long, short, default_value = "skill.toml")]
    manifest: PathBuf,
    /// Where to write the skill [default: overwrite the component].
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print one JSON document on stdout: `{name, version, output, bytes, digest,
    /// uncovered_imports}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct LogArgs {
    /// Only this skill's entries.
    #[arg(long)]
    skill: Option<String>,
    /// How many entries, newest first.
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
    /// Print one JSON document on stdout: a list of `{time, skill, tool, outcome,
    /// capability, detail, caller}`, newest first.
    #[arg(long)]
    json: bool,
}

/// What an audit shows, wherever the skill came from.
struct Report {
    source: String,
    digest: String,
    size: u64,
    manifest: Result<chitin_registry::Manifest, String>,
    imports: Vec<String>,
    exports: Vec<String>,
    /// For installed skills: what the user granted.
    granted: Option<chitin_registry::Capabilities>,
    /// For installed skills: the tools `describe()` returned at install.
    tools: Vec<(String, String)>,
    signature: Signature,
    provenance: ProvenanceReport,
    yank: super::lifecycle::YankStatus,
}

/// What the audit says about how the skill was built.
#[derive(serde::Serialize)]
struct ProvenanceReport {
    /// `verified` (some attestation verified), `none` (none found or none verifies), or
    /// `not-applicable` (a local file).
    status: &'static str,
    /// The verified attestations.
    attestations: Vec<ProvenanceView>,
    /// Attestations that do not verify, and why.
    unverified: Vec<String>,
    /// What the trust policy requires, if anything.
    required: Vec<String>,
    /// Why the requirement is not met, when it is not.
    error: Option<String>,
}

#[derive(serde::Serialize)]
struct ProvenanceView {
    builder: String,
    issuer: String,
    source: Option<String>,
    source_from: Option<chitin_registry::provenance::SourceOrigin>,
    builder_id: Option<String>,
    predicate_type: String,
}

impl ProvenanceReport {
    fn not_applicable() -> Self {
        ProvenanceReport {
            status: "not-applicable",
            attestations: Vec::new(),
            unverified: Vec::new(),
            required: Vec::new(),
            error: None,
        }
    }

    fn new(
        found: Vec<Result<chitin_registry::provenance::Provenance, String>>,
        required: Vec<String>,
        error: Option<String>,
    ) -> Self {
        let mut attestations = Vec::new();
        let mut unverified = Vec::new();
        for f in found {
            match f {
                Ok(p) => attestations.push(ProvenanceView {
                    builder: p.builder,
                    issuer: p.issuer,
                    source: p.source,
                    source_from: p.source_from,
                    builder_id: p.builder_id,
                    predicate_type: p.predicate_type,
                }),
                Err(e) => unverified.push(e),
            }
        }
        ProvenanceReport {
            status: if attestations.is_empty() {
                "none"
            } else {
                "verified"
            },
            attestations,
            unverified,
            required,
            error,
        }
    }
}

/// What the audit says about who signed the skill.
#[derive(serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
enum Signature {
    /// A local file: signatures live in registries.
    NotApplicable,
    /// Accepted by the trust policy.
    Trusted {
        signer: chitin_registry::trust::Signer,
        rule: String,
        form: &'static str,
    },
    /// No signature the trust policy accepts (`found` were found).
    Untrusted { found: usize, reason: String },
    /// Installed with `--allow-unsigned`.
    InstalledUnsigned,
}

impl From<chitin_registry::trust::Verified> for Signature {
    fn from(v: chitin_registry::trust::Verified) -> Self {
        Signature::Trusted {
            form: v.envelope.form(),
            signer: v.signer,
            rule: v.rule,
        }
    }
}

fn report_from_bytes(source: String, wasm: &[u8]) -> anyhow::Result<Report> {
    let info = chitin_registry::inspect(wasm).with_context(|| format!("inspecting {source}"))?;
    Ok(Report {
        source,
        digest: format!("sha256:{}", hex::encode(Sha256::digest(wasm))),
        size: wasm.len() as u64,
        // A component that does not export the skill interface is not a skill,
        // whatever manifest it embeds.
        manifest: info
            .manifest()
            .and_then(|m| info.check_exports().map(|()| m))
            .map_err(|e| e.to_string()),
        imports: info.imports,
        exports: info.exports,
        granted: None,
        tools: Vec::new(),
        signature: Signature::NotApplicable,
        provenance: ProvenanceReport::not_applicable(),
        yank: super::lifecycle::YankStatus::NotChecked,
    })
}

/// A remote reference: the OCI manifest (declaration in its annotations) and the config
/// (imports and exports); never the component.
async fn report_from_registry(
    reference: &str,
    options: &chitin_registry::RegistryOptions,
) -> anyhow::Result<Report> {
    use chitin_registry::artifact::{WasmConfig, parse_remote};
    let parsed = reference.parse::<SkillRef>().context(
        "give a .wasm file, an installed skill's name, a registry reference or oci-layout:<dir>",
    )?;
    // The manifest and its signatures, judged by the policy; then the config.
    let signed = chitin_host::install::fetch_signed(reference, options).await?;
    let (bytes, digest) = (signed.manifest_bytes.clone(), signed.digest.clone());
    let policy = super::trust::load_policy(None)?;
    let signature = match policy.verify(&signed.repository, &bytes, &digest, &signed.envelopes) {
        Ok(v) => Signature::from(v),
        Err(e) => Signature::Untrusted {
            found: signed.envelopes.len(),
            reason: e.to_string(),
        },
    };
    let provenance = ProvenanceReport::new(
        policy.inspect_provenance(&signed.repository, &digest, &signed.attestations),
        policy.provenance_required(&signed.repository),
        policy
            .check_provenance(&signed.repository, &digest, &signed.attestations)
            .err()
            .map(|e| e.to_string()),
    );
    // An OCI layout carries no yanks: nothing to ask.
    let yank = if signed.repository.starts_with("oci-layout:") {
        super::lifecycle::YankStatus::NotChecked
    } else {
        super::lifecycle::YankStatus::from(
            chitin_host::install::check_yanks(&policy, &signed.repository, &digest, options).await,
        )
    };
    let raw: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let config_desc = &raw["config"];
    let config_digest = config_desc["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let config_size = config_desc["size"].as_u64().unwrap_or(0);
    let size = raw["layers"][0]["size"].as_u64().unwrap_or(0);
    let config_bytes = if config_size > chitin_registry::artifact::MAX_CONFIG_BYTES as u64
        || config_digest.is_empty()
    {
        None
    } else {
        match &parsed {
            SkillRef::Oci(r) => {
                let client = chitin_registry::RegistryClient::for_ref(r, options)?;
                let auth = chitin_registry::oci::auth_for(r.reference.resolve_registry());
                let at = r.reference.clone_with_digest(digest.clone());
                client.authenticate(&at, &auth).await?;
                client
                    .pull_small_blob(&at, &config_digest, config_size, config_size)
                    .await
                    .ok()
            }
            SkillRef::Layout { dir, .. } => chitin_host::layout::blob(dir, &config_digest).ok(),
        }
    };
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    if let Some(config) = config_bytes.and_then(|b| serde_json::from_slice::<WasmConfig>(&b).ok()) {
        imports = config.component.imports;
        exports = config.component.exports;
    }
    // The config lists the exports: a plain component pushed with a manifest is not a
    // skill (an empty list is a config chitin could not read).
    let not_a_skill = chitin_registry::ComponentInfo {
        exports: exports.clone(),
        ..Default::default()
    }
    .check_exports()
    .err()
    .filter(|_| !exports.is_empty());
    let source = match &parsed {
        SkillRef::Oci(r) => format!("{}@{digest}", r.repository()),
        SkillRef::Layout { .. } => format!("{reference} ({digest})"),
    };
    Ok(Report {
        source,
        digest,
        size,
        manifest: match not_a_skill {
            Some(e) => Err(e.to_string()),
            None => parse_remote(&bytes)
                .map(|r| r.skill)
                .map_err(|e| e.to_string()),
        },
        imports,
        exports,
        granted: None,
        tools: Vec::new(),
        signature,
        provenance,
        yank,
    })
}

pub fn audit(args: AuditArgs) -> Result<u8, Exit> {
    let target = &args.skill;
    // A file only when written as a path, so `./x` cannot stand in for the installed `x`.
    let report = if super::run::is_file_arg(target) && std::path::Path::new(target).is_file() {
        let wasm = std::fs::read(target).with_context(|| format!("reading {target}"))?;
        report_from_bytes(target.clone(), &wasm)?
    } else if let Some(installed) = super::lifecycle::open_store()?.get(target)? {
        let store = super::lifecycle::open_store()?;
        let wasm = store.read_blob(&installed.wasm_digest)?;
        let mut r = report_from_bytes(
            format!(
                "{} (installed from {})",
                installed.name, installed.reference
            ),
            &wasm,
        )?;
        r.digest = installed.manifest_digest.clone();
        r.granted = Some(installed.grants.clone());
        r.signature = match &installed.signature {
            Some(v) => Signature::from(v.clone()),
            None => Signature::InstalledUnsigned,
        };
        // What was verified at install (bundles kept; `run` checks them again).
        let policy = super::trust::load_policy(None)?;
        let kept: Vec<_> = installed
            .signature
            .iter()
            .flat_map(|v| v.provenance.iter().cloned().map(Ok))
            .collect();
        let attestations: Vec<String> = installed
            .signature
            .iter()
            .flat_map(|v| v.provenance.iter().map(|p| p.bundle.clone()))
            .collect();
        r.provenance = ProvenanceReport::new(
            kept,
            policy.provenance_required(&installed.repository),
            policy
                .check_provenance(
                    &installed.repository,
                    &installed.manifest_digest,
                    &attestations,
                )
                .err()
                .map(|e| e.to_string()),
        );
        let rt = super::tokio()?;
        r.yank = rt.block_on(super::lifecycle::yank_status(
            &policy,
            &installed.repository,
            &installed.manifest_digest,
            &args.registry,
        ));
        r.tools = installed
            .tools
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let field = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                (field("name"), field("description"))
            })
            .collect();
        r
    } else {
        super::tokio()?.block_on(report_from_registry(target, &args.registry.options()))?
    };
    print_report(&report, args.json)
}

fn print_report(report: &Report, json_out: bool) -> Result<u8, Exit> {
    let checks = match &report.manifest {
        Ok(m) => check_imports(&report.imports, m),
        Err(_) => Vec::new(),
    };
    let problems = checks.iter().filter(|c| c.is_problem()).count();
    let ok = report.manifest.is_ok() && problems == 0;
    let mut findings = match &report.manifest {
        Ok(m) => chitin_registry::findings(m, &checks, &report.tools),
        Err(_) => Vec::new(),
    };
    let unsigned = match &report.signature {
        Signature::Untrusted { found: 0, .. } => Some("it has no signature".to_string()),
        Signature::Untrusted { found, .. } => Some(format!(
            "none of its {found} signature(s) is from a signer your trust policy accepts"
        )),
        Signature::InstalledUnsigned => {
            Some("it was installed with --allow-unsigned: nobody vouches for it".to_string())
        }
        _ => None,
    };
    // What this machine's kernel cannot confine of the programs the skill runs.
    if let Ok(m) = &report.manifest
        && !m.capabilities.exec.is_empty()
        && let Some(message) = chitin_host::capabilities::exec::landlock::kernel_gap()
    {
        findings.push(chitin_registry::Finding {
            risk: chitin_registry::Risk::High,
            area: chitin_registry::Capability::Exec.into(),
            message,
        });
    }
    if let super::lifecycle::YankStatus::Yanked { reason, .. } = &report.yank {
        findings.insert(
            0,
            chitin_registry::Finding {
                risk: chitin_registry::Risk::High,
                area: chitin_registry::Area::Trust,
                message: format!("its publisher yanked this version: {reason}"),
            },
        );
    }
    if report.provenance.error.is_some() {
        findings.insert(
            0,
            chitin_registry::Finding {
                risk: chitin_registry::Risk::High,
                area: chitin_registry::Area::Trust,
                message: "it lacks the build provenance your trust policy requires".into(),
            },
        );
    }
    if let Some(message) = unsigned {
        findings.insert(
            0,
            chitin_registry::Finding {
                risk: chitin_registry::Risk::High,
                area: chitin_registry::Area::Trust,
                message,
            },
        );
    }
    if json_out {
        let doc = json!({
            "source": report.source,
            "digest": report.digest,
            "size": report.size,
            "manifest": report.manifest.as_ref().ok(),
            "manifest_error": report.manifest.as_ref().err(),
            "granted": report.granted,
            "imports": checks.iter().map(|c| json!({"interface": c.import, "class": c.class, "note": c.note})).collect::<Vec<_>>(),
            "raw_imports": report.imports,
            "exports": report.exports,
            "problems": problems,
            "findings": findings,
            "signature": report.signature,
            "provenance": report.provenance,
            "yank": report.yank,
        });
        println!("{}", display::json(&doc)?);
        return Ok(if ok { exit::OK } else { exit::ERROR });
    }
    // From here on, every string that came from the skill, its registry or its signer
    // goes through `display`.
    println!("{}", field(&report.source));
    println!("  digest   {}", field(&report.digest));
    println!("  size     {} bytes", report.size);
    match &report.signature {
        Signature::NotApplicable => {
            println!("  signer   none (a local file; signatures live in registries)")
        }
        Signature::Trusted { signer, rule, form } => println!(
            "  signer   {} ({form})\n           trusted by rule {}",
            field(&signer.to_string()),
            field(rule)
        ),
        Signature::Untrusted { found, reason } => println!(
            "  signer   NOT TRUSTED ({found} signature(s) found)\n           {}",
            display::block(reason, "           ")
        ),
        Signature::InstalledUnsigned => {
            println!("  signer   NONE: installed with --allow-unsigned")
        }
    }
    print_provenance(&report.provenance);
    match &report.yank {
        super::lifecycle::YankStatus::Yanked { reason, signer } => {
            println!("  YANKED   by {}: {}", field(signer), field(reason))
        }
        super::lifecycle::YankStatus::Unknown { error } => {
            println!("  yanked?  could not check: {}", field(error))
        }
        super::lifecycle::YankStatus::NotYanked => println!("  yanked   no"),
        super::lifecycle::YankStatus::NotChecked => {}
    }
    let manifest = match &report.manifest {
        Ok(m) => m,
        Err(e) => {
            println!("  imports  {}", field(&report.imports.join(", ")));
            println!("\nCannot be installed: {}", display::block(e, "  "));
            return Ok(exit::ERROR);
        }
    };
    println!("  skill    {}", display::skill_header(manifest));
    println!("\nDeclared capabilities:");
    let lines = super::display::capability_lines(manifest, None);
    if lines.is_empty() {
        println!("  none: pure computation");
    }
    for (kind, text) in lines {
        println!("  {kind:<7} {text}");
    }
    let l = &manifest.limits;
    println!(
        "  limits  memory {}, time {} per call, output {}",
        l.memory, l.timeout, l.output
    );
    if let Some(granted) = &report.granted
        && *granted != manifest.capabilities
    {
        println!("\nGranted (narrower than declared):");
        let mut narrowed = manifest.clone();
        narrowed.capabilities = granted.clone();
        for (kind, text) in super::display::capability_lines(&narrowed, None) {
            println!("  {kind:<7} {text}");
        }
    }
    println!("\nImported interfaces:");
    for c in &checks {
        let mark = match c.class {
            ImportClass::Baseline | ImportClass::Covered(_) => "ok  ",
            ImportClass::Undeclared(_) | ImportClass::Refused => "FLAG",
        };
        println!("  {mark} {:<45} {}", field(&c.import), field(&c.note));
    }
    println!("\nExports: {}", field(&report.exports.join(", ")));
    if !report.tools.is_empty() {
        println!("\nTools:");
        for (name, description) in &report.tools {
            println!("  {}", display::tool_line(name, description));
        }
    }
    println!("\nFindings:");
    if findings.is_empty() {
        println!("  none");
    }
    for f in &findings {
        println!("  {}", display::finding_line(f));
    }
    if problems > 0 {
        println!(
            "\n{problems} import(s) not covered by the declaration: chitin will refuse to run this skill."
        );
    }
    Ok(if ok { exit::OK } else { exit::ERROR })
}

fn print_provenance(p: &ProvenanceReport) {
    if p.status == "not-applicable" {
        return;
    }
    if p.attestations.is_empty() {
        println!("  built    none (no verified provenance attestation)");
    }
    for a in &p.attestations {
        let source = match (&a.source, a.source_from) {
            (Some(s), Some(chitin_registry::provenance::SourceOrigin::Certificate)) => {
                format!("{} (from the certificate)", field(s))
            }
            (Some(s), _) => format!("{} (from the predicate)", field(s)),
            (None, _) => "unknown".to_string(),
        };
        println!(
            "  built    by {} (issuer {})
           from {source}",
            field(&a.builder),
            field(&a.issuer)
        );
        if let Some(id) = &a.builder_id {
            println!("           builder.id {}", field(id));
        }
    }
    for u in &p.unverified {
        println!("           an attestation does not verify: {}", field(u));
    }
    for r in &p.required {
        println!("  requires {}", field(r));
    }
    if let Some(e) = &p.error {
        println!("  NOT MET  {}", display::block(e, "           "));
    }
}

pub fn pack(args: PackArgs) -> Result<u8, Exit> {
    let wasm = std::fs::read(&args.component)
        .with_context(|| format!("reading {}", args.component.display()))?;
    let text = std::fs::read_to_string(&args.manifest)
        .with_context(|| format!("reading {}", args.manifest.display()))?;
    let out = chitin_registry::embed_manifest(&wasm, &text)
        .with_context(|| format!("embedding {}", args.manifest.display()))?;
    let info = chitin_registry::inspect(&out)?;
    let manifest = info.manifest()?;
    info.check_exports()
        .with_context(|| format!("packing {}", args.component.display()))?;
    let problems: Vec<String> = check_imports(&info.imports, &manifest)
        .into_iter()
        .filter(|c| c.is_problem())
        .map(|c| format!("{} ({})", c.import, c.note))
        .collect();
    if !problems.is_empty() {
        eprintln!(
            "warning: imports not covered by the manifest; chitin will refuse to run it:\n  {}",
            display::block(&problems.join("\n"), "  ")
        );
    }
    let target = args.output.unwrap_or(args.component);
    chitin_host::engine::write_atomic_shared(&target, &out)?;
    if args.json {
        println!(
            "{}",
            display::json(
                &json!({ "name": manifest.skill.name, "version": manifest.skill.version.to_string(),
                    "output": target, "bytes": out.len(),
                    "digest": chitin_registry::artifact::sha256_digest(&out),
                    "uncovered_imports": problems })
            )?
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "    Packed {} {} → {} ({} bytes)",
        manifest.skill.name,
        manifest.skill.version,
        field(&target.display().to_string()),
        out.len()
    );
    Ok(exit::OK)
}

pub fn log(args: LogArgs) -> Result<u8, Exit> {
    let home = super::chitin_home()?;
    let log = chitin_host::AuditLog::open(&home.join("chitin.db"))?;
    let entries = log.entries(args.skill.as_deref(), args.limit)?;
    if args.json {
        println!("{}", display::json(&entries)?);
        return Ok(exit::OK);
    }
    if entries.is_empty() {
        eprintln!("The audit log is empty.");
    }
    // Every column was written from a call: the detail quotes what the skill asked for.
    for e in entries.iter().rev() {
        // Who ran the call, when it was not `chitin run`: the agent or an MCP client.
        let by = if e.caller.is_empty() {
            String::new()
        } else {
            format!(" (by {})", field(&e.caller))
        };
        println!(
            "{}  {:<12} {:<12} {:<8} {:<8} {}{by}",
            field(&e.time),
            field(&e.skill),
            field(&e.tool),
            field(&e.outcome),
            field(&e.capability),
            field(&e.detail)
        );
    }
    Ok(exit::OK)
}
