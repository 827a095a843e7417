//! What is measured: benchmark kinds, data types, problem shapes and the work each one does.
//!
//! Work counted (DESIGN.md):
//! - matmul C = A·B with A m×k and B k×n: `2·m·n·k` flops; bytes are the minimum traffic,
//!   every matrix read or written once.
//! - attention forward: `4·b·h·s²·d` flops, halved when causal (FlashAttention's accounting, Dao
//!   2023, arXiv:2307.08691); the softmax's exponentials are not counted.
//! - membw: a copy of `bytes` bytes counts `2·bytes` (read + written), as STREAM's copy does.
//! - peak: the FMA chains' own count, two flops per lane per FMA.
//! - allreduce: nccl-tests' bus bandwidth. A sum over `n` ranks of `bytes` bytes counts
//!   `bytes · 2(n−1)/n` bus bytes (what each rank must send and receive in a ring), so its GB/s is
//!   busbw; algbw = bytes / time is kept beside it.

pub mod suites;
pub mod verify;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A benchmark, as named on the command line and in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchKind {
    /// The compute ceiling, measured with independent FMA chains.
    Peak,
    /// Memory copy bandwidth.
    Membw,
    /// Dense matrix multiply.
    Matmul,
    /// Scaled dot-product attention forward.
    Attention,
    /// Sum of f32 buffers across ranks (MPI) or the GPUs of one node.
    Allreduce,
    /// A training step of a Llama-style decoder through the framework (PyTorch).
    Train,
}

impl BenchKind {
    /// Every benchmark, in the order a suite runs them (ceilings first).
    pub const ALL: [BenchKind; 6] = [
        Self::Peak,
        Self::Membw,
        Self::Matmul,
        Self::Attention,
        Self::Train,
        Self::Allreduce,
    ];

    /// The benchmarks one process measures on its own device (everything but all-reduce).
    pub const LOCAL: [BenchKind; 5] = [
        Self::Peak,
        Self::Membw,
        Self::Matmul,
        Self::Attention,
        Self::Train,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Peak => "peak",
            Self::Membw => "membw",
            Self::Matmul => "matmul",
            Self::Attention => "attention",
            Self::Allreduce => "allreduce",
            Self::Train => "train",
        }
    }

    /// Parses a command-line name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == text)
    }
}

impl fmt::Display for BenchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Element type of a benchmark's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
    /// 8-bit float (E4M3; `e4m3fnuz` on AMD MI300), scaled, with bf16 output (`torch._scaled_mm`).
    Fp8,
    /// IEEE binary32.
    F32,
    /// binary32 data multiplied in TF32 on NVIDIA tensor cores (10-bit mantissa products,
    /// f32 accumulation).
    Tf32,
    /// IEEE binary64.
    F64,
    /// Raw bytes (memory copies).
    Bytes,
}

impl DType {
    /// Every data type a benchmark may name.
    pub const ALL: [DType; 7] = [
        Self::Fp8,
        Self::F16,
        Self::Bf16,
        Self::F32,
        Self::Tf32,
        Self::F64,
        Self::Bytes,
    ];

    /// Size of one element in bytes.
    pub fn size(self) -> u64 {
        match self {
            Self::Fp8 => 1,
            Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::Tf32 => 4,
            Self::F64 => 8,
            Self::Bytes => 1,
        }
    }

