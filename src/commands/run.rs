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
    /// `--python`, for the torch backend.
    pub python: Option<String>,
    /// The longest one case's step may take (torch harness requests).
    pub timeout: std::time::Duration,
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
        let target = suites::Target {
            supported: &supported,
            threads: b.device().threads.unwrap_or(1),
            llc_bytes: node.last_level_cache_bytes(),
            available_memory: available,
            accelerator: b.is_accelerator(),
            framework: b.is_framework(),
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
    let wants_allreduce = args
        .bench
        .as_ref()
        .is_some_and(|b| b.contains(&BenchKind::Allreduce));
    let launched = comm::launcher::detect(|k| std::env::var(k).ok()).filter(|l| l.ranks > 1);
    // torch under a launcher (several ranks): torch.distributed, all-reduce and the
    // data-parallel training step.
    if args.backend == BackendChoice::Torch {
        match crate::backend::torch::dist::rank_env(|k| std::env::var(k).ok()) {
            // A launch that cannot form one job, where one was meant: say so.
            Err(e) if wants_allreduce || launched.is_some() => return Err(e),
            Ok(Some(e)) if e.world > 1 => return run_torch_collective(args),
            _ if wants_allreduce => return run_torch_collective(args),
            _ => {}
        }
    }
    if wants_allreduce || launched.is_some() {
        return run_collective(args);
    }
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
        python: args.python.clone(),
        timeout: std::time::Duration::from_secs(args.timeout),
    };
    let results = measure(&req, node)?;
    emit(&measurement_table(&results))?;
    emit(&format!("\nresults: {}\n", out.display()))?;
    fail_on_invalid(&results)
}

/// The launcher that started this process, in words.
fn launcher_name() -> String {
    comm::launcher::detect(|k| std::env::var(k).ok())
        .map(|l| l.launcher.to_string())
        .unwrap_or_else(|| "single process".into())
}

