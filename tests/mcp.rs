//! `chitin mcp` with real MCP clients — the official Python SDK
//! (`scripts/mcp-clients/client.py`) and the MCP Inspector's CLI — and real skills,
//! signed, pushed to the real CNCF registry and installed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chitin_tests::Publisher;
use chitin_tests::real_registry::RealRegistry;
use chitin_tests::user::{User, chitin_bin, stderr};
use serde_json::Value;

fn publisher() -> &'static Publisher {
    static PUBLISHER: std::sync::OnceLock<Publisher> = std::sync::OnceLock::new();
    PUBLISHER.get_or_init(Publisher::new)
}

fn clients_dir() -> PathBuf {
    std::env::var_os("CHITIN_MCP_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/chitin/mcp-clients")
        })
}

fn client_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/mcp-clients/client.py")
}

/// A user with skills installed from a real registry, and `ro/a.txt` in the workspace.
fn user_with(reg: &RealRegistry, skills: &[&str]) -> User {
    let user = User::with_skills(reg, publisher(), skills);
    std::fs::write(user.ws.path().join("ro/a.txt"), "alpha").unwrap();
    user
}

fn install(reg: &RealRegistry, user: &User, name: &str) {
    user.install(reg, publisher(), name);
}

/// `chitin mcp ARGS` as the command line a stdio client starts. The Python SDK gives
/// the server only a minimal environment, so the user's is set with `env`.
fn stdio_command(user: &User, extra: &[&str]) -> String {
    let mut parts = vec![
        "env".to_string(),
        format!("CHITIN_HOME={}", user.home.path().display()),
    ];
    parts.extend(user.env.iter().map(|(k, v)| format!("{k}='{v}'")));
    parts.push(chitin_bin().display().to_string());
    parts.push("mcp".to_string());
    parts.extend(extra.iter().map(|s| s.to_string()));
    parts.join(" ")
}

/// Run the Python SDK client; returns its last JSON line.
fn python_client(user: &User, transport: &[&str], args: &[&str]) -> Value {
    let python = clients_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "the MCP Python SDK is not installed at {}; run scripts/setup.sh",
        python.display()
    );
    let mut cmd = Command::new(python);
    cmd.arg(client_script())
        .args(transport)
        .args(args)
        .env("CHITIN_HOME", user.home.path())
        .current_dir(user.ws.path())
        .stdin(Stdio::null());
    for (k, v) in &user.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "client {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("client output")).unwrap()
}

fn over_stdio(user: &User, args: &[&str]) -> Value {
    let command = stdio_command(user, &[]);
    python_client(user, &["--stdio", &command], args)
}

fn tools(list: &Value) -> Vec<Value> {
    list["tools"].as_array().unwrap().clone()
}

fn tool<'a>(tools: &'a [Value], name: &str) -> &'a Value {
    tools
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name} in {tools:#?}"))
}

fn audit_log(user: &User) -> Vec<Value> {
    serde_json::from_str(&user.ok(&["log", "--json"])).unwrap()
}

