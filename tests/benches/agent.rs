//! The agent loop's own cost: one tool round trip (the model's reply parsed, the tool
//! run in a fresh instance, the result written durably to the session, the next
//! request sent and answered), against the scripted model server so that no model
//! time is counted. Side by side, in the same run: a bare HTTP round trip to the same
//! server (the floor of each model request), the tool call alone, and one durable
//! session write.
//!
//! `cargo bench -p chitin-tests --bench agent` (or `make bench`), after `make skills`.
//! Nothing here asserts a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chitin_agent::agent::{Agent, LoopConfig, Quiet, TurnEnd};
use chitin_agent::approval::{ApprovalConfig, Approvals, NoPrompter};
use chitin_agent::provider::client::Client;
use chitin_agent::provider::profile::{Dialect, Profile};
use chitin_agent::provider::scripted::{self, ScriptedServer};
use chitin_agent::session::{Event, SessionStore};
use chitin_agent::tools::ToolCatalogue;
use chitin_host::catalogue::SkillCatalogue;
use chitin_host::{AuditLog, HostEnv, Runtime, SkillEngine};

const ROUNDS: usize = 300;

fn p(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

fn report(name: &str, samples: &mut [Duration]) -> Duration {
    let p50 = p(samples, 0.5);
    println!(
        "{name:<58} p50 {:>10.2?}  p99 {:>10.2?}  (n = {})",
        p50,
        p(samples, 0.99),
        samples.len()
    );
    p50
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("notes.txt"), "TODO: measure\n").unwrap();
    // The on-disk database, as the CLI uses it: sessions and audit in one file.
    let db = dir.path().join("chitin.db");
    let runtime = Arc::new(Runtime::new(
        SkillEngine::new(dir.path().join("cache")).unwrap(),
        AuditLog::open(&db).unwrap(),
    ));
    let skill = runtime
        .load(&chitin_tests::skill_bytes("file-search"))
        .unwrap();
    let env = HostEnv::from_process(ws.clone(), None, None).unwrap();
    let catalogue = rt
        .block_on(SkillCatalogue::from_skills(
            runtime.clone(),
            vec![skill],
            &env,
        ))
        .unwrap();
    let list = catalogue
        .tools()
        .into_iter()
        .find(|t| t.tool == "list")
        .unwrap();

    let server = rt.block_on(ScriptedServer::start(vec![]));
    let mut profile = Profile::new("bench", Dialect::Openai, &server.url(), "scripted");
    profile.stream = false;
    let client = Client::new(profile, vec![]).unwrap();
    let store = SessionStore::open(&db).unwrap();
    store.ensure("bench").unwrap();
    let mut approvals = Approvals::open(&db, ApprovalConfig::default(), vec![], "bench").unwrap();

    // Warm up: compile caches, connections, SQLite pages.
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.url());
    let body =
        serde_json::json!({"model": "scripted", "messages": [{"role": "user", "content": "hi"}]});
    // Each turn in a session of its own: a real session's context is bounded by
    // compaction, and what is measured here is the loop, not a growing transcript.
    let mut n = 0;
    let mut turn = |store: &SessionStore, approvals: &mut Approvals| {
        n += 1;
        let session = format!("bench-{n}");
        store.ensure(&session).unwrap();
        server.push(scripted::openai_tool_call("file-search__list", "{}"));
        server.push(scripted::openai_text("done"));
        let mut agent = Agent {
            provider: &client,
            tools: &catalogue,
            store,
            session,
            approvals,
            prompter: &mut NoPrompter,
            observer: &mut Quiet,
            config: LoopConfig {
                stream: false,
                ..LoopConfig::default()
            },
        };
        let started = Instant::now();
        let end = rt.block_on(agent.turn("list the workspace")).unwrap();
        let took = started.elapsed();
        assert_eq!(end, TurnEnd::Answered("done".into()));
        took
    };
    for _ in 0..20 {
        turn(&store, &mut approvals);
    }

    println!("agent loop, {ROUNDS} rounds each, file-search `list` on a one-file workspace");
    let mut bare = Vec::with_capacity(ROUNDS);
    let mut tool = Vec::with_capacity(ROUNDS);
    let mut write = Vec::with_capacity(ROUNDS);
    let mut turns = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        // Interleaved, so that the machine's noise falls on all four alike.
        server.push(scripted::openai_text("ok"));
        let started = Instant::now();
        rt.block_on(async {
            let r = http.post(&url).json(&body).send().await.unwrap();
            r.bytes().await.unwrap();
        });
        bare.push(started.elapsed());

        let started = Instant::now();
        let outcome = rt.block_on(catalogue.call(&list, "{}", "bench"));
        tool.push(started.elapsed());
        assert!(!outcome.is_error, "{}", outcome.content);

        let started = Instant::now();
        store
            .append(
                "bench",
                &Event::Notice {
                    text: "a durable write".into(),
                },
            )
            .unwrap();
        write.push(started.elapsed());

        turns.push(turn(&store, &mut approvals));
    }
    let bare = report("bare HTTP round trip to the scripted server", &mut bare);
    let tool = report("tool call alone (fresh instance)", &mut tool);
    let write = report(
        "one durable session write (SQLite WAL, FULL sync)",
        &mut write,
    );
    let turn = report(
        "a turn: 2 model requests, 1 tool call, 4 writes",
        &mut turns,
    );
    // One round trip of the loop = the turn minus the second request (the final answer)
    // and the user message's write; the loop's own share is what is left after the
    // tool and one bare request.
    let round_trip = turn.saturating_sub(bare + write);
    let overhead = round_trip.saturating_sub(tool + bare);
    println!(
        "one tool round trip of the loop ≈ {round_trip:.2?}; host overhead beyond the tool and \
         the bare request ≈ {overhead:.2?} (turn p50 / bare p50 = {:.1}×)",
        turn.as_secs_f64() / bare.as_secs_f64()
    );
}
