//! The report's energy section: the counter a run read (or why none), and per measurement the
//! average power, the energy per run, and beside the performance the performance per watt; a
//! training step's joules per step and per token and tokens per joule.

use super::ReportContext;
use super::model::{Block, Cell};
use crate::bench::{BenchKind, sig};
use crate::node::energy::{MeterStatus, Scope};
use crate::results::Measurement;

/// Performance per watt in the throughput's unit: GFLOP/s per W, GB/s per W.
pub fn per_watt(m: &Measurement) -> Option<(f64, &'static str)> {
    let e = m.energy.as_ref()?.energy()?;
    let t = m.throughput.filter(|_| m.is_valid())?;
    if e.watts <= 0.0 {
        return None;
    }
    Some(match t.unit {
        crate::bench::Unit::TflopPerS => (t.value * 1e3 / e.watts, "GFLOP/s per W"),
        crate::bench::Unit::GbPerS => (t.value / e.watts, "GB/s per W"),
    })
}

/// Each counter's average power: `gpu0 312 W, gpu1 70 W`; pm_counters' breakdown too.
fn per_counter(e: &crate::node::energy::Energy) -> String {
    if e.counters.len() < 2 || e.seconds <= 0.0 {
        return "—".into();
    }
    e.counters
        .iter()
        .map(|(name, j)| format!("{name} {} W", sig(j / e.seconds, 3)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the counter's figure includes beyond the measured device, in words.
fn coverage(status: &MeterStatus) -> String {
    match status {
        MeterStatus::Found {
            scope: Scope::Gpu,
            counters,
            ..
        } if counters.len() > 1 => format!(
            "GPU-only: the sum of the node's {} GPUs, so a measurement on one GPU includes the \
             others' idle power",
            counters.len()
        ),
        MeterStatus::Found {
            scope: Scope::Node, ..
        } => {
            "node-level: CPUs, memory, accelerators and the rest of the node, idle parts too".into()
        }
        MeterStatus::Found {
            scope: Scope::Cpu, ..
        } => "CPU-only: the CPU packages; a GPU's energy is not in it".into(),
        MeterStatus::Found { scope, .. } => scope.describe().into(),
        _ => String::new(),
    }
}

/// The section; nothing for files written before energy was measured.
pub(super) fn section(b: &mut Vec<Block>, ctx: &ReportContext) {
    let Some(status) = &ctx.results.energy_meter else {
        return;
    };
    b.push(Block::Heading(2, "Energy".into()));
    match status {
        MeterStatus::Found { .. } => b.push(Block::Para(format!(
            "Counter: {} — {}. Method (MLPerf Training's power rules): the counter's difference \
             over each measurement's timed samples, warm-up excluded; a region shorter than 20 \
             of the counter's updates is not reported.",
            status.describe(),
            coverage(status)
        ))),
        MeterStatus::Missing { why } => {
            b.push(Block::Para(
                "No energy was measured: this node has no energy counter hpcready reads.".into(),
            ));
            b.push(Block::List(why.clone()));
            return;
        }
        MeterStatus::Off => {
            b.push(Block::Para("Energy was not read (`--no-energy`).".into()));
            return;
        }
    }
    let measured: Vec<&Measurement> = ctx
        .results
        .measurements
        .iter()
        .filter(|m| m.energy.as_ref().and_then(|e| e.energy()).is_some())
        .collect();
    if !measured.is_empty() {
        let rows = measured
            .iter()
            .map(|m| {
                let e = m
                    .energy
                    .as_ref()
                    .and_then(|e| e.energy())
                    .expect("filtered");
                let per_run = e
                    .joules_per_run()
                    .map_or("—".into(), |j| format!("{} J", sig(j, 3)));
                let train = (m.bench == BenchKind::Train)
                    .then(|| m.joules_per_token())
                    .flatten();
                vec![
                    Cell::plain(m.bench.name()),
                    Cell::plain(m.shape.display()),
                    Cell::plain(m.dtype.name()),
                    Cell::plain(format!("{} W", sig(e.watts, 3))),
                    Cell::plain(per_run),
                    Cell::plain(train.map_or("—".into(), |j| format!("{} J", sig(j, 3)))),
                    Cell::plain(train.map_or("—".into(), |j| sig(1.0 / j, 3))),
                    Cell::plain(m.throughput.map_or("—".into(), |t| t.to_string())),
                    Cell::plain(
                        per_watt(m).map_or("—".into(), |(v, u)| format!("{} {u}", sig(v, 3))),
                    ),
                    Cell::plain(format!("{} J over {:.1} s", sig(e.joules, 3), e.seconds)),
                    Cell::plain(per_counter(e)),
                ]
            })
            .collect();
        b.push(Block::Table {
            head: [
                "bench",
                "shape",
                "type",
                "average power",
                "energy per run (step)",
                "J per token",
                "tokens per J",
                "performance",
                "performance per W",
                "reading",
                "average power per counter (device)",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
    }
    let skipped: Vec<String> = ctx
        .results
        .measurements
        .iter()
        .filter_map(|m| match &m.energy {
            Some(crate::node::energy::EnergyRecord::NotMeasured { why }) => Some(format!(
                "{} {} {}: {why}",
                m.bench,
                m.dtype,
                m.shape.display()
            )),
            _ => None,
        })
        .collect();
    if !skipped.is_empty() {
        b.push(Block::Para("Measurements without an energy figure:".into()));
        b.push(Block::List(skipped));
    }
}
