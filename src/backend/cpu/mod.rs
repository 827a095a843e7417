//! The CPU backend: GEMM through `faer` on all cores, attention built from blocked
//! GEMMs with an online softmax, a parallel memory copy, and FMA chains for the peak.

mod attention;
pub mod buffer;
mod matmul;
mod membw;
pub mod peak;

pub use attention::attention_forward;
pub mod sgemm;
pub use matmul::gemm_into;
pub use peak::{Isa, detect_isa};

use super::{Backend, DeviceInfo, Kernel, PrepareError};
use crate::bench::{BenchKind, Case, DType, Shape};
use crate::node;

/// An element type the CPU kernels compute in.
pub trait Element:
    Copy + Default + Send + Sync + 'static + Into<f64> + faer::traits::ComplexField
{
    /// The data type's name in results.
    const DTYPE: DType;
    /// Normwise relative error allowed against the float64 reference (see `bench::verify`).
    /// Bounds are `k·u` with `u` the unit roundoff; these allow `k` in the thousands with margin
    /// while catching any wrong kernel, whose error is of order one.
    const TOLERANCE: f64;
    /// Converts from the reference type.
    fn from_f64(x: f64) -> Self;
    /// hpcready's own GEMM kernel for this type on this CPU, if it has one: its method name.
    fn own_gemm() -> Option<&'static str> {
        None
    }
    /// Runs [`Element::own_gemm`]'s kernel: `c = a·b`, row-major.
    ///
    /// # Panics
    /// When the type has no own kernel on this CPU.
    fn run_own_gemm(
        _c: &mut [Self],
        _a: &[Self],
        _b: &[Self],
        _dims: (usize, usize, usize),
        _threads: usize,
    ) {
        unreachable!("no own GEMM kernel for this type")
    }
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    const TOLERANCE: f64 = 1e-4;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn own_gemm() -> Option<&'static str> {
        sgemm::available().map(sgemm::method)
    }
    fn run_own_gemm(
        c: &mut [Self],
        a: &[Self],
        b: &[Self],
        dims: (usize, usize, usize),
        threads: usize,
    ) {
        sgemm::sgemm(c, a, b, dims, threads);
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    const TOLERANCE: f64 = 1e-12;
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// Deterministic inputs in [-1, 1).
pub(crate) fn random_vec<T: Element>(len: usize, seed: u64) -> Vec<T> {
    let mut rng = crate::stats::SplitMix64::new(seed);
    (0..len).map(|_| T::from_f64(rng.next_signed())).collect()
}

/// Deterministic inputs in [-1, 1), in a huge-page-backed [`buffer::Buffer`].
pub(crate) fn random_buffer<T: Element>(len: usize, seed: u64) -> buffer::Buffer<T> {
    let values = random_vec::<T>(len, seed);
    buffer::Buffer::from_fn(len, |i| values[i])
}

/// Runs kernels on this machine's CPU cores.
#[derive(Debug, Clone)]
pub struct CpuBackend {
    threads: usize,
    model: String,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// A backend using every core this process may run on.
    pub fn new() -> Self {
        Self::with_threads(node::usable_threads())
    }

    /// A backend using `threads` threads.
    pub fn with_threads(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            model: node::cpu_model(),
        }
    }

    /// Threads the kernels use.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

fn unsupported(case: &Case, why: &str) -> PrepareError {
    PrepareError::Unsupported(format!("{case} on the CPU: {why}"))
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn device(&self) -> DeviceInfo {
        DeviceInfo {
            name: self.model.clone(),
            kind: crate::results::DeviceKind::Cpu,
            threads: Some(self.threads),
        }
    }

    fn dtypes(&self, bench: BenchKind) -> Vec<DType> {
        match bench {
            BenchKind::Peak | BenchKind::Matmul => vec![DType::F32, DType::F64],
            BenchKind::Attention => vec![DType::F32],
            BenchKind::Membw => vec![DType::Bytes],
            // Collectives run through a communicator (`crate::comm`), not a kernel.
            BenchKind::Allreduce | BenchKind::Train => vec![],
        }
    }

    fn prepare(&self, case: &Case) -> Result<Box<dyn Kernel>, PrepareError> {
        let need = case.shape.footprint(case.dtype);
        let avail = node::available_memory();
        if avail > 0 && need > avail {
            return Err(PrepareError::TooLarge(format!(
                "{case} needs {} of memory; {} is available",
                node::human_bytes(need),
                node::human_bytes(avail)
            )));
        }
        match (case.bench, case.shape, case.dtype) {
            (BenchKind::Matmul, Shape::Matmul { m, n, k }, DType::F32) => Ok(Box::new(
                matmul::MatmulKernel::<f32>::new(m as usize, n as usize, k as usize, self.threads),
            )),
            (BenchKind::Matmul, Shape::Matmul { m, n, k }, DType::F64) => Ok(Box::new(
                matmul::MatmulKernel::<f64>::new(m as usize, n as usize, k as usize, self.threads),
            )),
            (BenchKind::Matmul, _, _) => Err(unsupported(case, "matmul runs in f32 and f64")),
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
                DType::F32,
            ) => {
                let dims = crate::bench::verify::AttentionDims {
                    b: b as usize,
                    h: h as usize,
                    s: s as usize,
                    d: d as usize,
                    causal,
                };
                Ok(Box::new(attention::AttentionKernel::new(
                    dims,
                    self.threads,
                )))
            }
            (BenchKind::Attention, _, _) => Err(unsupported(case, "attention runs in f32")),
            (BenchKind::Membw, Shape::Membw { bytes }, DType::Bytes) => {
                Ok(Box::new(membw::CopyKernel::new(bytes, self.threads)))
            }
            (BenchKind::Peak, Shape::Peak { threads }, DType::F32) => {
                Ok(Box::new(peak::PeakKernel::<f32>::new(threads as usize)))
            }
            (BenchKind::Peak, Shape::Peak { threads }, DType::F64) => {
                Ok(Box::new(peak::PeakKernel::<f64>::new(threads as usize)))
            }
            _ => Err(unsupported(case, "no CPU kernel for this combination")),
        }
    }
}
