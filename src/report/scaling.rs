//! The scaling section of a report over a scaling run's files (`assess::scaling`): per node
//! count the step's tokens/s per GPU, its efficiency against one node and the busbw at the
//! gradient size; the ring fitted to the all-reduces and the check on the run; a plot of the
//! measured curve beside linear scaling and the fitted projection.

use super::model::{Block, Cell};
use super::plots::{Plot, Series, draw};
use crate::assess::scaling::Judged;
use crate::bench::{num, sig};

/// The blocks and plots for `curves`; `first_plot` is the index the first plot will have.
pub fn section(curves: &[Judged], first_plot: usize) -> anyhow::Result<(Vec<Block>, Vec<Plot>)> {
    let mut b = Vec::new();
    let mut plots = Vec::new();
    if curves.is_empty() {
        return Ok((b, plots));
    }
    b.push(Block::Heading(2, "Scaling across nodes".into()));
    b.push(Block::Para(
        "The training step data-parallel (DDP) and the torch.distributed all-reduce, measured at \
         each node count of a scaling run. Efficiency is tokens/s per GPU against one node's; \
         busbw is the all-reduce's nearest the step's gradient size. The projection is a ring \
         all-reduce, 2(n−1)·α + 2(n−1)/n·S/B, fitted to the all-reduces measured across nodes, \
         the gradients in DDP's 25 MiB buckets, beside the step alone on one GPU: its band runs \
         from full overlap with the backward pass to none. It is checked on the run: the largest \
         node count projected from the smaller ones."
            .into(),
    ));
    for (i, j) in curves.iter().enumerate() {
        let c = &j.curve;
        b.push(Block::Heading(3, c.model.clone()));
        b.push(Block::Table {
            head: [
                "nodes",
                "ranks",
                "step",
                "tokens/s per GPU",
                "efficiency vs 1 node",
                "busbw at the gradient size",
            ]
            .map(String::from)
            .to_vec(),
            rows: c
                .points
                .iter()
                .map(|p| {
                    vec![
                        Cell::plain(p.nodes.to_string()),
                        Cell::plain(p.ranks.to_string()),
                        Cell::plain(crate::bench::duration_s(p.step_s)),
                        Cell::plain(num(p.tokens_per_s_per_gpu)),
                        Cell::plain(
                            c.efficiency(p)
                                .map(|e| format!("{:.0}%", e * 100.0))
                                .unwrap_or_else(|| "—".into()),
                        ),
                        Cell::plain(
                            p.busbw_near(c.gradient_bytes)
                                .map(|g| format!("{} GB/s", sig(g, 3)))
                                .unwrap_or_else(|| "—".into()),
                        ),
                    ]
                })
                .collect(),
        });
        let mut lines = Vec::new();
        match &j.fit {
            Some(f) => lines.push(format!("Fitted: {}.", f.describe())),
            None => lines
                .push("Not fitted: no torch all-reduce at two or more sizes across ranks.".into()),
        }
        match &j.check {
            Some(k) => lines.push(format!("Checked on the run: {}.", k.describe())),
            None => lines.push(
                "Not checked on the run: the smaller node counts hold no all-reduce across ranks \
                 at two sizes to fit."
                    .into(),
            ),
        }
        b.push(Block::List(lines));
        // The plot: measured, linear from one node, and the fit out to 4× the largest count.
        let base = c.points.first().filter(|p| p.nodes == 1);
        let measured = Series {
            label: "measured".into(),
            points: c
                .points
                .iter()
                .map(|p| (p.nodes as f64, p.tokens_per_s_per_gpu))
                .collect(),
        };
        let mut series = vec![measured];
        if j.fit.is_some() {
            series.push(Series {
                label: "projected, no overlap (α-β fit)".into(),
                points: j.projected.iter().map(|&(n, t)| (n as f64, t)).collect(),
            });
        }
        let hlines: Vec<(String, f64)> = base
            .map(|p| {
                vec![(
                    "linear scaling (one node's rate)".to_string(),
                    p.tokens_per_s_per_gpu,
                )]
            })
            .unwrap_or_default();
        let svg = draw(
            &format!("Tokens/s per GPU vs nodes: {}", c.model),
            "nodes",
            "tokens/s per GPU",
            &series,
            &hlines,
            &|x| format!("{x:.0}"),
        )?;
        b.push(Block::Plot(first_plot + plots.len()));
        plots.push(Plot {
            name: format!("scaling-{}", i + 1),
            title: format!("Tokens/s per GPU across nodes ({})", c.model),
            svg,
        });
    }
    Ok((b, plots))
}
