//! The GPU's measured f32 FMA ceiling: `kernels/peak_fma.wgsl`.

use super::matmul::read_failure;
use super::{GpuContext, kernel_source, override_note};
use crate::backend::Kernel;
use crate::bench::Work;
use crate::bench::verify::{Checker, Verification};
use std::sync::Arc;
use std::time::Duration;

/// The chains' fixed point.
const FIXED_POINT: f32 = 1.5;

/// FMA chains on every invocation of a large dispatch.
pub struct PeakF32 {
    ctx: Arc<GpuContext>,
    invocations: u64,
    trips: u32,
    out: wgpu::Buffer,
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
}

impl PeakF32 {
    /// `invocations` (a multiple of 256) running `trips` loop trips each.
    pub fn new(ctx: Arc<GpuContext>, invocations: u64) -> anyhow::Result<Self> {
        // Software adapters are slow: fewer trips keep one run short; the work counts them.
        let trips: u32 = if ctx.summary.is_cpu() { 64 } else { 1024 };
        let invocations = invocations.div_ceil(256) * 256;
        let out = ctx.storage_zeroed("out", invocations * 16);
        let params: [u32; 4] = [trips, 0, 0.5f32.to_bits(), (FIXED_POINT / 2.0).to_bits()];
        let p = ctx.uniform("params", bytemuck::cast_slice(&params));
        let src = kernel_source("peak_fma.wgsl");
        let (pipeline, bind) = ctx.pipeline("peak_fma.wgsl", &src, &[&out, &p])?;
        Ok(Self {
            ctx,
            invocations,
            trips,
            out,
            pipeline,
            bind,
        })
    }

    fn groups(&self) -> (u32, u32, u32) {
        ((self.invocations / 256) as u32, 1, 1)
    }
}

impl Kernel for PeakF32 {
    fn method(&self) -> String {
        "wgpu/fma-chains".into()
    }

    fn variant(&self) -> String {
        format!(
            "peak_fma.wgsl{}: 8 vec4 FMA chains × {} trips on {} invocations; {} timing",
            override_note("peak_fma.wgsl"),
            self.trips,
            self.invocations,
            self.ctx.timing_name()
        )
    }

    fn work(&self) -> Work {
        Work {
            flops: self.invocations as f64 * self.trips as f64 * 8.0 * 4.0 * 2.0,
            bytes: 0.0,
        }
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        let groups = self.groups();
        self.ctx
            .dispatch(&self.pipeline, &self.bind, groups, iterations)
    }

    fn verify(&mut self) -> Verification {
        let total = self.invocations * 4;
        let bytes = match self.ctx.read(&self.out, total * 4) {
            Ok(b) => b,
            Err(e) => return read_failure(&e, total),
        };
        let mut checker = Checker::new(1e-6);
        for (i, &x) in bytemuck::cast_slice::<u8, f32>(&bytes).iter().enumerate() {
            checker.check(x as f64, FIXED_POINT as f64, FIXED_POINT as f64, || {
                format!("invocation {} lane {}", i / 4, i % 4)
            });
        }
        checker.finish(total, "the chains' fixed point 1.5")
    }
}
