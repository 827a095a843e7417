//! `hpcready history trend`: one figure over time per machine, as a table and an SVG plot,
//! with each change of the software stack marked where it happened.

use super::plots::{COLORS, draw_legend, plot_err};
use crate::bench::sig;
use crate::history::store::TrendPoint;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;

/// One host's points, oldest first, each with what changed in the stack since its predecessor.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The host.
    pub host: String,
    /// (point, stack changes since the previous point of this host).
    pub points: Vec<(TrendPoint, Vec<String>)>,
}

/// Groups points by host and marks stack changes.
pub fn lines(points: &[TrendPoint]) -> Vec<Line> {
    let mut by_host: BTreeMap<&str, Vec<&TrendPoint>> = BTreeMap::new();
    for p in points {
        by_host.entry(&p.host).or_default().push(p);
    }
    by_host
        .into_iter()
        .map(|(host, pts)| Line {
            host: host.to_string(),
            points: pts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let changes = if i == 0 {
                        Vec::new()
                    } else {
                        crate::history::stack_changes(&pts[i - 1].stack, &p.stack)
                    };
                    ((*p).clone(), changes)
                })
                .collect(),
        })
        .collect()
}

/// The trend as a text table: host, date, figure, change from the previous run, method, and the
/// stack change marked.
pub fn table(lines: &[Line]) -> String {
    let mut rows = Vec::new();
    for l in lines {
        let mut prev: Option<f64> = None;
        for (p, changes) in &l.points {
            rows.push(vec![
                l.host.clone(),
                p.started_at.clone(),
                format!("{} {}", sig(p.value, 4), p.unit),
                prev.map_or_else(
                    || "—".into(),
                    |q| format!("{:+.1}%", (p.value / q - 1.0) * 100.0),
                ),
                format!("run {}", p.run),
                p.method.clone(),
                if changes.is_empty() {
                    String::new()
                } else {
                    format!("◆ {}", changes.join(", "))
                },
            ]);
            prev = Some(p.value);
        }
    }
    super::text_table(
        &[
            "host",
            "started",
            "figure",
            "vs previous",
            "run",
            "method",
            "stack change",
        ],
        &rows,
    )
}

/// The trend as an SVG: one line per host against the date, a dashed vertical line and a
/// diamond where the software stack changed.
pub fn plot(title: &str, lines: &[Line]) -> anyhow::Result<String> {
    let t = |p: &TrendPoint| crate::timefmt::parse_rfc3339(&p.started_at).unwrap_or(0.0);
    let all: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|(p, _)| (t(p), p.value)))
        .filter(|(x, y)| x.is_finite() && y.is_finite() && *y >= 0.0 && *y < 1e30)
        .collect();
    if all.is_empty() {
        anyhow::bail!("nothing to plot");
    }
    let (mut x0, mut x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let pad = ((x1 - x0) * 0.05).max(3600.0);
    x0 -= pad;
    x1 += pad;
    let ymax = all.iter().map(|p| p.1).fold(0.0f64, f64::max) * 1.2;
    let ymax = if ymax > 0.0 { ymax } else { 1.0 };
    let unit = lines
        .first()
        .and_then(|l| l.points.first())
        .map_or(String::new(), |(p, _)| p.unit.clone());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(super::printable(title), ("sans-serif", 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0f64..ymax)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("run started (UTC)")
            .y_desc(unit)
            .x_labels(6)
            .x_label_formatter(&|x| crate::timefmt::rfc3339(*x).chars().take(10).collect())
            .y_label_formatter(&|y| crate::bench::num(*y))
            .max_light_lines(2)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_err)?;
        for (i, l) in lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = l.points.iter().map(|(p, _)| (t(p), p.value)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(super::printable(&l.host))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(plot_err)?;
            for (k, (p, changes)) in l.points.iter().filter(|(_, c)| !c.is_empty()).enumerate() {
                let x = t(p);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x, 0.0), (x, ymax)],
                        6,
                        4,
                        color.mix(0.6).stroke_width(1),
                    ))
                    .map_err(plot_err)?;
                let text = super::printable(&changes.join(", "));
                let short: String = text.chars().take(48).collect();
                // Right of the line in the plot's left half, left of it in the right half, so
                // that no label runs off the plot; successive labels step down.
                let (text, anchor) = if x < (x0 + x1) / 2.0 {
                    (format!(" ◆ {short}"), HPos::Left)
                } else {
                    (format!("◆ {short} "), HPos::Right)
                };
                let y = ymax * (0.96 - 0.05 * ((i + k) % 5) as f64);
                chart
                    .draw_series(std::iter::once(Text::new(
                        text,
                        (x, y),
                        ("sans-serif", 11)
                            .into_font()
                            .color(&color)
                            .pos(Pos::new(anchor, VPos::Center)),
                    )))
                    .map_err(plot_err)?;
            }
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
