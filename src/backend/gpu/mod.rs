//! The GPU backend: WGSL kernels under `kernels/`, run through wgpu on Vulkan, Metal or DX12, so
//! the same code runs on NVIDIA, AMD and Intel GPUs.
//!
//! Method:
//! - The device is created with the adapter's own limits (`adapter.limits()`), not WebGPU's
//!   defaults, and work is sized against them: a buffer larger than the storage-binding limit is
//!   refused with a message before anything is allocated.
//! - Time comes from timestamp queries written at compute-pass boundaries when the adapter offers
//!   them (resolved, then copied in a separate encoder); otherwise the wall clock around
//!   submit-and-wait. Each sample encodes many dispatches in one pass to hide submit overhead.
//! - Every kernel's output is read back and verified against the CPU float64 reference before it
//!   is timed.
//! - Software adapters (CPU-type, such as Mesa's lavapipe) are used only when named with
//!   `--device NAME`; `auto` and `--backend gpu` without `--device` use hardware GPUs.

mod attention;
mod context;
#[cfg(test)]
mod coop_emu;
mod matmul;
mod membw;
mod peak;

pub use context::{GpuContext, coop_support};

use super::{Backend, DeviceInfo, Kernel, PrepareError};
use crate::bench::{BenchKind, Case, DType, Shape};
use crate::error::input_error;
use crate::node::adapters;
use std::sync::Arc;

/// The WGSL sources, by file name, embedded in the binary.
pub const KERNELS: &[(&str, &str)] = &[
    (
        "matmul_tiled.wgsl",
        include_str!("../../../kernels/matmul_tiled.wgsl"),
    ),
    (
        "membw_copy.wgsl",
        include_str!("../../../kernels/membw_copy.wgsl"),
    ),
    (
        "attention_flash.wgsl",
        include_str!("../../../kernels/attention_flash.wgsl"),
    ),
    (
        "peak_fma.wgsl",
        include_str!("../../../kernels/peak_fma.wgsl"),
    ),
    (
        "matmul_coop.wgsl",
        include_str!("../../../kernels/matmul_coop.wgsl"),
    ),
    (
        "matmul_coop_tiled.wgsl",
        include_str!("../../../kernels/matmul_coop_tiled.wgsl"),
    ),
    (
        "attention_coop.wgsl",
        include_str!("../../../kernels/attention_coop.wgsl"),
    ),
];

/// A kernel's WGSL source by file name: the embedded one, or, when `HPCREADY_KERNEL_DIR` names a
/// folder holding a file of that name, that file. The override is for tuning kernels on a
/// machine without a Rust toolchain (edit the .wgsl, rerun the release binary); results record
/// the override in the kernel's variant, and every kernel is still verified before it is timed.
pub fn kernel_source(name: &str) -> std::borrow::Cow<'static, str> {
    if let Some(path) = kernel_override(name)
        && let Ok(text) = std::fs::read_to_string(&path)
    {
        return text.into();
    }
    KERNELS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, s)| s)
        .into()
}

/// " (kernel file overridden by PATH)" when `HPCREADY_KERNEL_DIR` overrides kernel `name`, for
/// its variant; else empty.
pub fn override_note(name: &str) -> String {
    kernel_override(name)
        .map(|p| {
            format!(
                " (kernel file overridden by {}, runtime checks on)",
                p.display()
            )
        })
        .unwrap_or_default()
}

/// Checks `HPCREADY_KERNEL_DIR` before any kernel is built: it must be a readable directory, and
/// every `.wgsl` file in it must name one of our kernels and be readable text. An override that
/// silently fell back to the embedded kernel would measure something other than what the user
/// is tuning.
pub fn check_kernel_dir() -> anyhow::Result<()> {
    let Some(dir) = std::env::var_os("HPCREADY_KERNEL_DIR") else {
        return Ok(());
    };
    let shown = format!(
        "HPCREADY_KERNEL_DIR={}",
        std::path::Path::new(&dir).display()
    );
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| input_error(&shown, format!("cannot read the directory: {e}")))?;
    let known: Vec<&str> = KERNELS.iter().map(|(n, _)| *n).collect();
    for entry in entries {
        let path = entry
            .map_err(|e| input_error(&shown, format!("cannot read the directory: {e}")))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !known.contains(&name.as_str()) {
            return Err(input_error(
                path.display().to_string(),
                format!(
                    "is not one of hpcready's kernels ({}); it would be ignored",
                    known.join(", ")
                ),
            ));
        }
        std::fs::read_to_string(&path).map_err(|e| {
            input_error(
                path.display().to_string(),
                format!("cannot read the kernel override: {e}"),
            )
        })?;
    }
    Ok(())
}

