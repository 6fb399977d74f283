//! The capability matrix: every capability granted and used, every escape refused —
//! as an error value to the skill and an audit entry — and the host still serving.
//!
//! Every test runs against the probe skill of each language, built from source by
//! `make skills`: `tests/skills/probe` (Rust), `probe-js`, `probe-py` and `probe-c`.
//! They implement the same tools under the same manifest (but for the name), so the
//! expectations are identical; `per_language!` turns each test into one test per
//! language (`fs_dotdot_escape_is_refused::js`, ...). The one exception: the C SDK has
//! no HTTP client, so the C probe has no `http` tool and its HTTP tests are ignored
//! with that reason: wasi-libc has no HTTP client and the C SDK does not wrap
//! `wasi:http`, so the C probe has no `http` tool and does not even import `wasi:http`.

use std::time::{Duration, Instant};

use chitin_host::{CallReport, Grants, Outcome, SkillError, Stop};
use chitin_tests::{Fixture, OUTSIDE, SECRET, TestServer, error_chain};
use serde_json::{Value, json};

/// The languages of the probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Rust,
    Js,
    Python,
    C,
}

impl Lang {
    /// The probe's skill name (`$CHITIN_SKILLS_DIR/<name>.wasm`).
    fn probe(self) -> &'static str {
        match self {
            Lang::Rust => "probe",
            Lang::Js => "probe-js",
            Lang::Python => "probe-py",
            Lang::C => "probe-c",
        }
    }
}

/// One test per language for a test body that gets `fx` (a fresh [`Fixture`]), `probe`
/// (the language's probe, loaded) and `lang`. Options before `async fn`: `multi_thread;`
/// runs on a two-thread runtime; `c_skip = REASON;` marks the C test ignored with that
/// reason.
macro_rules! per_language {
    (multi_thread; $($rest:tt)*) => {
        per_language!(@go [tokio::test(flavor = "multi_thread", worker_threads = 2)] [] $($rest)*);
    };
    (c_skip = $why:literal; $($rest:tt)*) => {
        per_language!(@go [tokio::test] [ignore = $why] $($rest)*);
    };
    (async fn $($rest:tt)*) => {
        per_language!(@go [tokio::test] [] async fn $($rest)*);
    };
    (@go [$($test:tt)*] [$($skip:meta)?] async fn $name:ident($fx:ident, $probe:ident, $lang:ident) $body:block) => {
        mod $name {
            use super::*;

            #[allow(unused_variables)]
            async fn run($lang: Lang) {
                let $fx = Fixture::new();
                let $probe = $fx.load($lang.probe());
                $body
            }

            #[$($test)*]
            async fn rust() {
                run(Lang::Rust).await
            }

            #[$($test)*]
            async fn js() {
                run(Lang::Js).await
            }

            #[$($test)*]
            async fn python() {
                run(Lang::Python).await
            }

            #[$($test)*]
            $(#[$skip])?
            async fn c() {
                run(Lang::C).await
            }
        }
    };
}

fn ok(report: &CallReport) -> Value {
    match &report.outcome {
        Outcome::Ok(text) => serde_json::from_str(text).unwrap(),
        other => panic!(
            "expected success, got {other:?} (denials: {:?})",
            report.denials
        ),
    }
}

/// The call came back as a `denied` error value, naming the capability.
fn denied(report: &CallReport) -> String {
    match &report.outcome {
        Outcome::ToolError(SkillError::Denied(msg)) => msg.clone(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn stopped(report: &CallReport) -> Stop {
    match &report.outcome {
        Outcome::Stopped(stop) => stop.clone(),
        other => panic!("expected the host to stop the call, got {other:?}"),
    }
}

/// The audit log holds an entry for `capability` whose detail contains `needle`.
fn assert_audited(fx: &Fixture, capability: &str, needle: &str) {
    let entries = fx.audit();
    assert!(
        entries
            .iter()
            .any(|e| e.capability == capability && e.detail.contains(needle)),
        "no audit entry for {capability} containing {needle:?}: {entries:#?}"
    );
}

/// After a refusal or a stop, the same host answers the next call normally.
async fn still_serving(fx: &Fixture, skill: &chitin_host::LoadedSkill) {
    assert_eq!(
        ok(&fx.call(skill, "echo", json!({"text": "still here"})).await),
        "still here"
    );
}

// ---------------------------------------------------------------- files

per_language! { async fn fs_reads_a_granted_folder(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "read_file",
            json!({"path": "/workspace/ro/hello.txt"}),
        )
        .await;
    assert_eq!(ok(&r), "hello from ro\n");
    assert!(r.denials.is_empty());
} }

per_language! { async fn fs_writes_a_read_write_grant(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "write_file",
            json!({"path": "/workspace/rw/out.txt", "content": "written"}),
        )
        .await;
    ok(&r);
    assert_eq!(
        std::fs::read_to_string(fx.path("workspace/rw/out.txt")).unwrap(),
        "written"
    );
} }

per_language! { async fn fs_write_to_read_only_grant_is_refused(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "write_file",
            json!({"path": "/workspace/ro/evil.txt", "content": "x"}),
        )
        .await;
    denied(&r);
    assert!(!fx.path("workspace/ro/evil.txt").exists());
    assert_audited(&fx, "fs", "evil.txt");
    still_serving(&fx, &probe).await;
} }

per_language! { async fn fs_dotdot_escape_is_refused(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "read_file",
            json!({"path": "/workspace/ro/../../outside/secret.txt"}),
        )
        .await;
    denied(&r);
    assert_audited(&fx, "fs", "../../outside/secret.txt");
} }

