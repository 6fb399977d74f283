//! Instruments of the attack catalogue (`tests/attacks.rs`): canaries that must never
//! be reached or leaked, the declared server a skill may talk to (with the HTTP
//! features an attacker turns against redaction), and probes of the host process —
//! peak memory, leftover processes, threads stuck in the kernel.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The value of the attacker's secret (`CANARY_TOKEN`): long and unique, so that any
/// leak is visible.
pub const CANARY_SECRET: &str = "canary-5ecret-Zq81vX0p4T7w";
/// A private key lying outside every grant (`outside/id_rsa`, `home/.ssh/id_ed25519`).
pub const CANARY_KEY: &str = "-----BEGIN CANARY PRIVATE KEY----- c4n4ry-k3y-m4t3r14l-31d9";
/// What the canary server answers, should anything reach it.
pub const CANARY_ANSWER: &str = "canary-server-answer-6b2e";

/// How long a server thread waits for a silent peer before giving up.
const IDLE: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------ canary server

/// The attacker's server: a TCP listener that answers every request with
/// [`CANARY_ANSWER`] and keeps every byte it receives. Nothing may reach it.
pub struct Canary {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Canary {
    pub fn start(ip: &str) -> Self {
        let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<u8>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let (log, flag) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            serve(listener, flag, move |mut conn, stop| {
                conn.set_read_timeout(Some(Duration::from_millis(100))).ok();
                let started = Instant::now();
                let mut buf = [0u8; 8192];
                let mut answered = false;
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < IDLE {
                    match conn.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            log.lock().unwrap().extend_from_slice(&buf[..n]);
                            seen.extend_from_slice(&buf[..n]);
                            if !answered && find(&seen, b"\r\n\r\n").is_some() {
                                let answer = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{CANARY_ANSWER}",
                                    CANARY_ANSWER.len()
                                );
                                let _ = conn.write_all(answer.as_bytes());
                                answered = true;
                            }
                        }
                        Err(e) if is_timeout(&e) => continue,
                        Err(_) => break,
                    }
                }
            });
        });
        Self {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://ip:port`
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every byte received so far, from every connection.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Accept connections until `stop`, each handled on its own thread; joins them all.
fn serve(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handle: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static,
) {
    listener.set_nonblocking(true).unwrap();
    let handle = Arc::new(handle);
    let mut threads = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false).ok();
                let (h, s) = (handle.clone(), stop.clone());
                threads.push(std::thread::spawn(move || h(conn, &s)));
            }
            Err(e) if is_timeout(&e) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    for t in threads {
        let _ = t.join();
    }
}

// ------------------------------------------------------------------ declared server

/// A request as the declared server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lowercase names, in order.
    pub headers: Vec<(String, String)>,
    /// The request head as received.
    pub head: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The server a skill declared (on 127.0.0.1, where the secret goes). It serves the
