//! The history store: one SQLite file (rusqlite, SQLite compiled in) indexing every recorded
//! run — the machine it ran on, its software stack and every figure — beside the results files,
//! which stay the record. Versioned by `PRAGMA user_version`, migrated forward one step at a
//! time inside a write transaction, so concurrent first openers agree.

use crate::error::input_error;
use crate::node::env::Env;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `hpcr`: marks a SQLite file as an hpcready history.
const APPLICATION_ID: i64 = 0x6870_6372;

/// The schema this build writes; version N is reached by applying `MIGRATIONS[..N]`.
pub const SCHEMA: u32 = MIGRATIONS.len() as u32;

/// Each step from version i to i+1. Never edit a released step: add one.
pub const MIGRATIONS: [&str; 2] = [
    // 1: runs and their figures.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        started_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        host TEXT NOT NULL,
        cpu TEXT NOT NULL,
        gpus TEXT NOT NULL,
        stack TEXT NOT NULL,
        tool_version TEXT NOT NULL,
        command_line TEXT NOT NULL,
        results_path TEXT NOT NULL,
        complete INTEGER NOT NULL,
        measurements INTEGER NOT NULL,
        invalid INTEGER NOT NULL
    );
    CREATE INDEX runs_host_time ON runs(host, started_at);
    CREATE INDEX runs_time ON runs(started_at);
    CREATE TABLE figures (
        run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        bench TEXT NOT NULL,
        dtype TEXT NOT NULL,
        method TEXT NOT NULL,
        variant TEXT NOT NULL,
        shape TEXT NOT NULL,
        device TEXT NOT NULL,
        per TEXT NOT NULL,
        unit TEXT NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX figures_case ON figures(bench, dtype, run);
    CREATE INDEX figures_run ON figures(run);",
    // 2: bundles imported with `import-bundle`, and the bundle a run came from.
    "CREATE TABLE bundles (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        tool_version TEXT NOT NULL
    );
    ALTER TABLE runs ADD COLUMN bundle INTEGER REFERENCES bundles(id);",
];

/// File systems whose locking SQLite cannot rely on (SQLite's own warning: "How To Corrupt An
/// SQLite Database File", §2.1): a store there is refused.
const NETWORK_FS: [&str; 16] = [
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "lustre",
    "gpfs",
    "beegfs",
    "wekafs",
    "cephfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "panfs",
    "afs",
];

/// One figure of a run, as the history keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figure {
    /// `matmul`, `attention`, `allreduce`, `train`, `io` …
    pub bench: String,
    /// `f32`, `bf16` … (`bytes` for I/O).
    pub dtype: String,
    /// The method (`torch/matmul`, `cpu/faer`, `io/checkpoint-write`).
    pub method: String,
    /// The variant that ran.
    pub variant: String,
    /// The shape, as results display it.
    pub shape: String,
    /// The device.
    pub device: String,
    /// `GPU`, `CPU`, `collective`, `node` (I/O: all ranks).
    pub per: String,
    /// `TFLOP/s`, `GB/s`, `tokens/s`, `ops/s`.
    pub unit: String,
    /// The figure (higher is better for every figure kept).
    pub value: f64,
}

impl Figure {
    /// What makes two runs' figures the same measurement.
    pub fn case(&self) -> (String, String, String, String, String, String) {
        (
            self.bench.clone(),
            self.dtype.clone(),
            self.method.clone(),
            self.variant.clone(),
            self.shape.clone(),
            self.device.clone(),
        )
    }
}

/// What a run was: what a run to record and a recorded run both say of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunInfo {
    /// `run`, `assess`, `smoke`, `import`.
    pub kind: String,
    /// When it started (RFC 3339 UTC: sorts as text).
    pub started_at: String,
    /// The host.
    pub host: String,
    /// The CPU model.
    pub cpu: String,
    /// `8× NVIDIA H200`, or `none`.
    pub gpus: String,
    /// The software stack: component → version.
    pub stack: BTreeMap<String, String>,
    /// hpcready's version.
    pub tool_version: String,
    /// The command line.
    pub command_line: Vec<String>,
    /// The results file (absolute).
    pub results_path: String,
    /// Whether the run completed.
    pub complete: bool,
    /// Invalid measurements.
    pub invalid: usize,
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// SHA-256 of the results file: the same file recorded twice is one run.
    pub uid: String,
    /// What it was.
    pub info: RunInfo,
    /// Measurements in the run.
    pub measurements: usize,
    /// Its figures.
    pub figures: Vec<Figure>,
    /// The bundle it was imported from.
    pub bundle: Option<i64>,
}