#[test]
fn tools_carry_annotations_and_facts_from_the_signed_declaration() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["file-search", "probe"]);
    let listed = tools(&over_stdio(&user, &["list"]));
    let search = tool(&listed, "file-search__search");
    // file-search may only read: read-only, not destructive, closed world.
    assert_eq!(search["annotations"]["readOnlyHint"], true, "{search:#}");
    assert_eq!(search["annotations"]["destructiveHint"], false);
    assert_eq!(search["annotations"]["openWorldHint"], false);
    assert!(search["inputSchema"]["properties"]["pattern"].is_object());
    let meta = &search["_meta"];
    assert!(
        meta["dev.chitin/digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // Signed by the test publisher's key: the signer names it, it is not "unsigned".
    let signer = meta["dev.chitin/signer"].as_str().unwrap();
    assert!(!signer.is_empty() && signer != "unsigned", "{signer}");
    assert!(
        meta["dev.chitin/capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "fs read $WORKSPACE")
    );
    // The probe writes files, runs programs and reaches the network.
    let noop = tool(&listed, "probe__noop");
    assert_eq!(noop["annotations"]["readOnlyHint"], false);
    assert_eq!(noop["annotations"]["destructiveHint"], true);
    assert_eq!(noop["annotations"]["openWorldHint"], true);
    // Deterministic order: by skill, then the skill's own order.
    let names: Vec<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let again = tools(&over_stdio(&user, &["list"]));
    let names_again: Vec<&str> = again.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, names_again);
    assert!(
        names.iter().position(|n| n.starts_with("file-search"))
            < names.iter().position(|n| n.starts_with("probe"))
    );
}

#[test]
fn a_call_runs_under_the_grants_and_an_escape_is_an_error_result() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["file-search", "probe"]);
    let result = over_stdio(
        &user,
        &["call", "file-search__read", r#"{"path":"ro/a.txt"}"#],
    );
    assert_ne!(result["isError"], true, "{result:#}");
    assert!(result["structuredContent"].is_object(), "{result:#}");
    assert!(result.to_string().contains("alpha"));

    // An escape: outside the workspace. An error result, the denial, an audit row.
    let result = over_stdio(
        &user,
        &["call", "file-search__read", r#"{"path":"/etc/passwd"}"#],
    );
    assert_eq!(result["isError"], true, "{result:#}");
    let audit = audit_log(&user);
    assert!(
        audit.iter().any(|e| e["skill"] == "file-search"
            && e["outcome"] == "denied"
            && e["caller"] == "mcp:chitin-e2eclient"),
        "{audit:#?}"
    );
    // An `ask` tool (the probe has powers) without elicitation: refused, says how.
    let result = over_stdio(&user, &["call", "probe__noop", "{}"]);
    assert_eq!(result["isError"], true, "{result:#}");
    assert!(result.to_string().contains("--approve"), "{result:#}");
}

#[test]
fn an_ask_tool_is_approved_through_elicitation() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["probe"]);
    let result = over_stdio(&user, &["elicit", "probe__noop", "{}", "once"]);
    assert_eq!(result["asked"].as_array().unwrap().len(), 1, "{result:#}");
    assert_ne!(result["results"][0]["isError"], true, "{result:#}");
    let declined = over_stdio(&user, &["elicit", "probe__noop", "{}", "decline"]);
    assert_eq!(declined["results"][0]["isError"], true, "{declined:#}");
    // `always` is stored: a later server run calls the tool without asking, even for
    // a client that cannot be asked (which was refused before).
    let before = over_stdio(&user, &["call", "probe__noop", "{}"]);
    assert_eq!(before["isError"], true, "{before:#}");
    let always = over_stdio(&user, &["elicit", "probe__noop", "{}", "always"]);
    assert_ne!(always["results"][0]["isError"], true, "{always:#}");
    let later = over_stdio(&user, &["call", "probe__noop", "{}"]);
    assert_ne!(later["isError"], true, "{later:#}");
    let audit = audit_log(&user);
    assert!(
        audit
            .iter()
            .any(|e| e["tool"] == "noop" && e["outcome"] == "approved")
    );
    assert!(
        audit
            .iter()
            .any(|e| e["tool"] == "noop" && e["outcome"] == "refused")
    );
}

#[test]
fn cancelling_a_call_stops_the_instance() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["probe"]);
    let command = stdio_command(&user, &["--approve", "probe"]);
    // `spin` loops until the probe's 3 s limit; cancelled after 300 ms.
    let started = Instant::now();
    let result = python_client(
        &user,
        &["--stdio", &command],
        &["cancel", "probe__spin", "{}", "--after-ms", "300"],
    );
    assert_eq!(result["cancelled"], true, "{result:#}");
    assert!(result["listedAfter"].as_u64().unwrap() > 0, "{result:#}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let audit = audit_log(&user);
    assert!(
        audit
            .iter()
            .any(|e| e["tool"] == "spin" && e["outcome"] == "cancelled"),
        "{audit:#?}"
    );
    // Not stopped by its time limit: the cancellation came first.
    assert!(
        !audit
            .iter()
            .any(|e| e["tool"] == "spin" && e["outcome"] == "stopped"),
        "{audit:#?}"
    );
}

