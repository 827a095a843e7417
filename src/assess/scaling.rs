//! Scaling across nodes, as measured: the data-parallel training step and the all-reduce at 1,
//! 2, 4 … nodes (one results file per node count, `hpcready slurm --torch --scaling`), the
//! curve they make (tokens/s per GPU, scaling efficiency against one node, busbw per node
//! count), and a projection to more nodes from a stated model instead of linear scaling.
//!
//! The model is a ring all-reduce with a latency and a bandwidth term (α-β): one all-reduce of
//! S bytes across n ranks takes 2(n−1)·α + 2(n−1)/n · S / B, α the time per hop and B the bus
//! bandwidth (nccl-tests' busbw, independent of n for an ideal ring). α and B are fitted to the
//! all-reduces measured across nodes (least squares on relative error, so the small sizes that
//! carry α count as much as the large ones that carry B); DDP all-reduces its f32 gradients in
//! 25 MiB buckets (`bucket_cap_mb`'s default), each paying the latency; FSDP2 all-gathers the
//! parameters twice and reduce-scatters the gradients, 1.5× DDP's bytes, latency counted alike. The step at M nodes is
//! the step alone on one GPU plus that communication, from fully overlapped with the backward
//! pass (the longer of the two) to not at all (their sum). The projection is checked on the
//! run itself: the largest node count projected from the smaller ones, against its measurement.

use crate::bench::{BenchKind, Shape};
use crate::results::Results;

/// DDP's default gradient bucket, bytes (`bucket_cap_mb = 25`).
pub const DDP_BUCKET_BYTES: f64 = 25.0 * 1024.0 * 1024.0;

/// One all-reduce measured: ranks, nodes, bytes, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Ranks.
    pub ranks: usize,
    /// Nodes they ran on.
    pub nodes: usize,
    /// Bytes per rank.
    pub bytes: f64,
    /// The median time of one all-reduce, seconds.
    pub seconds: f64,
    /// Its busbw, GB/s.
    pub busbw_gbs: f64,
}

/// The training step at one node count.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Nodes.
    pub nodes: usize,
    /// Ranks (one GPU each).
    pub ranks: usize,
    /// The step time across the ranks (data-parallel), seconds.
    pub step_s: f64,
    /// The same step alone on one rank, seconds.
    pub single_step_s: f64,
    /// Tokens per step on one rank.
    pub tokens_per_step: u64,
    /// Tokens per second per GPU.
    pub tokens_per_s_per_gpu: f64,
    /// The all-reduces measured at this node count.
    pub samples: Vec<Sample>,
}

impl Point {
    /// The busbw measured nearest `bytes` (log scale) at this node count.
    pub fn busbw_near(&self, bytes: f64) -> Option<f64> {
        self.samples
            .iter()
            .min_by(|a, b| {
                let d = |s: &Sample| (s.bytes.max(1.0) / bytes.max(1.0)).ln().abs();
                d(a).total_cmp(&d(b))
            })
            .map(|s| s.busbw_gbs)
    }
}

/// One model's step across node counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The model, as the step's shape says it (without the micro-batch).
    pub model: String,
    /// Gradient bytes DDP all-reduces per step (every parameter, the embedding's too, f32).
    pub gradient_bytes: f64,
    /// The step is FSDP2's (sharded), not DDP's.
    pub sharded: bool,
    /// Node counts, ascending.
    pub points: Vec<Point>,
}

impl Curve {
    /// Ranks per node at the largest node count (at least 1).
    pub fn ranks_per_node(&self) -> usize {
        self.points
            .last()
            .map_or(1, |p| (p.ranks / p.nodes.max(1)).max(1))
    }

    /// Tokens/s per GPU at `p` over one node's (the smallest count when one node was not run).
    pub fn efficiency(&self, p: &Point) -> Option<f64> {
        let base = self.points.first()?;
        (base.tokens_per_s_per_gpu > 0.0 && base.nodes == 1)
            .then(|| p.tokens_per_s_per_gpu / base.tokens_per_s_per_gpu)
    }
}

