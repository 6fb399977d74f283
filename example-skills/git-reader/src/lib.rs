//! git-reader: recent commits and working-tree status of the workspace's repository.
//!
//! Capabilities: read access to `$WORKSPACE` (seen at `/workspace`) and exactly two
//! command lines, run by the host without a shell:
//! `git log --oneline -n <N>` and `git status --short`.

use chitin_sdk::{JsonSchema, NoArgs, Skill, ToolError, Tools, exec};
use serde::{Deserialize, Serialize};

struct GitReader;

impl Skill for GitReader {
    fn tools() -> Tools {
        Tools::new()
            .tool(
                "log",
                "The most recent commits of the repository in the workspace (hash and subject).",
                log,
            )
            .tool(
                "status",
                "Changed, staged and untracked files of the repository in the workspace.",
                status,
            )
    }
}

chitin_sdk::export_skill!(GitReader);

#[derive(Deserialize, JsonSchema)]
struct LogArgs {
    /// How many commits, 1 to 200 (default 20).
    count: Option<u32>,
}

#[derive(Serialize, Debug, PartialEq)]
struct Commit {
    commit: String,
    subject: String,
}

fn log(args: LogArgs) -> Result<Vec<Commit>, ToolError> {
    let count = args.count.unwrap_or(20).clamp(1, 200).to_string();
    let out = git(&["log", "--oneline", "-n", &count])?;
    Ok(parse_log(&out))
}

#[derive(Serialize, Debug, PartialEq)]
struct Change {
    /// The two-letter `git status --short` code: index then work tree, e.g. `M `,
    /// ` M`, `A `, `??` (untracked), `R ` (renamed).
    status: String,
    path: String,
    /// For renames and copies: the old path.
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
}

#[derive(Serialize, Debug)]
struct Status {
    clean: bool,
    changes: Vec<Change>,
}

fn status(_: NoArgs) -> Result<Status, ToolError> {
    let out = git(&["status", "--short"])?;
    let changes = parse_status(&out);
    Ok(Status {
        clean: changes.is_empty(),
        changes,
    })
}

fn git(args: &[&str]) -> Result<String, ToolError> {
    let out = exec::run("git", args, Some(chitin_sdk::fs::WORKSPACE))?
        .check()
        .map_err(|e| e.context(format!("git {}", args.join(" "))))?;
    if out.truncated {
        chitin_sdk::log::warn("git output was cut at the host's output limit");
    }
    Ok(out.stdout_text())
}

fn parse_log(out: &str) -> Vec<Commit> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (commit, subject) = line.split_once(' ').unwrap_or((line, ""));
            Commit {
                commit: commit.to_string(),
                subject: subject.to_string(),
            }
        })
        .collect()
}

fn parse_status(out: &str) -> Vec<Change> {
    // Each line is `XY PATH` or `XY FROM -> TO`.
    out.lines()
        .filter_map(|line| {
            let code = line.get(..2)?;
            let rest = line.get(3..).filter(|r| !r.is_empty())?;
            let (from, path) = match rest.split_once(" -> ") {
                Some((from, to)) => (Some(unquote(from)), unquote(to)),
                None => (None, unquote(rest)),
            };
            Some(Change {
                status: code.to_string(),
                path,
                from,
            })
        })
        .collect()
}

/// git quotes paths with unusual characters (`"a b.txt"`); drop the quotes and the
/// simple escapes.
fn unquote(path: &str) -> String {
    match path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_oneline_log() {
        let commits = parse_log("8878f0f Workspace, WIT contract\nabc1234 Fix: a b\n\n");
        assert_eq!(
            commits,
            [
                Commit {
                    commit: "8878f0f".into(),
                    subject: "Workspace, WIT contract".into()
                },
                Commit {
                    commit: "abc1234".into(),
                    subject: "Fix: a b".into()
                },
            ]
        );
    }

    #[test]
    fn parses_short_status() {
        let changes = parse_status(
            " M src/lib.rs\nA  new.rs\n?? \"a b.txt\"\nR  old.rs -> new name.rs\nR  \"x y\" -> \"z\"\n",
        );
        let got: Vec<_> = changes
            .iter()
            .map(|c| (c.status.as_str(), c.path.as_str(), c.from.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (" M", "src/lib.rs", None),
                ("A ", "new.rs", None),
                ("??", "a b.txt", None),
                ("R ", "new name.rs", Some("old.rs")),
                ("R ", "z", Some("x y")),
            ]
        );
    }

    #[test]
    fn natively_exec_fails_cleanly() {
        let err = GitReader::tools().invoke("status", "{}").unwrap_err();
        assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    }
}
