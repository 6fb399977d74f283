//! Sessions in SQLite: every event written as it happens, so a killed process loses
//! nothing it had received, and a session resumes where it stopped.
//!
//! A session is an append-only list of [`Event`]s. Compaction adds an event that
//! summarises older ones; it never deletes, so `export` always has the full
//! transcript. One serial lane per session ([`Lane`]): a second process on the same
//! session waits for (or refuses on) a file lock, different sessions run in parallel.

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::message::{Message, ToolCall};

/// What can go wrong with sessions.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("no session named `{0}`; see `chitin session list`")]
    NotFound(String),
    #[error(
        "a session named `{0}` already exists; remove it first or import under another name with --as"
    )]
    Exists(String),
    #[error(
        "invalid session name `{0}`: use 1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
    )]
    BadName(String),
    #[error("line {line} of the session file: {message}")]
    BadImport { line: usize, message: String },
    #[error(
        "session `{0}` is in use by another chitin process; wait for its turn to end, or leave out --no-wait to wait"
    )]
    Busy(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stored event {seq} of session `{session}` is not readable: {source}")]
    BadEvent {
        session: String,
        seq: i64,
        #[source]
        source: serde_json::Error,
    },
}

/// One entry of a session, stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// What the user said.
    User { content: String },
    /// What the model answered, with the tool calls it asked for.
    Assistant {
        #[serde(default)]
        content: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning: Option<String>,
        /// Which profile and model answered.
        #[serde(default)]
        model: String,
    },
    /// The result of one tool call, as the model saw it.
    ToolResult {
        call_id: String,
        name: String,
        content: String,
        #[serde(default)]
        is_error: bool,
        #[serde(default)]
        elapsed_ms: f64,
    },
    /// A summary standing in, for the model, for every event up to `through` (a seq).
    Compaction { summary: String, through: i64 },
    /// Something chitin told the user that the model does not see (a turn limit, a
    /// loop stopped). Kept so `session show` tells the whole story.
    Notice { text: String },
}

/// A stored event with its place and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: i64,
    /// UTC, RFC 3339.
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
}

/// One line of `session list`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    pub id: String,
    pub created: String,
    pub updated: String,
    pub events: i64,
    /// The first user message, shortened.
    pub title: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id      TEXT PRIMARY KEY,
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS session_events (
    session TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    time    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    event   TEXT NOT NULL,
    PRIMARY KEY (session, seq)
);";

/// The sessions of the chitin database.
pub struct SessionStore {
    conn: Connection,
}

/// Session names users type: `--session work`.
pub fn check_name(name: &str) -> Result<(), SessionError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(SessionError::BadName(name.to_string()))
    }
}

