//! The report's content as a format-neutral list of blocks.

use super::ReportContext;
use crate::assess::{Basis, percent};
use crate::bench::{BenchKind, num, sig};
use crate::node::human_bytes;
use crate::results::Measurement;

/// A table cell: text, and whether it is a status to highlight.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// A CSS class for HTML (`good`, `warn`, `bad`), if any.
    pub class: Option<&'static str>,
}

impl Cell {
    /// A cell with no highlight.
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            class: None,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self { text, class: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self {
            text: text.into(),
            class: None,
        }
    }
}

/// A piece of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading at level 1–3.
    Heading(u8, String),
    /// A paragraph.
    Para(String),
    /// A highlighted warning.
    Warning(String),
    /// The verdict box: readiness, headline, reasons.
    Verdict {
        /// `ready`, `ready with changes`, `not ready`.
        readiness: String,
        /// The answer in two sentences.
        headline: String,
        /// Why.
        reasons: Vec<String>,
    },
    /// A bulleted list.
    List(Vec<String>),
    /// A table.
    Table {
        /// Column headers.
        head: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<Cell>>,
    },
    /// A plot, by index into the context's plots.
    Plot(usize),
    /// Preformatted text.
    Code(String),
}

fn verdict_class(v: crate::assess::Verdict) -> Option<&'static str> {
    use crate::assess::Verdict::*;
    match v {
        Faster | OnPar => Some("good"),
        Slower => Some("warn"),
        MuchSlower | Invalid => Some("bad"),
        NotComparable => None,
    }
}

fn ci(m: &Measurement) -> String {
    m.stats
        .as_ref()
        .map(|s| {
            format!(
                "{}–{}",
                fmt_time(s.median_ci95[0]),
                fmt_time(s.median_ci95[1])
            )
        })
        .unwrap_or_else(|| "—".into())
}

/// Seconds as `1.23 ms`, `45.6 µs`.
pub fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{} s", sig(s, 3))
    } else if s >= 1e-3 {
        format!("{} ms", sig(s * 1e3, 3))
    } else if s >= 1e-6 {
        format!("{} µs", sig(s * 1e6, 3))
    } else {
        format!("{} ns", sig(s * 1e9, 3))
    }
}