/// HTTP features an attacker turns against redaction:
///
/// - `*/echo-headers`: the request headers (but `range`) as a JSON object, compressed when the
///   request accepts `gzip` or `deflate`, cut to the requested `Range` (one range:
///   206 with that slice; several: `multipart/byteranges`);
/// - `*/slow`: declares 100 000 bytes and sends one every 100 ms; when the client
///   goes away is recorded (see [`Declared::slow_ended`]);
/// - `*/big?bytes=N`: N bytes;
/// - any path with method `TRACE`: the request head, as `message/http`;
/// - anything else: `hello from <path>`.
pub struct Declared {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    slow_ended: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Declared {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let slow_ended: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let (log, ended, flag) = (seen.clone(), slow_ended.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            serve(listener, flag, move |conn, stop| {
                handle_declared(conn, stop, &log, &ended)
            });
        });
        Self {
            port,
            seen,
            slow_ended,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:port`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// When each `/slow` answer, or a request whose body had not all come, ended
    /// because the client went away (or the server stopped).
    pub fn slow_ended(&self) -> Vec<Instant> {
        self.slow_ended.lock().unwrap().clone()
    }
}

impl Drop for Declared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read a request head (and discard the body, up to its declared length).
fn read_request(
    conn: &mut TcpStream,
    stop: &AtomicBool,
    log: &Mutex<Vec<Seen>>,
    abandoned: &Mutex<Vec<Instant>>,
) -> Option<Seen> {
    conn.set_read_timeout(Some(Duration::from_millis(100))).ok();
    let started = Instant::now();
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(i) = find(&head, b"\r\n\r\n") {
            break i;
        }
        if stop.load(Ordering::Relaxed) || started.elapsed() > IDLE || head.len() > 8 << 20 {
            return None;
        }
        match conn.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return None,
        }
    };
    let mut body_seen = head.len() - (end + 4);
    head.truncate(end + 4);
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let seen = Seen {
        method,
        path,
        headers,
        head,
    };
    let length: usize = seen
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    // Recorded before the body: a request whose body never comes was still made.
    log.lock().unwrap().push(seen.clone());
    while body_seen < length {
        if stop.load(Ordering::Relaxed) || started.elapsed() > IDLE {
            return None;
        }
        match conn.read(&mut buf) {
            Ok(n) if n > 0 => body_seen += n,
            Err(e) if is_timeout(&e) => continue,
            // The client went away in the middle of its body.
            _ => {
                abandoned.lock().unwrap().push(Instant::now());
                return None;
            }
        }
    }
    Some(seen)
}

fn handle_declared(
    mut conn: TcpStream,
    stop: &AtomicBool,
    log: &Mutex<Vec<Seen>>,
    slow_ended: &Mutex<Vec<Instant>>,
) {
    let Some(req) = read_request(&mut conn, stop, log, slow_ended) else {
        return;
    };
    let route = req.path.split('?').next().unwrap_or_default().to_string();
    if route.ends_with("/big") {
        let n: usize = req
            .path
            .split("bytes=")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let _ =
            conn.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes());
        let chunk = vec![b'b'; 64 << 10];
        let mut sent = 0;
        while sent < n && !stop.load(Ordering::Relaxed) {
            let k = chunk.len().min(n - sent);
            if conn.write_all(&chunk[..k]).is_err() {
                break;
            }
            sent += k;
        }
        return;
    }
    if route.ends_with("/slow") {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
            if conn.write_all(b"s").and_then(|()| conn.flush()).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        slow_ended.lock().unwrap().push(Instant::now());
        return;
    }
    let (status, mut extra, body): (&str, Vec<(String, String)>, Vec<u8>) = if req.method == "TRACE"
    {
        (
            "200 OK",
            vec![("Content-Type".into(), "message/http".into())],
            req.head.clone(),
        )
    } else if route.ends_with("/echo-headers") {
        echo_headers(&req)
    } else {
        ("200 OK", vec![], format!("hello from {route}").into_bytes())
    };
    extra.push(("Content-Length".into(), body.len().to_string()));
    extra.push(("Connection".into(), "close".into()));
    let mut answer = format!("HTTP/1.1 {status}\r\n").into_bytes();
    for (n, v) in extra {
        answer.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    answer.extend_from_slice(b"\r\n");
    if req.method != "HEAD" {
        answer.extend_from_slice(&body);
    }
    let _ = conn.write_all(&answer);
    let _ = conn.shutdown(Shutdown::Write);
}

type Answer = (&'static str, Vec<(String, String)>, Vec<u8>);

fn echo_headers(req: &Seen) -> Answer {
    // Without `range`: the representation must not change with the range asked for.
    let map: BTreeMap<&str, &str> = req
        .headers
        .iter()
        .filter(|(n, _)| n != "range")
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let json = serde_json::to_vec(&map).unwrap();
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(range) = req.header("range").and_then(|r| r.strip_prefix("bytes=")) {
        let ranges: Vec<(usize, usize)> = range
            .split(',')
            .filter_map(|r| {
                let (a, b) = r.trim().split_once('-')?;
                let a: usize = a.parse().ok()?;
                let b: usize = b.parse().unwrap_or(json.len() - 1).min(json.len() - 1);
                (a <= b).then_some((a, b))
            })
            .collect();
        if ranges.is_empty() {
            return ("416 Range Not Satisfiable", vec![], vec![]);
        }
        if let [(a, b)] = ranges[..] {
            headers.push((
                "Content-Range".into(),
                format!("bytes {a}-{b}/{}", json.len()),
            ));
            return ("206 Partial Content", headers, json[a..=b].to_vec());
        }
        let mut body = Vec::new();
        for (a, b) in &ranges {
            body.extend_from_slice(
                format!(
                    "\r\n--SPLIT\r\nContent-Type: application/json\r\nContent-Range: bytes {a}-{b}/{}\r\n\r\n",
                    json.len()
                )
                .as_bytes(),
            );
            body.extend_from_slice(&json[*a..=*b]);
        }
        body.extend_from_slice(b"\r\n--SPLIT--\r\n");
        return (
            "206 Partial Content",
            vec![(
                "Content-Type".into(),
                "multipart/byteranges; boundary=SPLIT".into(),
            )],
            body,
        );
    }
    let accept = req.header("accept-encoding").unwrap_or_default();
    if accept.contains("gzip") {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&json).unwrap();
        headers.push(("Content-Encoding".into(), "gzip".into()));
        return ("200 OK", headers, e.finish().unwrap());
    }
    if accept.contains("deflate") {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&json).unwrap();
        headers.push(("Content-Encoding".into(), "deflate".into()));
        return ("200 OK", headers, e.finish().unwrap());
    }
    ("200 OK", headers, json)
}

// ------------------------------------------------------------------ leaks

/// Where `needle` hides in `hay`: as is, or in a hex or base64 run decoded, or in
/// gzip/zlib/deflate data (raw or decoded) decompressed. `None`: nowhere.
pub fn find_leak(hay: &[u8], needle: &str) -> Option<&'static str> {
    let n = needle.as_bytes();
    if find(hay, n).is_some() {
        return Some("as is");
    }
    if decompressed(hay).iter().any(|d| find(d, n).is_some()) {
        return Some("compressed");
    }
    for decoded in hex_runs(hay) {
        if find(&decoded, n).is_some() {
            return Some("hex-encoded");
        }
        if decompressed(&decoded).iter().any(|d| find(d, n).is_some()) {
            return Some("compressed, hex-encoded");
        }
    }
    for decoded in base64_runs(hay) {
        if find(&decoded, n).is_some() {
            return Some("base64-encoded");
        }
        if decompressed(&decoded).iter().any(|d| find(d, n).is_some()) {
            return Some("compressed, base64-encoded");
        }
    }
    None
}

/// Every way `data` decompresses (gzip, zlib, raw deflate), from any offset where a
/// stream may start (a compressed body in the middle of a JSON text or a multipart).
fn decompressed(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let inflate = |d: &[u8], kind: u8| -> Option<Vec<u8>> {
        let mut v = Vec::new();
        let ok = match kind {
            0 => flate2::read::GzDecoder::new(d).read_to_end(&mut v),
            1 => flate2::read::ZlibDecoder::new(d).read_to_end(&mut v),
            _ => flate2::read::DeflateDecoder::new(d).read_to_end(&mut v),
        };
        // A partial inflate still shows what was there.
        (ok.is_ok() || !v.is_empty()).then_some(v)
    };
    for i in 0..data.len().saturating_sub(2) {
        let rest = &data[i..];
        if rest.starts_with(&[0x1f, 0x8b]) {
            out.extend(inflate(rest, 0));
        } else if rest[0] == 0x78 && ((u16::from(rest[0]) << 8) | u16::from(rest[1])) % 31 == 0 {
            out.extend(inflate(rest, 1));
        }
    }
    if data.len() < 1 << 20 {
        out.extend(inflate(data, 2).filter(|v| !v.is_empty()));
    }
    out
}

fn hex_runs(hay: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, b) in hay.iter().chain(std::iter::once(&b' ')).enumerate() {
        match (b.is_ascii_hexdigit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let run = &hay[s..i];
                if run.len() >= 16 {
                    let even = &run[..run.len() & !1];
                    out.push(
                        even.chunks(2)
                            .map(|p| {
                                u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()
                            })
                            .collect(),
                    );
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn base64_runs(hay: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let is_b64 =
        |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    let mut out = Vec::new();
    for run in hay.split(|b| !is_b64(b)).filter(|r| r.len() >= 24) {
        let text: String = String::from_utf8_lossy(run)
            .trim_end_matches('=')
            .to_string();
        for engine in [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            for skip in 0..4.min(text.len()) {
                let t = &text[skip..];
                let t = &t[..t.len() - t.len() % 4];
                if let Ok(d) = engine.decode(t) {
                    out.push(d);
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------------ the host process

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Reset the peak resident set size (`VmHWM`) to the current one.
pub fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// Processes whose command line contains `token`, with their command lines.
pub fn processes_with(token: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(token) && !is_zombie(pid) {
            out.push((pid, cmdline.trim().to_string()));
        }
    }
    out
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_string).collect())
}

fn is_zombie(pid: u32) -> bool {
    stat_fields(pid).is_none_or(|f| f[0] == "Z" || f[0] == "X")
}

/// Live (not zombie) children of this process, with their command lines.
pub fn live_children() -> Vec<(u32, String)> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(f) = stat_fields(pid) else { continue };
        if f[1] == me && f[0] != "Z" && f[0] != "X" {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            out.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    out
}

/// Threads of this process asleep in the kernel opening a FIFO (waiting for the
/// other end, which nobody may ever open): a host thread stuck for good.
pub fn threads_opening_a_fifo() -> usize {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("wchan"))
                .is_ok_and(|w| matches!(w.trim(), "wait_for_partner" | "fifo_open"))
        })
        .count()
}

/// Open both ends of a FIFO without blocking, which releases whoever waits on the
/// other end; the test's own cleanup, so that a stuck host thread cannot hang it.
pub fn release_fifo(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    for write in [false, true] {
        let _ = std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
    }
}

/// Kill a process this test started (directly or not), by its id.
pub fn kill(pid: u32) {
    // SAFETY: a plain syscall on a pid this test found running with its token.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

/// Bytes of a terminal control sequence in `text`: ESC, the other C0 controls but
/// tab and newline, DEL and the C1 controls (U+0080–U+009F, which some terminals
/// read as ESC + letter). Returns the first offending character and its offset.
pub fn control_character(text: &str) -> Option<(usize, char)> {
    text.char_indices()
        .find(|(_, c)| (c.is_control() && *c != '\n' && *c != '\t') || *c == '\u{7f}')
}
