//! The conversation as chitin keeps it, independent of any provider's wire format.
//! Each provider dialect translates these to and from its own JSON (`provider::openai`,
//! `provider::anthropic`), tolerating the quirks of real servers on the way in.

use serde::{Deserialize, Serialize};

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (made up by chitin when a server sends none), so
    /// the result can be paired with it.
    pub id: String,
    /// The tool's name as offered to the model (`skill__tool`).
    pub name: String,
    /// The arguments as JSON text, exactly as the model produced them (normalised to a
    /// string when a server sent an object).
    pub arguments: String,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    User {
        content: String,
    },
    Assistant {
        #[serde(default)]
        content: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        /// A thinking model's reasoning (DeepSeek's `reasoning_content`), sent back
        /// with the message where the provider requires it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
    },
    /// The result of one tool call, paired with it by `call_id`.
    Tool {
        call_id: String,
        name: String,
        content: String,
        #[serde(default)]
        is_error: bool,
    },
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolDef {
    /// `skill__tool`: at most 64 characters of `[A-Za-z0-9_-]`, as providers require.
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: serde_json::Value,
}

/// How the model must use the tools in one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    #[default]
    Auto,
    /// Must call some tool (used by `chitin provider check` to probe tool calling).
    Required,
    None,
}

/// One request to a model.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: ToolChoice,
    /// Stream the answer by server-sent events.
    pub stream: bool,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// A final answer.
    Stop,
    /// It asked for tool calls (also when a server said `stop` but sent tool calls).
    ToolCalls,
    /// It ran out of output tokens.
    Length,
    /// Anything else the server said, kept for the record.
    Other(String),
}

/// Token counts, when the server reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A complete answer of the model: the assistant message and why it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelReply {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub reasoning: Option<String>,
    pub finish: Finish,
    pub usage: Option<Usage>,
}

impl ModelReply {
    /// The reply as a message of the conversation.
    pub fn to_message(&self) -> Message {
        Message::Assistant {
            content: self.content.clone(),
            tool_calls: self.tool_calls.clone(),
            reasoning: self.reasoning.clone(),
        }
    }
}

/// What arrives while a reply streams, for live display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A piece of the answer's text.
    Text(String),
    /// A piece of the model's reasoning.
    Reasoning(String),
}

/// Roughly how many tokens `text` costs: four bytes a token, the usual estimate when
/// no tokenizer for the model is at hand. Used only to decide when to compact.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

impl Message {
    /// The estimated tokens of this message.
    pub fn estimated_tokens(&self) -> usize {
        match self {
            Message::User { content } => estimate_tokens(content) + 4,
            Message::Assistant {
                content,
                tool_calls,
                reasoning,
            } => {
                estimate_tokens(content)
                    + reasoning.as_deref().map_or(0, estimate_tokens)
                    + tool_calls
                        .iter()
                        .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments) + 8)
                        .sum::<usize>()
                    + 4
            }
            Message::Tool { content, .. } => estimate_tokens(content) + 8,
        }
    }
}
