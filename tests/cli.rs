//! The CLI as a user meets it: `--json` on every command that reports something,
//! completions and the man page, messages that say the fix, plain components
//! refused, the OCI metadata other tools read, and snapshots of the human output of
//! the main commands, so that a change in what users read is a reviewed change.

use std::process::Command;

use chitin_tests::real_registry::RealRegistry;
use chitin_tests::user::{User, stderr};
use chitin_tests::{Publisher, file_search_version, skills_dir};
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"))
}

/// `text` with the parts that change from run to run replaced by names.
fn stable(text: &str, replace: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    text
}

/// A user trusting `publisher` for every repository of `reg`, with file-search 0.1.0
/// pushed signed as `acme/fs:0.1.0`; returns the user and the manifest digest.
fn published(reg: &RealRegistry, publisher: &Publisher) -> (User, String) {
    let user = User::trusting(publisher);
    let file = file_search_version(user.ws.path(), "0.1.0", "");
    let digest = user.push_signed(publisher, &file, &reg.repo("acme/fs:0.1.0"));
    (user, digest)
}

#[test]
fn completions_and_the_man_page() {
    let user = User::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = user.ok(&["completions", shell]);
        for word in ["chitin", "install", "allow-repository-change", "json"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let err = user.fails(2, &["completions", "tcsh"]);
    assert!(err.contains("possible values"), "{err}");
    let man = user.ok(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH chitin"),
        "{man}"
    );
    assert!(man.contains("completions"), "{man}");
}

#[test]
fn every_json_flag_says_what_it_prints() {
    let user = User::new();
    let commands: &[&[&str]] = &[
        &["run"],
        &["log"],
        &["keygen"],
        &["registry", "login"],
        &["trust", "show"],
        &["provider", "add"],
        &["provider", "use"],
        &["provider", "list"],
        &["provider", "check"],
        &["session", "list"],
        &["session", "show"],
        &["session", "import"],
        &["session", "rm"],
        &["skill", "tools"],
        &["skill", "audit"],
        &["skill", "pack"],
        &["skill", "push"],
        &["skill", "sign"],
        &["skill", "verify"],
        &["skill", "install"],
        &["skill", "list"],
        &["skill", "remove"],
        &["skill", "update"],
        &["skill", "gc"],
        &["skill", "export"],
        &["skill", "new"],
        &["skill", "build"],
        &["agent"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = user.ok(&args);
        // `--json  Text` on one line, or the text on the next (long help).
        let mut lines = help
            .lines()
            .map(str::trim)
            .skip_while(|l| !l.starts_with("--json"));
        let flag = lines
            .next()
            .unwrap_or_else(|| panic!("{command:?} has no --json:\n{help}"));
        let text = match flag.strip_prefix("--json").unwrap().trim() {
            "" => lines.next().unwrap_or_default(),
            text => text,
        };
        assert!(
            !text.is_empty() && !text.starts_with('-'),
            "{command:?}: --json has no help text:\n{help}"
        );
    }
}

#[test]
fn the_lifecycle_commands_print_one_json_document() {
    let reg = RealRegistry::start(None);
    let publisher = Publisher::new();
    let (user, digest) = published(&reg, &publisher);
    let reference = reg.repo("acme/fs:0.1.0");

    let doc = json(&user.ok(&["skill", "install", &reference, "--yes", "--json"]));
    assert_eq!(doc[0]["status"], "installed", "{doc}");
    assert_eq!(doc[0]["digest"], digest.as_str());
    let doc = json(&user.ok(&["skill", "update", "--json"]));
    assert_eq!(doc[0]["name"], "file-search", "{doc}");
    assert_eq!(doc[0]["status"], "unchanged", "{doc}");

    let out = user.ws.path().join("layout");
    let doc = json(&user.ok(&[
        "skill",
        "export",
        "file-search",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(
        doc["reference"],
        format!("oci-layout:{}:0.1.0", out.display()),
        "{doc}"
    );
    assert_eq!(doc["digest"], digest.as_str());

    let doc = json(&user.ok(&["skill", "remove", "file-search", "--json"]));
    assert_eq!(doc["status"], "removed", "{doc}");
    let doc = json(&user.ok(&["skill", "gc", "--json"]));
    assert!(doc["blobs"].as_u64().unwrap() >= 3, "{doc}");
    assert!(doc["bytes"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["temp_files"], 0, "{doc}");

    let prefix = user.ws.path().join("me");
    let doc = json(&user.ok(&["keygen", prefix.to_str().unwrap(), "--json"]));
    assert!(
        doc["fingerprint"].as_str().unwrap().starts_with("sha256:"),
        "{doc}"
    );
    let mut login = User::new();
    login
        .env
        .push(("CHITIN_REGISTRY_PASSWORD".into(), "pw".into()));
    let doc = json(&login.ok(&["registry", "login", "r.example", "-u", "ada", "--json"]));
    assert_eq!(doc["registry"], "r.example", "{doc}");
    assert_eq!(doc["username"], "ada", "{doc}");
}

#[test]
fn pack_writes_a_readable_skill_and_refuses_a_plain_component() {
    use std::os::unix::fs::PermissionsExt;
    let user = User::new();
    let ws = user.ws.path();
    let manifest = ws.join("skill.toml");
    std::fs::write(
        &manifest,
        "[skill]\nname = \"notes\"\nversion = \"0.1.0\"\ndescription = \"Notes\"\n",
    )
    .unwrap();
    let raw = skills_dir().join("raw/file-search.wasm");
    let out = ws.join("notes.wasm");
    let doc = json(&user.ok(&[
        "skill",
        "pack",
        raw.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(doc["name"], "notes", "{doc}");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "a packed skill is a file to hand on");

    // A component that does not export chitin:skill/guest (here: nothing at all) is
    // not a skill, whatever manifest goes in: pack, audit and run say so.
    let plain = ws.join("plain.wasm");
    std::fs::write(&plain, b"\0asm\x0d\x00\x01\x00").unwrap();
    let err = user.fails(
        1,
        &[
            "skill",
            "pack",
            plain.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains("not a chitin skill: it exports nothing"),
        "{err}"
    );
    let embedded = chitin_registry::embed_manifest(
        &std::fs::read(&plain).unwrap(),
        &std::fs::read_to_string(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(&plain, embedded).unwrap();
    let out = user.chitin(&["skill", "audit", "./plain.wasm"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("not a chitin skill"), "{text}");
    let err = user.fails(1, &["run", "./plain.wasm", "hello", "--yes"]);
    assert!(err.contains("not a chitin skill"), "{err}");
    assert!(!err.contains("does not provide"), "{err}");
}

#[test]
fn messages_say_the_fix() {
    let reg = RealRegistry::start(None);
    let publisher = Publisher::new();
    let (user, _) = published(&reg, &publisher);

    // A registry that is not running.
    let err = user.fails(
        1,
        &["skill", "install", "127.0.0.1:9/acme/fs:0.1.0", "--yes"],
    );
    assert!(
        err.contains("cannot reach the registry at 127.0.0.1:9: is it running"),
        "{err}"
    );
    // A tag that does not exist: the ones that do.
    let err = user.fails(
        1,
        &["skill", "install", &reg.repo("acme/fs:0.2.0"), "--yes"],
    );
    assert!(err.contains("has no tag `0.2.0`; its tags: 0.1.0"), "{err}");
    // `run` of a registry reference.
    let err = user.fails(1, &["run", &reg.repo("acme/fs:0.1.0"), "list"]);
    assert!(err.contains("install it first"), "{err}");
    assert!(err.contains("chitin skill install"), "{err}");
    // A tool the skill does not have is a usage error, naming the tools it has.
    user.ok(&["skill", "install", &reg.repo("acme/fs:0.1.0"), "--yes"]);
    let err = user.fails(2, &["run", "file-search", "lsit"]);
    assert!(err.contains("no tool `lsit`; its tools: "), "{err}");
    assert!(err.contains("list"), "{err}");

    // A missing workspace: the cause once, not repeated.
    let file = skills_dir().join("file-search.wasm");
    let err = user.fails(
        1,
        &[
            "run",
            file.to_str().unwrap(),
            "list",
            "--yes",
            "--workspace",
            "/nonexistent",
        ],
    );
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    // A wrong password for a signing key.
    let mut wrong = User::new();
    wrong.env.push(("CHITIN_PASSWORD".into(), "not it".into()));
    let err = wrong.fails(
        1,
        &[
            "skill",
            "push",
            file.to_str().unwrap(),
            &reg.repo("acme/fs:0.1.0"),
            "--sign-key",
            publisher.key.to_str().unwrap(),
        ],
    );
    assert!(err.contains("wrong password for the private key"), "{err}");
    assert!(!err.contains("Unsupported key type"), "{err}");

    // A CHITIN_TRUST_POLICY that names no file.
    let mut lost = User::new();
    let missing = lost.home.path().join("no-such-policy.toml");
    lost.env
        .push(("CHITIN_TRUST_POLICY".into(), missing.display().to_string()));
    let err = lost.fails(
        1,
        &["skill", "install", &reg.repo("acme/fs:0.1.0"), "--yes"],
    );
    assert!(
        err.contains(&format!("{} (which does not exist)", missing.display())),
        "{err}"
    );
    assert!(err.contains("CHITIN_TRUST_POLICY names"), "{err}");

    // `verify --key` names the key as the rule, not a `**` pattern.
    let doc = json(&user.ok(&[
        "skill",
        "verify",
        &reg.repo("acme/fs:0.1.0"),
        "--key",
        publisher.public.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(
        doc["rule"],
        format!("--key {}", publisher.public.display()),
        "{doc}"
    );

    // An unsigned push says what that means.
    let out = user.chitin(&[
        "skill",
        "push",
        file.to_str().unwrap(),
        &reg.repo("acme/unsigned:0.1.0"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not signed, so it will not install where a trust policy applies"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_artifact_from_another_tool_is_told_how_to_publish() {
    let reg = RealRegistry::start(None);
    let user = User::new();
    // What oras or wkg push: the wasm layout without chitin's annotations.
    let artifact = chitin_registry::artifact::Artifact::from_component(
        std::fs::read(skills_dir().join("file-search.wasm")).unwrap(),
    )
    .unwrap();
    let mut manifest = artifact.manifest.clone();
    manifest.annotations = None;
    let reference = reg.repo("other/fs:0.1.0");
    let chitin_registry::SkillRef::Oci(target) = reference.parse().unwrap() else {
        unreachable!()
    };
    let client = chitin_registry::RegistryClient::for_ref(
        &target,
        &chitin_registry::RegistryOptions::default(),
    )
    .unwrap();
    let plain = chitin_registry::artifact::Artifact {
        manifest,
        ..artifact
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(client.push(
            &plain,
            &target,
            &chitin_registry::oci_client::secrets::RegistryAuth::Anonymous,
        ))
        .unwrap();
    let err = user.fails(
        1,
        &["skill", "install", &reference, "--yes", "--allow-unsigned"],
    );
    assert!(
        err.contains("publish the component with `chitin skill push"),
        "{err}"
    );
    assert!(!err.contains("rebuild it"), "{err}");
}

#[test]
fn the_oci_artifact_has_a_created_date_and_a_titled_layer() {
    let reg = RealRegistry::start(None);
    let publisher = Publisher::new();
    let (_user, digest) = published(&reg, &publisher);
    let get = |path: &str| {
        let out = Command::new("curl")
            .args([
                "-sf",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
            ])
            .arg(format!("http://{}/v2/acme/fs/{path}", reg.addr))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {path}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let manifest = get(&format!("manifests/{digest}"));
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"], "file-search.wasm",
        "{manifest}"
    );
    let config = get(&format!(
        "blobs/{}",
        manifest["config"]["digest"].as_str().unwrap()
    ));
    assert_eq!(config["created"], "1970-01-01T00:00:00Z", "{config}");
}

#[test]
fn the_human_output_of_the_main_commands() {
    let reg = RealRegistry::start(None);
    let publisher = Publisher::new();
    let (user, digest) = published(&reg, &publisher);
    let reference = reg.repo("acme/fs:0.1.0");
    let fingerprint = publisher.fingerprint();
    let short = &fingerprint["sha256:".len().."sha256:".len() + 12];
    let replace = [
        (reg.addr.as_str(), "REGISTRY"),
        (digest.as_str(), "DIGEST"),
        (fingerprint.as_str(), "FINGERPRINT"),
        (short, "xxxxxxxxxxxx"),
    ];
    let policy = user
        .env
        .iter()
        .find(|(k, _)| k == "CHITIN_TRUST_POLICY")
        .unwrap()
        .1
        .clone();
    let replace: Vec<(&str, &str)> = replace
        .into_iter()
        .chain([(policy.as_str(), "POLICY")])
        .collect();

    let out = user.chitin(&["skill", "install", &reference, "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!("install", stable(&stderr(&out), &replace));

    let out = user.chitin(&["skill", "list"]);
    insta::assert_snapshot!(
        "list",
        stable(&String::from_utf8_lossy(&out.stdout), &replace)
    );

    let out = user.chitin(&["skill", "install", &reference, "--yes"]);
    insta::assert_snapshot!("install_again", stable(&stderr(&out), &replace));

    let out = user.chitin(&["skill", "remove", "file-search"]);
    insta::assert_snapshot!("remove", stable(&stderr(&out), &replace));

    let err = user.fails(
        1,
        &["skill", "install", &reg.repo("acme/fs:9.9.9"), "--yes"],
    );
    insta::assert_snapshot!("missing_tag", stable(&err, &replace));
}

/// Run `chitin args` on a pseudo-terminal (util-linux `script`); returns what the
/// terminal showed. It must succeed.
fn on_a_terminal(user: &User, args: &[&str]) -> String {
    let (ok, shown) = typed_on_a_terminal(user, args, "");
    assert!(ok, "{shown}");
    shown
}

/// Run `chitin args` on a pseudo-terminal with `typed` typed on it; returns whether it
/// succeeded and what the terminal showed.
fn typed_on_a_terminal(user: &User, args: &[&str], typed: &str) -> (bool, String) {
    use std::io::Write;
    let quoted: Vec<String> =
        std::iter::once(chitin_tests::user::chitin_bin().display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &quoted.join(" "), "/dev/null"])
        .env("CHITIN_HOME", user.home.path())
        .env("DOCKER_CONFIG", user.home.path().join("docker"))
        .env_remove("CHITIN_NO_PROGRESS")
        .current_dir(user.ws.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    for (k, v) in &user.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("util-linux `script`");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(typed.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn progress_on_a_terminal_only_and_not_with_quiet() {
    let reg = RealRegistry::start(None);
    let publisher = Publisher::new();
    let (user, _) = published(&reg, &publisher);
    let reference = reg.repo("acme/fs:0.1.0");
    let file = skills_dir().join("file-search.wasm");
    let file = file.to_str().unwrap();

    // Not a terminal: no progress at all.
    let out = user.chitin(&["skill", "install", &reference, "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for word in ["Pulling", "Checking", "Compiling"] {
        assert!(!stderr(&out).contains(word), "{}", stderr(&out));
    }
    user.ok(&["skill", "remove", "file-search"]);

    // A terminal: the download and the compile show, then are cleared.
    let shown = on_a_terminal(&user, &["skill", "install", &reference, "--yes"]);
    assert!(shown.contains("Installed file-search"), "{shown}");
    assert!(
        !shown.contains("0 B/0 B"),
        "an empty bar was drawn: {shown}"
    );
    assert!(
        shown.contains("Pulling") || shown.contains("Checking"),
        "no progress on a terminal: {shown}"
    );
    let key = publisher.key.to_str().unwrap();
    let target = reg.repo("acme/p:0.1.0");
    let push = |user: &User, extra: &[&str]| {
        let mut args = vec!["skill", "push", file, &target, "--sign-key", key];
        args.extend(extra);
        on_a_terminal(user, &args)
    };
    let shown = push(&user, &[]);
    assert!(shown.contains("Pushing"), "{shown}");

    // --quiet, or CHITIN_NO_PROGRESS: none.
    let shown = push(&user, &["--quiet"]);
    assert!(!shown.contains("Pushing"), "{shown}");
    assert!(shown.contains("Pushed"), "{shown}");
    let mut user = user;
    user.env.push(("CHITIN_NO_PROGRESS".into(), "1".into()));
    let shown = push(&user, &[]);
    assert!(!shown.contains("Pushing"), "{shown}");
    assert!(shown.contains("Pushed"), "{shown}");
}

#[test]
fn the_demo_prints_commands_that_can_be_pasted() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/demo.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"source <(sed -n '/^quoted()/,/^}}/p' {script})
line=$(quoted chitin run notes.wasm hello --input '{{"name": "it'\''s Ada"}}' --yes)
echo "$line"
eval "set -- $line"
printf '[%s]\n' "$@""#
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(r#"chitin run notes.wasm hello --input '{"name": "it'\''s Ada"}' --yes"#),
        "{text}"
    );
    let words: Vec<&str> = lines.collect();
    assert_eq!(
        words,
        [
            "[chitin]",
            "[run]",
            "[notes.wasm]",
            "[hello]",
            "[--input]",
            r#"[{"name": "it's Ada"}]"#,
            "[--yes]"
        ]
    );
}

#[test]
fn the_setup_script_says_a_long_step_is_still_running() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/setup.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"source <(sed -n '/^with_heartbeat()/,/^}}/p' {script})
CHITIN_SETUP_HEARTBEAT=1 with_heartbeat bash -c 'sleep 2.5; exit 7'"#
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "the step's exit code");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("... still running (1s)"), "{err}");
    assert!(err.contains("... still running (2s)"), "{err}");
}

#[test]
fn on_a_terminal_a_change_of_repository_is_asked_even_with_yes() {
    let reg = RealRegistry::start(None);
    let publisher = Publisher::new();
    let (user, _) = published(&reg, &publisher);
    user.ok(&["skill", "install", &reg.repo("acme/fs:0.1.0"), "--yes"]);
    let file = file_search_version(user.ws.path(), "0.1.0", "");
    user.push_signed(&publisher, &file, &reg.repo("evil/fs:0.1.0"));
    let evil = reg.repo("evil/fs:0.1.0");
    let from = |user: &User| user.installed("file-search").unwrap()["repository"].clone();

    let (ok, shown) = typed_on_a_terminal(&user, &["skill", "install", &evil, "--yes"], "n\n");
    assert!(!ok, "{shown}");
    assert!(shown.contains("REPOSITORY CHANGED"), "{shown}");
    assert!(
        shown.contains("Replace it with the skill from the other repository?"),
        "{shown}"
    );
    assert_eq!(from(&user), reg.repo("acme/fs").as_str(), "{shown}");

    let (ok, shown) = typed_on_a_terminal(&user, &["skill", "install", &evil, "--yes"], "y\n");
    assert!(ok, "{shown}");
    assert!(
        shown.contains("Replaced the skill of that name from"),
        "{shown}"
    );
    assert_eq!(from(&user), reg.repo("evil/fs").as_str(), "{shown}");
}
