//! The report as a format-neutral list of blocks, and its findings: verdict, comparison,
//! projection and porting checklist. The record of the run (measurements, node, method,
//! provenance) is in `details`.

use super::ReportContext;
use super::model::{Block, Cell};
use crate::assess::Basis;
use crate::bench::{num, percent, sig};

fn verdict_class(v: crate::assess::Verdict) -> Option<&'static str> {
    use crate::assess::Verdict::*;
    match v {
        Faster | OnPar => Some("good"),
        Slower => Some("warn"),
        MuchSlower | Invalid => Some("bad"),
        NotComparable => None,
    }
}

/// Time to train an example model on this node and on the baseline (`hpcready project` takes
/// the user's own model and assumptions).
fn projection(b: &mut Vec<Block>, ctx: &ReportContext) {
    use crate::assess::project::{DEFAULT_UTILISATION, Example};
    let Some(ex) = &ctx.comparison.example else {
        return;
    };
    b.push(Block::Heading(
        2,
        "Time to train (example: 7B parameters on 1T tokens)".into(),
    ));
    debug_assert_eq!((Example::PARAMS, Example::TOKENS), (7e9, 1e12));
    let (lo, hi) = DEFAULT_UTILISATION;
    b.push(Block::Para(format!(
        "6·N·D = {:.2e} FLOPs on one node of each machine, at {}; {}. \
         hpcready project --params N --tokens D --results results.json projects your own \
         model, node count and utilisation.{}",
        ex.flops,
        if ex.stepped {
            format!(
                "the model FLOP/s of a measured (or published) training step where there is one, \
                 which is end to end (no band), else {:.0}–{:.0}% of the 16-bit (else f32) \
                 matmul rate",
                lo * 100.0,
                hi * 100.0
            )
        } else {
            format!(
                "{:.0}–{:.0}% of each node's 16-bit (else f32) matmul rate",
                lo * 100.0,
                hi * 100.0
            )
        },
        match &ex.comm {
            Some(c) => format!(
                "this node's {}; the baseline's communication assumed overlapped",
                c.basis
            ),
            None => "communication assumed overlapped with compute (no training step and \
                     all-reduce measured together to fold in, or a single device)"
                .to_string(),
        },
        if ctx.profile.kind == crate::profiles::ProfileKind::Measured {
            ""
        } else {
            " This node's rate comes from hpcready's kernels and the baseline's from a vendor \
             library, so the gap reflects the kernels as well as the machines."
        }
    )));
    let rows = ex
        .sides
        .iter()
        .map(|p| {
            vec![
                Cell::plain(&p.rate.machine),
                Cell::plain(format!(
                    "{} TFLOP/s",
                    crate::bench::num(p.rate.tflops_per_node)
                )),
                Cell::plain(p.time_text()),
                Cell::plain(p.cost_text()),
                Cell::plain(p.rate.basis.clone()),
            ]
        })
        .collect();
    b.push(Block::Table {
        head: [
            "machine",
            "rate per node",
            "time to train",
            "cost",
            "rate from",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    if let Some(c) = &ex.checkpoints {
        b.push(Block::Para(format!(
            "This node's time includes its checkpoints: {} each (12 B per parameter) every {} \
             minutes at the write bandwidth its I/O bench measured, {} s each, written \
             synchronously: {} – {} of them, +{} – {}.",
            crate::node::human_bytes(c.bytes as u64),
            Example::CHECKPOINT_MINUTES,
            crate::bench::sig(c.seconds_each, 3),
            c.count.0,
            c.count.1,
            crate::assess::project::duration(c.hours.0),
            crate::assess::project::duration(c.hours.1)
        )));
    }
    let energy: Vec<String> = ex
        .energy
        .iter()
        .filter_map(|(machine, e)| {
            e.as_ref()
                .map(|e| format!("{machine}: {} — {}", e.text(None), e.basis))
        })
        .collect();
    if !energy.is_empty() {
        b.push(Block::Para("Energy to train:".into()));
        b.push(Block::List(energy));
    }
}

/// The porting checklist recorded with the run, plus the GPU count against the baseline.
fn porting_checklist(b: &mut Vec<Block>, ctx: &ReportContext) {
    use crate::node::checklist::Status;
    let checks = &ctx.comparison.checklist;
    if checks.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "Porting checklist".into()));
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    b.push(Block::Para(format!(
        "{} pass, {} warn, {} fail, {} for information — read on the node when it was measured; \
         nothing was sent over the network.",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Info)
    )));
    let rows = checks
        .iter()
        .map(|c| {
            let class = match c.status {
                Status::Pass => Some("good"),
                Status::Warn => Some("warn"),
                Status::Fail => Some("bad"),
                Status::Info => None,
            };
            vec![
                Cell::plain(&c.item),
                Cell {
                    text: c.status.name().into(),
                    class,
                },
                Cell::plain(&c.finding),
                Cell::plain(&c.advice),
            ]
        })
        .collect();
    b.push(Block::Table {
        head: ["item", "status", "finding", "advice"]
            .map(String::from)
            .to_vec(),
        rows,
    });
}

