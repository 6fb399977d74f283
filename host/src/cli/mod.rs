//! Command-line interface. Human output goes to stderr (plans, notes) and stdout
//! (results); `--json` prints one JSON document on stdout for scripts.

mod agent;
mod audit;
mod author;
mod display;
mod lifecycle;
mod mcp;
mod progress;
mod provider;
mod run;
mod session;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TOOL_ERROR: u8 = 3;
    pub const STOPPED: u8 = 4;
    pub const NOT_APPROVED: u8 = 5;
}

#[derive(Parser)]
#[command(
    name = "chitin",
    version,
    about = "Run WebAssembly skills with exactly the capabilities they declare"
)]
struct Cli {
    /// Show no progress bars or spinners (they are shown only on a terminal anyway,
    /// and never with `CHITIN_NO_PROGRESS` set).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chat with a model whose only tools are the installed skills.
    Agent(agent::AgentArgs),
    /// Serve the installed skills to MCP clients (Claude Code, Cursor, the Inspector).
    Mcp(mcp::McpArgs),
    /// Model providers for the agent: profiles in the config folder.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// The agent's sessions, stored in the chitin database.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Run one tool of a skill, with exactly the capabilities it declares.
    Run(run::RunArgs),
    /// Work with skill files.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// Show the audit log: every refused capability and every stopped call.
    Log(audit::LogArgs),
    /// Registry credentials.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Create a signing key pair (cosign-compatible).
    Keygen(trust::KeygenArgs),
    /// The trust policy: whose signatures this machine accepts.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Print a shell completion script: `chitin completions bash > ~/.local/share/bash-completion/completions/chitin`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `chitin man > ~/.local/share/man/man1/chitin.1`.
    Man,
}

#[derive(clap::Args)]
struct CompletionsArgs {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

#[derive(Subcommand)]
enum ProviderCommand {
    /// Add a provider profile (the API key stays in an environment variable).
    Add(provider::AddArgs),
    /// List the profiles; `*` marks the default.
    List(provider::ListArgs),
    /// Make real requests and report what works: reachability, auth, tools, streaming.
    Check(provider::CheckArgs),
    /// Choose the default profile and its fallbacks.
    Use(provider::UseArgs),
}

#[derive(Subcommand)]
enum SessionCommand {
    /// List the sessions, most recent first.
    List(session::ListArgs),
    /// Show a session's events, compactions included.
    Show(session::ShowArgs),
    /// Write a session as JSON Lines, one event per line.
    Export(session::ExportArgs),
    /// Read a session written by `export`.
    Import(session::ImportArgs),
    /// Delete a session.
    Rm(session::RmArgs),
}

#[derive(Subcommand)]
enum TrustCommand {
    /// Show the policy in force: its files and rules.
    Show(trust::ShowArgs),
    /// Fetch Sigstore's trusted root through TUF (`public-good` then means it).
    Refresh(trust::RefreshArgs),
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Save credentials for a registry (in the docker config, like `docker login`).
    Login(lifecycle::LoginArgs),
}

#[derive(Subcommand)]
enum SkillCommand {
    /// List a skill's tools (runs its `describe()` with no capabilities).
    Tools(run::ToolsArgs),
    /// Show what a skill may do, without running it.
    Audit(audit::AuditArgs),
    /// Embed a `skill.toml` manifest into a component.
    Pack(audit::PackArgs),
    /// Publish a skill to an OCI registry (and sign it, with --sign-key).
    Push(lifecycle::PushArgs),
    /// Sign a published skill with a key; stores the signature in the registry.
    Sign(trust::SignArgs),
    /// Attach a keyless SLSA provenance attestation to a published skill.
    Attest(trust::AttestArgs),
    /// Withdraw a published version: a signed yank that installers refuse it for.
    Yank(trust::YankArgs),
    /// Check a skill against the trust policy (or one key) as install would: signature,
    /// required provenance, ceilings, yanks.
    Verify(trust::VerifyArgs),
    /// Install a skill from a registry or an OCI layout: verify, show, ask, record.
    Install(lifecycle::InstallArgs),
    /// List installed skills.
    List(lifecycle::ListArgs),
    /// Uninstall a skill.
    Remove(lifecycle::RemoveArgs),
    /// Update installed skills to what their references point at now.
    Update(lifecycle::UpdateArgs),
    /// Delete stored files no installed skill needs.
    Gc(lifecycle::GcArgs),
    /// Write an installed skill as an OCI image layout (for air-gapped machines).
    Export(lifecycle::ExportArgs),
    /// Create a skill project in Rust, JavaScript, Python or C.
    New(author::NewArgs),
    /// Build a skill project into `<name>.wasm` with its manifest embedded.
    Build(author::BuildArgs),
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Exit(pub u8, pub anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Exit {
    fn from(e: E) -> Self {
        Exit(exit::ERROR, e.into())
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::set_quiet(cli.quiet);
    let result = match cli.command {
        Command::Completions(args) => completions(args),
        Command::Man => man(),
        Command::Agent(args) => agent::agent(args),
        Command::Mcp(args) => mcp::mcp(args),
        Command::Provider(ProviderCommand::Add(args)) => provider::add(args),
        Command::Provider(ProviderCommand::List(args)) => provider::list(args),
        Command::Provider(ProviderCommand::Check(args)) => provider::check(args),
        Command::Provider(ProviderCommand::Use(args)) => provider::use_(args),
        Command::Session(SessionCommand::List(args)) => session::list(args),
        Command::Session(SessionCommand::Show(args)) => session::show(args),
        Command::Session(SessionCommand::Export(args)) => session::export(args),
        Command::Session(SessionCommand::Import(args)) => session::import(args),
        Command::Session(SessionCommand::Rm(args)) => session::rm(args),
        Command::Run(args) => run::run(args),
        Command::Skill(SkillCommand::Tools(args)) => run::tools(args),
        Command::Skill(SkillCommand::Audit(args)) => audit::audit(args),
        Command::Skill(SkillCommand::Pack(args)) => audit::pack(args),
        Command::Skill(SkillCommand::Push(args)) => lifecycle::push(args),
        Command::Skill(SkillCommand::Sign(args)) => trust::sign(args),
        Command::Skill(SkillCommand::Verify(args)) => trust::verify(args),
        Command::Skill(SkillCommand::Attest(args)) => trust::attest(args),
        Command::Skill(SkillCommand::Yank(args)) => trust::yank(args),
        Command::Keygen(args) => trust::keygen(args),
        Command::Trust(TrustCommand::Show(args)) => trust::show(args),
        Command::Trust(TrustCommand::Refresh(args)) => trust::refresh(args),
        Command::Skill(SkillCommand::Install(args)) => lifecycle::install(args),
        Command::Skill(SkillCommand::List(args)) => lifecycle::list(args),
        Command::Skill(SkillCommand::Remove(args)) => lifecycle::remove(args),
        Command::Skill(SkillCommand::Update(args)) => lifecycle::update(args),
        Command::Skill(SkillCommand::Gc(args)) => lifecycle::gc(args),
        Command::Skill(SkillCommand::Export(args)) => lifecycle::export(args),
        Command::Registry(RegistryCommand::Login(args)) => lifecycle::login(args),
        Command::Skill(SkillCommand::New(args)) => author::new(args),
        Command::Skill(SkillCommand::Build(args)) => author::build(args),
        Command::Log(args) => audit::log(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Exit(code, err)) => {
            // Errors quote manifests, tool lists, registries and toolchain output: escape
            // them like any skill text. Compiler output can be long, so the bound is wide.
            let shown = |e: &dyn std::fmt::Display| {
                let text = e.to_string();
                chitin_registry::untrusted::for_terminal(&text, 64 * 1024).into_owned()
            };
            let mut said = err.to_string();
            eprintln!("error: {}", shown(&err));
            for cause in err.chain().skip(1) {
                // A message that quotes its cause already said it.
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {}", shown(&cause));
                }
                said = text;
            }
            ExitCode::from(code)
        }
    }
}

/// `chitin completions SHELL`: the script on stdout.
fn completions(args: CompletionsArgs) -> Result<u8, Exit> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "chitin", &mut std::io::stdout());
    Ok(exit::OK)
}

/// `chitin man`: the man page of `chitin` and its commands, as roff on stdout.
fn man() -> Result<u8, Exit> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    clap_mangen::Man::new(cmd)
        .render(&mut std::io::stdout())
        .context("writing the man page")?;
    Ok(exit::OK)
}