per_language! { async fn fs_absolute_path_outside_is_refused(fx, probe, lang) {
    // wasi-libc (and the JS runtime) finds no preopen for the path, so the host is never
    // asked: the refusal is the guest's own error value, naming the path, and reaches
    // the audit log only as the skill reports it.
    let outside = fx.path("outside/secret.txt").display().to_string();
    for path in [outside.as_str(), "/etc/passwd"] {
        let r = fx.call(&probe, "read_file", json!({"path": path})).await;
        let why = match lang {
            Lang::Rust | Lang::C => "Capabilities insufficient",
            Lang::Js => "is outside the granted folders",
            // CPython's libc reports no preopen as a missing file.
            Lang::Python => "No such file or directory",
        };
        let message = match &r.outcome {
            Outcome::ToolError(SkillError::Denied(m) | SkillError::Failed(m)) => m,
            other => panic!("{path}: expected the guest's refusal, got {other:?}"),
        };
        assert!(message.contains(path) && message.contains(why), "{path}: {message}");
        assert!(!message.contains(SECRET), "{message}");
        assert!(
            !r.denials.iter().any(|d| d.capability == chitin_registry::Capability::Fs.into()),
            "the host was asked: {:?}",
            r.denials
        );
        if matches!(r.outcome, Outcome::ToolError(SkillError::Denied(_))) {
            assert_audited(&fx, "reported", path);
        }
    }
    still_serving(&fx, &probe).await;
} }

per_language! { async fn fs_symlink_leading_outside_is_refused(fx, probe, lang) {
    std::os::unix::fs::symlink(fx.path("outside/secret.txt"), fx.path("workspace/ro/link"))
        .unwrap();
    std::os::unix::fs::symlink("../../outside", fx.path("workspace/ro/dirlink")).unwrap();
    let r = fx
        .call(&probe, "read_file", json!({"path": "/workspace/ro/link"}))
        .await;
    denied(&r);
    let r = fx
        .call(
            &probe,
            "read_file",
            json!({"path": "/workspace/ro/dirlink/secret.txt"}),
        )
        .await;
    denied(&r);
    assert_audited(&fx, "fs", "link");
} }

// A symlink swapped in after any check: a thread flips `race` between a regular file
// and a symlink to the secret while the skill reads it in a loop. Resolution happens
// beneath the preopened handle on every open, so the secret is never read.
per_language! { multi_thread; async fn fs_symlink_swapped_after_check_never_leaks(fx, probe, lang) {
    let race = fx.path("workspace/ro/race");
    let secret = fx.path("outside/secret.txt");
    std::fs::write(&race, "safe").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (race, stop) = (race.clone(), stop.clone());
        std::thread::spawn(move || {
            let tmp_file = race.with_extension("file");
            let tmp_link = race.with_extension("link");
            let mut flips = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::write(&tmp_file, "safe").unwrap();
                std::fs::rename(&tmp_file, &race).unwrap();
                let _ = std::fs::remove_file(&tmp_link);
                std::os::unix::fs::symlink(&secret, &tmp_link).unwrap();
                std::fs::rename(&tmp_link, &race).unwrap();
                flips += 1;
            }
            flips
        })
    };
    let r = fx
        .call(
            &probe,
            "read_loop",
            json!({"path": "/workspace/ro/race", "times": 3000}),
        )
        .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 10, "the race did not run ({flips} flips)");
    if let Outcome::Ok(text) = &r.outcome {
        assert!(
            !text.contains("TOPSECRET"),
            "secret leaked through a swapped symlink: {text}"
        );
    }
    assert!(!format!("{:?}", r.outcome).contains(OUTSIDE));
    assert_audited(&fx, "fs", "race");
} }

// A skill with a read-write folder replaces a declared folder by a link to the outside
// (here the test plants it, as the skill's earlier call would have); the next call's
// grants must not follow it, and must still follow a link that stays inside.
#[tokio::test]
async fn fs_grant_through_a_planted_link_is_refused() {
    let fx = Fixture::new();
    let probe = fx.load("probe");
    std::fs::remove_dir_all(fx.path("workspace/ro")).unwrap();
    std::os::unix::fs::symlink("../outside", fx.path("workspace/ro")).unwrap();
    let err = error_chain(&Grants::from_manifest(&probe.manifest, &fx.env).unwrap_err());
    assert!(
        err.contains("$WORKSPACE/ro") && err.contains("symbolic link"),
        "{err}"
    );
    // A link that stays inside the workspace is the user's layout, and followed.
    std::fs::remove_file(fx.path("workspace/ro")).unwrap();
    std::fs::create_dir(fx.path("workspace/real-ro")).unwrap();
    std::fs::write(fx.path("workspace/real-ro/hello.txt"), "inside").unwrap();
    std::os::unix::fs::symlink("real-ro", fx.path("workspace/ro")).unwrap();
    let r = fx
        .call(
            &probe,
            "read_file",
            json!({"path": "/workspace/ro/hello.txt"}),
        )
        .await;
    assert_eq!(ok(&r), "inside");
}

