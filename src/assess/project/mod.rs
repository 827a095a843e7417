//! Time to train: a model of N parameters on D tokens needs about 6·N·D floating-point operations
//! (forward and backward passes of a dense transformer; Kaplan et al. 2020, Hoffmann et al. 2022).
//! Divided by the rate a node sustains — its measured matmul rate times a utilisation band —
//! it gives wall time, node-hours and, where the baseline has a dated price, cost.
//!
//! The utilisation (end-to-end training throughput over the matmul rate) is an assumption, shown
//! and overridable. Communication is folded in where the run measured a training step and an
//! all-reduce ([`CommTerm`]: the gradient all-reduce per step at the measured busbw, overlap with
//! the backward pass a band from full to none), else assumed overlapped with compute. The result
//! is a band, never one false-precise number; [`comm_validations`] checks the communication term
//! against a data-parallel step measured across ranks.
//!
//! When a run measured a real training step (`train`), its model FLOP/s is already end to end:
//! the projection uses it (the largest model measured) with no utilisation band, and the
//! baseline's published training throughput where its profile has one. [`validations`] checks
//! that projection on the run itself: the larger model's step projected from the smaller's.

use crate::bench::{BenchKind, num};
use crate::error::input_error;
use crate::profiles::Profile;
use crate::results::Results;

mod comm;
pub mod energy;
mod rates;
pub use comm::{
    CommTerm, CommValidation, band_error, comm_term, comm_validations, projection_comm,
    scaling_comm,
};
pub use rates::{
    Precision, Rate, baseline_rate, baseline_rate_fp8, baseline_train_rate, measured_rate,
    measured_rate_fp8, measured_train_rate,
};
use rates::{devices_per_node, largest_step};

/// The default utilisation band: end-to-end training reaching 35–55% of the matmul rate. This is
/// an assumption, not a measured or cited figure: it is printed with every projection and set
/// with `--utilisation LO,HI`.
pub const DEFAULT_UTILISATION: (f64, f64) = (0.35, 0.55);

/// Parses a count such as `7e9`, `7B`, `70b`, `1.5T`, `300G`, `2000000`.
pub fn parse_count(flag: &str, text: &str) -> anyhow::Result<f64> {
    let t = text.trim();
    let (digits, scale) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('B') | Some('G') => (&t[..t.len() - 1], 1e9),
        Some('T') => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    digits
        .parse::<f64>()
        .ok()
        .map(|v| v * scale)
        .filter(|v| v.is_finite() && *v >= 1.0)
        .ok_or_else(|| {
            input_error(
                format!("{flag} {text}"),
                "expected a positive count such as 7e9, 7B, 1.5T or 300G",
            )
        })
}

/// Parses the utilisation band `LO,HI` (fractions in (0, 1]).
pub fn parse_band(text: &str) -> anyhow::Result<(f64, f64)> {
    let bad = || {
        input_error(
            format!("--utilisation {text}"),
            "expected LO,HI with 0 < LO ≤ HI ≤ 1, e.g. 0.35,0.55",
        )
    };
    let (lo, hi) = text.split_once(',').ok_or_else(bad)?;
    let (lo, hi): (f64, f64) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if lo > 0.0 && lo <= hi && hi <= 1.0 {
        Ok((lo, hi))
    } else {
        Err(bad())
    }
}

/// The report's example projection: a model of [`Example::PARAMS`] parameters trained on
/// [`Example::TOKENS`] tokens on one node of this machine and of the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// 6·N·D.
    pub flops: f64,
    /// Whether a side runs at a training step's model FLOP/s (end to end, no band).
    pub stepped: bool,
    /// This node's measured gradient all-reduce folded into its side, where it was.
    pub comm: Option<CommTerm>,
    /// This node first (where it has a rate), then the baseline.
    pub sides: Vec<Projection>,
    /// Checkpoints every [`Example::CHECKPOINT_MINUTES`] at the run's measured write bandwidth,
    /// added to this node's side, where the run has an I/O bench.
    pub checkpoints: Option<energy::Checkpoints>,
    /// Energy to train on each side (as `sides`), where known.
    pub energy: Vec<(String, Option<energy::EnergyToTrain>)>,
}

impl Example {
    /// Parameters of the example model.
    pub const PARAMS: f64 = 7e9;
    /// Tokens it trains on.
    pub const TOKENS: f64 = 1e12;
    /// How often the example writes a checkpoint.
    pub const CHECKPOINT_MINUTES: f64 = 30.0;
}

