//! The example skills in JavaScript, Python and C (`example-skills/{js,python,c}`),
//! built from source by `make skills`, doing their job in the real host under their
//! declared grants — and nothing more.

use std::collections::BTreeMap;
use std::path::Path;

use chitin_host::{
    AuditLog, Grants, HostEnv, LoadedSkill, Outcome, Runtime, SkillEngine, SkillError,
};
use serde_json::{Value, json};

struct Host {
    runtime: Runtime,
    env: HostEnv,
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("workspace")).unwrap();
        let runtime = Runtime::new(
            SkillEngine::new(dir.path().join("cache")).unwrap(),
            AuditLog::in_memory().unwrap(),
        );
        let env = HostEnv {
            workspace: dir.path().join("workspace"),
            home: dir.path().join("workspace"),
            vars: BTreeMap::new(),
            secrets: BTreeMap::new(),
            protected: Vec::new(),
        };
        Host { runtime, env, dir }
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join("workspace").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn load(&self, name: &str) -> LoadedSkill {
        self.runtime.load(&chitin_tests::skill_bytes(name)).unwrap()
    }

    async fn call(
        &self,
        skill: &LoadedSkill,
        tool: &str,
        args: Value,
    ) -> Result<Value, SkillError> {
        let grants = Grants::from_manifest(&skill.manifest, &self.env).unwrap();
        let report = self
            .runtime
            .invoke(skill, &grants, tool, &args.to_string())
            .await;
        match report.outcome {
            Outcome::Ok(text) => Ok(serde_json::from_str(&text).unwrap()),
            Outcome::ToolError(e) => Err(e),
            Outcome::Stopped(stop) => panic!("{tool} was stopped: {stop}"),
        }
    }

    fn workspace(&self) -> &Path {
        self.env.workspace.as_path()
    }
}

#[tokio::test]
async fn md_site_turns_the_docs_folder_into_html() {
    let host = Host::new();
    host.write(
        "docs/index.md",
        "# Home\n\nSee [the guide](guide/intro.md) and `<code>`.\n\n- one\n- two\n",
    );
    host.write(
        "docs/guide/intro.md",
        "# Intro\n\n<script>alert(1)</script>\n",
    );
    host.write("secret.md", "# not in docs\n");
    std::fs::create_dir_all(host.workspace().join("site")).unwrap();
    let skill = host.load("md-site");

    let pages = host.call(&skill, "list_pages", json!({})).await.unwrap();
    assert_eq!(pages, json!(["guide/intro.md", "index.md"]));
    let built = host.call(&skill, "build_site", json!({})).await.unwrap();
    assert_eq!(built["pages"], 2);
    let index = std::fs::read_to_string(host.workspace().join("site/index.html")).unwrap();
    assert!(
        index.contains("<a href=\"guide/intro.html\">the guide</a>"),
        "{index}"
    );
    assert!(index.contains("<code>&lt;code&gt;</code>"), "{index}");
    assert!(
        index.contains("<ul><li>one</li><li>two</li></ul>"),
        "{index}"
    );
    let intro = std::fs::read_to_string(host.workspace().join("site/guide/intro.html")).unwrap();
    assert!(
        intro.contains("&lt;script&gt;"),
        "raw HTML is escaped: {intro}"
    );

    // Only docs/ is readable: a page outside it is refused, not rendered.
    let err = host
        .call(&skill, "render_page", json!({"page": "../secret.md"}))
        .await
        .unwrap_err();
    assert!(matches!(err, SkillError::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn csv_stats_summarizes_groups_and_correlates() {
    let host = Host::new();
    host.write(
        "data/sales.csv",
        "region;amount;units\nnorth;10;1\nsouth;20;2\nnorth;30;3\nwest;;4\n",
    );
    let skill = host.load("csv-stats");
    let cols = host
        .call(&skill, "columns", json!({"path": "data/sales.csv"}))
        .await
        .unwrap();
    assert_eq!(cols["rows"], 4);
    assert_eq!(cols["columns"][1]["type"], "number");
    assert_eq!(cols["columns"][0]["type"], "text");
    let summary = host
        .call(
            &skill,
            "summary",
            json!({"path": "data/sales.csv", "columns": ["amount"]}),
        )
        .await
        .unwrap();
    let amount = &summary["columns"]["amount"];
    assert_eq!(amount["count"], 3);
    assert_eq!(amount["mean"], 20.0);
    assert_eq!(amount["median"], 20.0);
    let groups = host
        .call(
            &skill,
            "group_by",
            json!({"path": "data/sales.csv", "by": "region", "column": "amount", "aggregate": "mean"}),
        )
        .await
        .unwrap();
    assert_eq!(groups["groups"], json!({"north": 20.0, "south": 20.0}));
    let r = host
        .call(
            &skill,
            "correlation",
            json!({"path": "data/sales.csv", "x": "amount", "y": "units"}),
        )
        .await
        .unwrap();
    assert_eq!(r["n"], 3);
    assert_eq!(r["r"], 1.0);
    let err = host
        .call(
            &skill,
            "summary",
            json!({"path": "data/sales.csv", "columns": ["nope"]}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, SkillError::InvalidInput(ref m) if m.contains("region")),
        "{err:?}"
    );
    let err = host
        .call(
            &skill,
            "columns",
            json!({"path": "/workspace/../../etc/passwd"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SkillError::Denied(_)), "{err:?}");
}

#[tokio::test]
async fn wordcount_counts_like_wc() {
    let host = Host::new();
    host.write("notes/a.md", "the cat and the hat\nthe end\n");
    host.write("notes/b.txt", "héllo wörld\n");
    let skill = host.load("wordcount");
    let a = host
        .call(&skill, "count", json!({"path": "notes/a.md"}))
        .await
        .unwrap();
    assert_eq!(
        (a["lines"].clone(), a["words"].clone(), a["bytes"].clone()),
        (json!(2), json!(7), json!(28))
    );
    let b = host
        .call(&skill, "count", json!({"path": "notes/b.txt"}))
        .await
        .unwrap();
    assert_eq!(
        (b["bytes"].clone(), b["chars"].clone()),
        (json!(14), json!(12))
    );
    let folder = host
        .call(
            &skill,
            "count_folder",
            json!({"path": "notes", "extension": ".md"}),
        )
        .await
        .unwrap();
    assert_eq!(folder["total"]["files"], 1);
    let top = host
        .call(
            &skill,
            "top_words",
            json!({"path": "notes/a.md", "limit": 1}),
        )
        .await
        .unwrap();
    assert_eq!(top, json!([{"word": "the", "count": 3}]));
    let err = host
        .call(&skill, "count", json!({"path": "../../etc/passwd"}))
        .await
        .unwrap_err();
    assert!(matches!(err, SkillError::Denied(_)), "{err:?}");
}
