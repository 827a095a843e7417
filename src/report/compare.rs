//! `hpcready compare`: several machines' results side by side, for procurement.
//!
//! Each machine is one results file. For every benchmark and data type the table shows each
//! machine's figure per device (one GPU, or the whole CPU) and per node (per device × the node's
//! accelerators), its fraction of that machine's own measured peak, and — where a price per node
//! hour was given — throughput per dollar-hour. A benchmark a machine did not run is shown as
//! missing, never as zero. Plots draw one line per machine.

use super::Block;
use super::model::Cell;
use super::plots::{Plot, Series, draw};
use crate::bench::{BenchKind, DType, Shape, num};
use crate::results::{Measurement, Results};

/// One machine in the comparison.
#[derive(Debug)]
pub struct Machine {
    /// How it is named in tables and plots.
    pub label: String,
    /// The results file it came from.
    pub file: String,
    /// Its run.
    pub results: Results,
    /// USD per node-hour, where given.
    pub price: Option<f64>,
}

impl Machine {
    /// Devices that one "per device" figure stands for on this node: its GPUs when the run was
    /// on GPUs, else 1 (a CPU figure is already the node's).
    pub fn devices(&self) -> usize {
        let on_gpu = self
            .results
            .measurements
            .iter()
            .any(|m| m.is_valid() && m.device_kind.per_device());
        if on_gpu {
            self.results.node.gpu_count().max(1)
        } else {
            1
        }
    }

    /// How many of `x`'s figure make the node's: the node's GPUs for a per-device figure, 1 for
    /// a CPU's (already the node's) or a collective's (the group's bus bandwidth).
    pub fn per_node(&self, x: &Measurement) -> usize {
        if x.device_kind.per_device() {
            self.devices()
        } else {
            1
        }
    }

    /// The device the run measured, in a few words.
    pub fn device(&self) -> String {
        self.results
            .measurements
            .iter()
            .find(|m| m.is_valid())
            .map_or_else(|| "no valid measurement".into(), |m| m.device.clone())
    }
}

/// Labels for the machines: their host names; where two share one, the host and the device
/// measured; where those are the same too, numbered in command-line order.
pub fn labels(results: &[&Results]) -> Vec<String> {
    let device = |r: &Results| {
        r.measurements
            .iter()
            .find(|m| m.is_valid())
            .map(|m| super::printable(m.device.split(" (").next().unwrap_or(&m.device)))
            .unwrap_or_else(|| super::printable(&r.node.cpu.model))
    };
    let first: Vec<String> = results
        .iter()
        .map(|r| super::printable(&r.node.host))
        .collect();
    let second: Vec<String> = results
        .iter()
        .zip(&first)
        .map(|(r, host)| {
            if first.iter().filter(|h| *h == host).count() > 1 {
                format!("{host} — {}", device(r))
            } else {
                host.clone()
            }
        })
        .collect();
    second
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if second.iter().filter(|x| *x == l).count() > 1 {
                format!("{l} #{}", i + 1)
            } else {
                l.clone()
            }
        })
        .collect()
}

/// Every (bench, dtype) any machine measured validly, in a stable order.
pub fn cases(machines: &[Machine]) -> Vec<(BenchKind, DType)> {
    let mut v: Vec<(BenchKind, DType)> = machines
        .iter()
        .flat_map(|m| m.results.measurements.iter())
        .filter(|m| m.is_valid())
        .map(|m| (m.bench, m.dtype))
        .collect();
    v.sort_by_key(|(b, d)| (bench_order(*b), d.name()));
    v.dedup();
    v
}

fn bench_order(b: BenchKind) -> u8 {
    match b {
        BenchKind::Peak => 0,
        BenchKind::Membw => 1,
        BenchKind::Matmul => 2,
        BenchKind::Attention => 3,
        BenchKind::Train => 4,
        BenchKind::Allreduce => 5,
    }
}