// A long-running host (`chitin agent`, `chitin mcp`) resolves grants when a skill enters
// its catalogue and holds the checked folder open: a granted path swapped for a link
// afterwards is not followed, and calls still see the folder that was checked.
#[tokio::test]
async fn fs_a_catalogue_keeps_the_checked_folder_when_its_path_is_swapped() {
    use chitin_agent::tools::ToolCatalogue;
    let fx = Fixture::new();
    let runtime = std::sync::Arc::new(chitin_host::Runtime::new(
        chitin_host::SkillEngine::new(chitin_tests::shared_cache_dir()).unwrap(),
        chitin_host::AuditLog::in_memory().unwrap(),
    ));
    let probe = runtime.load(&chitin_tests::skill_bytes("probe")).unwrap();
    let catalogue =
        chitin_host::catalogue::SkillCatalogue::from_skills(runtime, vec![probe], &fx.env)
            .await
            .unwrap();
    let read = catalogue
        .tools()
        .into_iter()
        .find(|t| t.tool == "read_file")
        .unwrap();
    std::fs::rename(fx.path("workspace/ro"), fx.path("workspace/ro-moved")).unwrap();
    std::os::unix::fs::symlink("../outside", fx.path("workspace/ro")).unwrap();
    std::fs::write(fx.path("outside/hello.txt"), OUTSIDE).unwrap();
    let out = catalogue
        .call(&read, r#"{"path":"/workspace/ro/hello.txt"}"#, "test")
        .await;
    assert!(!out.is_error, "{}", out.content);
    assert!(out.content.contains("hello from ro"), "{}", out.content);
    assert!(!out.content.contains(OUTSIDE), "{}", out.content);
}

// chitin's own data folder (the audit log, grants, secrets) is never granted, whether
// the grant is the folder, inside it or holds it.
#[tokio::test]
async fn fs_grants_never_reach_chitin_data() {
    let mut fx = Fixture::new();
    let probe = fx.load("probe");
    for protected in ["workspace/rw", "workspace/rw/chitin", "workspace"] {
        std::fs::create_dir_all(fx.path(protected)).unwrap();
        fx.env.protected = vec![fx.path(protected).canonicalize().unwrap()];
        let err = error_chain(&Grants::from_manifest(&probe.manifest, &fx.env).unwrap_err());
        assert!(err.contains("chitin's own data"), "{protected}: {err}");
    }
}

// A FIFO in a granted folder would block the host thread that opens it until a writer
// comes; it is refused at open, quickly, and audited.
per_language! { async fn fs_a_fifo_is_refused_without_blocking(fx, probe, lang) {
    let fifo = std::ffi::CString::new(fx.path("workspace/ro/fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let started = Instant::now();
    let r = fx
        .call(&probe, "read_file", json!({"path": "/workspace/ro/fifo"}))
        .await;
    denied(&r);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_audited(&fx, "fs", "named pipe");
    still_serving(&fx, &probe).await;
} }

// A skill looping on a refused operation fills neither the host's memory nor the audit
// log: the first denials are kept, the rest summed up in one row.
per_language! { async fn fs_denials_of_one_call_are_bounded(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "read_loop",
            json!({"path": "/workspace/ro/../../outside/secret.txt", "times": 3000}),
        )
        .await;
    assert!(r.denials.len() <= chitin_host::audit::MAX_DENIALS + 1, "{}", r.denials.len());
    let rows = fx.audit();
    assert!(rows.len() <= chitin_host::audit::MAX_DENIALS + 1, "{} rows", rows.len());
    assert_audited(&fx, "fs", "more fs denials in this call");
} }

// `limits.disk` (1 MiB for the probe): writes past it fail, nothing past it lands, and
// the call's audit says so.
per_language! { async fn fs_writes_past_the_disk_limit_fail(fx, probe, lang) {
    let content = "x".repeat(3 << 19);
    let r = fx
        .call(
            &probe,
            "write_file",
            json!({"path": "/workspace/rw/big.txt", "content": content}),
        )
        .await;
    assert!(!matches!(r.outcome, Outcome::Ok(_)), "{:?}", r.outcome);
    let written = std::fs::metadata(fx.path("workspace/rw/big.txt")).map_or(0, |m| m.len());
    assert!(written <= 1 << 20, "{written} bytes landed");
    assert_audited(&fx, "limits", "disk limit");
    // Within the limit, writing works.
    let r = fx
        .call(
            &probe,
            "write_file",
            json!({"path": "/workspace/rw/small.txt", "content": "x".repeat(1 << 19)}),
        )
        .await;
    ok(&r);
} }

// ---------------------------------------------------------------- http

per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn http_reaches_a_declared_host(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    let r = fx
        .call(&probe, "http", json!({"url": server.url("/hello")}))
        .await;
    let v = ok(&r);
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "hello from /hello");
    assert_eq!(server.requests().len(), 1);
} }

