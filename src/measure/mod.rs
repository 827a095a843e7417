//! The sampling loop: verify, warm up, then time repeated samples.
//!
//! Method, for every measurement:
//! 1. One run, then the output is verified against a float64 reference. A kernel that fails
//!    verification is not timed: its measurement is kept, marked invalid and never scored.
//! 2. Warm-up: runs until [`SamplingPlan::warmup`] has passed (caches, page faults, clocks,
//!    thread pools), at least one.
//! 3. Each sample runs the kernel `iterations` times back to back, chosen from the warm-up so a
//!    sample lasts about [`SamplingPlan::target_sample`], to hide timer and dispatch overhead.
//!    The sample's value is its time divided by `iterations`.
//! 4. Samples are taken until both `min_samples` and `min_time` are reached, or until
//!    `max_samples` or `max_time`; whichever bound ends it is the same for every case of a suite.
//! 5. The statistics of [`stats`] summarise the samples; the throughput uses the median.
//!
//! Wall-clock time uses `std::time::Instant` (a monotonic clock); a backend with its own device
//! timer returns that instead and the result says which was used.

pub mod run;

use crate::backend::Kernel;
use crate::bench::verify::Verification;
use crate::node::energy::{EnergyRecord, Meter};
use crate::results::TimingSource;
use std::time::{Duration, Instant};

/// How long and how often to sample one case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingPlan {
    /// Warm-up time before sampling.
    pub warmup: Duration,
    /// Aimed-for duration of one sample.
    pub target_sample: Duration,
    /// Fewest samples.
    pub min_samples: usize,
    /// Most samples.
    pub max_samples: usize,
    /// Keep sampling at least this long (once `min_samples` are in).
    pub min_time: Duration,
    /// Stop after this long (once three samples are in).
    pub max_time: Duration,
}

impl SamplingPlan {
    /// The quick suite's plan: about a second per case.
    pub fn quick() -> Self {
        Self {
            warmup: Duration::from_millis(100),
            target_sample: Duration::from_millis(20),
            min_samples: 10,
            max_samples: 200,
            min_time: Duration::from_millis(500),
            max_time: Duration::from_secs(2),
        }
    }

    /// The standard suite's plan: a few seconds per case.
    pub fn standard() -> Self {
        Self {
            warmup: Duration::from_millis(300),
            target_sample: Duration::from_millis(50),
            min_samples: 20,
            max_samples: 500,
            min_time: Duration::from_secs(2),
            max_time: Duration::from_secs(10),
        }
    }

    /// A plan for tests: a few short samples.
    pub fn smoke() -> Self {
        Self {
            warmup: Duration::ZERO,
            target_sample: Duration::from_millis(2),
            min_samples: 3,
            max_samples: 5,
            min_time: Duration::ZERO,
            max_time: Duration::from_millis(200),
        }
    }
}

/// A fixed sampling plan, for collectives: every rank must run the same number of operations,
/// so the count is set in advance rather than adapted to the time taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedPlan {
    /// Untimed runs first (connections, registration caches).
    pub warmup: u64,
    /// Samples taken.
    pub samples: usize,
    /// Back-to-back runs per sample.
    pub iterations: u64,
}

/// Samples `run` under `plan`: `sync` before each sample (a barrier), then `iterations` runs
/// timed together on the monotonic clock; each sample's seconds per run goes through `combine`
/// (for a collective, the slowest rank's: nccl-tests' time). The one fixed-count loop every
/// collective uses; [`sample`] is the adaptive one for kernels.
pub fn sample_fixed<E>(
    plan: &FixedPlan,
    mut sync: impl FnMut(),
    mut run: impl FnMut() -> Result<(), E>,
    mut combine: impl FnMut(f64) -> f64,
) -> Result<Vec<f64>, E> {
    for _ in 0..plan.warmup {
        run()?;
    }
    let iterations = plan.iterations.max(1);
    let mut samples = Vec::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        sync();
        let t = Instant::now();
        for _ in 0..iterations {
            run()?;
        }
        samples.push(combine(t.elapsed().as_secs_f64() / iterations as f64));
    }
    Ok(samples)
}

/// What the sampling loop produced.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The verification of the first run's output.
    pub verification: Verification,
    /// Seconds per iteration, one value per sample; empty when verification failed.
    pub samples: Vec<f64>,
    /// Iterations in each sample.
    pub iterations_per_sample: u64,
    /// Where the times came from.
    pub timing: TimingSource,
    /// The energy of the timed samples, when a meter was given and verification passed.
    pub energy: Option<EnergyRecord>,
}

fn timed(kernel: &mut dyn Kernel, iterations: u64) -> anyhow::Result<(Duration, TimingSource)> {
    let start = Instant::now();
    let device = kernel.run(iterations)?;
    let wall = start.elapsed();
    Ok(match device {
        Some(d) => (d, kernel.timing_source()),
        None => (wall, TimingSource::WallClock),
    })
}

