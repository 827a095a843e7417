//! `run --backend torch` across ranks: every rank runs the harness on its own device and
//! `torch.distributed` all-reduces (NCCL/RCCL on GPUs, gloo on the CPU) and trains
//! data-parallel (DDP); rank 0 writes the results step by step. The driver sits beside MPI's
//! all-reduce loop (`comm::allreduce`); `commands::run` only turns the command line into a
//! [`Plan`] and prints what comes back.

use super::job::{self as dist, Job as RankJob, Launch};
use super::{allreduce, watchdog};
use crate::backend::torch::harness::{Harness, HarnessError, PythonCommand};
use crate::backend::torch::protocol::{self, Fault, Request};
use crate::backend::torch::{self, TorchInfo};
use crate::bench::suites::{self, Suite};
use crate::bench::{BenchKind, DType, Shape};
use crate::error::{WorkFailed, input_error};
use crate::node::Inventory;
use crate::results::io::ResultsWriter;
use crate::results::io::default_report_dir;
use crate::results::{DeviceKind, MethodFamily, Origin, RankLayout, Results, TimingSource};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::time::Duration;
use train::TrainPlan;

mod train;

/// How much longer than rank 0 the other ranks wait for a step, so that rank 0 (which writes the
/// results and names the ranks that did not arrive) is the first to give up.
const RANK0_GRACE: Duration = Duration::from_secs(10);

/// What a torch.distributed job measures, from the command line (checked there).
#[derive(Debug, Clone)]
pub struct Plan {
    /// All-reduce, the data-parallel training step, or both.
    pub benches: Vec<BenchKind>,
    /// All-reduce sizes asked for (else the suite's).
    pub sizes: Option<Vec<u64>>,
    /// The training step's types asked for (else bf16 on an accelerator, f32 on a CPU).
    pub dtype: Option<Vec<DType>>,
    /// The suite: which sizes and training presets.
    pub suite: Suite,
    /// A smoke run: fewer iterations, to check that it works.
    pub smoke: bool,
    /// The limit on one step, on every rank.
    pub timeout: Duration,
    /// The user's Python.
    pub python: PythonCommand,
    /// Where rank 0 writes the results (else `reports/<host>-<time>/results.json`).
    pub out: Option<PathBuf>,
    /// The training steps under `torch.compile`.
    pub compile: bool,
    /// Read rank 0's node's energy counter over the timed training steps.
    pub energy: bool,
}

/// What rank 0 wrote: the results and where they are. Other ranks write nothing.
#[derive(Debug)]
pub struct Written {
    /// The finished results.
    pub results: Results,
    /// Their file.
    pub path: PathBuf,
}