/// A recorded run, as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    /// Its id in this store.
    pub id: i64,
    /// What it was.
    #[serde(flatten)]
    pub info: RunInfo,
    /// Figures recorded.
    pub figures: usize,
}

/// Which runs.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of the host name.
    pub machine: Option<String>,
    /// Runs with a figure of this benchmark.
    pub bench: Option<String>,
    /// Started at or after (RFC 3339 or a date, `2026-11-01`).
    pub since: Option<String>,
    /// Only the newest N (after the other filters).
    pub last: Option<usize>,
}

/// One point of a trend: a run's best figure of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    /// The run.
    pub run: i64,
    /// When it started.
    pub started_at: String,
    /// The host.
    pub host: String,
    /// Its stack.
    pub stack: BTreeMap<String, String>,
    /// The figure.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The method that gave it.
    pub method: String,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Why a SQLite error happened, in the store's words.
fn sql(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    let damaged = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    );
    if damaged {
        input_error(
            format!("history {}", path.display()),
            format!(
                "the file is damaged or not a SQLite database ({e}); move it aside (the next \
                 run, assess, smoke or import starts a new history there) or name another with \
                 --history"
            ),
        )
    } else {
        anyhow::anyhow!("history {}: {e}", path.display())
    }
}

impl Store {
    /// Opens (creating it and its directory when absent) the store at `path` for recording.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| {
            input_error(
                format!("history {}", path.display()),
                format!("its directory cannot be created: {e}"),
            )
        })?;
        refuse_network_fs(&Env::real(), path)?;
        Self::connect(path, true)
    }

    /// Opens an existing store to read; a missing one is an input error.
    pub fn open_existing(path: &Path) -> anyhow::Result<Self> {
        if !path.is_file() {
            return Err(input_error(
                format!("history {}", path.display()),
                "there is no history there yet: `run`, `assess`, `smoke` and `import` record \
                 into it (unless --no-history); name another with --history or HPCREADY_HISTORY",
            ));
        }
        refuse_network_fs(&Env::real(), path)?;
        Self::connect(path, false)
    }

    fn connect(path: &Path, create: bool) -> anyhow::Result<Self> {
        use rusqlite::OpenFlags;
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql(path, e))?;
        // Every rank of a job may record at once: wait for the lock rather than fail.
        conn.busy_timeout(Duration::from_secs(60))
            .map_err(|e| sql(path, e))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| sql(path, e))?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the file.
    pub fn version(&self) -> anyhow::Result<u32> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))
            .map_err(|e| sql(&self.path, e))
    }

    /// Brings the file to [`SCHEMA`]; refuses a newer one and a SQLite file that is not ours.
    fn migrate(&mut self) -> anyhow::Result<()> {
        let path = self.path.clone();
        let e = |e| sql(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let version: u32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(e)?;
        let app: i64 = tx
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(e)?;
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(e)?;
        if app != APPLICATION_ID && (tables > 0 || version > 0) {
            return Err(input_error(
                format!("history {}", path.display()),
                "it is a SQLite database, but not an hpcready history; name another with --history",
            ));
        }
        if version > SCHEMA {
            return Err(input_error(
                format!("history {}", path.display()),
                format!(
                    "it was written by a newer hpcready (history schema {version}; this one \
                     reads up to {SCHEMA}); use that version, or name another with --history"
                ),
            ));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(step).map_err(e)?;
            tx.pragma_update(None, "user_version", i as u32 + 1)
                .map_err(e)?;
        }
        if app != APPLICATION_ID {
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// Records a run and its figures in one transaction. Returns its id and whether it is new
    /// (a results file recorded before keeps its first id).
    pub fn insert(&mut self, run: &NewRun) -> anyhow::Result<(i64, bool)> {
        let path = self.path.clone();
        let e = |e| sql(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e)?;
        let existing: Option<i64> = tx
            .query_row("SELECT id FROM runs WHERE uid = ?1", [&run.uid], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e)?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
        let i = &run.info;
        tx.execute(
            "INSERT INTO runs (uid, kind, started_at, recorded_at, host, cpu, gpus, stack,
                tool_version, command_line, results_path, complete, measurements, invalid, bundle)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                run.uid,
                i.kind,
                i.started_at,
                crate::timefmt::rfc3339(crate::timefmt::now_unix()),
                i.host,
                i.cpu,
                i.gpus,
                serde_json::to_string(&i.stack)?,
                i.tool_version,
                serde_json::to_string(&i.command_line)?,
                i.results_path,
                i.complete,
                run.measurements as i64,
                i.invalid as i64,
                run.bundle,
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO figures (run, bench, dtype, method, variant, shape, device, per,
                        unit, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(e)?;
            for f in &run.figures {
                ins.execute(params![
                    id, f.bench, f.dtype, f.method, f.variant, f.shape, f.device, f.per, f.unit,
                    f.value
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok((id, true))
    }

    /// Records a bundle's import; its id (the same bundle imported twice keeps its first id).
    pub fn insert_bundle(&mut self, sha256: &str, path: &str, tool: &str) -> anyhow::Result<i64> {
        let p = self.path.clone();
        let e = |e| sql(&p, e);
        self.conn
            .execute(
                "INSERT OR IGNORE INTO bundles (sha256, path, imported_at, tool_version)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    sha256,
                    path,
                    crate::timefmt::rfc3339(crate::timefmt::now_unix()),
                    tool
                ],
            )
            .map_err(e)?;
        self.conn
            .query_row("SELECT id FROM bundles WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .map_err(e)
    }

    /// The runs the filter selects, oldest first.
    pub fn runs(&self, f: &Filter) -> anyhow::Result<Vec<RunRow>> {
        let since = f.since.as_deref().map(normalize_since).transpose()?;
        let limit = f.last.map_or(-1, |n| n as i64);
        let mut out = self.select(
            "WHERE (?1 IS NULL OR instr(r.host, ?1) > 0)
               AND (?2 IS NULL OR r.started_at >= ?2)
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM figures WHERE run = r.id AND bench = ?3))
             ORDER BY r.started_at DESC, r.id DESC LIMIT ?4",
            params![f.machine, since, f.bench, limit],
        )?;
        out.reverse();
        Ok(out)
    }

    /// The run with id `id` and the SHA-256 of its results file (its identity), if recorded.
    pub fn run(&self, id: i64) -> anyhow::Result<Option<(RunRow, String)>> {
        let Some(row) = self.select("WHERE r.id = ?1", params![id])?.pop() else {
            return Ok(None);
        };
        let uid = self
            .conn
            .query_row("SELECT uid FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| sql(&self.path, e))?;
        Ok(Some((row, uid)))
    }

    /// The newest `limit` runs of exactly `host` that started before `before` (the run `uid`
    /// itself left out), newest first.
    pub fn earlier_runs(
        &self,
        host: &str,
        before: &str,
        uid: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<RunRow>> {
        // Times have one-second resolution: a run started in the same second counts as earlier
        // when it was recorded before the run `uid` (or that run is not recorded).
        self.select(
            "WHERE r.host = ?1 AND r.uid <> ?3
               AND (r.started_at < ?2 OR (r.started_at = ?2
                    AND r.id < coalesce((SELECT id FROM runs WHERE uid = ?3), 9e18)))
             ORDER BY r.started_at DESC, r.id DESC LIMIT ?4",
            params![host, before, uid, limit as i64],
        )
    }

    /// Runs, by a WHERE … ORDER BY … clause over `runs r`.
    fn select(&self, clause: &str, args: &[&dyn rusqlite::ToSql]) -> anyhow::Result<Vec<RunRow>> {
        let e = |e| sql(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT r.id, r.kind, r.started_at, r.host, r.cpu, r.gpus, r.stack,
                        r.tool_version, r.command_line, r.results_path, r.complete,
                        (SELECT count(*) FROM figures WHERE run = r.id), r.invalid
                 FROM runs r {clause}"
            ))
            .map_err(e)?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    info: RunInfo {
                        kind: r.get(1)?,
                        started_at: r.get(2)?,
                        host: r.get(3)?,
                        cpu: r.get(4)?,
                        gpus: r.get(5)?,
                        stack: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
                        tool_version: r.get(7)?,
                        command_line: serde_json::from_str(&r.get::<_, String>(8)?)
                            .unwrap_or_default(),
                        results_path: r.get(9)?,
                        complete: r.get(10)?,
                        invalid: r.get::<_, i64>(12)? as usize,
                    },
                    figures: r.get::<_, i64>(11)? as usize,
                })
            })
            .map_err(e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(e)
    }

    /// The figures of the runs `ids`, by run id.
    pub fn figures(&self, ids: &[i64]) -> anyhow::Result<BTreeMap<i64, Vec<Figure>>> {
        let e = |e| sql(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT bench, dtype, method, variant, shape, device, per, unit, value
                 FROM figures WHERE run = ?1 ORDER BY rowid",
            )
            .map_err(e)?;
        let mut out = BTreeMap::new();
        for &id in ids {
            let figs = stmt
                .query_map([id], |r| {
                    Ok(Figure {
                        bench: r.get(0)?,
                        dtype: r.get(1)?,
                        method: r.get(2)?,
                        variant: r.get(3)?,
                        shape: r.get(4)?,
                        device: r.get(5)?,
                        per: r.get(6)?,
                        unit: r.get(7)?,
                        value: r.get(8)?,
                    })
                })
                .map_err(e)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?;
            out.insert(id, figs);
        }
        Ok(out)
    }

    /// The data types the history holds figures of `bench` in, most figures first.
    pub fn dtypes(&self, bench: &str) -> anyhow::Result<Vec<String>> {
        let e = |e| sql(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT dtype FROM figures WHERE bench = ?1 GROUP BY dtype
                 ORDER BY count(*) DESC, dtype",
            )
            .map_err(e)?;
        stmt.query_map([bench], |r| r.get(0))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)
    }

    /// The run recorded from the results file with this SHA-256, if any.
    pub fn run_by_uid(&self, uid: &str) -> anyhow::Result<Option<i64>> {
        self.conn
            .query_row("SELECT id FROM runs WHERE uid = ?1", [uid], |r| r.get(0))
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    /// Each selected run's best figure of `bench` at `dtype` (optionally one method), oldest
    /// first.
    pub fn trend(
        &self,
        bench: &str,
        dtype: &str,
        method: Option<&str>,
        f: &Filter,
    ) -> anyhow::Result<Vec<TrendPoint>> {
        let e = |e| sql(&self.path, e);
        let since = f.since.as_deref().map(normalize_since).transpose()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.started_at, r.host, r.stack, max(f.value), f.unit, f.method
                 FROM figures f JOIN runs r ON r.id = f.run
                 WHERE f.bench = ?1 AND f.dtype = ?2
                   AND (?3 IS NULL OR f.method = ?3)
                   AND (?4 IS NULL OR instr(r.host, ?4) > 0)
                   AND (?5 IS NULL OR r.started_at >= ?5)
                 GROUP BY r.id
                 ORDER BY r.started_at, r.id",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map(params![bench, dtype, method, f.machine, since], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, f64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(e)?;
        let mut out = Vec::new();
        for row in rows {
            let (run, started_at, host, stack, value, unit, method) = row.map_err(e)?;
            out.push(TrendPoint {
                run,
                started_at,
                host,
                stack: serde_json::from_str(&stack).unwrap_or_default(),
                value,
                unit,
                method,
            });
        }
        Ok(out)
    }
}

/// `2026-11-01` or an RFC 3339 time → the RFC 3339 text runs are compared with.
pub fn normalize_since(text: &str) -> anyhow::Result<String> {
    let t = text.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    };
    crate::timefmt::parse_rfc3339(&full)
        .map(crate::timefmt::rfc3339)
        .ok_or_else(|| {
            input_error(
                format!("--since {text}"),
                "write a date (2026-11-01) or a UTC time (2026-11-01T08:00:00Z)",
            )
        })
}

/// Refuses a store on a network or parallel file system, naming it and the fix.
pub fn refuse_network_fs(env: &Env, path: &Path) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some((mount, fs)) = env.fs_type(&dir)
        && NETWORK_FS.contains(&fs.as_str())
    {
        return Err(input_error(
            format!("history {}", path.display()),
            format!(
                "it is on {fs} (mounted at {mount}), where SQLite's file locking is not reliable \
                 and runs recording at once could corrupt it; keep the history on a local disk: \
                 --history /local/path/history.sqlite or HPCREADY_HISTORY (the results files \
                 themselves can stay on {mount})"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
