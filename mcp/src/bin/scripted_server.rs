//! A `chitin mcp` stand-in over a scripted catalogue, for the tests with real MCP
//! clients (and to try a client by hand).
//!
//!     scripted_server --state DIR [--http] [--approve TOOL]... [--page-size N]
//!
//! Over stdio by default; with `--http` it binds 127.0.0.1:0 and prints one JSON line
//! `{"url": …, "token": …}` on stdout. `DIR/version` is the catalogue's version: write
//! `2` into it and the tool `extra__added` appears. The slow tool writes
//! `DIR/slow-started` when it starts and `DIR/slow-dropped` when its future is dropped
//! before it finished; every audit entry is a line of `DIR/audit.jsonl`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chitin_agent::approval::{ApprovalConfig, Approvals};
use chitin_agent::message::ToolDef;
use chitin_agent::tools::{ToolCatalogue, ToolHints, ToolInfo, ToolOutcome};
use chitin_mcp::{CatalogueSource, ChitinMcp, HttpOptions, McpOptions};
use serde_json::{Value, json};

struct Scripted {
    dir: PathBuf,
    tools: Vec<ToolInfo>,
}

fn tool(skill: &str, name: &str, description: &str, hints: ToolHints, powers: &[&str]) -> ToolInfo {
    ToolInfo {
        def: ToolDef {
            name: format!("{skill}__{name}"),
            description: description.into(),
            input_schema: json!({
                "type": "object",
                "properties": {"text": {"type": "string"}, "seconds": {"type": "number"}}
            }),
        },
        skill: skill.into(),
        tool: name.into(),
        digest: format!("sha256:{skill}"),
        powers: powers.iter().map(|s| s.to_string()).collect(),
        hints,
        meta: json!({
            "dev.chitin/digest": format!("sha256:{skill}"),
            "dev.chitin/signer": "test-signer",
            "dev.chitin/capabilities": [format!("{skill}-caps")],
        }),
    }
}

fn catalogue_tools(version: &str) -> Vec<ToolInfo> {
    let mut tools = vec![
        tool(
            "files",
            "read",
            "Reads a file",
            ToolHints {
                read_only: true,
                destructive: false,
                open_world: false,
            },
            &[],
        ),
        tool(
            "files",
            "write",
            "Writes a file",
            ToolHints {
                read_only: false,
                destructive: true,
                open_world: false,
            },
            &["writes files in $WORKSPACE"],
        ),
        tool(
            "web",
            "fetch",
            "Fetches a page",
            ToolHints {
                read_only: false,
                destructive: false,
                open_world: true,
            },
            &[],
        ),
        tool("slow", "sleep", "Sleeps", ToolHints::default(), &[]),
        tool("broken", "fail", "Always fails", ToolHints::default(), &[]),
    ];
    if version.trim() == "2" {
        tools.push(tool(
            "extra",
            "added",
            "Added later",
            ToolHints::default(),
            &[],
        ));
    }
    tools
}

/// Writes a marker when dropped unless disarmed: proof the call's future was dropped.
struct DropMarker(Option<PathBuf>);
impl Drop for DropMarker {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::write(path, "dropped");
        }
    }
}

#[async_trait::async_trait]
impl ToolCatalogue for Scripted {
    fn tools(&self) -> Vec<ToolInfo> {
        self.tools.clone()
    }

    async fn call(&self, tool: &ToolInfo, arguments: &str, _caller: &str) -> ToolOutcome {
        let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        let ok = |content: String| ToolOutcome {
            content,
            is_error: false,
            denials: vec![],
            elapsed: Duration::from_millis(1),
        };
        match tool.def.name.as_str() {
            "files__read" | "files__write" | "extra__added" => {
                ok(json!({"tool": tool.def.name, "args": args}).to_string())
            }
            "web__fetch" => ok("plain text, not JSON".into()),
            "slow__sleep" => {
                let _ = std::fs::write(self.dir.join("slow-started"), "started");
                let mut marker = DropMarker(Some(self.dir.join("slow-dropped")));
                let secs = args
                    .get("seconds")
                    .and_then(Value::as_f64)
                    .unwrap_or(3600.0);
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                marker.0 = None;
                ok(json!({"slept": secs}).to_string())
            }
            _ => ToolOutcome {
                content: "the skill trapped: unreachable".into(),
                is_error: true,
                denials: vec!["http: example.com is not granted".into()],
                elapsed: Duration::from_millis(1),
            },
        }
    }

    fn audit(&self, caller: &str, skill: &str, tool: &str, outcome: &str, detail: &str) {
        let line = json!({"caller": caller, "skill": skill, "tool": tool, "outcome": outcome, "detail": detail});
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("audit.jsonl"))
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

struct Source(PathBuf);

fn read_version(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("version"))
        .unwrap_or_else(|_| "1".into())
        .trim()
        .to_string()
}

#[async_trait::async_trait]
impl CatalogueSource for Source {
    fn version(&self) -> String {
        read_version(&self.0)
    }
    async fn load(&self) -> Result<Arc<dyn ToolCatalogue>, String> {
        Ok(Arc::new(Scripted {
            dir: self.0.clone(),
            tools: catalogue_tools(&read_version(&self.0)),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut state = None;
    let mut http = false;
    let mut approve = Vec::new();
    let mut options = McpOptions {
        poll_interval: Duration::from_millis(100),
        ..McpOptions::default()
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--state" => state = args.next().map(PathBuf::from),
            "--http" => http = true,
            "--approve" => approve.extend(args.next()),
            "--page-size" => options.page_size = args.next().ok_or("--page-size N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let state = state.ok_or("--state DIR is required")?;
    let approvals = Approvals::in_memory(ApprovalConfig::default(), approve);
    let server = ChitinMcp::new(Arc::new(Source(state)), approvals, options).await?;
    if http {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let token = "t".repeat(16) + &"0123456789abcdef".repeat(3);
        let url = format!("http://{}/mcp", listener.local_addr()?);
        println!("{}", json!({"url": url, "token": token}));
        std::io::stdout().flush()?;
        chitin_mcp::http::serve_http_on(listener, token, server, HttpOptions::default()).await?;
    } else {
        chitin_mcp::serve_stdio(server).await?;
    }
    Ok(())
}