impl SessionStore {
    /// Open the session tables in the database at `path` (created if needed).
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        // The database is shared with the skill store, the audit log and approvals:
        // opened as they open it (WAL so readers never block the writer, FULL so an
        // event the user saw is on disk before the next request goes out, and waiting
        // on other openers rather than failing).
        let conn = chitin_registry::store::open_db(
            path,
            &format!("PRAGMA foreign_keys = ON; BEGIN IMMEDIATE; {SCHEMA} COMMIT;"),
        )?;
        Ok(Self { conn })
    }

    /// A store that lives in memory (tests).
    pub fn in_memory() -> Result<Self, SessionError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Create the session `id` if it does not exist. Returns whether it was created.
    pub fn ensure(&self, id: &str) -> Result<bool, SessionError> {
        check_name(id)?;
        let n = self
            .conn
            .execute("INSERT OR IGNORE INTO sessions (id) VALUES (?1)", [id])?;
        Ok(n == 1)
    }

    pub fn exists(&self, id: &str) -> Result<bool, SessionError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM sessions WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Append one event; durable when this returns. Returns its seq.
    pub fn append(&self, id: &str, event: &Event) -> Result<i64, SessionError> {
        let json = serde_json::to_string(event).expect("events serialize");
        // One statement, so one transaction: the seq and the row land together.
        let seq = self.conn.query_row(
            "INSERT INTO session_events (session, seq, event)
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM session_events WHERE session = ?1), ?2)
             RETURNING seq",
            params![id, json],
            |r| r.get(0),
        )?;
        Ok(seq)
    }

    /// Every event of the session, oldest first.
    pub fn events(&self, id: &str) -> Result<Vec<StoredEvent>, SessionError> {
        self.events_after(id, 0)
    }

    /// What the model's context is built from: the latest compaction and the events
    /// after what it covers (every event when there is none). A long session costs
    /// each request only its live part.
    pub fn live_events(&self, id: &str) -> Result<Vec<StoredEvent>, SessionError> {
        let through: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT json_extract(event, '$.through') FROM session_events
                 WHERE session = ?1 AND json_extract(event, '$.type') = 'compaction'
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        self.events_after(id, through.unwrap_or(0))
    }

    fn events_after(&self, id: &str, after: i64) -> Result<Vec<StoredEvent>, SessionError> {
        if !self.exists(id)? {
            return Err(SessionError::NotFound(id.to_string()));
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, time, event FROM session_events WHERE session = ?1 AND seq > ?2
             ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![id, after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, time, json) = row?;
            let event = serde_json::from_str(&json).map_err(|source| SessionError::BadEvent {
                session: id.to_string(),
                seq,
                source,
            })?;
            events.push(StoredEvent { seq, time, event });
        }
        Ok(events)
    }

    /// All sessions, most recently used first.
    pub fn list(&self) -> Result<Vec<SessionSummary>, SessionError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.created,
                    COALESCE((SELECT MAX(time) FROM session_events e WHERE e.session = s.id), s.created),
                    (SELECT COUNT(*) FROM session_events e WHERE e.session = s.id),
                    (SELECT event FROM session_events e WHERE e.session = s.id
                       AND json_extract(event, '$.type') = 'user' ORDER BY seq LIMIT 1)
             FROM sessions s ORDER BY 3 DESC, s.id",
        )?;
        let rows = stmt.query_map([], |r| {
            let first: Option<String> = r.get(4)?;
            let title = first
                .and_then(|j| serde_json::from_str::<Event>(&j).ok())
                .map(|e| match e {
                    Event::User { content } => shorten(&content, 60),
                    _ => String::new(),
                })
                .unwrap_or_default();
            Ok(SessionSummary {
                id: r.get(0)?,
                created: r.get(1)?,
                updated: r.get(2)?,
                events: r.get(3)?,
                title,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Delete a session and its events.
    pub fn remove(&self, id: &str) -> Result<(), SessionError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM session_events WHERE session = ?1", [id])?;
        let n = tx.execute("DELETE FROM sessions WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(SessionError::NotFound(id.to_string()));
        }
        tx.commit()?;
        Ok(())
    }

    /// The session as JSON Lines: a header line, then one event per line.
    pub fn export(&self, id: &str) -> Result<String, SessionError> {
        let events = self.events(id)?;
        let created: String =
            self.conn
                .query_row("SELECT created FROM sessions WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        let mut out = serde_json::to_string(&serde_json::json!({
            "type": "session", "version": 1, "id": id, "created": created,
        }))
        .expect("json");
        out.push('\n');
        for e in &events {
            out.push_str(&serde_json::to_string(e).expect("json"));
            out.push('\n');
        }
        Ok(out)
    }

    /// Import a session exported by [`Self::export`], under `as_id` or its own id.
    /// All or nothing: a bad line imports nothing. Returns the session's id.
    pub fn import(&self, jsonl: &str, as_id: Option<&str>) -> Result<String, SessionError> {
        let bad = |line: usize, message: String| SessionError::BadImport { line, message };
        let mut lines = jsonl
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines
            .next()
            .ok_or_else(|| bad(1, "the file is empty".into()))?;
        let header: serde_json::Value =
            serde_json::from_str(header).map_err(|e| bad(1, e.to_string()))?;
        if header["type"] != "session" {
            return Err(bad(
                1,
                "the first line must be the session header ({\"type\":\"session\",...}), \
                 as `chitin session export` writes it"
                    .into(),
            ));
        }
        let id = match as_id {
            Some(id) => id.to_string(),
            None => header["id"]
                .as_str()
                .ok_or_else(|| bad(1, "the header has no `id`".into()))?
                .to_string(),
        };
        check_name(&id)?;
        let created = header["created"].as_str().map(str::to_string);
        let mut events = Vec::new();
        for (i, line) in lines {
            let e: StoredEvent =
                serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
            events.push(e);
        }
        let tx = self.conn.unchecked_transaction()?;
        if self.exists(&id)? {
            return Err(SessionError::Exists(id));
        }
        match created {
            Some(c) => tx.execute(
                "INSERT INTO sessions (id, created) VALUES (?1, ?2)",
                params![id, c],
            )?,
            None => tx.execute("INSERT INTO sessions (id) VALUES (?1)", [&id])?,
        };
        for e in &events {
            let json = serde_json::to_string(&e.event).expect("json");
            tx.execute(
                "INSERT INTO session_events (session, seq, time, event) VALUES (?1, ?2, ?3, ?4)",
                params![id, e.seq, e.time, json],
            )
            .map_err(|err| match err {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    bad(0, format!("event seq {} appears twice", e.seq))
                }
                other => other.into(),
            })?;
        }
        tx.commit()?;
        Ok(id)
    }
}

