//! `chitin skill new` and `chitin skill build`: write skills in Rust, JavaScript, Python
//! or C.
//!
//! `new` writes a project that builds and runs unchanged: `skill.toml`, the source, the
//! language's SDK module, a copy of the WIT contract, build configuration and a native
//! test. `build` finds the language from the files, runs that language's real toolchain,
//! embeds `skill.toml` and refuses to write a skill whose imports the manifest does not
//! cover:
//!
//! | language   | detected by   | toolchain                                                   |
//! |------------|---------------|-------------------------------------------------------------|
//! | Rust       | `Cargo.toml`  | cargo, `wasm32-wasip2` (rustup, or Debian's std sources)    |
//! | JavaScript | `skill.js`    | node + componentize-js (`~/.cache/chitin/js`)               |
//! | Python     | `app.py`      | componentize-py (`~/.cache/chitin/py`)                      |
//! | C          | `*.c`         | wit-bindgen c, clang-19, `wasm-tools component new`         |
//!
//! JavaScript, Python and C build against a world generated from the manifest: the
//! `base` world of `wit/skill.wit` plus `wasi:http` only when `http` is declared and
//! `exec` only when `exec` is, because componentize-py and componentize-js import every
//! interface of the world they target. The SDK module (`chitin.js`, `chitin.py`,
//! `chitin.h`/`chitin.c`) comes from the project when it has one, else from this binary.
//! A missing toolchain is an error naming the tool and the command that installs it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use chitin_registry::{ImportClass, Manifest, SkillName, check_imports};
use clap::{Args, ValueEnum};

use super::{Exit, exit};

// One module per language, and the tools they share.
mod c;
mod js;
mod python;
mod rust;
mod tools;

use c::*;
use js::*;
use python::*;
use rust::*;
use tools::*;

#[derive(Args)]
pub struct NewArgs {
    /// The skill's name: lowercase letters, digits, `-` and `_`, starting with a letter.
    name: String,
    /// The language to write it in.
    #[arg(long, short, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// The folder to create [default: ./<name>].
    #[arg(long, short)]
    dir: Option<PathBuf>,
    /// Rust only: the chitin-sdk crate folder [default: the SDK of this chitin's source
    /// tree when it exists, else the git repository].
    #[arg(long)]
    sdk: Option<PathBuf>,
    /// Print one JSON document on stdout: `{name, lang, dir, files}` (the files
    /// written, relative to `dir`).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct BuildArgs {
    /// The skill project: a folder with `skill.toml` [default: the current folder].
    dir: Option<PathBuf>,
    /// The language, when the files do not tell.
    #[arg(long, short, value_enum)]
    lang: Option<Lang>,
    /// Where to write the skill [default: <dir>/<name>.wasm].
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print one JSON document on stdout: `{name, version, lang, output, bytes, digest,
    /// seconds}`.
    #[arg(long)]
    json: bool,
}

/// The languages `chitin skill new` and `chitin skill build` know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    #[value(alias = "javascript")]
    Js,
    #[value(alias = "py")]
    Python,
    C,
}

impl Lang {
    fn label(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript",
            Lang::Python => "Python",
            Lang::C => "C",
        }
    }
}

/// What goes wrong while creating or building a skill, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    #[error(
        "{tool} is not installed (needed to build {lang} skills); install it with:\n    {install}"
    )]
    MissingTool {
        tool: String,
        lang: &'static str,
        install: String,
    },
    #[error(
        "{} has no skill.toml; create a project with `chitin skill new <name> --lang rust|js|python|c`",
        .0.display()
    )]
    NoManifest(PathBuf),
    #[error(
        "cannot tell the language of {}: expected Cargo.toml (Rust), skill.js (JavaScript), app.py (Python) or *.c files (C); or pass --lang",
        .0.display()
    )]
    UnknownLanguage(PathBuf),
    #[error("{tool} failed ({status}):\n{output}")]
    ToolFailed {
        tool: String,
        status: String,
        output: String,
    },
    #[error("{0} was expected from the build but is missing")]
    NoOutput(PathBuf),
    #[error("the component's imports are not covered by skill.toml, so chitin would refuse to run it:\n  {}", .0.join("\n  "))]
    UncoveredImports(Vec<String>),
    #[error("{} already exists and is not empty; choose another name or --dir", .0.display())]
    Exists(PathBuf),
}

// ------------------------------------------------------------------ embedded files

/// The WIT contract the host implements (`wit/`), written out for builds and projects.
const WIT_FILES: &[(&str, &str)] = &[
    ("skill.wit", include_str!("../../../../wit/skill.wit")),
    ("deps/cli.wit", include_str!("../../../../wit/deps/cli.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../../wit/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../../wit/deps/filesystem.wit"),
    ),
    (
        "deps/http.wit",
        include_str!("../../../../wit/deps/http.wit"),
    ),
    ("deps/io.wit", include_str!("../../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../../wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../../wit/deps/sockets.wit"),
    ),
];

