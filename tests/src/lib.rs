//! Shared fixtures for chitin's end-to-end tests: the skills built from source by
//! `make skills`, a sandbox folder layout with something worth stealing outside it,
//! and a local HTTP server that records what reaches it.
//!
//! ```no_run
//! let fx = chitin_tests::Fixture::new();
//! let skill = fx.load("probe");
//! ```

pub mod attack;
pub mod model_server;
pub mod real_registry;
pub mod user;

pub mod fake_registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chitin_host::{
    AuditEntry, AuditLog, CallReport, Grants, HostEnv, LoadedSkill, Runtime, SkillEngine,
};

/// The value of the probe's secret in tests. Long and unique, so any leak is visible.
pub const SECRET: &str = "s3cr3t-probe-token-7f3a9c";
/// What lies outside every grant.
pub const OUTSIDE: &str = "TOPSECRET: ssh key material";

/// An error and its sources, as the CLI prints them (`a: b: c`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Where `make skills` put the components.
pub fn skills_dir() -> PathBuf {
    match std::env::var_os("CHITIN_SKILLS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/skills"),
    }
}

/// The bytes of a built skill; fails (never skips) when it was not built.
pub fn skill_bytes(name: &str) -> Vec<u8> {
    let path = skills_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the skills first with `make skills`",
            path.display()
        )
    })
}

/// A runtime with an on-disk audit log, a workspace with `ro/` and `rw/` folders, and
/// an `outside/` folder with a secret file next to it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub runtime: Runtime,
    pub env: HostEnv,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["workspace/ro", "workspace/rw", "outside", "home"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("workspace/ro/hello.txt"), "hello from ro\n").unwrap();
        std::fs::write(root.join("outside/secret.txt"), OUTSIDE).unwrap();
        let engine = SkillEngine::new(shared_cache_dir()).unwrap();
        let audit = AuditLog::open(&root.join("chitin.db")).unwrap();
        let mut vars = BTreeMap::new();
        vars.insert("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into());
        vars.insert("CHITIN_PROBE_VISIBLE".into(), "visible-value".into());
        vars.insert("CHITIN_PROBE_HIDDEN".into(), "hidden-value".into());
        let mut secrets = BTreeMap::new();
        secrets.insert("PROBE_TOKEN".into(), SECRET.into());
        let env = HostEnv {
            workspace: root.join("workspace"),
            home: root.join("home"),
            vars,
            secrets,
            protected: Vec::new(),
        };
        Self {
            runtime: Runtime::new(engine, audit),
            env,
            dir,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn load(&self, name: &str) -> LoadedSkill {
        // The first load of a skill compiles it into the shared cache (seconds for the
        // 12-18 MB JavaScript and Python components); tests of the same skill wait for
        // it instead of compiling it again in parallel.
        let lock = compile_lock(name);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        self.runtime.load(&skill_bytes(name)).unwrap()
    }

    pub fn grants(&self, skill: &LoadedSkill) -> Grants {
        Grants::from_manifest(&skill.manifest, &self.env).unwrap()
    }

    /// Call a tool with the skill's declared grants.
    pub async fn call(
        &self,
        skill: &LoadedSkill,
        tool: &str,
        args: serde_json::Value,
    ) -> CallReport {
        let grants = self.grants(skill);
        self.runtime
            .invoke(skill, &grants, tool, &args.to_string())
            .await
    }

    pub fn audit(&self) -> Vec<AuditEntry> {
        self.runtime.with_audit(|a| a.entries(None, 1000).unwrap())
    }
}

/// One lock per skill name, held while loading it.
fn compile_lock(name: &str) -> Arc<Mutex<()>> {
    static LOCKS: std::sync::OnceLock<Mutex<BTreeMap<String, Arc<Mutex<()>>>>> =
        std::sync::OnceLock::new();
    let mut locks = LOCKS.get_or_init(Mutex::default).lock().unwrap();
    locks.entry(name.to_string()).or_default().clone()
}

/// One compile cache for the whole test process, so each skill compiles once.
pub fn shared_cache_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
        .path()
        .join("compiled")
}

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: BTreeMap<String, String>,
}