/// The conversation the model is given: the latest compaction's summary in place of
/// what it covers, then every later message. A tool call left without a result (the
/// process was killed during the call) gets an error result, since providers refuse
/// unpaired calls.
pub fn context(events: &[StoredEvent]) -> Vec<Message> {
    let (start, summary) = match events.iter().rev().find_map(|e| match &e.event {
        Event::Compaction { summary, through } => Some((*through, summary.clone())),
        _ => None,
    }) {
        Some((through, summary)) => (through, Some(summary)),
        None => (0, None),
    };
    let mut messages = Vec::new();
    if let Some(summary) = summary {
        messages.push(Message::User {
            content: format!(
                "[A summary of the earlier part of this conversation, which was compacted]\n{summary}"
            ),
        });
        messages.push(Message::Assistant {
            content: "Understood; I will continue from that summary.".into(),
            tool_calls: vec![],
            reasoning: None,
        });
    }
    let mut open_calls: Vec<ToolCall> = Vec::new();
    let close_open = |open: &mut Vec<ToolCall>, messages: &mut Vec<Message>| {
        for call in open.drain(..) {
            messages.push(Message::Tool {
                call_id: call.id,
                name: call.name,
                content: "the call did not finish: chitin stopped before it returned".into(),
                is_error: true,
            });
        }
    };
    for e in events.iter().filter(|e| e.seq > start) {
        match &e.event {
            Event::User { content } => {
                close_open(&mut open_calls, &mut messages);
                messages.push(Message::User {
                    content: content.clone(),
                });
            }
            Event::Assistant {
                content,
                tool_calls,
                reasoning,
                ..
            } => {
                close_open(&mut open_calls, &mut messages);
                open_calls = tool_calls.clone();
                messages.push(Message::Assistant {
                    content: content.clone(),
                    tool_calls: tool_calls.clone(),
                    reasoning: reasoning.clone(),
                });
            }
            Event::ToolResult {
                call_id,
                name,
                content,
                is_error,
                ..
            } => {
                // Only a result of a call still open is sent: a stray one would be
                // refused by the provider.
                if let Some(pos) = open_calls.iter().position(|c| &c.id == call_id) {
                    open_calls.remove(pos);
                    messages.push(Message::Tool {
                        call_id: call_id.clone(),
                        name: name.clone(),
                        content: content.clone(),
                        is_error: *is_error,
                    });
                }
            }
            Event::Compaction { .. } | Event::Notice { .. } => {}
        }
    }
    close_open(&mut open_calls, &mut messages);
    messages
}

