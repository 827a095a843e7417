//! The projection's communication term: the gradient all-reduce a data-parallel step adds,
//! from the all-reduce and training step measured in the same run, and its check against a
//! measured data-parallel step.

use super::{devices_per_node, largest_step};
use crate::bench::{BenchKind, duration_s, num};
use crate::results::Results;

/// The communication term of a projection of a model of `params` on `nodes` nodes from this
/// run: each device trains the micro-batch of the run's largest training step (its tokens per
/// step) at that step's model FLOP/s, then all-reduces the gradients. `None` without a measured
/// training step and all-reduce, or for one device.
pub fn projection_comm(results: &Results, params: f64, nodes: u32) -> Option<CommTerm> {
    let m = largest_step(results)?;
    let t = m.train.as_ref()?;
    let devices = devices_per_node(results, m);
    let compute_s = 6.0 * params * t.tokens_per_step as f64 / (m.value()? * 1e12);
    comm_term(results, params * 4.0, devices * nodes as usize, compute_s)
}

/// The communication term at `nodes` nodes of `ranks_per_node` from a ring all-reduce fitted
/// to a scaling run: this run's largest training step as the compute, the gradients of a model
/// of `params` (f32) in DDP's buckets across every rank. `None` without a training step.
pub fn scaling_comm(
    results: &Results,
    params: f64,
    nodes: u32,
    ranks_per_node: usize,
    model: &crate::assess::scaling::AlphaBeta,
    sharded: bool,
) -> Option<CommTerm> {
    let m = largest_step(results)?;
    let t = m.train.as_ref()?;
    let compute_s = 6.0 * params * t.tokens_per_step as f64 / (m.value()? * 1e12);
    let ranks = nodes as usize * ranks_per_node;
    let bytes = params * 4.0;
    let comm_s = model.step_comm_s(ranks, bytes, sharded);
    (ranks >= 2 && compute_s > 0.0).then(|| CommTerm {
        comm_s,
        compute_s,
        basis: format!(
            "{} of {} (f32) across {ranks} ranks ({nodes} node(s) × {ranks_per_node}), latency per \
             25 MiB, by a {} = {} per step beside {} of compute; overlap with the backward pass \
             assumed from full to none",
            if sharded {
                "FSDP2's parameter all-gathers (forward and backward) and gradient reduce-scatter"
            } else {
                "DDP's gradient all-reduce"
            },
            crate::node::human_bytes(bytes as u64),
            model.describe(),
            duration_s(comm_s),
            duration_s(compute_s)
        ),
    })
}

/// The gradient all-reduce a data-parallel step adds, from an all-reduce measured in the same
/// run: the gradients (f32, as DDP all-reduces them) at the measured busbw of the nearest size,
/// for the ranks of the projection (time = bytes · 2(n−1)/n / busbw, nccl-tests' definition).
/// Whether it hides behind the backward pass is an assumption, shown as a band: from fully
/// overlapped (step = the longer of the two) to not at all (step = their sum).
#[derive(Debug, Clone, PartialEq)]
pub struct CommTerm {
    /// Seconds of all-reduce per step.
    pub comm_s: f64,
    /// Seconds of compute per step.
    pub compute_s: f64,
    /// Where the all-reduce time comes from, in words.
    pub basis: String,
}

impl CommTerm {
    /// Step time over compute time: fully overlapped, not overlapped.
    pub fn factor(&self) -> (f64, f64) {
        (
            self.comm_s.max(self.compute_s) / self.compute_s,
            (self.comm_s + self.compute_s) / self.compute_s,
        )
    }
}

/// The valid all-reduce whose size is nearest `bytes` (on a log scale), torch.distributed's
/// before MPI's or an import's, in place before out of place.
fn allreduce_near(results: &Results, bytes: f64) -> Option<&crate::results::Measurement> {
    results
        .valid_any(BenchKind::Allreduce)
        .filter(|m| m.collective.as_ref().is_some_and(|c| c.busbw_gbs > 0.0))
        .min_by(|a, b| {
            let key = |m: &crate::results::Measurement| {
                let (size, inplace) = match m.shape {
                    crate::bench::Shape::Allreduce { bytes, inplace, .. } => (bytes, inplace),
                    _ => (0, false),
                };
                (
                    (size.max(1) as f64 / bytes.max(1.0)).ln().abs(),
                    !m.method.starts_with("torch/"),
                    !inplace,
                )
            };
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0)
                .then(ka.1.cmp(&kb.1))
                .then(ka.2.cmp(&kb.2))
        })
}

