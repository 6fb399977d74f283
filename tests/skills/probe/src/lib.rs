//! The probe: a hostile test skill that exercises every capability and tries every
//! escape. The capability-matrix tests call its tools with paths, URLs, programs and
//! variables inside and outside its grants (see `skill.toml`) and check what the host
//! allows; the benchmark calls `noop`.
//!
//! Every tool takes a JSON object and returns JSON. I/O errors come back as tool
//! errors (`denied` when the sandbox refused, `failed` otherwise), never as panics;
//! `spin`, `alloc` and `flood_stdout` misbehave on purpose.

use std::collections::BTreeMap;
use std::io::Write;

use chitin_sdk::http::{Method, Request};
use chitin_sdk::{JsonSchema, NoArgs, Skill, ToolError, Tools, exec};
use serde::{Deserialize, Serialize};

struct Probe;

impl Skill for Probe {
    fn tools() -> Tools {
        Tools::new()
            .tool("noop", "Do nothing and return \"ok\"", noop)
            .tool("echo", "Return the text given", echo)
            .tool("read_file", "Read a file as text", read_file)
            .tool(
                "write_file",
                "Write a text file (created or truncated)",
                write_file,
            )
            .tool(
                "list_dir",
                "List the names in a directory, sorted",
                list_dir,
            )
            .tool("stat", "Describe a file or directory", stat)
            .tool("http", "Send an HTTP request (redirects followed)", http)
            .tool("exec", "Run a program through the host", run)
            .tool(
                "env",
                "Read one environment variable (null when unset)",
                env,
            )
            .tool("env_all", "All visible environment variables", env_all)
            .tool("spin", "Loop forever", spin)
            .tool("alloc", "Allocate and touch this many MiB", alloc)
            .tool(
                "flood_stdout",
                "Print this many bytes to stdout",
                flood_stdout,
            )
            .tool(
                "big_result",
                "Return a string of this many bytes",
                big_result,
            )
            .tool(
                "read_loop",
                "Read a file repeatedly; distinct contents seen",
                read_loop,
            )
            .tool(
                "leftovers",
                "Look for traces of an earlier call in memory, then leave some",
                leftovers,
            )
    }
}

chitin_sdk::export_skill!(Probe);

fn noop(_: NoArgs) -> Result<&'static str, ToolError> {
    Ok("ok")
}

#[derive(Deserialize, JsonSchema)]
struct Text {
    text: String,
}

fn echo(args: Text) -> Result<String, ToolError> {
    Ok(args.text)
}

#[derive(Deserialize, JsonSchema)]
struct PathArg {
    /// A path as the skill sees it, e.g. `/workspace/ro/a.txt`.
    path: String,
}