/// The SDK module of each language, supplied to builds of projects that have none.
const JS_SDK: &[(&str, &str)] = &[
    (
        "chitin.js",
        include_str!("../../../../skills-sdk/js/chitin.js"),
    ),
    (
        "chitin-http.js",
        include_str!("../../../../skills-sdk/js/chitin-http.js"),
    ),
    (
        "chitin-node.mjs",
        include_str!("../../../../skills-sdk/js/chitin-node.mjs"),
    ),
];
const PY_SDK: &[(&str, &str)] = &[(
    "chitin.py",
    include_str!("../../../../skills-sdk/python/chitin.py"),
)];
const C_SDK: &[(&str, &str)] = &[
    (
        "chitin.h",
        include_str!("../../../../skills-sdk/c/chitin.h"),
    ),
    (
        "chitin.c",
        include_str!("../../../../skills-sdk/c/chitin.c"),
    ),
];

/// Calls componentize-js' `componentize()`; paths come in the environment.
const COMPONENTIZE_JS: &str = include_str!("../../../../skills-sdk/js/componentize.mjs");

/// The project templates: `(path, text)`, with `{{name}}`, `{{memory}}` and `{{sdk}}`
/// replaced.
fn template(lang: Lang) -> Vec<(&'static str, &'static str)> {
    let mut files = vec![
        ("skill.toml", include_str!("../../../templates/skill.toml")),
        (".gitignore", include_str!("../../../templates/gitignore")),
    ];
    files.extend_from_slice(match lang {
        Lang::Rust => &[
            (
                "Cargo.toml",
                include_str!("../../../templates/rust/Cargo.toml"),
            ),
            (
                "src/lib.rs",
                include_str!("../../../templates/rust/src/lib.rs"),
            ),
        ][..],
        Lang::Js => &[
            ("skill.js", include_str!("../../../templates/js/skill.js")),
            (
                "skill.test.mjs",
                include_str!("../../../templates/js/skill.test.mjs"),
            ),
            (
                "package.json",
                include_str!("../../../templates/js/package.json"),
            ),
        ][..],
        Lang::Python => &[
            ("app.py", include_str!("../../../templates/python/app.py")),
            (
                "test_app.py",
                include_str!("../../../templates/python/test_app.py"),
            ),
        ][..],
        Lang::C => &[
            ("skill.c", include_str!("../../../templates/c/skill.c")),
            (
                "test_skill.c",
                include_str!("../../../templates/c/test_skill.c"),
            ),
            ("Makefile", include_str!("../../../templates/c/Makefile")),
        ][..],
    });
    files
}

fn sdk_files(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Rust => &[],
        Lang::Js => JS_SDK,
        Lang::Python => PY_SDK,
        Lang::C => C_SDK,
    }
}

// ------------------------------------------------------------------ chitin skill new

pub fn new(args: NewArgs) -> Result<u8, Exit> {
    let name =
        SkillName::from_str(&args.name).map_err(|e| Exit(exit::USAGE, anyhow::anyhow!(e)))?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(name.as_str()));
    let occupied = std::fs::read_dir(&dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if occupied {
        return Err(AuthorError::Exists(dir).into());
    }
    let sdk = match args.sdk {
        Some(path) => format!("{{ path = {:?} }}", absolute(&path)?.display().to_string()),
        None => default_rust_sdk(),
    };
    // JS and Python runtimes start with more memory than a Rust or C skill ever needs.
    let memory = match args.lang {
        Lang::Rust | Lang::C => "64MiB",
        Lang::Js | Lang::Python => "128MiB",
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name.as_str())
            .replace("{{memory}}", memory)
            .replace("{{sdk}}", &sdk)
    };
    let mut files: Vec<(String, String)> = template(args.lang)
        .into_iter()
        .map(|(path, text)| (path.to_string(), fill(text)))
        .collect();
    files.extend(
        sdk_files(args.lang)
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string())),
    );
    files.extend(
        WIT_FILES
            .iter()
            .map(|(p, t)| (format!("wit/{p}"), t.to_string())),
    );
    files.push(("README.md".into(), project_readme(args.lang, name.as_str())));
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let written: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        println!(
            "{}",
            serde_json::json!({ "name": name.as_str(), "lang": args.lang.to_possible_value().map(|v| v.get_name().to_string()), "dir": dir,
                                "files": written })
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "    Created {} skill `{name}` in {}\n\nNext:\n    cd {}\n    chitin skill build\n    chitin run {name}.wasm hello --input '{{\"name\": \"Ada\"}}' --yes",
        args.lang.label(),
        dir.display(),
        dir.display(),
    );
    Ok(exit::OK)
}