per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn http_undeclared_host_is_refused_before_connecting(fx, probe, lang) {
    // A real server on an address the skill did not declare: it must see nothing.
    let other = TestServer::start("127.0.0.2");
    let r = fx
        .call(&probe, "http", json!({"url": other.url("/steal")}))
        .await;
    let msg = denied(&r);
    assert!(msg.contains("127.0.0.2"), "{msg}");
    assert!(
        other.requests().is_empty(),
        "the undeclared host was contacted"
    );
    assert_audited(&fx, "http", "127.0.0.2");
    // A name that does not exist anywhere: refused, not resolved.
    let r = fx
        .call(&probe, "http", json!({"url": "https://exfil.invalid/x"}))
        .await;
    denied(&r);
    assert_audited(&fx, "http", "exfil.invalid");
    still_serving(&fx, &probe).await;
} }

per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn http_path_outside_the_declared_pattern_is_refused(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    // `http://localhost:*/public/*` is declared, `/private` is not.
    let public = format!("http://localhost:{}/public/x", server.port);
    ok(&fx.call(&probe, "http", json!({"url": public})).await);
    let private = format!("http://localhost:{}/private", server.port);
    denied(&fx.call(&probe, "http", json!({"url": private})).await);
    assert_eq!(server.requests().len(), 1, "{:?}", server.requests());
    assert_audited(&fx, "http", "/private");
} }

// Only `http://localhost:*/public/*` is declared for localhost: a path that starts with
// `/public/` but that a server resolves elsewhere is refused before connecting, and
// what is sent is the path as the host matched it. (The JavaScript SDK resolves dot
// segments itself, per the WHATWG URL standard, so for it the host sees `/secret.txt`.)
per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn http_dot_segments_cannot_leave_the_declared_path(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    let url = |path: &str| format!("http://localhost:{}{path}", server.port);
    for path in [
        "/public/../secret.txt",
        "/public/%2e%2e/secret.txt",
        "/public/%2E./secret.txt",
        "/public/..%2fsecret.txt",
        "/public/..;/secret.txt",
        "/public/x/../../secret.txt",
    ] {
        let r = fx.call(&probe, "http", json!({"url": url(path)})).await;
        denied(&r);
        assert!(
            server.requests().is_empty(),
            "{path} reached the server: {:?}",
            server.requests()
        );
    }
    assert_audited(&fx, "http", "secret.txt");
    assert_audited(&fx, "http", "ambiguous path");
    // Inside the declared path, dot segments are resolved before sending.
    let v = ok(&fx.call(&probe, "http", json!({"url": url("/public/a/../b")})).await);
    assert_eq!(v["body"], "hello from /public/b");
    assert_eq!(server.requests()[0].path, "/public/b");
    still_serving(&fx, &probe).await;
} }

per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn http_redirect_to_undeclared_host_is_refused(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    let other = TestServer::start("127.0.0.2");
    let url = server.url(&format!("/redirect?to={}", other.url("/steal")));
    let r = fx.call(&probe, "http", json!({"url": url})).await;
    denied(&r);
    assert_eq!(server.requests().len(), 1);
    assert!(
        other.requests().is_empty(),
        "the redirect target was contacted"
    );
    assert_audited(&fx, "http", "127.0.0.2");
} }

/// Only the Python probe imports `wasi:sockets` (CPython's libc does, whatever the
/// skill does): a raw connection must fail without reaching the server. (Today it fails
/// inside the guest: componentize-py's standard library has no `socket` module. Below
/// that, the host denies every address.)
#[tokio::test]
async fn raw_sockets_are_refused_python() {
    let fx = Fixture::new();
    let probe = fx.load("probe-py");
    let server = TestServer::start("127.0.0.1");
    let r = fx
        .call(
            &probe,
            "connect",
            json!({"host": "127.0.0.1", "port": server.port}),
        )
        .await;
    assert!(
        matches!(r.outcome, Outcome::ToolError(_)),
        "{:?}",
        r.outcome
    );
    assert!(
        server.requests().is_empty(),
        "the raw connection reached the server"
    );
    still_serving(&fx, &probe).await;
}

// ---------------------------------------------------------------- secrets

per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_is_injected_for_its_host_and_redacted_when_echoed(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    let r = fx
        .call(&probe, "http", json!({"url": server.url("/private/echo-headers")}))
        .await;
    let v = ok(&r);
    // The server got the secret in the declared header and format...
    let seen = server.requests();
    assert_eq!(
        seen[0].headers.get("x-probe-token").map(String::as_str),
        Some(&*format!("Token {SECRET}"))
    );
    // ...but the echo the skill read back has it redacted.
    let body = v["body"].as_str().unwrap();
    assert!(!body.contains(SECRET), "secret echoed to the skill: {body}");
    assert!(body.contains("[REDACTED:PROBE_TOKEN]"), "{body}");
    assert!(
        !r.stdout
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes())
    );
} }

