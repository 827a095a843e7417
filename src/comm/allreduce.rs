//! The all-reduce benchmark: sum of f32 buffers across every rank, message sizes by factors of
//! 2, out of place and in place, each size checked element by element and timed the way
//! nccl-tests times it (the slowest rank's time), under a per-size watchdog.
//!
//! Data: element `i` of rank `r` holds `3·(i mod 17) + (r mod 13) − 20`, small integers whose
//! sums stay exact in f32 for up to ~270 000 ranks whatever order the library adds them in, so
//! every element of the result can be compared exactly with the closed-form sum.

use super::Communicator;
use crate::bench::suites::Suite;
use crate::bench::verify::Verification;
use crate::bench::{BenchKind, DType, Shape};
use crate::error::input_error;
use crate::measure::{FixedPlan, sample_fixed};
use crate::results::TimingSource;
use crate::results::{CollectiveInfo, DeviceKind, Measurement, Origin};
use std::time::Duration;

/// How the sizes are swept and timed.
#[derive(Debug, Clone)]
pub struct Options {
    /// Message sizes in bytes (per rank), each a multiple of 4.
    pub sizes: Vec<u64>,
    /// Timed samples per size and placement.
    pub samples: usize,
    /// Bytes each sample should all-reduce at least (sets iterations per sample).
    pub traffic_per_sample: u64,
    /// Cap on iterations per sample (small messages).
    pub max_iterations: u64,
    /// Per-size limit: warm-up, check and samples of one size, both placements.
    pub timeout: Duration,
    /// The node's energy counter, read around each size's timed samples (rank 0's node).
    pub meter: Option<crate::node::energy::Meter>,
}

/// The suite's sizes: 8 B up to 64 MiB (quick), 256 MiB (standard) or 1 GiB (full), by ×2.
pub fn suite_sizes(suite: Suite) -> Vec<u64> {
    let max: u64 = match suite {
        Suite::Quick => 64 << 20,
        Suite::Standard => 256 << 20,
        Suite::Full => 1 << 30,
    };
    std::iter::successors(Some(8u64), |s| Some(s * 2))
        .take_while(|&s| s <= max)
        .collect()
}

/// Checks user-given sizes: whole f32 elements, at least one.
pub fn check_sizes(sizes: &[u64]) -> anyhow::Result<()> {
    if sizes.is_empty() {
        return Err(input_error("--sizes", "the list is empty"));
    }
    if let Some(bad) = sizes.iter().find(|&&s| s < 4 || s % 4 != 0) {
        return Err(input_error(
            "--sizes",
            format!(
                "{bad} bytes is not a whole number of f32 elements: all-reduce sizes are bytes, \
                 multiples of 4 (e.g. 8,1048576)"
            ),
        ));
    }
    Ok(())
}

impl Options {
    /// The plan for a suite (`smoke`: a few short samples, for tests).
    pub fn for_suite(
        suite: Suite,
        smoke: bool,
        sizes: Option<Vec<u64>>,
        timeout: Duration,
    ) -> Self {
        let (samples, traffic) = match (smoke, suite) {
            (true, _) => (3, 1 << 20),
            (false, Suite::Quick) => (5, 16 << 20),
            (false, _) => (10, 64 << 20),
        };
        Self {
            sizes: sizes.unwrap_or_else(|| suite_sizes(suite)),
            samples,
            traffic_per_sample: traffic,
            max_iterations: 1000,
            meter: None,
            timeout,
        }
    }

    /// Iterations in each sample of `bytes`.
    pub fn iterations(&self, bytes: u64) -> u64 {
        (self.traffic_per_sample / bytes.max(1)).clamp(1, self.max_iterations)
    }
}

/// Element `i` of rank `rank`'s input.
pub fn input(rank: usize, i: usize) -> f32 {
    (3 * (i % 17) as i64 + (rank % 13) as i64 - 20) as f32
}

/// The exact sum over `ranks` ranks of element `i`, given `rank_sum` = Σ_r (r mod 13).
fn expected(ranks: usize, rank_sum: i64, i: usize) -> f32 {
    (ranks as i64 * (3 * (i % 17) as i64 - 20) + rank_sum) as f32
}

