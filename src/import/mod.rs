//! `hpcready import`: the output of the tools these users already run (nccl-tests, rccl-tests,
//! OSU's `osu_allreduce`) turned into our results, so vendor-library numbers (NCCL/RCCL over
//! NVLink, InfiniBand, Slingshot, EFA) join the same report and comparison.
//!
//! Logs are read as people have them: every nccl-tests output generation (the old `error`
//! column, the newer `root` and `#wrong` columns, per-iteration columns), lines prefixed by
//! mpirun (`[1,0]<stdout>:`) or `srun --label` (`3: `), NCCL INFO/WARN noise in between,
//! several collectives or runs in one file, nccl-tests' JSON (`-J`), rccl-tests' CSV/JSON
//! (read by column names) and OSU's latency table. Every line that is neither read nor known
//! noise is reported with its line number.

mod nccl;
mod osu;
mod table;

use crate::bench::verify::Verification;
use crate::bench::{BenchKind, DType, Shape, Throughput};
use crate::measure::TimingSource;
use crate::measure::stats::summarize;
use crate::results::{CollectiveInfo, Measurement};

/// The tool whose output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// NVIDIA's nccl-tests (`all_reduce_perf`): text log or `-J` JSON.
    #[value(name = "nccl-tests")]
    NcclTests,
    /// AMD's rccl-tests: text log (nccl-tests' format) or `-Z csv|json` output.
    #[value(name = "rccl-tests")]
    RcclTests,
    /// OSU Micro-Benchmarks' `osu_allreduce` (or `osu_xccl_allreduce`) latency table.
    Osu,
}

impl Tool {
    /// The name in methods and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::NcclTests => "nccl-tests",
            Self::RcclTests => "rccl-tests",
            Self::Osu => "osu",
        }
    }
}

/// One all-reduce result read from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Message size in bytes.
    pub bytes: u64,
    /// Element type.
    pub dtype: DType,
    /// In place (the second half of an nccl-tests line).
    pub inplace: bool,
    /// Time of one all-reduce, µs, as the tool reports it.
    pub time_us: f64,
    /// algbw GB/s, as reported (computed from the time when the tool gives none).
    pub algbw: f64,
    /// busbw GB/s, as reported (computed when the tool gives none).
    pub busbw: f64,
    /// The tool's check: wrong elements (None: not checked).
    pub wrong: Option<f64>,
    /// Ranks taking part.
    pub ranks: u64,
    /// Distinct hosts, where the log lists them.
    pub hosts: Vec<String>,
    /// The device names the log lists, deduplicated.
    pub devices: Vec<String>,
    /// Where it came from: `file:line`.
    pub origin: String,
}

/// What reading one file gave.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The all-reduce results.
    pub rows: Vec<Row>,
    /// Lines that could not be read: (line number, why, the line).
    pub unread: Vec<(usize, String, String)>,
    /// Library log lines (NCCL INFO/WARN …) passed over.
    pub noise: usize,
    /// Tables of other collectives, passed over (hpcready compares all-reduce).
    pub other_collectives: Vec<String>,
    /// Assumptions made while reading.
    pub notes: Vec<String>,
}

/// Options the logs cannot always answer.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// Ranks, for logs that do not list them (OSU), or to override.
    pub ranks: Option<u64>,
}

/// Reads `text` (the file `name`) as `tool`'s output.
pub fn parse(tool: Tool, name: &str, text: &str, hints: &Hints) -> Parsed {
    let trimmed = text.trim_start();
    // JSON: an object, or a list of objects (mpirun's `[1,0]<stdout>:` prefix is not JSON).
    let json = trimmed.starts_with('{')
        || trimmed
            .strip_prefix('[')
            .is_some_and(|r| r.trim_start().starts_with(['{', ']']));
    match tool {
        Tool::NcclTests | Tool::RcclTests if json => nccl::parse_json(tool, name, text, hints),
        Tool::RcclTests if table::looks_like_csv(text) => table::parse_csv(name, text, hints),
        Tool::NcclTests | Tool::RcclTests => nccl::parse_text(name, text, hints),
        Tool::Osu => osu::parse(name, text, hints),
    }
}

