//! The run history's flags and subcommands: where the history is (`--history`, `--no-history`,
//! the regression rule), which runs (`--machine`, `--since`, `--last`), `history`, `bundle` and
//! `import-bundle`.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The run history: where it is, whether to record into it, and the regression rule (for
/// `run`, `assess`, `smoke`, `import` and `report`).
#[derive(Debug, Args, Clone)]
pub struct HistoryArg {
    /// The history store, a SQLite file on a local disk (default: $HPCREADY_HISTORY, else
    /// $XDG_DATA_HOME/hpcready/history.sqlite, else ~/.local/share/hpcready/history.sqlite).
    #[arg(long = "history", value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Do not record this run in the history (nor check it against earlier runs).
    #[arg(long = "no-history", conflicts_with = "path")]
    pub off: bool,
    /// A figure more than PCT percent below the median of the same host's earlier runs (on one
    /// software stack) is flagged as a regression.
    #[arg(long, value_name = "PCT", default_value_t = 10.0, value_parser = percent)]
    pub regression_threshold: f64,
    /// How many earlier runs of the host make the reference median.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub regression_window: u64,
}

impl Default for HistoryArg {
    fn default() -> Self {
        Self {
            path: None,
            off: false,
            regression_threshold: 10.0,
            regression_window: 5,
        }
    }
}

impl HistoryArg {
    /// Where the history is.
    pub fn location(&self) -> crate::history::Location {
        crate::history::Location::resolve(self.path.as_deref(), self.off)
    }

    /// The regression rule.
    pub fn rule(&self) -> crate::history::regress::Rule {
        crate::history::regress::Rule {
            threshold: self.regression_threshold / 100.0,
            window: self.regression_window as usize,
        }
    }
}

/// A percentage above 0 and below 100.
fn percent(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage"))?;
    if v > 0.0 && v < 100.0 {
        Ok(v)
    } else {
        Err(format!("{text}: give a percentage above 0 and below 100"))
    }
}

/// Where the history is, for the commands that read it.
#[derive(Debug, Args, Clone, Default)]
pub struct HistoryPath {
    /// The history store (default: $HPCREADY_HISTORY, else
    /// $XDG_DATA_HOME/hpcready/history.sqlite, else ~/.local/share/hpcready/history.sqlite).
    #[arg(long = "history", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

impl HistoryPath {
    /// Where the history is.
    pub fn location(&self) -> crate::history::Location {
        crate::history::Location::resolve(self.path.as_deref(), false)
    }
}

/// Which runs of the history (`history`, `compare`, `baselines save --from-history`).
#[derive(Debug, Args, Clone, Default)]
pub struct RunFilter {
    /// Runs on hosts whose name contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub machine: Option<String>,
    /// Runs that started on or after DATE (2026-11-01, or a UTC time 2026-11-01T08:00:00Z).
    #[arg(long, value_name = "DATE", value_parser = since_date)]
    pub since: Option<String>,
    /// Only the newest N runs (after the other filters).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub last: Option<u64>,
}

/// `--since`, refused at the command line (before any history is opened) unless it is a date or
/// a UTC time.
fn since_date(text: &str) -> Result<String, String> {
    crate::history::store::normalize_since(text)
        .map(|_| text.to_string())
        .map_err(|_| "write a date (2026-11-01) or a UTC time (2026-11-01T08:00:00Z)".into())
}

impl RunFilter {
    /// As the store's filter.
    pub fn filter(&self, bench: Option<String>) -> crate::history::Filter {
        crate::history::Filter {
            machine: self.machine.clone(),
            bench,
            since: self.since.clone(),
            last: self.last.map(|n| n as usize),
        }
    }

    /// Whether any filter is given.
    pub fn any(&self) -> bool {
        self.machine.is_some() || self.since.is_some() || self.last.is_some()
    }
}

/// `hpcready history`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    /// `list`, `show` or `trend`; without one, the runs are listed.
    #[command(subcommand)]
    pub command: Option<HistoryCommand>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// Which runs to list, and how.
#[derive(Debug, Args, Default)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: HistoryPath,
    #[command(flatten)]
    pub filter: RunFilter,
    /// Runs with a figure of this benchmark (matmul, attention, allreduce, train, io …).
    #[arg(long, value_name = "BENCH")]
    pub bench: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `hpcready history …`.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// The runs recorded: date, kind, host, GPUs, figures, stack, results file (the same as
    /// `hpcready history` alone).
    List(ListArgs),
    /// One run's whole record: what ran and where, its software stack, every figure, and how
    /// they compare with the same host's earlier runs.
    Show {
        /// The run's number, as `hpcready history` lists it.
        #[arg(value_name = "RUN", value_parser = clap::value_parser!(i64).range(1..))]
        run: i64,
        #[command(flatten)]
        store: HistoryPath,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One figure over time per machine (each run's best), with every software-stack change
    /// marked; writes an SVG plot with --out.
    Trend {
        /// The benchmark: peak, membw, matmul, attention, allreduce, train, io.
        bench: String,
        /// Its data type (default: the newest run's most common for the benchmark).
        #[arg(long)]
        dtype: Option<String>,
        /// Only this method (`torch/matmul`, `cpu/faer` …).
        #[arg(long)]
        method: Option<String>,
        #[command(flatten)]
        filter: RunFilter,
        #[command(flatten)]
        store: HistoryPath,
        /// Write the plot here (an .svg file).
        #[arg(long, value_name = "FILE.svg")]
        out: Option<PathBuf>,
    },
}

/// `hpcready bundle`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Runs to bundle: report directories (holding results.json and the report) or results
    /// files.
    #[arg(required = true, num_args = 1.., value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// The bundle to write, `.tar.gz` (never overwritten).
    #[arg(long, value_name = "FILE.tar.gz")]
    pub out: PathBuf,
}

/// `hpcready import-bundle`.
#[derive(Debug, Args)]
pub struct ImportBundleArgs {
    /// A bundle written by `hpcready bundle`.
    #[arg(value_name = "BUNDLE.tar.gz")]
    pub bundle: PathBuf,
    /// Where its runs are unpacked to stay (the history indexes files; default: bundles/<its
    /// checksum> beside the history).
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    #[command(flatten)]
    pub store: HistoryPath,
}
