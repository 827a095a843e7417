//! The framework path: the user's own PyTorch (CUDA, ROCm, XPU or CPU), driven through the
//! embedded harness (`harness.py`), measuring what their training runs: `torch.mm` the way
//! mamf-finder does and `scaled_dot_product_attention` forward and backward with each SDPA
//! backend pinned. Every figure is a vendor-library one (cuBLAS/hipBLASLt, cuDNN, MKL …),
//! labelled `torch/…`, and goes through the same results → assess → report pipeline.

pub mod harness;
pub mod protocol;

use super::{Backend, DeviceInfo, Kernel, PrepareError};
use crate::bench::verify::Verification;
use crate::bench::{BenchKind, Case, DType, Work};
use crate::error::input_error;
use crate::results::{DeviceKind, TimingSource};
use harness::{Harness, HarnessError, PythonCommand};
use protocol::{Request, SdpaBackend, TrainFigures};
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The oldest torch the harness runs on (`torch.nn.attention.sdpa_kernel` arrived in 2.3).
pub const OLDEST_TORCH: &str = "2.3";

pub use crate::node::{TorchAccelerator, TorchDevice, TorchInfo};

/// The harness and what is needed to restart it after a crash or hang.
struct Session {
    python: PythonCommand,
    harness: Option<Harness>,
    deadline: Duration,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(h) = self.harness.take() {
            h.quit();
        }
    }
}

impl Session {
    /// Sends a request, first restarting the harness if it died or was stopped.
    fn ask<A: DeserializeOwned>(&mut self, req: &Request) -> Result<A, HarnessError> {
        self.ask_within(req, self.deadline)
    }

    /// [`Session::ask`] with a deadline of its own for this request.
    fn ask_within<A: DeserializeOwned>(
        &mut self,
        req: &Request,
        deadline: Duration,
    ) -> Result<A, HarnessError> {
        if !self.harness.as_mut().is_some_and(Harness::alive) {
            let h = Harness::start(&self.python)
                .map_err(|e| HarnessError::Failed(format!("{e:#}"), Vec::new()))?;
            self.harness = Some(h);
            // A restarted harness must say hello again before it measures.
            let h = self.harness.as_mut().expect("just started");
            h.ask::<TorchInfo>(&Request::Hello, hello_deadline(self.deadline))?;
        }
        let h = self.harness.as_mut().expect("started above");
        let r = h.ask(req, deadline);
        if matches!(r, Err(HarnessError::Died(_)) | Err(HarnessError::Hung(..))) {
            self.harness = None;
        }
        r
    }
}

/// How long the harness may take to start and import torch: the case deadline, but never less
/// than two minutes (a cold `import torch` from a parallel file system, or on a busy node, takes
/// tens of seconds, and is not a measurement).
fn hello_deadline(deadline: Duration) -> Duration {
    deadline.max(Duration::from_secs(120))
}

/// Starts the harness with `python` and reads what torch it has. Every way this can fail is bad
/// input (exit 2) naming the command tried and what to do.
pub fn connect(python: &PythonCommand, deadline: Duration) -> anyhow::Result<(Harness, TorchInfo)> {
    let mut h = Harness::start(python)?;
    let what = python.input();
    let hello = h
        .ask::<TorchInfo>(&Request::Hello, hello_deadline(deadline))
        .map_err(|e| {
            let advice = match &e {
                HarnessError::Failed(msg, _) if msg.contains("cannot import torch") => {
                    "this Python has no torch. Use the Python your training uses (a venv's \
                     python, `module load pytorch` first, or a container command such as \
                     --python 'apptainer exec --nv pytorch.sif python3'), or `pip install \
                     torch` into it"
                        .to_string()
                }
                HarnessError::Failed(msg, _) if msg.contains("older than") => format!(
                    "hpcready needs torch {OLDEST_TORCH} or later; load a newer PyTorch module \
                     or container"
                ),
                _ => "it did not run hpcready's PyTorch harness: is it a Python 3 command?"
                    .to_string(),
            };
            input_error(what.clone(), format!("{e}\n  {advice}"))
        })?;
    let mut info = hello;
    info.python_command = python.display();
    Ok((h, info))
}

/// Looks for the user's PyTorch with `python` (for `probe`): what it has, or why it cannot be
/// used. Never fails.
pub fn probe(python: &PythonCommand, deadline: Duration) -> crate::node::TorchProbe {
    let (probe, harness) = look(python, deadline);
    if let Some(h) = harness {
        h.quit();
    }
    probe
}