/// Performance per watt of each machine's best figure, where its run read an energy counter,
/// and the energy of training on it (joules per token, kWh per billion tokens).
fn energy(b: &mut Vec<Block>, machines: &[Machine], cases: &[(BenchKind, DType)], head: &[String]) {
    use super::energy::per_watt;
    let any = machines
        .iter()
        .flat_map(|m| m.results.measurements.iter())
        .any(|x| per_watt(x).is_some());
    if !any {
        return;
    }
    b.push(Block::Heading(2, "Performance per watt".into()));
    b.push(Block::Para(
        "Each machine's best figure over the average power its own energy counter read during \
         that measurement; the counter (and what it covers) is named per machine, so GPU-only \
         and node-level figures are told apart. Training energy: joules per trained token of \
         the largest training step with a reading, and the kWh that makes per billion tokens."
            .into(),
    ));
    let mut rows: Vec<Vec<Cell>> = vec![{
        let mut row = vec![Cell::plain("energy counter")];
        for m in machines {
            row.push(Cell::plain(m.results.energy_meter.as_ref().map_or(
                "not read".into(),
                |s| match s {
                    crate::node::energy::MeterStatus::Missing { .. } => "none".into(),
                    s => s.describe(),
                },
            )));
        }
        row
    }];
    for &(bench, dtype) in cases.iter().filter(|(b, _)| *b != BenchKind::Peak) {
        let mut row = vec![Cell::plain(label(bench, dtype))];
        for m in machines {
            row.push(Cell::plain(match m.results.best(bench, dtype) {
                None => "missing".into(),
                Some(x) => per_watt(x).map_or("no reading".into(), |(v, u)| {
                    format!("{} {u}", crate::bench::sig(v, 3))
                }),
            }));
        }
        rows.push(row);
    }
    let train = |m: &Machine| {
        m.results
            .measurements
            .iter()
            .filter(|x| x.bench == BenchKind::Train)
            .filter_map(|x| Some((x, x.joules_per_token()?)))
            .max_by(|a, b| a.0.shape.main_size().total_cmp(&b.0.shape.main_size()))
            .map(|(_, j)| j)
    };
    if machines.iter().any(|m| train(m).is_some()) {
        let mut jt = vec![Cell::plain("training: J per token")];
        let mut kwh = vec![Cell::plain("training: kWh per 10⁹ tokens")];
        for m in machines {
            let j = train(m);
            jt.push(Cell::plain(
                j.map_or("no reading".into(), |j| crate::bench::sig(j, 3)),
            ));
            kwh.push(Cell::plain(j.map_or("no reading".into(), |j| {
                crate::bench::sig(j * 1e9 / 3.6e6, 3)
            })));
        }
        rows.push(jt);
        rows.push(kwh);
    }
    b.push(Block::Table {
        head: head.to_vec(),
        rows,
    });
}

/// A benchmark row's name.
pub fn label(bench: BenchKind, dtype: DType) -> String {
    match bench {
        BenchKind::Membw => "membw (copy)".into(),
        _ => format!("{} {}", bench.name(), dtype),
    }
}

fn with_unit(m: &Measurement, scale: f64) -> String {
    m.throughput.map_or_else(
        || "—".into(),
        |t| format!("{} {}", num(t.value * scale), t.unit),
    )
}

/// Writes the comparison's HTML, Markdown, CSV and plots into `dir`, through the same exporters
/// and staging as a report.
pub fn write(
    machines: &[Machine],
    dir: &std::path::Path,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use super::Format;
    super::write_page(
        &page(machines)?,
        &[Format::Html, Format::Md, Format::Csv],
        dir,
    )
}

/// The comparison as a page: `compare.html`, `compare.md`, `compare.csv` and the plots.
pub fn page(machines: &[Machine]) -> anyhow::Result<super::Page> {
    let (blocks, plots) = document(machines)?;
    let title = format!(
        "hpcready comparison: {}",
        machines
            .iter()
            .map(|m| m.label.as_str())
            .collect::<Vec<_>>()
            .join(" vs ")
    );
    Ok(super::Page {
        kind: super::PageKind::Compare,
        title,
        blocks,
        plots,
        table: csv(machines)?,
        data: None,
    })
}