/// Time to train an example model on this node and on the baseline (`hpcready project` takes
/// the user's own model and assumptions).
fn projection(b: &mut Vec<Block>, ctx: &ReportContext) {
    use crate::assess::project::{
        DEFAULT_UTILISATION, baseline_rate, duration, measured_rate, project,
    };
    let (n, d) = (7e9, 1e12);
    let flops = 6.0 * n * d;
    let rates: Vec<_> = [measured_rate(ctx.results), baseline_rate(ctx.profile)]
        .into_iter()
        .flatten()
        .collect();
    if rates.is_empty() {
        return;
    }
    b.push(Block::Heading(
        2,
        "Time to train (example: 7B parameters on 1T tokens)".into(),
    ));
    let (lo, hi) = DEFAULT_UTILISATION;
    b.push(Block::Para(format!(
        "6·N·D = {flops:.2e} FLOPs on one node of each machine, at {:.0}–{:.0}% of each node's \
         16-bit (else f32) matmul rate; communication assumed overlapped with compute (measured all-reduce is not folded in). \
         hpcready project --params N --tokens D --results results.json projects your own \
         model, node count and utilisation.{}",
        lo * 100.0,
        hi * 100.0,
        if ctx.profile.kind == crate::profiles::ProfileKind::Measured {
            ""
        } else {
            " This node's rate comes from hpcready's kernels and the baseline's from a vendor \
             library, so the gap reflects the kernels as well as the machines."
        }
    )));
    let rows = rates
        .into_iter()
        .map(|rate| {
            let basis = rate.basis.clone();
            let p = project(flops, rate, 1, DEFAULT_UTILISATION);
            vec![
                Cell::plain(&p.rate.machine),
                Cell::plain(format!(
                    "{} TFLOP/s",
                    crate::bench::num(p.rate.tflops_per_node)
                )),
                Cell::plain(format!("{} – {}", duration(p.hours.0), duration(p.hours.1))),
                Cell::plain(p.cost_text()),
                Cell::plain(basis),
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
}

/// The porting checklist recorded with the run, plus the GPU count against the baseline.
fn porting_checklist(b: &mut Vec<Block>, ctx: &ReportContext) {
    use crate::node::checklist::{Status, with_baseline};
    let node = &ctx.results.node;
    if node.checklist.is_empty() {
        return;
    }
    let checks = with_baseline(node, ctx.profile);
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

/// A key-value row of the node and provenance tables.
fn kv(k: &str, v: String) -> Vec<Cell> {
    vec![Cell::from(k), Cell::from(v)]
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
    measurements(&mut b, ctx);
    node(&mut b, ctx);
    method(&mut b, ctx);
    provenance(&mut b, ctx);
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

/// Every measurement by benchmark: throughput, timing statistics, verification, method.
fn measurements(b: &mut Vec<Block>, ctx: &ReportContext) {
    let r = ctx.results;
    b.push(Block::Heading(2, "Measurements".into()));
    let peaks = r.peak_index();
    for bench in BenchKind::ALL {
        let ms: Vec<&Measurement> = r.measurements.iter().filter(|m| m.bench == bench).collect();
        if ms.is_empty() {
            continue;
        }
        b.push(Block::Heading(3, bench.name().into()));
        let rows = ms
            .iter()
            .map(|m| {
                let peak = (bench != BenchKind::Peak && bench != BenchKind::Membw)
                    .then(|| peaks.get(m).and_then(Measurement::value))
                    .flatten();
                let frac = match (m.value(), peak) {
                    (Some(v), Some(p)) => percent(v / p),
                    _ => "—".into(),
                };
                let verified = if m.is_valid() && !m.is_verified() {
                    Cell {
                        text: format!("not checked by the source ({})", m.verification.reference),
                        class: Some("warn"),
                    }
                } else if m.verification.passed {
                    Cell {
                        text: format!(
                            "yes, max err {:.1e} ({})",
                            m.verification.max_rel_error,
                            m.verification.coverage()
                        ),
                        class: Some("good"),
                    }
                } else {
                    Cell {
                        text: format!("NO: {}", m.error.clone().unwrap_or_default()),
                        class: Some("bad"),
                    }
                };
                vec![
                    Cell::from(m.dtype.name()),
                    m.shape.display().into(),
                    m.throughput
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "—".into())
                        .into(),
                    frac.into(),
                    m.stats
                        .as_ref()
                        .map(|s| fmt_time(s.median))
                        .unwrap_or_else(|| "—".into())
                        .into(),
                    ci(m).into(),
                    m.stats
                        .as_ref()
                        .map(|s| format!("{:.1}%", s.cv * 100.0))
                        .unwrap_or_else(|| "—".into())
                        .into(),
                    m.stats
                        .as_ref()
                        .map(|s| format!("{} × {}", s.n, m.iterations_per_sample))
                        .unwrap_or_else(|| "0".into())
                        .into(),
                    verified,
                    format!("{} — {}", m.method, m.variant).into(),
                ]
            })
            .collect();
        b.push(Block::Table {
            head: [
                "dtype",
                "shape",
                "throughput",
                "% of peak",
                "median",
                "95% CI",
                "CV",
                "samples × iters",
                "verified",
                "method",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
    }
}

/// The node's inventory and the load during the run.
fn node(b: &mut Vec<Block>, ctx: &ReportContext) {
    let r = ctx.results;
    b.push(Block::Heading(2, "Node".into()));
    let n = &r.node;
    let caches = n.caches_summary();
    b.push(Block::Table {
        head: vec!["item".into(), "value".into()],
        rows: vec![
            kv("host", n.host.clone()),
            kv("OS / kernel", format!("{} / {}", n.os, n.kernel)),
            kv("CPU", format!("{} ({})", n.cpu.model, n.arch)),
            kv(
                "cores / threads",
                format!(
                    "{} physical, {} logical, {} usable by this process",
                    n.cpu.physical_cores.map_or("?".into(), |c| c.to_string()),
                    n.cpu.logical_threads,
                    n.cpu.usable_threads
                ),
            ),
            kv("SIMD", n.cpu.simd.join(" ")),
            kv("caches", caches),
            kv(
                "reported clock",
                n.cpu.reported_mhz.map_or("unknown".into(), |m| {
                    format!("{m} MHz (OS-reported; the measured peak is the real ceiling)")
                }),
            ),
            kv(
                "memory",
                format!(
                    "{} total, {} available at probe",
                    human_bytes(n.memory.total_bytes),
                    human_bytes(n.memory.available_bytes)
                ),
            ),
            kv(
                "accelerators",
                if n.accelerators.devices.is_empty() {
                    format!("none listed — {}", n.accelerators.note)
                } else {
                    n.accelerators
                        .devices
                        .iter()
                        .map(|d| {
                            format!(
                                "{} ({}, {}, {}, {})",
                                d.name, d.vendor, d.device_type, d.backend, d.driver_info
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                },
            ),
        ],
    });
    if let Some(load) = &r.load {
        b.push(Block::Heading(3, "Load during the run".into()));
        let la = |x: [f64; 3]| format!("{:.2} / {:.2} / {:.2}", x[0], x[1], x[2]);
        b.push(Block::Table {
            head: vec!["item".into(), "value".into()],
            rows: vec![
                kv(
                    "load average (1/5/15 min) at start",
                    la(load.load_avg_start),
                ),
                kv("load average at end", la(load.load_avg_end)),
                kv(
                    "CPU time stolen by the hypervisor",
                    load.steal_fraction
                        .map_or("unknown".into(), |s| format!("{:.2}%", s * 100.0)),
                ),
                kv(
                    "our share of the usable CPU time",
                    load.own_cpu_share.map_or("unknown".into(), |s| {
                        format!("{:.0}% of {} threads", s * 100.0, load.usable_threads)
                    }),
                ),
                kv("wall time", format!("{:.1} s", load.wall_s)),
            ],
        });
    }
}

/// How the figures were measured and compared.
fn method(b: &mut Vec<Block>, ctx: &ReportContext) {
    let r = ctx.results;
    b.push(Block::Heading(2, "Method".into()));
    b.push(Block::List(vec![
        "Every kernel's output is verified against a float64 reference before it is timed (sampled entries for large sizes); the error is normwise, |got − ref| / Σ|terms|. A kernel that fails is kept, marked invalid and never scored.".into(),
        "Warm-up, then repeated samples; each sample times enough back-to-back iterations to last ~20 ms (quick suite) and is divided by that count. Reported: median, 95% bootstrap CI of the median (2,000 resamples), CV, min, p10/p90, outliers (Tukey fences). Throughput uses the median.".into(),
        "Work: matmul 2·m·n·k flops; attention 4·b·h·s²·d, halved when causal (FlashAttention's accounting); copy counts bytes read + written (base-10 GB/s).".into(),
        ceiling_method(r),
        "A result above its device's measured peak (by more than 5%) is flagged as suspect and not counted.".into(),
        "Comparison: like for like (same benchmark, data type and method — a baseline measured with hpcready) where the baseline has such a figure; otherwise fractions of each machine's own peak, or measured ceilings against the datasheet; verdicts: faster ≥ 1.1×, on par ≥ 0.9×, slower ≥ 0.5×, else much slower.".into(),
    ]));
    if !ctx.profile.notes.is_empty() {
        b.push(Block::Heading(3, format!("Notes on {}", ctx.profile.name)));
        b.push(Block::List(ctx.profile.notes.clone()));
    }
}

/// The tool, build and run that produced the figures.
fn provenance(b: &mut Vec<Block>, ctx: &ReportContext) {
    let r = ctx.results;
    b.push(Block::Heading(2, "Provenance".into()));
    let t = &r.tool;
    b.push(Block::Table {
        head: vec!["item".into(), "value".into()],
        rows: vec![
            kv(
                "tool",
                format!("{} {} (git {})", t.name, t.version, t.git_revision),
            ),
            kv(
                "build",
                format!(
                    "{} {}, {}; RUSTFLAGS: {}",
                    t.build_profile,
                    t.target,
                    t.rustc,
                    if t.rustflags.is_empty() {
                        "none (portable build, run-time ISA dispatch)"
                    } else {
                        &t.rustflags
                    }
                ),
            ),
            kv("command line", r.command_line.join(" ")),
            kv("started", r.started_at.clone()),
            kv(
                "finished",
                r.finished_at
                    .clone()
                    .unwrap_or_else(|| "— (not finished)".into()),
            ),
            kv(
                "baseline",
                format!("{} ({})", ctx.profile.id, ctx.profile.name),
            ),
            kv("results schema", format!("version {}", r.schema_version)),
        ],
    });
}

/// How the run's ceilings were measured: the CPU's FMA chains, the GPU's kernel, or both.
fn ceiling_method(r: &crate::results::Results) -> String {
    let kinds: Vec<crate::results::DeviceKind> = r
        .measurements
        .iter()
        .filter(|m| m.bench == BenchKind::Peak)
        .map(|m| m.device_kind)
        .collect();
    let cpu = "the CPU's: 12 independent FMA chains per thread in the widest vector ISA present, \
               on one thread and on all";
    let gpu = "the GPU's: peak_fma.wgsl, 8 independent vec4 FMA chains per invocation on a \
               dispatch large enough to fill the device, timed with the device's timestamps";
    let has = |k| kinds.contains(&k);
    let which = match (
        has(crate::results::DeviceKind::Cpu),
        has(crate::results::DeviceKind::Gpu),
    ) {
        (true, true) => format!("{cpu}; {gpu}"),
        (false, true) => gpu.to_string(),
        (true, false) => cpu.to_string(),
        (false, false) => return "No ceiling (peak) was measured in this run.".into(),
    };
    format!(
        "Ceilings are measured, not assumed (nominal clocks lie in VMs and under turbo): {which}."
    )
}
