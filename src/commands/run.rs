//! `hpcready run`: benchmarks → results file.

use super::{default_report_dir, emit, text_table};
use crate::backend::{self, BackendChoice};
use crate::bench::suites::Suite;
use crate::bench::suites::{self, Selection};
use crate::bench::{BenchKind, Case, DType};
use crate::cli::{RunArgs, Sampling};
use crate::comm::{self, allreduce};
use crate::error::WorkFailed;
use crate::error::input_error;
use crate::measure::SamplingPlan;
use crate::measure::run::{Progress, run_cases};
use crate::node::Inventory;
use crate::node::load::LoadSnapshot;
use crate::results::RankLayout;
use crate::results::io::ResultsWriter;
use crate::results::{Measurement, Results};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

mod torch_ranks;

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
    /// The user's Python, for the torch backend.
    pub python: crate::backend::torch::harness::PythonCommand,
    /// The longest one case's step may take (torch harness requests).
    pub timeout: std::time::Duration,
    /// Training steps under `torch.compile`.
    pub compile: bool,
    /// Read the node's energy counter around each measurement.
    pub energy: bool,
}

/// Plans, checks and runs a selection, keeping the results file current as each case
/// finishes. Every input is checked before the first benchmark starts.
pub fn measure(req: &MeasureRequest, mut node: Inventory) -> anyhow::Result<Results> {
    let warmup = match (req.sampling, req.selection.suite) {
        (Sampling::Smoke, _) => std::time::Duration::ZERO,
        // mamf-finder's sustained 30 s belongs to the longer suites.
        (_, suites::Suite::Quick) => std::time::Duration::from_secs(3),
        _ => std::time::Duration::from_secs(30),
    };
    let torch = backend::TorchOptions {
        python: req.python.clone(),
        timeout: req.timeout,
        warmup,
        llc_bytes: node.last_level_cache_bytes(),
        compile: req.compile,
    };
    let selected = backend::select(req.backend, req.device.as_deref(), &torch)?;
    if let Some(t) = selected.torch {
        node.set_torch(t);
    }
    let backends = selected.backends;
    let available = crate::node::available_memory();
    let mut plans = Vec::new();
    for b in &backends {
        let supported = |bench| b.dtypes(bench);
        let emulated = |dtype| b.emulated(dtype);
        let target = suites::Target {
            supported: &supported,
            threads: b.device().threads.unwrap_or(1),
            llc_bytes: node.last_level_cache_bytes(),
            available_memory: available,
            accelerator: b.is_accelerator(),
            framework: b.is_framework(),
            max_buffer: b.max_buffer_bytes(),
            emulated: &emulated,
        };
        let plan = suites::plan(&req.selection, &target)
            .map_err(|e| e.context(format!("planning for {}", b.device().name)))?;
        for note in &plan.notes {
            crate::say!("note: {} on {}", note, b.device().name);
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
    // The results file is checked (and created) first: a refused --out prints nothing else.
    let mut writer = ResultsWriter::create(req.out.clone(), results)?;
    let (meter, status) =
        crate::node::energy::MeterStatus::discover(&crate::node::env::Env::real(), !req.energy);
    match &meter {
        Some(m) => crate::say!(
            "energy: {} around each measurement of at least {} s",
            m.describe(),
            m.min_seconds()
        ),
        None if req.energy => crate::say!("energy: not measured: {}", status.describe()),
        None => {}
    }
    writer.results_mut().energy_meter = Some(status);
    let load = LoadSnapshot::take();
    let mut bar = Bar::new(writer.results().planned);
    let mut skipped = Vec::new();
    for (b, plan) in backends.iter().zip(&plans) {
        skipped.extend(run_cases(
            b.as_ref(),
            &plan.cases,
            &sampling,
            meter.as_ref(),
            &mut writer,
            &mut bar,
        )?);
    }
    bar.0.finish_and_clear();
    for s in &skipped {
        crate::say!("skipped: {s}");
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
                m.method.clone(),
            ]
        })
        .collect();
    text_table(
        &[
            "bench",
            "dtype",
            "shape",
            "throughput",
            "cv",
            "verified",
            "method",
        ],
        &rows,
    )
}

