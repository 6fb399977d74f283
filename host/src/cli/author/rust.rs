//! Building a Rust skill: cargo for `wasm32-wasip2` (rustup's, or Debian's Rust with
//! std rebuilt from its sources on offline machines).

use super::*;

pub(super) const WASM_TARGET: &str = "wasm32-wasip2";

/// Initial linear memory of a Rust skill: its 1 MiB stack, its data and room for the
/// heap of a typical call. wasi-libc's malloc starts in the free part of the initial
/// memory, so a call that stays within it never runs `memory.grow`, and a reused pool
/// slot keeps its size from call to call: no `mprotect` to shrink it at instantiation
/// and grow it again, which was a third of a fresh instance's cost. Keep in step with
/// scripts/build-skills.sh.
pub(super) const RUST_INITIAL_MEMORY: u32 = 2 << 20;

/// The rustflags of every Rust skill build; `extra` comes first.
pub(super) fn rust_flags(extra: &[&str]) -> OsString {
    let initial = format!("link-arg=--initial-memory={RUST_INITIAL_MEMORY}");
    let flags: Vec<String> = extra
        .iter()
        .copied()
        .chain(["-C", initial.as_str()])
        .map(|f| format!("{f:?}"))
        .collect();
    format!("target.{WASM_TARGET}.rustflags=[{}]", flags.join(", ")).into()
}

/// How to run cargo for the wasm target: rustup's cargo when it has `wasm32-wasip2`,
/// otherwise Debian's Rust with std rebuilt from its sources (offline machines; see
/// scripts/build-skills.sh, which does the same).
pub(super) struct RustToolchain {
    cargo: PathBuf,
    env: Vec<(&'static str, OsString)>,
    build_args: Vec<OsString>,
}

impl RustToolchain {
    fn find() -> Result<Self, AuthorError> {
        let lang = Lang::Rust;
        let rustup_ready = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == WASM_TARGET)
            })
            .unwrap_or(false);
        if rustup_ready {
            return Ok(Self {
                cargo: "cargo".into(),
                env: Vec::new(),
                build_args: vec!["--config".into(), rust_flags(&[])],
            });
        }
        let install = "rustup target add wasm32-wasip2\n    (offline: scripts/setup.sh installs Debian's rustc-web, cargo-web, rust-web-src, lld-22 and wasi-libc, and wasm-component-ld)";
        let missing = |tool: &str| AuthorError::MissingTool {
            tool: tool.to_string(),
            lang: lang.label(),
            install: install.to_string(),
        };
        if find_program("cargo", &[]).is_none() {
            return Err(missing("`cargo`"));
        }
        let sysroot = Command::new("/usr/bin/rustc")
            .args(["--print", "sysroot"])
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        let has_src =
            sysroot.is_some_and(|s| s.join("lib/rustlib/src/rust/library/Cargo.lock").exists());
        if !Path::new("/usr/bin/cargo").exists() || !has_src {
            return Err(missing("the wasm32-wasip2 target of Rust"));
        }
        if !Path::new("/usr/lib/wasm32-wasi/libc.a").exists() {
            return Err(missing("wasi-libc (/usr/lib/wasm32-wasi/libc.a)"));
        }
        if find_program("lld-22", &[]).is_none() {
            return Err(missing("`lld-22`"));
        }
        let linker = need(
            "wasm-component-ld",
            &[cargo_bin()],
            lang,
            "cargo install --locked wasm-component-ld@0.5.17",
        )?;
        // /usr/bin first, so that cargo's own calls to rustc get Debian's too.
        let mut path = OsString::from("/usr/bin:");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        Ok(Self {
            cargo: "/usr/bin/cargo".into(),
            env: vec![("PATH", path), ("RUSTC_BOOTSTRAP", "1".into())],
            build_args: vec![
                "-Zbuild-std=std,panic_abort".into(),
                "--config".into(),
                format!("target.{WASM_TARGET}.linker=\"{}\"", linker.display()).into(),
                "--config".into(),
                rust_flags(&["-L", "/usr/lib/wasm32-wasi"]),
            ],
        })
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.cargo);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

pub(super) fn build_rust(dir: &Path) -> Result<Vec<u8>, Exit> {
    let manifest = dir.join("Cargo.toml");
    let rust = RustToolchain::find()?;
    let metadata = run(
        rust.command()
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--manifest-path",
            ])
            .arg(&manifest),
        "cargo metadata",
    )?;
    let meta: serde_json::Value =
        serde_json::from_str(&metadata).context("reading the output of cargo metadata")?;
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let want = manifest.canonicalize().unwrap_or(manifest.clone());
    let crate_name = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(PathBuf::from).as_ref() == Some(&want))
        .and_then(|p| p["name"].as_str())
        .context("Cargo.toml has no [package]; a skill is one cdylib crate")?
        .to_string();
    let mut cmd = rust.command();
    cmd.args([
        "build",
        "--release",
        "--target",
        WASM_TARGET,
        "--manifest-path",
    ])
    .arg(&manifest)
    .args(&rust.build_args);
    run(&mut cmd, "cargo build")?;
    let built = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    Ok(read_output(&built).map_err(|_| {
        anyhow::anyhow!(
            "{} was not produced: is the crate a cdylib (`[lib] crate-type = [\"cdylib\"]`)?",
            built.display()
        )
    })?)
}
