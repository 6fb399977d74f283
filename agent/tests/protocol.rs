//! The provider clients over real HTTP against the scripted server: each real server's
//! quirk as a fixture, what chitin parses from it and what it sends back next.

use std::time::{Duration, Instant};

use chitin_agent::message::{
    ChatRequest, Finish, Message, ModelReply, StreamEvent, ToolCall, ToolChoice, ToolDef,
};
use chitin_agent::provider::check::check;
use chitin_agent::provider::scripted::{self, Reply, ScriptedServer};
use chitin_agent::provider::{
    Client, Dialect, Fallback, Profile, ProfileError, Provider, ProviderError, Providers,
    RetryPolicy,
};
use serde_json::{Value, json};

fn profile(server: &ScriptedServer, dialect: Dialect, name: &str) -> Profile {
    let mut p = Profile::new(name, dialect, &server.url(), "test-model");
    p.timeout_secs = 5;
    p
}

fn client(server: &ScriptedServer, dialect: Dialect) -> Client {
    Client::new(profile(server, dialect, "p"), vec!["sk-test".into()]).unwrap()
}

fn tool_def() -> ToolDef {
    ToolDef {
        name: "weather".into(),
        description: "Weather of a city".into(),
        input_schema: json!({"type":"object","properties":{"city":{"type":"string"}}}),
    }
}

fn ask(text: &str, stream: bool) -> ChatRequest {
    ChatRequest {
        system: "be brief".into(),
        messages: vec![Message::User {
            content: text.into(),
        }],
        tools: vec![tool_def()],
        tool_choice: ToolChoice::Auto,
        stream,
    }
}

async fn chat(
    p: &dyn Provider,
    req: &ChatRequest,
) -> (Result<ModelReply, ProviderError>, Vec<StreamEvent>) {
    let mut events = Vec::new();
    let r = p.chat(req, &mut |e| events.push(e)).await;
    (r, events)
}

/// Append the reply and one result per tool call, as the agent loop does.
fn answer_calls(req: &mut ChatRequest, reply: &ModelReply) {
    req.messages.push(reply.to_message());
    for c in &reply.tool_calls {
        req.messages.push(Message::Tool {
            call_id: c.id.clone(),
            name: c.name.clone(),
            content: format!("result of {}", c.id),
            is_error: false,
        });
    }
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
    }
}

fn sse(chunks: &[Value]) -> Reply {
    let mut r: Vec<String> = chunks.iter().map(|c| format!("data: {c}")).collect();
    r.push("data: [DONE]".into());
    Reply::Sse(r)
}

/// Runs one tool-call round trip and returns the reply and the follow-up request body.
async fn round_trip(first: Reply, stream: bool) -> (ModelReply, Value) {
    let server = ScriptedServer::start(vec![first, scripted::openai_text("done")]).await;
    let c = client(&server, Dialect::Openai);
    let mut req = ask("weather?", stream);
    let (reply, _) = chat(&c, &req).await;
    let reply = reply.unwrap();
    answer_calls(&mut req, &reply);
    req.stream = false;
    let (done, _) = chat(&c, &req).await;
    assert_eq!(done.unwrap().content, "done");
    let bodies = server.requests();
    assert_eq!(bodies.len(), 2);
    (reply, bodies[1].clone())
}

/// The follow-up's assistant message and tool messages, from a body.
fn sent_back(body: &Value) -> (Value, Vec<Value>) {
    let msgs = body["messages"].as_array().unwrap();
    let i = msgs.iter().position(|m| m["role"] == "assistant").unwrap();
    (msgs[i].clone(), msgs[i + 1..].to_vec())
}