/// `hpcready run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    if args.io() {
        return super::run_io::run_io(args);
    }
    if let Some(flag) = [
        ("--dir", args.dir.is_some()),
        ("--checkpoint-bytes", args.checkpoint_bytes.is_some()),
    ]
    .iter()
    .find_map(|(f, set)| set.then_some(*f))
    {
        return Err(input_error(flag, "is for `--bench io` only"));
    }
    let wants_allreduce = args
        .benches()
        .is_some_and(|b| b.contains(&BenchKind::Allreduce));
    // The launcher's variables, read once for both collective paths.
    let launch = comm::job::Launch::from_env();
    let launched = launch.several().and_then(|j| j.mpi_launched());
    // torch under a launcher (several ranks): torch.distributed, all-reduce and the
    // data-parallel training step.
    if args.backend == BackendChoice::Torch {
        match launch.torch_job() {
            // A launch that cannot form one job, where one was meant: say so.
            Err(e) if wants_allreduce || launched.is_some() => return Err(e),
            Ok(Some(j)) if j.world > 1 => {
                return torch_ranks::run_torch_collective(args, &launch);
            }
            _ if wants_allreduce => return torch_ranks::run_torch_collective(args, &launch),
            _ => {}
        }
    }
    if wants_allreduce || launched.is_some() {
        return run_collective(args, &launch);
    }
    let node = Inventory::probe();
    let out = args.out.clone().unwrap_or_else(|| {
        default_report_dir(&node.host, crate::timefmt::now_unix()).join("results.json")
    });
    let req = MeasureRequest {
        selection: Selection {
            suite: args.suite,
            benches: args.benches(),
            dtypes: args.dtype.clone(),
            sizes: args.sizes.clone(),
        },
        backend: args.backend,
        device: args.device.clone(),
        sampling: args.sampling,
        out: out.clone(),
        python: args.python.resolve()?,
        timeout: std::time::Duration::from_secs(args.timeout),
        compile: args.compile,
        energy: !args.no_energy,
    };
    let results = measure(&req, node)?;
    emit(&measurement_table(&results))?;
    emit(&format!("\nresults: {}\n", out.display()))?;
    super::remember(&args.history, "run", &results, &out);
    fail_on_invalid(&results)
}

/// The launcher that started this process, in words.
fn launcher_name(launch: &comm::job::Launch) -> String {
    match launch {
        comm::job::Launch::Job(j) => j.launcher.to_string(),
        _ => "single process".into(),
    }
}

/// Refuses other benchmarks beside all-reduce in a collective run.
fn only_allreduce(args: &RunArgs) -> anyhow::Result<()> {
    match args
        .benches()
        .iter()
        .flatten()
        .find(|b| **b != BenchKind::Allreduce)
    {
        Some(other) => Err(input_error(
            "--bench",
            format!(
                "{other} runs as one process per node, all-reduce across ranks: run them in \
                 separate steps (`hpcready run --bench {other}` alone, then \
                 `srun … hpcready run --bench allreduce`); `hpcready slurm` writes such a job"
            ),
        )),
        None => Ok(()),
    }
}