/// The all-reduce of `gradient_bytes` across `ranks` at the run's measured busbw, beside a
/// compute step of `compute_s`; `None` for one rank or without a measured all-reduce.
pub fn comm_term(
    results: &Results,
    gradient_bytes: f64,
    ranks: usize,
    compute_s: f64,
) -> Option<CommTerm> {
    if ranks < 2 || compute_s <= 0.0 {
        return None;
    }
    let m = allreduce_near(results, gradient_bytes)?;
    let c = m.collective.as_ref()?;
    let n = ranks as f64;
    let comm_s = gradient_bytes * 2.0 * (n - 1.0) / n / (c.busbw_gbs * 1e9);
    let measured_ranks = match m.shape {
        crate::bench::Shape::Allreduce { ranks, .. } => ranks,
        _ => 0,
    };
    Some(CommTerm {
        comm_s,
        compute_s,
        basis: format!(
            "gradient all-reduce of {} across {ranks} ranks at {} GB/s busbw ({}, {} ranks, \
             measured at {}) = {} per step beside {} of compute; overlap with the backward pass \
             assumed from full to none",
            crate::node::human_bytes(gradient_bytes as u64),
            num(c.busbw_gbs),
            m.method,
            measured_ranks,
            m.shape.display(),
            duration_s(comm_s),
            duration_s(compute_s)
        ),
    })
}

/// A data-parallel step measured across ranks, against the step projected from the same step
/// alone on one rank plus the gradient all-reduce at the run's measured busbw.
#[derive(Debug, Clone, PartialEq)]
pub struct CommValidation {
    /// The model.
    pub model: String,
    /// Ranks.
    pub ranks: usize,
    /// Projected step time, fully overlapped and not overlapped, seconds.
    pub projected_s: (f64, f64),
    /// Measured data-parallel step time, seconds.
    pub measured_s: f64,
    /// The communication term used.
    pub term: CommTerm,
}

impl CommValidation {
    /// The measured step's distance from the projected band (see [`band_error`]).
    pub fn error(&self) -> f64 {
        band_error(self.projected_s, self.measured_s)
    }
}

/// A measured time's distance from a projected band (fast end, slow end), relative to the
/// measurement: 0 inside the band, negative when the band is faster than measured.
pub fn band_error((lo, hi): (f64, f64), measured: f64) -> f64 {
    if measured < lo {
        (lo - measured) / measured
    } else if measured > hi {
        (hi - measured) / measured
    } else {
        0.0
    }
}

/// Every valid data-parallel step of the run, checked against its projection.
pub fn comm_validations(results: &Results) -> Vec<CommValidation> {
    results
        .valid_any(BenchKind::Train)
        // DDP's step: the all-reduce model is its communication (FSDP2's is scaling's).
        .filter(|m| !m.method.ends_with("-fsdp"))
        .filter_map(|m| {
            let t = m.train.as_ref()?;
            let dp = t.data_parallel.as_ref()?;
            let (vocab, hidden) = match m.shape {
                crate::bench::Shape::Train { vocab, hidden, .. } => (vocab, hidden),
                _ => return None,
            };
            // DDP all-reduces every gradient, the embedding's too, in f32.
            let gradient_bytes = (t.parameters + vocab * hidden) as f64 * 4.0;
            let term = comm_term(results, gradient_bytes, dp.ranks, dp.single_step_s)?;
            let f = term.factor();
            Some(CommValidation {
                model: m.shape.display(),
                ranks: dp.ranks,
                projected_s: (dp.single_step_s * f.0, dp.single_step_s * f.1),
                measured_s: t.step_s,
                term,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_communication_band_runs_from_full_overlap_to_none() {
        let t = CommTerm {
            comm_s: 0.03,
            compute_s: 0.1,
            basis: String::new(),
        };
        let (lo, hi) = t.factor();
        assert!((lo - 1.0).abs() < 1e-12 && (hi - 1.3).abs() < 1e-12);
        // Communication longer than compute: even full overlap is slower.
        let slow = CommTerm {
            comm_s: 0.2,
            ..t.clone()
        };
        assert!((slow.factor().0 - 2.0).abs() < 1e-12);
        let v = |measured_s| CommValidation {
            model: String::new(),
            ranks: 4,
            projected_s: (0.1, 0.13),
            measured_s,
            term: t.clone(),
        };
        assert_eq!(v(0.12).error(), 0.0);
        assert!((v(0.2).error() + 0.35).abs() < 1e-12);
        assert!((v(0.05).error() - 1.0).abs() < 1e-12);
    }
}
