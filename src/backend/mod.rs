//! Backends: where kernels run. A [`Backend`] prepares a [`Kernel`] for a [`Case`]; the
//! sampling loop in [`crate::measure`] then runs, verifies and times it.
//!
//! Two backends exist: [`cpu`] and [`gpu`] (wgpu). An MPI backend, and a `torch` method driving
//! the user's own PyTorch, slot in as further implementations of the same traits.

pub mod cpu;
#[cfg(feature = "test-hooks")]
pub mod fake;
pub mod gpu;
pub mod torch;

use crate::bench::verify::Verification;
use crate::bench::{BenchKind, Case, DType, Work};
use crate::error::input_error;
use crate::results::DeviceKind;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A device a backend runs on, as recorded with every measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Human-readable name, e.g. `AMD EPYC 7B13 (2 threads)`.
    pub name: String,
    /// What its figures stand for: the node's CPU or one GPU.
    pub kind: DeviceKind,
    /// Threads (CPU) used by the kernels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

/// Why a case cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// This backend has no kernel for the case (e.g. f16 on a CPU build); the case is skipped.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The case does not fit (memory, limits); bad input, refused before allocating.
    #[error("refused: {0}")]
    TooLarge(String),
    /// Preparing it failed at run time (the PyTorch harness crashed, ran out of memory …): the
    /// case is kept as an invalid measurement with this reason.
    #[error("{0}")]
    Failed(String),
}

/// One prepared benchmark: inputs allocated, ready to run.
pub trait Kernel: Send {
    /// `cpu/gemm`, `cpu/attention-blocked`, … — the backend plus the kernel or library.
    fn method(&self) -> String;
    /// Details of the variant that runs: ISA path, threads, block sizes.
    fn variant(&self) -> String;
    /// The work of one run.
    fn work(&self) -> Work;
    /// Runs the operation `iterations` times back to back. Returns the device's own timing of
    /// those iterations when the backend has one (GPU timestamp queries), else `None` and the
    /// caller times with the wall clock.
    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>>;
    /// Checks the output of the last run against a float64 reference.
    fn verify(&mut self) -> Verification;
    /// What the times `run` returns are: the device's timer unless the kernel says otherwise
    /// (torch on the CPU times each call with the host clock).
    fn timing_source(&self) -> crate::results::TimingSource {
        crate::results::TimingSource::DeviceTimestamps
    }
    /// A training step's figures (model, batch, memory), given its median step time.
    fn train_info(&self, _median_step_s: f64) -> Option<crate::results::TrainInfo> {
        None
    }
}

/// A place kernels run.
pub trait Backend {
    /// `cpu`, `gpu`, `mpi`.
    fn name(&self) -> &'static str;
    /// The device the kernels run on.
    fn device(&self) -> DeviceInfo;
    /// What the device's figures stand for.
    fn device_kind(&self) -> DeviceKind {
        self.device().kind
    }
    /// The data types this backend computes `bench` in.
    fn dtypes(&self, bench: BenchKind) -> Vec<DType>;
    /// The method a case (with one of [`Backend::kernels`]) is recorded under, whether it
    /// prepares or not: the backend's name, the benchmark and the kernel.
    fn method_for(&self, case: &Case, kernel: Option<&str>) -> String {
        let suffix = kernel.map(|k| format!("-{k}")).unwrap_or_default();
        format!("{}/{}{suffix}", self.name(), case.bench)
    }
    /// Why the device only emulates `dtype`, far slower than its native types (the suites
    /// leave it out unless `--dtype` names it); `None` when it runs natively.
    fn emulated(&self, _dtype: DType) -> Option<String> {
        None
    }
    /// Whether the device is an accelerator (suites use larger sizes there).
    fn is_accelerator(&self) -> bool {
        false
    }
    /// Whether it measures through a framework's vendor libraries (PyTorch), not our kernels.
    fn is_framework(&self) -> bool {
        false
    }
    /// The largest single buffer the device can bind, when it has such a limit.
    fn max_buffer_bytes(&self) -> Option<u64> {
        None
    }
    /// Allocates inputs and builds the kernel for `case`.
    fn prepare(&self, case: &Case) -> Result<Box<dyn Kernel>, PrepareError>;
    /// The implementations of `case` measured one after the other, each its own measurement
    /// (torch's SDPA backends); empty when the backend has one.
    fn kernels(&self, _case: &Case) -> Vec<String> {
        Vec::new()
    }
    /// [`Backend::prepare`] with one of [`Backend::kernels`] named.
    fn prepare_kernel(
        &self,
        case: &Case,
        _kernel: Option<&str>,
    ) -> Result<Box<dyn Kernel>, PrepareError> {
        self.prepare(case)
    }
}

/// Backends named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// The best paths present: PyTorch when it sees an accelerator, and every hardware GPU
    /// Vulkan sees; else the CPU.
    Auto,
    /// The CPU: our GEMM (or faer), blocked attention, FMA chains.
    Cpu,
    /// GPUs through wgpu (hardware GPUs, or the adapter named with --device).
    Gpu,
    /// The user's PyTorch: its accelerators, or its CPU path when it sees none.
    Torch,
}