#[test]
fn installing_a_skill_while_serving_announces_the_new_tools() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["file-search"]);
    // The client waits for list_changed; meanwhile, install another skill.
    let python = clients_dir().join("venv/bin/python");
    let command = stdio_command(&user, &[]);
    let mut cmd = Command::new(python);
    cmd.arg(client_script())
        .args(["--stdio", &command, "--timeout", "60", "watch"])
        .env("CHITIN_HOME", user.home.path())
        .current_dir(user.ws.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &user.env {
        cmd.env(k, v);
    }
    let child: Child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    install(&reg, &user, "wordcount");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(result["changed"], true, "{result:#}");
    let after: Vec<&str> = result["after"]
        .as_array()
        .unwrap_or_else(|| panic!("{result:#}"))
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        after.iter().any(|n| n.starts_with("wordcount__")),
        "{result:#}"
    );
}

/// `chitin mcp --http` on a free port, with a token.
struct HttpServer {
    child: Child,
    url: String,
    token: String,
}

impl HttpServer {
    fn start(user: &User, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = "test-token-0123456789abcdef".to_string();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(chitin_bin());
        cmd.args(["mcp", "--http", &addr])
            .args(extra)
            .env("CHITIN_HOME", user.home.path())
            .env("CHITIN_MCP_TOKEN", &token)
            .current_dir(user.ws.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &user.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chitin mcp --http did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://{addr}/mcp"),
            token,
        }
    }

    fn client(&self, user: &User, args: &[&str]) -> Value {
        python_client(user, &["--http", &self.url, "--token", &self.token], args)
    }

    /// A raw POST: the status code.
    fn post(&self, headers: &[(&str, &str)], body: &str) -> u16 {
        use std::io::{Read, Write};
        let addr = self
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut req = format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok();
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

#[test]
fn http_needs_the_token_and_a_local_origin() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["file-search"]);
    let server = HttpServer::start(&user, &[]);
    let bearer = format!("Bearer {}", server.token);
    assert_eq!(server.post(&[], INITIALIZE), 401, "no token");
    assert_eq!(
        server.post(&[("Authorization", "Bearer wrong")], INITIALIZE),
        401,
        "wrong token"
    );
    assert_eq!(
        server.post(
            &[
                ("Authorization", &bearer),
                ("Origin", "https://evil.example")
            ],
            INITIALIZE
        ),
        403,
        "foreign origin"
    );
    assert_eq!(server.post(&[("Authorization", &bearer)], INITIALIZE), 200);
    // The real client over HTTP, and a malformed body that does not stop the server.
    let raw = server.client(&user, &["raw"]);
    assert_eq!(raw["status"], 400, "{raw:#}");
    assert!(raw["listedAfter"].as_u64().unwrap() > 0, "{raw:#}");
    let listed = tools(&server.client(&user, &["list"]));
    assert!(listed.iter().any(|t| t["name"] == "file-search__read"));
}

#[test]
fn fifty_http_clients_at_once_are_all_answered() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["file-search"]);
    let server = HttpServer::start(&user, &[]);
    let result = server.client(
        &user,
        &["many", "file-search__list", "{}", "--clients", "50"],
    );
    let results = result["results"].as_array().unwrap();
    assert_eq!(results.len(), 50);
    for r in results {
        assert!(r.get("clientError").is_none(), "{r:#}");
        assert_ne!(r["isError"], true, "{r:#}");
    }
}

#[test]
fn the_inspector_cli_lists_and_calls_over_stdio() {
    let reg = RealRegistry::start(None);
    let user = user_with(&reg, &["file-search"]);
    let inspector = clients_dir().join("node_modules/@modelcontextprotocol/inspector-cli/build");
    assert!(
        inspector.join("index.js").exists(),
        "the MCP Inspector CLI is not installed at {}; run scripts/setup.sh",
        inspector.display()
    );
    let ws = user.ws.path().to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        // The CLI finds its own package.json relative to the working directory, so
        // chitin gets the workspace as a flag.
        let mut cmd = Command::new("node");
        cmd.current_dir(&inspector)
            .arg("index.js")
            .args([chitin_bin().to_str().unwrap(), "mcp", "--workspace", &ws])
            .args(args)
            .env("CHITIN_HOME", user.home.path())
            .stdin(Stdio::null());
        for (k, v) in &user.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = run(&["--method", "tools/list"]);
    assert!(listed.contains("file-search__search"), "{listed}");
    let called = run(&[
        "--method",
        "tools/call",
        "--tool-name",
        "file-search__read",
        "--tool-arg",
        "path=ro/a.txt",
    ]);
    assert!(called.contains("alpha"), "{called}");
}