/// The comparison as document blocks, plus its plots.
pub fn document(machines: &[Machine]) -> anyhow::Result<(Vec<Block>, Vec<Plot>)> {
    let mut b = vec![Block::Heading(
        1,
        format!("hpcready comparison of {} machines", machines.len()),
    )];
    b.push(Block::Para(
        "Every figure was measured by hpcready on the machine named and verified against a \
         float64 reference. Per device is one accelerator (or the whole CPU when the run was on \
         the CPU); per node multiplies it by the node's accelerators, assuming each runs \
         independently at that rate. A benchmark a machine did not run is shown as missing."
            .into(),
    ));
    let machine_rows = machines
        .iter()
        .map(|m| {
            let r = &m.results;
            vec![
                Cell::plain(&m.label),
                Cell::plain(m.device()),
                Cell::plain(m.devices().to_string()),
                Cell::plain(format!(
                    "{} ({} threads)",
                    r.node.cpu.model, r.node.cpu.logical_threads
                )),
                Cell::plain(format!(
                    "{}, suite {}{}",
                    r.started_at,
                    r.suite.as_deref().unwrap_or("custom"),
                    if r.complete { "" } else { ", INCOMPLETE" }
                )),
                Cell::plain(
                    m.price
                        .map_or_else(|| "—".into(), |p| format!("${}", num(p))),
                ),
                Cell::plain(&m.file),
            ]
        })
        .collect();
    b.push(Block::Table {
        head: [
            "machine",
            "device",
            "devices per node",
            "host CPU",
            "run",
            "price per node-hour",
            "results file",
        ]
        .map(String::from)
        .to_vec(),
        rows: machine_rows,
    });
    for m in machines.iter().filter(|m| !m.results.complete) {
        b.push(Block::Warning(format!(
            "{}'s run is incomplete: {} of {} planned measurements finished.",
            m.label,
            m.results.measurements.len(),
            m.results.planned.max(m.results.measurements.len())
        )));
    }

    let cases = cases(machines);
    let mut head = vec!["benchmark".to_string()];
    head.extend(machines.iter().map(|m| m.label.clone()));

    b.push(Block::Heading(2, "Per device".into()));
    let rows = cases
        .iter()
        .map(|&(bench, dtype)| {
            let mut row = vec![Cell::plain(label(bench, dtype))];
            for m in machines {
                row.push(Cell::plain(match m.results.best(bench, dtype) {
                    None => "missing".into(),
                    Some(x) => {
                        let peak = (bench != BenchKind::Peak && bench != BenchKind::Membw)
                            .then(|| m.results.peak_for(x).and_then(Measurement::value))
                            .flatten();
                        match (peak, x.value()) {
                            (Some(p), Some(v)) => format!(
                                "{} ({:.0}% of peak) at {}",
                                with_unit(x, 1.0),
                                100.0 * v / p,
                                x.shape.display()
                            ),
                            _ => format!("{} at {}", with_unit(x, 1.0), x.shape.display()),
                        }
                    }
                }));
            }
            row
        })
        .collect();
    b.push(Block::Table {
        head: head.clone(),
        rows,
    });

    b.push(Block::Heading(2, "Per node".into()));
    let rows = cases
        .iter()
        .map(|&(bench, dtype)| {
            let mut row = vec![Cell::plain(label(bench, dtype))];
            for m in machines {
                let best = m.results.best(bench, dtype);
                let n = best.map_or(1, |x| m.per_node(x));
                row.push(Cell::plain(match best {
                    None => "missing".into(),
                    Some(x) if n > 1 => {
                        format!("{} ({n} × {})", with_unit(x, n as f64), with_unit(x, 1.0))
                    }
                    Some(x) => with_unit(x, 1.0),
                }));
            }
            row
        })
        .collect();
    b.push(Block::Table {
        head: head.clone(),
        rows,
    });

    energy(&mut b, machines, &cases, &head);

    if machines.iter().any(|m| m.price.is_some()) {
        b.push(Block::Heading(
            2,
            "Price-performance (per node, per USD per hour)".into(),
        ));
        let rows = cases
            .iter()
            .filter(|(bench, _)| *bench != BenchKind::Peak)
            .map(|&(bench, dtype)| {
                let mut row = vec![Cell::plain(label(bench, dtype))];
                for m in machines {
                    row.push(Cell::plain(
                        match (m.results.best(bench, dtype), m.price.filter(|p| *p > 0.0)) {
                            (None, _) => "missing".into(),
                            (Some(_), None) => "no price".into(),
                            (Some(x), Some(p)) => x.throughput.map_or_else(
                                || "—".into(),
                                |t| {
                                    let n = m.per_node(x) as f64;
                                    format!("{} {} per $/h", num(t.value * n / p), t.unit)
                                },
                            ),
                        },
                    ));
                }
                row
            })
            .collect();
        b.push(Block::Table {
            head: head.clone(),
            rows,
        });
        b.push(Block::Para(
            "Prices are the ones given on the command line (USD per node-hour); they are not \
             looked up."
                .into(),
        ));
    }

    b.push(Block::Heading(2, "Every size".into()));
    for &(bench, dtype) in &cases {
        let mut shapes: Vec<Shape> = machines
            .iter()
            .flat_map(|m| m.results.valid(bench, dtype).map(|x| x.shape))
            .collect();
        shapes.sort_by_key(|s| s.display());
        shapes.dedup();
        shapes.sort_by(|a, b| a.main_size().total_cmp(&b.main_size()));
        let rows = shapes
            .iter()
            .map(|shape| {
                let mut row = vec![Cell::plain(shape.display())];
                for m in machines {
                    let v = m
                        .results
                        .valid(bench, dtype)
                        .filter(|x| x.shape == *shape)
                        .max_by(crate::results::by_value);
                    row.push(Cell::plain(
                        v.map_or_else(|| "missing".into(), |x| with_unit(x, 1.0)),
                    ));
                }
                row
            })
            .collect();
        b.push(Block::Heading(3, label(bench, dtype)));
        let mut h = head.clone();
        h[0] = "shape".into();
        b.push(Block::Table { head: h, rows });
    }

    let plots = plots(machines, &cases)?;
    if !plots.is_empty() {
        b.push(Block::Heading(2, "Plots".into()));
        for i in 0..plots.len() {
            b.push(Block::Plot(i));
        }
    }
    Ok((b, plots))
}

