//! The training steps across ranks: each preset alone on every rank, then data-parallel (DDP)
//! at the same micro-batch, both verified; rank 0 writes both.

use super::{Group, Job};
use crate::backend::torch::TorchInfo;
use crate::backend::torch::protocol::{self, Fault, Phase, Request};
use crate::bench::suites::Suite;
use crate::bench::{BenchKind, DType, Shape};
use crate::comm::allreduce;
use crate::comm::job as dist;
use crate::node::energy::recorder::Recorder;
use crate::results::io::ResultsWriter;
use crate::results::{
    DeviceKind, Measurement, MethodFamily, Origin, RankLayout, TimingSource, TrainInfo,
};

/// How the training steps run.
pub(super) struct TrainPlan {
    pub(super) dtype: DType,
    pub(super) smoke: bool,
    pub(super) suite: Suite,
    pub(super) compile: bool,
}

impl Job {
    /// Each training preset alone on every rank (the baseline), then data-parallel at the same
    /// micro-batch; rank 0 writes both.
    pub(super) fn train_steps(
        &mut self,
        presets: &[Shape],
        plan: &TrainPlan,
        (group, info): (&Group, &TorchInfo),
        step: &mut usize,
        mut writer: Option<&mut ResultsWriter>,
        recorder: Option<&Recorder>,
    ) -> anyhow::Result<()> {
        let (iterations, samples) = match (plan.smoke, plan.suite) {
            (true, _) => (2, 3),
            (false, Suite::Quick) => (5, 5),
            (false, _) => (10, 10),
        };
        let device = match info
            .devices
            .get(self.env.local_rank % info.devices.len().max(1))
        {
            Some(d) if info.has_accelerator() => d.name.clone(),
            _ => format!("CPU (torch {})", info.torch),
        };
        for shape in presets {
            let mut single: Option<TrainInfo> = None;
            for phase in [Phase::Single, Phase::Ddp, Phase::Fsdp] {
                *step += 1;
                dist::arrive(&self.env, &self.cwd, *step);
                let started = crate::timefmt::rfc3339(crate::timefmt::now_unix());
                let corrupt = matches!(allreduce::fault(),
                    Some(allreduce::Fault::Corrupt { rank, bytes: 0 }) if rank == self.env.rank);
                let req = Request::DistTrain(protocol::DistTrain {
                    phase,
                    shape: *shape,
                    dtype: plan.dtype,
                    iterations,
                    samples,
                    batch: single.as_ref().map_or(0, |t| t.micro_batch),
                    fault: (corrupt && phase == Phase::Ddp).then_some(Fault::Corrupt),
                    compile: plan.compile,
                });
                let what = match phase {
                    Phase::Ddp => format!("the data-parallel training step {}", shape.display()),
                    Phase::Fsdp => format!("the sharded (FSDP2) training step {}", shape.display()),
                    Phase::Single => {
                        format!("the training step {} alone on each rank", shape.display())
                    }
                };
                let a: protocol::DistTrainAnswer = self.ask(&req, *step, || what.clone())?;
                let energy = recorder
                    .zip(a.window)
                    .map(|(r, [t0, t1])| r.window(t0, t1, a.samples.len() as u64 * a.iterations));
                let mut m = train_measurement(
                    a,
                    phase,
                    TrainRun {
                        shape: *shape,
                        dtype: plan.dtype,
                        started,
                        device: &device,
                        accelerator: info.has_accelerator(),
                        iterations,
                    },
                    (phase != Phase::Single).then_some((&group.layout, single.as_ref())),
                );
                m.energy = energy;
                let w = writer.as_deref_mut();
                if phase == Phase::Single {
                    single = m.train.clone().filter(|_| m.is_valid());
                    if single.is_none() {
                        // Without a verified baseline there is nothing to scale against.
                        if let Some(w) = w {
                            crate::say!("FAILED: {what}: {}", m.error.as_deref().unwrap_or(""));
                            w.push(m)?;
                        }
                        break;
                    }
                }
                let Some(w) = w else { continue };
                if !m.is_valid() {
                    crate::say!("FAILED: {what}: {}", m.error.as_deref().unwrap_or(""));
                }
                if let Some(dp) = m.train.as_ref().and_then(|t| t.data_parallel.as_ref()) {
                    crate::say!(
                        "{} {}: {:.0} tokens/s per rank across {} ranks, {:.0} \
                         alone: scaling efficiency {:.1}%",
                        if phase == Phase::Fsdp {
                            "sharded (FSDP2)"
                        } else {
                            "data-parallel"
                        },
                        shape.display(),
                        m.train.as_ref().map_or(0.0, |t| t.tokens_per_s),
                        dp.ranks,
                        dp.single_tokens_per_s,
                        dp.efficiency * 100.0
                    );
                }
                w.push(m)?;
            }
        }
        Ok(())
    }
}

/// What a training measurement across ranks was.
struct TrainRun<'a> {
    shape: Shape,
    dtype: DType,
    started: String,
    device: &'a str,
    accelerator: bool,
    iterations: u64,
}

/// A training step measured across ranks (the harness's answer `a`): alone on every rank, or
/// data-parallel (`ddp`: the rank layout and the verified single-rank step it scales from).
fn train_measurement(
    a: protocol::DistTrainAnswer,
    phase: Phase,
    run: TrainRun,
    ddp: Option<(&RankLayout, Option<&crate::results::TrainInfo>)>,
) -> Measurement {
    let origin = Origin {
        backend: "torch".into(),
        device_kind: if run.accelerator {
            DeviceKind::Gpu
        } else {
            DeviceKind::Cpu
        },
        family: MethodFamily::VendorLibrary,
        device: match ddp {
            Some((l, _)) => format!("{} ranks × {}", l.size, run.device),
            None => run.device.to_string(),
        },
        method: phase.method().into(),
        variant: format!(
            "{}; {}",
            a.variant,
            match ddp {
                Some((l, _)) => format!("{}, launched by {}", l.library, l.launcher),
                None => "every rank alone on its own device at the same time, no communication \
                         (the data-parallel baseline); the slowest rank's time"
                    .into(),
            }
        ),
    };
    let mut m = Measurement::pending(
        BenchKind::Train,
        run.dtype,
        run.shape,
        origin,
        if run.accelerator {
            TimingSource::DeviceTimestamps
        } else {
            TimingSource::WallClock
        },
    );
    m.started_at = run.started;
    m.work.flops = a.flops;
    m.record(a.verification, a.samples, run.iterations);
    if let Some(step_s) = m.stats.as_ref().map(|s| s.median).filter(|s| *s > 0.0) {
        let info = a.figures.at(step_s);
        let tokens_per_s = info.tokens_per_s;
        m.train = Some(TrainInfo {
            data_parallel: ddp.and_then(|(l, single)| {
                single.map(|s| crate::results::DataParallel {
                    ranks: l.size,
                    nodes: l.nodes().len(),
                    library: l.library.clone(),
                    single_tokens_per_s: s.tokens_per_s,
                    single_step_s: s.step_s,
                    efficiency: tokens_per_s / s.tokens_per_s,
                })
            }),
            ..info
        });
    }
    m
}
