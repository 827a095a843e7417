//! The report's storage section (`run --bench io`): the file system, each phase's aggregate rate
//! with the ranks' spread, the read-back check, what limits the figures, and energy per GB.

use super::ReportContext;
use super::model::{Block, Cell};
use crate::bench::sig;
use crate::results::storage::StorageRun;

/// The section; nothing when the run has no I/O bench.
pub(super) fn section(b: &mut Vec<Block>, ctx: &ReportContext) {
    let Some(run) = &ctx.results.storage else {
        return;
    };
    b.push(Block::Heading(
        2,
        "Storage: checkpoints and data loading".into(),
    ));
    b.push(Block::Para(fs_line(run)));
    b.push(Block::Para(
        "Method: every rank at once after a barrier; each figure is the bytes (or operations) of \
         all ranks over the slowest rank's time (IOR's and mdtest's aggregate). The checkpoint \
         shard is written in 16 MiB calls and fsynced, dropped from the page cache \
         (posix_fadvise DONTNEED, checked with mincore) and read back against its checksum; \
         data loading is one shuffled epoch of 128 KiB reads of it; metadata is mdtest's \
         pattern of 4 KiB files in each rank's own directory."
            .into(),
    ));
    let rows = run
        .phases
        .iter()
        .map(|p| {
            let energy = p
                .energy
                .as_ref()
                .and_then(|e| e.energy())
                .map(|e| {
                    if p.op.is_bandwidth() && p.bytes > 0 {
                        format!(
                            "{} W, {} J/GB",
                            sig(e.watts, 3),
                            sig(e.joules / (p.bytes as f64 / 1e9), 3)
                        )
                    } else {
                        format!("{} W", sig(e.watts, 3))
                    }
                })
                .unwrap_or_else(|| "—".into());
            vec![
                Cell::plain(p.op.name()),
                Cell::plain(p.display_rate()),
                Cell::plain(format!("{:.3} s", p.seconds)),
                Cell::plain(p.rank_range()),
                Cell::plain(match (p.verified, p.resident) {
                    (Some(true), _) => "checksum matches".to_string(),
                    (Some(false), _) => "CHECKSUM MISMATCH: no figure".into(),
                    (None, Some(r)) => format!("{:.0}% cached before reading", r * 100.0),
                    _ => String::new(),
                }),
                Cell::plain(energy),
            ]
        })
        .collect();
    b.push(Block::Table {
        head: [
            "phase",
            "rate (all ranks)",
            "time (slowest rank)",
            "ranks' range",
            "check",
            "energy (rank 0's node)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    if !run.caveats.is_empty() {
        b.push(Block::List(run.caveats.clone()));
    }
}

/// `/scratch (lustre, stripe count 1), 8 ranks on 2 nodes, a 2.0 GiB shard each (…)`.
fn fs_line(run: &StorageRun) -> String {
    let stripe = match (run.fs.stripe_count, &run.fs.stripe_note) {
        (Some(c), _) if c < 0 => ", striped over every OST".to_string(),
        (Some(c), _) => format!(", stripe count {c}"),
        (None, Some(n)) => format!(", stripe count unknown: {n}"),
        _ => String::new(),
    };
    format!(
        "{} on {} (mounted at {}{stripe}; {} free at the start): {} rank(s) on {} node(s), a {} \
         checkpoint shard each ({}), {} small files each.",
        run.dir,
        run.fs.fs_type,
        run.fs.mount,
        crate::node::human_bytes(run.fs.free_bytes),
        run.ranks,
        run.nodes,
        crate::node::human_bytes(run.shard_bytes),
        run.size_basis,
        run.files_per_rank
    )
}
