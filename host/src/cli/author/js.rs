//! Building a JavaScript skill: node and componentize-js against the manifest's world.

use super::*;

pub(super) fn js_toolchain() -> PathBuf {
    std::env::var_os("CHITIN_JS_TOOLCHAIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/chitin/js"))
}

pub(super) fn build_js(dir: &Path, manifest: &Manifest, work: &Path) -> Result<Vec<u8>, Exit> {
    let lang = Lang::Js;
    let node = need(
        "node",
        &[],
        lang,
        "sudo apt-get install nodejs   (Node.js 18 or newer)",
    )?;
    let toolchain = js_toolchain();
    let componentize =
        toolchain.join("node_modules/@bytecodealliance/componentize-js/src/componentize.js");
    if !componentize.exists() {
        return Err(AuthorError::MissingTool {
            tool: format!("componentize-js 0.23.0 (looked in {})", toolchain.display()),
            lang: lang.label(),
            install: format!(
                "scripts/setup.sh, or: npm install --prefix {} @bytecodealliance/componentize-js@0.23.0",
                toolchain.display()
            ),
        }
        .into());
    }
    let wit = write_wit(work, manifest)?;
    // componentize-js resolves relative imports inside the source's folder only: stage
    // the project's modules with the SDK next to them.
    let src = work.join("src");
    copy_sources(dir, &src, &["js", "mjs", "json"])?;
    let sdk = sdk_dir(dir, work, lang)?;
    for (file, _) in JS_SDK {
        if sdk.join(file).exists() {
            std::fs::copy(sdk.join(file), src.join(file))?;
        }
    }
    let out = work.join("raw.wasm");
    // Engine features the manifest does not allow would add imports it does not cover.
    let disable = if manifest.capabilities.http.is_empty() {
        "http,fetch-event"
    } else {
        "fetch-event"
    };
    let mut cmd = Command::new(node);
    cmd.args(["--input-type=module", "-e", COMPONENTIZE_JS])
        .env("CHITIN_COMPONENTIZE", &componentize)
        .env("CHITIN_SOURCE", src.join("skill.js"))
        .env("CHITIN_WIT", &wit)
        .env("CHITIN_WORLD", "skill-build")
        .env("CHITIN_DISABLE_FEATURES", disable)
        .env("CHITIN_OUT", &out);
    run(&mut cmd, "componentize-js")?;
    Ok(read_output(&out)?)
}
