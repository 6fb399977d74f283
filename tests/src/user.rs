//! One user's machine for CLI tests: a chitin home, a workspace, and the `chitin`
//! binary of this build run with them.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The `chitin` binary of this build (target/<profile>/chitin, next to deps/).
pub fn chitin_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("chitin");
    assert!(
        bin.exists(),
        "{} is missing; run `cargo build --workspace`",
        bin.display()
    );
    bin
}

/// A chitin home and a workspace, plus environment variables for every run.
pub struct User {
    pub home: tempfile::TempDir,
    pub ws: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl User {
    pub fn new() -> Self {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("notes.txt"), "TODO: test the registry\n").unwrap();
        Self {
            home: tempfile::tempdir().unwrap(),
            ws,
            env: vec![],
        }
    }

    /// Run chitin with this home, in the workspace, with no terminal.
    pub fn chitin(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(chitin_bin());
        cmd.args(args)
            .env("CHITIN_HOME", self.home.path())
            .env("DOCKER_CONFIG", self.home.path().join("docker"))
            .env("CHITIN_TRUST_POLICY", self.home.path().join("trust.toml"))
            .env_remove("CHITIN_REGISTRY_USERNAME")
            .env_remove("CHITIN_REGISTRY_PASSWORD")
            .env_remove("CHITIN_PASSWORD")
            .env_remove("COSIGN_PASSWORD")
            .env_remove("SIGSTORE_ID_TOKEN")
            .current_dir(self.ws.path())
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// A user who trusts `publisher` for every repository and can sign as it.
    pub fn trusting(publisher: &crate::Publisher) -> Self {
        let mut user = User::new();
        let policy = publisher.policy("**", "");
        user.env
            .push(("CHITIN_TRUST_POLICY".into(), policy.display().to_string()));
        user.env
            .push(("CHITIN_PASSWORD".into(), crate::KEY_PASSWORD.into()));
        user
    }

    /// A user who trusts `publisher`, with its own config folder, `ro/` and `rw/` in the
    /// workspace, and `skills` (built from source) pushed signed to `reg` as
    /// `acme/<name>:0.1.0` and installed.
    pub fn with_skills(
        reg: &crate::real_registry::RealRegistry,
        publisher: &crate::Publisher,
        skills: &[&str],
    ) -> Self {
        let mut user = User::trusting(publisher);
        user.env.push((
            "XDG_CONFIG_HOME".into(),
            user.home.path().join("config").display().to_string(),
        ));
        for dir in ["ro", "rw"] {
            std::fs::create_dir_all(user.ws.path().join(dir)).unwrap();
        }
        for name in skills {
            user.install(reg, publisher, name);
        }
        user
    }

    /// Push the skill `name` (built from source) signed to `reg` and install it.
    pub fn install(
        &self,
        reg: &crate::real_registry::RealRegistry,
        publisher: &crate::Publisher,
        name: &str,
    ) {
        let file = crate::skills_dir().join(format!("{name}.wasm"));
        let reference = reg.repo(&format!("acme/{name}:0.1.0"));
        self.push_signed(publisher, &file, &reference);
        self.ok(&["skill", "install", &reference, "--yes"]);
    }

    /// Push `file` to `reference`, signed by `publisher`; returns the manifest digest.
    pub fn push_signed(
        &self,
        publisher: &crate::Publisher,
        file: &std::path::Path,
        reference: &str,
    ) -> String {
        let out = self.ok(&[
            "skill",
            "push",
            file.to_str().unwrap(),
            reference,
            "--sign-key",
            publisher.key.to_str().unwrap(),
            "--json",
        ]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v["digest"].as_str().unwrap().to_string()
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.chitin(args);
        assert!(
            out.status.success(),
            "chitin {args:?} failed ({:?}):\n{}",
            out.status.code(),
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run and require failure with `code`; returns stderr.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.chitin(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "chitin {args:?}:\n{}",
            stderr(&out)
        );
        stderr(&out)
    }

    pub fn list(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["skill", "list", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn installed(&self, name: &str) -> Option<Value> {
        self.list().into_iter().find(|s| s["name"] == name)
    }
}

impl Default for User {
    fn default() -> Self {
        Self::new()
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