/// The report's example: a measured training step is end to end, so it replaces the matmul
/// rate × the band on this node's side and the baseline's published training throughput (where
/// it has one) its matmul; this node's measured gradient all-reduce is folded in where the run
/// has a training step and an all-reduce (the baseline's is assumed overlapped). `None` when
/// neither side has a rate.
pub fn example(results: &Results, profile: &Profile) -> Option<Example> {
    let (n, d) = (Example::PARAMS, Example::TOKENS);
    let flops = 6.0 * n * d;
    let ours = measured_train_rate(results).or_else(|| measured_rate(results));
    let theirs = if ours.as_ref().is_some_and(|r| r.end_to_end) {
        baseline_train_rate(profile).or_else(|| baseline_rate(profile))
    } else {
        baseline_rate(profile)
    };
    let comm = ours
        .as_ref()
        .filter(|r| r.end_to_end)
        .and_then(|_| projection_comm(results, n, 1));
    let ours_first = ours.is_some();
    let rates: Vec<Rate> = [ours, theirs].into_iter().flatten().collect();
    if rates.is_empty() {
        return None;
    }
    let stepped = rates.iter().any(|r| r.end_to_end);
    let mut checkpoints = None;
    let sides: Vec<Projection> = rates
        .into_iter()
        .enumerate()
        .map(|(i, rate)| {
            let p = project(flops, rate, 1, DEFAULT_UTILISATION);
            if i == 0 && ours_first {
                let p = p.with_comm(comm.clone());
                match results.storage.as_ref().and_then(|s| s.write_bandwidth()) {
                    Some(bw) => {
                        let c = energy::checkpoints(
                            n,
                            energy::Every::Minutes(Example::CHECKPOINT_MINUTES),
                            p.hours,
                            0.0,
                            bw,
                        );
                        let hours = c.hours;
                        checkpoints = Some(c);
                        p.with_checkpoints(hours, 1)
                    }
                    None => p,
                }
            } else {
                p
            }
        })
        .collect();
    let energy = sides
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let e = if i == 0 && ours_first {
                energy::measured_energy(results, d)
            } else {
                energy::baseline_energy(profile, p.node_hours)
            };
            (p.rate.machine.clone(), e)
        })
        .collect();
    Some(Example {
        flops,
        stepped,
        comm,
        sides,
        checkpoints,
        energy,
    })
}

/// One side of the projection.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// The rate used.
    pub rate: Rate,
    /// Wall hours, best case (high utilisation) and worst case.
    pub hours: (f64, f64),
    /// Node-hours, best and worst.
    pub node_hours: (f64, f64),
    /// Cost in USD, best and worst, where a price exists.
    pub cost: Option<(f64, f64)>,
    /// The measured communication folded in, where it was.
    pub comm: Option<CommTerm>,
    /// Where nodes were assumed to scale without a scaling run: the per-node efficiency at the
    /// slower end of the band (the faster end is linear scaling).
    pub assumed_scaling: Option<f64>,
}

/// Scaling across nodes assumed where none was measured: the per-doubling loss of a published
/// strong-scaling run, carried from one node to `nodes`. Megatron-LM's GPT-3 175B on H100 went
/// from 47% to 42% MFU between 96 and 4,608 GPUs at one global batch (its README, "Strong
/// Scaling Results"), a 48x increase: efficiency (42/47)^(log2 n / log2 48) at n times the
/// nodes, 0.98 per doubling.
pub fn assumed_efficiency(nodes: u32) -> f64 {
    let per_48x: f64 = 42.0 / 47.0;
    per_48x.powf(f64::from(nodes.max(1)).log2() / 48f64.log2())
}

/// Where [`assumed_efficiency`] comes from, for the projection's assumptions.
pub const ASSUMED_SCALING_SOURCE: &str = "the per-doubling loss of Megatron-LM's published \
    strong scaling of GPT-3 175B on H100 (MFU 47% → 42% from 96 to 4,608 GPUs at one batch; \
    github.com/NVIDIA/Megatron-LM README, read 2026-12-06), a well-tuned run: a slower fabric or \
    a smaller model loses more";

/// Projects training `flops` on `nodes` nodes at `rate` with utilisation band `util` (none for
/// an end-to-end rate: a measured training step).
pub fn project(flops: f64, rate: Rate, nodes: u32, util: (f64, f64)) -> Projection {
    let util = if rate.end_to_end { (1.0, 1.0) } else { util };
    let per_s = |u: f64| rate.tflops_per_node * 1e12 * nodes as f64 * u;
    let hours = (
        flops / per_s(util.1) / 3600.0,
        flops / per_s(util.0) / 3600.0,
    );
    let node_hours = (hours.0 * nodes as f64, hours.1 * nodes as f64);
    let cost = rate
        .price
        .as_ref()
        .map(|(usd, _)| (node_hours.0 * usd, node_hours.1 * usd));
    Projection {
        rate,
        hours,
        node_hours,
        cost,
        comm: None,
        assumed_scaling: None,
    }
}

