//! Suites: which cases `quick`, `standard` and `full` run, narrowed by `--bench`, `--dtype` and
//! `--sizes`, and checked against the node's memory before anything is allocated.

use super::{BenchKind, Case, DType, Shape};
use crate::error::input_error;
use crate::node::human_bytes;

/// Invocations per dispatch of the accelerators' FMA-chain peak kernel: enough to fill an H100
/// (132 SMs × 2,048 threads).
pub const ACCELERATOR_PEAK_INVOCATIONS: u64 = 1 << 18;

/// A named set of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// About a minute on a 2-core CPU: ceilings, small matmuls and attention.
    Quick,
    /// Minutes: larger sizes and f64.
    Standard,
    /// Everything the device can hold.
    Full,
}

impl Suite {
    /// Every suite, by name.
    pub const NAMES: [&'static str; 3] = ["quick", "standard", "full"];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Standard => "standard",
            Self::Full => "full",
        }
    }
}

impl std::str::FromStr for Suite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Quick, Self::Standard, Self::Full]
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown suite `{s}`; known: {}", Self::NAMES.join(", ")))
    }
}

/// What the user asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The suite.
    pub suite: Suite,
    /// `--bench`: only these benchmarks.
    pub benches: Option<Vec<BenchKind>>,
    /// `--dtype`: only these element types.
    pub dtypes: Option<Vec<DType>>,
    /// `--sizes`: matmul's square sizes and attention's sequence lengths.
    pub sizes: Option<Vec<u64>>,
}

impl Selection {
    /// A suite with no narrowing.
    pub fn suite(suite: Suite) -> Self {
        Self {
            suite,
            benches: None,
            dtypes: None,
            sizes: None,
        }
    }
}

/// The data types a backend computes each benchmark in; the first is the suite's default for
/// matmul in the quick suite.
pub type DtypesFor<'a> = dyn Fn(BenchKind) -> Vec<DType> + 'a;

/// Why the device only emulates a data type (far slower than its native types), if it does:
/// such a type is left out of the suites' defaults and runs only when `--dtype` names it.
pub type EmulatedFor<'a> = dyn Fn(DType) -> Option<String> + 'a;

/// No data type emulated.
pub fn none_emulated(_: DType) -> Option<String> {
    None
}

/// The plan: cases in run order, plus notes on what was left out and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Cases to run, ceilings first.
    pub cases: Vec<Case>,
    /// What the filters left out, in plain words.
    pub notes: Vec<String>,
}

fn default_dtypes(
    suite: Suite,
    bench: BenchKind,
    accelerator: bool,
    framework: bool,
) -> Vec<DType> {
    match (suite, bench) {
        (_, BenchKind::Train) => vec![DType::Bf16],
        // Through a framework: the training type first; the quick suite measures it alone.
        (Suite::Quick, BenchKind::Matmul | BenchKind::Attention) if framework && accelerator => {
            vec![DType::Bf16]
        }
        (_, BenchKind::Matmul) if framework && accelerator => {
            vec![DType::Bf16, DType::F16, DType::F32, DType::Tf32, DType::Fp8]
        }
        (_, BenchKind::Attention) if framework && accelerator => {
            vec![DType::Bf16, DType::F16]
        }
        (Suite::Quick, BenchKind::Matmul | BenchKind::Attention) if framework => vec![DType::F32],
        (_, BenchKind::Matmul | BenchKind::Attention) if framework => {
            vec![DType::F32, DType::Bf16]
        }
        (_, BenchKind::Membw) => vec![DType::Bytes],
        (_, BenchKind::Peak) => vec![DType::F32, DType::F64],
        (_, BenchKind::Allreduce) => vec![DType::F32],
        // Accelerators train in 16-bit types: every suite measures them where the device can.
        (_, BenchKind::Matmul | BenchKind::Attention) if accelerator => {
            vec![DType::F32, DType::F16, DType::Bf16]
        }
        (Suite::Quick, _) => vec![DType::F32],
        (_, BenchKind::Matmul) => vec![DType::F32, DType::F64],
        (_, BenchKind::Attention) => vec![DType::F32],
    }
}

fn matmul_sizes(suite: Suite, accelerator: bool) -> Vec<u64> {
    match (suite, accelerator) {
        (Suite::Quick, false) => vec![256, 512, 1024],
        (Suite::Standard, false) => vec![256, 512, 1024, 2048],
        (Suite::Full, false) => vec![256, 512, 1024, 2048, 4096, 8192],
        (Suite::Quick, true) => vec![1024, 2048, 4096],
        (Suite::Standard, true) => vec![1024, 2048, 4096, 8192],
        (Suite::Full, true) => vec![1024, 2048, 4096, 8192, 16384],
    }
}