/// A local HTTP server on a loopback address that records every request: a test fake
/// for the declared hosts of the probe, playing the cooperative echo services a skill
/// could use to read back a secret the host added.
///
/// Routes (matched on the end of the path, so `/private/echo-headers` and
/// `/public/echo-headers` are both echoes):
/// - `/redirect?to=URL`: 302 to URL;
/// - `*/echo-headers`: the request headers as JSON, the way a stock server serves a
///   file: gzip-compressed when `Accept-Encoding` allows gzip, and only the asked
///   part for a `Range` (206, or `multipart/byteranges` for several ranges);
/// - `*/echo-headers-gzipped`: the echo gzip-compressed, asked for or not;
/// - `*/echo-headers-partial`: the first half of the echo as a 206, asked for or not;
/// - `*/echo-headers-encoded`: the echo in other forms: `{"base64", "base64url",
///   "percent", "upper"}`;
/// - `*/echo-headers-slow`: the status line and headers at once, then the echo after
///   a pause, 5 bytes per chunk with a pause between chunks (so a secret is cut across
///   chunks);
/// - `*/echo-headers-big?mb=N`: the echo in the middle of N MiB of padding, chunked
///   in 64 KiB pieces, with no `Content-Length`;
/// - `*/echo-headers-announced-33mib`: headers announcing a 33 MiB body, then nothing
///   for 5 s;
/// - anything else: `hello from <path>`.
pub struct TestServer {
    pub port: u16,
    pub ip: &'static str,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(ip: &'static str) -> Self {
        let server = Arc::new(tiny_http::Server::http(format!("{ip}:0")).unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (s, log) = (server.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let headers: BTreeMap<String, String> = req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.to_string(),
                        )
                    })
                    .collect();
                let url = req.url().to_string();
                log.lock().unwrap().push(Seen {
                    path: url.clone(),
                    headers: headers.clone(),
                });
                let echo = serde_json::to_string(&headers).unwrap();
                let path = url.split('?').next().unwrap_or("");
                let query = url.split_once('?').map_or("", |(_, q)| q);
                let response = if let Some(to) = url.strip_prefix("/redirect?to=") {
                    tiny_http::Response::from_string("moved")
                        .with_status_code(302)
                        .with_header(header("Location", to))
                } else if path.ends_with("/echo-headers") {
                    echo_as_a_file_server_would(echo, &headers)
                } else if path.ends_with("/echo-headers-gzipped") {
                    tiny_http::Response::from_data(gzip(echo.as_bytes()))
                        .with_header(header("Content-Encoding", "gzip"))
                } else if path.ends_with("/echo-headers-partial") {
                    let half = echo.len() / 2;
                    let range = format!("bytes 0-{}/{}", half - 1, echo.len());
                    tiny_http::Response::from_data(echo.as_bytes()[..half].to_vec())
                        .with_status_code(206)
                        .with_header(header("Content-Range", &range))
                } else if path.ends_with("/echo-headers-encoded") {
                    use base64::Engine as _;
                    let b64 = base64::engine::general_purpose::STANDARD;
                    let b64url = base64::engine::general_purpose::URL_SAFE;
                    let forms = serde_json::json!({
                        "base64": b64.encode(&echo),
                        "base64url": b64url.encode(format!("?{echo}")),
                        "percent": echo.bytes().map(|b| format!("%{b:02x}")).collect::<String>(),
                        "upper": echo.to_uppercase(),
                    });
                    tiny_http::Response::from_string(forms.to_string())
                } else if path.ends_with("/echo-headers-slow") {
                    let chunks: Vec<Vec<u8>> =
                        echo.as_bytes().chunks(5).map(<[u8]>::to_vec).collect();
                    let pause = std::time::Duration::from_millis(10);
                    std::thread::spawn(move || {
                        let first = std::time::Duration::from_millis(500);
                        send_chunked(
                            req,
                            std::iter::once((first, Vec::new()))
                                .chain(chunks.into_iter().map(|c| (pause, c))),
                        );
                    });
                    continue;
                } else if path.ends_with("/echo-headers-announced-33mib") {
                    std::thread::spawn(move || {
                        use std::io::Write as _;
                        let mut w = req.into_writer();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            33 << 20
                        );
                        let _ = w.write_all(head.as_bytes()).and_then(|()| w.flush());
                        std::thread::sleep(std::time::Duration::from_secs(5));
                    });
                    continue;
                } else if path.ends_with("/echo-headers-big") {
                    let mib: usize = query
                        .strip_prefix("mb=")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1);
                    let mut body = vec![b'.'; mib << 20];
                    let middle = body.len() / 2;
                    body.splice(middle..middle + echo.len(), echo.into_bytes());
                    std::thread::spawn(move || {
                        let chunks: Vec<(std::time::Duration, Vec<u8>)> = body
                            .chunks(64 << 10)
                            .map(|c| (std::time::Duration::ZERO, c.to_vec()))
                            .collect();
                        send_chunked(req, chunks);
                    });
                    continue;
                } else {
                    tiny_http::Response::from_string(format!("hello from {url}"))
                };
                let _ = req.respond(response);
            }
        });
        Self {
            port,
            ip,
            seen,
            server,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.port)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The echo as a stock static-file server sends it: compressed when the client allows