/// [`probe`], keeping the harness it started when torch answered, so that a caller who goes on
/// to measure (`auto`) does not start the user's Python a second time.
pub fn look(
    python: &PythonCommand,
    deadline: Duration,
) -> (crate::node::TorchProbe, Option<Harness>) {
    match connect(python, deadline) {
        Ok((h, info)) => (
            crate::node::TorchProbe {
                python: python.display(),
                found: Some(info),
                problem: None,
            },
            Some(h),
        ),
        Err(e) => (probe_failed(python, &e), None),
    }
}

/// What the probe records when `python` cannot be used.
fn probe_failed(python: &PythonCommand, e: &anyhow::Error) -> crate::node::TorchProbe {
    {
        crate::node::TorchProbe {
            python: python.display(),
            found: None,
            problem: Some(
                e.chain()
                    .find_map(|c| c.downcast_ref::<crate::error::InputError>())
                    .map_or_else(|| format!("{e:#}"), |ie| ie.problem.clone())
                    .replace("\n  ", " — "),
            ),
        }
    }
}

/// One device measured through torch.
pub struct TorchBackend {
    session: Arc<Mutex<Session>>,
    info: TorchInfo,
    /// The accelerator's index; `None` for torch's CPU.
    device: Option<usize>,
    flush_bytes: u64,
    /// Training steps under `torch.compile` (`--compile`).
    pub(crate) compile: bool,
}

impl std::fmt::Debug for TorchBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchBackend")
            .field("device", &self.device)
            .field("torch", &self.info.torch)
            .finish()
    }
}

/// The devices `--device` picks among torch's: an index, `all`, or (none) every accelerator.
fn pick(info: &TorchInfo, device: Option<&str>) -> anyhow::Result<Vec<Option<usize>>> {
    if !info.has_accelerator() {
        if let Some(d) = device {
            return Err(input_error(
                format!("--device {d}"),
                format!(
                    "torch ({}) sees no accelerator here; without --device it measures the CPU",
                    info.libraries()
                ),
            ));
        }
        return Ok(vec![None]);
    }
    match device {
        None | Some("all") => Ok(info.devices.iter().map(|d| Some(d.index)).collect()),
        Some(d) => {
            let i: usize = d.parse().map_err(|_| {
                input_error(
                    format!("--device {d}"),
                    "with --backend torch, name a torch device index (0, 1 …) or `all`",
                )
            })?;
            if info.devices.iter().any(|x| x.index == i) {
                Ok(vec![Some(i)])
            } else {
                Err(input_error(
                    format!("--device {d}"),
                    format!(
                        "torch sees {} device(s), 0–{}",
                        info.devices.len(),
                        info.devices.len().saturating_sub(1)
                    ),
                ))
            }
        }
    }
}

/// Opens the torch backend: one per device chosen, sharing one harness. `warmup` is the
/// sustained warm-up before the first case (mamf-finder: 30 s on a GPU).
pub fn open(
    python: &PythonCommand,
    device: Option<&str>,
    deadline: Duration,
    warmup: Duration,
    llc_bytes: u64,
) -> anyhow::Result<Vec<TorchBackend>> {
    let connected = connect(python, deadline)?;
    open_connected(python, connected, device, deadline, warmup, llc_bytes)
}

/// [`open`] on a harness already started (and greeted) with `python`.
pub fn open_connected(
    python: &PythonCommand,
    (harness, info): (Harness, TorchInfo),
    device: Option<&str>,
    deadline: Duration,
    warmup: Duration,
    llc_bytes: u64,
) -> anyhow::Result<Vec<TorchBackend>> {
    let devices = pick(&info, device)?;
    // Flush caches between calls: 256 MiB on a GPU (MI300X's last-level cache), twice the
    // last-level cache on the CPU (at least 8 MiB).
    let flush_bytes = if info.has_accelerator() {
        256 << 20
    } else {
        (2 * llc_bytes).clamp(8 << 20, 256 << 20)
    };
    let session = Arc::new(Mutex::new(Session {
        python: python.clone(),
        harness: Some(harness),
        deadline,
    }));
    let backends: Vec<TorchBackend> = devices
        .into_iter()
        .map(|d| TorchBackend {
            session: Arc::clone(&session),
            info: info.clone(),
            device: d,
            flush_bytes,
            compile: false,
        })
        .collect();
    // A cold accelerator scores higher; a CPU gets its warm-up from the sampling loop.
    if !warmup.is_zero() && info.has_accelerator() {
        for b in &backends {
            b.call::<protocol::WarmupAnswer>(&Request::Warmup {
                device: b.device.unwrap_or(0),
                seconds: warmup.as_secs_f64(),
            })
            .map_err(|e| anyhow::anyhow!("warming up {}: {e}", b.device().name))?;
        }
    }
    Ok(backends)
}

