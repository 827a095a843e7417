//! Attention forward on the CPU: blocked GEMMs and an online softmax (FlashAttention's
//! algorithm, Dao 2023), so at most one block of scores per thread exists at a time.
//!
//! For each (batch, head, block of `BR` query rows), over blocks of `BC` keys:
//! `S = Q_blk·K_blkᵀ` (a GEMM), running row maxima `m` and sums `l` updated with the block's
//! exponentials `P = exp((S − m)/√d)`, the accumulator rescaled by `exp((m_old − m_new)/√d)`
//! and `acc += P·V_blk` (a GEMM). Causal blocks entirely above the diagonal are skipped and the
//! diagonal block is masked. Each query block is a rayon task; the GEMMs inside run on one thread.

use super::buffer::Buffer;
use super::random_buffer;
use crate::backend::Kernel;
use crate::bench::verify::{AttentionDims, Verification, check_attention};
use crate::bench::{DType, Work};
use rayon::prelude::*;
use std::time::Duration;

/// Query rows per block (64–128 × 128–256 measured within a few percent of each other on Zen 3).
const BR: usize = 128;
/// Keys per block.
const BC: usize = 128;

/// Attention forward on `[b][h][s][d]` f32 tensors.
pub struct AttentionKernel {
    dims: AttentionDims,
    q: Buffer<f32>,
    k: Buffer<f32>,
    v: Buffer<f32>,
    o: Buffer<f32>,
    threads: usize,
}

impl AttentionKernel {
    /// Allocates deterministic random Q, K, V.
    pub fn new(dims: AttentionDims, threads: usize) -> Self {
        let len = dims.b * dims.h * dims.s * dims.d;
        Self {
            dims,
            q: random_buffer(len, 11),
            k: random_buffer(len, 12),
            v: random_buffer(len, 13),
            o: Buffer::filled(len, 0.0),
            threads,
        }
    }
}

/// Per-task buffers: one block of scores, the running max and sum, the output accumulator.
struct Scratch {
    scores: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
    acc: Vec<f32>,
}

impl Scratch {
    fn new(d: usize) -> Self {
        Self {
            scores: vec![0.0; BR * BC],
            max: vec![f32::NEG_INFINITY; BR],
            sum: vec![0.0; BR],
            acc: vec![0.0; BR * d],
        }
    }
}

/// `o = softmax(q·kᵀ/√d [+ causal mask])·v` for `[b][h][s][d]` tensors, on the current rayon pool.
pub fn attention_forward(q: &[f32], k: &[f32], v: &[f32], o: &mut [f32], dims: AttentionDims) {
    let AttentionDims { s, d, causal, .. } = dims;
    assert_eq!(o.len(), dims.b * dims.h * s * d);
    assert!(q.len() == o.len() && k.len() == o.len() && v.len() == o.len());
    if o.is_empty() {
        return;
    }
    let scale = 1.0 / (d as f32).sqrt();
    o.par_chunks_mut(s * d).enumerate().for_each(|(bh, o_bh)| {
        let base = bh * s * d;
        let (q, k, v) = (
            &q[base..base + s * d],
            &k[base..base + s * d],
            &v[base..base + s * d],
        );
        o_bh.par_chunks_mut(BR * d).enumerate().for_each_init(
            || Scratch::new(d),
            |scratch, (qb, o_blk)| {
                query_block(q, k, v, o_blk, qb * BR, (s, d, causal, scale), scratch)
            },
        );
    });
}

fn query_block(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o_blk: &mut [f32],
    q0: usize,
    (s, d, causal, scale): (usize, usize, bool, f32),
    scratch: &mut Scratch,
) {
    let rows = o_blk.len() / d;
    let q_blk = &q[q0 * d..(q0 + rows) * d];
    scratch.max[..rows].fill(f32::NEG_INFINITY);
    scratch.sum[..rows].fill(0.0);
    scratch.acc[..rows * d].fill(0.0);
    let key_end = if causal { q0 + rows } else { s };
    for k0 in (0..key_end).step_by(BC) {
        let cols = BC.min(key_end - k0);
        let scores = &mut scratch.scores[..rows * cols];
        // S = Q_blk · K_blkᵀ: K_blk's rows are Kᵀ's columns, so pass it with swapped strides.
        scores_gemm(scores, q_blk, &k[k0 * d..(k0 + cols) * d], rows, cols, d);
        for r in 0..rows {
            let row = &mut scores[r * cols..(r + 1) * cols];
            let valid = if causal {
                (q0 + r + 1).saturating_sub(k0).min(cols)
            } else {
                cols
            };
            row[valid..].fill(0.0);
            if valid == 0 {
                continue;
            }
            let m_old = scratch.max[r];
            let m_new = m_old.max(row_max(&row[..valid]));
            let block_sum = exp_shifted(&mut row[..valid], m_new, scale);
            let correction = ((m_old - m_new) * scale).exp();
            scratch.sum[r] = scratch.sum[r] * correction + block_sum;
            scratch.max[r] = m_new;
            if correction != 1.0 {
                scratch.acc[r * d..(r + 1) * d]
                    .iter_mut()
                    .for_each(|x| *x *= correction);
            }
        }
        // acc += P · V_blk
        accumulate_gemm(
            &mut scratch.acc[..rows * d],
            scores,
            &v[k0 * d..(k0 + cols) * d],
            rows,
            cols,
            d,
        );
    }
    for r in 0..rows {
        let inv = 1.0 / scratch.sum[r];
        for (out, acc) in o_blk[r * d..(r + 1) * d]
            .iter_mut()
            .zip(&scratch.acc[r * d..])
        {
            *out = acc * inv;
        }
    }
}