per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_is_not_sent_to_other_declared_hosts(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    // localhost is declared for HTTP but the secret belongs to 127.0.0.1 only.
    let url = format!("http://localhost:{}/public/echo-headers", server.port);
    ok(&fx.call(&probe, "http", json!({"url": url})).await);
    assert!(!server.requests()[0].headers.contains_key("x-probe-token"));
} }

// The probe's secret goes to `http://127.0.0.1:*/private/*` only. Elsewhere on the same
// host the request is allowed (`http://127.0.0.1:*/*`) and goes out without it: not a
// denial, just a request without credentials.
per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_is_not_sent_outside_its_declared_path(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    for path in ["/public/echo-headers", "/private/../public/echo-headers", "/echo-headers"] {
        let r = fx.call(&probe, "http", json!({"url": server.url(path)})).await;
        ok(&r);
        assert!(r.denials.is_empty(), "{path}: {:?}", r.denials);
    }
    for seen in server.requests() {
        assert!(!seen.headers.contains_key("x-probe-token"), "{seen:?}");
    }
    // The skill's own value for the header is left alone there.
    let r = fx
        .call(
            &probe,
            "http",
            json!({"url": server.url("/public/echo-headers"), "headers": {"X-Probe-Token": "mine"}}),
        )
        .await;
    assert!(ok(&r)["body"].as_str().unwrap().contains(r#""x-probe-token":"mine""#));
} }

// Asks a stock-behaving echo server for a compressed, then a partial, then a
// transfer-encoded echo of a request that carries the secret: the host strips those
// asks, so the server answers the whole echo in plain text, which is redacted.
per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_echo_cannot_be_asked_compressed_or_in_pieces(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    let asks = [
        json!({"Accept-Encoding": "gzip"}),
        json!({"Range": "bytes=0-40"}),
        json!({"Range": "bytes=0-40,41-400", "If-Range": "\"x\""}),
        json!({"TE": "gzip, trailers", "Accept-Charset": "utf-16"}),
    ];
    for headers in asks {
        let url = server.url("/private/echo-headers");
        let r = fx.call(&probe, "http", json!({"url": url, "headers": headers})).await;
        let v = ok(&r);
        assert_eq!(v["status"], 200, "{headers}: {v}");
        let body = v["body"].as_str().unwrap();
        assert!(body.contains("[REDACTED:PROBE_TOKEN]"), "{headers}: {body}");
        assert!(!body.contains(SECRET), "{headers}: {body}");
    }
    for seen in server.requests() {
        assert_eq!(seen.headers.get("x-probe-token").map(String::as_str), Some(&*format!("Token {SECRET}")));
        assert_eq!(seen.headers.get("accept-encoding").map(String::as_str), Some("identity"), "{seen:?}");
        for stripped in ["range", "if-range", "te", "accept-charset"] {
            assert!(!seen.headers.contains_key(stripped), "{stripped}: {seen:?}");
        }
    }
} }

// A server may compress or cut a response it was not asked to: the response to a
// request that carried the secret is then refused, never passed on undecoded.
per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_echo_compressed_or_partial_unasked_is_refused(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    for (path, why) in [
        ("/private/echo-headers-gzipped", "Content-Encoding: gzip"),
        ("/private/echo-headers-partial", "partial response"),
    ] {
        let r = fx.call(&probe, "http", json!({"url": server.url(path)})).await;
        denied(&r);
        assert!(!format!("{:?}", r.outcome).contains(SECRET));
        assert_audited(&fx, "http", why);
    }
    // Without the secret the same responses are the skill's to decode.
    let url = server.url("/public/echo-headers-partial");
    assert_eq!(ok(&fx.call(&probe, "http", json!({"url": url})).await)["status"], 206);
    still_serving(&fx, &probe).await;
} }

per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_is_redacted_in_encoded_echoes(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    let url = server.url("/private/echo-headers-encoded");
    let v = ok(&fx.call(&probe, "http", json!({"url": url})).await);
    let forms: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    use base64::Engine as _;
    for form in ["base64", "base64url", "percent", "upper"] {
        let text = forms[form].as_str().unwrap();
        assert!(text.contains("[REDACTED:PROBE_TOKEN]"), "{form}: {text}");
        // Decoded back, what is left around the mark holds no copy of the secret.
        let decoded: String = match form {
            "base64" | "base64url" => text
                .split("[REDACTED:PROBE_TOKEN]")
                .map(|piece| {
                    let engine = if form == "base64" {
                        base64::engine::general_purpose::STANDARD
                    } else {
                        base64::engine::general_purpose::URL_SAFE
                    };
                    let whole = &piece[..piece.len() / 4 * 4];
                    String::from_utf8_lossy(&engine.decode(whole).unwrap_or_default()).into_owned()
                })
                .collect(),
            "percent" => String::from_utf8_lossy(&percent_decode(text)).into_owned(),
            _ => text.to_lowercase(),
        };
        assert!(!decoded.contains(SECRET), "{form}: {decoded}");
    }
} }

