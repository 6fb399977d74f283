//! `tools/call` of a trivial tool through `chitin mcp`, as a real MCP client (the
//! Python SDK, `scripts/mcp-clients/bench.py`) sees it, over stdio and Streamable HTTP;
//! side by side in the same run with a direct `Runtime::invoke` of the same tool (the
//! protocol's overhead is the difference) and, when `$WASSETTE` names a `wassette`
//! binary, Wassette serving an equivalent trivial component to the same client. chitin
//! is measured with sessions (protocol 2025-11-25, what Wassette speaks) and without
//! (2026-07-28). Also calls per second with 16 concurrent HTTP clients, and both
//! servers' HTTP latency as a lean client (no SDK) sees it: their own share.
//!
//! `cargo bench -p chitin-tests --bench mcp` (or `make bench`), after `make skills`.
//! Nothing here asserts a time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chitin_host::{AuditLog, Grants, HostEnv, Runtime, SkillEngine};
use chitin_tests::Publisher;
use chitin_tests::real_registry::RealRegistry;
use chitin_tests::user::{User, chitin_bin};
use serde_json::Value;

const CALLS: usize = 300;
const CLIENTS: usize = 16;

fn clients_dir() -> PathBuf {
    std::env::var_os("CHITIN_MCP_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/chitin/mcp-clients")
        })
}

/// Run bench.py with `transport` against `tool`; its JSON answer.
fn client(user: &User, transport: &[&str], tool: &str, extra: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/mcp-clients/bench.py");
    let mut cmd = Command::new(clients_dir().join("venv/bin/python"));
    cmd.arg(script)
        .args(transport)
        .args([tool, "{}", "--calls", &CALLS.to_string()])
        .args(extra)
        .env("CHITIN_HOME", user.home.path())
        .current_dir(user.ws.path())
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in &user.env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("running the MCP Python SDK (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "bench.py {transport:?} failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
}

fn row(name: &str, v: &Value) {
    let s = &v["sequential"];
    print!(
        "{name:<52} p50 {:>7.3} ms  p99 {:>7.3} ms",
        s["p50_ms"].as_f64().unwrap(),
        s["p99_ms"].as_f64().unwrap()
    );
    // What the server itself spent: the client's share of the latency is the same for
    // every server, this part is not.
    if let Some(cpu) = s["server_cpu_us_per_call"].as_f64() {
        print!("  server CPU {cpu:>5.0} µs/call");
    }
    if let Some(c) = v.get("concurrent") {
        print!(
            "  {:>6.0} calls/s with {} clients",
            c["calls_per_s"].as_f64().unwrap(),
            c["clients"]
        );
    }
    println!();
}

/// A background server, killed at the end.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// The probe's `noop` called directly, with the probe's full grants.
fn direct_invoke(ws: &Path) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(
        SkillEngine::new(dir.path().join("cache")).unwrap(),
        AuditLog::in_memory().unwrap(),
    );
    let skill = runtime.load(&chitin_tests::skill_bytes("probe")).unwrap();
    let env = HostEnv::from_process(ws.to_path_buf(), None, None).unwrap();
    let grants = Grants::from_manifest(&skill.manifest, &env).unwrap();
    let mut times = Vec::new();
    for i in 0..(CALLS + 30) {
        let started = Instant::now();
        rt.block_on(runtime.invoke(&skill, &grants, "noop", "{}"));
        if i >= 30 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let q = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (q(0.5), q(0.99))
}

/// A trivial component for Wassette: `export noop: func() -> u32`, from WAT.
fn noop_component(dir: &Path) {
    std::fs::write(
        dir.join("noop.wit"),
        "package bench:noop;\nworld noop { export noop: func() -> u32; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("noop.wat"),
        "(module (memory (export \"memory\") 1) (func (export \"noop\") (result i32) i32.const 0))",
    )
    .unwrap();
    let tools = PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo/bin/wasm-tools");
    let run = |args: &[&str]| {
        let ok = Command::new(&tools)
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "wasm-tools {args:?}");
    };
    run(&["parse", "noop.wat", "-o", "core.wasm"]);
    run(&[
        "component",
        "embed",
        "noop.wit",
        "core.wasm",
        "-o",
        "embedded.wasm",
    ]);
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    run(&[
        "component",
        "new",
        "embedded.wasm",
        "-o",
        plugins.join("noop.wasm").to_str().unwrap(),
    ]);
}

