//! Flash attention forward on the GPU: `kernels/attention_flash.wgsl`, with f32 or f16 inputs
//! (softmax and accumulation in f32 either way).

use super::matmul::{read_failure, upload};
use super::{GpuContext, KERNELS};
use crate::backend::Kernel;
use crate::backend::cpu::random_vec;
use crate::bench::verify::{AttentionDims, Verification, check_attention};
use crate::bench::{DType, Work};
use std::sync::Arc;
use std::time::Duration;

/// Query rows per workgroup and keys per tile, as in the kernel.
const BR: usize = 64;
const BC: usize = 32;

/// Attention forward on `[b·h][s][d]` tensors, f32 or f16 inputs.
pub struct Attention {
    ctx: Arc<GpuContext>,
    dtype: DType,
    dims: AttentionDims,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    o: wgpu::Buffer,
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

/// The kernel's source with its head dimension and input type set.
pub fn source(d: usize, dtype: DType) -> String {
    let src = KERNELS
        .iter()
        .find(|(n, _)| *n == "attention_flash.wgsl")
        .map_or("", |(_, s)| s);
    let src = src.replace("const D: u32 = 64u;", &format!("const D: u32 = {d}u;"));
    if dtype == DType::F16 {
        format!(
            "enable f16;\n{}",
            src.replace("array<vec4<f32>>; // IN", "array<vec4<f16>>; // IN")
        )
    } else {
        src
    }
}

impl Attention {
    /// Uploads deterministic random Q, K, V (the CPU backend's) and builds the pipeline.
    pub fn new(ctx: Arc<GpuContext>, dims: AttentionDims, dtype: DType) -> anyhow::Result<Self> {
        let AttentionDims { b, h, s, d, causal } = dims;
        if d % 4 != 0 || d == 0 || d > 256 {
            anyhow::bail!(
                "the flash kernel takes head dimensions that are multiples of 4, up to 256"
            );
        }
        let shared = 2 * BC * d * 4;
        if shared as u32 > ctx.max_workgroup_memory() {
            anyhow::bail!(
                "d={d} needs {shared} bytes of workgroup memory; the device has {}",
                ctx.max_workgroup_memory()
            );
        }
        let groups = (s.div_ceil(BR) as u32, (b * h) as u32, 1);
        if groups.0 > ctx.max_groups() || groups.1 > ctx.max_groups() {
            anyhow::bail!(
                "b·h = {} or s = {s} exceeds the device's workgroups per dimension",
                b * h
            );
        }
        let len = b * h * s * d;
        let (qb, q) = upload(&ctx, "Q", random_vec(len, 11), dtype);
        let (kb, k) = upload(&ctx, "K", random_vec(len, 12), dtype);
        let (vb, v) = upload(&ctx, "V", random_vec(len, 13), dtype);
        let o = ctx.storage_zeroed("O", (len * 4).max(16) as u64);
        let scale = 1.0 / (d as f32).sqrt();
        let params: [u32; 4] = [s as u32, u32::from(causal), scale.to_bits(), 0];
        let p = ctx.uniform("params", bytemuck::cast_slice(&params));
        let (pipeline, bind) = ctx.pipeline(
            "attention_flash.wgsl",
            &source(d, dtype),
            &[&qb, &kb, &vb, &o, &p],
        )?;
        Ok(Self {
            ctx,
            dtype,
            dims,
            q,
            k,
            v,
            o,
            pipeline,
            bind,
            groups,
        })
    }
}

impl Kernel for Attention {
    fn method(&self) -> String {
        "wgpu/attention-flash".into()
    }

    fn variant(&self) -> String {
        format!(
            "attention_flash.wgsl, {} inputs, f32 softmax and accumulation: {BR} query rows per workgroup, {BC}-key tiles; {} timing",
            self.dtype,
            self.ctx.timing_name()
        )
    }

    fn work(&self) -> Work {
        self.dims.shape().work(self.dtype).unwrap_or_default()
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        self.ctx
            .dispatch(&self.pipeline, &self.bind, self.groups, iterations)
    }

    fn verify(&mut self) -> Verification {
        let len = self.q.len();
        match self.ctx.read(&self.o, (len * 4) as u64) {
            Ok(bytes) => check_attention(
                &self.q,
                &self.k,
                &self.v,
                bytemuck::cast_slice(&bytes),
                self.dims,
                // Inputs are checked as the device saw them; f16 inputs get the 1e-2.
                if self.dtype == DType::F16 { 1e-2 } else { 1e-4 },
            ),
            Err(e) => read_failure(&e, len as u64),
        }
    }
}