/// One plot per benchmark with sizes: a line per machine and data type (attention: full, not
/// causal, at the most common head dimension).
fn plots(machines: &[Machine], cases: &[(BenchKind, DType)]) -> anyhow::Result<Vec<Plot>> {
    let mut out = Vec::new();
    for bench in [BenchKind::Matmul, BenchKind::Attention, BenchKind::Membw] {
        let head_dim = if bench == BenchKind::Attention {
            let mut ds: Vec<u64> = machines
                .iter()
                .flat_map(|m| m.results.valid_any(bench))
                .filter_map(|x| match x.shape {
                    Shape::Attention { d, .. } => Some(d),
                    _ => None,
                })
                .collect();
            ds.sort_unstable();
            // The most common one, the smallest on a tie.
            ds.iter()
                .copied()
                .max_by_key(|d| (ds.iter().filter(|x| *x == d).count(), std::cmp::Reverse(*d)))
        } else {
            None
        };
        let keep = |s: &Shape| match (s, head_dim) {
            (Shape::Attention { d, causal, .. }, Some(hd)) => *d == hd && !causal,
            _ => true,
        };
        let mut series = Vec::new();
        for m in machines {
            for &(b, dtype) in cases.iter().filter(|(b, _)| *b == bench) {
                let mut points: Vec<(f64, f64)> = m
                    .results
                    .valid(b, dtype)
                    .filter(|x| keep(&x.shape))
                    .filter_map(|x| Some((x.shape.main_size(), x.value()?)))
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                points.dedup_by(|a, b| {
                    a.0 == b.0 && {
                        b.1 = b.1.max(a.1);
                        true
                    }
                });
                if !points.is_empty() {
                    let label = if bench == BenchKind::Membw {
                        m.label.clone()
                    } else {
                        format!("{} {dtype}", m.label)
                    };
                    series.push(Series { label, points });
                }
            }
        }
        if series.is_empty() {
            continue;
        }
        let (name, title, x_desc, unit) = match bench {
            BenchKind::Matmul => (
                "matmul",
                "Matmul per device: TFLOP/s vs size",
                "n (square)",
                "TFLOP/s",
            ),
            BenchKind::Attention => (
                "attention",
                "Attention forward per device: TFLOP/s vs sequence length",
                "sequence length",
                "TFLOP/s",
            ),
            _ => (
                "membw",
                "Memory copy per device: GB/s vs buffer size",
                "buffer size",
                "GB/s",
            ),
        };
        let title = match head_dim {
            Some(d) => format!("{title} (d={d}, full)"),
            None => title.to_string(),
        };
        let fmt: &dyn Fn(f64) -> String = if bench == BenchKind::Membw {
            &|x| crate::node::human_bytes(x.round() as u64)
        } else {
            &|x| format!("{}", x.round())
        };
        out.push(Plot {
            name: name.into(),
            title: title.clone(),
            svg: draw(&title, x_desc, unit, &series, &[], fmt)?,
        });
    }
    Ok(out)
}

/// One row per machine and measurement, long format, for spreadsheets.
pub fn csv(machines: &[Machine]) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "machine",
        "results_file",
        "bench",
        "dtype",
        "shape",
        "value_per_device",
        "devices_per_node",
        "value_per_node",
        "unit",
        "price_usd_per_node_hour",
        "method",
        "device",
    ])?;
    for m in machines {
        for x in m.results.measurements.iter().filter(|x| x.is_valid()) {
            let Some(t) = x.throughput else { continue };
            let n = m.per_node(x);
            w.write_record([
                super::csv_text(&m.label),
                super::csv_text(&m.file),
                x.bench.name().to_string(),
                x.dtype.name().to_string(),
                x.shape.display(),
                format!("{}", t.value),
                n.to_string(),
                format!("{}", t.value * n as f64),
                t.unit.to_string(),
                m.price.map_or_else(String::new, |p| p.to_string()),
                super::csv_text(&x.method),
                super::csv_text(&x.device),
            ])?;
        }
    }
    Ok(w.into_inner()?)
}
