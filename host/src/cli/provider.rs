//! `chitin provider add|list|check|use`: the model providers, as profiles in
//! `<config>/providers.toml`. Keys are never written there: a profile names the
//! environment variable (or the secrets-store entry) that holds its key.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chitin_agent::provider::Provider;
use chitin_agent::provider::client::Client;
use chitin_agent::provider::fallback::Fallback;
use chitin_agent::provider::profile::{Dialect, Profile, Providers};
use clap::{Args, ValueEnum};

use super::{Exit, display, exit};

#[derive(Clone, Copy, ValueEnum)]
enum DialectArg {
    Openai,
    Anthropic,
}

#[derive(Args)]
pub struct AddArgs {
    /// The profile's name (lowercase letters, digits, `-`).
    name: String,
    /// The wire dialect.
    #[arg(long, value_enum, default_value = "openai")]
    dialect: DialectArg,
    /// The API's base URL, e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`.
    #[arg(long)]
    url: String,
    /// The model name the server expects.
    #[arg(long)]
    model: String,
    /// The model's context window in tokens.
    #[arg(long)]
    context_window: Option<usize>,
    /// The environment variable holding the API key (repeat for several keys, rotated
    /// when one is rate limited).
    #[arg(long = "api-key-env", value_name = "VAR")]
    api_key_env: Vec<String>,
    /// The name of the API key in chitin's secrets store instead.
    #[arg(long, value_name = "NAME", conflicts_with = "api_key_env")]
    api_key_secret: Option<String>,
    /// Seconds to wait for an answer.
    #[arg(long)]
    timeout: Option<u64>,
    /// Allow plain http to a host that is not this machine.
    #[arg(long)]
    allow_insecure_http: bool,
    /// Ask for whole answers instead of streams (for servers that cannot stream with
    /// tools, such as llama-cpp-python's function calling).
    #[arg(long)]
    no_stream: bool,
    /// Replace a profile of the same name.
    #[arg(long)]
    force: bool,
    /// Print one JSON document on stdout: `{name, file, default}`.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// Print one JSON document on stdout: the profiles, as in providers.toml.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CheckArgs {
    /// The profile [default: the default profile].
    name: Option<String>,
    /// Print one JSON document on stdout: each check with its outcome.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct UseArgs {
    /// The profile to use when none is named.
    name: String,
    /// Profiles to fall back on, in order, when it fails (timeouts, 429, 5xx).
    #[arg(long, value_delimiter = ',')]
    fallback: Option<Vec<String>>,
    /// Print one JSON document on stdout: `{default, fallback}`.
    #[arg(long)]
    json: bool,
}

/// `<config>/providers.toml`.
pub fn providers_path() -> anyhow::Result<PathBuf> {
    Ok(super::config_dir()?.join("providers.toml"))
}

pub fn load_providers() -> anyhow::Result<Providers> {
    let path = providers_path()?;
    Ok(Providers::load(&path)?)
}

/// The secrets store, for profiles whose key is kept there.
fn secret_lookup(home: &Path) -> impl Fn(&str) -> Option<String> {
    let secrets_file = home.join("secrets.toml");
    move |name: &str| {
        chitin_host::capabilities::secrets::read_secrets_file(&secrets_file)
            .ok()
            .and_then(|s| s.get(name).cloned())
    }
}

/// The client of one profile, its key resolved now.
fn client(profile: &Profile, home: &Path) -> anyhow::Result<Client> {
    let keys = profile.resolve_keys(&secret_lookup(home))?;
    Ok(Client::new(profile.clone(), keys)?)
}

/// The provider for a turn: the named profile (or the default), then its fallbacks.
pub fn build(
    providers: &Providers,
    name: Option<&str>,
    home: &Path,
) -> anyhow::Result<Box<dyn Provider>> {
    if providers.profiles.is_empty() {
        anyhow::bail!(
            "no model provider is set up; add one with `chitin provider add NAME --url URL \
             --model MODEL` (see the README)"
        );
    }
    Ok(Box::new(Fallback::from_providers(
        providers,
        name,
        &secret_lookup(home),
    )?))
}

