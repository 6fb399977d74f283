//! Building a Python skill: componentize-py against the manifest's world.

use super::*;

pub(super) fn build_python(dir: &Path, manifest: &Manifest, work: &Path) -> Result<Vec<u8>, Exit> {
    let lang = Lang::Python;
    let toolchain = std::env::var_os("CHITIN_PY_TOOLCHAIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/chitin/py"));
    let componentize_py = need(
        "componentize-py",
        &[toolchain.join("bin")],
        lang,
        &format!(
            "scripts/setup.sh, or: python3 -m venv {0} && {0}/bin/pip install componentize-py==0.25.1",
            toolchain.display()
        ),
    )?;
    let wit = write_wit(work, manifest)?;
    let sdk = sdk_dir(dir, work, lang)?;
    // Build from a copy of the modules: componentize-py's Python writes __pycache__
    // next to the sources it imports.
    let src = work.join("src");
    copy_sources(dir, &src, &["py"])?;
    let out = work.join("raw.wasm");
    let mut cmd = Command::new(componentize_py);
    cmd.arg("-d")
        .arg(&wit)
        .args(["-w", "skill-build", "componentize", "-p"])
        .arg(&src)
        .arg("-p")
        .arg(&sdk)
        .args(["app", "-o"])
        .arg(&out);
    run(&mut cmd, "componentize-py")?;
    Ok(read_output(&out)?)
}