    /// The name used on the command line, in results and in profiles.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp8 => "fp8",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
            Self::F32 => "f32",
            Self::Tf32 => "tf32",
            Self::F64 => "f64",
            Self::Bytes => "bytes",
        }
    }

    /// Parses a command-line name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == text)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The parameters of one measurement. Serialised as a flat object (`{"m":..,"n":..,"k":..}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Shape {
    /// Attention: batch, heads, sequence length, head dimension, causal mask.
    Attention {
        /// Batch size.
        b: u64,
        /// Heads.
        h: u64,
        /// Sequence length (queries = keys).
        s: u64,
        /// Head dimension.
        d: u64,
        /// Causal mask (each query sees keys up to its own position).
        causal: bool,
        /// Forward and backward (a training step's attention), not the forward alone.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        backward: bool,
    },
    /// A training step of a Llama-style decoder: layers, width, heads, vocabulary, sequence
    /// length and the largest micro-batch to try (the harness halves it until a step fits).
    Train {
        /// Transformer blocks.
        layers: u64,
        /// Model width.
        hidden: u64,
        /// Attention heads.
        heads: u64,
        /// Vocabulary.
        vocab: u64,
        /// Sequence length.
        seq: u64,
        /// The largest micro-batch tried.
        batch: u64,
    },
    /// All-reduce of `bytes` bytes per rank across `ranks` ranks, in place or not. Listed before
    /// `Membw` so that untagged reading does not take it for a copy.
    Allreduce {
        /// Message size per rank.
        bytes: u64,
        /// Ranks (or GPUs) taking part.
        ranks: u64,
        /// Whether the result overwrites the input buffer.
        inplace: bool,
    },
    /// Matrix multiply C (m×n) = A (m×k) · B (k×n).
    Matmul {
        /// Rows of A and C.
        m: u64,
        /// Columns of B and C.
        n: u64,
        /// Inner dimension.
        k: u64,
    },
    /// FMA peak on a number of threads.
    Peak {
        /// Threads running chains at once.
        threads: u64,
    },
    /// Memory copy of a buffer of `bytes` bytes.
    Membw {
        /// Size of the copied buffer.
        bytes: u64,
    },
}

impl Shape {
    /// A square matmul.
    pub fn square(n: u64) -> Self {
        Self::Matmul { m: n, n, k: n }
    }

    /// The `key=value` form used in CSV and tables: `m=1024 n=1024 k=1024`.
    pub fn display(&self) -> String {
        match *self {
            Self::Matmul { m, n, k } => format!("m={m} n={n} k={k}"),
            Self::Attention {
                b,
                h,
                s,
                d,
                causal,
                backward,
            } => {
                let pass = if backward { " fwd+bwd" } else { "" };
                format!("b={b} h={h} s={s} d={d} causal={causal}{pass}")
            }
            Self::Membw { bytes } => format!("bytes={bytes}"),
            Self::Peak { threads } => format!("threads={threads}"),
            Self::Allreduce {
                bytes,
                ranks,
                inplace,
            } => format!("bytes={bytes} ranks={ranks} inplace={inplace}"),
            Self::Train {
                layers,
                hidden,
                heads,
                vocab,
                seq,
                batch,
            } => format!(
                "L={layers} d={hidden} heads={heads} vocab={vocab} seq={seq} batch≤{batch} \
                 ({:.1}M)",
                train_parameters(layers, hidden, vocab) / 1e6
            ),
        }
    }

    /// Work of one run of a matmul, attention or copy of this shape in `dtype`.
    /// `None` for peak, whose work is set by the kernel's chain length.
    pub fn work(&self, dtype: DType) -> Option<Work> {
        let es = dtype.size() as f64;
        match *self {
            Self::Matmul { m, n, k } => Some(Work {
                flops: matmul_flops(m, n, k),
                // In f64: a shape read from a file can overflow u64 products.
                bytes: (m as f64 * k as f64 + k as f64 * n as f64 + m as f64 * n as f64) * es,
            }),
            Self::Attention {
                b,
                h,
                s,
                d,
                causal,
                backward,
            } => Some(Work {
                // FlashAttention's accounting: the backward pass is 2.5× the forward.
                flops: attention_flops(b, h, s, d, causal) * if backward { 3.5 } else { 1.0 },
                bytes: 4.0 * b as f64 * h as f64 * s as f64 * d as f64 * es,
            }),
            Self::Membw { bytes } => Some(Work {
                flops: 0.0,
                bytes: copy_bytes(bytes),
            }),
            Self::Allreduce { bytes, ranks, .. } => Some(Work {
                flops: 0.0,
                bytes: allreduce_bus_bytes(bytes, ranks),
            }),
            Self::Peak { .. } => None,
            // Model FLOPs of one step at the largest micro-batch (the harness reports the batch
            // that fit, and its FLOPs, with the measurement).
            Self::Train {
                layers,
                hidden,
                vocab,
                seq,
                batch,
                ..
            } => Some(Work {
                flops: train_flops_per_token(layers, hidden, vocab, seq) * (batch * seq) as f64,
                bytes: 0.0,
            }),
        }
    }