pub fn add(args: AddArgs) -> Result<u8, Exit> {
    let path = providers_path()?;
    let mut providers = Providers::load(&path)?;
    let dialect = match args.dialect {
        DialectArg::Openai => Dialect::Openai,
        DialectArg::Anthropic => Dialect::Anthropic,
    };
    let mut profile = Profile::new(&args.name, dialect, &args.url, &args.model);
    if let Some(w) = args.context_window {
        profile.context_window = w;
    }
    if let Some(t) = args.timeout {
        profile.timeout_secs = t;
    }
    profile.api_key_env = args.api_key_env;
    profile.api_key_secret = args.api_key_secret;
    profile.allow_insecure_http = args.allow_insecure_http;
    profile.stream = !args.no_stream;
    if args.force {
        let _ = providers.remove(&args.name);
    }
    providers
        .add(profile)
        .map_err(|e| Exit(exit::USAGE, e.into()))?;
    if providers.default.is_none() {
        providers.default = Some(args.name.clone());
    }
    providers.save(&path)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "name": args.name, "file": path, "default": providers.default })
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "added provider {} ({}); check it with `chitin provider check {}`",
        args.name,
        path.display(),
        args.name
    );
    Ok(exit::OK)
}

pub fn list(args: ListArgs) -> Result<u8, Exit> {
    let providers = load_providers()?;
    if args.json {
        println!("{}", display::json(&providers)?);
        return Ok(exit::OK);
    }
    if providers.profiles.is_empty() {
        eprintln!("no provider profiles; add one with `chitin provider add`");
    }
    for p in &providers.profiles {
        let mark = if providers.default.as_deref() == Some(&p.name) {
            "*"
        } else {
            " "
        };
        let key = match (&p.api_key_secret, p.api_key_env.as_slice()) {
            (Some(s), _) => format!("key: secret {s}"),
            (None, []) => "no key".to_string(),
            (None, vars) => format!("key: ${}", vars.join(", $")),
        };
        println!(
            "{mark} {}  {:?}  {}  {}  {} tokens  {key}",
            p.name,
            p.dialect,
            display::field(&p.base_url),
            display::field(&p.model),
            p.context_window
        );
    }
    if !providers.fallback.is_empty() {
        println!("fallback: {}", providers.fallback.join(" → "));
    }
    Ok(exit::OK)
}

pub fn check(args: CheckArgs) -> Result<u8, Exit> {
    let providers = load_providers()?;
    let name = match args.name.or(providers.default.clone()) {
        Some(n) => n,
        None => {
            return Err(Exit(
                exit::USAGE,
                anyhow::anyhow!("name the profile to check: `chitin provider check NAME`"),
            ));
        }
    };
    let home = super::chitin_home()?;
    let client = client(providers.get(&name)?, &home)?;
    let report = super::tokio()?.block_on(chitin_agent::provider::check::check(&client));
    if args.json {
        println!("{}", display::json(&report)?);
    } else {
        println!("{} ({})", report.profile, display::field(&report.model));
        for item in &report.items {
            println!(
                "  {} {:<13} {}",
                if item.ok { "✓" } else { "✗" },
                item.name,
                display::field(&item.message)
            );
        }
    }
    Ok(if report.ok() { exit::OK } else { exit::ERROR })
}

pub fn use_(args: UseArgs) -> Result<u8, Exit> {
    let path = providers_path()?;
    let mut providers = Providers::load(&path).context("reading the provider profiles")?;
    providers
        .set_default(&args.name)
        .map_err(|e| Exit(exit::USAGE, e.into()))?;
    if let Some(chain) = args.fallback {
        providers
            .set_fallback(chain)
            .map_err(|e| Exit(exit::USAGE, e.into()))?;
    }
    providers.save(&path)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "default": args.name, "fallback": providers.fallback })
        );
        return Ok(exit::OK);
    }
    eprintln!("chitin agent now uses {}", args.name);
    Ok(exit::OK)
}
