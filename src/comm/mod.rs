//! Collectives across processes: the [`Communicator`] the all-reduce benchmark runs on, the
//! launcher checks that catch a job started wrong, and the per-size [`watchdog`] that aborts a
//! hung job instead of letting it wait forever.
//!
//! Two communicators exist: [`SingleProcess`] (always built: one rank, for tests and for a
//! binary built without MPI) and an MPI one behind the `mpi` cargo feature (rsmpi), which is the
//! engine every supercomputer already runs: we build no network layer of our own.

pub mod allreduce;
pub mod job;
pub mod launcher;
#[cfg(feature = "mpi")]
mod mpi;
pub mod nccl_log;
pub mod staged;
pub mod torch;
pub mod watchdog;

use std::time::Duration;

/// A group of ranks that can sum buffers together.
pub trait Communicator {
    /// This process's rank.
    fn rank(&self) -> usize;
    /// Ranks in the group.
    fn size(&self) -> usize;
    /// The library and its version, as it reports itself.
    fn library(&self) -> String;
    /// The method recorded with each measurement (`mpi`).
    fn method(&self) -> String;
    /// Whose code does the reduction: hpcready's own loop unless a library (MPI) does it.
    fn family(&self) -> crate::results::MethodFamily {
        crate::results::MethodFamily::OwnKernel
    }
    /// Every rank's host name, in rank order (a collective call).
    fn hosts(&self) -> Vec<String>;
    /// `recv = Σ_ranks send`, element-wise.
    fn all_reduce(&self, send: &[f32], recv: &mut [f32]);
    /// `buf = Σ_ranks buf`, element-wise, in place.
    fn all_reduce_in_place(&self, buf: &mut [f32]);
    /// The largest `x` over ranks.
    fn max_f64(&self, x: f64) -> f64;
    /// The sum of `x` over ranks.
    fn sum_u64(&self, x: u64) -> u64;
    /// The smallest `x` over ranks.
    fn min_u64(&self, x: u64) -> u64;
    /// Waits until every rank gets here.
    fn barrier(&self);
    /// Arms the watchdog for the step `what` (e.g. a message size): when it has not finished
    /// within `timeout`, the job is aborted with a message naming the step and the ranks that
    /// did not answer.
    fn begin(&self, what: &str, timeout: Duration);
    /// Disarms the watchdog armed by [`Communicator::begin`].
    fn end(&self);
}

/// One process on its own: every collective is the identity.
#[derive(Debug)]
pub struct SingleProcess {
    watchdog: watchdog::Watchdog,
}

impl SingleProcess {
    /// A group of one, with a watchdog that exits the process on a timeout.
    pub fn new() -> Self {
        Self {
            watchdog: watchdog::Watchdog::start(Box::new(|msg: &str| {
                crate::say!("error: {msg}");
                std::process::exit(1)
            })),
        }
    }
}

impl Default for SingleProcess {
    fn default() -> Self {
        Self::new()
    }
}

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn library(&self) -> String {
        "none (single process)".into()
    }
    fn method(&self) -> String {
        "single-process".into()
    }
    fn hosts(&self) -> Vec<String> {
        vec![crate::node::hostname()]
    }
    fn all_reduce(&self, send: &[f32], recv: &mut [f32]) {
        recv.copy_from_slice(send);
    }
    fn all_reduce_in_place(&self, _: &mut [f32]) {}
    fn max_f64(&self, x: f64) -> f64 {
        x
    }
    fn sum_u64(&self, x: u64) -> u64 {
        x
    }
    fn min_u64(&self, x: u64) -> u64 {
        x
    }
    fn barrier(&self) {}
    fn begin(&self, what: &str, timeout: Duration) {
        self.watchdog.arm(what, timeout, None);
    }
    fn end(&self) {
        self.watchdog.disarm();
    }
}

/// The group this process belongs to: MPI's world when built with the `mpi` feature, checked
/// against what the launcher started (`launch`); else a single process, refused when a
/// launcher started several.
pub fn world(launch: &job::Launch) -> anyhow::Result<Box<dyn Communicator>> {
    let launched = match launch {
        job::Launch::Job(j) => j.mpi_launched(),
        _ => None,
    };
    #[cfg(feature = "mpi")]
    {
        let comm = mpi::MpiComm::init()?;
        if let Some(l) = launched.filter(|l| l.ranks > 1)
            && comm.size() == 1
        {
            return Err(launcher::mismatch(&l));
        }
        Ok(Box::new(comm))
    }
    #[cfg(not(feature = "mpi"))]
    {
        if let Some(l) = launched.filter(|l| l.ranks > 1) {
            return Err(launcher::without_mpi(&l));
        }
        Ok(Box::new(SingleProcess::new()))
    }
}