/// Σ_{r < ranks} (r mod 13).
fn rank_sum(ranks: usize) -> i64 {
    (0..ranks).map(|r| (r % 13) as i64).sum()
}

/// The verification of an all-reduce checked element by element against the exact sum over
/// `over` (ranks, GPUs): `wrong` elements, the first at index `first`, of `total`.
pub fn exact_check(wrong: u64, first: u64, total: u64, over: &str) -> Verification {
    Verification {
        passed: wrong == 0,
        max_rel_error: if wrong == 0 { 0.0 } else { 1.0 },
        tolerance: 0.0,
        checked: total,
        total,
        reference: format!(
            "the exact sum over {over} (integer-valued f32), every element of every one"
        ),
        first_failure: (wrong > 0)
            .then(|| format!("{wrong} wrong elements over all {over}, first at index {first}")),
    }
}

/// Fills `buf` with this rank's input.
fn fill(buf: &mut [f32], rank: usize) {
    for (i, x) in buf.iter_mut().enumerate() {
        *x = input(rank, i);
    }
}

/// Wrong elements of a result and the first bad index.
pub fn count_wrong(result: &[f32], ranks: usize) -> (u64, Option<usize>) {
    let s = rank_sum(ranks);
    let mut wrong = 0u64;
    let mut first = None;
    for (i, &x) in result.iter().enumerate() {
        if x != expected(ranks, s, i) {
            wrong += 1;
            first.get_or_insert(i);
        }
    }
    (wrong, first)
}

/// Test-only fault injection (builds with the `test-hooks` feature only; release builds
/// never read it), from `HPCREADY_FAULT` (`hang:RANK:BYTES` sleeps forever
/// before that size; `kill:RANK:BYTES` kills that rank with SIGKILL; `corrupt:RANK:BYTES` flips
/// one element of that rank's result). Used by the integration tests to show that a hung or
/// dead rank ends the job with the finished sizes kept, and a wrong element fails the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub(crate) enum Fault {
    Hang { rank: usize, bytes: u64 },
    Kill { rank: usize, bytes: u64 },
    Corrupt { rank: usize, bytes: u64 },
}

#[cfg(feature = "test-hooks")]
pub(crate) fn fault() -> Option<Fault> {
    let v = std::env::var("HPCREADY_FAULT").ok()?;
    let mut it = v.split(':');
    let kind = it.next()?;
    let rank = it.next()?.parse().ok()?;
    let bytes = it.next()?.parse().ok()?;
    match kind {
        "hang" => Some(Fault::Hang { rank, bytes }),
        "kill" => Some(Fault::Kill { rank, bytes }),
        "corrupt" => Some(Fault::Corrupt { rank, bytes }),
        _ => None,
    }
}

/// Without the `test-hooks` feature there are no faults.
#[cfg(not(feature = "test-hooks"))]
pub(crate) fn fault() -> Option<Fault> {
    None
}

/// Sizes whose two buffers fit in each rank's share of the memory available on its node,
/// agreed by all ranks; the rest are returned as notes.
pub fn fitting_sizes(
    comm: &dyn Communicator,
    sizes: &[u64],
    available: u64,
    local_ranks: usize,
) -> (Vec<u64>, Vec<String>) {
    let share = if available == 0 {
        u64::MAX
    } else {
        available / local_ranks.max(1) as u64 / 10 * 9
    };
    let share = comm.min_u64(share);
    let mut keep = Vec::new();
    let mut notes = Vec::new();
    for &s in sizes {
        if s.saturating_mul(2) <= share {
            keep.push(s);
        } else {
            notes.push(format!(
                "allreduce {s} B skipped: two buffers per rank need {}, each rank's share of \
                 the node's free memory is {}",
                crate::node::human_bytes(s.saturating_mul(2)),
                crate::node::human_bytes(share)
            ));
        }
    }
    (keep, notes)
}

