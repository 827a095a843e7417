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
use crate::bench::{BenchKind, DType, Shape};
use crate::results::TimingSource;
use crate::results::{CollectiveInfo, DeviceKind, Measurement, MethodFamily, Origin};

/// The tool whose output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// NVIDIA's nccl-tests (`all_reduce_perf`): text log or `-J` JSON.
    NcclTests,
    /// AMD's rccl-tests: text log (nccl-tests' format) or `-Z csv|json` output.
    RcclTests,
    /// OSU Micro-Benchmarks' `osu_allreduce` (or `osu_xccl_allreduce`) latency table.
    Osu,
}

impl std::str::FromStr for Tool {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::NcclTests, Self::RcclTests, Self::Osu]
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown tool `{s}`; known: {}", Self::NAMES.join(", ")))
    }
}

impl Tool {
    /// Every tool, by name.
    pub const NAMES: [&'static str; 3] = ["nccl-tests", "rccl-tests", "osu"];

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
    /// The tool's own check of the result.
    pub check: SourceCheck,
    /// Ranks taking part.
    pub ranks: u64,
    /// Distinct hosts, where the log lists them.
    pub hosts: Vec<String>,
    /// The device names the log lists, deduplicated.
    pub devices: Vec<String>,
    /// Where it came from: `file:line`.
    pub origin: String,
}

/// How the source tool checked a result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceCheck {
    /// The tool ran without its data check (OSU without `-c`, nccl-tests `-c 0` printing
    /// `N/A`): shown as "not checked by the source" and not scored.
    NotChecked,
    /// Elements that came back wrong (nccl-tests' `#wrong`, rccl-tests, OSU's Pass/Fail as 0/1).
    Wrong(f64),
    /// nccl-tests before 2.10 printed the largest absolute deviation from the expected result in
    /// an `error` column, not a count; it passed when within the type's tolerance.
    MaxDeviation {
        /// The deviation printed.
        value: f64,
        /// nccl-tests' own bound for the type (1e-2 for 16-bit floats, 1e-5 for f32, 1e-12 for
        /// f64).
        tolerance: f64,
    },
}

impl SourceCheck {
    /// Whether the check passed (an unchecked result did not fail one).
    pub fn passed(self) -> bool {
        match self {
            Self::NotChecked => true,
            Self::Wrong(w) => w == 0.0,
            Self::MaxDeviation { value, tolerance } => value <= tolerance,
        }
    }

    /// The deviation bound old nccl-tests held `dtype` to.
    pub fn deviation_tolerance(dtype: DType) -> f64 {
        match dtype {
            DType::Fp8 | DType::F16 | DType::Bf16 => 1e-2,
            DType::F32 | DType::Tf32 => 1e-5,
            DType::F64 => 1e-12,
            DType::Bytes => 0.0,
        }
    }
}

/// The rank count a launch line gives: `mpirun -np 32 …`, `mpiexec -n 8`, `srun -n 64 …`,
/// `srun --ntasks=16 …`; `None` for any other line.
pub fn launch_ranks(line: &str) -> Option<u64> {
    let line = line.trim_start_matches(['$', '#', '>', ' ']);
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let launcher = tokens.iter().position(|t| {
        let base = t.rsplit('/').next().unwrap_or(t);
        matches!(
            base,
            "mpirun" | "mpiexec" | "srun" | "aprun" | "mpiexec.hydra"
        )
    })?;
    let args = &tokens[launcher + 1..];
    for (i, a) in args.iter().enumerate() {
        for flag in ["--ntasks=", "--np=", "-np=", "-n="] {
            if let Some(v) = a.strip_prefix(flag) {
                return v.parse().ok();
            }
        }
        if matches!(*a, "-np" | "--np" | "-n" | "--ntasks") {
            return args.get(i + 1)?.parse().ok();
        }
    }
    None
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
    let mut parsed = match tool {
        Tool::NcclTests | Tool::RcclTests if json => nccl::parse_json(tool, name, text, hints),
        Tool::RcclTests if table::looks_like_csv(text) => table::parse_csv(name, text, hints),
        Tool::NcclTests | Tool::RcclTests => nccl::parse_text(name, text, hints),
        Tool::Osu => osu::parse(name, text, hints),
    };
    // Figures no measurement can give are reported, not imported: they would be scored as
    // infinitely fast (a latency of 0) or break the plots.
    let rows = std::mem::take(&mut parsed.rows);
    for row in rows {
        match implausible(&row) {
            None => parsed.rows.push(row),
            Some(why) => {
                let line = row
                    .origin
                    .rsplit(':')
                    .next()
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                parsed.unread.push((line, why, row.origin.clone()));
            }
        }
    }
    parsed
}