/// `run --bench allreduce`, or any `run` under a launcher that started several ranks: the
/// all-reduce across every rank. Rank 0 writes the results, size by size; the others write
/// nothing.
fn run_collective(args: &RunArgs, launch: &comm::job::Launch) -> anyhow::Result<()> {
    only_allreduce(args)?;
    if let Some(sizes) = &args.sizes {
        allreduce::check_sizes(sizes)?;
    }
    if args
        .dtype
        .as_ref()
        .is_some_and(|d| d.iter().any(|d| *d != DType::F32))
    {
        return Err(input_error(
            "--dtype",
            "all-reduce sums f32 buffers; only f32 is measured",
        ));
    }
    let comm = comm::world(launch)?;
    // One process: the GPUs of this node, host-staged, when it has two or more.
    let mut gpus = Vec::new();
    if comm.size() < 2 {
        if args.device.is_some() || backend::gpu::has_gpu() {
            let choice = backend::gpu::DeviceChoice::parse(args.device.as_deref());
            gpus = backend::gpu::open(&choice)?
                .iter()
                .map(|g| g.shared())
                .collect();
        }
        if gpus.len() < 2 {
            return Err(input_error(
                "--bench allreduce",
                format!(
                    "all-reduce needs at least 2 ranks or 2 GPUs (this process has {} GPU{}): \
                     start it with `mpirun -np N hpcready run --bench allreduce` or `srun -n N …` \
                     using a build with `--features mpi`",
                    gpus.len(),
                    if gpus.len() == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    let staged = !gpus.is_empty();
    let rank0 = comm.rank() == 0;
    let layout = if staged {
        let names: Vec<String> = gpus.iter().map(|g| g.summary.name.clone()).collect();
        RankLayout {
            size: gpus.len(),
            hosts: vec![crate::node::hostname(); gpus.len()],
            library: format!("wgpu, host-staged ({})", names.join(", ")),
            launcher: "single process".into(),
            transport: None,
        }
    } else {
        RankLayout {
            size: comm.size(),
            library: comm.library(),
            launcher: launcher_name(launch),
            hosts: comm.hosts(),
            transport: None,
        }
    };
    let nodes = layout.nodes().len();
    let local = layout
        .hosts
        .iter()
        .filter(|h| **h == layout.hosts[comm.rank()])
        .count();
    let smoke = args.sampling == Sampling::Smoke;
    let mut opts = allreduce::Options::for_suite(
        args.suite,
        smoke,
        args.sizes.clone(),
        std::time::Duration::from_secs(args.timeout),
    );
    let (sizes, notes) = allreduce::fitting_sizes(
        comm.as_ref(),
        &opts.sizes,
        crate::node::available_memory(),
        local,
    );
    opts.sizes = sizes;
    let mut writer = None;
    let mut out = PathBuf::new();
    if rank0 {
        let node = Inventory::probe();
        out = args.out.clone().unwrap_or_else(|| {
            default_report_dir(&node.host, crate::timefmt::now_unix()).join("results.json")
        });
        for n in &notes {
            crate::say!("note: {n}");
        }
        let suite = if args.suite == Suite::Quick && args.sizes.is_some() {
            None
        } else {
            Some(args.suite.name().to_string())
        };
        let mut results = Results::new(node, std::env::args().collect(), suite);
        results.planned = opts.sizes.len() * 2;
        results.ranks = Some(layout.clone());
        // Rank 0's node's counter around each size (the other nodes' are not summed).
        let (meter, status) = crate::node::energy::MeterStatus::discover(
            &crate::node::env::Env::real(),
            args.no_energy,
        );
        opts.meter = meter;
        results.energy_meter = Some(status);
        crate::say!(
            "all-reduce: {} ranks on {} node{} ({}), {} sizes, {} s limit per size",
            layout.size,
            nodes,
            if nodes == 1 { "" } else { "s" },
            layout.library,
            opts.sizes.len(),
            args.timeout
        );
        writer = Some(ResultsWriter::create(out.clone(), results)?);
    }
    let load = LoadSnapshot::take();
    let mut table = Vec::new();
    let mut done = |m: &Measurement| {
        if let Some(w) = writer.as_mut() {
            if let Some(e) = &m.error {
                crate::say!("FAILED: {e}");
            }
            table.push(allreduce_row(m));
            w.push(m.clone())?;
        }
        Ok(())
    };
    if staged {
        comm::staged::run(&gpus, &opts, &mut done)?;
    } else {
        allreduce::run(comm.as_ref(), &opts, nodes, &mut done)?;
        comm.barrier();
    }
    let Some(mut w) = writer else {
        return Ok(());
    };
    let usable = w.results().node.cpu.usable_threads;
    w.results_mut().load = Some(load.report(usable));
    let results = w.finish(true)?;
    emit(&allreduce_table(&table))?;
    emit(&format!("\nresults: {}\n", out.display()))?;
    super::remember(&args.history, "run", &results, &out);
    fail_on_invalid(&results)
}

/// The all-reduce rows as a text table with nccl-tests' columns.
pub fn allreduce_table(rows: &[Vec<String>]) -> String {
    text_table(
        &[
            "bytes",
            "place",
            "time µs",
            "algbw GB/s",
            "busbw GB/s",
            "#wrong",
        ],
        rows,
    )
}

/// One line of the all-reduce table, nccl-tests' columns.
pub fn allreduce_row(m: &Measurement) -> Vec<String> {
    let (bytes, inplace) = match m.shape {
        crate::bench::Shape::Allreduce { bytes, inplace, .. } => (bytes, inplace),
        _ => (0, false),
    };
    let c = m.collective.as_ref();
    let f = |x: Option<f64>| {
        x.map(|v| crate::bench::sig(v, 3))
            .unwrap_or_else(|| "—".into())
    };
    vec![
        bytes.to_string(),
        if inplace { "in" } else { "out" }.into(),
        f(c.map(|c| c.time_us)),
        f(c.filter(|_| m.is_valid()).map(|c| c.algbw_gbs)),
        f(c.filter(|_| m.is_valid()).map(|c| c.busbw_gbs)),
        c.and_then(|c| c.wrong)
            .map(|w| w.to_string())
            .unwrap_or_default(),
    ]
}
