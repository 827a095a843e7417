//! A fake backend for tests (the `test-hooks` feature only; release builds never have it), as
//! hyperfine's mock executor stands in for real commands: every case "runs" at a fixed rate and
//! passes its check, so a test of `run`, `assess` and the report means the same on a laptop, on
//! CI's lavapipe and on a GPU node.
//!
//! `HPCREADY_TEST_BACKEND=KIND,TFLOPS,GBPS` replaces whatever `--backend` selects with one
//! device of kind `cpu` or `gpu`, whose peak runs at TFLOPS, matmul at 0.75× and attention at
//! 0.5× of it, and whose memory copy moves GBPS gigabytes per second.

use super::{Backend, DeviceInfo, Kernel, PrepareError};
use crate::bench::verify::Verification;
use crate::bench::{BenchKind, Case, DType, Work};
use crate::error::input_error;
use crate::results::DeviceKind;
use std::time::Duration;

/// The environment variable that selects the fake backend.
pub const VAR: &str = "HPCREADY_TEST_BACKEND";

/// A device that runs every case at a fixed rate.
#[derive(Debug, Clone)]
pub struct FakeBackend {
    kind: DeviceKind,
    flops: f64,
    bytes: f64,
}

impl FakeBackend {
    /// The backend `HPCREADY_TEST_BACKEND` asks for, if it is set.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let Ok(spec) = std::env::var(VAR) else {
            return Ok(None);
        };
        let bad = || input_error(VAR, format!("`{spec}`: write it as KIND,TFLOPS,GBPS"));
        let parts: Vec<&str> = spec.split(',').collect();
        let [kind, tflops, gbps] = parts[..] else {
            return Err(bad());
        };
        let kind = match kind {
            "cpu" => DeviceKind::Cpu,
            "gpu" => DeviceKind::Gpu,
            _ => return Err(bad()),
        };
        let rate = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0);
        let (Some(t), Some(g)) = (rate(tflops), rate(gbps)) else {
            return Err(bad());
        };
        Ok(Some(Self {
            kind,
            flops: t * 1e12,
            bytes: g * 1e9,
        }))
    }
}

impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        match self.kind {
            DeviceKind::Gpu => "gpu",
            _ => "cpu",
        }
    }

    fn device(&self) -> DeviceInfo {
        DeviceInfo {
            name: "Test device (fake backend)".into(),
            kind: self.kind,
            threads: (self.kind == DeviceKind::Cpu).then_some(2),
        }
    }

    fn dtypes(&self, bench: BenchKind) -> Vec<DType> {
        match bench {
            BenchKind::Peak | BenchKind::Matmul | BenchKind::Attention => vec![DType::F32],
            BenchKind::Membw => vec![DType::Bytes],
            BenchKind::Allreduce | BenchKind::Train => vec![],
        }
    }

    fn is_accelerator(&self) -> bool {
        self.kind == DeviceKind::Gpu
    }

    fn prepare(&self, case: &Case) -> Result<Box<dyn Kernel>, PrepareError> {
        // Peak's work is its kernel's: one billion FMAs (2 GFLOP) a run.
        let work = case.shape.work(case.dtype).unwrap_or(Work {
            flops: 2e9,
            bytes: 0.0,
        });
        let factor = match case.bench {
            BenchKind::Peak => 1.0,
            BenchKind::Matmul => 0.75,
            BenchKind::Attention => 0.5,
            BenchKind::Membw => 1.0,
            BenchKind::Allreduce | BenchKind::Train => {
                return Err(PrepareError::Unsupported(format!("{case}")));
            }
        };
        let seconds = if work.flops > 0.0 {
            work.flops / (self.flops * factor)
        } else {
            work.bytes / self.bytes
        };
        Ok(Box::new(FakeKernel {
            work,
            each: Duration::from_secs_f64(seconds),
            ran: false,
            method: format!("fake/{}", case.bench.name()),
        }))
    }
}

struct FakeKernel {
    work: Work,
    each: Duration,
    ran: bool,
    method: String,
}

impl Kernel for FakeKernel {
    fn method(&self) -> String {
        self.method.clone()
    }

    fn variant(&self) -> String {
        "a fixed rate (test-hooks fake backend)".into()
    }

    fn work(&self) -> Work {
        self.work
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        self.ran = true;
        Ok(Some(self.each.mul_f64(iterations as f64)))
    }

    fn verify(&mut self) -> Verification {
        let mut c = crate::bench::verify::Checker::new(0.0);
        if self.ran {
            c.check(1.0, 1.0, 1.0, String::new);
        }
        c.finish(1, "itself (fake backend)")
    }
}
