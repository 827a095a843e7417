//! Each side's rate for the projection: this node's (a measured training step, else its best
//! matmul) and the baseline's (a published training step, else its best published matmul, else
//! its datasheet peak), at 16 bits or FP8.

use crate::bench::{BenchKind, DType, num};
use crate::profiles::Profile;
use crate::results::Results;

/// The rate one side of the projection runs at.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// Which machine.
    pub machine: String,
    /// TFLOP/s per node.
    pub tflops_per_node: f64,
    /// Where it comes from, in words.
    pub basis: String,
    /// USD per node-hour and what qualifies it (date, region, caveats), where known.
    pub price: Option<(f64, String)>,
    /// The rate is a training step's model FLOP/s (end to end): no utilisation band applies.
    pub end_to_end: bool,
}

/// The node's rate from a run: its best 16-bit matmul (f32 when it has none), per device × the
/// node's GPUs (a CPU figure is already the node's).
pub fn measured_rate(results: &Results) -> Option<Rate> {
    let m = [DType::Bf16, DType::F16, DType::F32]
        .into_iter()
        .filter_map(|d| results.best(BenchKind::Matmul, d))
        .max_by(crate::results::by_value)?;
    let devices = devices_per_node(results, m);
    Some(Rate {
        machine: format!("{} ({})", results.node.host, m.device),
        tflops_per_node: m.value()? * devices as f64,
        basis: format!(
            "measured {} matmul {} = {} TFLOP/s per device × {devices} device(s), {}",
            m.dtype,
            m.shape.display(),
            num(m.value()?),
            m.method
        ),
        price: None,
        end_to_end: false,
    })
}

/// How many of `m`'s devices a node holds: its GPUs for a per-device figure, else 1 (a CPU's or
/// a collective's figure is the node's).
pub(super) fn devices_per_node(results: &Results, m: &crate::results::Measurement) -> usize {
    if m.device_kind.per_device() {
        results.node.gpu_count().max(1)
    } else {
        1
    }
}

/// The largest valid training step of a run (the most parameters; a GPU's before a CPU's).
pub(super) fn largest_step(results: &Results) -> Option<&crate::results::Measurement> {
    // A data-parallel step includes communication: it validates the projection, not feeds it.
    results
        .valid_any(BenchKind::Train)
        .filter(|m| m.train.as_ref().is_none_or(|t| t.data_parallel.is_none()))
        .max_by_key(|m| (m.device_kind.per_device(), m.shape.main_size() as u64))
}

/// The node's rate from its largest measured training step: model FLOP/s per device × the
/// node's GPUs (a CPU step is the node's).
pub fn measured_train_rate(results: &Results) -> Option<Rate> {
    let m = largest_step(results)?;
    let devices = devices_per_node(results, m);
    let tokens = m
        .train
        .as_ref()
        .map(|t| format!(", {:.0} tokens/s", t.tokens_per_s))
        .unwrap_or_default();
    Some(Rate {
        machine: format!("{} ({})", results.node.host, m.device),
        tflops_per_node: m.value()? * devices as f64,
        basis: format!(
            "measured training step {} {} = {} model TFLOP/s per device{tokens} × {devices} \
             device(s), {}",
            m.dtype,
            m.shape.display(),
            num(m.value()?),
            m.method
        ),
        price: None,
        end_to_end: true,
    })
}

/// The baseline's published training throughput (its largest model), per accelerator × the
/// node's accelerators.
pub fn baseline_train_rate(profile: &Profile) -> Option<Rate> {
    let acc = profile.accelerator.as_ref()?;
    let r = profile
        .references
        .iter()
        .filter(|r| r.bench == "train" && r.unit == "TFLOP/s")
        .max_by_key(|r| r.param_u64("L").unwrap_or(0) * r.param_u64("d").unwrap_or(0))?;
    let mut rate = baseline_rate(profile)?;
    rate.tflops_per_node = r.value * f64::from(acc.count);
    rate.basis = format!(
        "published training step {} = {} model TFLOP/s per accelerator ({}) × {} {}",
        r.params,
        num(r.value),
        r.method,
        acc.count,
        acc.model
    );
    rate.end_to_end = true;
    Some(rate)
}

