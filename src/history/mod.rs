//! Run history: every `run`, `assess`, `smoke` and `import` indexed in a local SQLite store
//! (the results files stay the record), so a centre can follow a machine over time, see a
//! regression after an upgrade, build a baseline from many runs and bundle an advisory.

pub mod bundle;
pub mod regress;
pub mod store;

use crate::results::Results;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
pub use store::{Figure, Filter, NewRun, RunInfo, RunRow, Store};

/// Where the history is, and whether to record (`--history`, `--no-history`,
/// `HPCREADY_HISTORY`), resolved once at the command line's edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Record into (and read from) this file.
    At(PathBuf),
    /// `--no-history`.
    Off,
    /// No path could be made (no `--history`, `HPCREADY_HISTORY`, `XDG_DATA_HOME` or `HOME`).
    Nowhere,
}

impl Location {
    /// `--history PATH` > `HPCREADY_HISTORY` > `$XDG_DATA_HOME/hpcready/history.sqlite` >
    /// `$HOME/.local/share/hpcready/history.sqlite` (the XDG default).
    pub fn resolve(flag: Option<&Path>, off: bool) -> Self {
        let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
        if off {
            return Self::Off;
        }
        if let Some(p) = flag {
            return Self::At(p.to_path_buf());
        }
        if let Some(p) = var("HPCREADY_HISTORY") {
            return Self::At(PathBuf::from(p));
        }
        let data = var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/share")));
        match data {
            Some(d) => Self::At(d.join("hpcready").join("history.sqlite")),
            None => Self::Nowhere,
        }
    }

    /// The file, for commands that need one.
    pub fn path(&self) -> anyhow::Result<&Path> {
        match self {
            Self::At(p) => Ok(p),
            Self::Off => Err(crate::error::input_error(
                "--no-history",
                "this command reads the history; leave --no-history out",
            )),
            Self::Nowhere => Err(crate::error::input_error(
                "the history",
                "no location: neither --history, HPCREADY_HISTORY, XDG_DATA_HOME nor HOME is set",
            )),
        }
    }
}

/// The machine a run ran on: host, CPU, GPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// Host name.
    pub host: String,
    /// CPU model.
    pub cpu: String,
    /// `8× NVIDIA H200`, or `none`.
    pub gpus: String,
}

/// The machine of `results`.
pub fn machine(results: &Results) -> Machine {
    let node = &results.node;
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for g in &node.gpus {
        *names.entry(g.name.clone()).or_default() += 1;
    }
    if names.is_empty() {
        for a in node.accelerators.gpus() {
            *names.entry(a.name.clone()).or_default() += 1;
        }
    }
    let gpus = if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|(n, c)| format!("{c}× {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Machine {
        host: node.host.clone(),
        cpu: node.cpu.model.clone(),
        gpus,
    }
}

/// The software stack a run measured through: what an upgrade changes.
pub fn stack(results: &Results) -> BTreeMap<String, String> {
    let node = &results.node;
    let mut s = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        if !v.trim().is_empty() {
            s.insert(k.to_string(), v.trim().to_string());
        }
    };
    put("hpcready", &results.tool.version);
    put("kernel", &node.kernel);
    put("os", &node.os);
    if let Some(d) = node.gpus.iter().find_map(|g| g.driver.as_deref()) {
        put("driver", d);
    }
    let adapter = node
        .accelerators
        .gpus()
        .next()
        .or_else(|| node.accelerators.devices.first());
    if let Some(a) = adapter {
        put("vulkan driver", &format!("{} {}", a.driver, a.driver_info));
    }
    if let Some(t) = node.torch.as_ref().and_then(|t| t.found.as_ref()) {
        put("torch", &t.torch);
        put("python", &t.python);
        for (k, v) in [
            ("cuda", &t.cuda),
            ("hip", &t.hip),
            ("cudnn", &t.cudnn),
            ("nccl", &t.nccl),
        ] {
            if let Some(v) = v {
                put(k, v);
            }
        }
    }
    if let Some(r) = &results.ranks {
        put("collectives", &r.library);
    }
    s
}

/// What changed between two stacks: `driver 580.65 → 590.12`, in component order.
pub fn stack_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| {
            format!(
                "{k} {} → {}",
                old.get(k).map_or("—", String::as_str),
                new.get(k).map_or("—", String::as_str)
            )
        })
        .collect()
}

