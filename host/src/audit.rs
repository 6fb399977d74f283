//! The audit log: every denial and every stopped call, in SQLite.

use std::path::Path;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::HostError;

/// A capability use the host refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// `fs`, `http`, `exec`, `env`, `secret`, `limits`...
    pub capability: &'static str,
    pub detail: String,
}

/// One row of the audit table.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// UTC, RFC 3339.
    pub time: String,
    pub skill: String,
    pub tool: String,
    pub capability: String,
    /// `denied` or `stopped` (a trap: timeout, memory, output limit, crash).
    pub outcome: String,
    pub detail: String,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY,
    time       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    skill      TEXT NOT NULL,
    tool       TEXT NOT NULL,
    capability TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_skill ON audit (skill, id);";

/// The audit table in the chitin database.
pub struct AuditLog {
    conn: Connection,
}

impl AuditLog {
    /// Open (and create if needed) the audit table in the database at `path`.
    pub fn open(path: &Path) -> Result<Self, HostError> {
        let conn =
            chitin_registry::store::open_db(path, &format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
                .map_err(|e| HostError::Audit(e.to_string()))?;
        Ok(Self { conn })
    }

    /// An audit log that lives only in memory (tests, `--no-audit` runs).
    pub fn in_memory() -> Result<Self, HostError> {
        let conn = Connection::open_in_memory().map_err(|e| HostError::Audit(e.to_string()))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| HostError::Audit(e.to_string()))?;
        Ok(Self { conn })
    }

    /// Record the denials and the stop (if any) of one call, in one transaction.
    pub fn record(
        &mut self,
        skill: &str,
        tool: &str,
        denials: &[Denial],
        stopped: Option<(&str, &str)>,
    ) -> Result<(), HostError> {
        if denials.is_empty() && stopped.is_none() {
            return Ok(());
        }
        let err = |e: rusqlite::Error| HostError::Audit(e.to_string());
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit (skill, tool, capability, outcome, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for d in denials {
                insert
                    .execute(params![skill, tool, d.capability, "denied", d.detail])
                    .map_err(err)?;
            }
            if let Some((capability, detail)) = stopped {
                insert
                    .execute(params![skill, tool, capability, "stopped", detail])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// The newest entries first, optionally for one skill.
    pub fn entries(&self, skill: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>, HostError> {
        let err = |e: rusqlite::Error| HostError::Audit(e.to_string());
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, time, skill, tool, capability, outcome, detail FROM audit
                 WHERE ?1 IS NULL OR skill = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![skill, limit as i64], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    skill: r.get(2)?,
                    tool: r.get(3)?,
                    capability: r.get(4)?,
                    outcome: r.get(5)?,
                    detail: r.get(6)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_lists_newest_first() {
        let mut log = AuditLog::in_memory().unwrap();
        let d = Denial {
            capability: "http",
            detail: "evil.example".into(),
        };
        log.record("s", "t", std::slice::from_ref(&d), None)
            .unwrap();
        log.record("s", "t", &[], Some(("limits", "timeout")))
            .unwrap();
        log.record("other", "t", &[], None).unwrap();
        let all = log.entries(None, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].outcome, "stopped");
        assert_eq!(all[1].detail, "evil.example");
        assert_eq!(log.entries(Some("other"), 10).unwrap().len(), 0);
    }
}
