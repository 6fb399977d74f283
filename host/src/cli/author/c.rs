//! Building a C skill: wit-bindgen c, clang-19 for `wasm32-wasip2`, and
//! `wasm-tools component new`.

use super::*;

/// The project's C sources: `*.c` in its folder, except native tests (`test_*.c`,
/// `*_test.c`).
pub(super) fn c_sources(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .filter(|p| {
            let stem = p.file_stem().unwrap_or_default().to_string_lossy();
            !stem.starts_with("test_") && !stem.ends_with("_test")
        })
        .collect();
    files.sort();
    files
}

pub(super) fn build_c(dir: &Path, manifest: &Manifest, work: &Path) -> Result<Vec<u8>, Exit> {
    let lang = Lang::C;
    let apt = "sudo apt-get install clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc";
    let clang = need("clang-19", &[], lang, apt)?;
    need("wasm-ld-19", &[], lang, apt)?;
    let builtins =
        Path::new("/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a");
    if !builtins.exists() {
        return Err(AuthorError::MissingTool {
            tool: "the wasm32 compiler runtime of clang 19".into(),
            lang: lang.label(),
            install: apt.into(),
        }
        .into());
    }
    if !Path::new("/usr/include/wasm32-wasi/stdio.h").exists() {
        return Err(AuthorError::MissingTool {
            tool: "wasi-libc (/usr/include/wasm32-wasi)".into(),
            lang: lang.label(),
            install: apt.into(),
        }
        .into());
    }
    let wit_bindgen = need(
        "wit-bindgen",
        &[cargo_bin()],
        lang,
        "cargo install --locked wit-bindgen-cli@0.46.0",
    )?;
    let wasm_tools = need(
        "wasm-tools",
        &[cargo_bin()],
        lang,
        "cargo install --locked wasm-tools@1.240.0",
    )?;

    let wit = write_wit(work, manifest)?;
    let gen_dir = work.join("gen");
    run(
        Command::new(wit_bindgen)
            .arg("c")
            .arg(&wit)
            // wasi:cli 0.2.12 mentions the unstable timezone interface; wit-bindgen's
            // parser needs the feature on to read the package at all.
            .args([
                "--world",
                "skill-build",
                "--features",
                "clocks-timezone",
                "--out-dir",
            ])
            .arg(&gen_dir),
        "wit-bindgen c",
    )?;
    let sdk = sdk_dir(dir, work, lang)?;
    let mut sources = c_sources(dir);
    if !dir.join("chitin.c").exists() {
        sources.push(sdk.join("chitin.c"));
    }
    let core = work.join("core.wasm");
    let mut cmd = Command::new(clang);
    cmd.args([
        "--target=wasm32-wasi",
        "--sysroot=/usr",
        "-I/usr/include/wasm32-wasi",
        "-mexec-model=reactor",
        "-O2",
        "-std=c11",
        "-D_GNU_SOURCE",
    ])
    .arg("-I")
    .arg(dir)
    .arg("-I")
    .arg(&sdk)
    .arg("-I")
    .arg(&gen_dir);
    if !manifest.capabilities.exec.is_empty() {
        cmd.arg("-DCHITIN_HAS_EXEC");
    }
    cmd.arg("-o")
        .arg(&core)
        .args(&sources)
        .arg(gen_dir.join("skill_build.c"))
        .arg(gen_dir.join("skill_build_component_type.o"));
    run(&mut cmd, "clang-19")?;

    // wasi-libc speaks wasi_snapshot_preview1; the adapter (shipped with wasmtime's
    // crates, same release as the host) turns that into WASI 0.2 imports.
    let adapter = work.join("wasi_snapshot_preview1.reactor.wasm");
    std::fs::write(
        &adapter,
        wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    )?;
    let raw = work.join("raw.wasm");
    let mut adapt = OsString::from("wasi_snapshot_preview1=");
    adapt.push(&adapter);
    run(
        Command::new(wasm_tools)
            .args(["component", "new"])
            .arg(&core)
            .arg("--adapt")
            .arg(adapt)
            .arg("-o")
            .arg(&raw),
        "wasm-tools component new",
    )?;
    Ok(read_output(&raw)?)
}
