//! The `chitin` binary as a user meets it: consent, output, exit codes, the audit log.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn skills_dir() -> PathBuf {
    std::env::var_os("CHITIN_SKILLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/skills"))
}

fn probe() -> PathBuf {
    let p = skills_dir().join("probe.wasm");
    assert!(p.exists(), "{} is missing; run `make skills`", p.display());
    p
}

struct Env {
    home: tempfile::TempDir,
    ws: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("ro")).unwrap();
        std::fs::create_dir_all(ws.path().join("rw")).unwrap();
        std::fs::write(ws.path().join("ro/a.txt"), "alpha").unwrap();
        Self {
            home: tempfile::tempdir().unwrap(),
            ws,
        }
    }

    fn chitin(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(args)
            .env("CHITIN_HOME", self.home.path())
            .current_dir(self.ws.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_refuses_without_consent_when_there_is_no_terminal() {
    let env = Env::new();
    let p = probe();
    let out = env.chitin(&["run", p.to_str().unwrap(), "noop"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("asks for:"), "the plan is shown: {err}");
    assert!(err.contains("--yes"), "{err}");
}

#[test]
fn run_with_yes_prints_the_result() {
    let env = Env::new();
    let p = probe();
    let out = env.chitin(&[
        "run",
        p.to_str().unwrap(),
        "read_file",
        "--yes",
        "--input",
        r#"{"path":"/workspace/ro/a.txt"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "\"alpha\"");
}

#[test]
fn denial_exit_code_json_and_audit_log() {
    let env = Env::new();
    let p = probe();
    let out = env.chitin(&[
        "run",
        p.to_str().unwrap(),
        "exec",
        "--yes",
        "--json",
        "--input",
        r#"{"program":"sh","args":["-c","id"]}"#,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["outcome"], "error");
    assert_eq!(doc["error"]["kind"], "denied");
    assert_eq!(doc["denials"][0]["capability"], "exec");

    let log = env.chitin(&["log", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(entries[0]["skill"], "probe");
    assert_eq!(entries[0]["capability"], "exec");
    assert_eq!(entries[0]["outcome"], "denied");
}

#[test]
fn stopped_call_exit_code() {
    let env = Env::new();
    let p = probe();
    let out = env.chitin(&[
        "run",
        p.to_str().unwrap(),
        "alloc",
        "--yes",
        "--input",
        r#"{"mib":1024}"#,
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("memory limit"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_input_is_a_usage_error() {
    let env = Env::new();
    let p = probe();
    let out = env.chitin(&[
        "run",
        p.to_str().unwrap(),
        "noop",
        "--yes",
        "--input",
        "[1,2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not valid JSON"));
}

#[test]
fn audit_shows_declaration_and_imports_without_running() {
    let env = Env::new();
    let p = probe();
    let out = env.chitin(&["skill", "audit", p.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["manifest"]["skill"]["name"], "probe");
    assert!(doc["digest"].as_str().unwrap().starts_with("sha256:"));
    let imports = doc["imports"].as_array().unwrap();
    assert!(imports.iter().any(|i| {
        i["interface"]
            .as_str()
            .unwrap()
            .starts_with("wasi:http/outgoing-handler")
    }));
    assert_eq!(doc["problems"], 0);
    // The probe's secret goes to 127.0.0.1, not to a "probe" host: flagged, highest first.
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings[0]["risk"], "medium", "{findings:?}");
    assert_eq!(findings[0]["area"], "secrets");
    assert!(
        findings
            .iter()
            .any(|f| f["area"] == "exec" && f["risk"] == "low"),
        "{findings:?}"
    );
    // Nothing ran: no audit log, no compile cache.
    assert!(!env.home.path().join("cache").exists());
}

#[test]
fn pack_reports_manifest_errors_with_their_line() {
    let env = Env::new();
    let raw = skills_dir().join("raw/probe.wasm");
    let manifest = env.ws.path().join("skill.toml");
    std::fs::write(
        &manifest,
        "[skill]\nname = \"x\"\nversion = \"0.1.0\"\n[capabilities]\nhttp = [\"ftp://nope\"]\n",
    )
    .unwrap();
    let out_file = env.ws.path().join("out.wasm");
    let out = env.chitin(&[
        "skill",
        "pack",
        raw.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("http"), "{err}");
    assert!(!out_file.exists(), "nothing is written on error");
}
