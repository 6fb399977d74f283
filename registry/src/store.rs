//! The local store: content-addressed blobs and the SQLite index of installed skills.
//!
//! Crash safety: a blob is written to `tmp/`, fsynced and renamed into
//! `blobs/sha256/<hex>` (readers see all of it or nothing); the index changes in one
//! SQLite transaction per install, update or removal; the lock file is rewritten
//! atomically after. A process killed at any point leaves the previous state usable:
//! at worst an unreferenced blob (removed by `gc`) or a stale temp file (removed at the
//! next open).

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Capabilities, Manifest, RegistryError};

/// One installed skill, as recorded in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledSkill {
    pub name: String,
    /// What the user asked for, e.g. `ghcr.io/acme/gh:^1.2` (used by `update`).
    pub reference: String,
    /// `registry/repository`, or `oci-layout:<dir>`.
    pub repository: String,
    pub tag: Option<String>,
    pub version: String,
    /// The OCI manifest digest it was pinned to.
    pub manifest_digest: String,
    /// The component's digest: the blob's name in the store.
    pub wasm_digest: String,
    /// The declared manifest (TOML).
    pub manifest: String,
    /// What the user granted (the declaration, possibly narrowed).
    pub grants: Capabilities,
    /// The tools `describe()` returned at install (JSON array).
    pub tools: serde_json::Value,
    /// Installed without a trusted signature, by the user's explicit choice
    /// (`--allow-unsigned`).
    pub unsigned: bool,
    /// The signature the trust policy accepted at install, checked again at every load.
    pub signature: Option<crate::trust::Verified>,
    pub installed_at: String,
}

impl InstalledSkill {
    pub fn parsed_manifest(&self) -> Result<Manifest, RegistryError> {
        Ok(crate::manifest::parse(&self.manifest)?)
    }
}

/// `$CHITIN_HOME/store`: blobs and the index.
pub struct Store {
    root: PathBuf,
    conn: Connection,
    /// Temp files of interrupted downloads removed when the store was opened.
    cleaned_tmp: usize,
}

impl Store {
    /// Open (creating if needed) the store under `root` with its index in `db`.
    pub fn open(root: &Path, db: &Path) -> Result<Self, RegistryError> {
        let io = |p: &Path, e| RegistryError::Io(p.to_path_buf(), e);
        for dir in [root.join("blobs/sha256"), root.join("tmp")] {
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        }
        let conn = open_db(
            db,
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS skills (
                 name            TEXT PRIMARY KEY,
                 reference       TEXT NOT NULL,
                 repository      TEXT NOT NULL,
                 tag             TEXT,
                 version         TEXT NOT NULL,
                 manifest_digest TEXT NOT NULL,
                 wasm_digest     TEXT NOT NULL,
                 manifest        TEXT NOT NULL,
                 grants          TEXT NOT NULL,
                 tools           TEXT NOT NULL,
                 unsigned        INTEGER NOT NULL DEFAULT 0,
                 installed_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
                 signature       TEXT
             );
             COMMIT;",
        )
        .map_err(index_err)?;
        add_signature_column(&conn).map_err(index_err)?;
        let mut store = Self {
            root: root.to_path_buf(),
            conn,
            cleaned_tmp: 0,
        };
        store.cleaned_tmp = clean_tmp(&store.tmp_dir());
        Ok(store)
    }

    /// Where downloads are written before they are checked and renamed into the store.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// How many temp files of interrupted downloads opening the store removed.
    pub fn cleaned_tmp(&self) -> usize {
        self.cleaned_tmp
    }

    /// A fresh temp file path inside the store (same filesystem as the blobs), named
    /// `blob-<pid>-…` so that a later run knows whether its writer is still alive.
    pub fn temp_file(&self) -> Result<tempfile::TempPath, RegistryError> {
        let dir = self.tmp_dir();
        tempfile::Builder::new()
            .prefix(&format!("blob-{}-", std::process::id()))
            .tempfile_in(&dir)
            .map(|f| f.into_temp_path())
            .map_err(|e| RegistryError::Io(dir, e))
    }

    /// Where a blob lives.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, RegistryError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| RegistryError::NotASkill(format!("bad digest `{digest}`")))?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// Move a verified temp file into the store under its digest.
    pub fn commit_blob(
        &self,
        tmp: tempfile::TempPath,
        digest: &str,
    ) -> Result<PathBuf, RegistryError> {
        let dest = self.blob_path(digest)?;
        tmp.persist(&dest)
            .map_err(|e| RegistryError::Io(dest.clone(), e.error))?;
        sync_dir(dest.parent().expect("blob dir"));
        Ok(dest)
    }

