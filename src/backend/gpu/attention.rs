//! Flash attention forward on the GPU: `kernels/attention_flash.wgsl`, with f32 or f16 inputs
//! (softmax and accumulation in f32 either way), and `kernels/attention_coop.wgsl` on matrix
//! units for f16 where the adapter has cooperative matrices and 32-wide subgroups.

use super::matmul::{read_failure, upload};
use super::{GpuContext, kernel_source, override_note};
use crate::backend::Kernel;
use crate::backend::cpu::random_vec;
use crate::bench::verify::{AttentionDims, Verification, check_attention};
use crate::bench::{DType, Work};
use std::sync::Arc;
use std::time::Duration;

/// Query rows per workgroup and keys per tile, as in the kernel.
const BR: usize = 64;
const BC: usize = 32;

/// Whether f16 attention with head dimension `d` runs on matrix units on a device whose
/// cooperative-matrix support is `coop` (its subgroup width, or why not): it needs 32-wide
/// subgroups and d a multiple of 16 up to 128 (its Q fragments and O accumulators live in
/// registers).
pub fn use_coop(dtype: DType, d: usize, coop: Result<u32, &str>) -> Result<(), String> {
    if dtype != DType::F16 {
        return Err("matrix units are used for f16 inputs only".into());
    }
    match coop {
        Err(why) => Err(why.to_string()),
        Ok(sg) if sg != 32 => Err(format!("the kernel needs 32-wide subgroups, not {sg}")),
        Ok(_) if !d.is_multiple_of(16) || d > 128 => Err(format!(
            "the kernel needs a head dimension that is a multiple of 16 up to 128, not {d}"
        )),
        Ok(_) => Ok(()),
    }
}

/// Workgroup memory of `attention_coop.wgsl` with head dimension `d`, `br` query rows per
/// workgroup and `bc`-key tiles, bytes: K and V tiles (f16, rows padded by 8), the S staging tile
/// (f32), the P tile (f16, padded by 8) and one f32 per invocation for row sums.
pub fn coop_shared_bytes(d: usize, br: usize, bc: usize) -> usize {
    2 * bc * (d + 8) * 2 + br * bc * 4 + br * (bc + 8) * 2 + 2 * br * 4
}

/// The cooperative-matrix kernel's source with its head dimension set, and 128 query rows per
/// workgroup from d = 128 where the device's workgroup memory (`shared_limit` bytes) holds them
/// (measured on an H100: 29 against 20 TFLOP/s at s = 4096, while d = 64 ran faster with 64
/// rows; reports/gpu/2026-11-23-h100-tuning-3.md); else 64 rows, or why it cannot fit.
pub fn coop_source(d: usize, shared_limit: u32) -> Result<String, String> {
    let src = kernel_source("attention_coop.wgsl")
        .replace("const D: u32 = 64u;", &format!("const D: u32 = {d}u;"));
    let fits = |br| coop_shared_bytes(d, br, BC) <= shared_limit as usize;
    if d >= 128 && fits(128) {
        Ok(src.replace("const BR: u32 = 64u;", "const BR: u32 = 128u;"))
    } else if fits(64) {
        Ok(src)
    } else {
        Err(format!(
            "the matrix-unit kernel needs {} bytes of workgroup memory at d={d}; the device has {shared_limit}",
            coop_shared_bytes(d, 64, BC)
        ))
    }
}

/// Attention forward on `[b·h][s][d]` tensors, f32 or f16 inputs.
/// The value of `const NAME: u32 = Nu;` in a kernel's source.
pub fn const_u32(src: &str, name: &str) -> Option<u32> {
    let prefix = format!("const {name}: u32 = ");
    src.lines()
        .find_map(|l| l.trim_start().strip_prefix(&prefix))
        .and_then(|rest| rest.split('u').next())
        .and_then(|n| n.trim().parse().ok())
}

/// Threads per query row in `attention_flash.wgsl` for head dimension `d` on a device whose
/// smallest subgroup is `subgroup_min` lanes (None without subgroup operations): one up to d = 64;
/// beyond that 2 or 4, so that each thread holds at most 64 elements of the query and of the
/// output accumulator in registers, where shuffles can sum the partial dot products.
pub fn threads_per_row(d: usize, subgroup_min: Option<u32>) -> usize {
    let Some(lanes) = subgroup_min else { return 1 };
    [4, 2]
        .into_iter()
        .find(|&t| d > 64 * (t / 2) && d.is_multiple_of(4 * t) && t as u32 <= lanes)
        .unwrap_or(1)
}

/// The flash kernel's source with its head dimension, threads per row and input type set.
pub fn source(d: usize, t: usize, dtype: DType) -> String {
    let mut src = kernel_source("attention_flash.wgsl")
        .replace("const D: u32 = 64u;", &format!("const D: u32 = {d}u;"))
        .replace("const T: u32 = 1u;", &format!("const T: u32 = {t}u;"));
    if t == 1 {
        // No subgroup operation in the module, so it also runs on devices without SUBGROUP.
        src = src.replace("        y += subgroupShuffleXor(y, off); // SHUFFLE\n", "");
    }
    if dtype == DType::F16 {
        format!(
            "enable f16;\n{}",
            src.replace("array<vec4<f32>>; // IN", "array<vec4<f16>>; // IN")
        )
    } else {
        src
    }
}