#[tokio::test]
async fn openai_arguments_as_object() {
    // Ollama and llama.cpp send the arguments as an object, and content null.
    let fixture = json!({"model":"qwen3","choices":[{"index":0,"message":{"role":"assistant","content":null,
        "tool_calls":[{"id":"call_abc","function":{"name":"weather","arguments":{"city":"Paris"}}}]},
        "finish_reason":"tool_calls"}]});
    let (reply, next) = round_trip(Reply::Json(fixture), false).await;
    assert_eq!(
        reply.tool_calls,
        vec![call("call_abc", "weather", r#"{"city":"Paris"}"#)]
    );
    let (assistant, tools) = sent_back(&next);
    assert_eq!(
        assistant["content"],
        json!(""),
        "never null next to tool calls"
    );
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        json!(r#"{"city":"Paris"}"#),
        "arguments go back as a string"
    );
    assert_eq!(tools[0]["tool_call_id"], "call_abc");
}

#[tokio::test]
async fn openai_missing_ids_and_stop_with_tool_calls() {
    // Gemini's OpenAI endpoint: no ids, and `stop` although it called tools.
    let fixture = json!({"choices":[{"index":0,"message":{"role":"assistant","tool_calls":[
        {"type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
        {"type":"function","function":{"name":"weather","arguments":"{\"city\":\"Rome\"}"}}]},
        "finish_reason":"stop"}]});
    let (reply, next) = round_trip(Reply::Json(fixture.clone()), false).await;
    assert_eq!(reply.finish, Finish::ToolCalls);
    let ids: Vec<&str> = reply.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["call_0", "call_1"]);
    let (assistant, tools) = sent_back(&next);
    assert_eq!(assistant["tool_calls"][0]["id"], "call_0");
    assert_eq!(assistant["tool_calls"][1]["id"], "call_1");
    assert_eq!(tools[0]["tool_call_id"], "call_0");
    assert_eq!(tools[0]["content"], "result of call_0");
    assert_eq!(tools[1]["tool_call_id"], "call_1");

    // A second round of id-less calls gets new ids, unique in the conversation.
    let server = ScriptedServer::start(vec![Reply::Json(fixture)]).await;
    let c = client(&server, Dialect::Openai);
    let mut req = ask("weather?", false);
    let first = chat(&c, &req).await.0.unwrap();
    answer_calls(&mut req, &first);
    let second = chat(&c, &req).await.0.unwrap();
    let ids: Vec<&str> = second.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["call_2", "call_3"]);
}

#[tokio::test]
async fn openai_stream_calls_all_on_index_zero() {
    let tc = |c: Value| json!({"choices":[{"index":0,"delta":{"tool_calls":[c]}}]});
    let fixture = sse(&[
        tc(
            json!({"index":0,"id":"a","type":"function","function":{"name":"weather","arguments":"{\"city\":"}}),
        ),
        tc(json!({"index":0,"function":{"arguments":"\"Paris\"}"}})),
        tc(
            json!({"index":0,"id":"b","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Rome\"}"}}),
        ),
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
    ]);
    let (reply, next) = round_trip(fixture, true).await;
    assert_eq!(
        reply.tool_calls,
        vec![
            call("a", "weather", r#"{"city":"Paris"}"#),
            call("b", "weather", r#"{"city":"Rome"}"#)
        ]
    );
    let (_, tools) = sent_back(&next);
    assert_eq!(tools[0]["tool_call_id"], "a");
    assert_eq!(tools[1]["tool_call_id"], "b");
}

#[tokio::test]
async fn openai_stream_calls_without_index() {
    let tc = |c: Value| json!({"choices":[{"index":0,"delta":{"tool_calls":[c]}}]});
    let fixture = sse(&[
        tc(json!({"id":"a","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}})),
        tc(json!({"id":"b","function":{"name":"weather","arguments":"{\"city\""}})),
        tc(json!({"function":{"arguments":":\"Rome\"}"}})),
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
    ]);
    let (reply, _) = round_trip(fixture, true).await;
    assert_eq!(
        reply.tool_calls,
        vec![
            call("a", "weather", r#"{"city":"Oslo"}"#),
            call("b", "weather", r#"{"city":"Rome"}"#)
        ]
    );
}

#[tokio::test]
async fn llama_cpp_python_repeats_id_and_name_and_sends_function_call() {
    // Every chunk repeats the id and the name, and carries a legacy function_call.
    let chunk = |args: &str| {
        json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null,
            "function_call":{"name":"weather","arguments":args},
            "tool_calls":[{"index":0,"id":"call_lcp","type":"function","function":{"name":"weather","arguments":args}}]},
            "finish_reason":null}]})
    };
    let fixture = sse(&[
        chunk("{\"city\": "),
        chunk("\"Paris\""),
        chunk("}"),
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
    ]);
    let (reply, next) = round_trip(fixture, true).await;
    assert_eq!(
        reply.tool_calls,
        vec![call("call_lcp", "weather", r#"{"city": "Paris"}"#)]
    );
    let (assistant, tools) = sent_back(&next);
    assert_eq!(assistant["tool_calls"][0]["function"]["name"], "weather");
    assert_eq!(assistant["tool_calls"].as_array().unwrap().len(), 1);
    assert_eq!(tools[0]["tool_call_id"], "call_lcp");
}

#[tokio::test]
async fn legacy_function_call_alone() {
    let fixture = json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,
        "function_call":{"name":"weather","arguments":"{\"city\":\"Lima\"}"}},"finish_reason":"function_call"}]});
    let (reply, next) = round_trip(Reply::Json(fixture), false).await;
    assert_eq!(reply.finish, Finish::ToolCalls);
    assert_eq!(
        reply.tool_calls,
        vec![call("call_0", "weather", r#"{"city":"Lima"}"#)]
    );
    let (assistant, tools) = sent_back(&next);
    assert!(
        assistant.get("function_call").is_none(),
        "sent back as tool_calls"
    );
    assert_eq!(assistant["tool_calls"][0]["id"], "call_0");
    assert_eq!(tools[0]["tool_call_id"], "call_0");
}

#[tokio::test]
async fn deepseek_reasoning_streamed_and_sent_back() {
    let fixture = sse(&[
        json!({"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Need "}}]}),
        json!({"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"the tool."}}]}),
        json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_ds","type":"function",
            "function":{"name":"weather","arguments":"{\"city\":\"Kyiv\"}"}}]}}]}),
        json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],
               "usage":{"prompt_tokens":30,"completion_tokens":12}}),
    ]);
    let server = ScriptedServer::start(vec![fixture, scripted::openai_text("ok")]).await;
    let c = client(&server, Dialect::Openai);
    let mut req = ask("weather?", true);
    let (reply, events) = chat(&c, &req).await;
    let reply = reply.unwrap();
    assert_eq!(reply.reasoning.as_deref(), Some("Need the tool."));
    assert_eq!(
        events,
        vec![
            StreamEvent::Reasoning("Need ".into()),
            StreamEvent::Reasoning("the tool.".into())
        ]
    );
    assert_eq!(
        reply.usage.map(|u| (u.input_tokens, u.output_tokens)),
        Some((30, 12))
    );
    answer_calls(&mut req, &reply);
    req.stream = false;
    chat(&c, &req).await.0.unwrap();
    let (assistant, _) = sent_back(&server.requests()[1]);
    assert_eq!(assistant["reasoning_content"], "Need the tool.");
}