/// The curves in a set of results files: every model trained at two or more node counts.
pub fn curves(files: &[Results]) -> Vec<Curve> {
    let mut curves: Vec<Curve> = Vec::new();
    for r in files {
        let samples: Vec<Sample> = r
            .valid_any(BenchKind::Allreduce)
            .filter(|m| m.method.starts_with("torch/"))
            .filter_map(|m| {
                let c = m.collective.as_ref()?;
                let Shape::Allreduce { bytes, ranks, .. } = m.shape else {
                    return None;
                };
                (c.time_us > 0.0 && c.busbw_gbs > 0.0).then_some(Sample {
                    ranks: ranks as usize,
                    nodes: c.nodes.max(1),
                    bytes: bytes as f64,
                    seconds: c.time_us * 1e-6,
                    busbw_gbs: c.busbw_gbs,
                })
            })
            .collect();
        let steps: Vec<_> = r
            .valid_any(BenchKind::Train)
            .filter(|m| m.method.starts_with("torch/"))
            .collect();
        for m in &steps {
            let (
                Some(t),
                Shape::Train {
                    layers,
                    hidden,
                    heads,
                    vocab,
                    seq,
                    ..
                },
            ) = (m.train.as_ref(), m.shape)
            else {
                continue;
            };
            // Across ranks, the data-parallel step; a run of one rank, its step alone.
            let (nodes, ranks, single) = match &t.data_parallel {
                Some(dp) => (dp.nodes.max(1), dp.ranks, dp.single_step_s),
                None if steps.iter().any(|o| {
                    o.train.as_ref().is_some_and(|x| x.data_parallel.is_some())
                        && o.shape == m.shape
                }) =>
                {
                    continue;
                }
                None if r.ranks.as_ref().is_none_or(|l| l.size <= 1) => (1, 1, t.step_s),
                None => continue,
            };
            // The step alone on one rank is one node of both curves, DDP's and FSDP2's.
            let kinds: &[bool] = match &t.data_parallel {
                Some(_) => &[m.method.ends_with("-fsdp")],
                None => &[false, true],
            };
            for &sharded in kinds {
                let model = format!(
                    "L={layers} d={hidden} heads={heads} vocab={vocab} seq={seq}, {}",
                    if sharded { "FSDP2" } else { "DDP" }
                );
                let point = Point {
                    nodes,
                    ranks,
                    step_s: t.step_s,
                    single_step_s: single,
                    tokens_per_step: t.tokens_per_step,
                    tokens_per_s_per_gpu: t.tokens_per_s,
                    samples: samples
                        .iter()
                        .filter(|s| s.ranks == ranks)
                        .copied()
                        .collect(),
                };
                let gradient_bytes = (t.parameters + vocab * hidden) as f64 * 4.0;
                match curves.iter_mut().find(|c| c.model == model) {
                    Some(c) => match c.points.iter_mut().find(|p| p.nodes == nodes) {
                        // Two files at one node count: the faster step (a rerun).
                        Some(p) if p.step_s > point.step_s => *p = point,
                        Some(_) => {}
                        None => c.points.push(point),
                    },
                    None => curves.push(Curve {
                        model,
                        gradient_bytes,
                        sharded,
                        points: vec![point],
                    }),
                }
            }
        }
    }
    for c in &mut curves {
        c.points.sort_by_key(|p| p.nodes);
    }
    curves.retain(|c| c.points.len() >= 2);
    curves
}

/// A fitted ring all-reduce.
#[derive(Debug, Clone, PartialEq)]
pub struct AlphaBeta {
    /// Seconds per hop.
    pub alpha_s: f64,
    /// Bus bandwidth, GB/s.
    pub busbw_gbs: f64,
    /// The node counts it was fitted to.
    pub nodes: Vec<usize>,
}

impl AlphaBeta {
    /// One all-reduce of `bytes` across `ranks`, seconds.
    pub fn allreduce_s(&self, ranks: usize, bytes: f64) -> f64 {
        if ranks < 2 {
            return 0.0;
        }
        let n = ranks as f64;
        2.0 * (n - 1.0) * self.alpha_s + 2.0 * (n - 1.0) / n * bytes / (self.busbw_gbs * 1e9)
    }

    /// A step's communication of `bytes` of parameters (f32) across `ranks`, latency paid per
    /// 25 MiB: DDP all-reduces the gradients (2(n−1)/n·S); FSDP2 (`sharded`) all-gathers the
    /// parameters in the forward and again in the backward pass and reduce-scatters the
    /// gradients, (n−1)/n·S each: 1.5× DDP's bytes.
    pub fn step_comm_s(&self, ranks: usize, bytes: f64, sharded: bool) -> f64 {
        if ranks < 2 {
            return 0.0;
        }
        let chunks = (bytes / DDP_BUCKET_BYTES).ceil().max(1.0);
        let n = ranks as f64;
        let passes = if sharded { 3.0 } else { 2.0 };
        chunks * passes * (n - 1.0) * self.alpha_s
            + passes * (n - 1.0) / n * bytes / (self.busbw_gbs * 1e9)
    }

