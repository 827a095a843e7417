//! The all-reduce row of a comparison: busbw against the baseline's published figure at the
//! same message size, scored only like for like.

use super::{Basis, Row, Verdict, reference_figure};
use crate::bench::{BenchKind, Shape};
use crate::profiles::{Profile, Reference};
use crate::results::{Measurement, Results};

/// The tools whose all-reduce figures a torch.distributed NCCL/RCCL measurement is compared with
/// like for like (same size and rank count).
pub const TORCH_COMPARABLE: [&str; 3] = ["nccl-tests", "rccl-tests", "all_reduce_bench"];

/// All-reduce against the baseline's published busbw at the same message size: like for like
/// when both were measured by the same tool (nccl-tests against nccl-tests, our MPI against a
/// profile saved from our MPI); otherwise shown for context and not scored (MPI over host memory
/// is not NCCL over NVLink, and a host-staged GPU all-reduce is neither).
pub(super) fn allreduce_row(
    results: &Results,
    profile: &Profile,
    ours: &Measurement,
    row: &mut Row,
) {
    let tool = ours.tool();
    let at = |bytes: u64| {
        results
            .valid_any(BenchKind::Allreduce)
            .filter(|m| m.tool() == tool && m.is_verified())
            .filter(|m| matches!(m.shape, Shape::Allreduce { bytes: b, .. } if b == bytes))
            .max_by(crate::results::by_value)
    };
    let refs = profile.allreduce_refs();
    // Like for like: the same tool, or torch.distributed on NCCL/RCCL against nccl-tests,
    // rccl-tests or all_reduce_bench (a torch.distributed loop) at the same rank count — the
    // torch loop is within 0.5% of nccl-tests at 16 GiB on one 8×H200 node (ml-engineering,
    // network/README.md).
    let ranks_of = |m: &Measurement| match m.shape {
        Shape::Allreduce { ranks, .. } => Some(ranks),
        _ => None,
    };
    let comparable = |r: &Reference, m: &Measurement| {
        r.tool == tool
            || (tool == "torch/allreduce-nccl"
                && TORCH_COMPARABLE.contains(&r.tool.as_str())
                && r.param_u64("ranks").is_some_and(|n| Some(n) == ranks_of(m)))
    };
    // Prefer a comparable reference, then the largest size both measured, then (for torch) the
    // torch loop's figure over nccl-tests' at the same size: the same method.
    let same_loop = |r: &Reference| tool.starts_with("torch/") && r.tool == "all_reduce_bench";
    let matched = refs
        .iter()
        .filter_map(|&(r, b)| at(b).map(|m| (r, b, m)))
        .max_by_key(|&(r, b, m)| (comparable(r, m), b, same_loop(r)));
    if let Some((r, _, m)) = matched {
        let value = m.value().unwrap_or(0.0);
        row.ours = m.throughput;
        row.ours_at = Some(m.shape.display());
        row.ours_method = Some(m.method.clone());
        row.baseline = Some(reference_figure(profile, r));
        if comparable(r, m) {
            row.ratio = Some(value / r.value);
            row.basis = Basis::LikeForLike;
            row.verdict = Verdict::from_ratio(value / r.value);
        } else {
            row.basis = Basis::ContextOnly;
        }
    } else if let Some(&(r, _)) = refs.iter().max_by_key(|(_, b)| *b) {
        row.baseline = Some(reference_figure(profile, r));
        row.basis = Basis::ContextOnly;
    }
}