#[tokio::test]
async fn openai_request_form() {
    let server = ScriptedServer::start(vec![scripted::openai_text("hi")]).await;
    let c = client(&server, Dialect::Openai);
    let mut req = ask("hello", false);
    req.tool_choice = ToolChoice::Required;
    chat(&c, &req).await.0.unwrap();
    let rec = &server.recorded()[0];
    assert_eq!(rec.path, "/v1/chat/completions");
    assert_eq!(rec.header("authorization"), Some("Bearer sk-test"));
    let b = &rec.body;
    assert_eq!(
        b["tool_choice"], "required",
        "a string, never the object form"
    );
    assert_eq!(b["model"], "test-model");
    assert_eq!(b["stream"], false);
    assert_eq!(
        b["messages"][0],
        json!({"role":"system","content":"be brief"})
    );
    assert_eq!(b["tools"][0]["type"], "function");

    // A profile without key sends no Authorization header at all.
    let keyless = Client::new(profile(&server, Dialect::Openai, "local"), vec![]).unwrap();
    chat(&keyless, &req).await.0.unwrap();
    assert_eq!(server.recorded()[1].header("authorization"), None);
}

#[tokio::test]
async fn openai_text_streams_with_crlf_and_comments() {
    let fixture = Reply::Sse(vec![
        ": OPENROUTER PROCESSING".into(),
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\r\n".into(),
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"length\"}]}".into(),
        "data: [DONE]".into(),
    ]);
    let server = ScriptedServer::start(vec![fixture]).await;
    let c = client(&server, Dialect::Openai);
    let (reply, events) = chat(&c, &ask("hi", true)).await;
    let reply = reply.unwrap();
    assert_eq!(reply.content, "Hello");
    assert_eq!(reply.finish, Finish::Length);
    assert_eq!(
        events,
        vec![
            StreamEvent::Text("Hel".into()),
            StreamEvent::Text("lo".into())
        ]
    );
    assert_eq!(server.requests()[0]["stream"], true);
}

