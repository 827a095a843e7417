//! Backends: where kernels run. A [`Backend`] prepares a [`Kernel`] for a [`Case`]; the
//! sampling loop in [`crate::measure`] then runs, verifies and times it.
//!
//! Two backends exist: [`cpu`] and [`gpu`] (wgpu). An MPI backend, and a `torch` method driving
//! the user's own PyTorch, slot in as further implementations of the same traits.

pub mod cpu;
#[cfg(feature = "test-hooks")]
pub mod fake;
pub mod gpu;

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
    /// Whether the device is an accelerator (suites use larger sizes there).
    fn is_accelerator(&self) -> bool {
        false
    }
    /// The largest single buffer the device can bind, when it has such a limit.
    fn max_buffer_bytes(&self) -> Option<u64> {
        None
    }
    /// Allocates inputs and builds the kernel for `case`.
    fn prepare(&self, case: &Case) -> Result<Box<dyn Kernel>, PrepareError>;
}

/// Backends named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// The best backend present: every hardware GPU when there is one, else the CPU.
    Auto,
    /// The CPU: GEMM through faer, blocked attention, FMA chains.
    Cpu,
    /// GPUs through wgpu (hardware GPUs, or the adapter named with --device).
    Gpu,
}

impl BackendChoice {
    /// Every choice, by name.
    pub const NAMES: [&'static str; 3] = ["auto", "cpu", "gpu"];
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            _ => Err(format!(
                "unknown backend `{s}`; known: {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// Resolves a choice (and `--device`, for GPUs) to the backends to run, in order.
pub fn select(
    choice: BackendChoice,
    device: Option<&str>,
) -> anyhow::Result<Vec<Box<dyn Backend>>> {
    cpu::peak::isa_override()?;
    #[cfg(feature = "test-hooks")]
    if let Some(fake) = fake::FakeBackend::from_env()? {
        return Ok(vec![Box::new(fake)]);
    }
    let gpus = |d: Option<&str>| -> anyhow::Result<Vec<Box<dyn Backend>>> {
        Ok(gpu::open(&gpu::DeviceChoice::parse(d))?
            .into_iter()
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .collect())
    };
    match choice {
        BackendChoice::Cpu => {
            if let Some(d) = device {
                return Err(input_error(
                    format!("--device {d}"),
                    "--device picks a GPU adapter; it does not apply to --backend cpu",
                ));
            }
            Ok(vec![Box::new(cpu::CpuBackend::new())])
        }
        BackendChoice::Gpu => gpus(device),
        BackendChoice::Auto if device.is_some() => gpus(device),
        BackendChoice::Auto if gpu::has_gpu() => gpus(None),
        BackendChoice::Auto => Ok(vec![Box::new(cpu::CpuBackend::new())]),
    }
}