    /// The shape's main size, the x of a plot: matmul's cube root of m·n·k (n when square),
    /// attention's sequence length, a copy's or an all-reduce's bytes, a peak's threads.
    pub fn main_size(&self) -> f64 {
        match *self {
            Self::Matmul { m, n, k } => (m as f64 * n as f64 * k as f64).cbrt().round(),
            Self::Attention { s, .. } => s as f64,
            Self::Membw { bytes } => bytes as f64,
            Self::Peak { threads } => threads as f64,
            Self::Allreduce { bytes, .. } => bytes as f64,
            Self::Train {
                layers,
                hidden,
                vocab,
                ..
            } => train_parameters(layers, hidden, vocab),
        }
    }

    /// Memory the benchmark allocates for this shape, to refuse sizes before allocating.
    pub fn footprint(&self, dtype: DType) -> u64 {
        let es = dtype.size();
        match *self {
            Self::Matmul { m, n, k } => m
                .saturating_mul(k)
                .saturating_add(k.saturating_mul(n))
                .saturating_add(m.saturating_mul(n))
                .saturating_mul(es),
            Self::Attention { b, h, s, d, .. } => 4u64
                .saturating_mul(b)
                .saturating_mul(h)
                .saturating_mul(s)
                .saturating_mul(d)
                .saturating_mul(es),
            Self::Membw { bytes } | Self::Allreduce { bytes, .. } => bytes.saturating_mul(2),
            Self::Peak { .. } => 0,
            // Weights, gradients and AdamW's two moments in f32, on the device.
            Self::Train {
                layers,
                hidden,
                vocab,
                ..
            } => {
                (16.0 * (train_parameters(layers, hidden, vocab) + (vocab * hidden) as f64)) as u64
            }
        }
    }
}

/// SwiGLU's hidden size as Llama sets it: 8/3 of the width, rounded up to a multiple of 256.
pub fn ffn_size(hidden: u64) -> u64 {
    (8 * hidden / 3).div_ceil(256) * 256
}

/// Parameters of the harness's Llama-style decoder without the token embedding (the `N` of the
/// MFU formula): per block QKV, output projection, SwiGLU and two RMSNorms; the final norm and
/// the (untied) output head.
pub fn train_parameters(layers: u64, hidden: u64, vocab: u64) -> f64 {
    let (l, d, v, f) = (
        layers as f64,
        hidden as f64,
        vocab as f64,
        ffn_size(hidden) as f64,
    );
    l * (4.0 * d * d + 3.0 * d * f + 2.0 * d) + d + d * v
}

/// Model FLOPs per trained token, PaLM's formula as torchtitan and llm-foundry count it:
/// 6N + 12·L·H·Q·T (H·Q = the width), no causal halving.
pub fn train_flops_per_token(layers: u64, hidden: u64, vocab: u64, seq: u64) -> f64 {
    6.0 * train_parameters(layers, hidden, vocab) + 12.0 * (layers * hidden * seq) as f64
}

/// FLOPs of C = A·B, A m×k: `2·m·n·k`.
pub fn matmul_flops(m: u64, n: u64, k: u64) -> f64 {
    2.0 * m as f64 * n as f64 * k as f64
}

/// FLOPs of an attention forward: `4·b·h·s²·d`, halved when causal (FlashAttention's accounting).
pub fn attention_flops(b: u64, h: u64, s: u64, d: u64, causal: bool) -> f64 {
    let full = 4.0 * b as f64 * h as f64 * (s as f64).powi(2) * d as f64;
    if causal { full / 2.0 } else { full }
}

/// nccl-tests' bus bytes of an all-reduce of `bytes` over `ranks` ranks: `bytes · 2(n−1)/n`
/// (0 for a single rank, which moves nothing).
pub fn allreduce_bus_bytes(bytes: u64, ranks: u64) -> f64 {
    if ranks == 0 {
        return 0.0;
    }
    bytes as f64 * 2.0 * (ranks - 1) as f64 / ranks as f64
}

