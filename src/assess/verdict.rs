//! The verdict: readiness by category (compute, attention, communication, environment) and
//! overall, with the reasons that decided it.

use super::{Basis, Row, Verdict, percent, thresholds};
use crate::bench::BenchKind;
use crate::profiles::Profile;
use crate::results::Results;
use serde::{Deserialize, Serialize};

/// The overall readiness verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// On par or better everywhere it was compared like for like.
    Ready,
    /// Within reach: slower somewhere, or something to fix.
    ReadyWithChanges,
    /// Much slower, no accelerator, or nothing valid measured.
    NotReady,
}

impl Readiness {
    /// Plain words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::ReadyWithChanges => "ready with changes",
            Self::NotReady => "not ready",
        }
    }
}

/// One category of the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// `compute`, `attention`, `communication` or `environment`.
    pub name: String,
    /// Its status, or None when nothing in it could be scored.
    pub status: Option<Readiness>,
    /// What decided it, in one line.
    pub basis: String,
}

/// The status a ratio gives: on par or better is ready, slower is ready with changes, much
/// slower is not ready (the thresholds of [`thresholds`]).
fn status_of(ratio: f64) -> Readiness {
    if ratio >= thresholds::ON_PAR {
        Readiness::Ready
    } else if ratio >= thresholds::SLOWER {
        Readiness::ReadyWithChanges
    } else {
        Readiness::NotReady
    }
}

