//! `chitin mcp`: the installed skills as an MCP server, over stdio or Streamable HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chitin_agent::approval::{ApprovalConfig, Approvals};
use chitin_agent::tools::ToolCatalogue;
use chitin_host::catalogue::{SkillCatalogue, installed_version};
use chitin_host::{HostEnv, Runtime};
use chitin_mcp::{CatalogueSource, ChitinMcp, HttpOptions, McpOptions};
use chitin_registry::store::Store;
use chitin_registry::trust::TrustPolicy;
use clap::Args;

use super::{Exit, display, exit};

/// Where `chitin mcp --http` listens when no address is given.
const DEFAULT_ADDR: &str = "127.0.0.1:7457";

#[derive(Args)]
pub struct McpArgs {
    /// Serve over Streamable HTTP (on 127.0.0.1:7457, or ADDR) instead of stdio.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_ADDR)]
    http: Option<SocketAddr>,
    /// Serve only the tools of these installed skills.
    #[arg(long = "skill", value_name = "SKILL")]
    skills: Vec<String>,
    /// Run calls of this tool (`skill__tool`) or skill without asking.
    #[arg(long = "approve", value_name = "TOOL")]
    approve: Vec<String>,
    /// The folder `$WORKSPACE` stands for [default: the current folder].
    #[arg(long, short)]
    workspace: Option<PathBuf>,
    /// The bearer token HTTP clients must send [default: the one in
    /// ~/.config/chitin/mcp-token, created at first start].
    #[arg(long, env = "CHITIN_MCP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Also accept requests from this browser origin (`https://host:port`).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
}

/// The installed skills, reloaded when the installed set changes.
struct Installed {
    runtime: Arc<Runtime>,
    store: Mutex<Store>,
    policy: TrustPolicy,
    env: HostEnv,
    only: Option<Vec<String>>,
}

#[async_trait::async_trait]
impl CatalogueSource for Installed {
    fn version(&self) -> String {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        // An unreadable index is a version of its own: the load will say why.
        installed_version(&store).unwrap_or_else(|e| format!("error: {e}"))
    }

    async fn load(&self) -> Result<Arc<dyn ToolCatalogue>, String> {
        // The store is read (and closed) before the first await: it is not Sync.
        let verified = {
            let store = super::lifecycle::open_store().map_err(|e| format!("{e:#}"))?;
            SkillCatalogue::verify(
                self.runtime.clone(),
                &store,
                &self.policy,
                &self.env,
                self.only.as_deref(),
            )
            .map_err(|e| e.to_string())?
        };
        let (catalogue, skipped) = verified.describe().await.map_err(|e| e.to_string())?;
        for s in &skipped {
            eprintln!(
                "chitin mcp: the skill {} is left out: {}",
                display::field(&s.skill),
                display::field(&s.error.to_string())
            );
        }
        Ok(Arc::new(catalogue))
    }
}

pub fn mcp(args: McpArgs) -> Result<u8, Exit> {
    let home = super::chitin_home()?;
    let config = super::config_dir()?;
    let runtime = Arc::new(super::open_runtime()?);
    let workspace = match &args.workspace {
        Some(w) => w.clone(),
        None => std::env::current_dir().context("finding the current folder")?,
    };
    let env = HostEnv::from_process(workspace, Some(&home), Some(&home.join("secrets.toml")))?;
    let source = Arc::new(Installed {
        runtime,
        store: Mutex::new(super::lifecycle::open_store()?),
        policy: super::trust::load_policy(None)?,
        env,
        only: (!args.skills.is_empty()).then(|| args.skills.clone()),
    });
    // Approvals are the agent's: same file, same stored answers, a session per run.
    let approvals = Approvals::open(
        &home.join("chitin.db"),
        ApprovalConfig::load(&config.join("approvals.toml"))?,
        args.approve.clone(),
        &format!("mcp-{}", std::process::id()),
    )?;
    // Over stdio there is one client on one pipe: a single thread serves it without a
    // cross-thread wake-up per message. Its calls still run concurrently: wasm yields at
    // every epoch tick, and host calls (HTTP, programs) are awaited.
    let tokio = match args.http {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?,
        Some(_) => super::tokio()?,
    };
    tokio.block_on(async {
        let server = ChitinMcp::new(source, approvals, McpOptions::default()).await?;
        match args.http {
            None => chitin_mcp::serve_stdio(server).await?,
            Some(addr) => {
                let token = match args.token {
                    Some(t) if !t.is_empty() => t,
                    _ => {
                        let path = config.join("mcp-token");
                        let token = chitin_mcp::load_or_create_token(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        eprintln!("chitin mcp: the bearer token is in {}", path.display());
                        token
                    }
                };
                let options = HttpOptions {
                    allowed_origins: args.allow_origins.clone(),
                    ..HttpOptions::default()
                };
                eprintln!("chitin mcp: serving Streamable HTTP on http://{addr}/mcp");
                chitin_mcp::serve_http(addr, token, server, options).await?;
            }
        }
        anyhow::Ok(())
    })?;
    tokio.shutdown_background();
    Ok(exit::OK)
}