/// Matmul shapes through a framework: squares, plus on an accelerator the best shapes mamf-finder
/// published (H100: 2048×2048×13312; A100: 1024×10240×5120; MI300X: 10240×15360×8192) in the
/// longer suites, so a published figure can be reproduced at its own shape.
fn framework_matmul_shapes(suite: Suite, accelerator: bool) -> Vec<Shape> {
    let mut v: Vec<Shape> = matmul_sizes(suite, accelerator)
        .into_iter()
        .map(Shape::square)
        .collect();
    if accelerator {
        v.push(Shape::Matmul {
            m: 2048,
            n: 2048,
            k: 13312,
        });
        if suite != Suite::Quick {
            v.push(Shape::Matmul {
                m: 1024,
                n: 10240,
                k: 5120,
            });
            v.push(Shape::Matmul {
                m: 10240,
                n: 15360,
                k: 8192,
            });
        }
    }
    v
}

/// Attention through a framework, as training runs it: forward and backward (the longer suites
/// also the forward alone), head dims 64 and 128, causal and not. On an accelerator 16k tokens
/// per batch and hidden size 2048 (FlashAttention's benchmark setting); on the CPU batch 1 and
/// 8 heads.
fn framework_attention_shapes(
    suite: Suite,
    accelerator: bool,
    sizes: Option<&[u64]>,
) -> Vec<Shape> {
    let seqs: Vec<u64> = sizes
        .map(<[u64]>::to_vec)
        .unwrap_or_else(|| match (suite, accelerator) {
            (Suite::Quick, true) => vec![2048],
            (Suite::Standard, true) => vec![1024, 2048, 4096],
            (Suite::Full, true) => vec![512, 1024, 2048, 4096, 8192, 16384],
            (Suite::Quick, false) => vec![256],
            (Suite::Standard, false) => vec![256, 512, 1024],
            (Suite::Full, false) => vec![256, 512, 1024, 2048],
        });
    let passes: &[bool] = if suite == Suite::Quick {
        &[true]
    } else {
        &[false, true]
    };
    let mut v = Vec::new();
    for &backward in passes {
        for d in [64u64, 128] {
            for &s in &seqs {
                for causal in [false, true] {
                    let (b, h) = if accelerator {
                        ((16384 / s).max(1), 2048 / d)
                    } else {
                        (1, 8)
                    };
                    v.push(Shape::Attention {
                        b,
                        h,
                        s,
                        d,
                        causal,
                        backward,
                    });
                }
            }
        }
    }
    v
}

/// Training presets (the harness's names in parentheses): on a GPU llm-foundry's MPT sizes, the
/// quick suite's 125M alone, the full suite's up to about 1B parameters; on a CPU a CI-sized
/// model (0.6M parameters) and, beyond quick, a small one. Sequence 2048 on GPUs.
pub fn train_presets(suite: Suite, accelerator: bool) -> Vec<Shape> {
    let p = |layers, hidden, heads, vocab, seq, batch| Shape::Train {
        layers,
        hidden,
        heads,
        vocab,
        seq,
        batch,
    };
    let ci = p(2, 128, 4, 512, 128, 4);
    let small = p(4, 256, 4, 4096, 256, 8);
    let m125 = p(12, 768, 12, 32000, 2048, 16);
    let m350 = p(24, 1024, 16, 32000, 2048, 16);
    // 12 heads (head dim 128), as llm-foundry's mpt-760m.yaml has them (16 -> 12 for FlashAttention).
    let m760 = p(24, 1536, 12, 32000, 2048, 8);
    let b1 = p(24, 2048, 16, 32000, 2048, 8);
    match (suite, accelerator) {
        (Suite::Quick, false) => vec![ci],
        (_, false) => vec![ci, small],
        (Suite::Quick, true) => vec![m125],
        (Suite::Standard, true) => vec![m125, m350, m760],
        (Suite::Full, true) => vec![m125, m350, m760, b1],
    }
}

fn attention_grid(suite: Suite) -> (Vec<u64>, Vec<u64>) {
    // (sequence lengths, head dims); batch 1 and 8 heads throughout.
    match suite {
        Suite::Quick => (vec![256, 512, 1024], vec![64]),
        Suite::Standard => (vec![512, 1024, 2048, 4096], vec![64, 128]),
        Suite::Full => (vec![512, 1024, 2048, 4096, 8192], vec![64, 128]),
    }
}

