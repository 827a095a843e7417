//! Comparing a run with a baseline: like for like where possible, otherwise fractions of each
//! machine's own peak, said plainly.
//!
//! Per benchmark and data type, our figure is the best valid measurement (verified, timed, not
//! suspect). The baseline figure is chosen in this order:
//! 1. **like for like**: a published reference of the same benchmark and data type, measured on
//!    the same class of device (an accelerator result against an accelerator reference);
//! 2. **fraction of peak**: when the devices differ (our CPU against their GPUs), our figure as a
//!    fraction of our measured FMA peak against their reference as a fraction of their datasheet
//!    peak — an efficiency comparison, not a speed comparison;
//! 3. **peak vs peak**: our measured peak against their datasheet peak for the whole node;
//! 4. otherwise the baseline's figure is shown for context only and not scored.
//!
//! Verdicts on a ratio r (ours / theirs): faster (r ≥ 1.1), on par (≥ 0.9), slower (≥ 0.5),
//! much slower (< 0.5). A measurement above its device's measured peak (by more than 5%) is
//! flagged as suspect and never counted.

use crate::bench::{BenchKind, DType, Shape, Throughput, num, percent};
use crate::node::Inventory;
use crate::node::checklist::Check;
use crate::profiles::{Profile, Reference};
use crate::results::{DeviceKind, Measurement, MethodFamily, Results};
use serde::{Deserialize, Serialize};

/// How a row's ratio was formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Same benchmark, data type and device class.
    LikeForLike,
    /// Efficiency: fraction of each machine's own peak.
    FractionOfPeak,
    /// Our measured peak against the baseline's datasheet node peak.
    PeakVsPeak,
    /// The baseline figure is context only.
    ContextOnly,
    /// The baseline has no figure for this.
    NoReference,
}

impl Basis {
    /// Plain words for tables.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LikeForLike => "like for like",
            Self::FractionOfPeak => "fraction of own peak",
            Self::PeakVsPeak => "measured peak vs datasheet peak",
            Self::ContextOnly => "context only",
            Self::NoReference => "no baseline figure",
        }
    }
}

/// The verdict thresholds on a ratio (ours / theirs): the one place they are set.
pub mod thresholds {
    /// At or above: faster.
    pub const FASTER: f64 = 1.1;
    /// At or above: on par (ready).
    pub const ON_PAR: f64 = 0.9;
    /// At or above: slower (ready with changes); below: much slower (not ready).
    pub const SLOWER: f64 = 0.5;
}

/// The verdict on one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Ratio ≥ 1.1.
    Faster,
    /// 0.9 ≤ ratio < 1.1.
    OnPar,
    /// 0.5 ≤ ratio < 0.9.
    Slower,
    /// Ratio < 0.5.
    MuchSlower,
    /// No ratio could be formed.
    NotComparable,
    /// Nothing valid was measured.
    Invalid,
}

impl Verdict {
    /// The verdict for a ratio.
    pub fn from_ratio(r: f64) -> Self {
        match r {
            r if r >= thresholds::FASTER => Self::Faster,
            r if r >= thresholds::ON_PAR => Self::OnPar,
            r if r >= thresholds::SLOWER => Self::Slower,
            _ => Self::MuchSlower,
        }
    }

    /// Plain words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Faster => "faster",
            Self::OnPar => "on par",
            Self::Slower => "slower",
            Self::MuchSlower => "much slower",
            Self::NotComparable => "not comparable",
            Self::Invalid => "invalid",
        }
    }
}

/// The baseline side of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineFigure {
    /// The figure.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// What it is, in words.
    pub what: String,
    /// Its citation.
    pub source: String,
    /// Flagged uncertain in the profile.
    pub uncertain: bool,
    /// As a fraction of the baseline's own peak, where that is known.
    pub fraction_of_peak: Option<f64>,
    /// Its data type (`bf16`, `f16`, …): a row may set an f32 result beside a 16-bit figure.
    #[serde(default)]
    pub dtype: String,
    /// The tool that produced it (`mamf-finder`, `flash-attention-3`, `nccl-tests`) or
    /// `datasheet`.
    #[serde(default)]
    pub method: String,
}