/// Runs the job on this rank, under a launcher: all-reduce out of place then in place at each
/// size, then each training preset alone on every rank and data-parallel. No MPI is needed in
/// this build: the launcher only starts the processes. A step that fails or hangs ends the job,
/// rank 0 naming the ranks that never arrived at it (from their progress files). Rank 0 returns
/// what it wrote.
pub fn run(plan: &Plan, launch: &Launch) -> anyhow::Result<Option<Written>> {
    let wants = |b| plan.benches.contains(&b);
    let env = launch.torch_job()?.filter(|e| e.world > 1).ok_or_else(|| {
        input_error(
            "--backend torch --bench allreduce",
            "torch.distributed needs several ranks: start them with a launcher, e.g. \
                 `srun -n 8 hpcready run --backend torch --bench allreduce`, `mpirun -np 8 …` \
                 or `torchrun --nproc-per-node 8 …`",
        )
    })?;
    let timeout = plan.timeout;
    let python = &plan.python;
    let (h, info) = torch::connect(python, timeout)?;
    let mut job = Job {
        rank0: env.rank == 0,
        // Rank 0 gives up first, so that it is the one to say what went wrong.
        deadline: if env.rank == 0 {
            timeout
        } else {
            timeout + RANK0_GRACE
        },
        timeout,
        cwd: std::env::current_dir()?,
        env,
        h,
    };
    let group = job.join(timeout.as_secs(), &info)?;
    let (opts, dropped) = plan_sizes(plan, group.budget, &info, wants(BenchKind::Allreduce))?;
    // The training presets the device holds, in the step's type.
    let presets = if wants(BenchKind::Train) {
        suites::train_presets(plan.suite, info.has_accelerator())
    } else {
        Vec::new()
    };
    let train_dtype = match &plan.dtype {
        Some(d) if d.contains(&DType::Bf16) => DType::Bf16,
        Some(_) => DType::F32,
        None if info.has_accelerator() => DType::Bf16,
        None => DType::F32,
    };
    let mut out = PathBuf::new();
    let mut writer = None;
    let mut recorder = None;
    if job.rank0 {
        let mut results = rank0_results(python, &info, &group);
        // Rank 0's node's counter, recorded while the steps run (they are timed in the harness).
        let (meter, status) = crate::node::energy::MeterStatus::discover(
            &crate::node::env::Env::real(),
            !plan.energy,
        );
        recorder = meter.map(crate::node::energy::recorder::Recorder::start);
        results.energy_meter = Some(status);
        out = plan.out.clone().unwrap_or_else(|| {
            default_report_dir(&results.node.host, crate::timefmt::now_unix()).join("results.json")
        });
        if !dropped.is_empty() {
            crate::say!(
                "note: sizes {dropped:?} left out: they do not fit each rank's memory share \
                 ({} bytes)",
                group.budget
            );
        }
        if let Some(t) = &group.layout.transport {
            crate::say!(
                "{} network: {} (\"{}\")",
                group.backend,
                t.network.describe(),
                t.evidence
            );
        }
        crate::say!(
            "torch.distributed ({}): {} ranks on {} node(s); {} all-reduce sizes out of place \
             and in place, {} training step(s) alone and data-parallel; {} s limit per step",
            group.backend,
            job.env.world,
            group.layout.nodes().len(),
            opts.sizes.len(),
            presets.len(),
            timeout.as_secs()
        );
        results.planned = opts.sizes.len() * 2 + 3 * presets.len();
        writer = Some(ResultsWriter::create(out.clone(), results)?);
    }
    let mut step = 0;
    job.allreduce_sizes(
        &opts,
        &group,
        &info,
        &mut step,
        writer.as_mut(),
        recorder.as_ref(),
    )?;
    let train = TrainPlan {
        dtype: train_dtype,
        smoke: plan.smoke,
        suite: plan.suite,
        compile: plan.compile,
    };
    job.train_steps(
        &presets,
        &train,
        (&group, &info),
        &mut step,
        writer.as_mut(),
        recorder.as_ref(),
    )?;
    let Job { h, env, cwd, .. } = job;
    h.quit();
    dist::clean(&env, &cwd);
    let Some(w) = writer else {
        return Ok(None);
    };
    Ok(Some(Written {
        results: w.finish(true)?,
        path: out,
    }))
}

/// The all-reduce sizes every rank runs, and those left out for memory. Every rank got the same
/// budget (the smallest over ranks), so every rank keeps the same sizes: the largest buffer and
/// its check need about 7× its size. A full suite on GPUs goes on to 16 GiB where that fits.
fn plan_sizes(
    plan: &Plan,
    budget: u64,
    info: &TorchInfo,
    wanted: bool,
) -> anyhow::Result<(allreduce::Options, Vec<u64>)> {
    let smoke = plan.smoke;
    let mut opts =
        allreduce::Options::for_suite(plan.suite, smoke, plan.sizes.clone(), plan.timeout);
    if !wanted {
        opts.sizes.clear();
    }
    if smoke {
        // A smoke run checks that it works: gloo on an oversubscribed CPU takes milliseconds a
        // call.
        opts.max_iterations = 20;
    }
    if plan.sizes.is_none() && plan.suite == Suite::Full && info.has_accelerator() {
        while let Some(&last) = opts.sizes.last()
            && last < (16 << 30)
            && 7 * last * 2 <= budget
        {
            opts.sizes.push(last * 2);
        }
    }
    let fits = |s: &u64| s.saturating_mul(7) <= budget;
    let dropped: Vec<u64> = opts.sizes.iter().copied().filter(|s| !fits(s)).collect();
    opts.sizes.retain(fits);
    if opts.sizes.is_empty() && wanted {
        return Err(input_error(
            "--sizes",
            format!(
                "no size fits each rank's memory share ({budget} bytes, about 7× the size is needed)"
            ),
        ));
    }
    Ok((opts, dropped))
}

/// Rank 0's results: the node with the torch it found and, on NCCL/RCCL, the network it chose
/// as its own lines say (gloo prints none).
fn rank0_results(python: &PythonCommand, info: &TorchInfo, group: &Group) -> Results {
    let mut node = Inventory::probe();
    node.set_torch(crate::node::TorchProbe {
        python: python.display(),
        found: Some(info.clone()),
        problem: None,
    });
    if group.backend == "nccl" || group.has_net_log {
        node.checklist.retain(|c| c.id != "collective-transport");
        node.checklist.push(super::nccl_log::check(
            group.layout.transport.as_ref(),
            node.fabric,
            "nccl",
        ));
    }
    let mut results = Results::new(node, std::env::args().collect(), None);
    results.ranks = Some(group.layout.clone());
    results
}

