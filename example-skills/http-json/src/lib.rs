//! http-json: read GitHub issues, or any JSON of the GitHub REST API.
//!
//! Capabilities: HTTP to `https://api.github.com/*` only, and the secret
//! `GITHUB_TOKEN`, which the host adds to those requests as
//! `Authorization: Bearer …`. The skill never sees the token and sets no
//! `Authorization` header itself; without a granted token the API answers
//! unauthenticated (public data, lower rate limit).

use chitin_sdk::http::{Method, Request};
use chitin_sdk::{JsonSchema, Skill, ToolError, Tools};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const API: &str = "https://api.github.com";

struct HttpJson;

impl Skill for HttpJson {
    fn tools() -> Tools {
        Tools::new()
            .tool(
                "list_issues",
                "List the issues of a GitHub repository (pull requests excluded), newest first.",
                list_issues,
            )
            .tool(
                "get_issue",
                "One GitHub issue or pull request with its text.",
                get_issue,
            )
            .tool(
                "get_json",
                "GET any JSON document of the GitHub REST API, e.g. \
                 `/repos/rust-lang/rust/releases/latest` or a full https://api.github.com/… URL.",
                get_json,
            )
    }
}

chitin_sdk::export_skill!(HttpJson);

#[derive(Deserialize, JsonSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum State {
    #[default]
    Open,
    Closed,
    All,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::All => "all",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
struct ListIssues {
    /// Repository owner (user or organisation), e.g. `rust-lang`.
    owner: String,
    /// Repository name, e.g. `rust`.
    repo: String,
    /// Which issues (default `open`).
    state: Option<State>,
    /// Only issues with all these labels, comma-separated, e.g. `bug,ui`.
    labels: Option<String>,
    /// Issues per page, 1 to 100 (default 30).
    per_page: Option<u8>,
    /// Page number, from 1 (default 1).
    page: Option<u32>,
}

/// The fields of an issue worth showing a model.
#[derive(Serialize, Debug, PartialEq)]
struct Issue {
    number: u64,
    title: String,
    state: String,
    author: Option<String>,
    labels: Vec<String>,
    comments: u64,
    created_at: Option<String>,
    updated_at: Option<String>,
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

impl Issue {
    fn from_api(v: &Value, with_body: bool) -> Issue {
        let text = |key: &str| v[key].as_str().map(str::to_string);
        Issue {
            number: v["number"].as_u64().unwrap_or_default(),
            title: text("title").unwrap_or_default(),
            state: text("state").unwrap_or_default(),
            author: v["user"]["login"].as_str().map(str::to_string),
            labels: v["labels"]
                .as_array()
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(|l| l["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            comments: v["comments"].as_u64().unwrap_or_default(),
            created_at: text("created_at"),
            updated_at: text("updated_at"),
            url: text("html_url"),
            body: if with_body {
                Some(text("body").unwrap_or_default())
            } else {
                None
            },
        }
    }
}

fn list_issues(args: ListIssues) -> Result<Vec<Issue>, ToolError> {
    check_name("owner", &args.owner)?;
    check_name("repo", &args.repo)?;
    let mut url = format!(
        "{API}/repos/{}/{}/issues?state={}&per_page={}&page={}",
        args.owner,
        args.repo,
        args.state.unwrap_or_default().as_str(),
        args.per_page.unwrap_or(30).clamp(1, 100),
        args.page.unwrap_or(1).max(1),
    );
    if let Some(labels) = &args.labels {
        url.push_str("&labels=");
        url.push_str(&encode_query(labels));
    }
    let items: Vec<Value> = github_get(&url)?;
    Ok(items
        .iter()
        // The issues endpoint also returns pull requests.
        .filter(|v| v.get("pull_request").is_none())
        .map(|v| Issue::from_api(v, false))
        .collect())
}

#[derive(Deserialize, JsonSchema)]
struct GetIssue {
    /// Repository owner, e.g. `rust-lang`.
    owner: String,
    /// Repository name, e.g. `rust`.
    repo: String,
    /// Issue (or pull request) number.
    number: u64,
}

fn get_issue(args: GetIssue) -> Result<Issue, ToolError> {
    check_name("owner", &args.owner)?;
    check_name("repo", &args.repo)?;
    let url = format!(
        "{API}/repos/{}/{}/issues/{}",
        args.owner, args.repo, args.number
    );
    let v: Value = github_get(&url)?;
    Ok(Issue::from_api(&v, true))
}

#[derive(Deserialize, JsonSchema)]
struct GetJson {
    /// A path of the API (`/repos/OWNER/REPO/…`) or a full `https://api.github.com/…`
    /// URL. Other hosts are refused by the host.
    url: String,
}

fn get_json(args: GetJson) -> Result<Value, ToolError> {
    let url = if args.url.starts_with('/') {
        format!("{API}{}", args.url)
    } else {
        args.url
    };
    github_get(&url)
}

fn github_get<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, ToolError> {
    let response = Request::new(Method::Get, url)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        // GitHub refuses requests without a user agent.
        .header("user-agent", "chitin-http-json/0.1")
        .send()?;
    if !response.is_success() && response.header("x-ratelimit-remaining") == Some("0") {
        return Err(ToolError::failed(format!(
            "GitHub rate limit reached (HTTP {}); grant GITHUB_TOKEN for a higher limit",
            response.status
        )));
    }
    response.error_for_status()?.json()
}

/// Owner and repository names go into the URL path: keep them to what GitHub allows,
/// so that `../` or `?` cannot reach another endpoint.
fn check_name(what: &str, name: &str) -> Result<(), ToolError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid_input(format!("invalid {what} {name:?}")))
    }
}

/// Percent-encodes a query value.
fn encode_query(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_cannot_escape_the_repository_path() {
        assert!(check_name("owner", "rust-lang").is_ok());
        assert!(check_name("repo", "rust.vim_2").is_ok());
        for bad in ["", "..", ".", "a/b", "a?b", "a b", "a%2f", "é"] {
            assert!(
                matches!(check_name("repo", bad), Err(ToolError::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query("bug,good first issue"),
            "bug,good%20first%20issue"
        );
        assert_eq!(encode_query("a&b=c"), "a%26b%3Dc");
    }

    #[test]
    fn issues_are_summarized() {
        let v = json!({
            "number": 7, "title": "Crash", "state": "open", "user": {"login": "ana"},
            "labels": [{"name": "bug"}, {"name": "ui"}], "comments": 3,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": null,
            "html_url": "https://github.com/o/r/issues/7", "body": "steps"
        });
        let issue = Issue::from_api(&v, false);
        assert_eq!(issue.number, 7);
        assert_eq!(issue.author.as_deref(), Some("ana"));
        assert_eq!(issue.labels, ["bug", "ui"]);
        assert_eq!(issue.updated_at, None);
        assert_eq!(issue.body, None);
        assert_eq!(Issue::from_api(&v, true).body.as_deref(), Some("steps"));
    }

    #[test]
    fn bad_arguments_are_refused_before_any_request() {
        let tools = HttpJson::tools();
        let err = tools
            .invoke("list_issues", r#"{"owner": "../..", "repo": "x"}"#)
            .unwrap_err();
        assert_eq!(err, ToolError::invalid_input("invalid owner \"../..\""));
        let err = tools
            .invoke(
                "list_issues",
                r#"{"owner": "o", "repo": "r", "state": "merged"}"#,
            )
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidInput(_)), "{err:?}");
    }
}