/// One benchmark and data type, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The benchmark.
    pub bench: BenchKind,
    /// Its data type.
    pub dtype: DType,
    /// Our best valid figure.
    pub ours: Option<Throughput>,
    /// The shape it was measured at.
    pub ours_at: Option<String>,
    /// The method of our figure (`cpu/faer`, `wgpu/matmul-tiled`, `import/nccl-tests`).
    #[serde(default)]
    pub ours_method: Option<String>,
    /// Our figure as a fraction of our measured peak in this dtype.
    pub our_fraction_of_peak: Option<f64>,
    /// The baseline's figure.
    pub baseline: Option<BaselineFigure>,
    /// The ratio on `basis`.
    pub ratio: Option<f64>,
    /// How the ratio was formed.
    pub basis: Basis,
    /// The verdict.
    pub verdict: Verdict,
}

impl Row {
    /// `matmul f32`; a copy has no element type: `membw (copy)`.
    pub fn label(&self) -> String {
        if self.dtype == DType::Bytes {
            format!("{} (copy)", self.bench)
        } else {
            format!("{} {}", self.bench, self.dtype)
        }
    }

    /// The verdict in words; efficiency comparisons say "efficient", not "fast".
    pub fn verdict_text(&self) -> &'static str {
        if self.basis != Basis::FractionOfPeak {
            return self.verdict.describe();
        }
        match self.verdict {
            Verdict::Faster => "more efficient",
            Verdict::OnPar => "as efficient",
            Verdict::Slower => "less efficient",
            Verdict::MuchSlower => "much less efficient",
            v => v.describe(),
        }
    }
}

/// A run compared with a baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The baseline's id.
    pub baseline_id: String,
    /// The baseline's name.
    pub baseline_name: String,
    /// The baseline in one line.
    pub baseline_summary: String,
    /// The overall verdict.
    pub readiness: Readiness,
    /// Why, most decisive first.
    pub reasons: Vec<String>,
    /// The answer in two sentences, for the first screen.
    pub headline: String,
    /// One row per benchmark and data type.
    pub rows: Vec<Row>,
    /// Compute, attention, communication and environment, each scored or said to be unscored.
    pub categories: Vec<Category>,
    /// Measurements flagged as suspect (above their device's measured peak).
    pub suspects: Vec<String>,
    /// Measurements that failed verification or errored.
    pub invalid: Vec<String>,
    /// The node's porting checklist, with its GPU count against the baseline's.
    pub checklist: Vec<Check>,
    /// The time to train an example model on one node of each machine.
    pub example: Option<project::Example>,
    /// Each larger training step projected from each smaller one, against its measurement.
    pub step_checks: Vec<project::Validation>,
    /// Each data-parallel step projected from one rank's step and the measured all-reduce.
    pub comm_checks: Vec<project::CommValidation>,
}

fn dtype_key(d: DType) -> &'static str {
    d.name()
}

/// The baseline's peak per device for a reference (halved per GCD when `per = "device"`).
fn reference_peak(profile: &Profile, r: &Reference) -> Option<f64> {
    if r.unit != "TFLOP/s" {
        return None;
    }
    let acc = profile.accelerator.as_ref()?;
    let peak = profile.peak(&r.dtype)?.value;
    Some(if r.per == "device" {
        peak / acc.devices_per_accelerator as f64
    } else {
        peak
    })
}

fn reference_figure(profile: &Profile, r: &Reference) -> BaselineFigure {
    let fraction = reference_peak(profile, r).map(|p| r.value / p);
    BaselineFigure {
        value: r.value,
        unit: r.unit.clone(),
        what: format!(
            "{} {} {} ({}), per {}",
            r.bench, r.dtype, r.params, r.method, r.per
        ),
        source: profile.cite(&r.source).to_string(),
        uncertain: r.uncertain || profile.peak(&r.dtype).is_some_and(|p| p.uncertain),
        fraction_of_peak: fraction,
        dtype: r.dtype.clone(),
        method: r.tool.clone(),
    }
}

/// The baseline's reference measured the way `m` was: same benchmark, data type and tool (a
/// profile saved from an hpcready run records the method as its tool); the same shape where
/// there is one, else its best.
fn same_method_reference<'a>(profile: &'a Profile, m: &Measurement) -> Option<&'a Reference> {
    let candidates: Vec<&Reference> = profile
        .references
        .iter()
        .filter(|r| r.bench == m.bench.name() && r.dtype == m.dtype.name())
        // The sharded step (`…-fsdp`) is the step a published figure names, as it ran.
        .filter(|r| {
            r.tool == m.tool()
                || r.hpcready_method
                    .as_deref()
                    .is_some_and(|h| h == m.method || m.method.strip_suffix("-fsdp") == Some(h))
        })
        .filter(|r| same_attention_pass(r, m) && same_model(r, m))
        .collect();
    let shape = m.shape.display();
    candidates
        .iter()
        .find(|r| r.params == shape)
        .or_else(|| candidates.iter().max_by(|a, b| a.value.total_cmp(&b.value)))
        .copied()
}

