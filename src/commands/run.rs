//! `hpcready run`: benchmarks → results file.

use super::{default_report_dir, emit, text_table};
use crate::backend::{self, BackendChoice};
use crate::bench::Case;
use crate::bench::suites::{self, Selection};
use crate::cli::{RunArgs, Sampling};
use crate::error::WorkFailed;
use crate::measure::SamplingPlan;
use crate::measure::run::{Progress, run_cases};
use crate::node::Inventory;
use crate::node::load::LoadSnapshot;
use crate::results::io::ResultsWriter;
use crate::results::{Measurement, Results};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// A progress bar on stderr when it is a terminal; nothing otherwise.
struct Bar(ProgressBar);

impl Bar {
    fn new(total: usize) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self(bar)
    }
}

impl Progress for Bar {
    fn start(&mut self, _: usize, _: usize, case: &Case) {
        self.0.set_message(case.to_string());
    }

    fn finish(&mut self, m: Option<&Measurement>) {
        if let Some(m) = m.filter(|m| !m.is_valid()) {
            self.0.println(format!(
                "invalid: {} {} {}: {}",
                m.bench,
                m.dtype,
                m.shape.display(),
                m.error.as_deref().unwrap_or("")
            ));
        }
        self.0.inc(1);
    }
}

/// What to measure and where to write it.
#[derive(Debug)]
pub struct MeasureRequest {
    /// The cases' selection.
    pub selection: Selection,
    /// The backend.
    pub backend: BackendChoice,
    /// `--device`, for GPUs.
    pub device: Option<String>,
    /// The sampling plan's override.
    pub sampling: Sampling,
    /// The results file.
    pub out: PathBuf,
}

/// Plans, checks and runs a selection, keeping the results file current as each case
/// finishes. Every input is checked before the first benchmark starts.
pub fn measure(req: &MeasureRequest, node: Inventory) -> anyhow::Result<Results> {
    let backends = backend::select(req.backend, req.device.as_deref())?;
    let available = crate::node::available_memory();
    let mut plans = Vec::new();
    for b in &backends {
        let supported = |bench| b.dtypes(bench);
        let target = suites::Target {
            supported: &supported,
            threads: b.device().threads.unwrap_or(1),
            llc_bytes: node.last_level_cache_bytes(),
            available_memory: available,
            accelerator: b.is_accelerator(),
            max_buffer: b.max_buffer_bytes(),
        };
        let plan = suites::plan(&req.selection, &target)
            .map_err(|e| e.context(format!("planning for {}", b.device().name)))?;
        for note in &plan.notes {
            eprintln!("note: {} on {}", note, b.device().name);
        }
        plans.push(plan);
    }
    let sampling = match (req.sampling, req.selection.suite) {
        (Sampling::Smoke, _) => SamplingPlan::smoke(),
        (_, suites::Suite::Quick) => SamplingPlan::quick(),
        _ => SamplingPlan::standard(),
    };
    let mut results = Results::new(
        node,
        std::env::args().collect(),
        Some(req.selection.suite.name().into()),
    );
    results.planned = plans.iter().map(|p| p.cases.len()).sum();
    let usable = results.node.cpu.usable_threads;
    let mut writer = ResultsWriter::create(req.out.clone(), results)?;
    let load = LoadSnapshot::take();
    let mut bar = Bar::new(writer.results().planned);
    let mut skipped = Vec::new();
    for (b, plan) in backends.iter().zip(&plans) {
        skipped.extend(run_cases(
            b.as_ref(),
            &plan.cases,
            &sampling,
            &mut writer,
            &mut bar,
        )?);
    }
    bar.0.finish_and_clear();
    for s in &skipped {
        eprintln!("skipped: {s}");
    }
    writer.results_mut().planned -= skipped.len();
    writer.results_mut().load = Some(load.report(usable));
    writer.finish(true)
}

/// Fails with exit code 1 when any measurement is invalid (after everything is written).
pub fn fail_on_invalid(results: &Results) -> anyhow::Result<()> {
    let bad = results
        .measurements
        .iter()
        .filter(|m| !m.is_valid())
        .count();
    if bad > 0 {
        return Err(WorkFailed(format!(
            "{bad} of {} measurements failed (see the report's Invalid list)",
            results.measurements.len()
        ))
        .into());
    }
    Ok(())
}

/// A short text table of measurements.
pub fn measurement_table(results: &Results) -> String {
    let rows: Vec<Vec<String>> = results
        .measurements
        .iter()
        .map(|m| {
            vec![
                m.bench.to_string(),
                m.dtype.to_string(),
                m.shape.display(),
                m.throughput
                    .filter(|_| m.is_valid())
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "—".into()),
                m.stats
                    .as_ref()
                    .map(|s| format!("±{:.1}%", s.cv * 100.0))
                    .unwrap_or_default(),
                if m.is_valid() {
                    "yes".into()
                } else {
                    "NO".into()
                },
            ]
        })
        .collect();
    text_table(
        &["bench", "dtype", "shape", "throughput", "cv", "verified"],
        &rows,
    )
}

/// `hpcready run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let node = Inventory::probe();
    let out = args.out.clone().unwrap_or_else(|| {
        default_report_dir(&node.host, crate::timefmt::now_unix()).join("results.json")
    });
    let req = MeasureRequest {
        selection: Selection {
            suite: args.suite,
            benches: args.bench.clone(),
            dtypes: args.dtype.clone(),
            sizes: args.sizes.clone(),
        },
        backend: args.backend,
        device: args.device.clone(),
        sampling: args.sampling,
        out: out.clone(),
    };
    let results = measure(&req, node)?;
    emit(&measurement_table(&results));
    emit(&format!("\nresults: {}\n", out.display()));
    fail_on_invalid(&results)
}
