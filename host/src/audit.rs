//! The audit log: every denial and every stopped call, in SQLite.

use std::path::Path;

use rusqlite::{Connection, params};
use serde::Serialize;

use chitin_registry::Capability;

use crate::HostError;

/// A capability use the host refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub capability: DenialKind,
    pub detail: String,
}

/// What a denial is about: a declared capability, a limit, or the skill's own word.
/// Stored in the audit log's `capability` column as `fs`, `http`, `exec`, `env`,
/// `secrets`, `limits` or `reported`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DenialKind {
    Capability(Capability),
    /// A `[limits]` bound (the disk budget, a program's output).
    Limits,
    /// The skill said it was refused, before reaching the host.
    Reported,
}

impl DenialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DenialKind::Capability(c) => c.as_str(),
            DenialKind::Limits => "limits",
            DenialKind::Reported => "reported",
        }
    }
}

impl From<Capability> for DenialKind {
    fn from(c: Capability) -> Self {
        DenialKind::Capability(c)
    }
}

impl std::fmt::Display for DenialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for DenialKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Denials kept per call, and the longest detail kept of each: a skill that loops on a
/// refused operation must not fill the host's memory or the audit log.
pub const MAX_DENIALS: usize = 100;
pub const MAX_DETAIL: usize = 1024;

/// The denials of one call, bounded: the first [`MAX_DENIALS`] are kept, each detail cut
/// to [`MAX_DETAIL`] bytes; the rest are counted per capability and become one summary
/// row each ("… and 34000 more fs denials like these").
#[derive(Debug, Default)]
pub struct Denials {
    kept: Vec<Denial>,
    dropped: std::collections::BTreeMap<DenialKind, u64>,
}

impl Denials {
    pub fn push(&mut self, mut denial: Denial) {
        if self.kept.len() >= MAX_DENIALS {
            *self.dropped.entry(denial.capability).or_default() += 1;
            return;
        }
        if denial.detail.len() > MAX_DETAIL {
            denial.detail =
                chitin_registry::untrusted::bounded(&denial.detail, MAX_DETAIL).into_owned();
        }
        self.kept.push(denial);
    }

    /// Take `other`'s denials after these.
    pub fn append(&mut self, other: Denials) {
        for d in other.kept {
            self.push(d);
        }
        for (capability, n) in other.dropped {
            *self.dropped.entry(capability).or_default() += n;
        }
    }

    /// The kept denials, then one summary per capability that had more.
    pub fn into_vec(self) -> Vec<Denial> {
        let mut all = self.kept;
        for (capability, n) in self.dropped {
            all.push(Denial {
                capability,
                detail: format!(
                    "… and {n} more {capability} denials in this call, not recorded one by one"
                ),
            });
        }
        all
    }
}

/// One row of the audit table.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// UTC, RFC 3339.
    pub time: String,
    pub skill: String,
    pub tool: String,
    /// Who ran the call: empty for `chitin run`, `agent`, `mcp:<client>`.
    pub caller: String,
    pub capability: String,
    /// `denied` or `stopped` (a trap: timeout, memory, output limit, crash); for
    /// decisions of the agent or an MCP client: `refused`, `approved`, `cancelled`.
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
    detail     TEXT NOT NULL,
    caller     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_skill ON audit (skill, id);";

/// Databases from before the `caller` column get it (empty for their rows).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_caller: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('audit') WHERE name = 'caller'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_caller {
        conn.execute_batch("ALTER TABLE audit ADD COLUMN caller TEXT NOT NULL DEFAULT ''")?;
    }
    Ok(())
}

/// The audit table in the chitin database.
pub struct AuditLog {
    conn: Connection,
}

impl AuditLog {
    /// Open (and create if needed) the audit table in the database at `path`.
    pub fn open(path: &Path) -> Result<Self, HostError> {
        let conn =
            chitin_registry::store::open_db(path, &format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))
                .map_err(HostError::Audit)?;
        migrate(&conn).map_err(HostError::Audit)?;
        Ok(Self { conn })
    }

    /// An audit log that lives only in memory (tests, `--no-audit` runs).
    pub fn in_memory() -> Result<Self, HostError> {
        let conn = Connection::open_in_memory().map_err(HostError::Audit)?;
        conn.execute_batch(SCHEMA).map_err(HostError::Audit)?;
        Ok(Self { conn })
    }

    /// Record the denials and the stop (if any) of one call, in one transaction.
    pub fn record(
        &mut self,
        skill: &str,
        caller: &str,
        tool: &str,
        denials: &[Denial],
        stopped: Option<(&str, &str)>,
    ) -> Result<(), HostError> {
        if denials.is_empty() && stopped.is_none() {
            return Ok(());
        }
        let err = HostError::Audit;
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit (skill, tool, capability, outcome, detail, caller)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(err)?;
            for d in denials {
                insert
                    .execute(params![
                        skill,
                        tool,
                        d.capability.as_str(),
                        "denied",
                        d.detail,
                        caller
                    ])
                    .map_err(err)?;
            }
            if let Some((capability, detail)) = stopped {
                insert
                    .execute(params![skill, tool, capability, "stopped", detail, caller])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Record one decision taken outside a call (the agent refused an unknown tool, the
    /// user approved or refused a call).
    pub fn note(
        &self,
        skill: &str,
        caller: &str,
        tool: &str,
        capability: &str,
        outcome: &str,
        detail: &str,
    ) -> Result<(), HostError> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit (skill, tool, capability, outcome, detail, caller)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| s.execute(params![skill, tool, capability, outcome, detail, caller]))
            .map(|_| ())
            .map_err(HostError::Audit)
    }

    /// The newest entries first, optionally for one skill.
    pub fn entries(&self, skill: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>, HostError> {
        let err = HostError::Audit;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, time, skill, tool, capability, outcome, detail, caller FROM audit
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
                    caller: r.get(7)?,
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
            capability: Capability::Http.into(),
            detail: "evil.example".into(),
        };
        log.record("s", "", "t", std::slice::from_ref(&d), None)
            .unwrap();
        log.record("s", "", "t", &[], Some(("limits", "timeout")))
            .unwrap();
        log.record("other", "", "t", &[], None).unwrap();
        let all = log.entries(None, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].outcome, "stopped");
        assert_eq!(all[1].detail, "evil.example");
        assert_eq!(log.entries(Some("other"), 10).unwrap().len(), 0);
    }

    #[test]
    fn denials_of_a_call_are_bounded_in_count_and_size() {
        let mut denials = Denials::default();
        for i in 0..(MAX_DENIALS + 5000) {
            let capability = if i % 2 == 0 {
                Capability::Fs
            } else {
                Capability::Http
            };
            denials.push(Denial {
                capability: capability.into(),
                detail: "é".repeat(MAX_DETAIL),
            });
        }
        let all = denials.into_vec();
        // The kept ones and one summary per capability.
        assert_eq!(all.len(), MAX_DENIALS + 2);
        assert!(
            all[..MAX_DENIALS]
                .iter()
                .all(|d| d.detail.len() < MAX_DETAIL + 32)
        );
        assert_eq!(
            all[MAX_DENIALS].detail,
            "… and 2500 more fs denials in this call, not recorded one by one"
        );
        assert!(all[MAX_DENIALS + 1].detail.contains("2500 more http"));
    }
}
