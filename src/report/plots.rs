//! Plots as SVG strings (plotters' SVG backend, no font libraries): matmul TFLOP/s against size
//! with the measured peak as a dashed line, attention TFLOP/s against sequence length, and copy
//! bandwidth against buffer size.

use crate::bench::{BenchKind, DType, Shape};
use crate::profiles::Profile;
use crate::results::Results;
use plotters::prelude::*;

/// One plot, ready to inline or write to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File stem: `matmul`, `attention`, `membw`.
    pub name: String,
    /// Caption.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// One line of points on a plot.
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) points: Vec<(f64, f64)>,
}

pub(crate) const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// The legend every plot of ours draws: lower right, on a translucent white box.
pub(crate) fn draw_legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(plot_err)
}

pub(crate) fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e:?}")
}

/// Whether a point can be drawn on log-x axes: plotters spins forever computing ticks for a range
/// that is infinite, NaN or beyond what an f64 can step through, so points outside 10^±30
/// (a matmul of size 0, a rate of 1e308 from a damaged or imported file) stay in the tables
/// and out of the plots.
pub(crate) fn plottable(&(x, y): &(f64, f64)) -> bool {
    let sane = |v: f64| v.is_finite() && v.abs() < 1e30;
    sane(x) && x >= 1.0 && sane(y) && y >= 0.0
}

/// Draws series against log₂ of x (ticks at the sizes measured), with optional horizontal
/// reference lines (label, y).
pub(crate) fn draw(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    hlines: &[(String, f64)],
    x_fmt: &dyn Fn(f64) -> String,
) -> anyhow::Result<String> {
    let series: Vec<Series> = series
        .iter()
        .map(|s| Series {
            label: super::printable(&s.label),
            points: s.points.iter().copied().filter(plottable).collect(),
        })
        .collect();
    let hlines: Vec<(String, f64)> = hlines
        .iter()
        .filter(|(_, y)| plottable(&(1.0, *y)))
        .map(|(l, y)| (super::printable(l), *y))
        .collect();
    let title = &super::printable(title);
    let (series, hlines) = (&series[..], &hlines[..]);
    let mut ticks: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0.log2()))
        .collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let (lo, hi) = (
        ticks.first().copied().unwrap_or(0.0) - 0.5,
        ticks.last().copied().unwrap_or(0.0) + 0.5,
    );
    let ymax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(hlines.iter().map(|h| h.1))
        .fold(0.0f64, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.15 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, 0f64..ymax)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            // One label per power of two; sizes measured are powers of two in every suite.
            .x_labels((hi - lo).ceil() as usize + 1)
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-9 {
                    x_fmt(2f64.powf(x.round()))
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| crate::bench::num(*y))
            .max_light_lines(2)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_err)?;
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x.log2(), y)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(plot_err)?;
        }
        for (i, (label, y)) in hlines.iter().enumerate() {
            let color = COLORS[(series.len() + i) % COLORS.len()];
            let style = color.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(vec![(lo, *y), (hi, *y)], 8, 5, style))
                .map_err(plot_err)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The devices that ran `bench` validly, with their data types: (backend, device, dtype).
