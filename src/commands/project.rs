//! `hpcready project --params N --tokens D`: time to train, node-hours and cost, as a band.

use super::{emit, text_table};
use crate::assess::project::energy;
use crate::assess::project::{
    Precision, Projection, baseline_rate, baseline_rate_fp8, baseline_train_rate, measured_rate,
    measured_rate_fp8, measured_train_rate, parse_band, parse_count, project as run,
    projection_comm, scaling_comm,
};
use crate::assess::scaling;
use crate::bench::{num, sig};
use crate::cli::ProjectArgs;
use crate::profiles;
use crate::results::io::load;

fn row(p: &Projection) -> Vec<String> {
    vec![
        p.rate.machine.clone(),
        format!("{} TFLOP/s", num(p.rate.tflops_per_node)),
        p.time_text(),
        format!("{} – {}", sig(p.node_hours.0, 3), sig(p.node_hours.1, 3)),
        p.cost_text(),
    ]
}

/// `hpcready project`.
pub fn project(args: &ProjectArgs) -> anyhow::Result<()> {
    let n = parse_count("--params", &args.params)?;
    let d = parse_count("--tokens", &args.tokens)?;
    let util = parse_band(&args.utilisation)?;
    let precision = Precision::parse(&args.dtype).ok_or_else(|| {
        crate::error::input_error(
            format!("--dtype {}", args.dtype),
            "give bf16 (16-bit rates) or fp8 (FP8 matmul rates)",
        )
    })?;
    let fp8 = precision == Precision::Fp8;
    if let Some(p) = args.energy_price.filter(|p| !(p.is_finite() && *p >= 0.0)) {
        return Err(crate::error::input_error(
            format!("--energy-price {p}"),
            "give a price in EUR per kWh, 0 or more",
        ));
    }
    if !(args.batch_tokens.is_finite() && args.batch_tokens >= 1.0) {
        return Err(crate::error::input_error(
            format!("--batch-tokens {}", args.batch_tokens),
            "give the tokens of one optimizer step, 1 or more",
        ));
    }
    let every = args
        .checkpoint_every
        .as_deref()
        .map(energy::Every::parse)
        .transpose()?;
    // The measured checkpoint write bandwidth, when a checkpoint frequency asks for it.
    let io = match (&every, &args.io) {
        (Some(_), None) => {
            return Err(crate::error::input_error(
                "--checkpoint-every",
                "needs --io FILE: the results of `hpcready run --bench io` on the checkpoint \
                 directory (their measured write bandwidth)",
            ));
        }
        (_, Some(path)) => {
            let r = load(path)?;
            let run = r.storage.clone().ok_or_else(|| {
                crate::error::input_error(
                    path.display().to_string(),
                    "it holds no I/O bench (`hpcready run --bench io`)",
                )
            })?;
            let bw = run.write_bandwidth().ok_or_else(|| {
                crate::error::input_error(
                    path.display().to_string(),
                    "its checkpoint write did not finish: no bandwidth to project from",
                )
            })?;
            Some((path.clone(), run, bw))
        }
        (None, None) => None,
    };
    let profile = profiles::lookup(&args.baseline)?;
    let flops = 6.0 * n * d;
    let mut rows = Vec::new();
    let mut basis = Vec::new();
    let mut energy_lines = Vec::new();
    let mut checkpoint_line = None;
    let mut stepped = false;
    let mut comm = None;
    // A scaling run: its curve, the ring fitted to all of it, and the check on the run.
    let scaled: Vec<crate::results::Results> = args
        .scaling
        .iter()
        .map(|p| load(p))
        .collect::<anyhow::Result<_>>()?;
    let curve = if scaled.is_empty() {
        None
    } else {
        // The largest model, its sharded (FSDP2) step before DDP's: how production trains.
        let c = scaling::curves(&scaled)
            .into_iter()
            .max_by(|a, b| {
                a.gradient_bytes
                    .total_cmp(&b.gradient_bytes)
                    .then(a.sharded.cmp(&b.sharded))
            })
            .ok_or_else(|| {
                crate::error::input_error(
                    "--scaling",
                    "no model was trained data-parallel at two or more node counts in these \
                     files (run `hpcready slurm --torch … --scaling`)",
                )
            })?;
        let all: Vec<&scaling::Point> = c.points.iter().collect();
        let fitted = scaling::fit(&all).ok_or_else(|| {
            crate::error::input_error(
                "--scaling",
                "the files hold no torch all-reduce at two or more sizes across ranks to fit \
                 latency and bandwidth to",
            )
        })?;
        Some((c, fitted))
    };
    // Without --results, the scaling run's file of the fewest ranks is the node projected.
    let fewest = scaled
        .iter()
        .enumerate()
        .min_by_key(|(_, r)| r.ranks.as_ref().map_or(1, |l| l.size))
        .map(|(i, _)| args.scaling[i].clone());
    let results_path = args.results.clone().or(fewest);
    if let Some(path) = &results_path {
        let results = match args.scaling.iter().position(|p| p == path) {
            Some(i) => scaled[i].clone(),
            None => load(path)?,
        };
        // A measured training step is end to end; else the matmul rate × the band. At FP8,
        // the FP8 matmul (no FP8 training step is measured).
        let rate = if fp8 {
            measured_rate_fp8(&results).ok_or_else(|| {
                crate::error::input_error(
                    path.display().to_string(),
                    "it holds no valid fp8 matmul to project at FP8 from (`hpcready run --bench \
                     matmul --dtype fp8` on a GPU with FP8: H100, H200, MI300X)",
                )
            })?
        } else {
            measured_train_rate(&results)
                .or_else(|| measured_rate(&results))
                .ok_or_else(|| {
                    crate::error::input_error(
                        path.display().to_string(),
                        "it holds no valid training step or matmul measurement to project from",
                    )
                })?
        };
        stepped = rate.end_to_end;
        basis.push(format!("this node: {}", rate.basis));
        comm = match (&curve, stepped) {
            (Some((c, fitted)), true) => scaling_comm(
                &results,
                n,
                args.nodes,
                c.ranks_per_node(),
                fitted,
                c.sharded,
            ),
            (None, true) => projection_comm(&results, n, args.nodes),
            _ => None,
        };
        if let Some(c) = &comm {
            basis.push(format!("this node's communication: {}", c.basis));
        }
        let mut ours = run(flops, rate, args.nodes, util).with_comm(comm.clone());
        if curve.is_none() {
            ours = ours.with_assumed_scaling(args.nodes);
        }
        if let (Some(e), Some((file, storage, bw))) = (every, &io) {
            let c = energy::checkpoints(n, e, ours.hours, d / args.batch_tokens, *bw);
            checkpoint_line = Some(format!(
                "Checkpoints of {} each (12 B per parameter), every {}: {} – {} of them at {} s \
                 each, the write bandwidth measured by {} ({} rank(s) on {} node(s) at once: \
                 {}), written synchronously: +{} – {} on this node's time to train (included \
                 above; an asynchronous checkpointer hides most of it). The baseline's time has \
                 none added (no bandwidth measured there).",
                crate::node::human_bytes(c.bytes as u64),
                args.checkpoint_every.as_deref().unwrap_or(""),
                c.count.0,
                c.count.1,
                sig(c.seconds_each, 3),
                file.display(),
                storage.ranks,
                storage.nodes,
                storage
                    .phase(crate::storage::IoOp::CheckpointWrite)
                    .map_or(String::new(), |p| p.display_rate()),
                crate::assess::project::duration(c.hours.0),
                crate::assess::project::duration(c.hours.1),
            ));
            ours = ours.with_checkpoints(c.hours, args.nodes);
        }
        match energy::measured_energy(&results, d) {
            Some(e) => energy_lines.push(format!(
                "this node: {} — {}",
                e.text(args.energy_price),
                e.basis
            )),
            None => energy_lines.push(
                "this node: not measured (no training step with an energy reading: run \
                 `hpcready run --bench train` on a node with an energy counter)"
                    .into(),
            ),
        }
        rows.push(row(&ours));
    }
    let theirs = if fp8 {
        baseline_rate_fp8(&profile)
    } else if stepped {
        baseline_train_rate(&profile).or_else(|| baseline_rate(&profile))
    } else {
        baseline_rate(&profile)
    };
    match theirs {
        Some(rate) => {
            basis.push(format!("{}: {}", profile.name, rate.basis));
            let theirs = run(flops, rate, args.nodes, util).with_assumed_scaling(args.nodes);
            energy_lines.push(match energy::baseline_energy(&profile, theirs.node_hours) {
                Some(e) => format!(
                    "{}: {} — {}",
                    profile.name,
                    e.text(args.energy_price),
                    e.basis
                ),
                None => format!("{}: no cited power for its accelerators", profile.name),
            });
            rows.push(row(&theirs));
        }
        None => basis.push(format!(
            "{}: no accelerator {} matmul figure or peak to project from",
            profile.name,
            if fp8 { "fp8" } else { "16-bit" }
        )),
    }
    let mut out = format!(
        "Training {n:.3e} parameters on {d:.3e} tokens: 6·N·D = {flops:.3e} FLOPs, on {} node(s) each side, at {}.\n\n",
        args.nodes,
        if fp8 {
            "FP8 (each side's FP8 matmul rate, measured or published, × the utilisation band)"
        } else {
            "16-bit precision"
        }
    );
    out.push_str(&text_table(
        &[
            "machine",
            "rate per node",
            "time to train",
            "node-hours",
            "cost",
        ],
        &rows,
    ));
    if stepped {
        out.push_str(
            "\nA rate from a training step (measured, or published for the baseline) is model \
             FLOP/s end to end: no utilisation band applies to it; a matmul rate gets the band.",
        );
    }
    out.push_str(&format!(
        "\nAssumptions: end-to-end training runs at {:.0}–{:.0}% of the matmul rate (--utilisation); \
         communication is overlapped with compute unless a measured training step and all-reduce \
         fold it in; {}. The faster end of each band uses the higher utilisation.{}\nRates:\n",
        util.0 * 100.0,
        util.1 * 100.0,
        match (&curve, args.nodes) {
            (Some(_), 1) => "this node's communication across nodes comes from the ring \
                             fitted to its scaling run (below); one node on the baseline's side"
                .to_string(),
            (Some(_), m) => format!(
                "this node's communication across nodes comes from the ring fitted to its \
                 scaling run (below); the baseline's {m} nodes are assumed to scale from \
                 linearly (the faster end, an upper bound) to {:.1}% efficiency per node (the \
                 slower end), {}",
                crate::assess::project::assumed_efficiency(m) * 100.0,
                crate::assess::project::ASSUMED_SCALING_SOURCE
            ),
            (None, 1) => "one node: no scaling across nodes".to_string(),
            (None, m) => format!(
                "no scaling run was measured (`hpcready slurm --torch … --scaling` measures one \
                 and `--scaling FILES` uses it), so {m} nodes are assumed to scale from linearly \
                 ({m}× one node, the faster end of each band: an upper bound) to {:.1}% \
                 efficiency per node (the slower end), {}",
                crate::assess::project::assumed_efficiency(m) * 100.0,
                crate::assess::project::ASSUMED_SCALING_SOURCE
            ),
        },
        if comm.is_some() {
            " This node's measured gradient all-reduce is folded in (see below): its band runs \
             from full overlap with the backward pass to none."
        } else {
            ""
        }
    ));
    for b in &basis {
        out.push_str(&format!("  - {b}\n"));
    }
    if let Some(c) = &checkpoint_line {
        out.push_str(&format!("\n{c}\n"));
    }
    if !energy_lines.is_empty() {
        out.push_str("\nEnergy to train:\n");
        for e in &energy_lines {
            out.push_str(&format!("  - {e}\n"));
        }
    }
    if let Some((c, _)) = &curve {
        out.push_str(&format!("\nScaling run ({}):\n", c.model));
        for p in &c.points {
            out.push_str(&format!(
                "  - {} node(s), {} rank(s): {} tokens/s per GPU{}\n",
                p.nodes,
                p.ranks,
                num(p.tokens_per_s_per_gpu),
                c.efficiency(p)
                    .map(|e| format!(", {:.0}% of one node's", e * 100.0))
                    .unwrap_or_default()
            ));
        }
        match scaling::check(c) {
            Some(k) => out.push_str(&format!("Checked on the run: {}\n", k.describe())),
            None => out.push_str(
                "Not checked on the run: the node counts below the largest hold no all-reduce \
                 across ranks at two sizes to fit.\n",
            ),
        }
    }
    let saved = profile.kind == profiles::ProfileKind::Measured;
    if results_path.is_some() && !saved {
        out.push_str(
            "\nThis node's rate comes from hpcready's portable kernels and the baseline's from a \
             vendor library, so the gap reflects the kernels as well as the machines. A baseline \
             saved from the same kernels on your cloud instance (`hpcready baselines save`) makes \
             the two rates like for like.\n",
        );
    }
    if results_path.is_none() {
        out.push_str(
            "\nThis node is not projected: pass --results with a results.json from \
             `hpcready run` or `hpcready assess`.\n",
        );
    }
    emit(&out)?;
    Ok(())
}