/// One size and placement, measured on every rank; every rank returns the same measurement.
fn measure_one(
    comm: &dyn Communicator,
    opts: &Options,
    bytes: u64,
    inplace: bool,
    nodes: usize,
    send: &mut [f32],
    recv: &mut [f32],
) -> Measurement {
    let n = comm.size();
    let rank = comm.rank();
    let started_at = crate::timefmt::rfc3339(crate::timefmt::now_unix());
    let shape = Shape::Allreduce {
        bytes,
        ranks: n as u64,
        inplace,
    };
    let count = send.len();
    // The check: fresh inputs, one all-reduce, every element of every rank compared.
    fill(send, rank);
    if inplace {
        comm.all_reduce_in_place(send);
    } else {
        recv.fill(f32::NAN);
        comm.all_reduce(send, recv);
    }
    let result: &mut [f32] = if inplace { send } else { recv };
    if let Some(Fault::Corrupt { rank: r, bytes: b }) = fault()
        && r == rank
        && b == bytes
        && let Some(last) = result.last_mut()
    {
        // What a bad link or reduction does: one element of this rank's result is off.
        *last += 1.0;
    }
    let (wrong, first) = count_wrong(result, n);
    let wrong = comm.sum_u64(wrong);
    let first = comm.min_u64(first.map_or(u64::MAX, |f| f as u64));
    let total = (count * n) as u64;
    let verification = exact_check(wrong, first, total, "ranks");
    let iterations = opts.iterations(bytes);
    let mut samples = Vec::new();
    let mut before = None;
    if wrong == 0 {
        fill(send, rank);
        let plan = FixedPlan {
            warmup: iterations.min(5),
            samples: opts.samples,
            iterations,
        };
        before = opts.meter.as_ref().map(|m| m.snapshot());
        samples = sample_fixed(
            &plan,
            || comm.barrier(),
            || {
                if inplace {
                    comm.all_reduce_in_place(send);
                } else {
                    comm.all_reduce(send, recv);
                }
                Ok::<(), std::convert::Infallible>(())
            },
            // nccl-tests' time: the slowest rank's.
            |mine| comm.max_f64(mine),
        )
        .unwrap_or_else(|never| match never {});
    }
    let placement = if inplace { "in-place" } else { "out-of-place" };
    let origin = Origin {
        backend: comm.method(),
        device_kind: DeviceKind::Collective,
        family: comm.family(),
        device: format!(
            "{n} ranks on {nodes} node{}",
            if nodes == 1 { "" } else { "s" }
        ),
        method: comm.method(),
        variant: format!("MPI_Allreduce sum f32 {placement}, {iterations} per sample"),
    };
    let error = (wrong > 0).then(|| {
        format!(
            "{wrong} wrong elements (first at index {first}) in the {placement} all-reduce of \
             {bytes} B: the result is invalid"
        )
    });
    let runs = samples.len() as u64 * iterations;
    let mut m = measurement(
        origin,
        shape,
        started_at,
        verification,
        (samples, iterations),
        (nodes, wrong),
        error,
    );
    m.energy = opts
        .meter
        .as_ref()
        .zip(before)
        .map(|(m, a)| m.since(a, runs));
    m
}

/// The measurement of one f32 all-reduce size from `origin` (MPI or host-staged): the exact
/// check and the samples recorded, `error` when elements came back wrong, and algbw, busbw and
/// time at the median (zeros when nothing was timed) with the nodes and the wrong elements.
pub fn measurement(
    origin: Origin,
    shape: Shape,
    started_at: String,
    verification: Verification,
    (samples, iterations): (Vec<f64>, u64),
    (nodes, wrong): (usize, u64),
    error: Option<String>,
) -> Measurement {
    let bytes = match shape {
        Shape::Allreduce { bytes, .. } => bytes,
        _ => 0,
    };
    let mut m = Measurement::pending(
        BenchKind::Allreduce,
        DType::F32,
        shape,
        origin,
        TimingSource::WallClock,
    );
    m.started_at = started_at;
    m.error = error;
    m.record(verification, samples, iterations);
    let median = m.stats.as_ref().map(|s| s.median).filter(|t| *t > 0.0);
    m.collective = Some(CollectiveInfo {
        algbw_gbs: median.map_or(0.0, |t| bytes as f64 / t / 1e9),
        busbw_gbs: median.map_or(0.0, |t| m.work.bytes / t / 1e9),
        time_us: median.map_or(0.0, |t| t * 1e6),
        nodes,
        wrong: Some(wrong),
    });
    m
}

