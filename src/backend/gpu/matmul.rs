//! Matmul on the GPU: `kernels/matmul_tiled.wgsl` (128×128 workgroup tiles, 8×8 per thread), in
//! f32, or with f16 inputs and f32 accumulation where the device has SHADER_F16.

use super::{GpuContext, kernel_source, override_note};
use crate::backend::Kernel;
use crate::backend::cpu::random_vec;
use crate::bench::verify::{Verification, check_matmul};
use crate::bench::{DType, Shape, Work};
use std::sync::Arc;
use std::time::Duration;

/// Tile edge of the kernel's workgroup.
const TILE: usize = 128;
/// Tile edge of the small cooperative-matrix kernel's workgroup (any size, any subgroup width).
const COOP_TILE: usize = 32;
/// Tile edge of the large cooperative-matrix kernel's workgroup (32-wide subgroups, k and n
/// multiples of 4).
const COOP_TILED_TILE: usize = 128;

/// Which kernel a matmul runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `matmul_tiled.wgsl`: scalar FMAs (f32, or f16 inputs converted to f32).
    Tiled,
    /// `matmul_coop_tiled.wgsl`: 128×128 tiles on matrix units, 8 subgroups of 32.
    CoopTiled,
    /// `matmul_coop.wgsl` for this subgroup width: 32×32 tiles on matrix units, any size.
    Coop(u32),
}

/// The cooperative-matrix kernel for an f16 n×k problem on a device with subgroup width `sg`:
/// the large one where it applies (its vec4 loads need k and n multiples of 4, its layout 32-wide
/// subgroups), else the small one that takes any size.
pub fn coop_kind(sg: u32, n: usize, k: usize) -> Kind {
    if sg == 32 && n.is_multiple_of(4) && k.is_multiple_of(4) {
        Kind::CoopTiled
    } else {
        Kind::Coop(sg)
    }
}

/// The kernel's source for `dtype` (f32, or f16 inputs with f32 accumulation).
pub fn source(dtype: DType) -> String {
    let src = kernel_source("matmul_tiled.wgsl");
    match dtype {
        DType::F16 => {
            let body = src
                .replace("a: array<f32>; // A", "a: array<f16>; // A")
                .replace("b: array<f32>; // B", "b: array<f16>; // B");
            format!("enable f16;\n{body}")
        }
        _ => src.to_string(),
    }
}

/// The cooperative-matrix kernel's source for subgroup size `sg`.
pub fn coop_source(sg: u32) -> String {
    kernel_source("matmul_coop.wgsl")
        .replace("const SG: u32 = 32u;", &format!("const SG: u32 = {sg}u;"))
}

