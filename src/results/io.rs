//! Reading and writing results files.
//!
//! Writes are atomic: the new content goes to a temporary file beside the target, then is renamed
//! over it, so a reader (or a kill) never sees half a file. [`ResultsWriter`] rewrites the file
//! after every measurement with `complete: false`, so a run killed midway leaves every finished
//! measurement on disk, readable by `hpcready report`.

use super::{DeviceKind, Measurement, MethodFamily, Results, SCHEMA_VERSION};
use crate::error::input_error;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file + rename in the same directory), synced
/// to the disk (the file, then its directory) before it counts as written. A target that exists
/// and is not a regular file (a symlink, a device such as /dev/null, a directory) is refused:
/// the rename would replace it, even as root.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    refuse_non_regular(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A failure here is the machine's (a full disk, a lost mount), not bad input: exit 1.
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::anyhow!("writing {}: {e}", path.display()));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("writing {}: {e}", path.display())
    })?;
    // The rename is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes several files into `dir` together: each is refused first if its target exists and is
/// not a regular file, then all are written (and synced) into a staging directory beside them
/// and renamed into place, so a failure part-way leaves the previous files, never a mix of
/// half-written ones. An I/O failure is the machine's (exit 1), naming the directory.
pub fn write_staged(dir: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<PathBuf>> {
    use std::io::Write;
    for (name, _) in files {
        refuse_non_regular(&dir.join(name))?;
    }
    let staging = dir.join(format!(".hpcready-staging-{}", std::process::id()));
    let written = (|| -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(&staging)?;
        for (name, bytes) in files {
            let mut f = std::fs::File::create(staging.join(name))?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        let mut out = Vec::new();
        for (name, _) in files {
            let target = dir.join(name);
            std::fs::rename(staging.join(name), &target)?;
            out.push(target);
        }
        std::fs::File::open(dir)?.sync_all()?;
        Ok(out)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    written.map_err(|e| anyhow::anyhow!("writing into {}: {e}", dir.display()))
}

/// Refuses a target that exists and is not a regular file: the rename would replace a symlink
/// or a device node (as root, /dev/null itself).
fn refuse_non_regular(path: &Path) -> anyhow::Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.file_type().is_file()
    {
        let what = if meta.file_type().is_symlink() {
            "a symbolic link"
        } else if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, socket or pipe)"
        };
        return Err(input_error(
            path.display().to_string(),
            format!(
                "is {what}; hpcready writes its files only as regular files: name another path"
            ),
        ));
    }
    Ok(())
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
    parse(&text, &name)
}