/// The copy size: 256 MiB, or 8× the last-level cache when that is larger (rounded up to a power
/// of two), so the copy measures memory, not cache.
pub fn membw_bytes(suite: Suite, llc_bytes: u64) -> u64 {
    let floor: u64 = if suite == Suite::Full {
        1 << 30
    } else {
        256 << 20
    };
    floor.max((llc_bytes * 8).next_power_of_two())
}

/// What a plan is made for: the device's capabilities and the node's memory.
pub struct Target<'a> {
    /// The data types the backend computes each benchmark in.
    pub supported: &'a DtypesFor<'a>,
    /// Threads the backend runs (the peak runs on one and on all).
    pub threads: usize,
    /// The node's last-level cache, bytes (sizes the copy).
    pub llc_bytes: u64,
    /// Host memory available, bytes (0: unknown).
    pub available_memory: u64,
    /// An accelerator: larger matmul sizes.
    pub accelerator: bool,
    /// Measured through a framework (PyTorch): its shapes and types (training's bf16, the
    /// published best matmul shapes, attention forward and backward).
    pub framework: bool,
    /// The largest buffer the device binds, when limited.
    pub max_buffer: Option<u64>,
    /// The data types the device only emulates, with why.
    pub emulated: &'a EmulatedFor<'a>,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("threads", &self.threads)
            .field("accelerator", &self.accelerator)
            .finish()
    }
}