impl Projection {
    /// The projection with `hours` (best, worst) of checkpoint writes added to its time.
    pub fn with_checkpoints(mut self, hours: (f64, f64), nodes: u32) -> Self {
        let n = nodes as f64;
        let before = self.node_hours;
        self.hours = (self.hours.0 + hours.0, self.hours.1 + hours.1);
        self.node_hours = (self.hours.0 * n, self.hours.1 * n);
        self.cost = self.cost.map(|(a, b)| {
            (
                a * self.node_hours.0 / before.0,
                b * self.node_hours.1 / before.1,
            )
        });
        self
    }

    /// The projection with the communication term folded in: the time band widens from full
    /// overlap to none.
    pub fn with_comm(mut self, term: Option<CommTerm>) -> Self {
        if let Some(t) = &term {
            let (lo, hi) = t.factor();
            self.hours = (self.hours.0 * lo, self.hours.1 * hi);
            self.node_hours = (self.node_hours.0 * lo, self.node_hours.1 * hi);
            self.cost = self.cost.map(|(a, b)| (a * lo, b * hi));
        }
        self.comm = term;
        self
    }

    /// The projection on `nodes` nodes with no scaling run behind it: the slower end of its
    /// band takes [`assumed_efficiency`] (the faster end stays linear scaling, an upper bound).
    pub fn with_assumed_scaling(mut self, nodes: u32) -> Self {
        if nodes > 1 {
            let e = assumed_efficiency(nodes);
            self.hours.1 /= e;
            self.node_hours.1 /= e;
            self.cost = self.cost.map(|(a, b)| (a, b / e));
            self.assumed_scaling = Some(e);
        }
        self
    }

    /// Whether the result is one figure (an end-to-end rate without a communication band or an
    /// assumed scaling band).
    fn single(&self) -> bool {
        self.rate.end_to_end && self.comm.is_none() && self.assumed_scaling.is_none()
    }
}

impl Projection {
    /// `4.1 days – 6.3 days`, or one figure when the rate is end to end (no band).
    pub fn time_text(&self) -> String {
        if self.single() {
            duration(self.hours.0)
        } else {
            format!("{} – {}", duration(self.hours.0), duration(self.hours.1))
        }
    }

    /// `$a – $b at $p/node-hour (date; region; caveats)`, or `no price`.
    pub fn cost_text(&self) -> String {
        match (&self.cost, &self.rate.price) {
            (Some((lo, _)), Some((usd, date))) if self.single() => format!(
                "${} at ${}/node-hour ({date})",
                crate::bench::sig(*lo, 3),
                num(*usd)
            ),
            (Some((lo, hi)), Some((usd, date))) => format!(
                "${} – ${} at ${}/node-hour ({date})",
                crate::bench::sig(*lo, 3),
                crate::bench::sig(*hi, 3),
                num(*usd)
            ),
            _ => "no price".into(),
        }
    }
}

/// A projection checked on the run itself: a larger model's training step projected from a
/// smaller one's, against the larger one measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// The step projected from.
    pub from: String,
    /// The step projected.
    pub to: String,
    /// The projected tokens/s of the larger step.
    pub projected_tokens_per_s: f64,
    /// The measured tokens/s of the larger step.
    pub measured_tokens_per_s: f64,
    /// How: constant model FLOP/s, scaled by the measured matmul rates at the two widths.
    pub how: String,
}

impl Validation {
    /// (projected − measured) / measured.
    pub fn error(&self) -> f64 {
        (self.projected_tokens_per_s - self.measured_tokens_per_s) / self.measured_tokens_per_s
    }
}

/// The matmul rate of the run at the square size nearest `width` (log distance), on the device
/// and dtype of `step`, through the same framework.
fn matmul_near<'a>(
    results: &'a Results,
    step: &crate::results::Measurement,
    width: u64,
) -> Option<&'a crate::results::Measurement> {
    results
        .valid_any(BenchKind::Matmul)
        .filter(|m| m.device == step.device && m.dtype == step.dtype && m.backend == step.backend)
        .min_by(|a, b| {
            let dist =
                |m: &crate::results::Measurement| (m.shape.main_size() / width as f64).ln().abs();
            dist(a).total_cmp(&dist(b))
        })
}