/// Where chitin keeps its data: `$CHITIN_HOME`, else `$XDG_DATA_HOME/chitin`, else
/// `~/.local/share/chitin`.
pub fn chitin_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("CHITIN_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("chitin"));
    }
    let home = std::env::var_os("HOME").context("neither CHITIN_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/chitin"))
}

/// Where chitin's configuration lives (providers, approvals):
/// `$XDG_CONFIG_HOME/chitin`, else `~/.config/chitin` (beside the trust policy).
pub fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("chitin"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config/chitin"))
}

/// The runtime with the on-disk cache and audit log under `chitin_home()`.
pub fn open_runtime() -> anyhow::Result<chitin_host::Runtime> {
    let home = chitin_home()?;
    chitin_host::engine::create_private_dir(&home)?;
    let engine = chitin_host::SkillEngine::new(home.join("cache").join("compiled"))?;
    let audit = chitin_host::AuditLog::open(&home.join("chitin.db"))
        .with_context(|| format!("opening the database in {}", home.display()))?;
    Ok(chitin_host::Runtime::new(engine, audit))
}

/// Show `plan` and ask `question` on the terminal. With `yes`, proceed; without a
/// terminal, refuse, so nothing is ever granted silently. `plan` must come from
/// `display` (skill text already made inert).
pub fn approve(plan: &str, question: &str, yes: bool) -> Result<(), Exit> {
    use std::io::{IsTerminal, Write};
    eprint!("{plan}");
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Exit(
            exit::NOT_APPROVED,
            anyhow::anyhow!(
                "not approved: there is no terminal to ask on; pass --yes to grant what the \
                 skill declares"
            ),
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).ok();
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Exit(
            exit::NOT_APPROVED,
            anyhow::anyhow!("not approved; nothing was done"),
        ))
    }
}

/// A tokio runtime for the async host.
pub fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