/// Strips what launchers put before a line: mpirun's `[1,0]<stdout>:` and `srun --label`'s
/// `12: `.
pub fn strip_launcher_prefix(line: &str) -> &str {
    let mut s = line;
    if let Some(rest) = s.strip_prefix('[')
        && let Some(close) = rest.find("]<std")
        && rest[..close]
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',')
        && let Some(colon) = rest[close..].find(">:")
    {
        s = &rest[close + colon + 2..];
        s = s.strip_prefix(' ').unwrap_or(s);
    }
    if let Some(colon) = s.find(": ")
        && colon > 0
        && s[..colon].trim_start().chars().all(|c| c.is_ascii_digit())
        && !s[..colon].trim().is_empty()
    {
        s = &s[colon + 2..];
    }
    s
}

/// A library's own log line (NCCL/RCCL INFO, WARN, TRACE), known noise in a benchmark log.
pub fn is_library_noise(line: &str) -> bool {
    [
        " NCCL INFO",
        " NCCL WARN",
        " NCCL TRACE",
        " RCCL INFO",
        " RCCL WARN",
    ]
    .iter()
    .any(|k| line.contains(k))
        || line.starts_with("NCCL INFO")
        || line.starts_with("NCCL WARN")
}

/// The element type a tool names: `float`/`MPI_FLOAT` → f32 and so on.
pub fn dtype_of(name: &str) -> Option<DType> {
    match name.trim().to_ascii_lowercase().trim_start_matches("mpi_") {
        "float" | "float32" | "f32" | "fp32" => Some(DType::F32),
        "half" | "float16" | "f16" | "fp16" => Some(DType::F16),
        "bfloat16" | "bf16" => Some(DType::Bf16),
        "double" | "float64" | "f64" | "fp64" => Some(DType::F64),
        _ => None,
    }
}

/// One row as a measurement: busbw is the throughput, as the tool reported it.
pub fn measurement(tool: Tool, row: &Row, device: &str) -> Measurement {
    let shape = Shape::Allreduce {
        bytes: row.bytes,
        ranks: row.ranks,
        inplace: row.inplace,
    };
    let t = row.time_us * 1e-6;
    let work = shape.work(row.dtype).unwrap_or_default();
    let checked = row.wrong.is_some();
    let wrong = row.wrong.unwrap_or(0.0);
    let elements = row.bytes / row.dtype.size() * row.ranks;
    let passed = wrong == 0.0;
    let nodes = row.hosts.len().max(1);
    Measurement {
        bench: BenchKind::Allreduce,
        backend: "import".into(),
        device: device.into(),
        method: format!("import/{}", tool.name()),
        variant: format!(
            "{} all-reduce sum {}, {} (from {})",
            tool.name(),
            row.dtype,
            if row.inplace {
                "in-place"
            } else {
                "out-of-place"
            },
            row.origin
        ),
        dtype: row.dtype,
        shape,
        threads: None,
        started_at: String::new(),
        timing: TimingSource::Imported,
        iterations_per_sample: 1,
        samples_s: vec![t],
        stats: summarize(&[t]),
        work,
        throughput: passed.then_some(Throughput {
            value: row.busbw,
            unit: crate::bench::Unit::GbPerS,
        }),
        verification: Verification {
            passed,
            max_rel_error: if passed { 0.0 } else { 1.0 },
            tolerance: 0.0,
            checked: if checked { elements } else { 0 },
            total: elements,
            reference: if checked {
                format!("{}'s own check of every element (#wrong)", tool.name())
            } else {
                format!("not checked: {} ran without its data check", tool.name())
            },
            first_failure: (!passed)
                .then(|| format!("{wrong} wrong elements reported by {}", tool.name())),
        },
        error: (!passed).then(|| {
            format!(
                "{} reported {wrong} wrong elements at {} B ({}): the result is invalid",
                tool.name(),
                row.bytes,
                row.origin
            )
        }),
        collective: Some(CollectiveInfo {
            algbw_gbs: row.algbw,
            busbw_gbs: row.busbw,
            time_us: row.time_us,
            nodes,
            wrong: row.wrong.map(|w| w as u64),
        }),
    }
}

#[cfg(test)]
mod tests;
