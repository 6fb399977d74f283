//! `chitin run` and `chitin skill tools`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chitin_host::{Grants, HostEnv, LoadedSkill, Outcome, Runtime, SkillError};
use clap::Args;
use serde_json::json;

use super::{Exit, display, exit};

#[derive(Args)]
pub struct RunArgs {
    /// The skill: an installed skill's name, or a file given as a path (with a `/` or
    /// ending in `.wasm`, like `./skill.wasm`). A bare name is always an installed
    /// skill, even when a file of that name is in the current folder.
    skill: String,
    /// The tool to call.
    tool: String,
    /// The tool's arguments as a JSON object, or `-` to read them from stdin.
    #[arg(long, short, default_value = "{}")]
    input: String,
    /// Grant what the skill declares without asking (for scripts).
    #[arg(long, short)]
    yes: bool,
    /// The folder `$WORKSPACE` stands for [default: the current folder].
    #[arg(long, short)]
    workspace: Option<PathBuf>,
    /// Print one JSON document with the result, denials and logs.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ToolsArgs {
    /// The skill: a `.wasm` component with an embedded manifest.
    skill: PathBuf,
    /// Print one JSON document on stdout: a list of `{name, description, input_schema}`.
    #[arg(long)]
    json: bool,
}

pub fn load(runtime: &Runtime, path: &PathBuf) -> anyhow::Result<LoadedSkill> {
    let wasm = match std::fs::read(path) {
        Ok(wasm) => wasm,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(no_such_file(&path.to_string_lossy()));
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    // Compiling a JavaScript or Python skill takes seconds the first time.
    let spinner = super::progress::spinner("Compiling", &display::field(&path.to_string_lossy()));
    let loaded = runtime.load(&wasm);
    spinner.finish_and_clear();
    loaded.with_context(|| format!("loading the skill {}", path.display()))
}

/// The error for a skill file that does not exist: a registry reference is installed
/// first, then run by its name.
fn no_such_file(arg: &str) -> anyhow::Error {
    let looks_like_a_reference = !arg.ends_with(".wasm")
        && matches!(
            arg.parse::<chitin_registry::SkillRef>(),
            Ok(chitin_registry::SkillRef::Oci(_))
        );
    if looks_like_a_reference {
        anyhow::anyhow!(
            "`{arg}` is not a file; to run a skill from a registry, install it first: \
             `chitin skill install {arg}`, then `chitin run NAME TOOL`"
        )
    } else {
        anyhow::anyhow!(
            "no file `{arg}`; give the path of a skill component, or the name of an installed \
             skill (see `chitin skill list`)"
        )
    }
}

/// The usage error for a tool the skill does not have, naming the ones it has.
fn check_tool(tool: &str, tools: &[String]) -> Result<(), Exit> {
    if tools.iter().any(|t| t == tool) {
        return Ok(());
    }
    Err(Exit(
        exit::USAGE,
        anyhow::anyhow!(
            "the skill has no tool `{}`; its tools: {}",
            display::field(tool),
            display::field(&tools.join(", "))
        ),
    ))
}

pub fn tools(args: ToolsArgs) -> Result<u8, Exit> {
    let runtime = super::open_runtime()?;
    let skill = load(&runtime, &args.skill)?;
    let tools = super::tokio()?.block_on(runtime.describe(&skill))?;
    if args.json {
        println!("{}", display::json(&tools)?);
    } else {
        for t in &tools {
            println!(
                "{}\n    {}",
                display::field(&t.name),
                display::block(&t.description, "    ")
            );
            if let Some(props) = t.input_schema.get("properties").and_then(|p| p.as_object()) {
                let names: Vec<&str> = props.keys().map(String::as_str).collect();
                if !names.is_empty() {
                    println!("    arguments: {}", display::field(&names.join(", ")));
                }
            }
        }
    }
    Ok(exit::OK)
}

fn read_input(input: &str) -> anyhow::Result<String> {
    let text = if input == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the tool's arguments from stdin")?;
        s
    } else {
        input.to_string()
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(text),
        Ok(_) => bail!("--input must be a JSON object, like '{{\"path\": \"notes.md\"}}'"),
        Err(e) => bail!("--input is not valid JSON: {e}"),
    }
}

/// Is `arg` a file (rather than an installed skill's name)? Only when written as a
/// path: a file in the current folder must never stand in for an installed skill of
/// the same name (`chitin run rt …` runs the installed `rt`, not `./rt`).
pub fn is_file_arg(arg: &str) -> bool {
    arg.ends_with(".wasm") || arg.contains('/')
}