/// Builds the plan for `selection` on `target`; refuses sizes of 0, cases larger than the
/// available memory and buffers beyond the device's limit, before anything is allocated.
pub fn plan(selection: &Selection, target: &Target) -> anyhow::Result<Plan> {
    let Target {
        supported,
        threads,
        llc_bytes,
        available_memory,
        accelerator,
        framework,
        max_buffer,
        emulated,
    } = *target;
    if let Some(sizes) = &selection.sizes {
        if sizes.is_empty() {
            return Err(input_error("--sizes", "the list is empty"));
        }
        if sizes.contains(&0) {
            return Err(input_error(
                "--sizes",
                "0 is not a valid size; sizes are ≥ 1",
            ));
        }
    }
    let mut cases = Vec::new();
    let mut notes = Vec::new();
    let benches = selection
        .benches
        .clone()
        .unwrap_or(BenchKind::LOCAL.to_vec());
    // All-reduce is planned by `crate::comm::allreduce`: it needs ranks, not a device.
    for bench in BenchKind::LOCAL.into_iter().filter(|b| benches.contains(b)) {
        let can = supported(bench);
        let dtypes: Vec<DType> = match &selection.dtypes {
            Some(asked) if bench != BenchKind::Membw => {
                let keep: Vec<DType> = asked.iter().copied().filter(|d| can.contains(d)).collect();
                if keep.is_empty() {
                    let names: Vec<&str> = can.iter().map(|d| d.name()).collect();
                    let msg = format!("{bench} runs in {} on this backend", names.join(", "));
                    if selection.benches.is_some() {
                        return Err(input_error("--dtype", msg));
                    }
                    notes.push(format!("{msg}; skipped"));
                }
                keep
            }
            _ => {
                let mut keep = Vec::new();
                let mut left_out = Vec::new();
                for d in default_dtypes(selection.suite, bench, accelerator, framework) {
                    match (can.contains(&d), emulated(d)) {
                        (false, _) => {}
                        (true, Some(why)) => left_out.push((d, why)),
                        (true, None) => keep.push(d),
                    }
                }
                // Training measures the device's fastest type it runs natively.
                if keep.is_empty() && !left_out.is_empty() && bench == BenchKind::Train {
                    keep.extend(
                        can.iter()
                            .copied()
                            .filter(|&d| d == DType::F32 && emulated(d).is_none()),
                    );
                }
                for (d, why) in left_out {
                    notes.push(format!(
                        "{bench} {d} left out: {why}; --dtype {d} measures it anyway"
                    ));
                }
                keep
            }
        };
        for dtype in dtypes {
            let shapes: Vec<Shape> = match bench {
                BenchKind::Peak if accelerator => vec![Shape::Peak {
                    threads: ACCELERATOR_PEAK_INVOCATIONS,
                }],
                BenchKind::Peak => {
                    let mut t = vec![1];
                    if threads > 1 {
                        t.push(threads as u64);
                    }
                    t.into_iter()
                        .map(|threads| Shape::Peak { threads })
                        .collect()
                }
                BenchKind::Allreduce => Vec::new(),
                BenchKind::Train => train_presets(selection.suite, accelerator),
                BenchKind::Membw => {
                    let bytes = membw_bytes(selection.suite, llc_bytes);
                    vec![Shape::Membw {
                        bytes: max_buffer.map_or(bytes, |m| bytes.min(m)),
                    }]
                }
                BenchKind::Matmul if framework && selection.sizes.is_none() => {
                    framework_matmul_shapes(selection.suite, accelerator)
                }
                BenchKind::Matmul => selection
                    .sizes
                    .clone()
                    .unwrap_or_else(|| matmul_sizes(selection.suite, accelerator))
                    .into_iter()
                    .map(Shape::square)
                    .collect(),
                BenchKind::Attention if framework => framework_attention_shapes(
                    selection.suite,
                    accelerator,
                    selection.sizes.as_deref(),
                ),
                BenchKind::Attention => {
                    let (seqs, dims) = attention_grid(selection.suite);
                    let seqs = selection.sizes.clone().unwrap_or(seqs);
                    let mut v = Vec::new();
                    for &d in &dims {
                        for &s in &seqs {
                            for causal in [false, true] {
                                v.push(Shape::Attention {
                                    b: 1,
                                    h: 8,
                                    s,
                                    d,
                                    causal,
                                    backward: false,
                                });
                            }
                        }
                    }
                    v
                }
            };
            cases.extend(shapes.into_iter().map(|shape| Case {
                bench,
                dtype,
                shape,
            }));
        }
    }
    if cases.is_empty() {
        return Err(input_error(
            "--bench/--dtype",
            "nothing to run: the selection leaves no benchmark",
        ));
    }
    if available_memory > 0 {
        // Leave a tenth for the verification and the rest of the process.
        let budget = available_memory / 10 * 9;
        if let Some(case) = cases.iter().find(|c| c.shape.footprint(c.dtype) > budget) {
            let input = if selection.sizes.is_some() {
                "--sizes"
            } else {
                "--suite"
            };
            return Err(input_error(
                input,
                format!(
                    "{case} needs {} of memory, more than the {} this node has available; \
                     choose smaller sizes",
                    human_bytes(case.shape.footprint(case.dtype)),
                    human_bytes(available_memory)
                ),
            ));
        }
    }
    if let Some(limit) = max_buffer {
        let largest = |c: &Case| match c.shape {
            Shape::Matmul { m, n, k } => m
                .saturating_mul(k)
                .max(k.saturating_mul(n))
                .max(m.saturating_mul(n))
                .saturating_mul(c.dtype.size()),
            Shape::Attention { b, h, s, d, .. } => b
                .saturating_mul(h)
                .saturating_mul(s)
                .saturating_mul(d)
                .saturating_mul(c.dtype.size()),
            _ => 0,
        };
        if let Some(case) = cases.iter().find(|c| largest(c) > limit) {
            return Err(input_error(
                if selection.sizes.is_some() {
                    "--sizes"
                } else {
                    "--suite"
                },
                format!(
                    "{case}: one operand needs {}, above this device's buffer-binding limit of {}",
                    human_bytes(largest(case)),
                    human_bytes(limit)
                ),
            ));
        }
    }
    Ok(Plan { cases, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;

    fn cpu(bench: BenchKind) -> Vec<DType> {
        match bench {
            BenchKind::Membw => vec![DType::Bytes],
            BenchKind::Attention => vec![DType::F32],
            _ => vec![DType::F32, DType::F64],
        }
    }

    const GIB: u64 = 1 << 30;

    fn cpu_target(threads: usize, llc: u64, mem: u64) -> Target<'static> {
        Target {
            supported: &cpu,
            threads,
            llc_bytes: llc,
            available_memory: mem,
            accelerator: false,
            framework: false,
            max_buffer: None,
            emulated: &none_emulated,
        }
    }

    #[test]
    fn quick_suite_contents() {
        let p = plan(
            &Selection::suite(Suite::Quick),
            &cpu_target(2, 32 << 20, 16 * GIB),
        )
        .unwrap();
        let names: Vec<String> = p.cases.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            names[..4],
            [
                "peak f32 threads=1",
                "peak f32 threads=2",
                "peak f64 threads=1",
                "peak f64 threads=2"
            ]
        );
        assert_eq!(names[4], "membw bytes bytes=268435456");
        assert_eq!(
            names[5..8],
            [
                "matmul f32 m=256 n=256 k=256",
                "matmul f32 m=512 n=512 k=512",
                "matmul f32 m=1024 n=1024 k=1024"
            ]
        );
        assert_eq!(names.len(), 8 + 6);
        assert!(names.contains(&"attention f32 b=1 h=8 s=1024 d=64 causal=true".to_string()));
    }

    #[test]
    fn standard_adds_2048_and_f64() {
        let p = plan(
            &Selection::suite(Suite::Standard),
            &cpu_target(4, 0, 16 * GIB),
        )
        .unwrap();
        assert!(
            p.cases
                .iter()
                .any(|c| c.to_string() == "matmul f32 m=2048 n=2048 k=2048")
        );
        assert!(
            p.cases
                .iter()
                .any(|c| c.to_string() == "matmul f64 m=2048 n=2048 k=2048")
        );
    }

    #[test]
    fn sizes_and_dtype_filters() {
        let sel = Selection {
            suite: Suite::Quick,
            benches: Some(vec![BenchKind::Matmul, BenchKind::Attention]),
            dtypes: Some(vec![DType::F32, DType::F64]),
            sizes: Some(vec![64, 96]),
        };
        let p = plan(&sel, &cpu_target(2, 0, 16 * GIB)).unwrap();
        let names: Vec<String> = p.cases.iter().map(|c| c.to_string()).collect();
        assert_eq!(names.len(), 4 + 4);
        assert!(names.contains(&"matmul f64 m=96 n=96 k=96".to_string()));
        assert!(names.contains(&"attention f32 b=1 h=8 s=64 d=64 causal=false".to_string()));
    }

    #[test]
    fn bad_sizes_are_input_errors() {
        let mut sel = Selection::suite(Suite::Quick);
        sel.sizes = Some(vec![256, 0]);
        let err = plan(&sel, &cpu_target(2, 0, 16 * GIB)).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("0 is not a valid size"));
        sel.sizes = Some(vec![1_000_000]);
        let err = plan(&sel, &cpu_target(2, 0, 16 * GIB)).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("matmul f32 m=1000000"), "{err}");
        assert!(err.to_string().contains("TiB"), "{err}");
    }

    #[test]
    fn impossible_dtype_for_an_asked_bench_is_an_error() {
        let sel = Selection {
            suite: Suite::Quick,
            benches: Some(vec![BenchKind::Attention]),
            dtypes: Some(vec![DType::F64]),
            sizes: None,
        };
        let err = plan(&sel, &cpu_target(2, 0, 16 * GIB)).unwrap_err();
        assert!(err.to_string().contains("attention runs in f32"), "{err}");
        // Unasked, it is a note instead.
        let sel = Selection {
            benches: None,
            ..sel
        };
        let p = plan(&sel, &cpu_target(2, 0, 16 * GIB)).unwrap();
        assert!(p.notes[0].contains("attention runs in f32"));
    }

    #[test]
    fn accelerators_get_larger_sizes_within_their_limits() {
        let gpu = |b: BenchKind| {
            if b == BenchKind::Membw {
                vec![DType::Bytes]
            } else if b == BenchKind::Matmul || b == BenchKind::Peak {
                vec![DType::F32]
            } else {
                vec![]
            }
        };
        let t = Target {
            supported: &gpu,
            threads: 1,
            llc_bytes: 0,
            available_memory: 64 * GIB,
            accelerator: true,
            framework: false,
            max_buffer: Some(128 << 20),
            emulated: &none_emulated,
        };
        let p = plan(&Selection::suite(Suite::Quick), &t).unwrap();
        let names: Vec<String> = p.cases.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            names,
            [
                "peak f32 threads=262144",
                "membw bytes bytes=134217728",
                "matmul f32 m=1024 n=1024 k=1024",
                "matmul f32 m=2048 n=2048 k=2048",
                "matmul f32 m=4096 n=4096 k=4096"
            ]
        );
        let mut sel = Selection::suite(Suite::Quick);
        sel.sizes = Some(vec![8192]);
        let err = plan(&sel, &t).unwrap_err();
        assert!(
            err.to_string().contains("buffer-binding limit of 128 MiB"),
            "{err}"
        );
    }

    #[test]
    fn membw_outgrows_large_caches() {
        assert_eq!(membw_bytes(Suite::Quick, 32 << 20), 256 << 20);
        assert_eq!(membw_bytes(Suite::Quick, 96 << 20), 1 << 30);
        assert_eq!(membw_bytes(Suite::Full, 0), 1 << 30);
    }
}