/// An attention reference matches a measurement of the same pass (a figure with `bwd` in its
/// parameters is forward and backward, any other the forward alone) and, where it names them,
/// the same head dimension and mask (`causal=true|false`: a causal figure counts half the
/// FLOPs and runs at another rate).
fn same_attention_pass(r: &Reference, m: &Measurement) -> bool {
    let Shape::Attention {
        d,
        backward,
        causal,
        ..
    } = m.shape
    else {
        return true;
    };
    r.params.contains("bwd") == backward
        && r.param_u64("d").is_none_or(|rd| rd == d)
        && r.param_bool("causal").is_none_or(|rc| rc == causal)
}

/// A training reference matches a step of a model of the same depth, width and sequence length
/// (`L=`, `d=`, `seq=` in its parameters).
fn same_model(r: &Reference, m: &Measurement) -> bool {
    let Shape::Train {
        layers,
        hidden,
        seq,
        ..
    } = m.shape
    else {
        return true;
    };
    r.param_u64("L") == Some(layers)
        && r.param_u64("d") == Some(hidden)
        && r.param_u64("seq") == Some(seq)
}

/// What a like-for-like row must say about its reference: a FlashAttention-3 figure is a
/// faster kernel than SDPA's flash backend (FlashAttention-2), so a shortfall against it is
/// partly the kernel's.
fn like_caveat(r: &Reference, m: &Measurement) -> Option<&'static str> {
    match (r.tool.as_str(), m.method.as_str()) {
        ("flash-attention-3", "torch/sdpa-flash") => Some(
            "FlashAttention-3 is not SDPA: PyTorch's flash backend is FlashAttention-2, so part \
             of a gap is the kernel, not the machine",
        ),
        ("llm-foundry", "torch/train-llama-fsdp") => Some(
            "MPT of the same depth and width, trained on 8 GPUs with FSDP; ours is the Llama-style \
             step sharded with FSDP2 across this run's ranks, so part of a gap is the model and \
             the ranks",
        ),
        ("llm-foundry", _) => Some(
            "MPT of the same depth and width, trained on 8 GPUs with FSDP; ours is one device \
             without sharding, so part of a gap is the model and the setup",
        ),
        _ => None,
    }
}

