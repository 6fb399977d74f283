//! A small, hostile, in-memory OCI distribution registry on a loopback port, for the
//! faults a real registry cannot be made to produce: wrong or truncated blobs, bodies
//! that never end, oversized manifests, a tag that moves between resolve and pull,
//! errors and stalls.
//!
//! It speaks just enough of the distribution API for chitin to pull: `GET /v2/`,
//! `GET|HEAD /v2/<repo>/manifests/<tag|digest>`, `GET|HEAD /v2/<repo>/blobs/<digest>`
//! and `GET /v2/<repo>/tags/list`. It is written on a bare [`TcpListener`] (one
//! thread, one connection at a time, `Connection: close` on every answer) because
//! several faults need control of the socket itself: declaring a length and hanging
//! up early, or stalling until the client gives up.
//!
//! Every loop is bounded: a stall ends when the client hangs up, when the server is
//! dropped, or after [`MAX_STALL`]; an endless body ends when the client hangs up, the
//! server is dropped, or after [`MAX_ENDLESS`] bytes.
//!
//! ```no_run
//! use chitin_tests::fake_registry::{Behavior, FakeRegistry, Target};
//! let reg = FakeRegistry::start();
//! let artifact = chitin_registry::artifact::Artifact::from_component(
//!     chitin_tests::skill_bytes("file-search"),
//! ).unwrap();
//! reg.push("skills/file-search", "0.1.0", &artifact);
//! let layer = artifact.manifest.layers[0].digest.clone();
//! reg.fault(Target::Blob(layer), Behavior::Status(500));
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chitin_registry::artifact::{Artifact, sha256_digest};

/// The media type manifests are served with.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The longest a stall lasts if neither the client nor the test ends it.
pub const MAX_STALL: Duration = Duration::from_secs(60);
/// The most an endless body sends if neither the client nor the test ends it.
pub const MAX_ENDLESS: u64 = 1 << 30;

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every manifest request.
    Manifests,
    /// Manifest requests of `repo` by this tag.
    Tag { repo: String, tag: String },
    /// Manifest requests by this digest.
    ManifestDigest(String),
    /// Every blob request.
    Blobs,
    /// Requests of this blob.
    Blob(String),
}

/// What the registry does instead of answering honestly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// Answer this HTTP status (with an OCI error body).
    Status(u16),
    /// Say nothing at all until the client hangs up.
    Stall,
    /// Serve these bytes instead (with their own length).
    Bytes(Vec<u8>),
    /// Declare the full length, send the first `send` bytes, then hang up.
    Truncated { send: usize },
    /// Declare the full length, send the first `send` bytes, then stall.
    StallAfter { send: usize },
    /// A chunked body of zeros that never ends.
    Endless,
    /// The honest content, chunked, with no `Content-Length`.
    Chunked,
    /// Answer honestly, then point the tag (of a [`Target::Tag`]) at this manifest
    /// digest for every later request: a tag that moves right after it was resolved.
    MoveTagTo(String),
}

/// A request as the registry saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
}

#[derive(Default)]
struct State {
    /// (repository, tag) → manifest digest.
    tags: BTreeMap<(String, String), String>,
    manifests: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<String, Vec<u8>>,
    faults: Vec<(Target, Behavior)>,
    log: Vec<Request>,
}

