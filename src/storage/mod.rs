//! `run --bench io`: checkpoint, metadata and data-loading I/O on a directory, every rank at
//! once.
//!
//! Method, per phase: all ranks meet at a barrier, each times its own operation, and the phase's
//! figure is the total over ranks divided by the slowest rank's time (IOR's and mdtest's
//! aggregate, not a mean of rates). In order:
//! 1. metadata (mdtest's pattern): create, stat, open-read and remove `files` files of 4 KiB in
//!    each rank's own directory; ops/s.
//! 2. checkpoint write: each rank writes its shard in 16 MiB calls and fsyncs it.
//! 3. checkpoint read: each shard is dropped from the page cache (`posix_fadvise(DONTNEED)`
//!    after the fsync; `mincore` says how much stayed) and read back whole against its checksum.
//! 4. data loading: dropped again, then one shuffled epoch of 128 KiB reads of the shard.
//!
//! Each rank works in its own `hpcready-io-<host>-<pid>-r<rank>` directory and removes it at
//! the end, on an error and on SIGINT/SIGTERM (checked between operations); a killed process
//! leaves it, and the bench names it when it starts.

pub mod fs;
pub mod ops;

use crate::comm::Communicator;
use crate::node::energy::{EnergyRecord, Meter};
use ops::OpError;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes a checkpoint of the harness's model takes per parameter: f32 weights and AdamW's two
/// f32 moments (torch's model and optimizer state dicts, as DCP saves them).
pub const CHECKPOINT_BYTES_PER_PARAMETER: u64 = 12;

pub use crate::results::storage::{IoOp, IoPhase, MIN_BYTES_PER_NODE, MIN_SECONDS, StorageRun};

/// What the bench does on each rank.
#[derive(Debug, Clone)]
pub struct IoPlan {
    /// The directory (canonical).
    pub dir: PathBuf,
    /// This rank's shard, bytes.
    pub shard_bytes: u64,
    /// Small files per rank.
    pub files: u64,
    /// Longest a phase may take before the job is aborted.
    pub timeout: Duration,
    /// Test hook: flip a byte of rank 0's shard before it is read back.
    pub corrupt: bool,
}

/// Most random reads per rank (an 8 GiB epoch).
pub const MAX_SAMPLES: usize = 1 << 16;

/// Why the bench stopped.
#[derive(Debug, thiserror::Error)]
pub enum IoFailure {
    /// This rank's operation failed.
    #[error("{phase}: {error}")]
    Mine {
        /// The phase.
        phase: &'static str,
        /// What failed, naming the file.
        error: OpError,
    },
    /// Another rank's did; it said why.
    #[error("{phase}: another rank failed (its message names the file)")]
    Other {
        /// The phase.
        phase: &'static str,
    },
}

/// This rank's working directory, removed (with whatever is in it) when dropped.
#[derive(Debug)]
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    /// Creates `hpcready-io-<host>-<pid>-r<rank>` under `dir`.
    pub fn create(dir: &Path, rank: usize) -> std::io::Result<Self> {
        let host = crate::node::safe_name(&crate::node::hostname());
        let p = dir.join(format!("hpcready-io-{host}-{}-r{rank}", std::process::id()));
        std::fs::create_dir(&p)?;
        Ok(Self(p))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            crate::say!(
                "warning: could not remove {}: {e}; remove it by hand",
                self.0.display()
            );
        }
    }
}