fn device_dtypes(results: &Results, bench: BenchKind) -> Vec<(String, String, DType)> {
    let mut v: Vec<(String, String, DType)> = results
        .valid_any(bench)
        .map(|m| (m.backend.clone(), m.device.clone(), m.dtype))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `f32`; `gpu f32` when several backends ran; `NVIDIA H100 80GB HBM3 #1 f32` when several
/// devices did (each GPU of a node is its own line).
fn series_label(
    keys: &[(String, String, DType)],
    (backend, device, dtype): &(String, String, DType),
) -> String {
    let distinct = |f: fn(&(String, String, DType)) -> &String| {
        keys.iter()
            .map(f)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let mut parts: Vec<String> = Vec::new();
    if distinct(|k| &k.0) > 1 {
        parts.push(backend.clone());
    }
    if distinct(|k| &k.1) > 1 {
        parts.push(device.split(" (").next().unwrap_or(device).to_string());
    }
    parts.push(dtype.to_string());
    parts.join(" ")
}

/// The measured peaks of the devices in `keys`, as reference lines.
fn peak_lines(results: &Results, keys: &[(String, String, DType)]) -> Vec<(String, f64)> {
    keys.iter()
        .filter_map(|key| {
            let probe = results
                .measurements
                .iter()
                .find(|m| m.backend == key.0 && m.device == key.1 && m.dtype == key.2)?;
            let p = results.peak_for(probe)?;
            let how = match (p.device_kind, p.threads) {
                (crate::results::DeviceKind::Cpu, Some(t)) => format!("measured, {t} threads"),
                _ => "measured FMA chains".to_string(),
            };
            Some((
                format!("{} peak ({how})", series_label(keys, key)),
                p.value()?,
            ))
        })
        .collect()
}

fn points(
    results: &Results,
    bench: BenchKind,
    key: &(String, String, DType),
    keep: impl Fn(&Shape) -> bool,
) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = results
        .measurements
        .iter()
        .filter(|m| {
            m.bench == bench
                && m.backend == key.0
                && m.device == key.1
                && m.dtype == key.2
                && keep(&m.shape)
        })
        .filter_map(|m| Some((m.shape.main_size(), m.value()?)))
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p
}

/// The all-reduce series: one per method, placement and rank layout, with busbw points.
pub(crate) fn allreduce_series(results: &Results) -> Vec<Series> {
    let mut keys: Vec<(String, bool, u64, usize)> = results
        .valid_any(BenchKind::Allreduce)
        .filter_map(|m| match m.shape {
            Shape::Allreduce { inplace, ranks, .. } => Some((
                m.method.clone(),
                inplace,
                ranks,
                m.collective.as_ref().map_or(1, |c| c.nodes),
            )),
            _ => None,
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys.iter()
        .map(|(method, inplace, ranks, nodes)| {
            let mut pts: Vec<(f64, f64)> = results
                .valid_any(BenchKind::Allreduce)
                .filter(|m| &m.method == method)
                .filter_map(|m| match m.shape {
                    Shape::Allreduce {
                        bytes,
                        inplace: i,
                        ranks: r,
                    } if i == *inplace && r == *ranks => {
                        Some((bytes as f64, m.value()?)).filter(|p| p.1 > 0.0)
                    }
                    _ => None,
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: format!(
                    "{}{} {}, {ranks} ranks on {nodes} node{} ({})",
                    method,
                    if method.contains("host-staged") {
                        " (host-staged, not NCCL)"
                    } else {
                        ""
                    },
                    if *inplace { "in-place" } else { "out-of-place" },
                    if *nodes == 1 { "" } else { "s" },
                    if *nodes == 1 {
                        "intra-node"
                    } else {
                        "inter-node"
                    }
                ),
                points: pts,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// busbw against message size on log axes, with the baseline's published figures as points.
fn allreduce_plot(results: &Results, profile: &Profile) -> anyhow::Result<Option<Plot>> {
    // Log axes: only positive, tickable points.
    let on_log = |p: &(f64, f64)| plottable(p) && p.1 > 1e-30;
    let series: Vec<Series> = allreduce_series(results)
        .into_iter()
        .map(|s| Series {
            label: super::printable(&s.label),
            points: s.points.into_iter().filter(on_log).collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let refs: Vec<(String, f64, f64)> = profile
        .allreduce_refs()
        .into_iter()
        .map(|(r, bytes)| {
            let ranks = r
                .param_u64("ranks")
                .map(|n| format!(", {n} ranks"))
                .unwrap_or_default();
            (
                format!(
                    "{} {}{ranks}",
                    profile.id,
                    r.method.split(',').next().unwrap_or("")
                ),
                bytes as f64,
                r.value,
            )
        })
        .filter(|r| on_log(&(r.1, r.2)))
        .collect();
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(refs.iter().map(|r| r.1));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(refs.iter().map(|r| r.2));
    let (xlo, xhi) = xs.fold((f64::MAX, 0f64), |(a, b), x| {
        (a.min(x.log2()), b.max(x.log2()))
    });
    let (ylo, yhi) = ys.fold((f64::MAX, 0f64), |(a, b), y| (a.min(y), b.max(y)));
    let (xlo, xhi) = (xlo - 0.5, xhi + 0.5);
    let (ylo, yhi) = (ylo / 2.0, yhi * 2.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "All-reduce: bus bandwidth vs message size",
                ("sans-serif", 20),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(xlo..xhi, (ylo..yhi).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("message size per rank")
            .y_desc("busbw GB/s (log)")
            .x_labels((xhi - xlo).ceil() as usize + 1)
            .x_label_formatter(&|x| {
                let r = x.round();
                // Every third power of two: 8 B, 64 B, … 16 MiB, 128 MiB, 1 GiB.
                if (x - r).abs() < 1e-9 && (r as i64) % 3 == 0 {
                    crate::node::human_bytes(2f64.powf(r) as u64)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| crate::bench::num(*y))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(plot_err)?;
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x.log2(), y)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(plot_err)?;
        }
        for (i, (label, x, y)) in refs.iter().enumerate() {
            let color = COLORS[(series.len() + i) % COLORS.len()];
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (x.log2(), *y),
                    8,
                    color.filled(),
                )))
                .map_err(plot_err)?
                .label(format!("baseline: {label}"))
                .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 6, color.filled()));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Some(Plot {
        name: "allreduce".into(),
        title: "All-reduce bus bandwidth vs message size (log axes)".into(),
        svg,
    }))
}

/// Every plot the results have data for.
pub fn plots(results: &Results, profile: &Profile) -> anyhow::Result<Vec<Plot>> {
    let mut out = Vec::new();

    let keys = device_dtypes(results, BenchKind::Matmul);
    let matmul: Vec<Series> = keys
        .iter()
        .map(|key| Series {
            label: format!("matmul {}", series_label(&keys, key)),
            points: points(results, BenchKind::Matmul, key, |_| true),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if !matmul.is_empty() {
        out.push(Plot {
            name: "matmul".into(),
            title: "Matmul throughput vs size".into(),
            svg: draw(
                "Matmul: TFLOP/s vs size",
                "n (square m = n = k)",
                "TFLOP/s",
                &matmul,
                &peak_lines(results, &keys),
                &|x| format!("{}", x.round()),
            )?,
        });
    }

    let mut attention = Vec::new();
    let mut variants: Vec<(u64, bool)> = results
        .valid_any(BenchKind::Attention)
        .filter_map(|m| match m.shape {
            Shape::Attention { d, causal, .. } => Some((d, causal)),
            _ => None,
        })
        .collect();
    variants.sort();
    variants.dedup();
    let akeys = device_dtypes(results, BenchKind::Attention);
    for key in &akeys {
        for &(d, causal) in &variants {
            let pts = points(
                results,
                BenchKind::Attention,
                key,
                |s| matches!(*s, Shape::Attention { d: sdim, causal: c, .. } if sdim == d && c == causal),
            );
            if !pts.is_empty() {
                let mask = if causal { "causal" } else { "full" };
                attention.push(Series {
                    label: format!("{} d={d} {mask}", series_label(&akeys, key)),
                    points: pts,
                });
            }
        }
    }
    if !attention.is_empty() {
        out.push(Plot {
            name: "attention".into(),
            title: "Attention forward throughput vs sequence length".into(),
            svg: draw(
                "Attention forward: TFLOP/s vs sequence length",
                "sequence length",
                "TFLOP/s",
                &attention,
                &peak_lines(results, &akeys),
                &|x| format!("{}", x.round()),
            )?,
        });
    }

    let ckeys = device_dtypes(results, BenchKind::Membw);
    let copy: Vec<Series> = ckeys
        .iter()
        .map(|key| Series {
            label: if ckeys.len() > 1 {
                format!("copy on {}", key.0)
            } else {
                "copy".into()
            },
            points: points(results, BenchKind::Membw, key, |_| true),
        })
        .collect();
    if !copy.is_empty() {
        out.push(Plot {
            name: "membw".into(),
            title: "Memory copy bandwidth".into(),
            svg: draw(
                "Memory copy: GB/s (read + write) vs buffer size",
                "buffer size",
                "GB/s",
                &copy,
                &[],
                &|x| crate::node::human_bytes(x.round() as u64),
            )?,
        });
    }
    if let Some(p) = allreduce_plot(results, profile)? {
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_gets_its_own_line_label() {
        let k = |b: &str, d: &str, t| (b.to_string(), d.to_string(), t);
        let gpus = [
            k("gpu", "NVIDIA H100 #0 (Vulkan, 580)", DType::F32),
            k("gpu", "NVIDIA H100 #1 (Vulkan, 580)", DType::F32),
        ];
        assert_eq!(series_label(&gpus, &gpus[0]), "NVIDIA H100 #0 f32");
        assert_eq!(series_label(&gpus, &gpus[1]), "NVIDIA H100 #1 f32");
        let one = [k("cpu", "Xeon", DType::F32), k("cpu", "Xeon", DType::F64)];
        assert_eq!(series_label(&one, &one[1]), "f64");
    }

    /// Extreme but finite values (reachable through a damaged file or `import`) and size 0 are
    /// left out of the plot instead of handing plotters a range it cannot tick.
    #[test]
    fn extreme_values_are_left_out_of_plots() {
        let series = [Series {
            label: "x".into(),
            points: vec![
                (0.0, 1.0),
                (64.0, 1.7e308),
                (128.0, f64::NAN),
                (256.0, 2.0),
                (f64::INFINITY, 2.0),
            ],
        }];
        let svg = draw(
            "t",
            "n",
            "TFLOP/s",
            &series,
            &[("inf".into(), f64::INFINITY), ("peak".into(), 3.0)],
            &|x| format!("{x}"),
        )
        .unwrap();
        assert!(svg.contains("<svg"));
        assert!(plottable(&(256.0, 2.0)));
        for p in [(0.0, 1.0), (64.0, 1.7e308), (8.0, -1.0), (8.0, f64::NAN)] {
            assert!(!plottable(&p), "{p:?}");
        }
    }
}
