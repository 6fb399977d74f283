//! `chitin skill new` and `chitin skill build` as a new user meets them: in each
//! language, a new project builds with the real toolchain, runs in the host, and its
//! native test passes; a missing toolchain is named with the command that installs it;
//! an import the manifest does not cover is refused.
//!
//! The toolchains are the ones `scripts/setup.sh` installs (`make test` runs it first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn chitin(dir: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(args)
        .env("CHITIN_HOME", home)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `chitin skill new demo-<lang> --lang <lang>`, `chitin skill build`, then `hello` and
/// `line_count` through `chitin run`, as the README walks through it.
fn new_build_run(lang: &str, cargo_target: Option<PathBuf>) -> PathBuf {
    let root = tempfile::tempdir().unwrap().keep();
    let home = root.join("chitin-home");
    let name = format!("demo-{lang}");
    let out = chitin(&root, &home, &["skill", "new", &name, "--lang", lang]);
    assert_ok(&out, "chitin skill new");
    let project = root.join(&name);
    for file in ["skill.toml", "README.md", ".gitignore", "wit/skill.wit"] {
        assert!(project.join(file).exists(), "{file} was not created");
    }

    let mut build = Command::new(env!("CARGO_BIN_EXE_chitin"));
    build
        .args(["skill", "build"])
        .current_dir(&project)
        .stdin(Stdio::null());
    if let Some(target) = cargo_target {
        // Reuse the std that `make skills` built for wasm32-wasip2.
        build.env("CARGO_TARGET_DIR", target);
    }
    let out = build.output().unwrap();
    assert_ok(&out, "chitin skill build");
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.exists(), "{} was not written", wasm.display());
    // A built skill is a file to hand on, readable like any compiler's output.
    let mode = std::os::unix::fs::PermissionsExt::mode(&wasm.metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644, "{}", wasm.display());

    let wasm_arg = wasm.to_str().unwrap();
    let out = chitin(
        &project,
        &home,
        &[
            "run",
            wasm_arg,
            "hello",
            "--yes",
            "--input",
            r#"{"name": "Ada"}"#,
        ],
    );
    assert_ok(&out, "chitin run hello");
    assert_eq!(text(&out.stdout).trim(), "\"Hello, Ada!\"");
    // A name of the wrong type is said to be one, not "empty".
    let out = chitin(
        &project,
        &home,
        &[
            "run",
            wasm_arg,
            "hello",
            "--yes",
            "--input",
            r#"{"name": 5}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("must be a string") || err.contains("invalid type"),
        "{err}"
    );
    std::fs::write(project.join("notes.md"), "one\ntwo\nthree\n").unwrap();
    let out = chitin(
        &project,
        &home,
        &[
            "run",
            wasm_arg,
            "line_count",
            "--yes",
            "--input",
            r#"{"path": "notes.md"}"#,
        ],
    );
    assert_ok(&out, "chitin run line_count");
    assert_eq!(text(&out.stdout).trim(), "3");
    // The escape a new skill cannot make either.
    let out = chitin(
        &project,
        &home,
        &[
            "run",
            wasm_arg,
            "line_count",
            "--yes",
            "--input",
            r#"{"path": "../chitin-home/chitin.db"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    project
}

fn native_test(project: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(project)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert_ok(
        &out,
        &format!("the native test ({program} {})", args.join(" ")),
    );
}

#[test]
fn javascript_project_builds_runs_and_tests() {
    let project = new_build_run("js", None);
    native_test(
        &project,
        "node",
        &["--import", "./chitin-node.mjs", "--test"],
    );
}

#[test]
fn python_project_builds_runs_and_tests() {
    let project = new_build_run("python", None);
    native_test(&project, "python3", &["-m", "unittest", "-q"]);
}

#[test]
fn c_project_builds_runs_and_tests() {
    let project = new_build_run("c", None);
    native_test(&project, "make", &["-s", "test"]);
}

#[test]
fn rust_project_builds_runs_and_refuses_undeclared_imports() {
    let target = std::env::var_os("CHITIN_SKILLS_TARGET").map(PathBuf::from);
    let project = new_build_run("rust", target.clone());
    native_test(&project, "cargo", &["test", "-q"]);
    // Use exec without declaring it: the build refuses to write the skill and says
    // which field to add.
    let lib = project.join("src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap().replace(
        "    Ok(format!(\"Hello, {}!\", args.name.trim()))",
        "    let _ = chitin_sdk::exec::run(\"true\", &[] as &[&str], None);\n    Ok(format!(\"Hello, {}!\", args.name.trim()))",
    );
    std::fs::write(&lib, code).unwrap();
    let wasm = project.join("demo-rust.wasm");
    std::fs::remove_file(&wasm).unwrap();
    let mut build = Command::new(env!("CARGO_BIN_EXE_chitin"));
    build.args(["skill", "build"]).current_dir(&project);
    if let Some(target) = target {
        build.env("CARGO_TARGET_DIR", target);
    }
    let out = build.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("chitin:skill/exec"), "{err}");
    assert!(err.contains("declare `exec`"), "{err}");
    assert!(
        !wasm.exists(),
        "nothing is written when the imports are not covered"
    );
}

#[test]
fn missing_toolchains_are_named_with_their_install_command() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    for lang in ["js", "python", "c"] {
        let out = chitin(root.path(), &home, &["skill", "new", lang, "--lang", lang]);
        assert_ok(&out, "chitin skill new");
    }
    let run = |lang: &str, var: &str, value: &str| {
        Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(["skill", "build"])
            .current_dir(root.path().join(lang))
            // Toolchains the caller points at (CI installs fresh ones) are not this
            // test's: only the missing one it names.
            .env_remove("CHITIN_JS_TOOLCHAIN")
            .env_remove("CHITIN_PY_TOOLCHAIN")
            .env(var, value)
            .env("HOME", root.path())
            .output()
            .unwrap()
    };
    let out = run("js", "CHITIN_JS_TOOLCHAIN", "/nonexistent");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("componentize-js 0.23.0"), "{err}");
    assert!(err.contains("npm install --prefix /nonexistent"), "{err}");

    let out = run("python", "PATH", "/nonexistent");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("`componentize-py`"), "{err}");
    assert!(err.contains("pip install componentize-py==0.25.1"), "{err}");

    let out = run("c", "PATH", "/nonexistent");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("`clang-19`"), "{err}");
    assert!(err.contains("apt-get install clang-19"), "{err}");
}

#[test]
fn build_explains_what_it_needs() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let out = chitin(root.path(), &home, &["skill", "build"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("chitin skill new"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        root.path().join("skill.toml"),
        "[skill]\nname = \"x\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let out = chitin(root.path(), &home, &["skill", "build"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--lang"),
        "{}",
        text(&out.stderr)
    );
    let out = chitin(root.path(), &home, &["skill", "new", "Bad Name"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = chitin(root.path(), &home, &["skill", "new", "x", "--dir", "."]);
    assert_eq!(out.status.code(), Some(1), "the folder is not empty");
}