/// Reads the text of a results file named `name` (for messages), refusing what [`load`] refuses.
pub fn parse(text: &str, name: &str) -> anyhow::Result<Results> {
    let name = name.to_string();
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
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
    let (number, shown) = (version.as_u64(), version.to_string());
    let mut value = value;
    match number {
        Some(v) if v == SCHEMA_VERSION as u64 => {}
        Some(1) => upgrade_v1(&mut value),
        _ => {
            return Err(input_error(
                &name,
                format!(
                    "unknown schema_version {shown}: this hpcready ({}) reads versions 1 to \
                     {SCHEMA_VERSION}",
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
    }
    serde_json::from_value(value)
        .map_err(|e| input_error(&name, format!("not a valid results file: {e}")))
}

/// Version 1 had no `device_kind`/`family` on measurements: derives them from what version 1
/// wrote in `backend` (`cpu`, `gpu`, `mpi`, `single-process`, `import`) and `method`.
fn upgrade_v1(value: &mut serde_json::Value) {
    if let Some(v) = value.get_mut("schema_version") {
        *v = serde_json::Value::from(SCHEMA_VERSION);
    }
    let Some(ms) = value.get_mut("measurements").and_then(|m| m.as_array_mut()) else {
        return;
    };
    for m in ms.iter_mut().filter_map(|m| m.as_object_mut()) {
        let backend = m.get("backend").and_then(|b| b.as_str()).unwrap_or("");
        let method = m.get("method").and_then(|b| b.as_str()).unwrap_or("");
        let allreduce = m.get("bench").and_then(|b| b.as_str()) == Some("allreduce");
        let kind = if allreduce {
            DeviceKind::Collective
        } else if backend == "cpu" {
            DeviceKind::Cpu
        } else {
            DeviceKind::Gpu
        };
        let family = if backend == "import" || method.starts_with("import/") {
            MethodFamily::ImportedTool
        } else {
            MethodFamily::OwnKernel
        };
        m.entry("device_kind")
            .or_insert_with(|| serde_json::to_value(kind).unwrap_or_default());
        m.entry("family")
            .or_insert_with(|| serde_json::to_value(family).unwrap_or_default());
    }
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

    /// Writes the file as it stands (after a change through [`ResultsWriter::results_mut`]).
    pub fn save(&self) -> anyhow::Result<()> {
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

use crate::node::safe_name;

/// `reports/<host>-<UTC timestamp>`.
pub fn default_report_dir(host: &str, unix: f64) -> std::path::PathBuf {
    std::path::Path::new("reports").join(format!(
        "{}-{}",
        safe_name(host),
        crate::timefmt::compact(unix)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of schema version 1 (the committed reports) are read, their measurements given the
    /// device kind and method family version 2 records.
    #[test]
    fn version_1_files_are_upgraded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cpu = load(&root.join("reports/example/results.json")).unwrap();
        assert!(
            cpu.measurements
                .iter()
                .all(|m| m.device_kind == DeviceKind::Cpu && m.family == MethodFamily::OwnKernel)
        );
        let gpu = load(&root.join("reports/gpu/2026-11-23-h100-final.json")).unwrap();
        assert!(
            gpu.measurements
                .iter()
                .all(|m| m.device_kind == DeviceKind::Gpu)
        );
        // Written back, it is version 2 and reads the same.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomic(&path, &serde_json::to_vec(&gpu).unwrap()).unwrap();
        assert_eq!(gpu.schema_version, SCHEMA_VERSION);
        // Exactly: serde_json's `float_roundtrip` reads back every f64 it wrote.
        assert_eq!(load(&path).unwrap(), gpu);
    }

    /// A kernel whose output is NaN (error NaN) and a time of 0 (an infinite rate) are what the
    /// tool exists to show: the file that records them must read back.
    #[test]
    fn non_finite_figures_round_trip_through_the_file() {
        use crate::bench::verify::Verification;
        use crate::bench::{BenchKind, DType, Shape};
        let mut r = Results::new(crate::node::Inventory::fixture(), vec![], None);
        let origin = super::super::Origin {
            backend: "cpu".into(),
            device_kind: DeviceKind::Cpu,
            family: MethodFamily::OwnKernel,
            device: "test".into(),
            method: "cpu/test".into(),
            variant: String::new(),
        };
        let mut nan = Measurement::pending(
            BenchKind::Matmul,
            DType::F32,
            Shape::square(8),
            origin.clone(),
            crate::results::TimingSource::WallClock,
        );
        nan.record(Verification::not_run(), vec![], 0);
        let mut zero = Measurement::pending(
            BenchKind::Matmul,
            DType::F32,
            Shape::square(8),
            origin,
            crate::results::TimingSource::WallClock,
        );
        let mut ok = Verification::exact_copy(None, 1);
        ok.max_rel_error = f64::INFINITY;
        zero.record(ok, vec![0.0, 0.0, 0.0], 1);
        assert!(zero.throughput.unwrap().value.is_infinite());
        r.measurements = vec![nan, zero];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let w = ResultsWriter::create(path.clone(), r).unwrap();
        w.finish(true).unwrap();
        let back = load(&path).unwrap();
        assert!(back.measurements[0].verification.max_rel_error.is_nan());
        assert!(back.measurements[1].throughput.unwrap().value.is_infinite());
    }
}