fn shorten(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut s: String = one_line.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// The serial lane of one session: held for a whole turn, across processes.
pub struct Lane {
    _file: File,
}

impl Lane {
    /// Take the lane of session `id`, with lock files in `dir`. With `wait`, block
    /// until the process holding it finishes its turn; else refuse at once.
    pub fn acquire(dir: &Path, id: &str, wait: bool) -> Result<Lane, SessionError> {
        check_name(id)?;
        std::fs::create_dir_all(dir).map_err(|source| SessionError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(format!("{id}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| SessionError::Io {
                path: path.clone(),
                source,
            })?;
        // An advisory lock the kernel drops when the holder exits, even by kill -9.
        if wait {
            file.lock()
                .map_err(|source| SessionError::Io { path, source })?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(SessionError::Busy(id.to_string()));
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(SessionError::Io { path, source });
                }
            }
        }
        Ok(Lane { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `chitin agent`, `chitin mcp` and installs open the same chitin.db at once: the
    /// first open of a new file (switching it to WAL, creating the tables) must make the
    /// others wait, not fail with "database is locked".
    #[test]
    fn concurrent_first_opens_of_one_database_all_succeed() {
        use crate::approval::{ApprovalConfig, Approvals};
        for round in 0..60 {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("chitin.db");
            let start = std::sync::Arc::new(std::sync::Barrier::new(8));
            let openers: Vec<_> = (0..8)
                .map(|i| {
                    let (db, start) = (db.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        if i % 2 == 0 {
                            SessionStore::open(&db).map(drop).map_err(|e| e.to_string())
                        } else {
                            Approvals::open(&db, ApprovalConfig::default(), vec![], "s")
                                .map(drop)
                                .map_err(|e| e.to_string())
                        }
                    })
                })
                .collect();
            for opener in openers {
                let opened = opener.join().unwrap();
                assert!(opened.is_ok(), "round {round}: {opened:?}");
            }
        }
    }

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "s__t".into(),
            arguments: "{}".into(),
        }
    }

    #[test]
    fn events_append_in_order_and_export_round_trips() {
        let store = SessionStore::in_memory().unwrap();
        store.ensure("work").unwrap();
        let events = [
            Event::User {
                content: "find TODOs".into(),
            },
            Event::Assistant {
                content: String::new(),
                tool_calls: vec![call("c1")],
                reasoning: Some("thinking".into()),
                model: "p/m".into(),
            },
            Event::ToolResult {
                call_id: "c1".into(),
                name: "s__t".into(),
                content: "{\"n\":1}".into(),
                is_error: false,
                elapsed_ms: 1.5,
            },
        ];
        for (i, e) in events.iter().enumerate() {
            assert_eq!(store.append("work", e).unwrap(), i as i64 + 1);
        }
        let exported = store.export("work").unwrap();
        let copy = store.import(&exported, Some("copy")).unwrap();
        assert_eq!(copy, "copy");
        let a = store.events("work").unwrap();
        let b = store.events("copy").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            store
                .export("copy")
                .unwrap()
                .lines()
                .skip(1)
                .collect::<Vec<_>>(),
            exported.lines().skip(1).collect::<Vec<_>>()
        );
        // Importing over an existing session is refused and changes nothing.
        assert!(matches!(
            store.import(&exported, None),
            Err(SessionError::Exists(_))
        ));
        assert_eq!(store.events("work").unwrap(), a);
    }

    #[test]
    fn a_bad_import_imports_nothing() {
        let store = SessionStore::in_memory().unwrap();
        let cases = [
            ("", "empty"),
            ("{\"type\":\"user\",\"content\":\"x\"}\n", "header"),
            (
                "{\"type\":\"session\",\"id\":\"x\"}\n{\"seq\":1,\"time\":\"t\",\"type\":\"nope\"}\n",
                "unknown variant",
            ),
            (
                "{\"type\":\"session\",\"id\":\"../etc\"}\n",
                "invalid session name",
            ),
            (
                "{\"type\":\"session\",\"id\":\"x\"}\n{\"seq\":1,\"time\":\"t\",\"type\":\"user\",\"content\":\"a\"}\n{\"seq\":1,\"time\":\"t\",\"type\":\"user\",\"content\":\"b\"}\n",
                "appears twice",
            ),
        ];
        for (text, expected) in cases {
            let err = store.import(text, None).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should say {expected}");
        }
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn context_replaces_compacted_events_and_closes_unfinished_calls() {
        let stored = |seq, event| StoredEvent {
            seq,
            time: String::new(),
            event,
        };
        let events = vec![
            stored(
                1,
                Event::User {
                    content: "old".into(),
                },
            ),
            stored(
                2,
                Event::Assistant {
                    content: "old answer".into(),
                    tool_calls: vec![],
                    reasoning: None,
                    model: String::new(),
                },
            ),
            stored(
                3,
                Event::Compaction {
                    summary: "they talked".into(),
                    through: 2,
                },
            ),
            stored(
                4,
                Event::User {
                    content: "new".into(),
                },
            ),
            stored(
                5,
                Event::Assistant {
                    content: String::new(),
                    tool_calls: vec![call("a"), call("b")],
                    reasoning: None,
                    model: String::new(),
                },
            ),
            stored(
                6,
                Event::ToolResult {
                    call_id: "a".into(),
                    name: "s__t".into(),
                    content: "ok".into(),
                    is_error: false,
                    elapsed_ms: 0.0,
                },
            ),
            // Killed here: `b` never finished.
        ];
        let messages = context(&events);
        assert!(
            matches!(&messages[0], Message::User { content } if content.contains("they talked"))
        );
        assert!(
            !messages
                .iter()
                .any(|m| matches!(m, Message::User { content } if content == "old"))
        );
        let results: Vec<_> = messages
            .iter()
            .filter_map(|m| match m {
                Message::Tool {
                    call_id, is_error, ..
                } => Some((call_id.as_str(), *is_error)),
                _ => None,
            })
            .collect();
        assert_eq!(results, [("a", false), ("b", true)]);
    }

    #[test]
    fn live_events_start_at_the_latest_compaction() {
        let store = SessionStore::in_memory().unwrap();
        store.ensure("s").unwrap();
        let user = |c: &str| Event::User { content: c.into() };
        store.append("s", &user("a")).unwrap();
        store.append("s", &user("b")).unwrap();
        store
            .append(
                "s",
                &Event::Compaction {
                    summary: "a, b".into(),
                    through: 2,
                },
            )
            .unwrap();
        store.append("s", &user("c")).unwrap();
        let live: Vec<i64> = store
            .live_events("s")
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(live, [3, 4]);
        assert_eq!(
            context(&store.live_events("s").unwrap()),
            context(&store.events("s").unwrap())
        );
        assert_eq!(store.events("s").unwrap().len(), 4);
    }

    #[test]
    fn session_names_are_checked() {
        for ok in ["work", "2026-12-01", "a.b_c-d"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "-x", "../x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_lane_is_held_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lane::acquire(dir.path(), "s", false).unwrap();
        assert!(matches!(
            Lane::acquire(dir.path(), "s", false),
            Err(SessionError::Busy(_))
        ));
        // Another session is its own lane.
        Lane::acquire(dir.path(), "t", false).unwrap();
        drop(first);
        Lane::acquire(dir.path(), "s", false).unwrap();
    }
}