fn compare_row(
    results: &Results,
    profile: &Profile,
    bench: BenchKind,
    dtype: DType,
    family: Option<MethodFamily>,
) -> Row {
    // The training step as the published figures ran it: sharded (FSDP2) where it was
    // measured, else the best step.
    let sharded = (bench == BenchKind::Train)
        .then(|| {
            results
                .valid(bench, dtype)
                .filter(|m| m.method.ends_with("-fsdp"))
                .filter(|m| family.is_none_or(|f| m.family == f))
                .max_by(crate::results::by_value)
        })
        .flatten();
    let ours = sharded.or_else(|| results.best_in(bench, dtype, family));
    let mut row = Row {
        bench,
        dtype,
        ours: ours.and_then(|m| m.throughput),
        ours_at: ours.map(|m| m.shape.display()),
        ours_method: ours.map(|m| m.method.clone()),
        our_fraction_of_peak: None,
        baseline: None,
        ratio: None,
        basis: Basis::NoReference,
        verdict: Verdict::NotComparable,
    };
    let Some(ours) = ours else {
        row.verdict = Verdict::Invalid;
        return row;
    };
    let value = ours.value().unwrap_or(0.0);
    let on_cpu = ours.device_kind == DeviceKind::Cpu;
    if bench == BenchKind::Allreduce {
        allreduce_row(results, profile, ours, &mut row);
        return row;
    }
    // Like for like: the baseline has the same benchmark, data type and method — a machine
    // measured with hpcready itself (`baselines save`).
    if let Some(r) = same_method_reference(profile, ours) {
        let mut fig = reference_figure(profile, r);
        if let Some(c) = like_caveat(r, ours) {
            fig.what = format!("{}; {c}", fig.what);
        }
        row.baseline = Some(fig);
        row.ratio = Some(value / r.value);
        row.basis = Basis::LikeForLike;
        row.verdict = Verdict::from_ratio(value / r.value);
        return row;
    }
    if bench != BenchKind::Peak && bench != BenchKind::Membw {
        row.our_fraction_of_peak = results
            .peak_for(ours)
            .and_then(Measurement::value)
            .map(|p| value / p);
    }
    match bench {
        BenchKind::Peak => {
            if let (Some(acc), Some(p)) = (&profile.accelerator, profile.peak(dtype_key(dtype))) {
                // A GPU's peak is one device's; a CPU's is the node's.
                // A GPU is one device: a package's peak divided among the devices it shows
                // (an MI250X is 2 GCDs); a CPU's figure is the node's.
                let per_device = f64::from(acc.devices_per_accelerator.max(1));
                let (node_peak, what) = if on_cpu {
                    (
                        p.value * f64::from(acc.count),
                        format!(
                            "datasheet {dtype} peak of the node: {} × {} TFLOP/s ({})",
                            acc.count,
                            num(p.value),
                            acc.model
                        ),
                    )
                } else if per_device > 1.0 {
                    (
                        p.value / per_device,
                        format!(
                            "datasheet {dtype} peak of one device: {} TFLOP/s per {} ÷ {} devices",
                            num(p.value),
                            acc.model,
                            acc.devices_per_accelerator
                        ),
                    )
                } else {
                    (
                        p.value,
                        format!(
                            "datasheet {dtype} peak of one accelerator: 1 × {} TFLOP/s ({})",
                            num(p.value),
                            acc.model
                        ),
                    )
                };
                row.baseline = Some(BaselineFigure {
                    value: node_peak,
                    unit: "TFLOP/s".into(),
                    what,
                    source: profile.cite(&p.source).to_string(),
                    uncertain: p.uncertain,
                    fraction_of_peak: Some(1.0),
                    dtype: p.dtype.clone(),
                    method: "datasheet".into(),
                });
                row.ratio = Some(value / node_peak);
                row.basis = Basis::PeakVsPeak;
            }
        }
        BenchKind::Membw => {
            if let Some(acc) = &profile.accelerator
                && let Some(bw) = &acc.memory_bw_gbs
            {
                // One GPU is one device: a multi-die package's bandwidth is shared among the
                // devices it shows (an MI250X's 3.28 TB/s is 1.64 per GCD), as for the peak.
                let per_device = f64::from(acc.devices_per_accelerator.max(1));
                let (value_bw, what) = if !on_cpu && per_device > 1.0 {
                    (
                        bw.value / per_device,
                        format!(
                            "datasheet memory bandwidth of one device: {} GB/s per {} ÷ {} devices",
                            num(bw.value),
                            acc.model,
                            acc.devices_per_accelerator
                        ),
                    )
                } else {
                    (
                        bw.value,
                        format!("datasheet memory bandwidth of one {}", acc.model),
                    )
                };
                row.baseline = Some(BaselineFigure {
                    value: value_bw,
                    unit: "GB/s".into(),
                    what,
                    source: profile.cite(&bw.source).to_string(),
                    uncertain: bw.uncertain,
                    fraction_of_peak: None,
                    dtype: "bytes".into(),
                    method: "datasheet".into(),
                });
                if on_cpu {
                    // Host DRAM beside accelerator HBM: scale only.
                    row.basis = Basis::ContextOnly;
                } else {
                    // A device copy against the device's datasheet bandwidth: ceiling vs ceiling.
                    row.ratio = Some(value / value_bw);
                    row.basis = Basis::PeakVsPeak;
                }
            }
        }
        BenchKind::Allreduce => unreachable!("handled by allreduce_row"),
        // Published training throughput is matched like for like above (same model size, same
        // FLOPs accounting); without one there is nothing to compare.
        BenchKind::Train => row.basis = Basis::NoReference,
        BenchKind::Matmul | BenchKind::Attention => {
            let refs: Vec<&Reference> = profile
                .references
                .iter()
                .filter(|r| r.bench == bench.name())
                .collect();
            // A vendor library's figure (cuBLAS, FlashAttention) is never like for like with our
            // kernels: it would measure the kernels, not the machine.
            // Attention figures depend on the head dimension: prefer the reference at ours.
            let head_dim = match ours.shape {
                Shape::Attention { d, .. } => Some(d),
                _ => None,
            };
            let same_dtype = refs
                .iter()
                .rev() // the first of equals
                .filter(|r| r.dtype == dtype_key(dtype))
                .max_by_key(|r| head_dim.is_some() && r.param_u64("d") == head_dim)
                .copied();
            if let Some(r) = same_dtype.or_else(|| {
                refs.iter()
                    .find(|r| reference_peak(profile, r).is_some())
                    .copied()
            }) {
                let fig = reference_figure(profile, r);
                if let (Some(ours_f), Some(theirs_f)) =
                    (row.our_fraction_of_peak, fig.fraction_of_peak)
                {
                    row.ratio = Some(ours_f / theirs_f);
                    row.basis = Basis::FractionOfPeak;
                } else {
                    row.basis = Basis::ContextOnly;
                }
                row.baseline = Some(fig);
            }
        }
    }
    row.verdict = row
        .ratio
        .map_or(Verdict::NotComparable, Verdict::from_ratio);
    row
}

