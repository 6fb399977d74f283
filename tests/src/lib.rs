//! Shared fixtures for chitin's end-to-end tests: the skills built from source by
//! `make skills`, a sandbox folder layout with something worth stealing outside it,
//! and a local HTTP server that records what reaches it.
//!
//! ```no_run
//! let fx = chitin_tests::Fixture::new();
//! let skill = fx.load("probe");
//! ```

pub mod attack;
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
fn shared_cache_dir() -> PathBuf {
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

/// A local HTTP server on a loopback address that records every request.
///
/// Routes: `/redirect?to=URL` answers 302 to URL; `*/echo-headers` answers the request
/// headers as JSON; anything else answers `hello from <path>`.
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
                let response = if let Some(to) = url.strip_prefix("/redirect?to=") {
                    tiny_http::Response::from_string("moved")
                        .with_status_code(302)
                        .with_header(tiny_http::Header::from_bytes("Location", to).unwrap())
                } else if url.ends_with("/echo-headers") {
                    tiny_http::Response::from_string(serde_json::to_string(&headers).unwrap())
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .unwrap(),
                        )
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