/// The fake registry; it stops when dropped.
pub struct FakeRegistry {
    /// `127.0.0.1:<port>`, the registry part of a reference.
    pub addr: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Default for FakeRegistry {
    fn default() -> Self {
        Self::start()
    }
}

impl FakeRegistry {
    /// Listen on a free loopback port and serve until dropped.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state: Arc<Mutex<State>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        // A broken connection only ends that exchange.
                        let _ = serve(stream, &st, &sp);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:<port>/<repo>:<tag>`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.addr)
    }

    /// `127.0.0.1:<port>/<repo>@<digest>`.
    pub fn pinned(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.addr)
    }

    /// Store a blob; returns its digest.
    pub fn put_blob(&self, bytes: Vec<u8>) -> String {
        let digest = sha256_digest(&bytes);
        self.state
            .lock()
            .unwrap()
            .blobs
            .insert(digest.clone(), bytes);
        digest
    }

    /// Store an artifact's component and config blobs (not its manifest).
    pub fn push_blobs(&self, artifact: &Artifact) {
        self.put_blob(artifact.wasm.clone());
        self.put_blob(artifact.config.clone());
    }

    /// Store a manifest as these exact bytes and tag it; returns its digest.
    pub fn push_manifest(&self, repo: &str, tag: &str, bytes: Vec<u8>) -> String {
        let digest = sha256_digest(&bytes);
        let mut state = self.state.lock().unwrap();
        state.manifests.insert(digest.clone(), bytes);
        state
            .tags
            .insert((repo.to_string(), tag.to_string()), digest.clone());
        digest
    }

    /// Store a manifest without tagging it; returns its digest.
    pub fn put_manifest(&self, bytes: Vec<u8>) -> String {
        let digest = sha256_digest(&bytes);
        self.state
            .lock()
            .unwrap()
            .manifests
            .insert(digest.clone(), bytes);
        digest
    }

    /// Publish an artifact as `repo:tag` (blobs and manifest); returns the manifest
    /// digest.
    pub fn push(&self, repo: &str, tag: &str, artifact: &Artifact) -> String {
        self.push_blobs(artifact);
        self.push_manifest(repo, tag, artifact.manifest_bytes())
    }

    /// Add a fault; the first fault whose target matches a request decides.
    pub fn fault(&self, target: Target, behavior: Behavior) {
        self.state.lock().unwrap().faults.push((target, behavior));
    }

    /// Remove every fault: from now on the registry is honest.
    pub fn heal(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    /// Has a request for this path (without its query) arrived?
    pub fn saw(&self, path: &str) -> bool {
        self.requests().iter().any(|r| r.path == path)
    }

    /// The path a blob is requested at.
    pub fn blob_path(repo: &str, digest: &str) -> String {
        format!("/v2/{repo}/blobs/{digest}")
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one request asks for.
enum Route {
    Base,
    Manifest { repo: String, reference: String },
    Blob { digest: String },
    Tags { repo: String },
    Unknown,
}

fn route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return if path == "/v2" {
            Route::Base
        } else {
            Route::Unknown
        };
    };
    if rest.is_empty() {
        return Route::Base;
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return Route::Tags { repo: repo.into() };
    }
    if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
        return Route::Manifest {
            repo: repo.into(),
            reference: reference.into(),
        };
    }
    if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
        return Route::Blob {
            digest: digest.into(),
        };
    }
    Route::Unknown
}

/// An answer before faults are applied.
struct Answer {
    status: u16,
    content_type: &'static str,
    digest: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "application/json",
            digest: None,
            body: body.into_bytes(),
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string(),
        )
    }
}

/// Read one request head, log it, answer it (faults applied), and hang up.
fn serve(mut stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 64 << 10 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut first = text.lines().next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    let head_only = method == "HEAD";

    // Decide the honest answer and the fault under the lock; write without it.
    let (answer, behavior) = {
        let mut st = state.lock().unwrap();
        st.log.push(Request {
            method: method.clone(),
            path: path.clone(),
        });
        let (answer, matched) = honest(&mut st, &method, &path);
        let behavior = st
            .faults
            .iter()
            .find(|(t, _)| matched.iter().any(|m| m == t))
            .map(|(_, b)| b.clone());
        // A tag that moves: answer honestly now, point the tag elsewhere for later.
        if let (Some(Behavior::MoveTagTo(to)), Some(Target::Tag { repo, tag })) = (
            &behavior,
            matched.iter().find(|t| matches!(t, Target::Tag { .. })),
        ) {
            st.tags.insert((repo.clone(), tag.clone()), to.clone());
        }
        (answer, behavior)
    };

    match behavior {
        None | Some(Behavior::MoveTagTo(_)) => write_whole(&mut stream, &answer, head_only),
        Some(Behavior::Status(code)) => write_whole(
            &mut stream,
            &Answer::error(code, "UNKNOWN", "injected failure"),
            head_only,
        ),
        Some(Behavior::Stall) => {
            stall(&stream, stop);
            Ok(())
        }
        Some(Behavior::Bytes(bytes)) => {
            let digest = answer.digest.clone();
            let swapped = Answer {
                body: bytes,
                digest,
                ..answer
            };
            write_whole(&mut stream, &swapped, head_only)
        }
        Some(Behavior::Truncated { send }) => {
            write_head(&mut stream, &answer, Some(answer.body.len()))?;
            stream.write_all(&answer.body[..send.min(answer.body.len())])?;
            stream.flush()?;
            stream.shutdown(Shutdown::Both)
        }
        Some(Behavior::StallAfter { send }) => {
            write_head(&mut stream, &answer, Some(answer.body.len()))?;
            stream.write_all(&answer.body[..send.min(answer.body.len())])?;
            stream.flush()?;
            stall(&stream, stop);
            Ok(())
        }
        Some(Behavior::Endless) => {
            write_head(&mut stream, &answer, None)?;
            let chunk = vec![0u8; 16 << 10];
            let mut sent: u64 = 0;
            while sent < MAX_ENDLESS && !stop.load(Ordering::SeqCst) {
                write!(stream, "{:x}\r\n", chunk.len())?;
                stream.write_all(&chunk)?;
                stream.write_all(b"\r\n")?;
                sent += chunk.len() as u64;
            }
            stream.write_all(b"0\r\n\r\n")
        }
        Some(Behavior::Chunked) => {
            write_head(&mut stream, &answer, None)?;
            if !head_only {
                for piece in answer.body.chunks(8 << 10) {
                    write!(stream, "{:x}\r\n", piece.len())?;
                    stream.write_all(piece)?;
                    stream.write_all(b"\r\n")?;
                }
                stream.write_all(b"0\r\n\r\n")?;
            }
            stream.flush()
        }
    }
}

/// The honest answer, and the targets this request matches.
fn honest(st: &mut State, method: &str, path: &str) -> (Answer, Vec<Target>) {
    if method != "GET" && method != "HEAD" {
        return (
            Answer::error(405, "UNSUPPORTED", "this registry is read-only"),
            vec![],
        );
    }
    match route(path) {
        Route::Base => (Answer::json(200, "{}".into()), vec![]),
        Route::Tags { repo } => {
            let tags: Vec<&String> = st
                .tags
                .keys()
                .filter(|(r, _)| *r == repo)
                .map(|(_, t)| t)
                .collect();
            if tags.is_empty() {
                return (
                    Answer::error(404, "NAME_UNKNOWN", "repository name not known"),
                    vec![],
                );
            }
            let body = serde_json::json!({ "name": repo, "tags": tags }).to_string();
            (Answer::json(200, body), vec![])
        }
        Route::Manifest { repo, reference } => {
            let mut matched = vec![Target::Manifests];
            let digest = if reference.starts_with("sha256:") {
                matched.push(Target::ManifestDigest(reference.clone()));
                Some(reference.clone())
            } else {
                matched.push(Target::Tag {
                    repo: repo.clone(),
                    tag: reference.clone(),
                });
                st.tags.get(&(repo.clone(), reference.clone())).cloned()
            };
            let found = digest.and_then(|d| st.manifests.get(&d).map(|b| (d, b.clone())));
            let answer = match found {
                Some((digest, body)) => {
                    if !reference.starts_with("sha256:") {
                        matched.push(Target::ManifestDigest(digest.clone()));
                    }
                    Answer {
                        status: 200,
                        content_type: MANIFEST_MEDIA_TYPE,
                        digest: Some(digest),
                        body,
                    }
                }
                None => Answer::error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
            };
            (answer, matched)
        }
        Route::Blob { digest } => {
            let matched = vec![Target::Blobs, Target::Blob(digest.clone())];
            let answer = match st.blobs.get(&digest) {
                Some(body) => Answer {
                    status: 200,
                    content_type: "application/octet-stream",
                    digest: Some(digest.clone()),
                    body: body.clone(),
                },
                None => Answer::error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
            };
            (answer, matched)
        }
        Route::Unknown => (Answer::error(404, "NOT_FOUND", "not found"), vec![]),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The status line and headers; `length` None means a chunked body.
fn write_head(stream: &mut TcpStream, a: &Answer, length: Option<usize>) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nConnection: close\r\n",
        a.status,
        reason(a.status),
        a.content_type
    );
    if let Some(d) = &a.digest {
        head.push_str(&format!("Docker-Content-Digest: {d}\r\n"));
    }
    match length {
        Some(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn write_whole(stream: &mut TcpStream, a: &Answer, head_only: bool) -> std::io::Result<()> {
    write_head(stream, a, Some(a.body.len()))?;
    if !head_only {
        stream.write_all(&a.body)?;
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// Hold the connection open, sending nothing, until the client hangs up, the
/// registry is dropped, or [`MAX_STALL`] passes.
fn stall(stream: &TcpStream, stop: &AtomicBool) {
    let start = Instant::now();
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut probe = [0u8; 1];
    while start.elapsed() < MAX_STALL && !stop.load(Ordering::SeqCst) {
        match stream.peek(&mut probe) {
            Ok(0) => return, // the client hung up
            Ok(_) => {}      // it sent something more; keep stalling
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
