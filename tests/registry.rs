//! Publishing to and installing from the real CNCF distribution registry, through the
//! `chitin` binary as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chitin_tests::file_search_version;
use chitin_tests::real_registry::RealRegistry;
use chitin_tests::user::{User, chitin_bin, stderr};
use serde_json::Value;

/// The publisher every test here signs with and every user trusts for every
/// repository (tests/trust.rs covers what happens otherwise).
fn publisher() -> &'static chitin_tests::Publisher {
    static PUBLISHER: std::sync::OnceLock<chitin_tests::Publisher> = std::sync::OnceLock::new();
    PUBLISHER.get_or_init(chitin_tests::Publisher::new)
}

/// A user who trusts [`publisher`] for every repository and can sign as it.
fn user() -> User {
    User::trusting(publisher())
}

/// Push file-search 0.1.0 to `acme/fs:0.1.0` and install it from there.
fn install_file_search(reg: &RealRegistry, user: &User) {
    let file = file_search_version(user.ws.path(), "0.1.0", "");
    push(user, &file, &reg.repo("acme/fs:0.1.0"));
    user.ok(&["skill", "install", &reg.repo("acme/fs:0.1.0"), "--yes"]);
}

fn push(user: &User, file: &Path, reference: &str) -> String {
    user.push_signed(publisher(), file, reference)
}