/// The report, as blocks: one function per section, in reading order.
pub fn document(ctx: &ReportContext) -> Vec<Block> {
    let mut b = Vec::new();
    verdict(&mut b, ctx);
    summary(&mut b, ctx);
    super::communication::allreduce(&mut b, ctx);
    projection(&mut b, ctx);
    porting_checklist(&mut b, ctx);
    plots_section(&mut b, ctx);
    super::details::training(&mut b, ctx);
    super::storage::section(&mut b, ctx);
    super::energy::section(&mut b, ctx);
    super::details::measurements(&mut b, ctx);
    super::details::node(&mut b, ctx);
    super::details::method(&mut b, ctx);
    super::details::provenance(&mut b, ctx);
    b
}

/// The title, the verdict and its reasons, the category table, and warnings about the run.
fn verdict(b: &mut Vec<Block>, ctx: &ReportContext) {
    let r = ctx.results;
    let c = ctx.comparison;
    b.push(Block::Heading(
        1,
        format!("hpcready report: {}", r.node.host),
    ));
    b.push(Block::Verdict {
        readiness: c.readiness.describe().into(),
        headline: c.headline.clone(),
        reasons: c.reasons.clone(),
    });
    b.push(Block::Para(format!(
        "Compared with {} ({}). Run started {}, suite {}, {} measurements; hpcready {} ({}).",
        c.baseline_name,
        c.baseline_summary,
        r.started_at,
        r.suite.as_deref().unwrap_or("custom"),
        r.measurements.len(),
        r.tool.version,
        r.tool.git_revision
    )));
    b.push(Block::Table {
        head: ["category", "status", "what decided it"]
            .map(String::from)
            .to_vec(),
        rows: c
            .categories
            .iter()
            .map(|cat| {
                let (text, class) = match cat.status {
                    Some(crate::assess::Readiness::Ready) => ("ready", Some("good")),
                    Some(crate::assess::Readiness::ReadyWithChanges) => {
                        ("ready with changes", Some("warn"))
                    }
                    Some(crate::assess::Readiness::NotReady) => ("not ready", Some("bad")),
                    None => ("not scored", None),
                };
                vec![
                    Cell::plain(&cat.name),
                    Cell {
                        text: text.into(),
                        class,
                    },
                    Cell::plain(&cat.basis),
                ]
            })
            .collect(),
    });
    if !r.complete {
        b.push(Block::Warning(format!(
            "Incomplete run: {} of {} planned measurements finished (the run was stopped or is \
             still going). Figures below cover only what finished.",
            r.measurements.len(),
            r.planned.max(r.measurements.len())
        )));
    }
    if let Some(load) = &r.load {
        for w in &load.warnings {
            b.push(Block::Warning(format!("Noisy machine: {w}.")));
        }
    }
}