/// Why a row's figures cannot be a measurement, if they cannot: a time of zero or less (below
/// the tool's timer resolution: no bandwidth follows), a rate that is negative, not finite or
/// above 10⁹ GB/s, or a size of 0.
fn implausible(row: &Row) -> Option<String> {
    let rate = |v: f64| v.is_finite() && (0.0..1e9).contains(&v);
    if row.bytes == 0 {
        Some("a message size of 0 B".into())
    } else if !(row.time_us.is_finite() && row.time_us > 0.0 && row.time_us < 1e12) {
        Some(format!(
            "a time of {} µs: below the tool's timer resolution or not a time; no bandwidth \
             follows from it",
            row.time_us
        ))
    } else if !rate(row.busbw) || !rate(row.algbw) {
        Some(format!(
            "busbw {} / algbw {} GB/s is not a possible rate",
            row.busbw, row.algbw
        ))
    } else if row.ranks == 0 {
        Some("0 ranks".into())
    } else {
        None
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
    let passed = row.check.passed();
    let nodes = row.hosts.len().max(1);
    let elements = (row.bytes / row.dtype.size().max(1)).saturating_mul(row.ranks);
    let origin = Origin {
        backend: "import".into(),
        device_kind: DeviceKind::Collective,
        family: MethodFamily::ImportedTool,
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
    };
    let mut m = Measurement::pending(
        BenchKind::Allreduce,
        row.dtype,
        shape,
        origin,
        TimingSource::Imported,
    );
    m.started_at = String::new();
    let name = tool.name();
    let (reference, failure, max_err, tolerance) = match row.check {
        SourceCheck::NotChecked => (
            format!("not checked by the source: {name} ran without its data check"),
            None,
            0.0,
            0.0,
        ),
        SourceCheck::Wrong(w) => (
            format!("{name}'s own check of every element (#wrong)"),
            (!passed).then(|| format!("{w} wrong elements reported by {name}")),
            if passed { 0.0 } else { 1.0 },
            0.0,
        ),
        SourceCheck::MaxDeviation { value, tolerance } => (
            format!(
                "{name}'s own check of every element (largest absolute deviation, the `error` \
                 column of nccl-tests before 2.10)"
            ),
            (!passed).then(|| {
                format!("{name} reported a deviation of {value:e} > its bound {tolerance:e}")
            }),
            value,
            tolerance,
        ),
    };
    if let Some(f) = &failure {
        m.error = Some(format!(
            "{f} at {} B ({}): the result is invalid",
            row.bytes, row.origin
        ));
    }
    let verification = Verification {
        passed,
        max_rel_error: max_err,
        tolerance,
        checked: if row.check == SourceCheck::NotChecked {
            0
        } else {
            elements
        },
        total: elements,
        reference,
        first_failure: failure,
    };
    m.record(verification, vec![t], 1);
    // The tool's own busbw, not one recomputed from its rounded time.
    if let Some(tp) = m.throughput.as_mut() {
        tp.value = row.busbw;
    }
    m.collective = Some(CollectiveInfo {
        algbw_gbs: row.algbw,
        busbw_gbs: row.busbw,
        time_us: row.time_us,
        nodes,
        wrong: match row.check {
            SourceCheck::Wrong(w) => Some(w as u64),
            SourceCheck::MaxDeviation { value, tolerance } => Some(u64::from(value > tolerance)),
            SourceCheck::NotChecked => None,
        },
    });
    m
}

#[cfg(test)]
mod tests;