fn percent_decode(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (other, _) => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

// The body of a secret-bearing response that does not come with the headers: after
// a pause, 5 bytes per chunk (the secret is cut across chunks). It is read while the
// connection is driven, within the probe's 3 s limit, and redacted whole.
per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_response_body_arriving_late_in_pieces_is_read_and_redacted(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    let url = server.url("/private/echo-headers-slow");
    let v = ok(&fx.call(&probe, "http", json!({"url": url})).await);
    let body = v["body"].as_str().unwrap();
    assert!(body.contains("[REDACTED:PROBE_TOKEN]"), "{body}");
    assert!(!body.contains(SECRET), "{body}");
} }

// Over the 32 MiB the host buffers for redaction, streamed without a length: the
// response is refused at the bound, as an error, not a hang or a host crash. Announced
// by `Content-Length`, it is refused before any of the body is awaited (the server
// sends none for 5 s, past the probe's 3 s limit).
per_language! { c_skip = "no HTTP client in the C SDK (see the top of this file)"; async fn secret_response_over_the_bound_is_refused(fx, probe, lang) {
    let server = TestServer::start("127.0.0.1");
    for path in ["/private/echo-headers-big?mb=33", "/private/echo-headers-announced-33mib"] {
        let r = fx.call(&probe, "http", json!({"url": server.url(path)})).await;
        assert!(
            matches!(r.outcome, Outcome::ToolError(SkillError::Failed(_))),
            "{path}: {:?}",
            r.outcome
        );
        assert!(!format!("{:?}", r.outcome).contains(SECRET));
    }
    still_serving(&fx, &probe).await;
} }

per_language! { async fn secret_cannot_be_read_by_the_skill(fx, probe, lang) {
    assert_eq!(
        ok(&fx.call(&probe, "env", json!({"name": "PROBE_TOKEN"})).await),
        Value::Null
    );
    let all = ok(&fx.call(&probe, "env_all", json!({})).await).to_string();
    assert!(!all.contains(SECRET), "{all}");
    let r = fx
        .call(&probe, "exec", json!({"program": "env", "args": []}))
        .await;
    assert!(!ok(&r).to_string().contains(SECRET));
} }

/// The Rust probe re-packed with these `[capabilities]` lines for `http` and
/// `secrets` (and an `exec` line, as the probe imports exec), and limits large enough
/// for multi-MiB responses. These tests name
/// concrete ports, known only at run time, so they re-pack the probe; they use the Rust
/// probe only (the checks are the host's, the same for every language, and the
/// JavaScript and Python components take long to compile once per manifest).
fn repacked_probe(fx: &Fixture, http: &str, secrets: &str) -> chitin_host::LoadedSkill {
    let manifest = format!(
        "[skill]\nname = \"probe\"\nversion = \"0.1.0\"\n\n[capabilities]\nhttp = {http}\n\
         secrets = {secrets}\nexec = [{{ program = \"echo\", args = [\"hello\"] }}]\n\n[limits]\nmemory = \"256MiB\"\ntimeout = \"10s\"\noutput = \"64MiB\"\n"
    );
    let raw = std::fs::read(chitin_tests::skills_dir().join("raw/probe.wasm")).unwrap();
    let packed = chitin_registry::embed_manifest(&raw, &manifest).unwrap();
    fx.runtime.load(&packed).unwrap()
}

fn token_seen(server: &TestServer) -> Vec<bool> {
    server
        .requests()
        .iter()
        .map(|r| r.headers.get("x-probe-token") == Some(&format!("Token {SECRET}")))
        .collect()
}

/// A secret declared for one port of a host is not sent to another port of it, though
/// HTTP to every port is allowed.
#[tokio::test]
async fn secret_is_not_sent_to_another_port_of_its_host() {
    let fx = Fixture::new();
    let (a, b) = (
        TestServer::start("127.0.0.1"),
        TestServer::start("127.0.0.1"),
    );
    let probe = repacked_probe(
        &fx,
        r#"["http://127.0.0.1:*/*"]"#,
        &format!(
            r#"[{{ name = "PROBE_TOKEN", hosts = ["http://127.0.0.1:{}/private/*"], header = "X-Probe-Token", format = "Token {{}}" }}]"#,
            a.port
        ),
    );
    for server in [&a, &b] {
        let url = server.url("/private/echo-headers");
        let r = fx.call(&probe, "http", json!({"url": url})).await;
        assert!(!ok(&r)["body"].as_str().unwrap().contains(SECRET));
        assert!(r.denials.is_empty(), "{:?}", r.denials);
    }
    assert_eq!(token_seen(&a), [true]);
    assert_eq!(token_seen(&b), [false]);
}