    /// In words, for the report and `project`.
    pub fn describe(&self) -> String {
        format!(
            "ring all-reduce fitted to the all-reduces measured at {} node(s): α = {} per hop, \
             busbw = {} GB/s",
            self.nodes
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            crate::bench::duration_s(self.alpha_s),
            crate::bench::num(self.busbw_gbs)
        )
    }
}

/// Fits α and B to all-reduces: the multi-node ones when there are any (the network bounds the
/// ring across nodes), else those within a node. `None` without two sizes to tell α from B.
pub fn fit(points: &[&Point]) -> Option<AlphaBeta> {
    let all: Vec<Sample> = points
        .iter()
        .flat_map(|p| p.samples.iter().copied())
        .filter(|s| s.ranks >= 2)
        .collect();
    let across: Vec<Sample> = all.iter().copied().filter(|s| s.nodes >= 2).collect();
    let used = if across.is_empty() { all } else { across };
    let mut sizes: Vec<u64> = used.iter().map(|s| s.bytes as u64).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() < 2 {
        return None;
    }
    // t = a·x1 + c·x2 with x1 = 2(n−1), x2 = 2(n−1)/n·S, c = 1/B; each row divided by t.
    let rows: Vec<(f64, f64)> = used
        .iter()
        .map(|s| {
            let n = s.ranks as f64;
            (
                2.0 * (n - 1.0) / s.seconds,
                2.0 * (n - 1.0) / n * s.bytes / s.seconds,
            )
        })
        .collect();
    let (mut s11, mut s12, mut s22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x1, x2) in &rows {
        s11 += x1 * x1;
        s12 += x1 * x2;
        s22 += x2 * x2;
        b1 += x1;
        b2 += x2;
    }
    let det = s11 * s22 - s12 * s12;
    let (mut a, mut c) = if det.abs() > f64::EPSILON * s11 * s22 {
        ((b1 * s22 - b2 * s12) / det, (s11 * b2 - s12 * b1) / det)
    } else {
        (0.0, b2 / s22)
    };
    if a < 0.0 {
        a = 0.0;
        c = b2 / s22;
    }
    if c <= 0.0 {
        // Time does not grow with size: all latency; the largest size's busbw bounds B.
        c = 1.0 / used.iter().map(|s| s.busbw_gbs * 1e9).fold(0.0, f64::max);
        a = (b1 - c * b2) / s11;
        a = a.max(0.0);
    }
    let mut nodes: Vec<usize> = used.iter().map(|s| s.nodes).collect();
    nodes.sort_unstable();
    nodes.dedup();
    (c.is_finite() && c > 0.0).then(|| AlphaBeta {
        alpha_s: a,
        busbw_gbs: 1.0 / c / 1e9,
        nodes,
    })
}

/// A step projected to a node count: seconds, fully overlapped and not overlapped, and the
/// tokens/s per GPU they give (the faster first).
#[derive(Debug, Clone, PartialEq)]
pub struct Projected {
    /// Nodes.
    pub nodes: usize,
    /// Ranks.
    pub ranks: usize,
    /// The gradient all-reduce per step, seconds.
    pub comm_s: f64,
    /// The step alone on one GPU, seconds.
    pub compute_s: f64,
    /// Step seconds, overlapped and not.
    pub step_s: (f64, f64),
    /// Tokens/s per GPU, overlapped and not.
    pub tokens_per_s_per_gpu: (f64, f64),
}

/// The curve's step projected to `nodes` nodes of `ranks_per_node` ranks by `model`.
pub fn project(
    curve: &Curve,
    model: &AlphaBeta,
    nodes: usize,
    ranks_per_node: usize,
) -> Option<Projected> {
    let mut singles: Vec<f64> = curve.points.iter().map(|p| p.single_step_s).collect();
    singles.sort_by(f64::total_cmp);
    let compute_s = crate::stats::percentile_sorted(&singles, 0.5);
    let tokens = curve.points.last()?.tokens_per_step as f64;
    let ranks = nodes * ranks_per_node;
    let comm_s = model.step_comm_s(ranks, curve.gradient_bytes, curve.sharded);
    let step_s = (compute_s.max(comm_s), compute_s + comm_s);
    (compute_s > 0.0).then(|| Projected {
        nodes,
        ranks,
        comm_s,
        compute_s,
        step_s,
        tokens_per_s_per_gpu: (tokens / step_s.0, tokens / step_s.1),
    })
}

