//! The report's communication section: who took part in the all-reduce, busbw at the sizes
//! that matter for training beside the baseline's figures, and what busbw means.

use super::ReportContext;
use super::model::{Block, Cell};
use crate::bench::{BenchKind, num, sig};
use crate::node::human_bytes;

/// The message sizes that matter for training, shown in the all-reduce table.
pub const TRAINING_SIZES: [u64; 4] = [1 << 20, 16 << 20, 128 << 20, 1 << 30];

/// The all-reduce section: who took part, busbw at the sizes that matter, the baseline's
/// figures at the same sizes, and what busbw means.
pub(super) fn allreduce(b: &mut Vec<Block>, ctx: &ReportContext) {
    let series = super::plots::allreduce_series(ctx.results);
    if series.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "Communication: all-reduce".into()));
    if let Some(l) = &ctx.results.ranks {
        let nodes = l.nodes();
        b.push(Block::Para(format!(
            "{} ranks on {} node{} ({}: {}), {}, launched by {}.",
            l.size,
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" },
            if nodes.len() == 1 {
                "intra-node"
            } else {
                "inter-node"
            },
            nodes.join(", "),
            l.library,
            l.launcher
        )));
    }
    b.push(Block::Para(
        "busbw = algbw · 2(n−1)/n, where algbw = bytes / time and n is the number of ranks: \
         nccl-tests' definition, the rate each rank's link must carry in a ring all-reduce, so \
         that it can be set beside link speeds. It is unidirectional and in GB/s of 10⁹ bytes \
         (not GiB/s). It does not see the topology or the hardware: NVLink SHARP (NVLS) and \
         in-network reduction (SHARP) can exceed the link rate, and tree algorithms move other \
         amounts. Times are the slowest rank's; every element of every result is checked."
            .into(),
    ));
    let refs = ctx.profile.allreduce_refs();
    let mut rows: Vec<Vec<Cell>> = series
        .iter()
        .map(|s| {
            let mut row = vec![Cell::plain(s.label.clone())];
            for size in TRAINING_SIZES {
                row.push(
                    s.points
                        .iter()
                        .find(|p| p.0 == size as f64)
                        .map(|p| format!("{} GB/s", sig(p.1, 3)))
                        .unwrap_or_else(|| "—".into())
                        .into(),
                );
            }
            row
        })
        .collect();
    // One row per baseline method (a sweep published as one table is one row).
    let mut sources: Vec<(&str, &str)> = Vec::new();
    for (r, _) in &refs {
        if !sources.contains(&(r.method.as_str(), r.source.as_str())) {
            sources.push((r.method.as_str(), r.source.as_str()));
        }
    }
    for (method, source) in sources {
        let mut row = vec![Cell::plain(format!(
            "baseline {}: {} ({})",
            ctx.profile.id,
            method,
            ctx.profile.cite(source)
        ))];
        for size in TRAINING_SIZES {
            row.push(
                refs.iter()
                    .find(|(r, x)| *x == size && r.method == method && r.source == source)
                    .map(|(r, _)| format!("{} GB/s", num(r.value)))
                    .unwrap_or_else(|| "—".into())
                    .into(),
            );
        }
        rows.push(row);
    }
    let mut head = vec!["busbw".to_string()];
    head.extend(TRAINING_SIZES.iter().map(|s| human_bytes(*s)));
    b.push(Block::Table { head, rows });
    let other: Vec<String> = refs
        .iter()
        .filter(|(_, x)| !TRAINING_SIZES.contains(x))
        .map(|(r, x)| {
            format!(
                "Baseline at {}: {} GB/s busbw, {} ({}).",
                human_bytes(*x),
                num(r.value),
                r.method,
                ctx.profile.cite(&r.source)
            )
        })
        .collect();
    if !other.is_empty() {
        b.push(Block::List(other));
    }
    let methods: Vec<&str> = ctx
        .results
        .valid_any(BenchKind::Allreduce)
        .map(|m| m.method.as_str())
        .collect();
    b.push(Block::List(method_notes(&methods)));
}

/// What each all-reduce method in the results measured, and whether it is scored.
pub(super) fn method_notes(methods: &[&str]) -> Vec<String> {
    let has = |f: &dyn Fn(&str) -> bool| methods.iter().any(|m| f(m));
    let mut notes = Vec::new();
    if has(&|m| m == "torch/allreduce-nccl") {
        notes.push(
            "torch/allreduce-nccl: torch.distributed on this machine's NCCL (RCCL on AMD), \
             between GPUs, what data-parallel training uses. Scored like for like against the \
             baseline's nccl-tests, rccl-tests or all_reduce_bench figure at the same size and \
             rank count: a torch.distributed loop is within 0.5% of nccl-tests at 16 GiB on one \
             8×H200 node (ml-engineering, network/README.md)."
                .to_string(),
        );
    }
    if has(&|m| m == "torch/allreduce-gloo") {
        notes.push(
            "torch/allreduce-gloo: torch.distributed on gloo between CPU processes over host \
             memory and TCP: what a CPU-only job gets; context beside NCCL figures, not scored."
                .to_string(),
        );
    }
    if has(&|m| m.starts_with("import/")) {
        notes.push(
            "import/…: figures from this machine's own nccl-tests or rccl-tests output (`hpcready \
             import`), checked as the tool reports; scored like for like against the same tool's \
             figures."
                .to_string(),
        );
    }
    if has(&|m| m == "wgpu/host-staged") {
        notes.push(
            "wgpu/host-staged: GPUs reduced through host memory by hpcready itself, not \
             NCCL/RCCL: context, not scored."
                .to_string(),
        );
    }
    if has(&|m| !m.starts_with("torch/") && !m.starts_with("import/") && m != "wgpu/host-staged") {
        notes.push(
            "MPI: hpcready's own all-reduce runs MPI_Allreduce between processes over host \
             memory: it shows what MPI and the network deliver, not what NCCL/RCCL would between \
             GPUs, and is scored only against a profile saved from the same method; run \
             `--backend torch` under the launcher, or import nccl-tests/rccl-tests output, to \
             compare GPUs like for like."
                .to_string(),
        );
    }
    notes
}