/// The comparison table, the normalisation, why no like-for-like reference, the figures used.
fn summary(b: &mut Vec<Block>, ctx: &ReportContext) {
    let r = ctx.results;
    let c = ctx.comparison;
    b.push(Block::Heading(2, "Summary".into()));
    let rows = c
        .rows
        .iter()
        .map(|row| {
            // Each side names its data type and method: an f32 result may stand beside a
            // 16-bit figure, our kernel beside a vendor library.
            let how = row
                .ours_method
                .as_deref()
                .map(|m| match row.dtype {
                    crate::bench::DType::Bytes => format!(", {m}"),
                    d => format!(" {d}, {m}"),
                })
                .unwrap_or_default();
            let ours = match (row.ours, row.our_fraction_of_peak) {
                (Some(t), Some(f)) => format!("{t}{how} ({} of measured peak)", percent(f)),
                (Some(t), None) => format!("{t}{how}"),
                (None, _) => "no valid result".into(),
            };
            let theirs = row
                .baseline
                .as_ref()
                .map(|f| {
                    let mut s = format!("{} {}", num(f.value), f.unit);
                    match (f.dtype.as_str(), f.method.as_str()) {
                        (_, "") => {}
                        ("" | "bytes", m) => s.push_str(&format!(", {m}")),
                        (d, m) => s.push_str(&format!(" {d}, {m}")),
                    }
                    if let Some(fr) = f
                        .fraction_of_peak
                        .filter(|_| row.basis == Basis::FractionOfPeak)
                    {
                        s.push_str(&format!(" ({} of peak)", percent(fr)));
                    }
                    if f.uncertain {
                        s.push_str(" ⚠");
                    }
                    s
                })
                .unwrap_or_else(|| "—".into());
            vec![
                Cell::from(row.label()),
                ours.into(),
                theirs.into(),
                row.ratio
                    .map(|x| format!("{}×", sig(x, 3)))
                    .unwrap_or_else(|| "—".into())
                    .into(),
                row.basis.describe().into(),
                Cell {
                    text: row.verdict.describe().into(),
                    class: verdict_class(row.verdict),
                },
            ]
        })
        .collect();
    b.push(Block::Table {
        head: [
            "benchmark",
            "this node",
            "baseline",
            "ratio",
            "basis",
            "verdict",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    let gpu_run = r
        .measurements
        .iter()
        .any(|m| m.is_valid() && m.device_kind.per_device());
    b.push(Block::Para(if gpu_run {
        format!(
            "Normalisation: per device. Each figure of this node is one GPU; the baseline's is one \
             of its devices ({}), whose node has {} of them.",
            ctx.profile.accelerator.as_ref().map_or_else(
                || "no accelerator".to_string(),
                |a| if a.devices_per_accelerator > 1 {
                    format!(
                        "one of the {} devices of a {}",
                        a.devices_per_accelerator, a.model
                    )
                } else {
                    format!("one {}", a.model)
                }
            ),
            ctx.profile
                .accelerator
                .as_ref()
                .map_or(0, |a| a.count * a.devices_per_accelerator)
        )
    } else {
        "Normalisation: per node. This node's figures are its whole CPU; the baseline's peaks are \
         its node's (all accelerators), and accelerator memory bandwidth is one accelerator's, for \
         scale only."
            .to_string()
    }));
    if c.rows.iter().any(|r| r.basis == Basis::FractionOfPeak) {
        let on_gpu = ctx
            .results
            .measurements
            .iter()
            .any(|m| m.device_kind.per_device());
        let why = if on_gpu {
            format!(
                "this node's matmul and attention ran through hpcready's portable WGSL kernels, \
                 while {}'s published figures come from vendor libraries (cuBLAS, FlashAttention) \
                 — different code, so their ratio would measure the kernels, not the machine",
                c.baseline_name
            )
        } else {
            format!(
                "this node ran on its CPU, and {}'s published figures are for its accelerators",
                c.baseline_name
            )
        };
        b.push(Block::Para(format!(
            "No like-for-like reference: {why}. Matmul and attention are therefore compared as \
             fractions of each machine's own peak — ours measured with FMA chains on the same \
             device, theirs from the datasheet — an efficiency comparison, not a speed \
             comparison."
        )));
    }
    if c.rows.iter().any(|r| r.basis == Basis::ContextOnly) {
        b.push(Block::Para(
            "Rows marked \"context only\" show the baseline's nearest figure for scale (e.g. \
             accelerator HBM bandwidth beside host DRAM copy bandwidth, or a vendor library's \
             16-bit figure beside a portable kernel's); they are not scored."
                .into(),
        ));
    }
    let basis_rows: Vec<String> = c
        .rows
        .iter()
        .filter_map(|row| {
            let f = row.baseline.as_ref()?;
            Some(format!(
                "{}: {} {} — {}. Source: {}{}",
                row.label(),
                num(f.value),
                f.unit,
                f.what,
                f.source,
                if f.uncertain {
                    " (flagged uncertain)"
                } else {
                    ""
                }
            ))
        })
        .collect();
    if !basis_rows.is_empty() {
        b.push(Block::Heading(3, "Baseline figures used".into()));
        b.push(Block::List(basis_rows));
    }
    if !c.suspects.is_empty() {
        b.push(Block::Warning(format!(
            "Suspect (above the measured peak, not counted): {}",
            c.suspects.join("; ")
        )));
    }
    if !c.invalid.is_empty() {
        b.push(Block::Warning(format!(
            "Invalid (not scored): {}",
            c.invalid.join("; ")
        )));
    }
}

/// The plots, where there are any.
fn plots_section(b: &mut Vec<Block>, ctx: &ReportContext) {
    if !ctx.plots.is_empty() {
        b.push(Block::Heading(2, "Plots".into()));
        for i in 0..ctx.plots.len() {
            b.push(Block::Plot(i));
        }
    }
}
