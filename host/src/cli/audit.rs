//! `chitin skill audit`, `chitin skill pack` and `chitin log`.

use std::path::PathBuf;

use anyhow::Context;
use chitin_registry::{ImportClass, check_imports};
use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Exit, exit};

#[derive(Args)]
pub struct AuditArgs {
    /// The skill: a `.wasm` component.
    skill: PathBuf,
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
}

#[derive(Args)]
pub struct LogArgs {
    /// Only this skill's entries.
    #[arg(long)]
    skill: Option<String>,
    /// How many entries, newest first.
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn audit(args: AuditArgs) -> Result<u8, Exit> {
    let wasm =
        std::fs::read(&args.skill).with_context(|| format!("reading {}", args.skill.display()))?;
    let info = chitin_registry::inspect(&wasm)
        .with_context(|| format!("inspecting {}", args.skill.display()))?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&wasm)));
    let manifest = info.manifest();
    let checks = match &manifest {
        Ok(m) => check_imports(&info.imports, m),
        Err(_) => Vec::new(),
    };
    let problems = checks.iter().filter(|c| c.is_problem()).count();
    if args.json {
        let doc = json!({
            "file": args.skill,
            "digest": digest,
            "size": wasm.len(),
            "manifest": manifest.as_ref().ok(),
            "manifest_error": manifest.as_ref().err().map(|e| e.to_string()),
            "imports": checks.iter().map(|c| json!({"interface": c.import, "class": c.class, "note": c.note})).collect::<Vec<_>>(),
            "raw_imports": info.imports,
            "exports": info.exports,
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(if manifest.is_ok() && problems == 0 {
            exit::OK
        } else {
            exit::ERROR
        });
    }
    println!("{}", args.skill.display());
    println!("  digest   {digest}");
    println!("  size     {} bytes", wasm.len());
    let manifest = match manifest {
        Ok(m) => m,
        Err(e) => {
            println!("  imports  {}", info.imports.join(", "));
            return Err(Exit(exit::ERROR, e.into()));
        }
    };
    println!(
        "  skill    {} {} — {}",
        manifest.skill.name, manifest.skill.version, manifest.skill.description
    );
    println!("\nDeclared capabilities:");
    let lines = super::display::capability_lines(&manifest, None);
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
    println!("\nImported interfaces:");
    for c in &checks {
        let mark = match c.class {
            ImportClass::Baseline => "ok  ",
            ImportClass::Covered(_) => "ok  ",
            ImportClass::Undeclared(_) | ImportClass::Refused => "FLAG",
        };
        println!("  {mark} {:<45} {}", c.import, c.note);
    }
    println!("\nExports: {}", info.exports.join(", "));
    if problems > 0 {
        println!(
            "\n{problems} import(s) not covered by the declaration: chitin will refuse to run this skill."
        );
        return Ok(exit::ERROR);
    }
    Ok(exit::OK)
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
    let problems: Vec<String> = check_imports(&info.imports, &manifest)
        .into_iter()
        .filter(|c| c.is_problem())
        .map(|c| format!("{} ({})", c.import, c.note))
        .collect();
    if !problems.is_empty() {
        eprintln!(
            "warning: imports not covered by the manifest; chitin will refuse to run it:\n  {}",
            problems.join("\n  ")
        );
    }
    let target = args.output.unwrap_or(args.component);
    chitin_host::engine::write_atomic(&target, &out)?;
    eprintln!(
        "    Packed {} {} → {} ({} bytes)",
        manifest.skill.name,
        manifest.skill.version,
        target.display(),
        out.len()
    );
    Ok(exit::OK)
}

pub fn log(args: LogArgs) -> Result<u8, Exit> {
    let home = super::chitin_home()?;
    let log = chitin_host::AuditLog::open(&home.join("chitin.db"))?;
    let entries = log.entries(args.skill.as_deref(), args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(exit::OK);
    }
    if entries.is_empty() {
        eprintln!("The audit log is empty.");
    }
    for e in entries.iter().rev() {
        println!(
            "{}  {:<12} {:<12} {:<7} {:<8} {}",
            e.time, e.skill, e.tool, e.outcome, e.capability, e.detail
        );
    }
    Ok(exit::OK)
}