/// Runs every phase on this rank, in step with the others; `done` gets each phase (on every
/// rank) as it finishes, to save it before the next starts.
pub fn run(
    plan: &IoPlan,
    work: &WorkDir,
    comm: &dyn Communicator,
    meter: Option<&Meter>,
    mut done: impl FnMut(&IoPhase) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let rank = comm.rank();
    let phase = |op: IoOp, f: &mut dyn FnMut() -> Result<(u64, u64), OpError>| {
        timed(comm, meter, plan.timeout, op, f)
    };
    let files = ops::small_files(&work.0, plan.files);
    for (op, f) in [
        (
            IoOp::Create,
            ops::create_files as fn(&[PathBuf]) -> Result<(), OpError>,
        ),
        (IoOp::Stat, ops::stat_files),
        (IoOp::OpenRead, ops::read_files),
        (IoOp::Remove, ops::remove_files),
    ] {
        let bytes = if matches!(op, IoOp::Create | IoOp::OpenRead) {
            plan.files * ops::SMALL_FILE as u64
        } else {
            0
        };
        let p = phase(op, &mut || f(&files).map(|()| (bytes, plan.files)))?;
        done(&p)?;
    }
    let shard = work.0.join("shard");
    let pattern = ops::Pattern::new(rank);
    let chunks = plan.shard_bytes.div_ceil(ops::CHUNK as u64);
    let p = phase(IoOp::CheckpointWrite, &mut || {
        ops::write_shard(&shard, &pattern, plan.shard_bytes).map(|()| (plan.shard_bytes, chunks))
    })?;
    done(&p)?;
    // Untimed: the checksum the shard must read back as, and the test hook's corruption.
    let expected = pattern.checksum(plan.shard_bytes);
    if plan.corrupt && rank == 0 {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&shard)?;
        let mut b = [0u8; 1];
        f.read_at(&mut b, plan.shard_bytes / 2)?;
        f.write_at(&[!b[0]], plan.shard_bytes / 2)?;
        f.sync_all()?;
    }
    let resident = dropped(comm, &shard)?;
    let mut sum = 0;
    let mut p = phase(IoOp::CheckpointRead, &mut || {
        sum = ops::read_shard(&shard)?;
        Ok((plan.shard_bytes, chunks))
    })?;
    let ok = comm.min_u64(u64::from(sum == expected)) == 1;
    if sum != expected {
        crate::say!(
            "error: rank {rank}: {} read back with checksum {sum:016x}, written as {expected:016x}",
            shard.display()
        );
    }
    p.verified = Some(ok);
    p.resident = Some(resident);
    if !ok {
        p.rate = None;
    }
    done(&p)?;
    let offsets = ops::shuffled_samples(plan.shard_bytes, 0xC0FFEE + rank as u64, MAX_SAMPLES);
    let resident = dropped(comm, &shard)?;
    let mut p = phase(IoOp::RandomRead, &mut || {
        ops::random_reads(&shard, &offsets).map(|b| (b, offsets.len() as u64))
    })?;
    p.resident = Some(resident);
    done(&p)
}

/// Drops `shard` from the page cache on every rank; the largest fraction left resident.
fn dropped(comm: &dyn Communicator, shard: &Path) -> anyhow::Result<f64> {
    let r = ops::drop_cache(shard);
    let failed = comm.max_f64(if r.is_err() { 1.0 } else { 0.0 });
    match r {
        Ok(f) if failed == 0.0 => Ok(comm.max_f64(f)),
        Ok(_) => Err(IoFailure::Other {
            phase: "dropping the shard from the page cache",
        }
        .into()),
        Err(error) => Err(IoFailure::Mine {
            phase: "dropping the shard from the page cache",
            error,
        }
        .into()),
    }
}

/// Times `f` on every rank at once: the slowest rank's time, the totals, every rank's time.
fn timed(
    comm: &dyn Communicator,
    meter: Option<&Meter>,
    timeout: Duration,
    op: IoOp,
    f: &mut dyn FnMut() -> Result<(u64, u64), OpError>,
) -> anyhow::Result<IoPhase> {
    comm.barrier();
    comm.begin(op.name(), timeout);
    let before = meter.map(Meter::snapshot);
    let t = Instant::now();
    let r = f();
    let secs = t.elapsed().as_secs_f64();
    let after = meter.map(Meter::snapshot);
    comm.end();
    let failed = comm.max_f64(if r.is_err() { 1.0 } else { 0.0 });
    let (bytes, count) = match r {
        Ok(x) if failed == 0.0 => x,
        Ok(_) => return Err(IoFailure::Other { phase: op.name() }.into()),
        Err(error) => {
            return Err(IoFailure::Mine {
                phase: op.name(),
                error,
            }
            .into());
        }
    };
    let mut all = vec![0f32; comm.size()];
    all[comm.rank()] = secs as f32;
    comm.all_reduce_in_place(&mut all);
    let seconds = comm.max_f64(secs);
    let bytes = comm.sum_u64(bytes);
    let ops = comm.sum_u64(count);
    let amount = if op.is_bandwidth() { bytes } else { ops };
    let energy = match (meter, before, after) {
        (Some(m), Some(Ok(a)), Some(Ok(b))) => Some(m.record(&a, &b, ops)),
        (Some(_), Some(Err(e)), _) | (Some(_), _, Some(Err(e))) => {
            Some(EnergyRecord::NotMeasured { why: e.to_string() })
        }
        _ => None,
    };
    Ok(IoPhase {
        op,
        bytes,
        ops,
        seconds,
        rank_seconds: all.into_iter().map(f64::from).collect(),
        rate: (seconds > 0.0).then(|| amount as f64 / seconds),
        verified: None,
        resident: None,
        energy,
    })
}