/// Refuses other benchmarks beside all-reduce in a collective run.
fn only_allreduce(args: &RunArgs) -> anyhow::Result<()> {
    match args
        .bench
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
fn run_collective(args: &RunArgs) -> anyhow::Result<()> {
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
    let comm = comm::world()?;
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
            launcher: launcher_name(),
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
            eprintln!("note: {n}");
        }
        let suite = if args.suite == Suite::Quick && args.sizes.is_some() {
            None
        } else {
            Some(args.suite.name().to_string())
        };
        let mut results = Results::new(node, std::env::args().collect(), suite);
        results.planned = opts.sizes.len() * 2;
        results.ranks = Some(layout.clone());
        eprintln!(
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
                eprintln!("FAILED: {e}");
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
    fail_on_invalid(&results)
}

/// `run --backend torch --bench allreduce` under a launcher: every rank runs the harness on its
/// own device and `torch.distributed` all-reduces (NCCL/RCCL on GPUs, gloo on the CPU), out of
/// place then in place at each size; rank 0 writes the results size by size. No MPI is needed
/// in this build: the launcher only starts the processes. A step that fails or hangs ends the
/// job, rank 0 naming the ranks that never arrived at it (from their progress files).
fn run_torch_collective(args: &RunArgs) -> anyhow::Result<()> {
    use crate::backend::torch::{self, dist, harness::HarnessError, harness::PythonCommand};
    use crate::results::{DeviceKind, MethodFamily, Origin};
    use serde_json::json;
    // Across ranks: all-reduce and the data-parallel training step (both by default).
    let benches = args
        .bench
        .clone()
        .unwrap_or_else(|| vec![BenchKind::Allreduce, BenchKind::Train]);
    if let Some(other) = benches
        .iter()
        .find(|b| !matches!(b, BenchKind::Allreduce | BenchKind::Train))
    {
        return Err(input_error(
            "--bench",
            format!(
                "across ranks torch measures allreduce and train (data-parallel); {other} runs                  as one process per node: run it in a separate step (`hpcready run --backend                  torch --bench {other}` alone); `hpcready slurm` writes such a job"
            ),
        ));
    }
    let wants = |b| benches.contains(&b);
    if let Some(sizes) = &args.sizes {
        allreduce::check_sizes(sizes)?;
    }
    if let Some(bad) = args
        .dtype
        .iter()
        .flatten()
        .find(|d| !matches!(d, DType::F32 | DType::Bf16))
    {
        return Err(input_error(
            "--dtype",
            format!(
                "{bad}: all-reduce sums f32 buffers, and the training step runs in bf16                  autocast or f32"
            ),
        ));
    }
    let env = dist::rank_env(|k| std::env::var(k).ok())?
        .filter(|e| e.world > 1)
        .ok_or_else(|| {
            input_error(
                "--backend torch --bench allreduce",
                "torch.distributed needs several ranks: start them with a launcher, e.g. \
                 `srun -n 8 hpcready run --backend torch --bench allreduce`, `mpirun -np 8 …` \
                 or `torchrun --nproc-per-node 8 …`",
            )
        })?;
    let timeout = std::time::Duration::from_secs(args.timeout);
    let rank0 = env.rank == 0;
    // Rank 0 gives up first, so that it is the one to say what went wrong.
    let deadline = if rank0 {
        timeout
    } else {
        timeout + RANK0_GRACE
    };
    let python = PythonCommand::resolve(args.python.as_deref())?;
    let (mut h, info) = torch::connect(&python, timeout)?;
    let cwd = std::env::current_dir()?;
    // What rank 0 says when a step fails: the error, and which ranks never arrived at it.
    let diagnose = |step: usize, what: String, e: HarnessError| -> anyhow::Error {
        if !rank0 {
            // Rank 0 names the ranks that did not arrive, then removes the progress files:
            // wait for that (a launcher such as mpirun ends the job at the first rank's exit).
            dist::wait_for_cleanup(&env, &cwd, timeout + RANK0_GRACE);
            return anyhow::anyhow!("rank {}: {what}: {e}", env.rank);
        }
        let missing = dist::missing(&env, &cwd, step);
        dist::clean(&env, &cwd);
        let msg = match &e {
            HarnessError::Hung(..) => {
                comm::watchdog::timeout_message(&what, timeout, missing.as_deref())
            }
            _ => format!(
                "{what} failed on rank 0: {e}\n{}; aborting the job. Results of the sizes \
                 already finished are kept.",
                comm::watchdog::who_did_not_answer(
                    missing.as_deref(),
                    "the ranks' progress files are not in a directory every node shares"
                )
            ),
        };
        WorkFailed(msg).into()
    };
    dist::arrive(&env, &cwd, 0);
    let (addr, port) = dist::meet(&env, &cwd, timeout)?;
    let host_memory = crate::node::available_memory();
    let init = h
        .request(
            &json!({"op": "dist_init", "rank": env.rank, "world": env.world,
                    "local_rank": env.local_rank, "master_addr": addr, "master_port": port,
                    "timeout_s": args.timeout + 2 * RANK0_GRACE.as_secs(),
                    "host_memory": host_memory}),
            deadline,
        )
        .map_err(|e| {
            diagnose(
                0,
                format!("joining the process group at {addr}:{port} (torch.distributed)"),
                e,
            )
        })?;
    let backend = init["backend"].as_str().unwrap_or("?").to_string();
    let hosts: Vec<String> = init["hosts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| h.as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut net_log = torch::harness::strings(&init["net_log"]);
    if let Some(lines) = test_nccl_log() {
        net_log = lines;
    }
    let transport = crate::comm::nccl_log::read(&net_log);
    let layout = RankLayout {
        size: env.world,
        hosts,
        library: format!(
            "torch.distributed {backend}{} ({})",
            init["library_version"]
                .as_str()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            info.libraries()
        ),
        launcher: env.launcher.to_string(),
        transport: transport.clone(),
    };
    let nodes = layout.nodes().len();
    let smoke = args.sampling == Sampling::Smoke;
    let mut opts = allreduce::Options::for_suite(args.suite, smoke, args.sizes.clone(), timeout);
    if !wants(BenchKind::Allreduce) {
        opts.sizes.clear();
    }
    if smoke {
        // A smoke run checks that it works: gloo on an oversubscribed CPU takes milliseconds a
        // call.
        opts.max_iterations = 20;
    }
    // Every rank got the same budget (the smallest over ranks), so every rank keeps the same
    // sizes: the largest buffer and its check need about 7× its size.
    let budget = init["budget"].as_u64().unwrap_or(u64::MAX);
    if args.sizes.is_none() && args.suite == Suite::Full && info.has_accelerator() {
        while let Some(&last) = opts.sizes.last()
            && last < (16 << 30)
            && 7 * last * 2 <= budget
        {
            opts.sizes.push(last * 2);
        }
    }
    let dropped: Vec<u64> = opts
        .sizes
        .iter()
        .copied()
        .filter(|s| s.saturating_mul(7) > budget)
        .collect();
    opts.sizes.retain(|s| s.saturating_mul(7) <= budget);
    if opts.sizes.is_empty() && wants(BenchKind::Allreduce) {
        return Err(input_error(
            "--sizes",
            format!(
                "no size fits each rank's memory share ({budget} bytes, about 7× the size is needed)"
            ),
        ));
    }
    // The training presets the device holds, in the step's type.
    let presets = if wants(BenchKind::Train) {
        suites::train_presets(args.suite, info.has_accelerator())
    } else {
        Vec::new()
    };
    let train_dtype = match &args.dtype {
        Some(d) if d.contains(&DType::Bf16) => DType::Bf16,
        Some(_) => DType::F32,
        None if info.has_accelerator() => DType::Bf16,
        None => DType::F32,
    };
    let mut writer = None;
    let mut out = PathBuf::new();
    if rank0 {
        let mut node = Inventory::probe();
        node.set_torch(crate::node::TorchProbe {
            python: python.display(),
            found: Some(info.clone()),
            problem: None,
        });
        // NCCL/RCCL's choice of network, as its own lines say (gloo prints none).
        if backend == "nccl" || !net_log.is_empty() {
            node.checklist.retain(|c| c.id != "collective-transport");
            node.checklist.push(crate::comm::nccl_log::check(
                transport.as_ref(),
                node.fabric,
                "nccl",
            ));
        }
        out = args.out.clone().unwrap_or_else(|| {
            default_report_dir(&node.host, crate::timefmt::now_unix()).join("results.json")
        });
        if !dropped.is_empty() {
            eprintln!(
                "note: sizes {dropped:?} left out: they do not fit each rank's memory share \
                 ({budget} bytes)"
            );
        }
        if let Some(t) = &transport {
            eprintln!(
                "{backend} network: {} (\"{}\")",
                t.network.describe(),
                t.evidence
            );
        }
        let mut results = Results::new(node, std::env::args().collect(), None);
        results.planned = opts.sizes.len() * 2 + 2 * presets.len();
        results.ranks = Some(layout.clone());
        eprintln!(
            "torch.distributed ({backend}): {} ranks on {nodes} node(s); {} all-reduce sizes out \
             of place and in place, {} training step(s) alone and data-parallel; {} s limit per \
             step",
            env.world,
            opts.sizes.len(),
            presets.len(),
            args.timeout
        );
        writer = Some(ResultsWriter::create(out.clone(), results)?);
    }
    let mut table = Vec::new();
    let mut step = 0;
    for &bytes in &opts.sizes {
        for inplace in [false, true] {
            step += 1;
            let started = crate::timefmt::rfc3339(crate::timefmt::now_unix());
            let iterations = opts.iterations(bytes);
            let mut req = json!({"op": "dist_allreduce", "bytes": bytes, "inplace": inplace,
                                 "iterations": iterations, "samples": opts.samples});
            match allreduce::fault() {
                Some(allreduce::Fault::Hang { rank, bytes: b })
                    if rank == env.rank && b == bytes =>
                {
                    req["fault"] = json!("hang");
                }
                Some(allreduce::Fault::Kill { rank, bytes: b })
                    if rank == env.rank && b == bytes =>
                {
                    req["fault"] = json!("crash");
                }
                Some(allreduce::Fault::Corrupt { rank, bytes: b })
                    if rank == env.rank && b == bytes =>
                {
                    req["fault"] = json!("corrupt");
                }
                _ => dist::arrive(&env, &cwd, step),
            }
            let place = if inplace { "in place" } else { "out of place" };
            let a = h.request(&req, deadline).map_err(|e| {
                diagnose(
                    step,
                    format!(
                        "allreduce of {bytes} B ({place}) through torch.distributed ({backend})"
                    ),
                    e,
                )
            })?;
            let Some(w) = writer.as_mut() else { continue };
            let samples: Vec<f64> = a["samples"]
                .as_array()
                .map(|v| v.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default();
            let wrong = a["wrong"].as_u64().unwrap_or(u64::MAX);
            let checked = a["checked"].as_u64().unwrap_or(0);
            let mut verification = allreduce::exact_check(
                wrong,
                a["first_wrong"].as_u64().unwrap_or(0),
                checked,
                &format!("{} ranks", env.world),
            );
            verification.passed &= checked > 0;
            let origin = Origin {
                backend: "torch".into(),
                device_kind: DeviceKind::Collective,
                family: MethodFamily::VendorLibrary,
                device: format!("{} ranks, torch.distributed {backend}", env.world),
                method: format!("torch/allreduce-{backend}"),
                variant: format!(
                    "{} (sum, f32), {iterations} back-to-back calls per sample after a barrier, \
                     the slowest rank's time; {}",
                    a["call"].as_str().unwrap_or("torch.distributed all_reduce"),
                    layout.library
                ),
            };
            let mut m = allreduce::measurement(
                origin,
                crate::bench::Shape::Allreduce {
                    bytes,
                    ranks: env.world as u64,
                    inplace,
                },
                started,
                verification,
                (samples, iterations),
                (nodes, wrong),
                None,
            );
            if info.has_accelerator() {
                m.timing = crate::results::TimingSource::DeviceTimestamps;
            }
            if !m.is_valid() {
                eprintln!(
                    "FAILED: allreduce of {bytes} B ({place}): {}",
                    m.verification
                        .first_failure
                        .as_deref()
                        .unwrap_or("not verified")
                );
            }
            table.push(allreduce_row(&m));
            w.push(m)?;
        }
    }
    // The training step: every rank alone (the baseline), then data-parallel.
    let (iterations, samples) = match (smoke, args.suite) {
        (true, _) => (2, 3),
        (false, Suite::Quick) => (5, 5),
        (false, _) => (10, 10),
    };
    let device = match info.devices.get(env.local_rank % info.devices.len().max(1)) {
        Some(d) if info.has_accelerator() => d.name.clone(),
        _ => format!("CPU (torch {})", info.torch),
    };
    for shape in &presets {
        let mut single: Option<crate::results::TrainInfo> = None;
        for phase in ["single", "ddp"] {
            step += 1;
            dist::arrive(&env, &cwd, step);
            let started = crate::timefmt::rfc3339(crate::timefmt::now_unix());
            let mut req = json!({"op": "dist_train", "phase": phase, "shape": shape,
                                 "dtype": train_dtype.name(), "iterations": iterations,
                                 "samples": samples,
                                 "batch": single.as_ref().map_or(0, |t| t.micro_batch)});
            if let Some(allreduce::Fault::Corrupt { rank, bytes: 0 }) = allreduce::fault()
                && rank == env.rank
                && phase == "ddp"
            {
                req["fault"] = json!("corrupt");
            }
            let what = if phase == "ddp" {
                format!("the data-parallel training step {}", shape.display())
            } else {
                format!("the training step {} alone on each rank", shape.display())
            };
            let a = h
                .request(&req, deadline)
                .map_err(|e| diagnose(step, what.clone(), e))?;
            let m = train_measurement(
                &a,
                TrainRun {
                    shape: *shape,
                    dtype: train_dtype,
                    started,
                    device: &device,
                    accelerator: info.has_accelerator(),
                    iterations,
                },
                (phase == "ddp").then_some((&layout, single.as_ref())),
            );
            if phase == "single" {
                single = m.train.clone().filter(|_| m.is_valid());
                if single.is_none() {
                    // Without a verified baseline there is nothing to scale against.
                    if let Some(w) = writer.as_mut() {
                        eprintln!("FAILED: {what}: {}", m.error.as_deref().unwrap_or(""));
                        w.push(m)?;
                    }
                    break;
                }
            }
            if let Some(w) = writer.as_mut() {
                if !m.is_valid() {
                    eprintln!("FAILED: {what}: {}", m.error.as_deref().unwrap_or(""));
                }
                if let Some(dp) = m.train.as_ref().and_then(|t| t.data_parallel.as_ref()) {
                    eprintln!(
                        "data-parallel {}: {:.0} tokens/s per rank across {} ranks, {:.0} \
                         alone: scaling efficiency {:.1}%",
                        shape.display(),
                        m.train.as_ref().map_or(0.0, |t| t.tokens_per_s),
                        dp.ranks,
                        dp.single_tokens_per_s,
                        dp.efficiency * 100.0
                    );
                }
                w.push(m)?;
            }
        }
    }
    h.quit();
    dist::clean(&env, &cwd);
    let Some(w) = writer else {
        return Ok(());
    };
    let results = w.finish(true)?;
    emit(&allreduce_table(&table))?;
    emit(&format!("\nresults: {}\n", out.display()))?;
    fail_on_invalid(&results)
}

/// What a training measurement across ranks was.
struct TrainRun<'a> {
    shape: crate::bench::Shape,
    dtype: DType,
    started: String,
    device: &'a str,
    accelerator: bool,
    iterations: u64,
}

/// A training step measured across ranks (the harness's answer `a`): alone on every rank, or
/// data-parallel (`ddp`: the rank layout and the verified single-rank step it scales from).
fn train_measurement(
    a: &serde_json::Value,
    run: TrainRun,
    ddp: Option<(&RankLayout, Option<&crate::results::TrainInfo>)>,
) -> Measurement {
    use crate::results::{DeviceKind, MethodFamily, Origin, TimingSource, TrainInfo};
    let samples: Vec<f64> = a["samples"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    let verification = serde_json::from_value(a["verification"].clone()).unwrap_or_else(|e| {
        let mut v = crate::bench::verify::Verification::not_run();
        v.first_failure = Some(format!("the harness's verification could not be read: {e}"));
        v
    });
    let origin = Origin {
        backend: "torch".into(),
        device_kind: if run.accelerator {
            DeviceKind::Gpu
        } else {
            DeviceKind::Cpu
        },
        family: MethodFamily::VendorLibrary,
        device: match ddp {
            Some((l, _)) => format!("{} ranks × {}", l.size, run.device),
            None => run.device.to_string(),
        },
        method: a["method"].as_str().unwrap_or("torch/train-llama").into(),
        variant: format!(
            "{}; {}",
            a["variant"].as_str().unwrap_or(""),
            match ddp {
                Some((l, _)) => format!("{}, launched by {}", l.library, l.launcher),
                None => "every rank alone on its own device at the same time, no communication \
                         (the data-parallel baseline); the slowest rank's time"
                    .into(),
            }
        ),
    };
    let mut m = Measurement::pending(
        BenchKind::Train,
        run.dtype,
        run.shape,
        origin,
        if run.accelerator {
            TimingSource::DeviceTimestamps
        } else {
            TimingSource::WallClock
        },
    );
    m.started_at = run.started;
    if let Some(flops) = a["flops"].as_f64() {
        m.work.flops = flops;
    }
    m.record(verification, samples, run.iterations);
    if let Some(step_s) = m.stats.as_ref().map(|s| s.median).filter(|s| *s > 0.0) {
        let info = crate::backend::torch::train_info(&a["figures"], step_s);
        let tokens_per_s = info.tokens_per_s;
        m.train = Some(TrainInfo {
            data_parallel: ddp.and_then(|(l, single)| {
                single.map(|s| crate::results::DataParallel {
                    ranks: l.size,
                    nodes: l.nodes().len(),
                    library: l.library.clone(),
                    single_tokens_per_s: s.tokens_per_s,
                    single_step_s: s.step_s,
                    efficiency: tokens_per_s / s.tokens_per_s,
                })
            }),
            ..info
        });
    }
    m
}

/// How much longer than rank 0 the other ranks wait for a step, so that rank 0 (which writes the
/// results and names the ranks that did not arrive) is the first to give up.
const RANK0_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Test hook (`test-hooks` builds only): `HPCREADY_TEST_NCCL_LOG=FILE` stands for the NCCL/RCCL
/// INFO lines the harness captured, so the transport check runs end to end on a CPU.
#[cfg(feature = "test-hooks")]
fn test_nccl_log() -> Option<Vec<String>> {
    let path = std::env::var_os("HPCREADY_TEST_NCCL_LOG")?;
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.lines().map(String::from).collect())
}

/// Without `test-hooks` the captured lines are the only ones.
#[cfg(not(feature = "test-hooks"))]
fn test_nccl_log() -> Option<Vec<String>> {
    None
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