fn read_file(args: PathArg) -> Result<String, ToolError> {
    let bytes =
        std::fs::read(&args.path).map_err(|e| ToolError::io(e, format!("read {}", args.path)))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[derive(Deserialize, JsonSchema)]
struct WriteFile {
    path: String,
    content: String,
}

#[derive(Serialize)]
struct Written {
    written: usize,
}

fn write_file(args: WriteFile) -> Result<Written, ToolError> {
    std::fs::write(&args.path, &args.content)
        .map_err(|e| ToolError::io(e, format!("write {}", args.path)))?;
    Ok(Written {
        written: args.content.len(),
    })
}

fn list_dir(args: PathArg) -> Result<Vec<String>, ToolError> {
    let ctx = |e| ToolError::io(e, format!("list {}", args.path));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&args.path).map_err(ctx)? {
        names.push(
            entry
                .map_err(ctx)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    Ok(names)
}

#[derive(Serialize)]
struct Stat {
    /// `file`, `dir` or `other`, following symlinks.
    kind: &'static str,
    len: u64,
    readonly: bool,
    /// Whether the path itself is a symlink.
    symlink: bool,
}

fn stat(args: PathArg) -> Result<Stat, ToolError> {
    let ctx = |e| ToolError::io(e, format!("stat {}", args.path));
    let link = std::fs::symlink_metadata(&args.path).map_err(ctx)?;
    let meta = std::fs::metadata(&args.path).map_err(ctx)?;
    let kind = if meta.is_dir() {
        "dir"
    } else if meta.is_file() {
        "file"
    } else {
        "other"
    };
    Ok(Stat {
        kind,
        len: meta.len(),
        readonly: meta.permissions().readonly(),
        symlink: link.file_type().is_symlink(),
    })
}

#[derive(Deserialize, JsonSchema)]
struct HttpArgs {
    url: String,
    /// Default GET.
    method: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    body: Option<String>,
}

#[derive(Serialize)]
struct HttpAnswer {
    status: u16,
    /// Lowercase names; repeated fields joined with ", ".
    headers: BTreeMap<String, String>,
    body: String,
    /// The URL that answered, after redirects.
    url: String,
}

fn http(args: HttpArgs) -> Result<HttpAnswer, ToolError> {
    let method: Method = args.method.as_deref().unwrap_or("GET").parse()?;
    let mut request = Request::new(method, args.url);
    for (name, value) in args.headers.unwrap_or_default() {
        request = request.header(name, value);
    }
    if let Some(body) = args.body {
        request = request.body(body);
    }
    let response = request.send()?;
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &response.headers {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    Ok(HttpAnswer {
        status: response.status,
        headers,
        body: response.text(),
        url: response.url,
    })
}

#[derive(Deserialize, JsonSchema)]
struct ExecArgs {
    program: String,
    args: Vec<String>,
    cwd: Option<String>,
}

#[derive(Serialize)]
struct ExecAnswer {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    truncated: bool,
}

fn run(args: ExecArgs) -> Result<ExecAnswer, ToolError> {
    let out = exec::run(&args.program, &args.args, args.cwd.as_deref())?;
    Ok(ExecAnswer {
        status: out.status,
        stdout: out.stdout_text(),
        stderr: out.stderr_text(),
        truncated: out.truncated,
    })
}

#[derive(Deserialize, JsonSchema)]
struct EnvArgs {
    name: String,
}

fn env(args: EnvArgs) -> Result<Option<String>, ToolError> {
    Ok(std::env::var_os(&args.name).map(|v| v.to_string_lossy().into_owned()))
}

fn env_all(_: NoArgs) -> Result<BTreeMap<String, String>, ToolError> {
    Ok(std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect())
}

fn spin(_: NoArgs) -> Result<(), ToolError> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

#[derive(Deserialize, JsonSchema)]
struct Mib {
    mib: usize,
}

#[derive(Serialize)]
struct Allocated {
    mib: usize,
    checksum: u64,
}

/// A memory bomb: an allocation over the memory limit aborts the instance (a trap),
/// as a careless or hostile skill would.
fn alloc(args: Mib) -> Result<Allocated, ToolError> {
    let size = args
        .mib
        .checked_mul(1 << 20)
        .ok_or_else(|| ToolError::invalid_input("too many MiB"))?;
    let mut block = vec![0u8; size];
    // Write every page, so that the memory is really used.
    for i in (0..size).step_by(4096) {
        block[i] = (i >> 12) as u8 | 1;
    }
    let block = std::hint::black_box(block);
    let checksum = block.iter().step_by(4096).map(|&b| u64::from(b)).sum();
    Ok(Allocated {
        mib: args.mib,
        checksum,
    })
}

#[derive(Deserialize, JsonSchema)]
struct Bytes {
    bytes: usize,
}

fn flood_stdout(args: Bytes) -> Result<Written, ToolError> {
    let chunk = [b'A'; 64 * 1024];
    let mut stdout = std::io::stdout().lock();
    let mut written = 0;
    while written < args.bytes {
        let n = chunk.len().min(args.bytes - written);
        stdout
            .write_all(&chunk[..n])
            .map_err(|e| ToolError::io(e, format!("stdout after {written} bytes")))?;
        written += n;
    }
    stdout
        .flush()
        .map_err(|e| ToolError::io(e, format!("stdout after {written} bytes")))?;
    Ok(Written { written })
}

fn big_result(args: Bytes) -> Result<String, ToolError> {
    Ok("x".repeat(args.bytes))
}

#[derive(Deserialize, JsonSchema)]
struct ReadLoop {
    path: String,
    times: usize,
}

/// Reads `path` `times` times and returns each distinct content once, in the order
/// first seen. Failed reads (e.g. while a symlink points outside the grant) are
/// skipped; if every read failed, the last error is returned.
fn read_loop(args: ReadLoop) -> Result<Vec<String>, ToolError> {
    let mut seen: Vec<String> = Vec::new();
    let mut last_error = None;
    for _ in 0..args.times {
        match std::fs::read(&args.path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                if !seen.iter().any(|s| *s == text) {
                    seen.push(text.into_owned());
                }
            }
            Err(e) => last_error = Some(e),
        }
    }
    match (seen.is_empty(), last_error) {
        (true, Some(e)) => Err(ToolError::io(e, format!("read {}", args.path))),
        _ => Ok(seen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_every_tool_with_an_object_schema() {
        let tools = Probe::tools();
        let names: Vec<_> = tools.names().collect();
        assert_eq!(
            names,
            [
                "noop",
                "echo",
                "read_file",
                "write_file",
                "list_dir",
                "stat",
                "http",
                "exec",
                "env",
                "env_all",
                "spin",
                "alloc",
                "flood_stdout",
                "big_result",
                "read_loop",
                "leftovers"
            ]
        );
        for spec in tools.describe() {
            let schema: serde_json::Value = serde_json::from_str(&spec.input_schema).unwrap();
            assert_eq!(schema["type"], "object", "{}", spec.name);
        }
    }

    #[test]
    fn pure_tools_answer() {
        let tools = Probe::tools();
        assert_eq!(tools.invoke("noop", "{}").unwrap(), r#""ok""#);
        assert_eq!(tools.invoke("echo", r#"{"text":"hi"}"#).unwrap(), r#""hi""#);
        assert_eq!(
            tools.invoke("big_result", r#"{"bytes":3}"#).unwrap(),
            r#""xxx""#
        );
        assert_eq!(
            tools.invoke("alloc", r#"{"mib":1}"#).unwrap(),
            r#"{"mib":1,"checksum":32768}"#
        );
    }

    #[test]
    fn files_natively() {
        let dir = std::env::temp_dir().join(format!("chitin-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.txt");
        let path = file.to_str().unwrap();
        let tools = Probe::tools();
        let args = serde_json::json!({ "path": path, "content": "hello" }).to_string();
        assert_eq!(
            tools.invoke("write_file", &args).unwrap(),
            r#"{"written":5}"#
        );
        let args = serde_json::json!({ "path": path }).to_string();
        assert_eq!(tools.invoke("read_file", &args).unwrap(), r#""hello""#);
        let args = serde_json::json!({ "path": path, "times": 3 }).to_string();
        assert_eq!(tools.invoke("read_loop", &args).unwrap(), r#"["hello"]"#);
        let args = serde_json::json!({ "path": dir.to_str().unwrap() }).to_string();
        assert_eq!(tools.invoke("list_dir", &args).unwrap(), r#"["a.txt"]"#);
        let stat = tools.invoke("stat", &args).unwrap();
        assert!(stat.contains(r#""kind":"dir""#), "{stat}");
        let missing = serde_json::json!({ "path": dir.join("nope").to_str().unwrap() });
        let err = tools.invoke("read_file", &missing.to_string()).unwrap_err();
        assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// What `leftovers` found.
#[derive(Serialize)]
struct Leftovers {
    /// Earlier runs of `leftovers` in this instance, by a counter in static memory.
    earlier_calls: u32,
    /// Words of linear memory holding the marker before this call wrote it.
    marked_words: usize,
    /// Bytes of linear memory scanned.
    scanned: usize,
}

static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A fresh instance must show nothing of an earlier call: this counts earlier calls in
/// static memory, scans all of linear memory for a marker that only this tool writes,
/// then writes the marker into a heap block and a static, and leaves them there.
fn leftovers(_: NoArgs) -> Result<Leftovers, ToolError> {
    // Built at run time, so the marker is in no data segment.
    let marker = (std::hint::black_box(0x5eed_0000_u64) << 32) | 0x1ef7_0be5_u64;
    let earlier_calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    // Natively (the SDK's unit tests build skills for the host too) there is no linear
    // memory to scan.
    #[cfg(target_arch = "wasm32")]
    let scanned = core::arch::wasm32::memory_size(0) * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    let scanned = 0;
    let mut marked_words = 0;
    // Skip address 0; every other aligned word is read as it is.
    for addr in (8..scanned).step_by(8) {
        // SAFETY: below memory_size every address is in bounds of linear memory; a
        // volatile read of plain integers is what this probe means to do.
        if unsafe { std::ptr::read_volatile(addr as *const u64) } == marker {
            marked_words += 1;
        }
    }
    let mut block = vec![0u64; 8192];
    block.fill(marker);
    std::hint::black_box(&block);
    std::mem::forget(block);
    Ok(Leftovers {
        earlier_calls,
        marked_words,
        scanned,
    })
}
