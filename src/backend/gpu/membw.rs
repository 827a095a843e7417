//! Device memory copy bandwidth: `kernels/membw_copy.wgsl`, counted as bytes read + written.

use super::matmul::read_failure;
use super::{GpuContext, kernel_source, override_note};
use crate::backend::Kernel;
use crate::bench::verify::Verification;
use crate::bench::{Work, copy_bytes};
use std::sync::Arc;
use std::time::Duration;

/// Copies one device buffer into another.
pub struct Copy {
    ctx: Arc<GpuContext>,
    src: Vec<u32>,
    dst: wgpu::Buffer,
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

impl Copy {
    /// A copy of `bytes` bytes (rounded down to 16-byte words).
    pub fn new(ctx: Arc<GpuContext>, bytes: u64) -> anyhow::Result<Self> {
        let words = (bytes / 16) as usize;
        let src: Vec<u32> = (0..words * 4)
            .map(|i| (i as u32).wrapping_mul(0x9E37_79B9) ^ 0xA5A5_5A5A)
            .collect();
        let groups = words.div_ceil(256) as u32;
        let row = groups.min(ctx.max_groups()).max(1);
        let grid = (row, groups.div_ceil(row).max(1), 1);
        let sbuf = ctx.storage("src", bytemuck::cast_slice(&src));
        let dst = ctx.storage_zeroed("dst", (words * 16).max(16) as u64);
        let params = ctx.uniform("params", bytemuck::cast_slice(&[words as u32, row, 0, 0]));
        let (pipeline, bind) = ctx.pipeline(
            "membw_copy.wgsl",
            &kernel_source("membw_copy.wgsl"),
            &[&sbuf, &dst, &params],
        )?;
        Ok(Self {
            ctx,
            src,
            dst,
            pipeline,
            bind,
            groups: grid,
        })
    }
}

impl Kernel for Copy {
    fn method(&self) -> String {
        "wgpu/copy".into()
    }

    fn variant(&self) -> String {
        format!(
            "membw_copy.wgsl{}: 16 bytes per invocation; {} timing",
            override_note("membw_copy.wgsl"),
            self.ctx.timing_name()
        )
    }

    fn work(&self) -> Work {
        Work {
            flops: 0.0,
            bytes: copy_bytes(self.src.len() as u64 * 4),
        }
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        self.ctx
            .dispatch(&self.pipeline, &self.bind, self.groups, iterations)
    }

    fn verify(&mut self) -> Verification {
        let total = self.src.len() as u64;
        let bytes = match self.ctx.read(&self.dst, total * 4) {
            Ok(b) => b,
            Err(e) => return read_failure(&e, total),
        };
        let got: &[u32] = bytemuck::cast_slice(&bytes);
        let first_bad = got.iter().zip(&self.src).position(|(g, s)| g != s);
        Verification::exact_copy(first_bad, total)
    }
}