/// The chitin-sdk dependency line for a new Rust skill.
fn default_rust_sdk() -> String {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills-sdk");
    match local.canonicalize() {
        Ok(path) if path.join("Cargo.toml").exists() => {
            format!("{{ path = {:?} }}", path.display().to_string())
        }
        _ => "{ git = \"https://github.com/chitin-dev/chitin\" }".to_string(),
    }
}

fn project_readme(lang: Lang, name: &str) -> String {
    let (test, guide) = match lang {
        Lang::Rust => ("cargo test", "skills-sdk/README.md"),
        Lang::Js => (
            "npm test        # node --import ./chitin-node.mjs --test",
            "skills-sdk/guides/javascript.md",
        ),
        Lang::Python => ("python3 -m unittest", "skills-sdk/guides/python.md"),
        Lang::C => (
            "make test       # compiles test_skill.c natively",
            "skills-sdk/guides/c.md",
        ),
    };
    format!(
        "# {name}\n\nA chitin skill in {lang}.\n\n```sh\nchitin skill build                     # writes {name}.wasm\n\
         chitin skill tools {name}.wasm         # its tools and schemas\n\
         chitin run {name}.wasm hello --input '{{\"name\": \"Ada\"}}' --yes\n\
         chitin run {name}.wasm line_count --input '{{\"path\": \"README.md\"}}' --workspace . --yes\n\
         {test}\n```\n\n`skill.toml` declares what the skill may touch; chitin refuses everything else.\n\
         `wit/` is a copy of the contract for editors and bindings tools; `chitin skill build`\n\
         uses the contract of the chitin that builds. Guide: {guide} in the chitin repository.\n",
        lang = lang.label()
    )
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("{} does not exist", path.display()))
}

// ------------------------------------------------------------------ chitin skill build

pub fn build(args: BuildArgs) -> Result<u8, Exit> {
    let started = Instant::now();
    let dir = absolute(args.dir.as_deref().unwrap_or(Path::new(".")))?;
    let manifest_path = dir.join("skill.toml");
    if !manifest_path.exists() {
        return Err(AuthorError::NoManifest(dir).into());
    }
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = chitin_registry::manifest::parse(&manifest_text)
        .with_context(|| format!("in {}", manifest_path.display()))?;
    let lang = match args.lang {
        Some(lang) => lang,
        None => detect(&dir)?,
    };
    let name = manifest.skill.name.as_str().to_string();
    let output = match args.output {
        Some(o) => o,
        None => dir.join(format!("{name}.wasm")),
    };
    if !args.json {
        eprintln!(
            "   Building {name} ({}) from {}",
            lang.label(),
            dir.display()
        );
    }
    // The toolchains' output is captured: JS and Python take several seconds.
    let spinner = super::progress::spinner("Building", &format!("{name} ({})", lang.label()));

    let work = tempfile::Builder::new()
        .prefix("chitin-build-")
        .tempdir()
        .context("creating a temporary build folder")?;
    let raw = match lang {
        Lang::Rust => build_rust(&dir),
        Lang::Js => build_js(&dir, &manifest, work.path()),
        Lang::Python => build_python(&dir, &manifest, work.path()),
        Lang::C => build_c(&dir, &manifest, work.path()),
    };
    spinner.finish_and_clear();
    let raw = raw?;
    let skill = chitin_registry::embed_manifest(&raw, &manifest_text)
        .with_context(|| format!("embedding {}", manifest_path.display()))?;
    let info = chitin_registry::inspect(&skill)?;
    info.check_exports()?;
    let problems: Vec<String> = check_imports(&info.imports, &manifest)
        .into_iter()
        .filter(|c| c.is_problem())
        .map(|c| match c.class {
            ImportClass::Undeclared(field) => format!(
                "`{}`: {}; declare `{field}` under [capabilities] in skill.toml, or stop using it",
                c.import, c.note
            ),
            _ => format!("`{}`: {}", c.import, c.note),
        })
        .collect();
    if !problems.is_empty() {
        return Err(AuthorError::UncoveredImports(problems).into());
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    chitin_host::engine::write_atomic_shared(&output, &skill)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "name": name, "version": manifest.skill.version.to_string(),
                                "lang": lang.to_possible_value().map(|v| v.get_name().to_string()), "output": output, "bytes": skill.len(),
                                "digest": chitin_registry::artifact::sha256_digest(&skill),
                                "seconds": started.elapsed().as_secs_f64() })
        );
        return Ok(exit::OK);
    }
    eprintln!(
        "      Built {name} {} → {} ({} KiB) in {:.1}s",
        manifest.skill.version,
        output.display(),
        skill.len().div_ceil(1024),
        started.elapsed().as_secs_f64()
    );
    Ok(exit::OK)
}