impl BackendChoice {
    /// Every choice, by name.
    pub const NAMES: [&'static str; 4] = ["auto", "cpu", "gpu", "torch"];
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            "torch" => Ok(Self::Torch),
            _ => Err(format!(
                "unknown backend `{s}`; known: {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// How to reach the user's PyTorch, for `--backend torch` and `auto`.
#[derive(Debug, Clone)]
pub struct TorchOptions {
    /// The user's Python (`--python`, `$HPCREADY_PYTHON`, else `python3`), resolved once.
    pub python: torch::harness::PythonCommand,
    /// The longest one harness request (one case's preparation or one sample) may take.
    pub timeout: Duration,
    /// The sustained warm-up before the first case.
    pub warmup: Duration,
    /// The node's last-level cache, for the CPU's cache flush.
    pub llc_bytes: u64,
    /// Training steps under `torch.compile` (`--compile`).
    pub compile: bool,
}

/// The backends `--backend` (and `--device`) select. `auto` measures through PyTorch when the
/// Python found (`--python`, `HPCREADY_PYTHON`, else `python3`) has a torch that sees an
/// accelerator, and through Vulkan when a hardware GPU is there: both, each labelled by method;
/// on a node without either it is our CPU backend (torch's CPU path only when asked for).
/// What [`select`] chose.
pub struct Selected {
    /// The backends, in the order they run.
    pub backends: Vec<Box<dyn Backend>>,
    /// The user's PyTorch, when it was looked for (`torch`, `auto`): recorded with the node.
    pub torch: Option<crate::node::TorchProbe>,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field(
                "backends",
                &self.backends.iter().map(|b| b.name()).collect::<Vec<_>>(),
            )
            .field("torch", &self.torch)
            .finish()
    }
}

pub fn select(
    choice: BackendChoice,
    device: Option<&str>,
    torch_opts: &TorchOptions,
) -> anyhow::Result<Selected> {
    let plain = |backends| Selected {
        backends,
        torch: None,
    };
    cpu::peak::isa_override()?;
    cpu::sgemm::depth_override()?;
    #[cfg(feature = "test-hooks")]
    if let Some(fake) = fake::FakeBackend::from_env()? {
        return Ok(plain(vec![Box::new(fake)]));
    }
    let gpus = |d: Option<&str>| -> anyhow::Result<Vec<Box<dyn Backend>>> {
        Ok(gpu::open(&gpu::DeviceChoice::parse(d))?
            .into_iter()
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .collect())
    };
    let open_torch = |d: Option<&str>| -> anyhow::Result<Selected> {
        let python = &torch_opts.python;
        let opened = torch::open(
            python,
            d,
            torch_opts.timeout,
            torch_opts.warmup,
            torch_opts.llc_bytes,
        )?;
        let probe = opened.first().map(|b| crate::node::TorchProbe {
            python: python.display(),
            found: Some(b.info().clone()),
            problem: None,
        });
        Ok(Selected {
            backends: opened
                .into_iter()
                .map(|mut b| {
                    b.compile = torch_opts.compile;
                    Box::new(b) as Box<dyn Backend>
                })
                .collect(),
            torch: probe,
        })
    };
    match choice {
        BackendChoice::Cpu => {
            if let Some(d) = device {
                return Err(input_error(
                    format!("--device {d}"),
                    "--device picks a GPU adapter; it does not apply to --backend cpu",
                ));
            }
            Ok(plain(vec![Box::new(cpu::CpuBackend::new())]))
        }
        BackendChoice::Gpu => Ok(plain(gpus(device)?)),
        BackendChoice::Torch => open_torch(device),
        BackendChoice::Auto if device.is_some() => Ok(plain(gpus(device)?)),
        BackendChoice::Auto => {
            let (mut v, probe) = auto_torch(torch_opts)?;
            if gpu::has_gpu() {
                v.extend(gpus(None)?);
            }
            if v.is_empty() {
                v.push(Box::new(cpu::CpuBackend::new()));
            }
            Ok(Selected {
                backends: v,
                torch: Some(probe),
            })
        }
    }
}

/// `auto`'s torch: the backends when the Python found has a torch that sees an accelerator.
/// A Python that was named (`--python`, `HPCREADY_PYTHON`) and fails is an error; the default
/// `python3` without torch is not (most CPU nodes).
fn auto_torch(
    opts: &TorchOptions,
) -> anyhow::Result<(Vec<Box<dyn Backend>>, crate::node::TorchProbe)> {
    let python = &opts.python;
    let named = python.origin != torch::harness::PythonOrigin::Default;
    let deadline = opts.timeout.min(Duration::from_secs(120));
    // The harness started to look stays open for the measurements: the user's Python (a
    // container, on a GPU node) starts once.
    let (probe, harness) = if named {
        // A named Python that cannot measure is an error, never a silent fallback.
        let (h, info) = torch::connect(python, deadline)?;
        (
            crate::node::TorchProbe {
                python: python.display(),
                found: Some(info),
                problem: None,
            },
            Some(h),
        )
    } else {
        torch::look(python, deadline)
    };
    let (Some(info), Some(harness)) = (probe.found.clone(), harness) else {
        return Ok((Vec::new(), probe));
    };
    if !info.has_accelerator() {
        if named {
            crate::say!(
                "note: {} ({}) sees no accelerator; measuring with hpcready's own kernels \
                 (--backend torch measures torch's CPU path)",
                python.display(),
                info.libraries()
            );
        }
        harness.quit();
        return Ok((Vec::new(), probe));
    }
    let backends = torch::open_connected(
        python,
        (harness, info),
        None,
        opts.timeout,
        opts.warmup,
        opts.llc_bytes,
    )?
    .into_iter()
    .map(|mut b| {
        b.compile = opts.compile;
        Box::new(b) as Box<dyn Backend>
    })
    .collect();
    Ok((backends, probe))
}