/// Compute (matmul, and the measured ceilings), attention, communication and environment.
pub(super) fn categories(results: &Results, rows: &[Row]) -> Vec<Category> {
    let scored = |benches: &[BenchKind], name: &str| {
        let like: Vec<&Row> = rows
            .iter()
            .filter(|r| benches.contains(&r.bench) && r.basis == Basis::LikeForLike)
            .collect();
        let ceilings: Vec<&Row> = rows
            .iter()
            .filter(|r| benches.contains(&r.bench) && r.basis == Basis::PeakVsPeak)
            .collect();
        let worst = |rs: &[&Row]| {
            rs.iter()
                .filter_map(|r| r.ratio.map(|x| (x, r.label())))
                .min_by(|a, b| a.0.total_cmp(&b.0))
        };
        let efficiency: Vec<String> = rows
            .iter()
            .filter(|r| benches.contains(&r.bench) && r.basis == Basis::FractionOfPeak)
            .filter_map(|r| {
                r.ratio
                    .map(|x| format!("{} {}×", r.label(), crate::bench::sig(x, 3)))
            })
            .collect();
        let (status, basis) = if let Some((x, label)) = worst(&like) {
            (
                Some(status_of(x)),
                format!(
                    "worst like-for-like ratio {}× ({label})",
                    crate::bench::sig(x, 3)
                ),
            )
        } else if let Some((x, label)) = worst(&ceilings) {
            // Measured ceilings against the datasheet: only a clear shortfall counts.
            let status = if x < thresholds::SLOWER {
                Readiness::NotReady
            } else {
                Readiness::Ready
            };
            (
                Some(status),
                format!(
                    "measured ceiling {}× the datasheet ({label}); no like-for-like reference",
                    crate::bench::sig(x, 3)
                ),
            )
        } else if !efficiency.is_empty() {
            (
                None,
                format!(
                    "efficiency only, not scored (fraction of own peak against the baseline's): {}",
                    efficiency.join(", ")
                ),
            )
        } else {
            (None, "nothing comparable was measured".to_string())
        };
        Category {
            name: name.into(),
            status,
            basis,
        }
    };
    let mut out = vec![
        scored(
            &[BenchKind::Peak, BenchKind::Membw, BenchKind::Matmul],
            "compute",
        ),
        scored(&[BenchKind::Attention], "attention"),
        communication(results, rows),
    ];
    let checks = &results.node.checklist;
    let count = |s: crate::node::checklist::Status| checks.iter().filter(|c| c.status == s).count();
    use crate::node::checklist::Status as S;
    out.push(Category {
        name: "environment".into(),
        status: if checks.is_empty() {
            None
        } else if count(S::Fail) > 0 {
            Some(Readiness::NotReady)
        } else if count(S::Warn) > 0 {
            Some(Readiness::ReadyWithChanges)
        } else {
            Some(Readiness::Ready)
        },
        basis: if checks.is_empty() {
            "no porting checklist recorded with this run".into()
        } else {
            let named = |s: S| {
                checks
                    .iter()
                    .filter(|c| c.status == s)
                    .map(|c| c.item.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut b = format!(
                "porting checklist: {} pass, {} warn, {} fail",
                count(S::Pass),
                count(S::Warn),
                count(S::Fail)
            );
            if count(S::Fail) > 0 {
                b.push_str(&format!(" (fail: {})", named(S::Fail)));
            }
            if count(S::Warn) > 0 {
                b.push_str(&format!(" (warn: {})", named(S::Warn)));
            }
            b
        },
    });
    out
}

pub(super) fn rank(r: Readiness) -> u8 {
    match r {
        Readiness::Ready => 0,
        Readiness::ReadyWithChanges => 1,
        Readiness::NotReady => 2,
    }
}

pub(super) fn readiness(
    results: &Results,
    profile: &Profile,
    rows: &[Row],
    invalid: &[String],
) -> (Readiness, Vec<String>) {
    let mut reasons = Vec::new();
    let valid = results.measurements.iter().filter(|m| m.is_valid()).count();
    if valid == 0 && results.measurements.is_empty() && results.storage.is_some() {
        reasons.push(
            "only the file-system bench ran: readiness needs the compute figures too; report \
             both runs together (`hpcready report run.json io.json`)"
                .to_string(),
        );
        return (Readiness::NotReady, reasons);
    }
    if valid == 0 {
        reasons.push("nothing was measured validly".to_string());
        return (Readiness::NotReady, reasons);
    }
    // GPUs the system lists count even where Vulkan cannot see them (AMD Instinct, an NVIDIA
    // install without the Vulkan ICD).
    let accelerators = results.node.gpu_count();
    let baseline_accels = profile.accelerator_count();
    let gpu_measured = results
        .measurements
        .iter()
        .any(|m| m.is_valid() && m.device_kind == crate::results::DeviceKind::Gpu);
    let unmeasured = baseline_accels > 0
        && !gpu_measured
        && results.node.accelerators.gpus().count() == 0
        && !results.node.gpus.is_empty();
    if unmeasured {
        let g = &results.node.gpus;
        let mut names: Vec<String> = g.iter().map(|x| x.name.clone()).collect();
        names.dedup();
        reasons.push(format!(
            "this node has {} GPU(s) ({}) that no path measured. Vulkan: {}. PyTorch: {}",
            g.len(),
            names.join(", "),
            g[0].vulkan.why,
            g[0].torch.why
        ));
    }
    if accelerators == 0 && baseline_accels > 0 {
        let probed = if results.node.accelerators.probed {
            results.node.accelerators.note.as_str()
        } else {
            "none was probed"
        };
        reasons.push(format!(
            "no accelerator on this node ({probed}); {} has {} × {}",
            profile.name,
            baseline_accels,
            profile
                .accelerator
                .as_ref()
                .map_or("", |a| a.model.as_str())
        ));
    }
    if !invalid.is_empty() {
        reasons.push(format!("{} measurement(s) failed", invalid.len()));
    }
    if !results.complete {
        reasons.push(format!(
            "the run is incomplete: {} of {} planned measurements finished",
            results.measurements.len(),
            results.planned.max(results.measurements.len())
        ));
    }
    let like: Vec<&Row> = rows
        .iter()
        .filter(|r| r.basis == Basis::LikeForLike)
        .collect();
    for r in &like {
        if matches!(r.verdict, Verdict::Slower | Verdict::MuchSlower) {
            reasons.push(format!(
                "{} {} is {} than the baseline ({} of it)",
                r.bench,
                r.dtype,
                r.verdict.describe(),
                percent(r.ratio.unwrap_or(0.0))
            ));
        }
    }
    let mut worst = like
        .iter()
        .filter_map(|r| r.ratio)
        .fold(f64::INFINITY, f64::min);
    // Measured ceilings against the datasheet: a portable kernel rarely reaches the datasheet, so
    // only a clear shortfall (under half) counts, as a weaker device would show.
    for r in rows.iter().filter(|r| r.basis == Basis::PeakVsPeak) {
        if let Some(ratio) = r.ratio.filter(|&x| x < thresholds::SLOWER) {
            reasons.push(format!(
                "its measured {} ceiling is {} of the baseline's datasheet figure",
                r.label(),
                percent(ratio)
            ));
            worst = worst.min(ratio);
        }
    }
    let baseline_accels_n = baseline_accels as usize;
    let fewer = accelerators > 0 && accelerators < baseline_accels_n;
    if fewer {
        reasons.push(format!(
            "{accelerators} accelerator(s) on this node against {baseline_accels} on {}: a job \
             laid out for one of its nodes needs {} of these nodes (or a new parallel layout)",
            profile.name,
            baseline_accels_n.div_ceil(accelerators)
        ));
    }
    let by_ratio = if worst.is_finite() {
        status_of(worst)
    } else {
        Readiness::Ready
    };
    let readiness = if (accelerators == 0 && baseline_accels > 0) || unmeasured {
        Readiness::NotReady
    } else if by_ratio == Readiness::Ready && (fewer || !invalid.is_empty() || !results.complete) {
        Readiness::ReadyWithChanges
    } else {
        by_ratio
    };
    (readiness, reasons)
}

/// The reason given when nothing counts against the node.
pub(super) fn nothing_against(rows: &[Row]) -> String {
    if rows.iter().any(|r| r.basis == Basis::LikeForLike) {
        "every like-for-like comparison is on par or better".into()
    } else {
        "no measured ceiling falls clearly short of the baseline's datasheet (no like-for-like \
         reference exists for this run's methods)"
            .into()
    }
}

/// Communication: scored only against a baseline measured by the same tool (nccl-tests against
/// nccl-tests); our MPI all-reduce beside NCCL figures is context.
fn communication(results: &Results, rows: &[Row]) -> Category {
    let name = "communication".to_string();
    let ar: Vec<&Row> = rows
        .iter()
        .filter(|r| r.bench == BenchKind::Allreduce)
        .collect();
    if let Some((x, label, torch)) = ar
        .iter()
        .filter(|r| r.basis == Basis::LikeForLike)
        .filter_map(|r| {
            r.ratio.map(|x| {
                (
                    x,
                    r.label(),
                    r.ours_method
                        .as_deref()
                        .is_some_and(|m| m.starts_with("torch/")),
                )
            })
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
    {
        return Category {
            name,
            status: Some(status_of(x)),
            basis: if torch {
                format!(
                    "all-reduce busbw {}× the baseline's: torch.distributed (NCCL/RCCL) here \
                     against nccl-tests-style figures there, same message size and rank count \
                     (a torch.distributed loop is within 0.5% of nccl-tests at 16 GiB on one 8×H200 node: \
                     ml-engineering, network/README.md) ({label})",
                    crate::bench::sig(x, 3)
                )
            } else {
                format!(
                    "all-reduce busbw {}× the baseline's, same tool and message size ({label})",
                    crate::bench::sig(x, 3)
                )
            },
        };
    }
    if results.valid_any(BenchKind::Allreduce).next().is_none() {
        return Category {
            name,
            status: None,
            basis: "not measured: run `srun … hpcready run --bench allreduce` (a build with \
                    --features mpi) or `hpcready import nccl-tests LOG`"
                .into(),
        };
    }
    if !results
        .valid_any(BenchKind::Allreduce)
        .any(|m| m.is_verified())
    {
        return Category {
            name,
            status: None,
            basis: "measured, not scored: the tool that produced these all-reduce figures did \
                    not check its results (rerun nccl-tests/rccl-tests with `-c 1`, OSU with \
                    `-c`)"
                .into(),
        };
    }
    Category {
        name,
        status: None,
        basis: "measured, not scored: the baseline's all-reduce figures come from another \
                tool (NCCL/RCCL between GPUs); import this machine's nccl-tests or rccl-tests \
                output to compare like for like"
            .into(),
    }
}
