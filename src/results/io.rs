//! Reading and writing results files.
//!
//! Writes are atomic: the new content goes to a temporary file beside the target, then is renamed
//! over it, so a reader (or a kill) never sees half a file. [`ResultsWriter`] rewrites the file
//! after every measurement with `complete: false`, so a run killed midway leaves every finished
//! measurement on disk, readable by `hpcready report`.

use super::{Measurement, Results, SCHEMA_VERSION};
use crate::error::input_error;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file + rename in the same directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .map_err(|e| input_error(path.display().to_string(), format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        input_error(path.display().to_string(), format!("cannot write: {e}"))
    })
}

/// Creates `dir` (and parents) or says plainly why it cannot be written.
pub fn ensure_writable_dir(dir: &Path, flag: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        input_error(
            format!("{flag} {}", dir.display()),
            format!("cannot create the directory: {e}"),
        )
    })?;
    let probe = dir.join(format!(".hpcready-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        input_error(
            format!("{flag} {}", dir.display()),
            format!("the directory is not writable: {e}"),
        )
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Reads a results file, refusing (as bad input, exit 2) one that is missing, not JSON,
/// truncated, of an unknown schema version, or not a results file.
pub fn load(path: &Path) -> anyhow::Result<Results> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let problem = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::InvalidData => "not a text file (not UTF-8)".to_string(),
            _ => format!("cannot read: {e}"),
        };
        input_error(&name, problem)
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let problem = if e.is_eof() {
            format!(
                "truncated: the JSON ends early (line {}, column {}); was the run killed while \
                 writing?",
                e.line(),
                e.column()
            )
        } else {
            format!("not valid JSON: {e}")
        };
        input_error(&name, problem)
    })?;
    let version = value.get("schema_version").ok_or_else(|| {
        input_error(
            &name,
            "not an hpcready results file: it has no `schema_version`",
        )
    })?;
    match version.as_u64() {
        Some(v) if v == SCHEMA_VERSION as u64 => {}
        _ => {
            return Err(input_error(
                &name,
                format!(
                    "unknown schema_version {version}: this hpcready ({}) reads version \
                     {SCHEMA_VERSION}",
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
    }
    serde_json::from_value(value)
        .map_err(|e| input_error(&name, format!("not a valid results file: {e}")))
}

/// Keeps a results file on disk up to date while a run progresses.
#[derive(Debug)]
pub struct ResultsWriter {
    path: PathBuf,
    results: Results,
}

impl ResultsWriter {
    /// Writes the run's header to `path` at once, so an unwritable path fails before any work.
    pub fn create(path: PathBuf, results: Results) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            ensure_writable_dir(dir, "--out")?;
        }
        let writer = Self { path, results };
        writer.persist().context("writing the results file")?;
        Ok(writer)
    }

    fn persist(&self) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(&self.results)?;
        write_atomic(&self.path, &json)
    }

    /// Appends a finished measurement and writes the file.
    pub fn push(&mut self, m: Measurement) -> anyhow::Result<()> {
        self.results.measurements.push(m);
        self.persist()
    }

    /// The run so far.
    pub fn results(&self) -> &Results {
        &self.results
    }

    /// Mutable access for the header fields (planned count, load).
    pub fn results_mut(&mut self) -> &mut Results {
        &mut self.results
    }

    /// Marks the run complete (or not), stamps the finish time, writes, and returns the run.
    pub fn finish(mut self, complete: bool) -> anyhow::Result<Results> {
        self.results.complete = complete;
        self.results.finished_at = Some(crate::timefmt::rfc3339(crate::timefmt::now_unix()));
        self.persist()?;
        Ok(self.results)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