/// Row-major C (m×n, f32) = A (m×k) · B (k×n), inputs in f32 or f16: on matrix units
/// (`matmul_coop.wgsl`) for f16 where the adapter has cooperative matrices, else the tiled kernel.
pub struct Matmul {
    ctx: Arc<GpuContext>,
    dtype: DType,
    kind: Kind,
    dims: (usize, usize, usize),
    a: Vec<f32>,
    b: Vec<f32>,
    c: wgpu::Buffer,
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

/// Uploads `values` in `dtype`; returns the buffer and the values as the device sees them.
pub(super) fn upload(
    ctx: &GpuContext,
    label: &str,
    values: Vec<f32>,
    dtype: DType,
) -> (wgpu::Buffer, Vec<f32>) {
    match dtype {
        DType::F16 => {
            let mut halves: Vec<half::f16> =
                values.iter().map(|&x| half::f16::from_f32(x)).collect();
            let exact: Vec<f32> = halves.iter().map(|h| h.to_f32()).collect();
            if halves.len() % 2 == 1 {
                halves.push(half::f16::ZERO); // buffers are whole 4-byte words
            }
            let bits: Vec<u16> = halves.iter().map(|h| h.to_bits()).collect();
            (ctx.storage(label, bytemuck::cast_slice(&bits)), exact)
        }
        _ => (ctx.storage(label, bytemuck::cast_slice(&values)), values),
    }
}

impl Matmul {
    /// Uploads deterministic random inputs (the CPU backend's) and builds the pipeline.
    pub fn new(
        ctx: Arc<GpuContext>,
        dtype: DType,
        m: usize,
        n: usize,
        k: usize,
    ) -> anyhow::Result<Self> {
        let kind = match (dtype, ctx.coop()) {
            (DType::F16, Ok(sg)) => coop_kind(sg, n, k),
            _ => Kind::Tiled,
        };
        let tile = match kind {
            Kind::Tiled => TILE,
            Kind::CoopTiled => COOP_TILED_TILE,
            Kind::Coop(_) => COOP_TILE,
        };
        let groups = (n.div_ceil(tile) as u32, m.div_ceil(tile) as u32, 1);
        if groups.0 > ctx.max_groups() || groups.1 > ctx.max_groups() {
            anyhow::bail!("{m}×{n} needs more workgroups per dimension than the device allows");
        }
        let (abuf, a) = upload(&ctx, "A", random_vec(m * k, 1), dtype);
        let (bbuf, b) = upload(&ctx, "B", random_vec(k * n, 2), dtype);
        let c = ctx.storage_zeroed("C", (m * n * 4).max(4) as u64);
        let dims = ctx.uniform(
            "dims",
            bytemuck::cast_slice(&[m as u32, n as u32, k as u32, 0]),
        );
        let (name, src) = match kind {
            Kind::CoopTiled => (
                "matmul_coop_tiled.wgsl",
                kernel_source("matmul_coop_tiled.wgsl").to_string(),
            ),
            Kind::Coop(sg) => ("matmul_coop.wgsl", coop_source(sg)),
            Kind::Tiled => ("matmul_tiled.wgsl", source(dtype)),
        };
        let (pipeline, bind) = ctx.pipeline(name, &src, &[&abuf, &bbuf, &c, &dims])?;
        Ok(Self {
            ctx,
            dtype,
            kind,
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

impl Kernel for Matmul {
    fn method(&self) -> String {
        match self.kind {
            Kind::Tiled => "wgpu/matmul-tiled".into(),
            Kind::CoopTiled | Kind::Coop(_) => "wgpu/matmul-coop".into(),
        }
    }

    fn variant(&self) -> String {
        let kernel = match (self.kind, self.dtype, self.ctx.coop()) {
            (Kind::CoopTiled, _, _) => {
                "matmul_coop_tiled.wgsl: 16×16×16 f16 cooperative matrices, \
                8 subgroups × 4×2 tiles, 128×128 workgroup tiles, BK 16"
                    .to_string()
            }
            (Kind::Coop(_), _, _) => {
                "matmul_coop.wgsl: 16×16×16 f16 cooperative matrices, 2×2 per subgroup, 32×32 tiles"
                    .to_string()
            }
            (Kind::Tiled, DType::F16, Err(why)) => format!(
                "matmul_tiled.wgsl: 128×128 tiles, BK 16, 8×8 per thread (matrix units not used: {why})"
            ),
            _ => "matmul_tiled.wgsl: 128×128 tiles, BK 16, 8×8 per thread".to_string(),
        };
        let file = match self.kind {
            Kind::Tiled => "matmul_tiled.wgsl",
            Kind::CoopTiled => "matmul_coop_tiled.wgsl",
            Kind::Coop(_) => "matmul_coop.wgsl",
        };
        format!(
            "{kernel}{}, {} inputs, f32 accumulation; {} timing",
            override_note(file),
            self.dtype,
            self.ctx.timing_name()
        )
    }

    fn work(&self) -> Work {
        let (m, n, k) = self.dims;
        Shape::Matmul {
            m: m as u64,
            n: n as u64,
            k: k as u64,
        }
        .work(self.dtype)
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
                // f16 inputs are checked as the device saw them, so only accumulation error remains;
                // the tolerance is the 1e-2 for f16 inputs.
                let tolerance = if self.dtype == DType::F16 { 1e-2 } else { 1e-4 };
                check_matmul(&self.a, &self.b, c, self.dims, tolerance)
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