#[tokio::test]
async fn error_answers_are_typed() {
    type Want = fn(&ProviderError) -> bool;
    let cases: Vec<(Reply, Want)> = vec![
        (
            Reply::status(
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","code":"context_length_exceeded"}}"#,
            ),
            |e| matches!(e, ProviderError::ContextOverflow { .. }),
        ),
        (
            Reply::status(
                400,
                r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
            ),
            |e| matches!(e, ProviderError::ContextOverflow { .. }),
        ),
        (
            Reply::status(
                500,
                r#"{"error":{"message":"Requested tokens (9000) exceed context window of 4096"}}"#,
            ),
            |e| matches!(e, ProviderError::ContextOverflow { .. }),
        ),
        (
            Reply::status(401, r#"{"error":{"message":"bad key"}}"#),
            |e| matches!(e, ProviderError::Auth { status: 401, message, .. } if message == "bad key"),
        ),
        (
            Reply::rate_limited(Some(3)),
            |e| matches!(e, ProviderError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(3)),
        ),
        (Reply::status(503, "overloaded"), |e| {
            matches!(e, ProviderError::Status { status: 503, .. }) && e.is_transient()
        }),
        (Reply::Json(json!({"nothing": true})), |e| {
            matches!(e, ProviderError::Protocol { .. })
        }),
        (
            Reply::Sse(vec![
                "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}".into(),
            ]),
            |e| matches!(e, ProviderError::Protocol { .. }),
        ),
    ];
    for (i, (reply, want)) in cases.into_iter().enumerate() {
        let stream = matches!(reply, Reply::Sse(_));
        let server = ScriptedServer::start(vec![reply]).await;
        let c = client(&server, Dialect::Openai);
        let err = chat(&c, &ask("hi", stream)).await.0.unwrap_err();
        assert!(want(&err), "case {i}: {err:?}");
    }
}

#[tokio::test]
async fn timeouts_and_unreachable() {
    let server = ScriptedServer::start(vec![
        scripted::openai_text("late").after(Duration::from_secs(3)),
    ])
    .await;
    let mut p = profile(&server, Dialect::Openai, "slow");
    p.timeout_secs = 1;
    let c = Client::new(p, vec![]).unwrap();
    let started = Instant::now();
    let err = chat(&c, &ask("hi", false)).await.0.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(2500));

    let addr = server.addr();
    drop(server);
    let gone = Profile::new("gone", Dialect::Openai, &format!("http://{addr}/v1"), "m");
    let c = Client::new(gone, vec![]).unwrap();
    let err = chat(&c, &ask("hi", false)).await.0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

// ---- Anthropic ----

#[tokio::test]
async fn anthropic_tool_use_and_merged_results() {
    let fixture = json!({"id":"msg_1","type":"message","role":"assistant","content":[
        {"type":"text","text":"Checking."},
        {"type":"tool_use","id":"toolu_a","name":"weather","input":{"city":"Paris"}},
        {"type":"tool_use","id":"toolu_b","name":"weather","input":{"city":"Rome"}}],
        "stop_reason":"tool_use","usage":{"input_tokens":50,"output_tokens":20}});
    let server = ScriptedServer::start(vec![
        Reply::Json(fixture),
        scripted::anthropic_text("sunny"),
    ])
    .await;
    let c = client(&server, Dialect::Anthropic);
    let mut req = ask("weather?", false);
    let reply = chat(&c, &req).await.0.unwrap();
    assert_eq!(reply.content, "Checking.");
    assert_eq!(reply.finish, Finish::ToolCalls);
    assert_eq!(
        reply.tool_calls,
        vec![
            call("toolu_a", "weather", r#"{"city":"Paris"}"#),
            call("toolu_b", "weather", r#"{"city":"Rome"}"#)
        ]
    );
    req.messages.push(reply.to_message());
    req.messages.push(Message::Tool {
        call_id: "toolu_a".into(),
        name: "weather".into(),
        content: "sunny".into(),
        is_error: false,
    });
    req.messages.push(Message::Tool {
        call_id: "toolu_b".into(),
        name: "weather".into(),
        content: "no such city".into(),
        is_error: true,
    });
    assert_eq!(chat(&c, &req).await.0.unwrap().content, "sunny");

    let rec = &server.recorded()[1];
    assert_eq!(rec.path, "/v1/messages");
    assert_eq!(rec.header("x-api-key"), Some("sk-test"));
    assert_eq!(rec.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(rec.header("authorization"), None);
    let b = &rec.body;
    assert_eq!(b["system"], "be brief");
    assert_eq!(b["max_tokens"], 4096);
    assert_eq!(b["tool_choice"], json!({"type":"auto"}));
    assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(msgs[1]["content"][1]["input"], json!({"city":"Paris"}));
    assert_eq!(
        msgs[2],
        json!({"role":"user","content":[
            {"type":"tool_result","tool_use_id":"toolu_a","content":"sunny"},
            {"type":"tool_result","tool_use_id":"toolu_b","content":"no such city","is_error":true},
        ]})
    );
}

#[tokio::test]
async fn anthropic_streams_thinking_text_and_tool_use() {
    let ev = |v: Value| {
        let t = v["type"].as_str().unwrap().to_string();
        format!("event: {t}\r\ndata: {v}")
    };
    let fixture = Reply::Sse(vec![
        ev(
            json!({"type":"message_start","message":{"id":"m","usage":{"input_tokens":12,"output_tokens":1}}}),
        ),
        ev(
            json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}),
        ),
        ev(
            json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}),
        ),
        ev(json!({"type":"content_block_stop","index":0})),
        ev(json!({"type":"ping"})),
        ev(
            json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
        ),
        ev(
            json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"On it."}}),
        ),
        ev(json!({"type":"content_block_stop","index":1})),
        ev(
            json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_s","name":"weather","input":{}}}),
        ),
        ev(
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}),
        ),
        ev(
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \"Oslo\"}"}}),
        ),
        ev(json!({"type":"content_block_stop","index":2})),
        ev(
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":33}}),
        ),
        ev(json!({"type":"message_stop"})),
    ]);
    let server = ScriptedServer::start(vec![fixture]).await;
    let c = client(&server, Dialect::Anthropic);
    let (reply, events) = chat(&c, &ask("weather?", true)).await;
    let reply = reply.unwrap();
    assert_eq!(reply.reasoning.as_deref(), Some("Let me"));
    assert_eq!(reply.content, "On it.");
    assert_eq!(
        reply.tool_calls,
        vec![call("toolu_s", "weather", r#"{"city": "Oslo"}"#)]
    );
    assert_eq!(reply.finish, Finish::ToolCalls);
    assert_eq!(
        reply.usage.map(|u| (u.input_tokens, u.output_tokens)),
        Some((12, 33))
    );
    assert_eq!(
        events,
        vec![
            StreamEvent::Reasoning("Let me".into()),
            StreamEvent::Text("On it.".into())
        ]
    );
    assert_eq!(server.requests()[0]["stream"], true);
}

#[tokio::test]
async fn anthropic_errors() {
    let server = ScriptedServer::start(vec![Reply::status(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
    )])
    .await;
    let c = client(&server, Dialect::Anthropic);
    let err = chat(&c, &ask("hi", false)).await.0.unwrap_err();
    assert!(
        matches!(err, ProviderError::ContextOverflow { .. }),
        "{err:?}"
    );

    let server = ScriptedServer::start(vec![Reply::Sse(vec![
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}".into(),
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}".into(),
    ])])
    .await;
    let c = client(&server, Dialect::Anthropic);
    let err = chat(&c, &ask("hi", true)).await.0.unwrap_err();
    assert!(
        matches!(err, ProviderError::Status { status: 529, .. }) && err.is_transient(),
        "{err:?}"
    );
}