/// Every pair of valid training steps of one device, smaller → larger: the larger step's
/// tokens/s projected from the smaller's model FLOP/s (scaled by the measured matmul rates at
/// the two model widths where the run has them), beside the larger measured.
pub fn validations(results: &Results) -> Vec<Validation> {
    let steps: Vec<&crate::results::Measurement> = results
        .valid_any(BenchKind::Train)
        .filter(|m| m.train.as_ref().is_some_and(|t| t.data_parallel.is_none()))
        .collect();
    let width = |m: &crate::results::Measurement| match m.shape {
        crate::bench::Shape::Train { hidden, .. } => hidden,
        _ => 0,
    };
    let mut out = Vec::new();
    for small in &steps {
        for large in &steps {
            let (st, lt) = (small.train.as_ref().unwrap(), large.train.as_ref().unwrap());
            if small.device != large.device
                || small.dtype != large.dtype
                || lt.parameters <= st.parameters
            {
                continue;
            }
            let (Some(rate), Some(_)) = (small.value(), large.value()) else {
                continue;
            };
            let (scale, how) = match (
                matmul_near(results, small, width(small)),
                matmul_near(results, large, width(large)),
            ) {
                (Some(a), Some(b)) if a.shape != b.shape => (
                    b.value().unwrap_or(1.0) / a.value().unwrap_or(1.0),
                    format!(
                        "the smaller step's model FLOP/s × the matmul rate at {} / at {} ({} / {} TFLOP/s)",
                        b.shape.display(),
                        a.shape.display(),
                        num(b.value().unwrap_or(0.0)),
                        num(a.value().unwrap_or(0.0))
                    ),
                ),
                _ => (
                    1.0,
                    "the smaller step's model FLOP/s, unchanged (no matmul measured at the two \
                     widths)"
                        .to_string(),
                ),
            };
            out.push(Validation {
                from: small.shape.display(),
                to: large.shape.display(),
                projected_tokens_per_s: rate * scale * 1e12 / lt.flops_per_token,
                measured_tokens_per_s: lt.tokens_per_s,
                how,
            });
        }
    }
    out
}