/// A bare host means https on port 443: over plain http, even where plain http is
/// allowed, the secret is not sent.
#[tokio::test]
async fn secret_for_a_bare_host_is_not_sent_over_plain_http() {
    let fx = Fixture::new();
    let server = TestServer::start("127.0.0.1");
    let probe = repacked_probe(
        &fx,
        r#"["http://127.0.0.1:*/*", "https://127.0.0.1/*"]"#,
        r#"[{ name = "PROBE_TOKEN", hosts = ["127.0.0.1"], header = "X-Probe-Token", format = "Token {}" }]"#,
    );
    let url = server.url("/private/echo-headers");
    ok(&fx.call(&probe, "http", json!({"url": url})).await);
    assert_eq!(token_seen(&server), [false]);
}

/// A few MiB of secret-bearing response, streamed in 64 KiB chunks with the echo in
/// the middle: read whole (not stuck behind the connection) and redacted.
#[tokio::test]
async fn secret_response_of_several_mib_is_read_and_redacted() {
    let fx = Fixture::new();
    let server = TestServer::start("127.0.0.1");
    let probe = repacked_probe(
        &fx,
        r#"["http://127.0.0.1:*/*"]"#,
        r#"[{ name = "PROBE_TOKEN", hosts = ["http://127.0.0.1:*/*"], header = "X-Probe-Token", format = "Token {}" }]"#,
    );
    let started = Instant::now();
    let url = server.url("/private/echo-headers-big?mb=6");
    let v = ok(&fx.call(&probe, "http", json!({"url": url})).await);
    let body = v["body"].as_str().unwrap();
    // 6 MiB, less what redaction shortened.
    assert!(body.len() > (6 << 20) - 100, "{}", body.len());
    assert!(body.contains("[REDACTED:PROBE_TOKEN]"));
    assert!(!body.contains(SECRET));
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------- exec

per_language! { async fn exec_runs_a_declared_program(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "exec",
            json!({"program": "echo", "args": ["hello", "world"]}),
        )
        .await;
    let v = ok(&r);
    assert_eq!(v["stdout"], "hello world\n");
    assert_eq!(v["status"], 0);
} }

per_language! { async fn exec_undeclared_program_is_refused(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "exec",
            json!({"program": "cat", "args": [fx.path("outside/secret.txt")]}),
        )
        .await;
    let msg = denied(&r);
    assert!(msg.contains("cat"), "{msg}");
    assert_audited(&fx, "exec", "cat");
} }

per_language! { async fn exec_shell_is_refused(fx, probe, lang) {
    let marker = fx.path("workspace/rw/pwned");
    let cmd = format!("touch {}", marker.display());
    let r = fx
        .call(
            &probe,
            "exec",
            json!({"program": "sh", "args": ["-c", cmd]}),
        )
        .await;
    denied(&r);
    // Shell syntax smuggled into an allowed program's argument is just an argument.
    let r = fx
        .call(
            &probe,
            "exec",
            json!({"program": "echo", "args": ["hello", format!("; {cmd}")]}),
        )
        .await;
    assert_eq!(ok(&r)["stdout"], format!("hello ; {cmd}\n"));
    assert!(!marker.exists());
    assert_audited(&fx, "exec", "sh");
} }

per_language! { async fn exec_arguments_outside_the_pattern_are_refused(fx, probe, lang) {
    denied(
        &fx.call(
            &probe,
            "exec",
            json!({"program": "echo", "args": ["goodbye"]}),
        )
        .await,
    );
    denied(
        &fx.call(
            &probe,
            "exec",
            json!({"program": "echo", "args": ["hello", "a", "b"]}),
        )
        .await,
    );
    assert_audited(&fx, "exec", "goodbye");
} }

per_language! { async fn exec_gets_only_granted_environment_and_a_granted_cwd(fx, probe, lang) {
    let v = ok(&fx
        .call(&probe, "exec", json!({"program": "env", "args": []}))
        .await);
    let out = v["stdout"].as_str().unwrap();
    assert_eq!(out.trim(), "CHITIN_PROBE_VISIBLE=visible-value");
    let r = fx
        .call(
            &probe,
            "exec",
            json!({"program": "echo", "args": ["hello", "x"], "cwd": "/workspace/rw"}),
        )
        .await;
    ok(&r);
    let r = fx
        .call(
            &probe,
            "exec",
            json!({"program": "echo", "args": ["hello", "x"], "cwd": "/etc"}),
        )
        .await;
    denied(&r);
    assert_audited(&fx, "exec", "/etc");
} }

per_language! { async fn exec_output_is_capped(fx, probe, lang) {
    let r = fx
        .call(
            &probe,
            "exec",
            json!({"program": "head", "args": ["-c", "100000000", "/dev/zero"]}),
        )
        .await;
    // The probe's output limit is 256KiB; the 100 MB stream is cut there, so the
    // answer either fits (truncated) or the call is stopped by the output limit.
    match &r.outcome {
        Outcome::Ok(text) => {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["truncated"], true);
            assert!(v["stdout"].as_str().unwrap().len() <= 256 << 10);
        }
        Outcome::Stopped(Stop::Output { .. }) => {}
        other => panic!("{other:?}"),
    }
} }