/// Attention forward on `[b·h][s][d]` tensors, f32 or f16 inputs.
pub struct Attention {
    ctx: Arc<GpuContext>,
    dtype: DType,
    /// Ok when the matrix-unit kernel runs, else why not (for f16).
    coop: Result<(), String>,
    /// Threads per query row in the flash kernel.
    t: usize,
    /// Query rows per workgroup and keys per tile of the kernel that runs.
    tiles: (usize, usize),
    dims: AttentionDims,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    o: wgpu::Buffer,
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    groups: (u32, u32, u32),
}

impl Attention {
    /// Uploads deterministic random Q, K, V (the CPU backend's) and builds the pipeline.
    pub fn new(ctx: Arc<GpuContext>, dims: AttentionDims, dtype: DType) -> anyhow::Result<Self> {
        let AttentionDims { b, h, s, d, causal } = dims;
        let coop_src = use_coop(dtype, d, ctx.coop())
            .and_then(|()| coop_source(d, ctx.max_workgroup_memory()));
        let coop = coop_src.as_ref().map(|_| ()).map_err(Clone::clone);
        let t = threads_per_row(d, ctx.subgroup_min());
        if coop.is_err() && (d % 4 != 0 || d == 0 || d > 64 * t) {
            anyhow::bail!(
                "the flash kernel takes head dimensions that are multiples of 4, up to {} on this device",
                64 * t
            );
        }
        let shared = 2 * BC * d * 4;
        if coop.is_err() && shared as u32 > ctx.max_workgroup_memory() {
            anyhow::bail!(
                "d={d} needs {shared} bytes of workgroup memory; the device has {}",
                ctx.max_workgroup_memory()
            );
        }
        let (name, src) = match coop_src {
            Ok(src) => ("attention_coop.wgsl", src),
            Err(_) => ("attention_flash.wgsl", source(d, t, dtype)),
        };
        // The matrix-unit kernel's block of query rows and keys per tile are its own constants.
        let br = const_u32(&src, "BR").unwrap_or(BR as u32) as usize;
        let bc = const_u32(&src, "BC").unwrap_or(BC as u32) as usize;
        let groups = (s.div_ceil(br) as u32, (b * h) as u32, 1);
        if groups.0 > ctx.max_groups() || groups.1 > ctx.max_groups() {
            anyhow::bail!(
                "b·h = {} or s = {s} exceeds the device's workgroups per dimension",
                b * h
            );
        }
        let len = b * h * s * d;
        // The matrix-unit kernel loads whole 16-row fragments of Q: pad by a block of rows.
        let mut qv = random_vec(len, 11);
        if coop.is_ok() {
            qv.resize(len + br * d, 0.0);
        }
        let (qb, mut q) = upload(&ctx, "Q", qv, dtype);
        q.truncate(len);
        let (kb, k) = upload(&ctx, "K", random_vec(len, 12), dtype);
        let (vb, v) = upload(&ctx, "V", random_vec(len, 13), dtype);
        let o = ctx.storage_zeroed("O", (len * 4).max(16) as u64);
        let scale = 1.0 / (d as f32).sqrt();
        let params: [u32; 4] = [s as u32, u32::from(causal), scale.to_bits(), 0];
        let p = ctx.uniform("params", bytemuck::cast_slice(&params));
        let (pipeline, bind) = ctx.pipeline(name, &src, &[&qb, &kb, &vb, &o, &p])?;
        Ok(Self {
            ctx,
            dtype,
            coop,
            t,
            tiles: (br, bc),
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
        if self.coop.is_ok() {
            "wgpu/attention-coop".into()
        } else {
            "wgpu/attention-flash".into()
        }
    }

    fn variant(&self) -> String {
        let kernel = match (&self.coop, self.dtype) {
            (Ok(()), _) => format!(
                "attention_coop.wgsl: 16×16×16 f16 cooperative matrices for Q·Kᵀ and P·V, two \
                 passes (row maxima, then exact softmax), {} query rows per workgroup, {}-key tiles",
                self.tiles.0, self.tiles.1
            ),
            (Err(why), DType::F16) => format!(
                "attention_flash.wgsl: {BR} query rows per workgroup, {} threads per row, \
                 {BC}-key tiles (matrix units not used: {why})",
                self.t
            ),
            _ => format!(
                "attention_flash.wgsl: {BR} query rows per workgroup, {} threads per row, \
                 {BC}-key tiles",
                self.t
            ),
        };
        let file = if self.coop.is_ok() {
            "attention_coop.wgsl"
        } else {
            "attention_flash.wgsl"
        };
        format!(
            "{kernel}{}, {} inputs, f32 softmax and accumulation; {} timing",
            override_note(file),
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