    /// Store bytes as a blob (temp file, fsync, rename).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, RegistryError> {
        let digest = crate::artifact::sha256_digest(bytes);
        let tmp = self.temp_file()?;
        let mut f =
            std::fs::File::create(&tmp).map_err(|e| RegistryError::Io(tmp.to_path_buf(), e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| RegistryError::Io(tmp.to_path_buf(), e))?;
        self.commit_blob(tmp, &digest)?;
        Ok(digest)
    }

    /// Read a blob and check it still hashes to its name: a blob changed on disk is
    /// refused, not run.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest)?;
        let bytes = std::fs::read(&path).map_err(|e| RegistryError::Io(path.clone(), e))?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("stored blob {}", path.display()),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Record an installed skill (insert or replace) in one transaction, and, before it
    /// commits, hand the resulting list to `then` (which writes the lock file). The
    /// transaction takes the write lock at once (`BEGIN IMMEDIATE`), so two installs
    /// at once are serialized and the lock file always lists both.
    pub fn record(
        &mut self,
        skill: &InstalledSkill,
        then: impl FnOnce(&[InstalledSkill]) -> Result<(), RegistryError>,
    ) -> Result<(), RegistryError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(index_err)?;
        tx.execute(
            "INSERT OR REPLACE INTO skills (name, reference, repository, tag, version,
                 manifest_digest, wasm_digest, manifest, grants, tools, unsigned, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                skill.name,
                skill.reference,
                skill.repository,
                skill.tag,
                skill.version,
                skill.manifest_digest,
                skill.wasm_digest,
                skill.manifest,
                serde_json::to_string(&skill.grants).expect("grants serialize"),
                skill.tools.to_string(),
                skill.unsigned,
                skill
                    .signature
                    .as_ref()
                    .map(|v| serde_json::to_string(v).expect("signature serializes")),
            ],
        )
        .map_err(index_err)?;
        then(&list_in(&tx)?)?;
        tx.commit().map_err(index_err)
    }

    /// Remove a skill from the index, handing the remaining list to `then` before the
    /// transaction commits (as [`Store::record`]). Returns whether it was there.
    pub fn remove(
        &mut self,
        name: &str,
        then: impl FnOnce(&[InstalledSkill]) -> Result<(), RegistryError>,
    ) -> Result<bool, RegistryError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(index_err)?;
        let n = tx
            .execute("DELETE FROM skills WHERE name = ?1", [name])
            .map_err(index_err)?;
        if n > 0 {
            then(&list_in(&tx)?)?;
        }
        tx.commit().map_err(index_err)?;
        Ok(n > 0)
    }

    pub fn get(&self, name: &str) -> Result<Option<InstalledSkill>, RegistryError> {
        self.conn
            .query_row(&format!("{SELECT} WHERE name = ?1"), [name], row_to_skill)
            .optional()
            .map_err(index_err)
    }

    pub fn list(&self) -> Result<Vec<InstalledSkill>, RegistryError> {
        list_in(&self.conn)
    }

    /// Delete blobs no installed skill refers to. Returns (files, bytes) removed.
    pub fn gc(&self, keep_extra: &[String]) -> Result<(usize, u64), RegistryError> {
        let mut keep: Vec<String> = self
            .list()?
            .into_iter()
            .map(|s| s.wasm_digest.trim_start_matches("sha256:").to_string())
            .collect();
        keep.extend(
            keep_extra
                .iter()
                .map(|d| d.trim_start_matches("sha256:").to_string()),
        );
        let dir = self.root.join("blobs/sha256");
        let mut removed = (0, 0);
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| RegistryError::Io(dir.clone(), e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            if !keep.contains(&name) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if std::fs::remove_file(entry.path()).is_ok() {
                    removed.0 += 1;
                    removed.1 += size;
                }
            }
        }
        Ok(removed)
    }
}

/// Remove the temp files in `tmp` left by an interrupted process: those of a process
/// that is no longer running, and any older than a minute (a concurrent install's
/// fresh file is left alone). Returns how many were removed.
pub fn clean_tmp(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let writer_gone = temp_file_pid(&name).is_some_and(|pid| !process_alive(pid));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 60);
        if (writer_gone || old) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Remove this process's own temp files in `tmp` (on an interrupt, when their