/// This rank's part in the job: its harness, and how long it waits for a step.
struct Job {
    env: RankJob,
    h: Harness,
    rank0: bool,
    timeout: Duration,
    deadline: Duration,
    cwd: PathBuf,
}

/// The process group once joined.
struct Group {
    /// torch.distributed's backend (`nccl` also for RCCL, `gloo`).
    backend: String,
    layout: RankLayout,
    /// Whether NCCL/RCCL printed lines about its network.
    has_net_log: bool,
    /// Bytes of memory each rank may use (the smallest over ranks).
    budget: u64,
}

impl Job {
    /// What rank 0 says when a step fails: the error, and which ranks never arrived at it.
    fn diagnose(&self, step: usize, what: String, e: HarnessError) -> anyhow::Error {
        if !self.rank0 {
            // Rank 0 names the ranks that did not arrive, then removes the progress files:
            // wait for that (a launcher such as mpirun ends the job at the first rank's exit).
            dist::wait_for_cleanup(&self.env, &self.cwd, self.timeout + RANK0_GRACE);
            return anyhow::anyhow!("rank {}: {what}: {e}", self.env.rank);
        }
        let missing = dist::missing(&self.env, &self.cwd, step);
        let msg = match &e {
            HarnessError::Hung(..) => {
                watchdog::timeout_message(&what, self.timeout, missing.as_deref())
            }
            _ => format!(
                "{what} failed on rank 0: {e}\n{}; aborting the job. Results of the sizes \
                 already finished are kept.",
                watchdog::who_did_not_answer(
                    missing.as_deref(),
                    "the ranks' progress files are not in a directory every node shares"
                )
            ),
        };
        // Said before the progress files go: removing them lets the other ranks exit, and a
        // launcher such as mpirun then ends rank 0 too, possibly before its error is printed.
        crate::say!("error: {msg}");
        dist::clean(&self.env, &self.cwd);
        WorkFailed("the torch.distributed job was aborted (the reason is above)".into()).into()
    }

    /// One step of the job: the harness's answer, or the job's end saying what went wrong.
    fn ask<A: DeserializeOwned>(
        &mut self,
        req: &Request,
        step: usize,
        what: impl FnOnce() -> String,
    ) -> anyhow::Result<A> {
        match self.h.ask(req, self.deadline) {
            Ok(a) => Ok(a),
            Err(e) => Err(self.diagnose(step, what(), e)),
        }
    }

    /// Meets the other ranks and joins the process group.
    fn join(&mut self, timeout_s: u64, info: &TorchInfo) -> anyhow::Result<Group> {
        dist::arrive(&self.env, &self.cwd, 0);
        let (addr, port) = dist::meet(&self.env, &self.cwd, self.timeout)?;
        let req = Request::DistInit(protocol::DistInit {
            rank: self.env.rank,
            world: self.env.world,
            local_rank: self.env.local_rank,
            master_addr: addr.clone(),
            master_port: port,
            timeout_s: timeout_s + 2 * RANK0_GRACE.as_secs(),
            host_memory: crate::node::available_memory(),
        });
        let init: protocol::DistInitAnswer = self.ask(&req, 0, || {
            format!("joining the process group at {addr}:{port} (torch.distributed)")
        })?;
        let backend = init.backend;
        let mut net_log = init.net_log;
        if let Some(lines) = test_nccl_log() {
            net_log = lines;
        }
        let mut hosts = init.hosts;
        if let Some(h) = test_hosts(hosts.len()) {
            hosts = h;
        }
        let layout = RankLayout {
            size: self.env.world,
            hosts,
            library: format!(
                "torch.distributed {backend}{} ({})",
                init.library_version
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default(),
                info.libraries()
            ),
            launcher: self.env.launcher.to_string(),
            transport: super::nccl_log::read(&net_log),
        };
        Ok(Group {
            backend,
            layout,
            has_net_log: !net_log.is_empty(),
            budget: init.budget,
        })
    }