#[test]
fn install_by_tag_digest_and_semver_range() {
    let reg = RealRegistry::start(None);
    let user = user();
    let repo = reg.repo("acme/file-search");
    let mut digests = Vec::new();
    for v in ["0.1.0", "0.2.0", "1.0.0"] {
        let file = file_search_version(user.ws.path(), v, "");
        digests.push(push(&user, &file, &format!("{repo}:{v}")));
    }

    user.ok(&["skill", "install", &format!("{repo}:0.1.0"), "--yes"]);
    assert_eq!(user.installed("file-search").unwrap()["version"], "0.1.0");
    user.ok(&["skill", "remove", "file-search"]);

    user.ok(&[
        "skill",
        "install",
        &format!("{repo}@{}", digests[1]),
        "--yes",
    ]);
    let s = user.installed("file-search").unwrap();
    assert_eq!(s["version"], "0.2.0");
    assert_eq!(s["manifest_digest"], digests[1].as_str());
    user.ok(&["skill", "remove", "file-search"]);

    user.ok(&["skill", "install", &format!("{repo}:^0"), "--yes"]);
    assert_eq!(user.installed("file-search").unwrap()["version"], "0.2.0");
    user.ok(&["skill", "remove", "file-search"]);

    user.ok(&["skill", "install", &format!("{repo}:>=1"), "--yes"]);
    assert_eq!(user.installed("file-search").unwrap()["version"], "1.0.0");

    // A range nothing matches says what there is.
    let out = user.chitin(&["skill", "install", &format!("{repo}:^3"), "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("0.1.0, 0.2.0, 1.0.0") || stderr(&out).contains("1.0.0"),
        "{}",
        stderr(&out)
    );

    // And the installed skill runs with its recorded grants.
    let out = user.ok(&[
        "run",
        "file-search",
        "search",
        "--input",
        r#"{"pattern":"TODO"}"#,
    ]);
    assert!(out.contains("notes.txt"), "{out}");
}

#[test]
fn reinstalling_the_same_digest_does_nothing() {
    let reg = RealRegistry::start(None);
    let user = user();
    let file = file_search_version(user.ws.path(), "0.1.0", "");
    push(&user, &file, &reg.repo("acme/file-search:0.1.0"));
    let reference = reg.repo("acme/file-search:0.1.0");
    user.ok(&["skill", "install", &reference, "--yes"]);
    let before = user.installed("file-search").unwrap();
    let out = user.chitin(&["skill", "install", &reference]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already installed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(user.installed("file-search").unwrap(), before);
}

#[test]
fn install_needs_consent_without_a_terminal() {
    let reg = RealRegistry::start(None);
    let user = user();
    let file = file_search_version(user.ws.path(), "0.1.0", "");
    push(&user, &file, &reg.repo("acme/file-search:0.1.0"));
    let out = user.chitin(&["skill", "install", &reg.repo("acme/file-search:0.1.0")]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("asks for:"),
        "the plan is shown first"
    );
    assert!(user.list().is_empty(), "nothing installed without consent");
}

#[test]
fn update_that_adds_capabilities_shows_the_diff_and_needs_consent() {
    let reg = RealRegistry::start(None);
    let user = user();
    let repo = reg.repo("acme/file-search");
    push(
        &user,
        &file_search_version(user.ws.path(), "0.1.0", ""),
        &format!("{repo}:0.1.0"),
    );
    user.ok(&["skill", "install", &format!("{repo}:^0.1"), "--yes"]);

    let wider = file_search_version(
        user.ws.path(),
        "0.1.1",
        "http = [\"https://exfil.example/*\"]\n",
    );
    push(&user, &wider, &format!("{repo}:0.1.1"));
    let out = user.chitin(&["skill", "update", "file-search"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("+ http https://exfil.example/*"),
        "{}",
        stderr(&out)
    );
    assert_eq!(user.installed("file-search").unwrap()["version"], "0.1.0");

    user.ok(&["skill", "update", "file-search", "--yes"]);
    assert_eq!(user.installed("file-search").unwrap()["version"], "0.1.1");
}

#[test]
fn remove_then_gc_deletes_the_files() {
    let reg = RealRegistry::start(None);
    let user = user();
    install_file_search(&reg, &user);
    let blobs = user.home.path().join("store/blobs/sha256");
    assert_eq!(
        std::fs::read_dir(&blobs).unwrap().count(),
        3,
        "component, config, manifest"
    );
    user.ok(&["skill", "remove", "file-search"]);
    assert!(user.list().is_empty());
    let out = user.chitin(&["run", "file-search", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no skill named `file-search` is installed"));
    user.ok(&["skill", "gc"]);
    assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 0);
}

#[test]
fn lock_file_round_trip_pins_digests() {
    let reg = RealRegistry::start(None);
    let alice = user();
    let repo = reg.repo("acme/file-search");
    let first = push(
        &alice,
        &file_search_version(alice.ws.path(), "0.1.0", ""),
        &format!("{repo}:0.1.0"),
    );
    alice.ok(&["skill", "install", &format!("{repo}:0.1.0"), "--yes"]);
    let lock = std::fs::read_to_string(alice.home.path().join("chitin.lock")).unwrap();
    assert!(lock.contains(&first), "{lock}");

    // The tag moves to other content after Alice locked it.
    let moved = file_search_version(alice.ws.path(), "0.1.0", "env = [\"LANG\"]\n");
    let second = push(&alice, &moved, &format!("{repo}:0.1.0"));
    assert_ne!(first, second);

    // Bob reproduces Alice's lock: the locked digest, not what the tag says now.
    let bob = user();
    std::fs::write(bob.home.path().join("chitin.lock"), &lock).unwrap();
    bob.ok(&["skill", "install", "--locked"]);
    assert_eq!(
        bob.installed("file-search").unwrap()["manifest_digest"],
        first.as_str()
    );

    // A lock naming a digest the registry does not have fails, saying so.
    let carol = user();
    let bogus = lock.replace(&first, &format!("sha256:{}", "0".repeat(64)));
    std::fs::write(carol.home.path().join("chitin.lock"), bogus).unwrap();
    let out = carol.chitin(&["skill", "install", "--locked"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    assert!(carol.list().is_empty());

    // A lock file whose grants are wider than the declaration it pins installs nothing.
    let dave = user();
    let lock_path = dave.home.path().join("chitin.lock");
    std::fs::write(&lock_path, &lock).unwrap();
    let mut widened = chitin_registry::LockFile::read(&lock_path).unwrap();
    widened.skills[0].grants.http = vec!["https://exfil.example/*".parse().unwrap()];
    widened.write(&lock_path).unwrap();
    let out = dave.chitin(&["skill", "install", "--locked"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("grants go beyond what the skill declares")
            && stderr(&out).contains("http https://exfil.example/*"),
        "{}",
        stderr(&out)
    );
    assert!(dave.list().is_empty());
}

#[test]
fn authenticated_registry_refuses_pushes_without_credentials() {
    let reg = RealRegistry::start(Some(("alice", "s3cret-pass")));
    let mut user = user();
    let file = file_search_version(user.ws.path(), "0.1.0", "");
    let reference = reg.repo("acme/file-search:0.1.0");
    let out = user.chitin(&["skill", "push", file.to_str().unwrap(), &reference]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("credentials"), "{}", stderr(&out));

    // Logged in (saved like `docker login`), push and install work.
    let mut login = Command::new(chitin_bin());
    login
        .args([
            "registry",
            "login",
            &reg.addr,
            "-u",
            "alice",
            "--password-stdin",
        ])
        .env("CHITIN_HOME", user.home.path())
        .env("DOCKER_CONFIG", user.home.path().join("docker"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-pass\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    push(&user, &file, &reference);
    user.ok(&["skill", "install", &reference, "--yes"]);

    // Wrong credentials from the environment are refused too.
    user.env.extend([
        ("CHITIN_REGISTRY_USERNAME".into(), "alice".into()),
        ("CHITIN_REGISTRY_PASSWORD".into(), "wrong".into()),
    ]);
    let out = user.chitin(&["skill", "push", file.to_str().unwrap(), &reference]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn export_and_install_offline_from_an_oci_layout() {
    let layout = tempfile::tempdir().unwrap();
    let digest;
    {
        let reg = RealRegistry::start(None);
        let user = user();
        digest = push(
            &user,
            &file_search_version(user.ws.path(), "0.1.0", ""),
            &reg.repo("acme/fs:0.1.0"),
        );
        user.ok(&["skill", "install", &reg.repo("acme/fs:0.1.0"), "--yes"]);
        user.ok(&[
            "skill",
            "export",
            "file-search",
            "-o",
            layout.path().to_str().unwrap(),
        ]);
    } // the registry is gone now
    let offline = user();
    let reference = format!("oci-layout:{}:0.1.0", layout.path().display());
    offline.ok(&["skill", "install", &reference, "--yes"]);
    assert_eq!(
        offline.installed("file-search").unwrap()["manifest_digest"],
        digest.as_str()
    );
}

#[test]
fn remote_audit_fetches_no_code() {
    let reg = RealRegistry::start(None);
    let user = user();
    let file = file_search_version(
        user.ws.path(),
        "0.1.0",
        "http = [\"https://api.example.com/*\"]\n",
    );
    push(&user, &file, &reg.repo("acme/fs:0.1.0"));
    let out = user.ok(&["skill", "audit", &reg.repo("acme/fs:0.1.0"), "--json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["manifest"]["skill"]["name"], "file-search");
    assert_eq!(
        doc["manifest"]["capabilities"]["http"][0],
        "https://api.example.com/*"
    );
    assert!(
        !doc["raw_imports"].as_array().unwrap().is_empty(),
        "imports come from the config"
    );
    // The file-search code does not import HTTP, so the declaration is flagged as unused
    // only later (issue 4); here: nothing was stored or compiled.
    assert!(
        !user.home.path().join("store/blobs/sha256").exists()
            || std::fs::read_dir(user.home.path().join("store/blobs/sha256"))
                .unwrap()
                .count()
                == 0
    );
    assert!(!user.home.path().join("cache/compiled").exists());
}

/// wasm-pkg-tools' `wkg`, installed by scripts/setup.sh.
fn wkg() -> Command {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let bin = home.join("bin/wkg");
    assert!(
        bin.exists(),
        "{} is missing; run scripts/setup.sh",
        bin.display()
    );
    Command::new(bin)
}

#[test]
fn interop_with_wkg_both_ways() {
    let reg = RealRegistry::start(None);
    let user = user();
    // chitin pushes, wkg pulls the same component.
    let file = file_search_version(user.ws.path(), "0.1.0", "");
    push(&user, &file, &reg.repo("acme/fs:0.1.0"));
    let pulled = user.ws.path().join("pulled.wasm");
    let out = wkg()
        .args([
            "oci",
            "pull",
            &reg.repo("acme/fs:0.1.0"),
            "-o",
            pulled.to_str().unwrap(),
        ])
        .args(["--insecure", &reg.addr])
        .output()
        .unwrap();
    assert!(out.status.success(), "wkg oci pull: {}", stderr(&out));
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&file).unwrap()
    );

    // wkg pushes a plain component: chitin audits it and explains why it will not install.
    let raw = chitin_tests::skills_dir().join("raw/file-search.wasm");
    let out = wkg()
        .args([
            "oci",
            "push",
            &reg.repo("acme/plain:0.1.0"),
            raw.to_str().unwrap(),
        ])
        .args(["--insecure", &reg.addr])
        .output()
        .unwrap();
    assert!(out.status.success(), "wkg oci push: {}", stderr(&out));
    let out = user.chitin(&["skill", "audit", &reg.repo("acme/plain:0.1.0")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("declares no capabilities"), "{text}");
    let out = user.chitin(&["skill", "install", &reg.repo("acme/plain:0.1.0"), "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("chitin skill push"),
        "{}",
        stderr(&out)
    );
    assert!(user.list().is_empty());
}

#[test]
fn a_tampered_store_is_refused_at_load() {
    let reg = RealRegistry::start(None);
    let user = user();
    install_file_search(&reg, &user);
    user.ok(&["run", "file-search", "list"]);
    let db = rusqlite::Connection::open(user.home.path().join("chitin.db")).unwrap();

    // A row edited on disk to claim a wider declaration than the component embeds.
    let original: String = db
        .query_row(
            "SELECT manifest FROM skills WHERE name = 'file-search'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let widened = format!("{original}http = [\"https://exfil.example/*\"]\n");
    db.execute(
        "UPDATE skills SET manifest = ?1 WHERE name = 'file-search'",
        [&widened],
    )
    .unwrap();
    let out = user.chitin(&["run", "file-search", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("tampered"), "{}", stderr(&out));
    db.execute(
        "UPDATE skills SET manifest = ?1 WHERE name = 'file-search'",
        [&original],
    )
    .unwrap();
    user.ok(&["run", "file-search", "list"]);

    // The grants row edited to grant more than the signed declaration: `run` uses
    // the grants, so they are checked against the declaration at every load.
    let grants: String = db
        .query_row(
            "SELECT grants FROM skills WHERE name = 'file-search'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut wider: serde_json::Value = serde_json::from_str(&grants).unwrap();
    wider["http"] = serde_json::json!(["https://exfil.example/*"]);
    db.execute(
        "UPDATE skills SET grants = ?1 WHERE name = 'file-search'",
        [&wider.to_string()],
    )
    .unwrap();
    let out = user.chitin(&["run", "file-search", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("tampered")
            && stderr(&out)
                .contains("go beyond its signed declaration: http https://exfil.example/*"),
        "{}",
        stderr(&out)
    );
    db.execute(
        "UPDATE skills SET grants = ?1 WHERE name = 'file-search'",
        [&grants],
    )
    .unwrap();
    user.ok(&["run", "file-search", "list"]);

    // The component's bytes changed on disk.
    let digest: String = db
        .query_row(
            "SELECT wasm_digest FROM skills WHERE name = 'file-search'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let blob = user
        .home
        .path()
        .join("store/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let out = user.chitin(&["run", "file-search", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("digest mismatch"), "{}", stderr(&out));
}
