//! The fleet report: an allocation judged node by node (`assess::fleet`), rendered as a page —
//! how many nodes are ready, the failing ones with their reasons, each figure's spread across
//! the nodes and the outliers, and the rule that called them.

use super::model::{Block, Cell};
use crate::assess::fleet::Fleet;
use crate::bench::sig;

/// The fleet page; `hosts` are the nodes judged, in order.
pub fn page(fleet: &Fleet, hosts: &[String]) -> anyhow::Result<super::Page> {
    let mut b = vec![Block::Heading(1, "Allocation readiness".into())];
    let verdict = if fleet.failing.is_empty() {
        "ready"
    } else if fleet.ready() == 0 {
        "not ready"
    } else {
        "ready with changes"
    };
    b.push(Block::Verdict {
        readiness: verdict.into(),
        headline: format!(
            "{} of {} node(s) ready; {} failing{}.",
            fleet.ready(),
            fleet.nodes,
            fleet.failing.len(),
            if fleet.failing.is_empty() {
                String::new()
            } else {
                format!(" (exclude them: sbatch --exclude={})", fleet.exclude_list())
            }
        ),
        reasons: fleet
            .failing
            .iter()
            .take(10)
            .map(|(h, r)| format!("{h}: {}", r.join("; ")))
            .collect(),
    });
    b.push(Block::Para(format!(
        "Each figure is compared with the allocation's own median, not a datasheet. An outlier \
         is {}. A node fails on a failed health item (a missing GPU, uncorrectable ECC errors, \
         a pending or failed row remap, another process on a GPU, GPU errors in the kernel \
         log), a device that hung or did not verify, or an outlier. failing-nodes.txt holds \
         the failing nodes in Slurm's host-list form.",
        fleet.rule.describe()
    )));
    if !fleet.failing.is_empty() {
        b.push(Block::Heading(2, "Failing nodes".into()));
        b.push(Block::Table {
            head: vec!["node".into(), "why".into()],
            rows: fleet
                .failing
                .iter()
                .map(|(h, r)| {
                    vec![
                        Cell::plain(h.clone()),
                        Cell {
                            text: r.join("; "),
                            class: Some("bad"),
                        },
                    ]
                })
                .collect(),
        });
    }
    b.push(Block::Heading(2, "Spread across the nodes".into()));
    b.push(Block::Table {
        head: [
            "figure", "values", "median", "min", "max", "MAD", "outliers",
        ]
        .map(String::from)
        .to_vec(),
        rows: fleet
            .spreads
            .iter()
            .map(|s| {
                let n = fleet.outliers.iter().filter(|o| o.key == s.key).count();
                vec![
                    Cell::plain(s.key.clone()),
                    Cell::plain(s.count.to_string()),
                    Cell::plain(sig(s.median, 4)),
                    Cell::plain(sig(s.range.0, 4)),
                    Cell::plain(sig(s.range.1, 4)),
                    Cell::plain(sig(s.mad, 3)),
                    Cell {
                        text: n.to_string(),
                        class: (n > 0).then_some("warn"),
                    },
                ]
            })
            .collect(),
    });
    // One plot per figure, the first 12 (a node kind runs a handful; the table has them all).
    let mut plots = Vec::new();
    for (i, s) in fleet.spreads.iter().take(12).enumerate() {
        b.push(Block::Plot(plots.len()));
        plots.push(super::plots::Plot {
            name: format!("spread-{}", i + 1),
            title: format!("{} across the nodes", s.key),
            svg: super::plots::spread(s)?,
        });
    }
    b.push(Block::Heading(2, "Nodes".into()));
    b.push(Block::List(hosts.to_vec()));
    Ok(super::Page {
        kind: super::PageKind::Fleet,
        title: format!("hpcready fleet: {} nodes", fleet.nodes),
        blocks: b,
        plots,
        table: csv(fleet, hosts)?,
        data: None,
    })
}

/// One row per node: ready or not, and why.
fn csv(fleet: &Fleet, hosts: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(["node", "ready", "reasons"])?;
    for h in hosts {
        let why = fleet.failing.iter().find(|(f, _)| f == h);
        w.write_record([
            super::csv_text(h),
            why.is_none().to_string(),
            super::csv_text(&why.map(|(_, r)| r.join("; ")).unwrap_or_default()),
        ])?;
    }
    Ok(w.into_inner()?)
}
