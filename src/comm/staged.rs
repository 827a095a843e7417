//! All-reduce across the GPUs of one node through wgpu, staged through host memory: wgpu has no
//! GPU-to-GPU path, so each iteration copies every GPU's buffer to the host, sums there and
//! writes the sum back to every GPU. Labelled "host-staged" wherever it appears (method
//! `wgpu/host-staged`) and never compared as if it were NCCL's busbw: it measures PCIe and host
//! memory, which is what a framework without NCCL/RCCL would get.

use super::allreduce::{Options, count_wrong, input};
use crate::backend::gpu::GpuContext;
use crate::bench::Shape;
use crate::measure::{FixedPlan, sample_fixed};
use crate::results::{DeviceKind, Measurement, MethodFamily, Origin};
use std::sync::Arc;

/// One GPU's buffers.
struct Slot {
    ctx: Arc<GpuContext>,
    data: wgpu::Buffer,
    out: wgpu::Buffer,
}

/// One host-staged all-reduce over every slot: read all (in parallel), sum, write back.
fn all_reduce(slots: &[Slot], bytes: u64, inplace: bool, sum: &mut [f32]) -> anyhow::Result<()> {
    let parts: Vec<anyhow::Result<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = slots
            .iter()
            .map(|slot| s.spawn(move || slot.ctx.read(&slot.data, bytes)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a readback thread panicked")))
            })
            .collect()
    });
    sum.fill(0.0);
    for p in parts {
        let p = p?;
        let v: &[f32] = bytemuck::cast_slice(&p);
        for (a, b) in sum.iter_mut().zip(v) {
            *a += *b;
        }
    }
    let sum: &[f32] = sum;
    let written: Vec<anyhow::Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = slots
            .iter()
            .map(|slot| {
                s.spawn(move || {
                    let target = if inplace { &slot.data } else { &slot.out };
                    slot.ctx.write(target, bytemuck::cast_slice(sum))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a write thread panicked")))
            })
            .collect()
    });
    written.into_iter().collect()
}

fn fill(slots: &[Slot], count: usize) -> anyhow::Result<()> {
    for (g, slot) in slots.iter().enumerate() {
        let v: Vec<f32> = (0..count).map(|i| input(g, i)).collect();
        slot.ctx.write(&slot.data, bytemuck::cast_slice(&v))?;
    }
    Ok(())
}

/// Runs every size on `gpus` (at least 2), out of place then in place, handing each finished
/// measurement to `done`.
pub fn run(
    gpus: &[Arc<GpuContext>],
    opts: &Options,
    done: &mut dyn FnMut(&Measurement) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Measurement>> {
    let n = gpus.len();
    let names: Vec<String> = gpus.iter().map(|g| g.summary.name.clone()).collect();
    let device = format!("{n} GPUs in one process ({})", names.join(", "));
    let mut out = Vec::new();
    for &bytes in &opts.sizes {
        let count = bytes as usize / 4;
        let slots: Vec<Slot> = gpus
            .iter()
            .map(|ctx| Slot {
                ctx: ctx.clone(),
                data: ctx.storage_zeroed("allreduce-data", bytes),
                out: ctx.storage_zeroed("allreduce-out", bytes),
            })
            .collect();
        let mut sum = vec![0f32; count];
        for inplace in [false, true] {
            let started_at = crate::timefmt::rfc3339(crate::timefmt::now_unix());
            let shape = Shape::Allreduce {
                bytes,
                ranks: n as u64,
                inplace,
            };
            // The check: fresh inputs, one all-reduce, every element of every GPU read back.
            fill(&slots, count)?;
            all_reduce(&slots, bytes, inplace, &mut sum)?;
            let mut wrong = 0u64;
            let mut first: Option<usize> = None;
            for slot in &slots {
                let got = slot
                    .ctx
                    .read(if inplace { &slot.data } else { &slot.out }, bytes)?;
                let (w, f) = count_wrong(bytemuck::cast_slice(&got), n);
                wrong += w;
                first = match (first, f) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            let iterations = opts.iterations(bytes);
            let mut samples = Vec::new();
            let mut before = None;
            if wrong == 0 {
                fill(&slots, count)?;
                before = opts.meter.as_ref().map(|m| m.snapshot());
                let plan = FixedPlan {
                    warmup: iterations.min(2),
                    samples: opts.samples,
                    iterations,
                };
                samples = sample_fixed(
                    &plan,
                    || {},
                    || all_reduce(&slots, bytes, inplace, &mut sum),
                    |t| t,
                )?;
            }
            let total = (count * n) as u64;
            let placement = if inplace { "in-place" } else { "out-of-place" };
            let origin = Origin {
                backend: "gpu".into(),
                device_kind: DeviceKind::Collective,
                family: MethodFamily::OwnKernel,
                device: device.clone(),
                method: "wgpu/host-staged".into(),
                variant: format!(
                    "host-staged (GPU → host copy, sum on the host, host → GPU copy; not NCCL) \
                     {placement}, {iterations} per sample"
                ),
            };
            let error = (wrong > 0).then(|| {
                format!(
                    "{wrong} wrong elements in the host-staged {placement} all-reduce of \
                     {bytes} B: the result is invalid"
                )
            });
            let verification =
                super::allreduce::exact_check(wrong, first.map_or(0, |f| f as u64), total, "GPUs");
            let runs = samples.len() as u64 * iterations;
            let mut m = super::allreduce::measurement(
                origin,
                shape,
                started_at,
                verification,
                (samples, iterations),
                (1, wrong),
                error,
            );
            m.energy = opts
                .meter
                .as_ref()
                .zip(before)
                .map(|(m, a)| m.since(a, runs));
            done(&m)?;
            out.push(m);
        }
    }
    Ok(out)
}