/// The language of a project, from its files.
pub fn detect(dir: &Path) -> Result<Lang, AuthorError> {
    if dir.join("Cargo.toml").exists() {
        Ok(Lang::Rust)
    } else if dir.join("skill.js").exists() {
        Ok(Lang::Js)
    } else if dir.join("app.py").exists() {
        Ok(Lang::Python)
    } else if !c_sources(dir).is_empty() {
        Ok(Lang::C)
    } else {
        Err(AuthorError::UnknownLanguage(dir.to_path_buf()))
    }
}

/// The WIT for non-Rust builds: the contract plus a world `skill-build` that imports
/// only what the manifest declares.
fn write_wit(work: &Path, manifest: &Manifest) -> anyhow::Result<PathBuf> {
    let wit = work.join("wit");
    for (path, text) in WIT_FILES {
        let path = wit.join(path);
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(&path, text)?;
    }
    let caps = &manifest.capabilities;
    let mut world = String::from(
        "\n/// Generated by `chitin skill build`: the base imports plus what skill.toml declares.\nworld skill-build {\n    include base;\n",
    );
    if !caps.http.is_empty() {
        world.push_str("    import wasi:http/outgoing-handler@0.2.12;\n");
    }
    if !caps.exec.is_empty() {
        world.push_str("    import exec;\n");
    }
    world.push_str("    export guest;\n}\n");
    let skill = wit.join("skill.wit");
    let mut text = std::fs::read_to_string(&skill)?;
    text.push_str(&world);
    std::fs::write(&skill, text)?;
    Ok(wit)
}

/// A folder holding the SDK files the project does not have itself.
fn sdk_dir(dir: &Path, work: &Path, lang: Lang) -> anyhow::Result<PathBuf> {
    let sdk = work.join("sdk");
    std::fs::create_dir_all(&sdk)?;
    for (file, text) in sdk_files(lang) {
        if !dir.join(file).exists() {
            std::fs::write(sdk.join(file), text)?;
        }
    }
    Ok(sdk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_language_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            detect(dir.path()),
            Err(AuthorError::UnknownLanguage(_))
        ));
        std::fs::write(dir.path().join("test_x.c"), "").unwrap();
        assert!(
            detect(dir.path()).is_err(),
            "native tests alone are not a skill"
        );
        std::fs::write(dir.path().join("main.c"), "").unwrap();
        assert_eq!(detect(dir.path()).unwrap(), Lang::C);
        std::fs::write(dir.path().join("app.py"), "").unwrap();
        assert_eq!(detect(dir.path()).unwrap(), Lang::Python);
        std::fs::write(dir.path().join("skill.js"), "").unwrap();
        assert_eq!(detect(dir.path()).unwrap(), Lang::Js);
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        assert_eq!(detect(dir.path()).unwrap(), Lang::Rust);
    }

    #[test]
    fn the_build_world_imports_only_what_is_declared() {
        let dir = tempfile::tempdir().unwrap();
        let bare =
            chitin_registry::manifest::parse("[skill]\nname='x'\nversion='0.1.0'\n").unwrap();
        let wit = write_wit(dir.path(), &bare).unwrap();
        let text = std::fs::read_to_string(wit.join("skill.wit")).unwrap();
        let world = &text[text.find("world skill-build").unwrap()..];
        assert!(
            !world.contains("wasi:http") && !world.contains("import exec"),
            "{world}"
        );
        let full = chitin_registry::manifest::parse(
            "[skill]\nname='x'\nversion='0.1.0'\n[capabilities]\nhttp=['https://a.example/*']\nexec=[{program='git', args=[]}]\n",
        )
        .unwrap();
        let wit = write_wit(&dir.path().join("2"), &full).unwrap();
        let text = std::fs::read_to_string(wit.join("skill.wit")).unwrap();
        let world = &text[text.find("world skill-build").unwrap()..];
        assert!(
            world.contains("import wasi:http/outgoing-handler@0.2.12;"),
            "{world}"
        );
        assert!(world.contains("import exec;"), "{world}");
    }

    #[test]
    fn templates_name_the_skill_and_parse() {
        for lang in [Lang::Rust, Lang::Js, Lang::Python, Lang::C] {
            let files = template(lang);
            let (_, manifest) = files.iter().find(|(p, _)| *p == "skill.toml").unwrap();
            let text = manifest
                .replace("{{name}}", "demo")
                .replace("{{memory}}", "64MiB");
            let m = chitin_registry::manifest::parse(&text).unwrap();
            assert_eq!(m.skill.name.as_str(), "demo");
        }
    }
}