impl TorchBackend {
    /// The torch this backend measures through.
    pub fn info(&self) -> &TorchInfo {
        &self.info
    }

    fn call<A: DeserializeOwned>(&self, req: &Request) -> Result<A, HarnessError> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ask(req)
    }
}

/// The SDPA backends pinned in turn on each attention case, after the default dispatch.
fn sdpa_kernels(info: &TorchInfo, gpu: bool) -> Vec<SdpaBackend> {
    use SdpaBackend::*;
    match (gpu, info.accelerator) {
        (false, _) => vec![Default, Flash, Math],
        (true, TorchAccelerator::Cuda) => vec![Default, Flash, Efficient, Cudnn, Math],
        (true, _) => vec![Default, Flash, Efficient, Math],
    }
}

/// The SDPA backend a kernel name from [`Backend::kernels`] stands for (none: the dispatch).
fn sdpa_backend(kernel: Option<&str>) -> Result<Option<SdpaBackend>, PrepareError> {
    kernel
        .map(|k| {
            SdpaBackend::parse(k)
                .ok_or_else(|| PrepareError::Failed(format!("no SDPA backend named `{k}`")))
        })
        .transpose()
}

impl Backend for TorchBackend {
    fn name(&self) -> &'static str {
        "torch"
    }

    fn device(&self) -> DeviceInfo {
        match self
            .device
            .and_then(|i| self.info.devices.iter().find(|d| d.index == i))
        {
            Some(d) => DeviceInfo {
                name: d.name.clone(),
                kind: DeviceKind::Gpu,
                threads: None,
            },
            None => DeviceInfo {
                name: format!("CPU (torch {})", self.info.torch),
                kind: DeviceKind::Cpu,
                threads: Some(self.info.cpu_threads),
            },
        }
    }

    fn dtypes(&self, bench: BenchKind) -> Vec<DType> {
        let gpu = self.device.is_some();
        match bench {
            // fp8 where the harness finds torch and the device support it (it says why not).
            BenchKind::Matmul if gpu => {
                let mut v = vec![DType::Bf16, DType::F16, DType::F32];
                if self.info.accelerator == TorchAccelerator::Cuda {
                    v.push(DType::Tf32);
                }
                v.push(DType::Fp8);
                v
            }
            BenchKind::Matmul => vec![DType::F32, DType::Bf16, DType::Fp8],
            BenchKind::Attention if gpu => vec![DType::Bf16, DType::F16],
            BenchKind::Attention => vec![DType::F32, DType::Bf16],
            BenchKind::Train => vec![DType::Bf16, DType::F32],
            _ => Vec::new(),
        }
    }

    fn emulated(&self, dtype: DType) -> Option<String> {
        (self.device.is_none() && dtype == DType::Bf16 && self.info.cpu_bf16_native == Some(false))
            .then(|| {
                "torch has no native bf16 kernels on this CPU (oneDNN's need AVX-512 or AMX on \
                 x86, BF16 on Arm) and runs bf16 through a fallback far slower than f32"
                    .to_string()
            })
    }

    fn is_accelerator(&self) -> bool {
        self.device.is_some()
    }

    fn is_framework(&self) -> bool {
        true
    }

    fn kernels(&self, case: &Case) -> Vec<String> {
        match case.bench {
            BenchKind::Attention => sdpa_kernels(&self.info, self.device.is_some())
                .into_iter()
                .map(|k| k.name().to_string())
                .collect(),
            _ => Vec::new(),
        }
    }

    fn prepare(&self, case: &Case) -> Result<Box<dyn Kernel>, PrepareError> {
        self.prepare_kernel(case, None)
    }

    fn prepare_kernel(
        &self,
        case: &Case,
        kernel: Option<&str>,
    ) -> Result<Box<dyn Kernel>, PrepareError> {
        let req = Request::Prepare(protocol::Prepare {
            bench: case.bench,
            dtype: case.dtype,
            shape: case.shape,
            device: self.device.unwrap_or(0),
            flush_bytes: self.flush_bytes,
            kernel: sdpa_backend(kernel)?,
            compile: self.compile && case.bench == crate::bench::BenchKind::Train,
        });
        let ready = match self
            .call::<protocol::Prepared>(&req)
            .map_err(|e| PrepareError::Failed(e.to_string()))?
        {
            protocol::Prepared::Unsupported { unsupported } => {
                return Err(PrepareError::Unsupported(format!("{case}: {unsupported}")));
            }
            protocol::Prepared::Ready(r) => r,
        };
        let work = case.shape.work(case.dtype).map(|w| Work {
            flops: ready.flops,
            bytes: w.bytes,
        });
        Ok(Box::new(TorchKernel {
            session: Arc::clone(&self.session),
            method: self.method_for(case, kernel),
            variant: format!("{}; {}", ready.variant, self.info.libraries()),
            work: work.unwrap_or_default(),
            source: if self.device.is_some() {
                TimingSource::DeviceTimestamps
            } else {
                TimingSource::WallClock
            },
            figures: None,
            slowest_iteration_s: 0.0,
        }))
    }

    fn method_for(&self, case: &Case, kernel: Option<&str>) -> String {
        match sdpa_backend(kernel) {
            Ok(k) => protocol::method(case.bench, k),
            Err(_) => format!("torch/{}-{}", case.bench, kernel.unwrap_or_default()),
        }
    }
}