/// The node's checklist with its GPU count against `baseline`'s inserted after the GPUs item.
pub fn checklist(node: &Inventory, baseline: &Profile) -> Vec<Check> {
    let mut checks = node.checklist.clone();
    let devices = baseline
        .accelerator
        .as_ref()
        .map_or(0, |a| a.count * a.devices_per_accelerator);
    if let Some(c) = crate::node::checklist::gpu_count(node.gpu_count(), &baseline.name, devices) {
        checks.insert(1.min(checks.len()), c);
    }
    checks
}

/// Compares `results` with `profile`.
pub fn compare(results: &Results, profile: &Profile) -> Comparison {
    let peaks = results.peak_index();
    // One row per benchmark and type, or per method family when several measured it (a GPU
    // through PyTorch's vendor libraries and through our WGSL kernels): each labelled by method.
    let mut rows: Vec<Row> = Vec::new();
    for (bench, dtype) in results.groups() {
        let mut families: Vec<MethodFamily> =
            results.valid(bench, dtype).map(|m| m.family).collect();
        families.sort_by_key(|f| *f as u8);
        families.dedup();
        if families.len() > 1 && bench != BenchKind::Peak {
            rows.extend(
                families
                    .into_iter()
                    .map(|f| compare_row(results, profile, bench, dtype, Some(f))),
            );
        } else {
            rows.push(compare_row(results, profile, bench, dtype, None));
        }
    }
    let suspects: Vec<String> = results
        .measurements
        .iter()
        .filter(|m| peaks.is_suspect(m))
        .map(|m| {
            format!(
                "{} {} {}: {} is above this device's measured {} peak",
                m.bench,
                m.dtype,
                m.shape.display(),
                m.throughput.map(|t| t.to_string()).unwrap_or_default(),
                m.dtype
            )
        })
        .collect();
    let invalid: Vec<String> = results
        .measurements
        .iter()
        .filter(|m| !m.is_valid())
        .map(|m| {
            let why = m
                .error
                .clone()
                .unwrap_or_else(|| m.verification.failure_summary());
            format!("{} {} {}: {why}", m.bench, m.dtype, m.shape.display())
        })
        .collect();
    let (mut readiness, mut reasons) = readiness(results, profile, &rows, &invalid);
    let categories = categories(results, &rows);
    // The environment's checklist counts too: a failed item blocks, warnings need changes.
    if let Some(env) = categories.iter().find(|c| c.name == "environment")
        && let Some(status) = env.status
        && status != Readiness::Ready
    {
        reasons.push(env.basis.clone());
        if rank(status) > rank(readiness) {
            readiness = status;
        }
    }
    if reasons.is_empty() {
        reasons.push(nothing_against(&rows));
    }
    let headline = headline::headline(results, profile, &rows);
    Comparison {
        baseline_id: profile.id.clone(),
        baseline_name: profile.name.clone(),
        baseline_summary: profile.summary.clone(),
        readiness,
        reasons,
        headline,
        rows,
        categories,
        suspects,
        invalid,
        // A node that was not checked (an imported or hand-written run) gets no checklist.
        checklist: if results.node.checklist.is_empty() {
            Vec::new()
        } else {
            checklist(&results.node, profile)
        },
        example: project::example(results, profile),
        step_checks: project::validations(results),
        comm_checks: project::comm_validations(results),
    }
}

mod allreduce;
pub mod fleet;
mod headline;
pub mod project;
pub mod saved;
pub mod scaling;
mod verdict;

pub use allreduce::TORCH_COMPARABLE;
use allreduce::allreduce_row;
pub use verdict::{Category, Readiness};
use verdict::{categories, nothing_against, rank, readiness};

#[cfg(test)]
mod tests;