    /// The all-reduce at every size, out of place then in place; rank 0 writes each as it
    /// finishes.
    fn allreduce_sizes(
        &mut self,
        opts: &allreduce::Options,
        group: &Group,
        info: &TorchInfo,
        step: &mut usize,
        mut writer: Option<&mut ResultsWriter>,
        recorder: Option<&crate::node::energy::recorder::Recorder>,
    ) -> anyhow::Result<()> {
        let backend = &group.backend;
        let world = self.env.world;
        for &bytes in &opts.sizes {
            for inplace in [false, true] {
                *step += 1;
                let started = crate::timefmt::rfc3339(crate::timefmt::now_unix());
                let iterations = opts.iterations(bytes);
                let fault = self.fault_at(bytes);
                if fault.is_none() {
                    dist::arrive(&self.env, &self.cwd, *step);
                }
                let req = Request::DistAllreduce(protocol::DistAllreduce {
                    bytes,
                    inplace,
                    iterations,
                    samples: opts.samples as u64,
                    fault,
                });
                let place = if inplace { "in place" } else { "out of place" };
                let a: protocol::AllreduceAnswer = self.ask(&req, *step, || {
                    format!(
                        "allreduce of {bytes} B ({place}) through torch.distributed ({backend})"
                    )
                })?;
                let Some(w) = writer.as_deref_mut() else {
                    continue;
                };
                let energy = recorder
                    .zip(a.window)
                    .map(|(r, [t0, t1])| r.window(t0, t1, a.samples.len() as u64 * iterations));
                let samples = a.samples;
                let wrong = a.wrong;
                let checked = a.checked;
                let mut verification = allreduce::exact_check(
                    wrong,
                    a.first_wrong,
                    checked,
                    &format!("{world} ranks"),
                );
                verification.passed &= checked > 0;
                let origin = Origin {
                    backend: "torch".into(),
                    device_kind: DeviceKind::Collective,
                    family: MethodFamily::VendorLibrary,
                    device: format!("{world} ranks, torch.distributed {backend}"),
                    method: format!("torch/allreduce-{backend}"),
                    variant: format!(
                        "{} (sum, f32), {iterations} back-to-back calls per sample after a \
                         barrier, the slowest rank's time; {}",
                        a.call, group.layout.library
                    ),
                };
                let mut m = allreduce::measurement(
                    origin,
                    Shape::Allreduce {
                        bytes,
                        ranks: world as u64,
                        inplace,
                    },
                    started,
                    verification,
                    (samples, iterations),
                    (group.layout.nodes().len(), wrong),
                    None,
                );
                m.energy = energy;
                if info.has_accelerator() {
                    m.timing = TimingSource::DeviceTimestamps;
                }
                if !m.is_valid() {
                    crate::say!(
                        "FAILED: allreduce of {bytes} B ({place}): {}",
                        m.verification
                            .first_failure
                            .as_deref()
                            .unwrap_or("not verified")
                    );
                }
                w.push(m)?;
            }
        }
        Ok(())
    }

    /// The fault a test asked this rank to commit at `bytes` (test-hooks builds only).
    fn fault_at(&self, bytes: u64) -> Option<Fault> {
        let (rank, at, what) = match allreduce::fault()? {
            allreduce::Fault::Hang { rank, bytes } => (rank, bytes, Fault::Hang),
            allreduce::Fault::Kill { rank, bytes } => (rank, bytes, Fault::Crash),
            allreduce::Fault::Corrupt { rank, bytes } => (rank, bytes, Fault::Corrupt),
        };
        (rank == self.env.rank && at == bytes).then_some(what)
    }
}

/// Test hook (`test-hooks` builds only): `HPCREADY_TEST_NCCL_LOG=FILE` stands for the NCCL/RCCL
/// INFO lines the harness captured, so the transport check runs end to end on a CPU.
#[cfg(feature = "test-hooks")]
fn test_nccl_log() -> Option<Vec<String>> {
    let path = std::env::var_os("HPCREADY_TEST_NCCL_LOG")?;
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.lines().map(String::from).collect())
}

/// Test hook (`test-hooks` builds only): `HPCREADY_TEST_HOSTS=a,a,b,b` names each rank's host,
/// so ranks on one machine stand for several nodes (the scaling run's node counts in CI).
#[cfg(feature = "test-hooks")]
pub(crate) fn test_hosts(ranks: usize) -> Option<Vec<String>> {
    let list = std::env::var("HPCREADY_TEST_HOSTS").ok()?;
    let hosts: Vec<String> = list.split(',').map(|h| h.trim().to_string()).collect();
    (hosts.len() >= ranks).then(|| hosts[..ranks].to_vec())
}

#[cfg(not(feature = "test-hooks"))]
pub(crate) fn test_hosts(_ranks: usize) -> Option<Vec<String>> {
    None
}

/// Without `test-hooks` the captured lines are the only ones.
#[cfg(not(feature = "test-hooks"))]
fn test_nccl_log() -> Option<Vec<String>> {
    None
}