/// One prepared case in the harness.
struct TorchKernel {
    session: Arc<Mutex<Session>>,
    method: String,
    variant: String,
    work: Work,
    source: TimingSource,
    /// The harness's last `figures` (training steps).
    figures: Option<TrainFigures>,
    /// The slowest iteration timed so far, seconds: what verifying a training step's many
    /// steps is given time by.
    slowest_iteration_s: f64,
}

/// The most steps a training step's loss check takes (`TRAIN_STEPS` in harness.py).
const TRAIN_VERIFY_STEPS: f64 = 300.0;

impl TorchKernel {
    fn call<A: DeserializeOwned>(&self, req: &Request) -> Result<A, HarnessError> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ask(req)
    }
}

impl Kernel for TorchKernel {
    fn method(&self) -> String {
        self.method.clone()
    }

    fn variant(&self) -> String {
        self.variant.clone()
    }

    fn work(&self) -> Work {
        self.work
    }

    fn timing_source(&self) -> TimingSource {
        self.source
    }

    fn train_info(&self, median_step_s: f64) -> Option<crate::results::TrainInfo> {
        Some(self.figures.as_ref()?.at(median_step_s))
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        let a: protocol::RunAnswer = self.call(&Request::Run { iterations })?;
        if a.figures.is_some() {
            self.figures = a.figures;
        }
        if !(a.seconds.is_finite() && a.seconds >= 0.0) {
            anyhow::bail!("the harness answered a time of {} s", a.seconds);
        }
        if iterations > 0 {
            self.slowest_iteration_s = self.slowest_iteration_s.max(a.seconds / iterations as f64);
        }
        Ok(Some(Duration::from_secs_f64(a.seconds)))
    }

    fn verify(&mut self) -> Verification {
        // A training step is verified by training up to 300 steps: on a slow or busy CPU that is
        // minutes, which the case deadline (meant for one request's work) must not cut short.
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = if self.figures.is_some() {
            session.deadline.max(Duration::from_secs_f64(
                (2.0 * TRAIN_VERIFY_STEPS * self.slowest_iteration_s).min(86_400.0),
            ))
        } else {
            session.deadline
        };
        match session.ask_within::<protocol::VerifyAnswer>(&Request::Verify, deadline) {
            Ok(a) => a.verification,
            Err(e) => failed(e.to_string()),
        }
    }
}

impl Drop for TorchKernel {
    fn drop(&mut self) {
        // Frees the case's tensors; a harness that died has nothing left to free.
        let mut s = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = s.deadline;
        if let Some(h) = s.harness.as_mut()
            && h.alive()
        {
            let _ = h.ask::<protocol::Done>(&Request::Release, deadline);
        }
    }
}

fn failed(why: String) -> Verification {
    let mut v = Verification::not_run();
    v.first_failure = Some(why);
    v
}