/// The projection checked on the run: the largest node count projected from the smaller ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The model fitted to the smaller node counts.
    pub fit: AlphaBeta,
    /// The largest node count, projected.
    pub projected: Projected,
    /// Its measured step, seconds.
    pub measured_s: f64,
}

impl Check {
    /// The measured step's distance from the projected band, relative to the measured step (0
    /// inside the band; negative: the projection is faster than measured).
    pub fn error(&self) -> f64 {
        crate::assess::project::band_error(self.projected.step_s, self.measured_s)
    }

    /// One line: what was projected from what, and the error.
    pub fn describe(&self) -> String {
        let p = &self.projected;
        let e = self.error();
        format!(
            "{} node(s) projected from {}: step {} – {} (all-reduce {} beside {} of compute), \
             measured {}: {}",
            p.nodes,
            self.fit
                .nodes
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            crate::bench::duration_s(p.step_s.0),
            crate::bench::duration_s(p.step_s.1),
            crate::bench::duration_s(p.comm_s),
            crate::bench::duration_s(p.compute_s),
            crate::bench::duration_s(self.measured_s),
            if e == 0.0 {
                "inside the band".to_string()
            } else {
                format!("error {:+.1}%", e * 100.0)
            }
        )
    }
}

/// Projects the curve's largest node count from the smaller ones (which must include one with
/// all-reduces across ranks), against its measurement.
pub fn check(curve: &Curve) -> Option<Check> {
    let (last, rest) = curve.points.split_last()?;
    // Only what the smaller counts measured: the largest one's own step alone stays out too.
    let smaller = Curve {
        points: rest.to_vec(),
        ..curve.clone()
    };
    let fitted = fit(&rest.iter().collect::<Vec<_>>())?;
    let projected = project(&smaller, &fitted, last.nodes, curve.ranks_per_node())?;
    Some(Check {
        fit: fitted,
        projected,
        measured_s: last.step_s,
    })
}

/// A curve with what is decided about it, for the report to render: the ring fitted to all its
/// node counts, the check on the run, and the fit's projection without overlap at each measured
/// node count and at twice and four times the largest.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// The measured curve.
    pub curve: Curve,
    /// The ring fitted to every node count's all-reduces; `None` without two sizes across ranks.
    pub fit: Option<AlphaBeta>,
    /// The largest node count projected from the smaller ones.
    pub check: Option<Check>,
    /// (nodes, tokens/s per GPU) projected by [`Judged::fit`], not overlapped.
    pub projected: Vec<(usize, f64)>,
}

impl Judged {
    /// Fits, checks and projects `curve`.
    pub fn of(curve: Curve) -> Self {
        let fit = fit(&curve.points.iter().collect::<Vec<_>>());
        let check = check(&curve);
        let projected = match (&fit, curve.points.last()) {
            (Some(f), Some(last)) => {
                let rpn = curve.ranks_per_node();
                let mut counts: Vec<usize> = curve.points.iter().map(|p| p.nodes).collect();
                counts.extend([last.nodes * 2, last.nodes * 4]);
                counts
                    .into_iter()
                    .filter_map(|n| Some((n, project(&curve, f, n, rpn)?.tokens_per_s_per_gpu.1)))
                    .collect()
            }
            _ => Vec::new(),
        };
        Self {
            curve,
            fit,
            check,
            projected,
        }
    }
}