/// Bytes moved by a copy of `bytes` bytes: read once and written once.
pub fn copy_bytes(bytes: u64) -> f64 {
    2.0 * bytes as f64
}

/// The work one run of a kernel does.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Work {
    /// Floating-point operations (an FMA counts two).
    #[serde(with = "crate::float")]
    pub flops: f64,
    /// Bytes read plus bytes written (minimum traffic).
    #[serde(with = "crate::float")]
    pub bytes: f64,
}

/// The unit a throughput is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// 10¹² floating-point operations per second.
    #[serde(rename = "TFLOP/s")]
    TflopPerS,
    /// 10⁹ bytes per second (base 10).
    #[serde(rename = "GB/s")]
    GbPerS,
}

impl Unit {
    /// The unit's symbol as written in reports and CSV.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::TflopPerS => "TFLOP/s",
            Self::GbPerS => "GB/s",
        }
    }

    /// The unit a benchmark's headline figure is given in.
    pub fn for_bench(bench: BenchKind) -> Self {
        match bench {
            BenchKind::Membw | BenchKind::Allreduce => Self::GbPerS,
            _ => Self::TflopPerS,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A rate with its unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// The rate in `unit`.
    #[serde(with = "crate::float")]
    pub value: f64,
    /// TFLOP/s or GB/s.
    pub unit: Unit,
}

impl Throughput {
    /// The rate of doing `work` in `seconds`, in the unit the benchmark is reported in.
    pub fn of(bench: BenchKind, work: Work, seconds: f64) -> Self {
        let unit = Unit::for_bench(bench);
        let value = match unit {
            Unit::TflopPerS => work.flops / seconds / 1e12,
            Unit::GbPerS => work.bytes / seconds / 1e9,
        };
        Self { value, unit }
    }
}

impl fmt::Display for Throughput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", sig(self.value, 3), self.unit)
    }
}

// The figures' format lives in `float`, a leaf, so that `node` can use it too.
pub use crate::float::sig;

/// Formats a figure from a table (a datasheet peak, a price) with up to 4 significant digits and
/// no trailing zeros: `67`, `494.5`, `0.0343`.
pub fn num(x: f64) -> String {
    let s = sig(x, 4);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `0.04%`, `89%`, `1.2×` style percentages.
pub fn percent(x: f64) -> String {
    let p = x * 100.0;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{}%", sig(p, 2))
    }
}

/// `12.3 ms`, `1.2 s`, `40 µs`.
pub fn duration_s(s: f64) -> String {
    if s >= 1.0 {
        format!("{} s", sig(s, 3))
    } else if s >= 1e-3 {
        format!("{} ms", sig(s * 1e3, 3))
    } else {
        format!("{} µs", sig(s * 1e6, 3))
    }
}

