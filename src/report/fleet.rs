//! The fleet report: an allocation judged node by node (`assess::fleet`), rendered as a page —
//! how many nodes are ready, the failing ones with their reasons, each figure's spread across
//! the nodes and the outliers, and the rule that called them.

use super::model::{Block, Cell};
use super::plots::{COLORS, draw_legend, plot_err};
use crate::assess::fleet::Fleet;
use crate::bench::sig;
use plotters::prelude::*;

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
            "figure", "unit", "values", "median", "min", "max", "MAD", "outliers",
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
                    Cell::plain(s.unit.clone()),
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
            svg: spread(s)?,
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

/// One figure across an allocation: every node's (and GPU's) value, sorted, worst first for a
/// rate; the allocation's median dashed, the outlier rule's threshold dashed red, and the values
/// beyond it in red. A rank plot stays readable at thousands of nodes where a histogram's bins
/// would hide the one slow GPU.
fn spread(s: &crate::assess::fleet::Spread) -> anyhow::Result<String> {
    let sane = |v: &f64| v.is_finite() && v.abs() < 1e30;
    let values: Vec<f64> = s.values.iter().copied().filter(sane).collect();
    let n = values.len().max(1) as f64;
    let threshold = s.threshold.filter(sane);
    let beyond = |v: f64| match threshold {
        Some(t) if s.higher_is_better => v < t,
        Some(t) => v > t,
        None => false,
    };
    let (mut lo, mut hi) = values
        .iter()
        .chain([s.median].iter().filter(|v| sane(v)))
        .chain(threshold.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        hi.abs().max(1.0) * 0.05
    };
    let (lo, hi) = (lo - pad, hi + pad);
    let title = super::printable(&s.key);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n + 1.0, lo..hi)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(if s.higher_is_better {
                "nodes × GPUs, slowest first"
            } else {
                "nodes × GPUs, fastest first"
            })
            .y_desc(super::printable(&s.unit))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| crate::bench::num(*y))
            .max_light_lines(2)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_err)?;
        let (ok, bad) = (COLORS[0], COLORS[1]);
        let pts = values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v));
        // Thousands of circles make a heavy page: a line through the values instead, with the
        // outliers still marked one by one.
        if values.len() <= 1000 {
            chart
                .draw_series(
                    pts.clone()
                        .filter(|p| !beyond(p.1))
                        .map(|p| Circle::new(p, 3, ok.filled())),
                )
                .map_err(plot_err)?
                .label("a node (× GPU)")
                .legend(move |(x, y)| Circle::new((x + 9, y), 3, ok.filled()));
        } else {
            chart
                .draw_series(LineSeries::new(pts.clone(), ok.stroke_width(2)))
                .map_err(plot_err)?
                .label("nodes (× GPUs)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ok));
        }
        if values.iter().any(|&v| beyond(v)) {
            chart
                .draw_series(
                    pts.filter(|p| beyond(p.1))
                        .map(|p| Circle::new(p, 4, bad.filled())),
                )
                .map_err(plot_err)?
                .label("outlier")
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, bad.filled()));
        }
        let grey = RGBColor(90, 90, 90).stroke_width(2);
        if sane(&s.median) {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, s.median), (n + 1.0, s.median)],
                    8,
                    5,
                    grey,
                ))
                .map_err(plot_err)?
                .label("the allocation's median")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
        }
        if let Some(t) = threshold {
            let style = bad.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, t), (n + 1.0, t)],
                    4,
                    4,
                    style,
                ))
                .map_err(plot_err)?
                .label("outlier threshold")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spread plot marks the values beyond the rule's threshold in red and draws the
    /// median and the threshold; a thousand-and-one values become a line, the outlier still a
    /// mark.
    #[test]
    fn a_spread_plot_marks_its_outliers() {
        let red = "#D62728";
        let mut s = crate::assess::fleet::Spread {
            key: "matmul bf16".into(),
            count: 4,
            median: 100.0,
            range: (50.0, 101.0),
            mad: 0.5,
            threshold: Some(90.0),
            values: vec![50.0, 100.0, 100.0, 101.0],
            unit: "TFLOP/s".into(),
            higher_is_better: true,
        };
        let svg = spread(&s).unwrap();
        assert_eq!(svg.matches(&format!("fill=\"{red}\"")).count(), 2, "{svg}"); // point, legend
        assert!(svg.contains("outlier threshold") && svg.contains("median"));
        s.values = (0..1001)
            .map(|i| if i == 0 { 50.0 } else { 100.0 })
            .collect();
        let big = spread(&s).unwrap();
        assert_eq!(big.matches(&format!("fill=\"{red}\"")).count(), 2);
        assert!(big.len() < svg.len() + 40_000, "{}", big.len());
        s.threshold = None;
        s.values = vec![100.0; 3];
        assert!(!spread(&s).unwrap().contains("outlier"));
    }
}