// ---------------------------------------------------------------- env

per_language! { async fn env_only_granted_names_are_visible(fx, probe, lang) {
    assert_eq!(
        ok(&fx
            .call(&probe, "env", json!({"name": "CHITIN_PROBE_VISIBLE"}))
            .await),
        "visible-value"
    );
    assert_eq!(
        ok(&fx
            .call(&probe, "env", json!({"name": "CHITIN_PROBE_HIDDEN"}))
            .await),
        Value::Null
    );
    let all = ok(&fx.call(&probe, "env_all", json!({})).await);
    assert_eq!(all, json!({"CHITIN_PROBE_VISIBLE": "visible-value"}));
} }

// ---------------------------------------------------------------- limits

per_language! { async fn infinite_loop_is_stopped_at_the_timeout(fx, probe, lang) {
    let started = Instant::now();
    let r = fx.call(&probe, "spin", json!({})).await;
    assert!(
        matches!(stopped(&r), Stop::Timeout { .. }),
        "{:?}",
        r.outcome
    );
    // The probe declares 3s; it must not run on much longer.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_audited(&fx, "limits", "time limit");
    still_serving(&fx, &probe).await;
} }

per_language! { async fn memory_bomb_is_stopped(fx, probe, lang) {
    ok(&fx.call(&probe, "alloc", json!({"mib": 4})).await);
    let r = fx.call(&probe, "alloc", json!({"mib": 512})).await;
    assert!(
        matches!(stopped(&r), Stop::Memory { .. }),
        "{:?}",
        r.outcome
    );
    assert_audited(&fx, "limits", "memory limit");
    still_serving(&fx, &probe).await;
} }

per_language! { async fn output_flood_is_stopped(fx, probe, lang) {
    let r = fx
        .call(&probe, "flood_stdout", json!({"bytes": 50_000_000}))
        .await;
    match &r.outcome {
        Outcome::Stopped(Stop::Output { .. }) => {}
        // The SDK may surface the closed stdout as an error value instead of a trap.
        Outcome::ToolError(SkillError::Failed(_)) => {}
        other => panic!("{other:?}"),
    }
    assert!(r.stdout.len() <= 256 << 10);
    let r = fx
        .call(&probe, "big_result", json!({"bytes": 1_000_000}))
        .await;
    assert!(
        matches!(stopped(&r), Stop::Output { .. }),
        "{:?}",
        r.outcome
    );
    assert_audited(&fx, "limits", "output limit");
    still_serving(&fx, &probe).await;
} }

// ---------------------------------------------------------------- the skill itself

per_language! { async fn describe_runs_with_no_grants(fx, probe, lang) {
    let tools = fx.runtime.describe(&probe).await.unwrap();
    assert!(tools.iter().any(|t| t.name == "read_file"));
    assert!(tools.iter().all(|t| t.input_schema["type"] == "object"));
} }

per_language! { async fn imports_not_covered_by_the_manifest_are_refused(fx, probe, lang) {
    let wasm = chitin_tests::skill_bytes(lang.probe());
    // The same code, re-packed claiming no capabilities: it still imports exec (and,
    // but for C, which has no HTTP client, HTTP).
    let manifest = format!("[skill]\nname = \"{}\"\nversion = \"0.1.0\"\n", lang.probe());
    let repacked = chitin_registry::embed_manifest(&wasm, &manifest).unwrap();
    let err = fx
        .runtime
        .load(&repacked)
        .err()
        .expect("must be refused")
        .to_string();
    if lang != Lang::C {
        assert!(err.contains("wasi:http"), "{err}");
    }
    assert!(err.contains("chitin:skill/exec"), "{err}");
} }

#[test]
fn components_without_a_manifest_are_refused() {
    let fx = Fixture::new();
    let raw = std::fs::read(chitin_tests::skills_dir().join("raw/probe.wasm")).unwrap();
    let err = fx
        .runtime
        .load(&raw)
        .err()
        .expect("must be refused")
        .to_string();
    assert!(err.contains("no embedded skill manifest"), "{err}");
}

/// Every call gets a fresh instance: nothing an earlier call wrote to linear memory —
/// static data or heap — is visible to the next, even when the pooling allocator
/// reuses the same memory slot (copy-on-write image, kept-resident pages reset). Rust
/// probe only: the `leftovers` tool reads raw linear memory.
#[tokio::test]
async fn no_call_sees_memory_written_by_an_earlier_call() {
    let fx = Fixture::new();
    let probe = fx.load(Lang::Rust.probe());
    for round in 0..4 {
        let seen = ok(&fx.call(&probe, "leftovers", json!({})).await);
        assert_eq!(seen["earlier_calls"], 0, "round {round}: {seen}");
        assert_eq!(seen["marked_words"], 0, "round {round}: {seen}");
        assert!(seen["scanned"].as_u64().unwrap() >= 1 << 20, "{seen}");
        // Dirty more memory, past the initial size, between rounds.
        ok(&fx.call(&probe, "alloc", json!({"mib": 4})).await);
    }
}