fn main() {
    let publisher = Publisher::new();
    let reg = RealRegistry::start(None);
    let user = User::trusting(&publisher);
    for d in ["ro", "rw"] {
        std::fs::create_dir_all(user.ws.path().join(d)).unwrap();
    }
    let reference = reg.repo("bench/probe:0.1.0");
    user.push_signed(
        &publisher,
        &chitin_tests::skills_dir().join("probe.wasm"),
        &reference,
    );
    user.ok(&["skill", "install", &reference, "--yes"]);

    println!(
        "tools/call of a trivial tool, {CALLS} sequential calls in one session; the client is \
         the MCP Python SDK for every server"
    );
    let (p50, p99) = direct_invoke(user.ws.path());
    println!(
        "{:<52} p50 {p50:>7.3} ms  p99 {p99:>7.3} ms",
        "chitin: Runtime::invoke of probe `noop` (no protocol)"
    );

    // The Python SDK gives a stdio server only a minimal environment: set the user's.
    let mut stdio = format!("env CHITIN_HOME={}", user.home.path().display());
    for (k, v) in &user.env {
        stdio.push_str(&format!(" {k}='{v}'"));
    }
    stdio.push_str(&format!(" {} mcp --approve probe", chitin_bin().display()));
    row(
        "chitin mcp, stdio",
        &client(&user, &["--stdio", &stdio], "probe__noop", &[]),
    );
    row(
        "chitin mcp, stdio, protocol 2026-07-28",
        &client(&user, &["--stdio", &stdio], "probe__noop", &["--modern"]),
    );

    let addr = free_addr();
    let mut cmd = Command::new(chitin_bin());
    cmd.args(["mcp", "--http", &addr, "--approve", "probe"])
        .env("CHITIN_HOME", user.home.path())
        .env("CHITIN_MCP_TOKEN", "bench-token")
        .current_dir(user.ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in &user.env {
        cmd.env(k, v);
    }
    let http = Server(cmd.spawn().unwrap());
    let pid = http.0.id().to_string();
    wait_for_port(&addr);
    let url = format!("http://{addr}/mcp");
    let concurrent = CLIENTS.to_string();
    let http_args = [
        "--http",
        &url,
        "--token",
        "bench-token",
        "--server-pid",
        &pid,
    ];
    row(
        "chitin mcp, Streamable HTTP",
        &client(
            &user,
            &http_args,
            "probe__noop",
            &["--concurrent", &concurrent],
        ),
    );
    row(
        "chitin mcp, Streamable HTTP, protocol 2026-07-28",
        &client(
            &user,
            &http_args,
            "probe__noop",
            &["--modern", "--concurrent", &concurrent],
        ),
    );

    // The servers' own share: the same lean client (no SDK) for chitin here and for
    // Wassette below.
    row(
        "chitin mcp, Streamable HTTP, 2026-07-28, lean client",
        &client(&user, &http_args, "probe__noop", &["--lean"]),
    );

    let legacy = std::env::var_os("WASSETTE");
    let streamable = std::env::var_os("WASSETTE_STREAMABLE");
    if legacy.is_none() && streamable.is_none() {
        println!(
            "(Wassette not measured: set WASSETTE to a `wassette` binary of 2025-08 (legacy \
             SSE) and/or WASSETTE_STREAMABLE to one of 2026-07 (Streamable HTTP) to compare)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    noop_component(dir.path());
    let plugins = dir.path().join("plugins");
    if let Some(wassette) = legacy {
        legacy_wassette(&user, Path::new(&wassette), &plugins);
    }
    if let Some(wassette) = streamable {
        streamable_wassette(&user, Path::new(&wassette), &plugins);
    }
}

/// Wassette at `8940e27` (2025-08; rmcp 0.2): stdio, and HTTP in the legacy SSE transport
/// on its fixed address.
fn legacy_wassette(user: &User, wassette: &Path, plugins: &Path) {
    let stdio = format!(
        "{} serve --stdio --plugin-dir {}",
        wassette.display(),
        plugins.display()
    );
    row(
        "Wassette, stdio (noop component)",
        &client(user, &["--stdio", &stdio], "noop", &[]),
    );
    let sse = Server(
        Command::new(wassette)
            .args(["serve", "--http", "--plugin-dir"])
            .arg(plugins)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = sse.0.id().to_string();
    wait_for_port("127.0.0.1:9001");
    let sse_args = ["--sse", "http://127.0.0.1:9001/sse", "--server-pid", &pid];
    let concurrent = CLIENTS.to_string();
    row(
        "Wassette, HTTP+SSE (noop component)",
        &client(user, &sse_args, "noop", &["--concurrent", &concurrent]),
    );
    row(
        "Wassette, HTTP+SSE, lean client",
        &client(user, &sse_args, "noop", &["--lean"]),
    );
}

/// Wassette of 2026-07 (rmcp 1.4): stdio, and Streamable HTTP with sessions, the
/// transport chitin serves to 2025-11-25 clients: the like-for-like line over HTTP.
fn streamable_wassette(user: &User, wassette: &Path, plugins: &Path) {
    let stdio = format!(
        "{} run --component-dir {}",
        wassette.display(),
        plugins.display()
    );
    row(
        "Wassette 2026-07, stdio (noop component)",
        &client(user, &["--stdio", &stdio], "noop", &[]),
    );
    let addr = free_addr();
    let http = Server(
        Command::new(wassette)
            .args(["serve", "--streamable-http", "--component-dir"])
            .arg(plugins)
            .args(["--bind-address", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = http.0.id().to_string();
    wait_for_port(&addr);
    let url = format!("http://{addr}/mcp");
    row(
        "Wassette 2026-07, Streamable HTTP, sessions",
        &client(
            user,
            &["--http", &url, "--server-pid", &pid],
            "noop",
            &["--concurrent", &CLIENTS.to_string()],
        ),
    );
}