/// The override file for kernel `name`, where `HPCREADY_KERNEL_DIR` provides one.
pub fn kernel_override(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("HPCREADY_KERNEL_DIR")?;
    let path = std::path::Path::new(&dir).join(name);
    path.is_file().then_some(path)
}

/// Runs kernels on one wgpu adapter.
pub struct GpuBackend {
    ctx: Arc<GpuContext>,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend")
            .field("adapter", &self.ctx.summary.name)
            .finish()
    }
}

impl GpuBackend {
    /// A backend on an opened device.
    pub fn new(ctx: GpuContext) -> Self {
        Self { ctx: Arc::new(ctx) }
    }

    /// The device's context.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The device's context, shared.
    pub fn shared(&self) -> Arc<GpuContext> {
        self.ctx.clone()
    }
}

/// Which adapters `--device` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChoice {
    /// Every hardware GPU.
    AllGpus,
    /// The adapter with this index (as `probe` numbers them).
    Index(usize),
    /// Adapters whose name contains this text (case-insensitive); software adapters allowed.
    Name(String),
}

impl DeviceChoice {
    /// Parses `--device`: `all`, an index, or part of a name.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            None | Some("all") => Self::AllGpus,
            Some(t) => t
                .parse()
                .map(Self::Index)
                .unwrap_or_else(|_| Self::Name(t.to_string())),
        }
    }
}

/// Opens the adapters `choice` selects. Errors (exit 2) name what was asked and what exists.
pub fn open(choice: &DeviceChoice) -> anyhow::Result<Vec<GpuBackend>> {
    check_kernel_dir()?;
    let compute: Vec<wgpu::Adapter> = adapters::enumerate()
        .into_iter()
        .filter(|a| adapters::is_compute_backend(&a.get_info()))
        .collect();
    let listing = || {
        if compute.is_empty() {
            adapters::missing_advice()
        } else {
            let names: Vec<String> = compute
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let info = a.get_info();
                    format!(
                        "{i}: {} ({:?}, {:?})",
                        info.name, info.device_type, info.backend
                    )
                })
                .collect();
            format!("adapters: {}", names.join("; "))
        }
    };
    let chosen: Vec<(usize, &wgpu::Adapter)> = match choice {
        DeviceChoice::AllGpus => compute
            .iter()
            .enumerate()
            .filter(|(_, a)| a.get_info().device_type != wgpu::DeviceType::Cpu)
            .collect(),
        DeviceChoice::Index(i) => compute.get(*i).map(|a| vec![(*i, a)]).unwrap_or_default(),
        DeviceChoice::Name(n) => compute
            .iter()
            .enumerate()
            .filter(|(_, a)| a.get_info().name.to_lowercase().contains(&n.to_lowercase()))
            .collect(),
    };
    if chosen.is_empty() {
        let what = match choice {
            DeviceChoice::AllGpus => "--backend gpu".to_string(),
            DeviceChoice::Index(i) => format!("--device {i}"),
            DeviceChoice::Name(n) => format!("--device {n}"),
        };
        let hint = if matches!(choice, DeviceChoice::AllGpus) {
            "no hardware GPU found (software adapters such as lavapipe are used only when named \
             with --device NAME); "
        } else {
            "no such adapter; "
        };
        return Err(input_error(what, format!("{hint}{}", listing())));
    }
    chosen
        .into_iter()
        .map(|(i, a)| GpuContext::open(a, i).map(GpuBackend::new))
        .collect()
}

/// Whether this node has a hardware GPU that wgpu can use.
pub fn has_gpu() -> bool {
    adapters::enumerate().iter().any(|a| {
        let info = a.get_info();
        adapters::is_compute_backend(&info) && info.device_type != wgpu::DeviceType::Cpu
    })
}

