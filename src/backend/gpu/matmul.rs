//! f32 matmul on the GPU: `kernels/matmul_tiled.wgsl` (64×64 workgroup tiles, 4×4 per thread).

use super::{GpuContext, KERNELS};
use crate::backend::Kernel;
use crate::backend::cpu::random_vec;
use crate::bench::verify::{Verification, check_matmul};
use crate::bench::{DType, Shape, Work};
use std::sync::Arc;
use std::time::Duration;

/// Tile edge of the kernel's workgroup.
const TILE: usize = 64;

/// Row-major C (m×n) = A (m×k) · B (k×n) in f32.
pub struct MatmulF32 {
    ctx: Arc<GpuContext>,
    dims: (usize, usize, usize),
    a: Vec<f32>,
    b: Vec<f32>,
    c: wgpu::Buffer,
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

impl MatmulF32 {
    /// Uploads deterministic random inputs (the CPU backend's) and builds the pipeline.
    pub fn new(ctx: Arc<GpuContext>, m: usize, n: usize, k: usize) -> anyhow::Result<Self> {
        let a: Vec<f32> = random_vec(m * k, 1);
        let b: Vec<f32> = random_vec(k * n, 2);
        let groups = (n.div_ceil(TILE) as u32, m.div_ceil(TILE) as u32, 1);
        if groups.0 > ctx.max_groups() || groups.1 > ctx.max_groups() {
            anyhow::bail!("{m}×{n} needs more workgroups per dimension than the device allows");
        }
        let abuf = ctx.storage("A", bytemuck::cast_slice(&a));
        let bbuf = ctx.storage("B", bytemuck::cast_slice(&b));
        let c = ctx.storage_zeroed("C", (m * n * 4).max(4) as u64);
        let dims = ctx.uniform(
            "dims",
            bytemuck::cast_slice(&[m as u32, n as u32, k as u32, 0]),
        );
        let (pipeline, bind) =
            ctx.pipeline(KERNELS[0].0, KERNELS[0].1, &[&abuf, &bbuf, &c, &dims])?;
        Ok(Self {
            ctx,
            dims: (m, n, k),
            a,
            b,
            c,
            pipeline,
            bind,
            groups,
        })
    }
}

impl Kernel for MatmulF32 {
    fn method(&self) -> String {
        "wgpu/matmul-tiled".into()
    }

    fn variant(&self) -> String {
        format!(
            "matmul_tiled.wgsl f32: 64×64 tiles, BK 16, 4×4 per thread; {} timing",
            if self.ctx.has_timestamps() {
                "timestamp-query"
            } else {
                "wall-clock"
            }
        )
    }

    fn work(&self) -> Work {
        let (m, n, k) = self.dims;
        Shape::Matmul {
            m: m as u64,
            n: n as u64,
            k: k as u64,
        }
        .work(DType::F32)
        .unwrap_or_default()
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        self.ctx
            .dispatch(&self.pipeline, &self.bind, self.groups, iterations)
    }

    fn verify(&mut self) -> Verification {
        let (m, n, _) = self.dims;
        match self.ctx.read(&self.c, (m * n * 4) as u64) {
            Ok(bytes) => {
                let c: &[f32] = bytemuck::cast_slice(&bytes);
                check_matmul(&self.a, &self.b, c, self.dims, 1e-4)
            }
            Err(e) => read_failure(&e, (m * n) as u64),
        }
    }
}

/// A verification that failed because the output could not be read back.
pub fn read_failure(e: &anyhow::Error, total: u64) -> Verification {
    Verification {
        passed: false,
        max_rel_error: f64::INFINITY,
        tolerance: 0.0,
        checked: 0,
        total,
        reference: "the device's output, which could not be read back".into(),
        first_failure: Some(format!("{e:#}")),
    }
}