/// owners will not be dropped). Returns how many were removed.
pub fn remove_own_temp_files(tmp: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let me = std::process::id();
    entries
        .flatten()
        .filter(|e| temp_file_pid(&e.file_name().to_string_lossy()) == Some(me))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// The process id in a temp file's name `blob-<pid>-…`.
fn temp_file_pid(name: &str) -> Option<u32> {
    name.strip_prefix("blob-")?.split('-').next()?.parse().ok()
}

/// Whether a process with this id runs (on Linux; elsewhere, assume it does and let
/// the age decide).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Open the chitin database, safe against other processes opening it at the same time:
/// a busy timeout, WAL (switched to with retries: SQLite does not wait on its busy
/// handler for that), then `schema`, which should take the write lock up front with
/// `BEGIN IMMEDIATE` so concurrent openers wait instead of failing.
pub fn open_db(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mode = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
        match mode {
            Ok(_) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
    conn.execute_batch("PRAGMA synchronous = FULL;")?;
    conn.execute_batch(schema)?;
    Ok(conn)
}

fn list_in(conn: &Connection) -> Result<Vec<InstalledSkill>, RegistryError> {
    let mut stmt = conn
        .prepare(&format!("{SELECT} ORDER BY name"))
        .map_err(index_err)?;
    let rows = stmt.query_map([], row_to_skill).map_err(index_err)?;
    rows.collect::<Result<_, _>>().map_err(index_err)
}

const SELECT: &str = "SELECT name, reference, repository, tag, version, manifest_digest,
    wasm_digest, manifest, grants, tools, unsigned, installed_at, signature FROM skills";

fn row_to_skill(r: &rusqlite::Row<'_>) -> rusqlite::Result<InstalledSkill> {
    let grants: String = r.get(8)?;
    let tools: String = r.get(9)?;
    let bad = |i, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(InstalledSkill {
        name: r.get(0)?,
        reference: r.get(1)?,
        repository: r.get(2)?,
        tag: r.get(3)?,
        version: r.get(4)?,
        manifest_digest: r.get(5)?,
        wasm_digest: r.get(6)?,
        manifest: r.get(7)?,
        grants: serde_json::from_str(&grants).map_err(|e| bad(8, e))?,
        tools: serde_json::from_str(&tools).map_err(|e| bad(9, e))?,
        unsigned: r.get(10)?,
        installed_at: r.get(11)?,
        signature: r
            .get::<_, Option<String>>(12)?
            .map(|s| serde_json::from_str(&s).map_err(|e| bad(12, e)))
            .transpose()?,
    })
}

/// Indexes written before signatures were recorded lack the column; add it (their
/// skills then load as unsigned-by-choice only if they were marked so).
fn add_signature_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('skills') WHERE name = 'signature'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if has {
        return Ok(());
    }
    match conn.execute_batch("ALTER TABLE skills ADD COLUMN signature TEXT") {
        // Another process added it meanwhile.
        Err(e) if e.to_string().contains("duplicate column") => Ok(()),
        other => other,
    }
}

fn index_err(e: rusqlite::Error) -> RegistryError {
    RegistryError::Index(e)
}

/// fsync a directory so a rename in it survives a crash.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, digest: &str) -> InstalledSkill {
        InstalledSkill {
            name: name.into(),
            reference: format!("localhost:5000/x/{name}:1.0.0"),
            repository: format!("localhost:5000/x/{name}"),
            tag: Some("1.0.0".into()),
            version: "1.0.0".into(),
            manifest_digest: format!("sha256:{}", "1".repeat(64)),
            wasm_digest: digest.into(),
            manifest: format!("[skill]\nname = \"{name}\"\nversion = \"1.0.0\"\n"),
            grants: Capabilities::default(),
            tools: serde_json::json!([]),
            unsigned: false,
            signature: None,
            installed_at: String::new(),
        }
    }

    #[test]
    fn blobs_records_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("store"), &dir.path().join("db")).unwrap();
        let kept = store.put_blob(b"kept").unwrap();
        let dropped = store.put_blob(b"dropped").unwrap();
        store.record(&sample("a", &kept), |_| Ok(())).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().wasm_digest, kept);
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(store.gc(&[]).unwrap().0, 1);
        assert!(store.read_blob(&dropped).is_err());
        assert_eq!(store.read_blob(&kept).unwrap(), b"kept");
        // Tampering on disk is detected at read.
        std::fs::write(store.blob_path(&kept).unwrap(), b"evil").unwrap();
        assert!(matches!(
            store.read_blob(&kept),
            Err(RegistryError::DigestMismatch { .. })
        ));
        assert!(
            store
                .remove("a", |left| {
                    assert!(left.is_empty());
                    Ok(())
                })
                .unwrap()
        );
        assert!(!store.remove("a", |_| Ok(())).unwrap());
    }
}
