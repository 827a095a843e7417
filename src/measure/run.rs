//! Running a plan: prepare each case on a backend, verify and sample it, and persist the
//! measurement before the next case starts.

use super::{SamplingPlan, sample};
use crate::backend::{Backend, PrepareError};
use crate::bench::Case;
use crate::node::energy::Meter;
use crate::results::TimingSource;
use crate::results::io::ResultsWriter;
use crate::results::{Measurement, MethodFamily, Origin};
use crate::timefmt::{now_unix, rfc3339};

/// Measures one case. Errors of the kernel (a crash, a failed check) become an invalid
/// measurement; only an unsupported case returns `Err`, so the caller can skip it.
pub fn measure_case(
    backend: &dyn Backend,
    case: &Case,
    plan: &SamplingPlan,
    meter: Option<&Meter>,
) -> Result<Measurement, PrepareError> {
    measure_kernel(backend, case, None, plan, meter)
}

/// [`measure_case`] with one of the backend's [`Backend::kernels`] named. A kernel that fails
/// to prepare at run time is kept as an invalid measurement.
pub fn measure_kernel(
    backend: &dyn Backend,
    case: &Case,
    kernel_name: Option<&str>,
    plan: &SamplingPlan,
    meter: Option<&Meter>,
) -> Result<Measurement, PrepareError> {
    let device = backend.device();
    let started = rfc3339(now_unix());
    let pending = |method: String, variant: String| {
        let origin = Origin {
            backend: backend.name().into(),
            device_kind: backend.device_kind(),
            family: family(backend),
            device: device.name.clone(),
            method,
            variant,
        };
        let mut m = Measurement::pending(
            case.bench,
            case.dtype,
            case.shape,
            origin,
            TimingSource::WallClock,
        );
        m.started_at = started.clone();
        m
    };
    let mut kernel = match backend.prepare_kernel(case, kernel_name) {
        Ok(k) => k,
        Err(PrepareError::Failed(why)) => {
            let mut m = pending(backend.method_for(case, kernel_name), String::new());
            m.error = Some(format!("preparing it failed: {why}"));
            return Ok(m);
        }
        Err(e) => return Err(e),
    };
    let mut m = pending(kernel.method(), kernel.variant());
    m.threads = device.threads;
    m.work = kernel.work();
    match sample(kernel.as_mut(), plan, meter) {
        Ok(s) => {
            m.timing = s.timing;
            m.energy = s.energy;
            m.record(s.verification, s.samples, s.iterations_per_sample);
            if let Some(st) = &m.stats {
                m.train = kernel.train_info(st.median);
            }
        }
        Err(e) => m.error = Some(format!("the kernel failed: {e:#}")),
    }
    Ok(m)
}

/// Whose code a backend runs: the framework's vendor libraries through torch, else ours.
fn family(backend: &dyn Backend) -> MethodFamily {
    if backend.is_framework() {
        MethodFamily::VendorLibrary
    } else {
        MethodFamily::OwnKernel
    }
}

/// Progress callbacks while a plan runs.
pub trait Progress {
    /// A case is starting.
    fn start(&mut self, index: usize, total: usize, case: &Case);
    /// A case finished (or was skipped, with `None`).
    fn finish(&mut self, measurement: Option<&Measurement>);
}

/// No progress display.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: usize, _: usize, _: &Case) {}
    fn finish(&mut self, _: Option<&Measurement>) {}
}

/// Runs `cases` in order, writing each measurement to `writer` as it finishes. Returns notes on
/// cases skipped as unsupported.
pub fn run_cases(
    backend: &dyn Backend,
    cases: &[Case],
    plan: &SamplingPlan,
    meter: Option<&Meter>,
    writer: &mut ResultsWriter,
    progress: &mut dyn Progress,
) -> anyhow::Result<Vec<String>> {
    let mut skipped = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let kernels = backend.kernels(case);
        let names: Vec<Option<&str>> = if kernels.is_empty() {
            vec![None]
        } else {
            kernels.iter().map(|k| Some(k.as_str())).collect()
        };
        for name in names {
            progress.start(i, cases.len(), case);
            match measure_kernel(backend, case, name, plan, meter) {
                Ok(m) => {
                    writer.push(m)?;
                    let last = writer.results().measurements.last();
                    progress.finish(last);
                }
                Err(PrepareError::Unsupported(why)) => {
                    skipped.push(why);
                    progress.finish(None);
                }
                Err(e @ PrepareError::TooLarge(_)) => {
                    return Err(crate::error::input_error(case.to_string(), e.to_string()));
                }
                Err(PrepareError::Failed(_)) => unreachable!("measure_kernel keeps failures"),
            }
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::CpuBackend;
    use crate::bench::{BenchKind, DType, Shape};
    use crate::node::Inventory;
    use crate::results::Results;

    #[test]
    fn runs_and_persists_each_case() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let results = Results::new(Inventory::fixture(), vec![], None);
        let mut writer = ResultsWriter::create(path.clone(), results).unwrap();
        let cases = [
            Case {
                bench: BenchKind::Matmul,
                dtype: DType::F32,
                shape: Shape::square(33),
            },
            Case {
                bench: BenchKind::Matmul,
                dtype: DType::F16,
                shape: Shape::square(33),
            },
            Case {
                bench: BenchKind::Peak,
                dtype: DType::F64,
                shape: Shape::Peak { threads: 1 },
            },
        ];
        let skipped = run_cases(
            &CpuBackend::with_threads(2),
            &cases,
            &SamplingPlan::smoke(),
            None,
            &mut writer,
            &mut Silent,
        )
        .unwrap();
        assert_eq!(skipped.len(), 1, "f16 matmul is not a CPU kernel");
        let on_disk = crate::results::io::load(&path).unwrap();
        assert_eq!(on_disk.measurements.len(), 2);
        assert!(!on_disk.complete);
        let m = &on_disk.measurements[0];
        assert!(m.is_valid(), "{m:?}");
        use crate::backend::cpu::Element;
        assert_eq!(m.method, f32::own_gemm().unwrap_or("cpu/faer"));
        assert!(m.throughput.unwrap().value > 0.0);
        let done = writer.finish(true).unwrap();
        assert!(done.complete && done.finished_at.is_some());
    }
}