/// One measurement to make: a benchmark, a data type and a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The benchmark.
    pub bench: BenchKind,
    /// Element type.
    pub dtype: DType,
    /// Problem shape.
    pub shape: Shape,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.bench, self.dtype, self.shape.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness's CI model (2 layers, width 128, vocabulary 512) has 590,464 parameters
    /// without its embedding, as torch counts them.
    #[test]
    fn train_parameters_match_the_harness_model() {
        assert_eq!(ffn_size(128), 512);
        assert_eq!(ffn_size(768), 2048);
        assert_eq!(train_parameters(2, 128, 512), 590_464.0);
        assert_eq!(
            train_flops_per_token(2, 128, 512, 128),
            6.0 * 590_464.0 + 12.0 * 2.0 * 128.0 * 128.0
        );
    }

    #[test]
    fn matmul_flops_are_two_mnk() {
        assert_eq!(matmul_flops(1024, 1024, 1024), 2.0 * 1024f64.powi(3));
        assert_eq!(matmul_flops(2, 3, 5), 60.0);
        let w = Shape::square(256).work(DType::F32).unwrap();
        assert_eq!(w.flops, 2.0 * 256f64.powi(3));
        assert_eq!(w.bytes, 3.0 * 256.0 * 256.0 * 4.0);
    }

    #[test]
    fn work_of_huge_shapes_does_not_overflow() {
        let w = Shape::Matmul {
            m: u64::MAX,
            n: u64::MAX,
            k: 3,
        }
        .work(DType::F32)
        .unwrap();
        assert!(w.bytes > 1e38 && w.flops.is_finite());
        let a = Shape::Attention {
            backward: false,
            b: u64::MAX,
            h: u64::MAX,
            s: 2,
            d: 2,
            causal: false,
        };
        assert!(a.work(DType::F16).unwrap().bytes > 1e38);
    }

    #[test]
    fn attention_flops_follow_flashattention_accounting() {
        // 4·b·h·s²·d; b=1 h=8 s=1024 d=64 → 2^31 flops.
        assert_eq!(attention_flops(1, 8, 1024, 64, false), 2f64.powi(31));
        assert_eq!(attention_flops(1, 8, 1024, 64, true), 2f64.powi(30));
        assert_eq!(
            attention_flops(2, 3, 5, 7, false),
            4.0 * 2.0 * 3.0 * 25.0 * 7.0
        );
    }

    #[test]
    fn copy_counts_read_and_write() {
        assert_eq!(copy_bytes(268_435_456), 536_870_912.0);
        let t = Throughput::of(
            BenchKind::Membw,
            Shape::Membw {
                bytes: 1_000_000_000,
            }
            .work(DType::Bytes)
            .unwrap(),
            1.0,
        );
        assert_eq!(t.value, 2.0);
        assert_eq!(t.unit, Unit::GbPerS);
    }

    #[test]
    fn allreduce_busbw_follows_nccl_tests() {
        // busbw = algbw · 2(n−1)/n: 8 ranks, 1 GB in 1 s → algbw 1 GB/s, busbw 1.75 GB/s.
        let shape = Shape::Allreduce {
            bytes: 1_000_000_000,
            ranks: 8,
            inplace: true,
        };
        let t = Throughput::of(BenchKind::Allreduce, shape.work(DType::F32).unwrap(), 1.0);
        assert_eq!(t.unit, Unit::GbPerS);
        assert!((t.value - 1.75).abs() < 1e-12);
        assert_eq!(allreduce_bus_bytes(1024, 2), 1024.0);
        assert_eq!(allreduce_bus_bytes(1024, 1), 0.0);
    }

    #[test]
    fn throughput_in_tflops() {
        let t = Throughput::of(
            BenchKind::Matmul,
            Work {
                flops: 3e12,
                bytes: 0.0,
            },
            2.0,
        );
        assert_eq!(t.value, 1.5);
        assert_eq!(t.to_string(), "1.50 TFLOP/s");
    }

    #[test]
    fn shapes_display_and_round_trip() {
        let shapes = [
            Shape::square(1024),
            Shape::Attention {
                backward: false,
                b: 1,
                h: 8,
                s: 1024,
                d: 64,
                causal: true,
            },
            Shape::Membw { bytes: 268_435_456 },
            Shape::Peak { threads: 2 },
            Shape::Allreduce {
                bytes: 1 << 20,
                ranks: 4,
                inplace: false,
            },
        ];
        let texts = [
            "m=1024 n=1024 k=1024",
            "b=1 h=8 s=1024 d=64 causal=true",
            "bytes=268435456",
            "threads=2",
            "bytes=1048576 ranks=4 inplace=false",
        ];
        for (shape, text) in shapes.iter().zip(texts) {
            assert_eq!(shape.display(), text);
            let json = serde_json::to_string(shape).unwrap();
            assert_eq!(&serde_json::from_str::<Shape>(&json).unwrap(), shape);
        }
    }

    #[test]
    fn footprint_saturates_instead_of_overflowing() {
        assert_eq!(Shape::square(u64::MAX).footprint(DType::F64), u64::MAX);
        assert_eq!(
            Shape::square(1024).footprint(DType::F32),
            3 * 4 * 1024 * 1024
        );
    }

    #[test]
    fn sig_digits() {
        assert_eq!(sig(0.18234, 3), "0.182");
        assert_eq!(sig(182.34, 3), "182");
        assert_eq!(sig(1.5, 3), "1.50");
        assert_eq!(num(67.0), "67");
        assert_eq!(num(494.5), "494.5");
        assert_eq!(num(3350.0), "3350");
    }
}
