//! The report's record of the run: every measurement with its statistics and verification, the
//! node and its load, how the figures were measured, and provenance. The findings (verdict,
//! comparison, projection, checklist) are in `document`.

use super::ReportContext;
use super::model::{Block, Cell};
use crate::bench::{BenchKind, duration_s, num, percent, sig};
use crate::node::human_bytes;
use crate::results::Measurement;

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
pub(super) fn fmt_time(s: f64) -> String {
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

/// A key-value row of the node and provenance tables.
fn kv(k: &str, v: String) -> Vec<Cell> {
    vec![Cell::from(k), Cell::from(v)]
}

/// Every measurement by benchmark: throughput, timing statistics, verification, method.
pub(super) fn measurements(b: &mut Vec<Block>, ctx: &ReportContext) {
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
                } else if m.verification.passed && m.bench == BenchKind::Train {
                    Cell {
                        text: format!("yes: {}", m.verification.reference),
                        class: Some("good"),
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

/// Training steps: tokens per second, step time, MFU (PaLM's formula, against the device's
/// datasheet peak where hpcready knows the device), memory and the loss check.
pub(super) fn training(b: &mut Vec<Block>, ctx: &ReportContext) {
    let steps: Vec<_> = ctx
        .results
        .measurements
        .iter()
        .filter(|m| m.bench == BenchKind::Train && m.is_valid())
        .collect();
    if steps.is_empty() {
        return;
    }
    b.push(Block::Heading(2, "Training step".into()));
    b.push(Block::Para(
        "A real training step of a Llama-style decoder (RMSNorm, rotary embeddings, SwiGLU, fused \
         SDPA; AdamW) on synthetic tokens, per device. MFU = model FLOPs per second / the \
         device's datasheet dense peak in the step's type, with model FLOPs per token = 6N + \
         12·L·H·Q·T (PaLM, Appendix B; as torchtitan and llm-foundry count; N the parameters \
         without the token embedding). Verified: the loss starts near ln(vocab) and falls below \
         a quarter of it within 300 steps."
            .into(),
    ));
    let rows = steps
        .iter()
        .map(|m| {
            let t = m.train.as_ref();
            let mfu = m.value().and_then(|v| {
                crate::profiles::device_peak(&m.device, m.dtype.name()).map(|(p, id)| {
                    format!("{} (peak {} TFLOP/s, profile {id})", percent(v / p), num(p))
                })
            });
            vec![
                Cell::plain(&m.device),
                Cell::plain(m.shape.display()),
                Cell::plain(m.dtype.name()),
                Cell::plain(t.map_or("—".into(), |t| format!("{:.0}", t.tokens_per_s))),
                Cell::plain(t.map_or("—".into(), |t| format!("{:.1} ms", t.step_s * 1e3))),
                Cell::plain(m.throughput.map_or("—".into(), |x| x.to_string())),
                Cell::plain(mfu.unwrap_or_else(|| "no datasheet peak for this device".into())),
                Cell::plain(t.map_or("—".into(), |t| {
                    if t.peak_memory_bytes > 0 {
                        human_bytes(t.peak_memory_bytes)
                    } else {
                        "not tracked (CPU)".into()
                    }
                })),
                Cell::plain(&m.verification.reference),
            ]
        })
        .collect();
    b.push(Block::Table {
        head: [
            "device",
            "model",
            "type",
            "tokens/s",
            "step",
            "model FLOP/s",
            "MFU",
            "peak memory",
            "loss check",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    // Data-parallel steps: the scaling efficiency, and the projection from one rank's step plus
    // the measured all-reduce, checked against the measured data-parallel step.
    let scaling: Vec<String> = steps
        .iter()
        .filter_map(|m| {
            let t = m.train.as_ref()?;
            let dp = t.data_parallel.as_ref()?;
            Some(format!(
                "{}: {:.0} tokens/s per rank across {} rank(s) on {} node(s), {:.0} tokens/s on \
                 one rank alone: scaling efficiency {} ({})",
                m.shape.display(),
                t.tokens_per_s,
                dp.ranks,
                dp.nodes,
                dp.single_tokens_per_s,
                percent(dp.efficiency),
                dp.library
            ))
        })
        .collect();
    if !scaling.is_empty() {
        b.push(Block::Para(
            "Data-parallel scaling (DistributedDataParallel, the same micro-batch per rank; the \
             baseline is the same step on every rank at once with no communication):"
                .into(),
        ));
        b.push(Block::List(scaling));
        let checks = &ctx.comparison.comm_checks;
        if !checks.is_empty() {
            b.push(Block::List(
                checks
                    .iter()
                    .map(|v| {
                        format!(
                            "projection check, {} across {} ranks: one rank's step + the \
                             measured gradient all-reduce gives {} – {} per step ({}); measured \
                             {}: {}",
                            v.model,
                            v.ranks,
                            duration_s(v.projected_s.0),
                            duration_s(v.projected_s.1),
                            v.term.basis,
                            duration_s(v.measured_s),
                            if v.error() == 0.0 {
                                "inside the band".to_string()
                            } else {
                                format!(
                                    "error {:+.1}% from the band's nearer end",
                                    v.error() * 100.0
                                )
                            }
                        )
                    })
                    .collect(),
            ));
        }
    }
    let checks = &ctx.comparison.step_checks;
    if !checks.is_empty() {
        b.push(Block::Para(
            "Projection check: the time-to-train projection assumes a larger model trains at the \
             model FLOP/s measured on a smaller one. Each larger step measured here was also \
             projected from each smaller one:"
                .into(),
        ));
        b.push(Block::List(
            checks
                .iter()
                .map(|v| {
                    format!(
                        "{} projected from {}: {:.0} tokens/s ({}); measured {:.0} tokens/s; \
                         error {:+.1}%",
                        v.to,
                        v.from,
                        v.projected_tokens_per_s,
                        v.how,
                        v.measured_tokens_per_s,
                        v.error() * 100.0
                    )
                })
                .collect(),
        ));
    }
}

/// The node's inventory and the load during the run.
pub(super) fn node(b: &mut Vec<Block>, ctx: &ReportContext) {
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
                "accelerators (Vulkan)",
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
    if let Block::Table { rows, .. } = b.last_mut().expect("the node table") {
        if !n.gpus.is_empty() {
            rows.push(kv(
                "GPUs the system lists",
                n.gpus
                    .iter()
                    .map(|g| {
                        let path = match (g.vulkan.yes, g.torch.yes) {
                            (true, true) => "Vulkan and PyTorch reach it".to_string(),
                            (true, false) => "Vulkan reaches it".to_string(),
                            (false, true) => "PyTorch reaches it".to_string(),
                            (false, false) => format!(
                                "no path reaches it: Vulkan — {}; PyTorch — {}",
                                g.vulkan.why, g.torch.why
                            ),
                        };
                        format!("{} [{}] — {path}", g.describe(), g.sources.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        if let Some(t) = &n.torch {
            rows.push(kv(
                "PyTorch",
                match &t.found {
                    Some(info) => format!(
                        "{} ({}; {} device(s): {})",
                        info.libraries(),
                        t.python,
                        info.devices.len(),
                        if info.devices.is_empty() {
                            "CPU only".to_string()
                        } else {
                            info.devices
                                .iter()
                                .map(|d| d.name.clone())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                    None => format!(
                        "not usable with {}: {}",
                        t.python,
                        t.problem.as_deref().unwrap_or("unknown")
                    ),
                },
            ));
        }
    }
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
pub(super) fn method(b: &mut Vec<Block>, ctx: &ReportContext) {
    let r = ctx.results;
    b.push(Block::Heading(2, "Method".into()));
    let mut items = vec![
        "Every kernel's output is verified against a float64 reference before it is timed (sampled entries for large sizes); the error is normwise, |got − ref| / Σ|terms|. A kernel that fails is kept, marked invalid and never scored.".into(),
        "Warm-up, then repeated samples; each sample times enough back-to-back iterations to last ~20 ms (quick suite) and is divided by that count. Reported: median, 95% bootstrap CI of the median (2,000 resamples), CV, min, p10/p90, outliers (Tukey fences). Throughput uses the median.".into(),
        "Work: matmul 2·m·n·k flops; attention 4·b·h·s²·d, halved when causal (FlashAttention's accounting); copy counts bytes read + written (base-10 GB/s).".into(),
        ceiling_method(r),
        "A result above its device's measured peak (by more than 5%) is flagged as suspect and not counted.".into(),
        "Comparison: like for like (same benchmark, data type and method — a baseline measured with hpcready) where the baseline has such a figure; otherwise fractions of each machine's own peak, or measured ceilings against the datasheet; verdicts: faster ≥ 1.1×, on par ≥ 0.9×, slower ≥ 0.5×, else much slower.".into(),
    ];
    if r.measurements.iter().any(|m| m.backend == "torch") {
        items.push(
            "PyTorch path (`torch/…` rows): the user's own torch runs hpcready's harness. Matmul is `torch.mm` as mamf-finder runs it — a cache flush (256 MiB on a GPU) before every timed call, outside the timing, one device-event pair per call (the host clock per call on the CPU), TF32 off unless the type is tf32 — and is compared like for like with mamf-finder's published figures. Attention is `scaled_dot_product_attention`, forward and backward (backward counted 2.5× the forward, FlashAttention's accounting), with each SDPA backend pinned in turn; the default dispatch is `torch/sdpa` and names the backend it chose. The flash backend's forward is compared like for like with FlashAttention's published forward figure at the same head dimension.".into(),
        );
    }
    b.push(Block::List(items));
    if !ctx.profile.notes.is_empty() {
        b.push(Block::Heading(3, format!("Notes on {}", ctx.profile.name)));
        b.push(Block::List(ctx.profile.notes.clone()));
    }
}

/// The tool, build and run that produced the figures.
pub(super) fn provenance(b: &mut Vec<Block>, ctx: &ReportContext) {
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