/// Runs every size, out of place then in place, handing each finished measurement to `done`
/// (rank 0 writes it to disk before the next size starts). Returns the measurements.
pub fn run(
    comm: &dyn Communicator,
    opts: &Options,
    nodes: usize,
    done: &mut dyn FnMut(&Measurement) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Measurement>> {
    let max = opts.sizes.iter().copied().max().unwrap_or(0) as usize / 4;
    let mut send = vec![0f32; max];
    let mut recv = vec![0f32; max];
    let mut out = Vec::new();
    for &bytes in &opts.sizes {
        let count = bytes as usize / 4;
        match fault() {
            Some(Fault::Hang { rank, bytes: b }) if rank == comm.rank() && b == bytes => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            Some(Fault::Kill { rank, bytes: b }) if rank == comm.rank() && b == bytes => {
                // SAFETY: sending SIGKILL to this very process.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
            }
            _ => {}
        }
        comm.begin(&format!("allreduce of {bytes} B"), opts.timeout);
        for inplace in [false, true] {
            let m = measure_one(
                comm,
                opts,
                bytes,
                inplace,
                nodes,
                &mut send[..count],
                &mut recv[..count],
            );
            done(&m)?;
            out.push(m);
        }
        comm.end();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::SingleProcess;

    #[test]
    fn sums_are_exact_for_many_ranks() {
        // Σ_r input(r, i) equals the closed form for every i and rank count.
        for ranks in [1, 2, 3, 4, 13, 14, 100] {
            let s = rank_sum(ranks);
            for i in 0..40 {
                let direct: i64 = (0..ranks).map(|r| input(r, i) as i64).sum();
                assert_eq!(expected(ranks, s, i) as i64, direct, "ranks {ranks} i {i}");
            }
        }
    }

    #[test]
    fn a_wrong_element_is_counted_with_its_index() {
        let mut v: Vec<f32> = (0..100).map(|i| expected(4, rank_sum(4), i)).collect();
        assert_eq!(count_wrong(&v, 4), (0, None));
        v[37] += 1.0;
        v[90] = f32::NAN;
        assert_eq!(count_wrong(&v, 4), (2, Some(37)));
    }

    #[test]
    fn sizes_by_suite_and_checks() {
        let q = suite_sizes(Suite::Quick);
        assert_eq!((q[0], *q.last().unwrap()), (8, 64 << 20));
        assert_eq!(*suite_sizes(Suite::Standard).last().unwrap(), 256 << 20);
        assert_eq!(*suite_sizes(Suite::Full).last().unwrap(), 1 << 30);
        assert!(check_sizes(&[8, 1024]).is_ok());
        for bad in [&[][..], &[6], &[0], &[2]] {
            let e = check_sizes(bad).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2);
        }
    }

    #[test]
    fn single_process_measures_and_checks() {
        let comm = SingleProcess::new();
        let opts = Options {
            sizes: vec![8, 4096],
            samples: 2,
            traffic_per_sample: 1 << 16,
            max_iterations: 10,
            timeout: Duration::from_secs(60),
            meter: None,
        };
        let mut written = 0;
        let ms = run(&comm, &opts, 1, &mut |_| {
            written += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((ms.len(), written), (4, 4));
        for m in &ms {
            assert!(m.verification.passed, "{m:?}");
            assert_eq!(m.samples_s.len(), 2);
            // One rank moves nothing over a bus: busbw 0, algbw finite.
            let c = m.collective.as_ref().unwrap();
            assert_eq!(c.busbw_gbs, 0.0);
            assert!(c.algbw_gbs > 0.0);
        }
        assert_eq!(ms[1].shape.display(), "bytes=8 ranks=1 inplace=true");
    }
}