/// Verifies `kernel`, then samples it under `plan`; with a `meter`, reads the node's energy
/// counter around the timed samples (the warm-up excluded).
pub fn sample(
    kernel: &mut dyn Kernel,
    plan: &SamplingPlan,
    meter: Option<&Meter>,
) -> anyhow::Result<Sampled> {
    let (first, mut timing) = timed(kernel, 1)?;
    let verification = kernel.verify();
    if !verification.passed {
        return Ok(Sampled {
            verification,
            samples: Vec::new(),
            iterations_per_sample: 0,
            timing,
            energy: None,
        });
    }
    // Warm-up, and an estimate of one iteration's time (the fastest seen).
    let mut per_iter = first;
    let warm_start = Instant::now();
    while warm_start.elapsed() < plan.warmup {
        let (t, _) = timed(kernel, 1)?;
        per_iter = per_iter.min(t);
    }
    let target = plan.target_sample.as_secs_f64();
    let iterations = ((target / per_iter.as_secs_f64().max(1e-9)).ceil() as u64).clamp(1, 1 << 30);

    let mut samples = Vec::with_capacity(plan.min_samples);
    let before = meter.map(Meter::snapshot);
    let start = Instant::now();
    loop {
        let (t, source) = timed(kernel, iterations)?;
        timing = source;
        samples.push(t.as_secs_f64() / iterations as f64);
        let elapsed = start.elapsed();
        let enough = samples.len() >= plan.min_samples && elapsed >= plan.min_time;
        let too_long = samples.len() >= 3 && elapsed >= plan.max_time;
        if enough || too_long || samples.len() >= plan.max_samples {
            break;
        }
    }
    let runs = samples.len() as u64 * iterations;
    let energy = meter.zip(before).map(|(m, before)| m.since(before, runs));
    Ok(Sampled {
        verification,
        samples,
        iterations_per_sample: iterations,
        timing,
        energy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Work;
    use crate::bench::verify::Checker;

    /// A kernel with a fixed cost per iteration and a verification outcome set by the test.
    struct Fake {
        cost: Duration,
        ok: bool,
        runs: u64,
    }

    impl Kernel for Fake {
        fn method(&self) -> String {
            "test/fake".into()
        }
        fn variant(&self) -> String {
            "fixed cost".into()
        }
        fn work(&self) -> Work {
            Work {
                flops: 1e9,
                bytes: 0.0,
            }
        }
        fn run(&mut self, iterations: u64) -> anyhow::Result<Option<Duration>> {
            self.runs += iterations;
            Ok(Some(self.cost * iterations as u32))
        }
        fn verify(&mut self) -> Verification {
            let mut c = Checker::new(1e-6);
            c.check(if self.ok { 1.0 } else { 2.0 }, 1.0, 1.0, || "x".into());
            c.finish(1, "test")
        }
    }

    #[test]
    fn device_timing_is_used_and_divided_by_iterations() {
        let mut k = Fake {
            cost: Duration::from_micros(100),
            ok: true,
            runs: 0,
        };
        let s = sample(&mut k, &SamplingPlan::smoke(), None).unwrap();
        assert_eq!(s.timing, TimingSource::DeviceTimestamps);
        assert!(s.samples.len() >= 3);
        assert_eq!(s.iterations_per_sample, 20); // 2 ms target / 100 µs
        for x in &s.samples {
            assert!((x - 1e-4).abs() < 1e-12);
        }
    }

    #[test]
    fn the_fixed_loop_syncs_before_every_sample_and_combines_each() {
        let (mut syncs, mut runs) = (0, 0);
        let plan = FixedPlan {
            warmup: 2,
            samples: 4,
            iterations: 3,
        };
        let samples = sample_fixed(
            &plan,
            || syncs += 1,
            || {
                runs += 1;
                Ok::<(), ()>(())
            },
            |_| 7.0,
        )
        .unwrap();
        assert_eq!(samples, vec![7.0; 4]);
        assert_eq!((syncs, runs), (4, 2 + 4 * 3));
        // An error in a run ends the loop with it.
        let failed = sample_fixed(&plan, || {}, || Err("lost"), |t| t);
        assert_eq!(failed, Err("lost"));
    }

    #[test]
    fn failed_verification_is_not_timed() {
        let mut k = Fake {
            cost: Duration::from_micros(100),
            ok: false,
            runs: 0,
        };
        let s = sample(&mut k, &SamplingPlan::smoke(), None).unwrap();
        assert!(!s.verification.passed);
        assert!(s.samples.is_empty());
        assert_eq!(k.runs, 1);
    }
}