/// gzip, and cut to the asked ranges.
fn echo_as_a_file_server_would(
    echo: String,
    headers: &BTreeMap<String, String>,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let json = header("Content-Type", "application/json");
    let gzip_ok = headers
        .get("accept-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
    let ranges: Vec<(usize, usize)> = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .map(|spec| {
            spec.split(',')
                .filter_map(|r| {
                    let (a, b) = r.trim().split_once('-')?;
                    let a: usize = a.parse().ok()?;
                    let b: usize = b.parse().unwrap_or(echo.len() - 1).min(echo.len() - 1);
                    (a <= b).then_some((a, b))
                })
                .collect()
        })
        .unwrap_or_default();
    match ranges.as_slice() {
        [] if gzip_ok => tiny_http::Response::from_data(gzip(echo.as_bytes()))
            .with_header(json)
            .with_header(header("Content-Encoding", "gzip")),
        [] => tiny_http::Response::from_data(echo.into_bytes()).with_header(json),
        [(a, b)] => {
            let range = format!("bytes {a}-{b}/{}", echo.len());
            tiny_http::Response::from_data(echo.as_bytes()[*a..=*b].to_vec())
                .with_status_code(206)
                .with_header(json)
                .with_header(header("Content-Range", &range))
        }
        several => {
            let mut body = Vec::new();
            for (a, b) in several {
                body.extend_from_slice(
                    format!(
                        "--CUT\r\nContent-Type: application/json\r\nContent-Range: bytes {a}-{b}/{}\r\n\r\n",
                        echo.len()
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(&echo.as_bytes()[*a..=*b]);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"--CUT--\r\n");
            tiny_http::Response::from_data(body)
                .with_status_code(206)
                .with_header(header("Content-Type", "multipart/byteranges; boundary=CUT"))
        }
    }
}

/// Answers 200 with a chunked body written straight to the socket: the status line and
/// headers first (flushed), then each chunk after its pause.
fn send_chunked(
    req: tiny_http::Request,
    chunks: impl IntoIterator<Item = (std::time::Duration, Vec<u8>)>,
) {
    use std::io::Write as _;
    let mut w = req.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if w.write_all(head.as_bytes())
        .and_then(|()| w.flush())
        .is_err()
    {
        return;
    }
    for (pause, chunk) in chunks {
        std::thread::sleep(pause);
        if chunk.is_empty() {
            continue;
        }
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if w.write_all(&framed).and_then(|()| w.flush()).is_err() {
            return;
        }
    }
    let _ = w.write_all(b"0\r\n\r\n").and_then(|()| w.flush());
}

/// The password test keys are encrypted with (given to chitin as `CHITIN_PASSWORD`).
pub const KEY_PASSWORD: &str = "correct horse battery staple";

/// A publisher's signing key pair, as `chitin keygen` writes it, in a temp folder.
pub struct Publisher {
    dir: tempfile::TempDir,
    pub pair: chitin_registry::signing::KeyPair,
    /// The encrypted private key file.
    pub key: PathBuf,
    /// The public key file.
    pub public: PathBuf,
}

impl Publisher {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pair = chitin_registry::signing::KeyPair::generate().unwrap();
        let key = dir.path().join("publisher.key");
        let public = dir.path().join("publisher.pub");
        std::fs::write(
            &key,
            pair.to_encrypted_pem(KEY_PASSWORD.as_bytes()).unwrap(),
        )
        .unwrap();
        std::fs::write(&public, pair.public_key().to_pem()).unwrap();
        Self {
            dir,
            pair,
            key,
            public,
        }
    }

    pub fn fingerprint(&self) -> String {
        self.pair.public_key().fingerprint()
    }

    /// A trust policy file with one rule trusting this key for `repositories`, plus
    /// `extra` TOML lines in the rule.
    pub fn policy(&self, repositories: &str, extra: &str) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("trust-{}.toml", next_number()));
        std::fs::write(
            &path,
            format!(
                "[[rule]]\nrepositories = \"{repositories}\"\nkeys = [\"{}\"]\n{extra}\n",
                self.public.display()
            ),
        )
        .unwrap();
        path
    }
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}

/// 1, 2, 3… within a test process (names for temp files).
fn next_number() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The file-search component re-packed as `version`, with `extra` TOML appended to
/// its `[capabilities]`, written to a temp file.
pub fn file_search_version(dir: &Path, version: &str, extra: &str) -> PathBuf {
    let raw = std::fs::read(skills_dir().join("raw/file-search.wasm")).unwrap();
    let manifest = format!(
        "[skill]\nname = \"file-search\"\nversion = \"{version}\"\ndescription = \"Search the workspace\"\n\n[capabilities]\nfs = [{{ path = \"$WORKSPACE\", access = \"read\" }}]\n{extra}"
    );
    let packed = chitin_registry::embed_manifest(&raw, &manifest).unwrap();
    let path = dir.join(format!("file-search-{version}.wasm"));
    std::fs::write(&path, packed).unwrap();
    path
}