/// The baseline's rate: its best published 16-bit matmul result per accelerator × accelerators
/// per node, else its bf16 datasheet peak (said so).
pub fn baseline_rate(profile: &Profile) -> Option<Rate> {
    baseline_matmul_rate(profile, Precision::Bf16)
}

/// The precision a projection runs at (`project --dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 16-bit (bf16, or f16 where that is what was measured or published).
    Bf16,
    /// 8-bit float matmuls (E4M3, scaled).
    Fp8,
}

impl Precision {
    /// `bf16` or `fp8`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "bf16" => Some(Self::Bf16),
            "fp8" => Some(Self::Fp8),
            _ => None,
        }
    }
}

/// The node's FP8 matmul rate from a run, per device × the node's GPUs.
pub fn measured_rate_fp8(results: &Results) -> Option<Rate> {
    let m = results.best(BenchKind::Matmul, DType::Fp8)?;
    let devices = devices_per_node(results, m);
    Some(Rate {
        machine: format!("{} ({})", results.node.host, m.device),
        tflops_per_node: m.value()? * devices as f64,
        basis: format!(
            "measured fp8 matmul {} = {} TFLOP/s per device × {devices} device(s), {} (no FP8 \
             training step is measured: the matmul rate × the utilisation band)",
            m.shape.display(),
            num(m.value()?),
            m.method
        ),
        price: None,
        end_to_end: false,
    })
}

/// The baseline's FP8 rate: its best published fp8 matmul, else its fp8 datasheet peak.
pub fn baseline_rate_fp8(profile: &Profile) -> Option<Rate> {
    baseline_matmul_rate(profile, Precision::Fp8)
}

fn baseline_matmul_rate(profile: &Profile, precision: Precision) -> Option<Rate> {
    let dtypes: &[&str] = match precision {
        Precision::Bf16 => &["bf16", "f16"],
        Precision::Fp8 => &["fp8"],
    };
    let acc = profile.accelerator.as_ref()?;
    let count = acc.count as f64;
    // The price with everything that qualifies it: date, region, a per-accelerator rate scaled
    // to the node, and the profile's caveat when the figure is uncertain.
    let price = profile.price.as_ref().and_then(|p| {
        let (usd, scaled) = match (p.usd_per_hour, p.usd_per_accelerator_hour) {
            (Some(usd), _) => (usd, None),
            (None, Some(a)) => (
                a * count,
                Some(format!("${}/accelerator-hour × {}", num(a), acc.count)),
            ),
            (None, None) => return None,
        };
        let mut what = vec![p.date.clone()];
        what.extend(p.region.clone());
        what.extend(scaled);
        if p.uncertain {
            what.push(format!(
                "⚠ uncertain{}",
                p.note
                    .as_ref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ));
        }
        Some((usd, what.join("; ")))
    });
    let reference = profile
        .references
        .iter()
        .filter(|r| r.bench == "matmul" && dtypes.contains(&r.dtype.as_str()))
        .max_by(|a, b| a.value.total_cmp(&b.value));
    if let Some(r) = reference {
        let devices = count * f64::from(acc.devices_per_accelerator);
        let (per_node, times) = match r.per.as_str() {
            "node" => (r.value, "for the node".to_string()),
            // One GCD of a multi-die package (LUMI-G's MI250X): every device of the node.
            "device" => (
                r.value * devices,
                format!("× {devices} devices of {} {}", acc.count, acc.model),
            ),
            _ => (r.value * count, format!("× {} {}", acc.count, acc.model)),
        };
        return Some(Rate {
            machine: profile.name.clone(),
            tflops_per_node: per_node,
            basis: format!(
                "published {} matmul {} = {} TFLOP/s per {} ({}), {times}",
                r.dtype,
                r.params,
                num(r.value),
                r.per,
                r.method,
            ),
            price,
            end_to_end: false,
        });
    }
    let peak = dtypes.iter().find_map(|d| profile.peak(d))?;
    Some(Rate {
        machine: profile.name.clone(),
        tflops_per_node: peak.value * count,
        basis: format!(
            "datasheet {} peak {} TFLOP/s × {} {} (no published matmul result)",
            peak.dtype,
            num(peak.value),
            acc.count,
            acc.model
        ),
        price,
        end_to_end: false,
    })
}