/// Every curve in `files` ([`curves`]), judged.
pub fn judged(files: &[Results]) -> Vec<Judged> {
    curves(files).into_iter().map(Judged::of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic curve from a known ring: α = 20 µs, B = 10 GB/s, 4 ranks per node, a step of
    /// 1 s alone and 400 MB of gradients, all-reduces at 1 KiB … 64 MiB, the data-parallel step
    /// not overlapped (compute + communication).
    fn synthetic(nodes: &[usize]) -> Curve {
        let truth = AlphaBeta {
            alpha_s: 20e-6,
            busbw_gbs: 10.0,
            nodes: Vec::new(),
        };
        let grads = 400e6;
        let points = nodes
            .iter()
            .map(|&k| {
                let ranks = 4 * k;
                let samples = (10..=26)
                    .step_by(4)
                    .map(|p| {
                        let bytes = (1u64 << p) as f64;
                        let seconds = truth.allreduce_s(ranks, bytes);
                        let n = ranks as f64;
                        Sample {
                            ranks,
                            nodes: k,
                            bytes,
                            seconds,
                            busbw_gbs: bytes / seconds * 2.0 * (n - 1.0) / n / 1e9,
                        }
                    })
                    .collect();
                let step_s = 1.0 + truth.step_comm_s(ranks, grads, false);
                Point {
                    nodes: k,
                    ranks,
                    step_s,
                    single_step_s: 1.0,
                    tokens_per_step: 8192,
                    tokens_per_s_per_gpu: 8192.0 / step_s,
                    samples,
                }
            })
            .collect();
        Curve {
            model: "L=2".into(),
            gradient_bytes: grads,
            sharded: false,
            points,
        }
    }

    #[test]
    fn the_fit_recovers_a_known_ring() {
        let c = synthetic(&[1, 2, 4]);
        let f = fit(&c.points.iter().collect::<Vec<_>>()).unwrap();
        assert!((f.alpha_s - 20e-6).abs() < 1e-9, "{f:?}");
        assert!((f.busbw_gbs - 10.0).abs() < 1e-6, "{f:?}");
        // Multi-node samples only: 1 node is left out of the fit.
        assert_eq!(f.nodes, [2, 4]);
    }

    /// The largest count projected from the smaller ones lands on its measurement (the
    /// synthetic step is not overlapped: the band's slow end), and the projection to 64 nodes
    /// is the known answer, not linear scaling.
    #[test]
    fn the_largest_count_is_projected_from_the_smaller_ones() {
        let c = synthetic(&[1, 2, 4, 8]);
        let k = check(&c).unwrap();
        assert_eq!(k.projected.nodes, 8);
        assert!(k.error().abs() < 1e-9, "{}", k.describe());
        assert!((k.projected.step_s.1 - k.measured_s).abs() < 1e-9);
        assert!(k.describe().contains("inside the band"), "{}", k.describe());
        let f = fit(&c.points.iter().collect::<Vec<_>>()).unwrap();
        let p = project(&c, &f, 64, 4).unwrap();
        let n = 256.0;
        let want = 16.0 * 2.0 * (n - 1.0) * 20e-6 + 2.0 * (n - 1.0) / n * 400e6 / 10e9;
        assert!((p.comm_s - want).abs() < 1e-9, "{p:?}");
        assert!(p.tokens_per_s_per_gpu.1 < p.tokens_per_s_per_gpu.0);
        // Efficiency against one node falls with the node count.
        let e: Vec<f64> = c.points.iter().map(|p| c.efficiency(p).unwrap()).collect();
        assert!(e.windows(2).all(|w| w[1] < w[0]), "{e:?}");
    }

    /// A measured step slower than the band: the error is negative and printed.
    #[test]
    fn a_slower_measurement_is_a_negative_error() {
        let mut c = synthetic(&[1, 2, 4]);
        c.points[2].step_s *= 1.25;
        let k = check(&c).unwrap();
        assert!((k.error() + 0.2).abs() < 1e-9, "{}", k.error());
        assert!(k.describe().contains("error -20.0%"), "{}", k.describe());
    }

    /// FSDP2 moves 1.5× DDP's bytes and pays the latency three times per 25 MiB, not twice.
    #[test]
    fn a_sharded_step_communicates_one_and_a_half_times_ddp() {
        let f = AlphaBeta {
            alpha_s: 0.0,
            busbw_gbs: 10.0,
            nodes: vec![2],
        };
        let (ddp, fsdp) = (f.step_comm_s(16, 1e9, false), f.step_comm_s(16, 1e9, true));
        assert!((fsdp / ddp - 1.5).abs() < 1e-12);
        let lat = AlphaBeta {
            alpha_s: 1e-5,
            busbw_gbs: 1e30,
            nodes: vec![2],
        };
        let chunks = (1e9 / DDP_BUCKET_BYTES).ceil();
        assert!((lat.step_comm_s(16, 1e9, true) - chunks * 3.0 * 15.0 * 1e-5).abs() < 1e-9);
        assert_eq!(f.step_comm_s(1, 1e9, true), 0.0);
    }

    #[test]
    fn one_size_cannot_tell_latency_from_bandwidth() {
        let mut c = synthetic(&[1, 2]);
        for p in &mut c.points {
            p.samples.truncate(1);
        }
        assert!(fit(&c.points.iter().collect::<Vec<_>>()).is_none());
        assert!(check(&c).is_none());
    }
}