/// Every figure of `results` the history keeps: each valid measurement (a suspect peak left
/// out, as the report leaves it out) and each verified I/O phase.
pub fn figures(results: &Results) -> Vec<Figure> {
    let peaks = results.peak_index();
    let mut out: Vec<Figure> = results
        .measurements
        .iter()
        .filter(|m| m.is_valid() && !peaks.is_suspect(m))
        .filter_map(|m| {
            let t = m.throughput?;
            Some(Figure {
                bench: m.bench.name().to_string(),
                dtype: m.dtype.name().to_string(),
                method: m.method.clone(),
                variant: m.variant.clone(),
                shape: m.shape.display(),
                device: m.device.clone(),
                per: m.device_kind.label().to_string(),
                unit: t.unit.to_string(),
                value: t.value,
            })
        })
        .filter(|f| f.value.is_finite())
        .collect();
    if let Some(io) = &results.storage {
        for p in &io.phases {
            let Some(rate) = p.rate.filter(|r| r.is_finite()) else {
                continue;
            };
            let op = serde_json::to_value(p.op)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let (value, unit) = if p.op.is_bandwidth() {
                (rate / 1e9, "GB/s")
            } else {
                (rate, "ops/s")
            };
            out.push(Figure {
                bench: "io".into(),
                dtype: "bytes".into(),
                method: format!("io/{op}"),
                variant: format!("{} on {}", io.fs.fs_type, io.dir),
                shape: format!("ranks={} shard={}", io.ranks, io.shard_bytes),
                device: io.fs.mount.clone(),
                per: "all ranks".into(),
                unit: unit.into(),
                value,
            });
        }
    }
    out
}

/// The record of `results`, read from `file` (its bytes make the run's identity).
pub fn new_run(kind: &str, results: &Results, file: &Path) -> anyhow::Result<NewRun> {
    use sha2::Digest;
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("reading {} back: {e}", file.display()))?;
    let m = machine(results);
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    Ok(NewRun {
        uid: hex(&sha2::Sha256::digest(&bytes)),
        info: RunInfo {
            kind: kind.to_string(),
            started_at: results.started_at.clone(),
            host: m.host,
            cpu: m.cpu,
            gpus: m.gpus,
            stack: stack(results),
            tool_version: results.tool.version.clone(),
            command_line: results.command_line.clone(),
            results_path: abs.display().to_string(),
            complete: results.complete,
            invalid: results
                .measurements
                .iter()
                .filter(|m| !m.is_valid())
                .count(),
        },
        measurements: results.measurements.len(),
        figures: figures(results),
        bundle: None,
    })
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records the run written to `file` in the history at `location`, then checks its figures
/// against the same machine's earlier runs. Never fails the command: a history that cannot be
/// written is said on stderr, and the results file (already on disk) is the record. Returns the
/// regression check when there was a history to check against.
pub fn record(
    location: &Location,
    rule: &regress::Rule,
    kind: &str,
    results: &Results,
    file: &Path,
) -> Option<regress::Check> {
    let path = match location {
        Location::Off => return None,
        Location::Nowhere => {
            crate::say!(
                "history: not recorded (no --history, HPCREADY_HISTORY, XDG_DATA_HOME or HOME)"
            );
            return None;
        }
        Location::At(p) => p,
    };
    let done = (|| -> anyhow::Result<(i64, bool, regress::Check)> {
        let run = new_run(kind, results, file)?;
        let mut store = Store::open(path)?;
        let (id, new) = store.insert(&run)?;
        let check = regress::check(&store, &run, rule)?;
        Ok((id, new, check))
    })();
    match done {
        Ok((id, new, check)) => {
            crate::say!(
                "history: {} run {id} in {}",
                if new {
                    "recorded as"
                } else {
                    "already holds it as"
                },
                path.display()
            );
            for line in check.lines() {
                crate::say!("history: {line}");
            }
            Some(check)
        }
        Err(e) => {
            crate::say!(
                "warning: history: this run was not recorded ({e:#}); its results are in {}",
                file.display()
            );
            None
        }
    }
}

/// The regression check of a results file already written, reading the history without
/// recording anything (`hpcready report`): `None` without a history.
pub fn check_existing(
    location: &Location,
    rule: &regress::Rule,
    results: &Results,
    file: &Path,
) -> Option<regress::Check> {
    use sha2::Digest;
    let Location::At(path) = location else {
        return None;
    };
    if !path.is_file() {
        return None;
    }
    // Its identity, so that a run already recorded is not compared with itself.
    let uid = std::fs::read(file)
        .map(|b| hex(&sha2::Sha256::digest(&b)))
        .unwrap_or_default();
    // Only what the check reads: the host, the start, the stack and the figures.
    let run = NewRun {
        uid,
        info: RunInfo {
            kind: String::new(),
            started_at: results.started_at.clone(),
            host: results.node.host.clone(),
            cpu: String::new(),
            gpus: String::new(),
            stack: stack(results),
            tool_version: String::new(),
            command_line: Vec::new(),
            results_path: String::new(),
            complete: results.complete,
            invalid: 0,
        },
        measurements: 0,
        figures: figures(results),
        bundle: None,
    };
    match Store::open_existing(path).and_then(|s| regress::check(&s, &run, rule)) {
        Ok(c) => Some(c),
        Err(e) => {
            crate::say!("warning: history: not checked against earlier runs ({e:#})");
            None
        }
    }
}