/// `3.2 h`, `4.1 days`, `2.3 years`.
pub fn duration(hours: f64) -> String {
    if hours < 48.0 {
        format!("{} h", crate::bench::sig(hours, 2))
    } else if hours < 24.0 * 365.0 {
        format!("{} days", crate::bench::sig(hours / 24.0, 2))
    } else {
        format!("{} years", crate::bench::sig(hours / 24.0 / 365.0, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::DType;
    use crate::profiles::lookup;

    /// At FP8 the node's rate is its best valid fp8 matmul (none: `None`), said to be a matmul
    /// rate under the band; the baseline's is its published fp8 matmul, else its fp8 peak.
    #[test]
    fn fp8_rates_come_from_fp8_figures() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reports/example/results.json");
        let mut r = crate::results::io::load(std::path::Path::new(path)).unwrap();
        assert!(measured_rate_fp8(&r).is_none());
        let m = r
            .measurements
            .iter_mut()
            .find(|m| m.bench == BenchKind::Matmul && m.is_valid())
            .unwrap();
        m.dtype = DType::Fp8;
        let v = m.value().unwrap();
        let rate = measured_rate_fp8(&r).unwrap();
        assert_eq!(rate.tflops_per_node, v);
        assert!(!rate.end_to_end);
        assert!(
            rate.basis.starts_with("measured fp8 matmul"),
            "{}",
            rate.basis
        );
        let h100 = baseline_rate_fp8(&lookup("h100-sxm").unwrap()).unwrap();
        assert!(
            h100.basis.starts_with("published fp8 matmul"),
            "{}",
            h100.basis
        );
        let p5 = baseline_rate_fp8(&lookup("aws-p5.48xlarge").unwrap()).unwrap();
        assert_eq!(p5.tflops_per_node, 1979.0 * 8.0);
        assert!(p5.basis.starts_with("datasheet fp8 peak"), "{}", p5.basis);
        assert!(baseline_rate_fp8(&lookup("lumi-g").unwrap()).is_none());
        assert_eq!(Precision::parse("fp8"), Some(Precision::Fp8));
        assert_eq!(Precision::parse("fp4"), None);
    }

    #[test]
    fn counts_take_suffixes_and_refuse_nonsense() {
        assert_eq!(parse_count("--params", "7B").unwrap(), 7e9);
        assert_eq!(parse_count("--params", "7e9").unwrap(), 7e9);
        assert_eq!(parse_count("--tokens", "1.5T").unwrap(), 1.5e12);
        assert_eq!(parse_count("--tokens", "300g").unwrap(), 300e9);
        for bad in ["", "x", "-5B", "0", "7Q"] {
            assert!(parse_count("--params", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_band("0.3,0.5").unwrap(), (0.3, 0.5));
        for bad in ["0.5", "0.6,0.5", "0,0.5", "0.5,1.5", "a,b"] {
            assert!(parse_band(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_p5_projection_uses_its_published_matmul_and_price() {
        let p5 = lookup("aws-p5.48xlarge").unwrap();
        let rate = baseline_rate(&p5).unwrap();
        assert!((rate.tflops_per_node - 794.5 * 8.0).abs() < 1e-9);
        // 7B parameters on 1T tokens: 4.2e22 FLOPs.
        let p = project(6.0 * 7e9 * 1e12, rate, 1, (0.4, 0.5));
        let fastest = 4.2e22 / (794.5e12 * 8.0 * 0.5) / 3600.0;
        assert!((p.hours.0 - fastest).abs() / fastest < 1e-12);
        assert!((p.hours.1 / p.hours.0 - 1.25).abs() < 1e-12);
        let (lo, hi) = p.cost.unwrap();
        assert!((lo - p.node_hours.0 * 55.04).abs() < 1e-6 && hi > lo);
        // Twice the nodes: half the time, the same node-hours.
        let p2 = project(4.2e22, baseline_rate(&p5).unwrap(), 2, (0.4, 0.5));
        assert!((p2.hours.0 * 2.0 - p.hours.0).abs() < 1e-9);
        assert!((p2.node_hours.0 - p.node_hours.0).abs() < 1e-9);
    }

    /// Without a scaling run, the faster end stays linear and the slower end takes Megatron-LM's
    /// published strong-scaling loss: 42/47 at 48x the nodes, nothing at one node.
    #[test]
    fn assumed_scaling_widens_the_slower_end_by_the_published_loss() {
        assert_eq!(assumed_efficiency(1), 1.0);
        assert!((assumed_efficiency(48) - 42.0 / 47.0).abs() < 1e-12);
        assert!((assumed_efficiency(2) - 0.9801).abs() < 1e-4);
        let p5 = lookup("aws-p5.48xlarge").unwrap();
        let linear = project(4.2e22, baseline_rate(&p5).unwrap(), 64, (0.4, 0.5));
        let p = linear.clone().with_assumed_scaling(64);
        assert_eq!(p.hours.0, linear.hours.0);
        let e = assumed_efficiency(64);
        assert!((p.hours.1 * e - linear.hours.1).abs() < 1e-9);
        assert!((p.node_hours.1 * e - linear.node_hours.1).abs() < 1e-9);
        assert_eq!(p.assumed_scaling, Some(e));
        // An end-to-end rate on one node is one figure; on 64 nodes a band.
        let mut step = baseline_rate(&p5).unwrap();
        step.end_to_end = true;
        assert!(
            project(4.2e22, step.clone(), 1, (0.4, 0.5))
                .with_assumed_scaling(1)
                .single()
        );
        assert!(
            !project(4.2e22, step, 64, (0.4, 0.5))
                .with_assumed_scaling(64)
                .single()
        );
    }

    #[test]
    fn a_per_gcd_result_counts_every_gcd_of_the_node() {
        let lumi = lookup("lumi-g").unwrap();
        let rate = baseline_rate(&lumi).unwrap();
        assert!(
            (rate.tflops_per_node - 147.0 * 8.0).abs() < 1e-9,
            "{rate:?}"
        );
        assert!(rate.price.is_none());
    }

    #[test]
    fn per_accelerator_prices_are_scaled_to_the_node() {
        let a3 = lookup("gcp-a3-highgpu-8g").unwrap();
        let rate = baseline_rate(&a3).unwrap();
        let (usd, what) = rate.price.clone().unwrap();
        assert!((usd - 10.9791 * 8.0).abs() < 1e-9);
        // The caveat travels with the figure into the cost line.
        let p = project(4.2e22, rate, 1, (0.4, 0.5));
        let text = p.cost_text();
        assert!(text.contains("us-central1"), "{text}");
        assert!(text.contains("× 8"), "{text}");
        assert!(
            text.contains("⚠ uncertain: the a3-highgpu-1g rate"),
            "{text}"
        );
        assert!(what.starts_with("2026-09-26"));
    }
}