/// The error for a bare name that is not installed: how to run a file instead.
fn not_installed(name: &str) -> anyhow::Error {
    if std::path::Path::new(name).is_file() {
        anyhow::anyhow!(
            "no skill named `{name}` is installed; to run the file {name} in this folder, \
             give it as a path: `chitin run ./{name} …`"
        )
    } else {
        anyhow::anyhow!(
            "no skill named `{name}` is installed (see `chitin skill list`); to run a file, \
             give it as a path, like `./{name}.wasm`"
        )
    }
}

pub fn run(args: RunArgs) -> Result<u8, Exit> {
    let input = read_input(&args.input).map_err(|e| Exit(exit::USAGE, e))?;
    let runtime = super::open_runtime()?;
    let workspace = match args.workspace {
        Some(w) => w,
        None => std::env::current_dir().context("finding the current folder")?,
    };
    let home = super::chitin_home()?;
    let secrets_file = home.join("secrets.toml");
    let env = HostEnv::from_process(workspace, Some(&home), Some(&secrets_file))?;
    let (skill, grants) = if is_file_arg(&args.skill) {
        let skill = load(&runtime, &PathBuf::from(&args.skill))?;
        let tools = super::tokio()?.block_on(runtime.describe(&skill))?;
        let names: Vec<String> = tools.into_iter().map(|t| t.name).collect();
        check_tool(&args.tool, &names)?;
        let grants = Grants::from_manifest(&skill.manifest, &env)?;
        let plan = super::display::plan(&skill.manifest, &skill.digest, &grants);
        super::approve(&plan, "Run it with these grants?", args.yes)?;
        (skill, grants)
    } else {
        // Installed: consent was given at install; run with the recorded grants.
        let store = super::lifecycle::open_store()?;
        let policy = super::trust::load_policy(None)?;
        let (skill, installed) =
            match chitin_host::install::load_installed(&runtime, &store, &policy, &args.skill) {
                Ok(loaded) => loaded,
                Err(chitin_host::HostError::NotInstalled(_)) => {
                    return Err(not_installed(&args.skill).into());
                }
                Err(e) => return Err(e.into()),
            };
        let tools: Vec<chitin_host::Tool> =
            serde_json::from_value(installed.tools.clone()).unwrap_or_default();
        let names: Vec<String> = tools.into_iter().map(|t| t.name).collect();
        check_tool(&args.tool, &names)?;
        let mut granted = skill.manifest.clone();
        granted.capabilities = installed.grants.clone();
        let grants = Grants::from_manifest(&granted, &env)?;
        (skill, grants)
    };

    let tokio = super::tokio()?;
    let report = tokio.block_on(runtime.invoke(&skill, &grants, &args.tool, &input));
    // A host thread still blocked in a system call for the stopped call must not keep
    // chitin from exiting: the call is over, its answer below.
    tokio.shutdown_background();
    let (code, outcome_json) = match &report.outcome {
        Outcome::Ok(text) => {
            let value = serde_json::from_str(text).unwrap_or_else(|_| json!(text));
            (exit::OK, json!({ "outcome": "ok", "result": value }))
        }
        Outcome::ToolError(e) => {
            let (kind, msg) = match e {
                SkillError::InvalidInput(m) => ("invalid-input", m),
                SkillError::Denied(m) => ("denied", m),
                SkillError::Failed(m) => ("failed", m),
            };
            (
                exit::TOOL_ERROR,
                json!({ "outcome": "error", "error": { "kind": kind, "message": msg } }),
            )
        }
        Outcome::Stopped(stop) => (
            exit::STOPPED,
            json!({ "outcome": "stopped", "stop": stop, "message": stop.to_string() }),
        ),
    };
    if args.json {
        let mut doc = outcome_json;
        doc["denials"] = json!(report.denials);
        doc["logs"] = json!(report.logs);
        doc["elapsed_ms"] = json!(report.elapsed.as_secs_f64() * 1000.0);
        println!("{}", display::json(&doc)?);
        return Ok(code);
    }
    // Log lines, denial details, error values and crash messages are the skill's text.
    for line in &report.logs {
        eprintln!("[{}] {}", line.level, display::field(&line.message));
    }
    for d in &report.denials {
        eprintln!("denied: {}: {}", d.capability, display::field(&d.detail));
    }
    match &report.outcome {
        Outcome::Ok(_) => println!("{}", display::json(&outcome_json["result"])?),
        Outcome::ToolError(_) => {
            let e = &outcome_json["error"];
            eprintln!(
                "error: {} returned {}: {}",
                display::field(&args.tool),
                e["kind"].as_str().unwrap_or(""),
                display::block(e["message"].as_str().unwrap_or(""), "  ")
            );
        }
        Outcome::Stopped(stop) => eprintln!("error: {}", display::block(&stop.to_string(), "  ")),
    }
    Ok(code)
}