fn scores_gemm(dst: &mut [f32], q_blk: &[f32], k_blk: &[f32], rows: usize, cols: usize, d: usize) {
    // SAFETY: dst holds rows·cols, q_blk rows·d, k_blk cols·d elements; rhs element (p, j) is
    // k_blk[j·d + p], inside k_blk for p < d, j < cols.
    unsafe {
        gemm::gemm(
            rows,
            cols,
            d,
            dst.as_mut_ptr(),
            1,
            cols as isize,
            false,
            q_blk.as_ptr(),
            1,
            d as isize,
            k_blk.as_ptr(),
            d as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn accumulate_gemm(acc: &mut [f32], p: &[f32], v_blk: &[f32], rows: usize, cols: usize, d: usize) {
    // SAFETY: acc holds rows·d, p rows·cols and v_blk cols·d elements, all dense row-major.
    unsafe {
        gemm::gemm(
            rows,
            d,
            cols,
            acc.as_mut_ptr(),
            1,
            d as isize,
            true,
            p.as_ptr(),
            1,
            cols as isize,
            v_blk.as_ptr(),
            1,
            d as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lanes[i] = lanes[i].max(c[i]);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    lanes.into_iter().fold(tail, f32::max)
}

/// Replaces each x by `exp((x − m)·scale)` and returns their sum. Dispatches to an AVX2+FMA
/// build of the same code where the CPU has it.
fn exp_shifted(row: &mut [f32], m: f32, scale: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the features this function is compiled for were just detected.
        return unsafe { exp_shifted_avx2(row, m, scale) };
    }
    exp_shifted_body(row, m, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_shifted_avx2(row: &mut [f32], m: f32, scale: f32) -> f32 {
    exp_shifted_body(row, m, scale)
}

#[inline(always)]
fn exp_shifted_body(row: &mut [f32], m: f32, scale: f32) -> f32 {
    for x in row.iter_mut() {
        *x = fast_exp((*x - m) * scale);
    }
    let mut lanes = [0.0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lanes[i] += c[i];
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `exp(x)` for `x ≤ 0` in f32, vectorisable: `2^n · e^r` with `n = round(x·log₂e)`,
/// `r = x − n·ln2` by Cody–Waite reduction (ln2 split in two so `n·ln2_hi` is exact) and a
/// degree-7 Taylor polynomial of `e^r` on |r| ≤ ln2/2 (relative error < 4·10⁻⁷). Inputs below
/// −87 return ~0 (the true value is below f32's normal range).
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding and subtracting it rounds to an integer
    const LN2_HI: f32 = 0.693_359_4; // 355/512: few bits, so n·LN2_HI is exact for |n| < 2¹⁴
    const LN2_LO: f32 = -2.121_944_4e-4; // ln 2 − LN2_HI
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let bits = ((n as i32 + 127) as u32) << 23;
    p * f32::from_bits(bits)
}

impl Kernel for AttentionKernel {
    fn method(&self) -> String {
        "cpu/attention-blocked".into()
    }

    fn variant(&self) -> String {
        format!(
            "blocked GEMMs (gemm 0.19) + online softmax, blocks {BR}×{BC}, {} threads",
            self.threads
        )
    }

    fn work(&self) -> Work {
        self.dims.shape().work(DType::F32).unwrap_or_default()
    }

    fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
        for _ in 0..iterations {
            attention_forward(&self.q, &self.k, &self.v, &mut self.o, self.dims);
        }
        Ok(None)
    }

    fn verify(&mut self) -> Verification {
        check_attention(&self.q, &self.k, &self.v, &self.o, self.dims, 1e-4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate() {
        let mut x = -87.0f32;
        while x <= 0.0 {
            let want = (x as f64).exp();
            let got = fast_exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.01;
        }
        assert!(fast_exp(-1000.0) < 1e-37);
        assert_eq!(fast_exp(0.0), 1.0);
    }

    #[test]
    fn odd_and_block_multiple_sizes_verify() {
        for &(s, d) in &[(1, 8), (33, 16), (67, 64), (130, 32), (128, 64), (256, 64)] {
            for causal in [false, true] {
                let dims = AttentionDims {
                    b: 2,
                    h: 3,
                    s,
                    d,
                    causal,
                };
                let mut k = AttentionKernel::new(dims, 2);
                k.run(1).unwrap();
                let v = k.verify();
                assert!(
                    v.passed && v.is_full(),
                    "s={s} d={d} causal={causal}: {v:?}"
                );
                assert!(v.max_rel_error < 1e-5, "s={s} d={d}: {}", v.max_rel_error);
            }
        }
    }

    #[test]
    fn row_max_handles_tails() {
        let row: Vec<f32> = (0..19).map(|i| (i as f32 - 9.0).powi(2)).collect();
        assert_eq!(row_max(&row), 81.0);
        assert_eq!(row_max(&[-3.0]), -3.0);
    }
}