#[tokio::test]
async fn scripted_helpers_parse_in_both_dialects() {
    let server = ScriptedServer::start(vec![
        scripted::openai_text_stream("streamed text"),
        scripted::openai_tool_call_stream("weather", r#"{"city":"Paris"}"#),
        scripted::openai_tool_call("weather", r#"{"city":"Rome"}"#),
    ])
    .await;
    let c = client(&server, Dialect::Openai);
    assert_eq!(
        chat(&c, &ask("a", true)).await.0.unwrap().content,
        "streamed text"
    );
    let r = chat(&c, &ask("a", true)).await.0.unwrap();
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    for _ in 0..3 {
        // The last reply repeats.
        let r = chat(&c, &ask("a", false)).await.0.unwrap();
        assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Rome"}"#);
    }
    assert_eq!(server.requests().len(), 5);

    let server = ScriptedServer::start(vec![
        scripted::anthropic_text_stream("streamed text"),
        scripted::anthropic_tool_use_stream("weather", r#"{"city":"Paris"}"#),
        scripted::anthropic_tool_use("weather", r#"{"city":"Rome"}"#),
        scripted::anthropic_text("plain"),
    ])
    .await;
    let c = client(&server, Dialect::Anthropic);
    assert_eq!(
        chat(&c, &ask("a", true)).await.0.unwrap().content,
        "streamed text"
    );
    let r = chat(&c, &ask("a", true)).await.0.unwrap();
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    let r = chat(&c, &ask("a", false)).await.0.unwrap();
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Rome"}"#);
    assert_eq!(chat(&c, &ask("a", false)).await.0.unwrap().content, "plain");
}

// ---- Fallback ----

fn fast() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn fallback_moves_on_after_5xx_retries() {
    let a = ScriptedServer::start(vec![Reply::status(500, "boom")]).await;
    let b = ScriptedServer::start(vec![scripted::openai_text("from b")]).await;
    let mut pa = profile(&a, Dialect::Openai, "a");
    pa.max_retries = 2;
    let mut pb = profile(&b, Dialect::Openai, "b");
    pb.context_window = 4096;
    let chain = Fallback::new(vec![
        Client::new(pa, vec![]).unwrap(),
        Client::new(pb, vec![]).unwrap(),
    ])
    .with_policy(fast());
    let reply = chat(&chain, &ask("hi", false)).await.0.unwrap();
    assert_eq!(reply.content, "from b");
    assert_eq!(a.requests().len(), 3, "one try and two retries on a");
    assert_eq!(b.requests().len(), 1);
    assert_eq!(chain.context_window(), 4096, "the smallest of the chain");
}

#[tokio::test]
async fn fallback_moves_on_after_a_timeout() {
    let a = ScriptedServer::start(vec![
        scripted::openai_text("late").after(Duration::from_secs(5)),
    ])
    .await;
    let b = ScriptedServer::start(vec![scripted::anthropic_text("from b")]).await;
    let mut pa = profile(&a, Dialect::Openai, "a");
    pa.timeout_secs = 1;
    pa.max_retries = 0;
    let chain = Fallback::new(vec![
        Client::new(pa, vec![]).unwrap(),
        Client::new(profile(&b, Dialect::Anthropic, "b"), vec![]).unwrap(),
    ])
    .with_policy(fast());
    let reply = chat(&chain, &ask("hi", false)).await.0.unwrap();
    assert_eq!(reply.content, "from b");
    assert_eq!(a.requests().len(), 1);
}

#[tokio::test]
async fn fallback_rotates_keys_on_429() {
    let server = ScriptedServer::start(vec![
        Reply::rate_limited(Some(3600)),
        scripted::openai_text("ok"),
    ])
    .await;
    let mut p = profile(&server, Dialect::Openai, "p");
    p.max_retries = 0; // a key change is not a retry
    let chain = Fallback::new(vec![
        Client::new(p, vec!["key-one".into(), "key-two".into()]).unwrap(),
    ])
    .with_policy(RetryPolicy {
        base_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(10),
    });
    let started = Instant::now();
    assert_eq!(
        chat(&chain, &ask("hi", false)).await.0.unwrap().content,
        "ok"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait for another key"
    );
    // The rate-limited key rests: the next call uses the second key again.
    chat(&chain, &ask("hi", false)).await.0.unwrap();
    let keys: Vec<String> = server
        .recorded()
        .iter()
        .map(|r| r.header("authorization").unwrap_or("").to_string())
        .collect();
    assert_eq!(keys, ["Bearer key-one", "Bearer key-two", "Bearer key-two"]);
}

#[tokio::test]
async fn fallback_honours_retry_after_up_to_the_cap() {
    let server = ScriptedServer::start(vec![
        Reply::rate_limited(Some(3600)),
        scripted::openai_text("ok"),
    ])
    .await;
    let chain = Fallback::new(vec![
        Client::new(profile(&server, Dialect::Openai, "p"), vec!["k".into()]).unwrap(),
    ])
    .with_policy(RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(200),
    });
    let started = Instant::now();
    assert_eq!(
        chat(&chain, &ask("hi", false)).await.0.unwrap().content,
        "ok"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "waited the capped Retry-After: {took:?}"
    );
    assert!(took < Duration::from_secs(3));
}

#[tokio::test]
async fn fallback_returns_context_overflow_and_auth_at_once() {
    for (reply, overflow) in [
        (
            Reply::status(
                400,
                r#"{"error":{"code":"context_length_exceeded","message":"too long"}}"#,
            ),
            true,
        ),
        (Reply::status(401, "no"), false),
    ] {
        let a = ScriptedServer::start(vec![reply]).await;
        let b = ScriptedServer::start(vec![scripted::openai_text("b")]).await;
        let chain = Fallback::new(vec![
            Client::new(profile(&a, Dialect::Openai, "a"), vec![]).unwrap(),
            Client::new(profile(&b, Dialect::Openai, "b"), vec![]).unwrap(),
        ])
        .with_policy(fast());
        let err = chat(&chain, &ask("hi", false)).await.0.unwrap_err();
        if overflow {
            assert!(
                matches!(err, ProviderError::ContextOverflow { .. }),
                "{err:?}"
            );
        } else {
            assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
        }
        assert_eq!(a.requests().len(), 1, "not retried");
        assert_eq!(b.requests().len(), 0, "no fallback");
    }
}

#[tokio::test]
async fn fallback_does_not_retry_after_text_was_streamed() {
    let a = ScriptedServer::start(vec![Reply::Sse(vec![
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}".into(),
        "data: {\"error\":{\"message\":\"server crashed\",\"code\":500}}".into(),
    ])])
    .await;
    let b = ScriptedServer::start(vec![scripted::openai_text_stream("b")]).await;
    let chain = Fallback::new(vec![
        Client::new(profile(&a, Dialect::Openai, "a"), vec![]).unwrap(),
        Client::new(profile(&b, Dialect::Openai, "b"), vec![]).unwrap(),
    ])
    .with_policy(fast());
    let (r, events) = chat(&chain, &ask("hi", true)).await;
    let err = r.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(events, vec![StreamEvent::Text("partial".into())]);
    assert_eq!(a.requests().len(), 1);
    assert_eq!(b.requests().len(), 0);
}

#[tokio::test]
async fn fallback_chain_from_the_providers_file() {
    let a = ScriptedServer::start(vec![Reply::status(502, "bad gateway")]).await;
    let b = ScriptedServer::start(vec![scripted::anthropic_text("from b")]).await;
    let text = format!(
        r#"
default = "a"
fallback = ["b"]
[[profile]]
name = "a"
dialect = "openai"
base_url = "{}"
model = "m"
max_retries = 0
[[profile]]
name = "b"
dialect = "anthropic"
base_url = "{}"
model = "m"
api_key_secret = "b-key"
"#,
        a.url(),
        b.url()
    );
    let providers = Providers::parse(&text).unwrap();
    let secret = |name: &str| (name == "b-key").then(|| "sk-b".to_string());
    let chain = Fallback::from_providers(&providers, None, &secret)
        .unwrap()
        .with_policy(fast());
    assert_eq!(chain.describe(), "a (m), falling back to b (m)");
    assert_eq!(
        chat(&chain, &ask("hi", false)).await.0.unwrap().content,
        "from b"
    );
    assert_eq!(a.requests().len(), 1);
    assert_eq!(b.recorded()[0].header("x-api-key"), Some("sk-b"));

    let no_secret = |_: &str| None;
    let err = Fallback::from_providers(&providers, None, &no_secret).unwrap_err();
    assert!(matches!(err, ProfileError::MissingKey { .. }), "{err:?}");
}

// ---- Profiles ----

#[test]
fn profile_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf").join("providers.toml");
    let mut ps = Providers::load(&path).unwrap();
    assert!(ps.profiles.is_empty(), "a missing file is no profiles");
    let mut openai = Profile::new(
        "openai",
        Dialect::Openai,
        "https://api.openai.com/v1",
        "gpt-4.1",
    );
    openai.api_key_env = vec!["OPENAI_API_KEY".into(), "OPENAI_API_KEY_2".into()];
    openai.context_window = 128_000;
    openai.temperature = Some(0.2);
    openai
        .params
        .insert("top_p".into(), toml::Value::Float(0.5));
    let mut claude = Profile::new(
        "claude",
        Dialect::Anthropic,
        "https://api.anthropic.com/v1",
        "claude-x",
    );
    claude.api_key_secret = Some("anthropic".into());
    claude.max_tokens = Some(8000);
    let local = Profile::new(
        "local",
        Dialect::Openai,
        "http://localhost:11434/v1",
        "qwen3",
    );
    ps.add(openai).unwrap();
    ps.add(claude).unwrap();
    ps.add(local).unwrap();
    assert_eq!(
        ps.default.as_deref(),
        Some("openai"),
        "the first added is the default"
    );
    ps.set_default("claude").unwrap();
    ps.set_fallback(vec!["openai".into(), "local".into()])
        .unwrap();
    ps.save(&path).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("api_key ="), "{text}");
    let mut loaded = Providers::load(&path).unwrap();
    assert_eq!(loaded, ps);
    assert_eq!(loaded.list(), ["openai", "claude", "local"]);
    let chain: Vec<&str> = loaded
        .chain(None)
        .unwrap()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(chain, ["claude", "openai", "local"]);
    let chain: Vec<&str> = loaded
        .chain(Some("local"))
        .unwrap()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(chain, ["local", "openai"]);
    assert!(matches!(
        loaded.set_default("nope").map(|_| ()).unwrap_err(),
        ProfileError::UnknownProfile { .. }
    ));
}

