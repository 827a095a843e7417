//! The report's communication section: who took part in the all-reduce, busbw at the sizes
//! that matter for training beside the baseline's figures, and what busbw means.

use super::ReportContext;
use super::document::{Block, Cell};
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
    let refs: Vec<(&crate::profiles::Reference, u64)> = ctx
        .profile
        .references
        .iter()
        .filter(|r| r.bench == "allreduce" && r.unit == "GB/s")
        .filter_map(|r| crate::assess::param_u64(&r.params, "bytes").map(|x| (r, x)))
        .collect();
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
    for (r, bytes) in &refs {
        let mut row = vec![Cell::plain(format!(
            "baseline {}: {} ({})",
            ctx.profile.id,
            r.method,
            ctx.profile.cite(&r.source)
        ))];
        for size in TRAINING_SIZES {
            row.push(if *bytes == size {
                format!("{} GB/s", num(r.value)).into()
            } else {
                "—".into()
            });
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
    if methods.iter().any(|m| !m.starts_with("import/")) {
        b.push(Block::Para(
            "hpcready's own all-reduce runs MPI_Allreduce between processes over host memory \
             (or, host-staged, between GPUs through the host): it shows what MPI and the \
             network deliver, not what NCCL/RCCL would between GPUs. Beside the baseline's \
             NCCL figures it is context, not scored; import this machine's nccl-tests or \
             rccl-tests output (`hpcready import`) to compare like for like."
                .into(),
        ));
    }
}
