//! The MCP server handler: `tools/list` and `tools/call` over a live catalogue.
//!
//! Tools are listed in the catalogue's order with their exposed names
//! (`skill__tool`), schemas, annotations from the skill's granted capabilities and
//! `_meta` facts (digest, signer, capabilities, powers). A call goes through the same
//! approvals as the agent's; `ask` is put to the user through MCP elicitation when
//! the client can, else refused with how to pre-approve. The catalogue is polled for
//! changes; a change is loaded, swapped in and announced with
//! `notifications/tools/list_changed`.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use chitin_agent::approval::{Answer, ApprovalRequest, Approvals, Decision};
use chitin_agent::tools::{ToolCatalogue, ToolInfo, ToolOutcome};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequestParams,
    ElicitationAction, ElicitationSchema, ErrorData, Implementation, JsonObject, ListToolsResult,
    MetaObject, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{ElicitationMode, NotificationContext, Peer, RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::{Value, json};

use crate::McpServerError;

/// Where the catalogue comes from, and how to tell it changed.
#[async_trait::async_trait]
pub trait CatalogueSource: Send + Sync + 'static {
    /// A cheap fingerprint of the installed set (e.g. the store's install log
    /// position); polled, so it must not load anything.
    fn version(&self) -> String;

    /// Load the catalogue for the installed set as it is now.
    async fn load(&self) -> Result<Arc<dyn ToolCatalogue>, String>;
}

/// Knobs of the server; the defaults suit `chitin mcp`, tests make them small.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// How often [`CatalogueSource::version`] is polled.
    pub poll_interval: Duration,
    /// How often a running call with a `progressToken` reports progress.
    pub progress_interval: Duration,
    /// How long the user has to answer an approval question.
    pub elicitation_timeout: Duration,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            poll_interval: Duration::from_millis(500),
            progress_interval: Duration::from_secs(1),
            elicitation_timeout: Duration::from_secs(300),
        }
    }
}

/// The catalogue in force, and the version it was loaded for.
struct Live {
    version: String,
    catalogue: Arc<dyn ToolCatalogue>,
    tools: Arc<Vec<ToolInfo>>,
}

struct Shared {
    source: Arc<dyn CatalogueSource>,
    live: RwLock<Live>,
    /// A version whose load failed: not retried until the version moves again.
    failed_version: Mutex<Option<String>>,
    /// Shared with every session: `session` answers hold for this server's run.
    approvals: Mutex<Approvals>,
    /// Every initialized client, to tell about catalogue changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    options: McpOptions,
}

/// The MCP server over the installed skills. Cheap to clone: every clone (one per
/// HTTP session) shares the catalogue, the approvals and the list of clients.
#[derive(Clone)]
pub struct ChitinMcp {
    shared: Arc<Shared>,
}

impl ChitinMcp {
    /// Load the catalogue and start watching `source` for changes (for as long as a
    /// clone of the server lives). Needs a Tokio runtime.
    pub async fn new(
        source: Arc<dyn CatalogueSource>,
        approvals: Approvals,
        options: McpOptions,
    ) -> Result<Self, McpServerError> {
        let version = source.version();
        let catalogue = source.load().await.map_err(McpServerError::Load)?;
        let tools = Arc::new(catalogue.tools());
        let shared = Arc::new(Shared {
            source,
            live: RwLock::new(Live {
                version,
                catalogue,
                tools,
            }),
            failed_version: Mutex::new(None),
            approvals: Mutex::new(approvals),
            peers: Mutex::new(Vec::new()),
            options,
        });
        tokio::spawn(watch(Arc::downgrade(&shared)));
        Ok(Self { shared })
    }

    /// The catalogue in force now.
    pub fn catalogue(&self) -> Arc<dyn ToolCatalogue> {
        read(&self.shared.live).catalogue.clone()
    }

    /// Load the catalogue again if its source's version moved; tell every client.
    /// Returns whether it changed. Called by the watcher; public for tests and for a
    /// host that knows it just installed something.
    pub async fn refresh(&self) -> bool {
        refresh(&self.shared).await
    }