/// The checkpoint (all ranks) of the largest of `presets` whose checkpoint fits half of `free`:
/// its bytes and the sentence saying so; `None` when even the smallest does not fit.
pub fn default_checkpoint(presets: &[crate::bench::Shape], free: u64) -> Option<(u64, String)> {
    presets
        .iter()
        .filter_map(|s| match *s {
            crate::bench::Shape::Train {
                layers,
                hidden,
                vocab,
                ..
            } => {
                let params =
                    crate::bench::train_parameters(layers, hidden, vocab) + (vocab * hidden) as f64;
                let bytes = params as u64 * CHECKPOINT_BYTES_PER_PARAMETER;
                Some((bytes, params, s.display()))
            }
            _ => None,
        })
        .filter(|(b, _, _)| *b <= free / 2)
        .max_by_key(|(b, _, _)| *b)
        .map(|(b, params, name)| {
            (
                b,
                format!(
                    "the checkpoint of the suite's largest training preset that fits half the \
                     free space ({name}, {:.0}M parameters with the embedding × 12 B: f32 \
                     weights and AdamW's two moments)",
                    params / 1e6
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::SingleProcess;

    fn plan(dir: &Path, shard: u64, corrupt: bool) -> IoPlan {
        IoPlan {
            dir: dir.into(),
            shard_bytes: shard,
            files: 50,
            timeout: Duration::from_secs(60),
            corrupt,
        }
    }

    #[test]
    fn every_phase_runs_saves_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let comm = SingleProcess::new();
        let mut phases = Vec::new();
        {
            let work = WorkDir::create(dir.path(), 0).unwrap();
            run(&plan(dir.path(), 3 << 20, false), &work, &comm, None, |p| {
                phases.push(p.clone());
                Ok(())
            })
            .unwrap();
            assert!(work.0.join("shard").exists());
        }
        assert_eq!(
            phases.iter().map(|p| p.op).collect::<Vec<_>>(),
            IoOp::ALL.to_vec()
        );
        let read = &phases[5];
        assert_eq!((read.bytes, read.verified), (3 << 20, Some(true)));
        assert!(read.rate.is_some() && read.resident.is_some());
        assert_eq!(phases[0].ops, 50);
        assert_eq!(phases[6].ops, 24, "3 MiB / 128 KiB: one epoch");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "removed");
    }

    #[test]
    fn a_corrupted_shard_fails_verification_and_reports_no_rate() {
        let dir = tempfile::tempdir().unwrap();
        let comm = SingleProcess::new();
        let mut read = None;
        let work = WorkDir::create(dir.path(), 0).unwrap();
        run(&plan(dir.path(), 1 << 20, true), &work, &comm, None, |p| {
            if p.op == IoOp::CheckpointRead {
                read = Some(p.clone());
            }
            Ok(())
        })
        .unwrap();
        let read = read.unwrap();
        assert_eq!((read.verified, read.rate), (Some(false), None));
    }

    #[test]
    fn the_default_checkpoint_is_the_largest_preset_that_fits() {
        let presets = crate::bench::suites::train_presets(crate::bench::suites::Suite::Full, true);
        let (b, why) = default_checkpoint(&presets, 1 << 40).unwrap();
        // The 1.3B preset: (1.31e9 + 32000·2048) × 12 B.
        assert!((15_000_000_000..17_500_000_000).contains(&b), "{b}");
        assert!(why.contains("L=24 d=2048"), "{why}");
        let (small, _) = default_checkpoint(&presets, 4 << 30).unwrap();
        assert!(small < 2 << 30);
        assert!(default_checkpoint(&presets, 1 << 20).is_none());
    }
}