impl Backend for GpuBackend {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn device(&self) -> DeviceInfo {
        let s = &self.ctx.summary;
        DeviceInfo {
            // The adapter index tells identical GPUs of one node apart.
            name: match s.index {
                Some(i) => format!("{} #{i} ({}, {})", s.name, s.backend, s.driver_info),
                None => format!("{} ({}, {})", s.name, s.backend, s.driver_info),
            },
            // A software adapter (lavapipe) is still measured as one Vulkan device.
            kind: crate::results::DeviceKind::Gpu,
            threads: None,
        }
    }

    fn dtypes(&self, bench: BenchKind) -> Vec<DType> {
        match bench {
            BenchKind::Matmul | BenchKind::Attention if self.ctx.has_f16() => {
                vec![DType::F32, DType::F16]
            }
            BenchKind::Peak | BenchKind::Matmul | BenchKind::Attention => vec![DType::F32],
            BenchKind::Membw => vec![DType::Bytes],
            // Host-staged all-reduce across adapters lives in `crate::comm::staged`.
            BenchKind::Allreduce | BenchKind::Train => vec![],
        }
    }

    fn is_accelerator(&self) -> bool {
        true
    }

    fn max_buffer_bytes(&self) -> Option<u64> {
        Some(self.ctx.max_binding())
    }

    fn prepare(&self, case: &Case) -> Result<Box<dyn Kernel>, PrepareError> {
        let limit = self.ctx.max_binding();
        let too_big = |what: &str, bytes: u64| {
            PrepareError::TooLarge(format!(
                "{case}: {what} needs {}, above this device's storage-binding limit of {}",
                crate::node::human_bytes(bytes),
                crate::node::human_bytes(limit)
            ))
        };
        match (case.bench, case.shape, case.dtype) {
            (BenchKind::Matmul, Shape::Matmul { m, n, k }, DType::F32 | DType::F16) => {
                // C is f32 whatever the inputs are.
                let largest = (m * k).max(k * n).max(m * n) * 4;
                if largest > limit {
                    return Err(too_big("the largest matrix", largest));
                }
                if case.dtype == DType::F16 && !self.ctx.has_f16() {
                    return Err(PrepareError::Unsupported(format!(
                        "{case}: the adapter has no SHADER_F16"
                    )));
                }
                let (m, n, k) = (m as usize, n as usize, k as usize);
                matmul::Matmul::new(self.ctx.clone(), case.dtype, m, n, k)
                    .map(|k| Box::new(k) as Box<dyn Kernel>)
                    .map_err(|e| PrepareError::Unsupported(format!("{case}: {e:#}")))
            }
            (BenchKind::Membw, Shape::Membw { bytes }, DType::Bytes) => {
                if bytes > limit {
                    return Err(too_big("the buffer", bytes));
                }
                membw::Copy::new(self.ctx.clone(), bytes)
                    .map(|k| Box::new(k) as Box<dyn Kernel>)
                    .map_err(|e| PrepareError::Unsupported(format!("{case}: {e:#}")))
            }
            (
                BenchKind::Attention,
                Shape::Attention {
                    b,
                    h,
                    s,
                    d,
                    causal,
                    backward: false,
                },
                DType::F32 | DType::F16,
            ) => {
                if case.dtype == DType::F16 && !self.ctx.has_f16() {
                    return Err(PrepareError::Unsupported(format!(
                        "{case}: the adapter has no SHADER_F16"
                    )));
                }
                let bytes = b * h * s * d * 4;
                if bytes > limit {
                    return Err(too_big("each of Q, K, V, O", bytes));
                }
                let dims = crate::bench::verify::AttentionDims {
                    b: b as usize,
                    h: h as usize,
                    s: s as usize,
                    d: d as usize,
                    causal,
                };
                attention::Attention::new(self.ctx.clone(), dims, case.dtype)
                    .map(|k| Box::new(k) as Box<dyn Kernel>)
                    .map_err(|e| PrepareError::Unsupported(format!("{case}: {e:#}")))
            }
            (BenchKind::Peak, Shape::Peak { threads }, DType::F32) => {
                peak::PeakF32::new(self.ctx.clone(), threads)
                    .map(|k| Box::new(k) as Box<dyn Kernel>)
                    .map_err(|e| PrepareError::Unsupported(format!("{case}: {e:#}")))
            }
            _ => Err(PrepareError::Unsupported(format!(
                "{case}: no GPU kernel for this yet"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