    fn snapshot(&self) -> (Arc<dyn ToolCatalogue>, Arc<Vec<ToolInfo>>) {
        let live = read(&self.shared.live);
        (live.catalogue.clone(), live.tools.clone())
    }
}

/// Serve one client over stdin/stdout until it disconnects.
pub async fn serve_stdio(server: ChitinMcp) -> Result<(), McpServerError> {
    let running = server
        .serve(crate::stdio::stdio())
        .await
        .map_err(|e| McpServerError::Session(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpServerError::Session(e.to_string()))?;
    Ok(())
}

/// Poll the source until the server is gone.
async fn watch(shared: Weak<Shared>) {
    let interval = match shared.upgrade() {
        Some(s) => s.options.poll_interval,
        None => return,
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        refresh(&shared).await;
    }
}

async fn refresh(shared: &Arc<Shared>) -> bool {
    let version = shared.source.version();
    if version == read(&shared.live).version
        || lock(&shared.failed_version).as_deref() == Some(version.as_str())
    {
        return false;
    }
    let catalogue = match shared.source.load().await {
        Ok(c) => c,
        Err(_) => {
            // Keep serving the catalogue we have; try again when the version moves.
            *lock(&shared.failed_version) = Some(version);
            return false;
        }
    };
    let tools = Arc::new(catalogue.tools());
    *write(&shared.live) = Live {
        version,
        catalogue,
        tools,
    };
    *lock(&shared.failed_version) = None;
    // Calls in flight hold their own `Arc` of the old catalogue and finish with it.
    let peers: Vec<Peer<RoleServer>> = lock(&shared.peers).clone();
    for peer in &peers {
        // A client that went away fails here; it is dropped from the list below.
        let _ = peer.notify_tool_list_changed().await;
    }
    lock(&shared.peers).retain(|p| !p.is_transport_closed());
    true
}

// A poisoned lock only means another call panicked mid-update of plain data: keep
// serving rather than take every later call down with it.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// The MCP form of a tool: annotations from the granted capabilities (never from the
/// skill author's word), `_meta` from the catalogue plus the powers.
pub fn mcp_tool(info: &ToolInfo) -> Tool {
    let schema: JsonObject = match &info.def.input_schema {
        Value::Object(map) => map.clone(),
        // Every MCP tool takes an object; a schema that is not one says nothing.
        _ => json!({"type": "object"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let mut meta = match &info.meta {
        Value::Object(map) => map.clone(),
        _ => JsonObject::new(),
    };
    meta.insert("dev.chitin/skill".into(), json!(info.skill));
    meta.insert("dev.chitin/tool".into(), json!(info.tool));
    meta.insert("dev.chitin/powers".into(), json!(info.powers));
    // `idempotentHint` is not claimed: nothing in a grant says so.
    let annotations = ToolAnnotations::new()
        .read_only(info.hints.read_only)
        .destructive(info.hints.destructive)
        .open_world(info.hints.open_world);
    Tool::new(
        info.def.name.clone(),
        info.def.description.clone(),
        Arc::new(schema),
    )
    .with_annotations(annotations)
    .with_meta(MetaObject(meta))
}

/// `mcp:<client name>` with only `[A-Za-z0-9._-]` kept: the name is the client's word
/// and ends up in the audit log.
fn caller_name(context: &RequestContext<RoleServer>) -> String {
    let name: String = context
        .client_info()
        .map(|i| i.name)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    if name.is_empty() {
        "mcp:unknown".into()
    } else {
        format!("mcp:{name}")
    }
}

/// A tool result the client shows its user: the tool failed or was not run.
fn error_result(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn outcome_result(outcome: ToolOutcome) -> CallToolResult {
    let mut meta = JsonObject::new();
    meta.insert(
        "dev.chitin/elapsedMs".into(),
        json!(outcome.elapsed.as_secs_f64() * 1000.0),
    );
    if !outcome.denials.is_empty() {
        meta.insert("dev.chitin/denials".into(), json!(outcome.denials));
    }
    let result = if outcome.is_error {
        let mut text = outcome.content;
        if !outcome.denials.is_empty() {
            text.push_str("\n\nrefused by the host: ");
            text.push_str(&outcome.denials.join("; "));
        }
        error_result(text)
    } else {
        let structured = serde_json::from_str::<Value>(&outcome.content)
            .ok()
            .filter(Value::is_object);
        let mut r = CallToolResult::success(vec![ContentBlock::text(outcome.content)]);
        r.structured_content = structured;
        r
    };
    result.with_meta(Some(MetaObject(meta)))
}

/// Client input echoed into a message or the audit log: bounded.
fn clip(s: &str) -> String {
    let clipped: String = s.chars().take(128).collect();
    if clipped.len() < s.len() {
        format!("{clipped}…")
    } else {
        clipped
    }
}

impl ChitinMcp {
    /// Decide whether the call may run: standing approvals first, then the user
    /// through elicitation when the client offers it.
    async fn approve(
        &self,
        tool: &ToolInfo,
        arguments: &str,
        context: &RequestContext<RoleServer>,
    ) -> Decision {
        let standing = lock(&self.shared.approvals).standing(tool, arguments);
        match standing {
            Ok(Some(decision)) => return decision,
            Ok(None) => {}
            Err(e) => return Decision::Refused(format!("approvals: {e}")),
        }
        let request = ApprovalRequest::new(tool, arguments);
        let can_ask = context
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form);
        let answer = if can_ask {
            match self.elicit(&request, context).await {
                Ok(answer) => Some(answer),
                Err(e) => return Decision::Refused(e),
            }
        } else {
            None
        };
        lock(&self.shared.approvals)
            .answer(tool, &request, answer)
            .unwrap_or_else(|e| Decision::Refused(format!("approvals: {e}")))
    }

    /// Ask the user through the client: one required choice. Declining or dismissing
    /// the form is `no`; accepting without a valid choice is `once` (the user said
    /// yes, and `once` is the narrowest yes).
    async fn elicit(
        &self,
        request: &ApprovalRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<Answer, String> {
        let schema = ElicitationSchema::from_json_schema(
            json!({
                "type": "object",
                "properties": {
                    "answer": {
                        "type": "string",
                        "title": "Allow this call?",
                        "enum": ["once", "session", "always", "no"],
                        "enumNames": [
                            "Yes, this call only",
                            "Yes, for this session",
                            "Yes, always (until the skill changes)",
                            "No"
                        ]
                    }
                },
                "required": ["answer"]
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        )
        .map_err(|e| format!("approval form: {e}"))?;
        let powers = if request.powers.is_empty() {
            "nothing beyond reading".to_string()
        } else {
            request.powers.join("; ")
        };
        let message = format!(
            "Allow `{}` (skill {}, tool {}) to run? It {}. Arguments: {}",
            request.exposed_name,
            request.skill,
            request.tool,
            powers,
            clip(&request.arguments)
        );
        let ask = context.peer.create_elicitation_with_timeout(
            ElicitRequestParams::FormElicitationParams {
                meta: None,
                message,
                requested_schema: schema,
            },
            Some(self.shared.options.elicitation_timeout),
        );
        let result = tokio::select! {
            r = ask => r.map_err(|e| format!("could not ask the user: {e}"))?,
            _ = context.ct.cancelled() => return Err("cancelled".into()),
        };
        Ok(match result.action {
            ElicitationAction::Accept => {
                let choice = result
                    .content
                    .as_ref()
                    .and_then(|c| c.get("answer"))
                    .and_then(Value::as_str);
                match choice {
                    Some("session") => Answer::Session,
                    Some("always") => Answer::Always,
                    Some("no") => Answer::No,
                    _ => Answer::Once,
                }
            }
            // Declined, dismissed, or anything newer than this code knows.
            _ => Answer::No,
        })
    }

    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = caller_name(&context);
        // The call keeps this catalogue even if a newer one is swapped in meanwhile.
        let (catalogue, tools) = self.snapshot();
        let Some(tool) = tools.iter().find(|t| t.def.name == request.name) else {
            let name = clip(&request.name);
            catalogue.audit(
                &caller,
                "",
                &name,
                "refused",
                &format!("{caller}: no such tool"),
            );
            return Ok(error_result(format!(
                "there is no tool named `{name}`; tools/list has the installed ones"
            )));
        };
        // rmcp only accepts an object (or nothing) for `arguments`.
        let arguments = Value::Object(request.arguments.unwrap_or_default()).to_string();

        match self.approve(tool, &arguments, &context).await {
            Decision::Allowed(why) => {
                if lock(&self.shared.approvals).worth_auditing(tool, &why) {
                    catalogue.audit(
                        &caller,
                        &tool.skill,
                        &tool.tool,
                        "approved",
                        &format!("{caller}: {why}"),
                    );
                }
            }
            Decision::Refused(why) => {
                if context.ct.is_cancelled() {
                    catalogue.audit(&caller, &tool.skill, &tool.tool, "cancelled", &caller);
                    return Err(ErrorData::internal_error("cancelled", None));
                }
                catalogue.audit(
                    &caller,
                    &tool.skill,
                    &tool.tool,
                    "refused",
                    &format!("{caller}: {why}"),
                );
                return Ok(error_result(format!(
                    "`{}` was not run: {why}",
                    tool.def.name
                )));
            }
        }

        let progress_token = context.meta.get_progress_token();
        // Boxed by the trait, so it is ours to drop.
        let mut call = catalogue.call(tool, &arguments, &caller);
        let started = Instant::now();
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + self.shared.options.progress_interval,
            self.shared.options.progress_interval,
        );
        let outcome = loop {
            tokio::select! {
                outcome = &mut call => break outcome,
                _ = context.ct.cancelled() => {
                    // Dropping the call's future stops the wasm and what it started.
                    drop(call);
                    catalogue.audit(&caller, &tool.skill, &tool.tool, "cancelled", &caller);
                    // rmcp drops the response to a cancelled request: this is never sent.
                    return Err(ErrorData::internal_error("cancelled", None));
                }
                _ = ticker.tick(), if progress_token.is_some() => {
                    let secs = started.elapsed().as_secs();
                    let Some(token) = progress_token.clone() else { continue };
                    let param = ProgressNotificationParam::new(token, secs as f64)
                        .with_message(format!("running {}, {secs} s", tool.def.name));
                    // A client that cannot take a notification still gets its result.
                    let _ = context.peer.notify_progress(param).await;
                }
            }
        };
        Ok(outcome_result(outcome))
    }
}

impl ServerHandler for ChitinMcp {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        );
        info.server_info = Implementation::new("chitin", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "The tools are the user's installed chitin skills, each run in a sandbox with \
             only the capabilities the user granted at install."
                .into(),
        );
        info
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (_, tools) = self.snapshot();
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(cursor) => decode_cursor(&cursor)
                .filter(|&n| n <= tools.len())
                .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))?,
        };
        let page = self.shared.options.page_size.max(1);
        let end = (start + page).min(tools.len());
        let mut result =
            ListToolsResult::with_all_items(tools[start..end].iter().map(mcp_tool).collect());
        result.next_cursor = (end < tools.len()).then(|| encode_cursor(end));
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request, context)
            .await
            .map(CallToolResponse::from)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut peers = lock(&self.shared.peers);
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer);
    }
}

// The cursor is opaque to clients; hex of `tools:<offset>` keeps it so without state.
fn encode_cursor(offset: usize) -> String {
    hex::encode(format!("tools:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = hex::decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.strip_prefix("tools:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(200)), Some(200));
        for bad in ["", "zz", "746f6f6c733a", "6f746865723a31"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
