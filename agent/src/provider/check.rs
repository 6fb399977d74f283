//! `chitin provider check`: real requests to a profile's server, reporting what works.
//!
//! Items, in order: `reachable`, `auth`, `answer` (a plain answer), `tool_calling` (a
//! tiny tool with `tool_choice: required`), `streaming`. When the server cannot be
//! reached or refuses the key, the later items are reported as not run.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::Client;
use super::{Provider, ProviderError};
use crate::message::{ChatRequest, Message, StreamEvent, ToolChoice, ToolDef};

/// One checked capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckItem {
    pub name: String,
    pub ok: bool,
    pub message: String,
}

/// What a profile's server can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub profile: String,
    pub model: String,
    pub items: Vec<CheckItem>,
}

impl CheckReport {
    /// Every item passed.
    pub fn ok(&self) -> bool {
        self.items.iter().all(|i| i.ok)
    }
}

const TOOL: &str = "get_weather";

fn item(name: &str, ok: bool, message: impl Into<String>) -> CheckItem {
    CheckItem {
        name: name.into(),
        ok,
        message: message.into(),
    }
}

/// Check `client`'s profile with real requests (one try each, no retries).
pub async fn check(client: &Client) -> CheckReport {
    let profile = client.profile();
    let mut items = Vec::new();
    let report = |items: Vec<CheckItem>| CheckReport {
        profile: profile.name.clone(),
        model: profile.model.clone(),
        items,
    };

    let plain = ChatRequest {
        system: String::new(),
        messages: vec![Message::User {
            content: "Reply with the single word: pong".into(),
        }],
        ..Default::default()
    };
    let mut ignore = |_: StreamEvent| {};
    match client.chat(&plain, &mut ignore).await {
        Err(e @ (ProviderError::Unreachable { .. } | ProviderError::Timeout { .. })) => {
            items.push(item("reachable", false, e.to_string()));
            for n in ["auth", "answer", "tool_calling", "streaming"] {
                items.push(item(n, false, "not run: the server was not reached"));
            }
            return report(items);
        }
        Err(e @ (ProviderError::Auth { .. } | ProviderError::MissingKey(_))) => {
            items.push(item("reachable", true, "the server answered"));
            items.push(item("auth", false, e.to_string()));
            for n in ["answer", "tool_calling", "streaming"] {
                items.push(item(n, false, "not run: the credentials were refused"));
            }
            return report(items);
        }
        Err(e) => {
            items.push(item("reachable", true, "the server answered"));
            // A refused request says nothing about the key unless the server got past
            // it: a 404 (wrong base_url or model) may come before any key check.
            let past_auth = matches!(
                e,
                ProviderError::RateLimited { .. } | ProviderError::ContextOverflow { .. }
            );
            items.push(if past_auth {
                item("auth", true, "the credentials were accepted")
            } else {
                item("auth", false, "not confirmed: the request failed")
            });
            items.push(item("answer", false, e.to_string()));
        }
        Ok(r) => {
            items.push(item("reachable", true, "the server answered"));
            items.push(item("auth", true, "the credentials were accepted"));
            if r.content.trim().is_empty() {
                items.push(item("answer", false, "the answer was empty"));
            } else {
                items.push(item("answer", true, "a plain answer arrived"));
            }
        }
    }

    let tools = ChatRequest {
        system: String::new(),
        messages: vec![Message::User {
            content: "What is the weather in Paris? Use the tool.".into(),
        }],
        tools: vec![ToolDef {
            name: TOOL.into(),
            description: "Get the current weather of a city.".into(),
            input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}),
        }],
        tool_choice: ToolChoice::Required,
        stream: false,
    };
    items.push(match client.chat(&tools, &mut ignore).await {
        Err(e) => item("tool_calling", false, e.to_string()),
        Ok(r) => match r.tool_calls.first() {
            None => item("tool_calling", false, "the model did not call the tool"),
            Some(c) if c.name != TOOL => item(
                "tool_calling",
                false,
                "the model called a tool that was not offered",
            ),
            Some(c) if serde_json::from_str::<serde_json::Value>(&c.arguments).is_err() => item(
                "tool_calling",
                false,
                "the tool call's arguments are not JSON",
            ),
            Some(_) => item("tool_calling", true, "the model called the tool"),
        },
    });

    let mut streamed = 0usize;
    let mut count = |e: StreamEvent| {
        if matches!(e, StreamEvent::Text(_)) {
            streamed += 1;
        }
    };
    let stream = ChatRequest {
        stream: true,
        ..plain
    };
    let result = client.chat(&stream, &mut count).await;
    items.push(match result {
        Err(e) => item("streaming", false, e.to_string()),
        Ok(r) if streamed == 0 || r.content.trim().is_empty() => {
            item("streaming", false, "no text arrived while streaming")
        }
        Ok(_) => item(
            "streaming",
            true,
            format!("the answer streamed in {streamed} pieces"),
        ),
    });
    report(items)
}