#[test]
fn a_profile_with_an_inline_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    std::fs::write(
        &path,
        r#"
default = "openai"
[[profile]]
name = "openai"
dialect = "openai"
base_url = "https://api.openai.com/v1"
model = "gpt-4.1"
api_key = "sk-live-123"
"#,
    )
    .unwrap();
    let err = Providers::load(&path).unwrap_err();
    assert!(matches!(err, ProfileError::InlineKey { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("api_key_env"), "{msg}");
    assert!(
        !msg.contains("sk-live-123"),
        "the key is not repeated: {msg}"
    );
}

// ---- Check ----

#[tokio::test]
async fn check_reports_what_works() {
    let server = ScriptedServer::start(vec![
        scripted::openai_text("pong"),
        scripted::openai_tool_call("get_weather", r#"{"city":"Paris"}"#),
        scripted::openai_text_stream("pong pong"),
    ])
    .await;
    let report = check(&client(&server, Dialect::Openai)).await;
    assert!(report.ok(), "{report:?}");
    let names: Vec<&str> = report.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["reachable", "auth", "answer", "tool_calling", "streaming"]
    );
    let sent = server.requests();
    assert_eq!(sent[1]["tool_choice"], "required");
    assert_eq!(sent[2]["stream"], true);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["items"][3]["ok"], true);

    // A model that answers text when it must call a tool, and a refused key.
    let server = ScriptedServer::start(vec![scripted::openai_text("pong")]).await;
    let report = check(&client(&server, Dialect::Openai)).await;
    let ok: Vec<bool> = report.items.iter().map(|i| i.ok).collect();
    assert_eq!(ok, [true, true, true, false, false]);
    let server = ScriptedServer::start(vec![Reply::status(401, "bad key")]).await;
    let report = check(&client(&server, Dialect::Anthropic)).await;
    let ok: Vec<bool> = report.items.iter().map(|i| i.ok).collect();
    assert_eq!(ok, [true, false, false, false, false]);
    assert_eq!(server.requests().len(), 1);
    // A 404 (wrong model or URL) does not confirm the key.
    let server = ScriptedServer::start(vec![Reply::status(404, "no such model")]).await;
    let report = check(&client(&server, Dialect::Openai)).await;
    let ok: Vec<bool> = report.items.iter().map(|i| i.ok).collect();
    assert_eq!(ok, [true, false, false, false, false]);
    assert!(report.items[2].message.contains("no such model"));
}
