//! What a `run --bench io` recorded (`crate::storage` measures it): the phases, the run and
//! the file system it ran on, as the results file holds them.

use crate::node::energy::EnergyRecord;
use serde::{Deserialize, Serialize};

/// JSC's rule for a file system's bandwidth (jubench-ior): at least this much per node …
pub const MIN_BYTES_PER_NODE: u64 = 128 << 30;
/// … or at least this long.
pub const MIN_SECONDS: f64 = 60.0;

/// One timed operation of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IoOp {
    /// Metadata: create small files.
    Create,
    /// Metadata: stat them.
    Stat,
    /// Metadata: open and read each whole.
    OpenRead,
    /// Metadata: remove them.
    Remove,
    /// The checkpoint shard written and fsynced.
    CheckpointWrite,
    /// The shard read back, verified.
    CheckpointRead,
    /// Shuffled 128 KiB reads.
    RandomRead,
}

impl IoOp {
    /// The phases in the order they run.
    pub const ALL: [IoOp; 7] = [
        IoOp::Create,
        IoOp::Stat,
        IoOp::OpenRead,
        IoOp::Remove,
        IoOp::CheckpointWrite,
        IoOp::CheckpointRead,
        IoOp::RandomRead,
    ];

    /// Its name in messages and reports.
    pub fn name(self) -> &'static str {
        match self {
            IoOp::Create => "metadata: create",
            IoOp::Stat => "metadata: stat",
            IoOp::OpenRead => "metadata: open+read",
            IoOp::Remove => "metadata: remove",
            IoOp::CheckpointWrite => "checkpoint write (+fsync)",
            IoOp::CheckpointRead => "checkpoint read (verified)",
            IoOp::RandomRead => "data loading: random 128 KiB reads",
        }
    }

    /// Whether its figure is bytes per second (else operations per second).
    pub fn is_bandwidth(self) -> bool {
        matches!(
            self,
            IoOp::CheckpointWrite | IoOp::CheckpointRead | IoOp::RandomRead
        )
    }
}

/// One phase across all ranks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IoPhase {
    /// What it did.
    pub op: IoOp,
    /// Bytes moved, all ranks together.
    pub bytes: u64,
    /// Operations (files, read calls), all ranks together.
    pub ops: u64,
    /// The slowest rank's seconds: the phase's time.
    #[serde(with = "crate::float")]
    pub seconds: f64,
    /// Every rank's seconds, in rank order.
    pub rank_seconds: Vec<f64>,
    /// bytes / seconds (bandwidth phases) or ops / seconds; absent when not verified.
    #[serde(default)]
    pub rate: Option<f64>,
    /// The read-back checksum matched on every rank (reads of the checkpoint only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Reads: the largest fraction of a shard still in the page cache when the read began
    /// (after `posix_fadvise(DONTNEED)`): above zero, that part came from memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<f64>,
    /// The energy of rank 0's node over the phase, when it has a counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergyRecord>,
}

impl IoPhase {
    /// The ranks' fastest and slowest times, `0.120–0.135 s`, or `—` for one rank.
    pub fn rank_range(&self) -> String {
        if self.rank_seconds.len() < 2 {
            return "—".into();
        }
        let (lo, hi) = self
            .rank_seconds
            .iter()
            .fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        format!("{lo:.3}–{hi:.3} s")
    }

    /// The rate in its unit for people: `GB/s` for bandwidth (base 10), `ops/s` else.
    pub fn display_rate(&self) -> String {
        match self.rate {
            None => "— (not verified)".into(),
            Some(r) if self.op.is_bandwidth() => {
                if r >= 1e9 {
                    format!("{} GB/s", crate::bench::sig(r / 1e9, 3))
                } else {
                    format!("{} MB/s", crate::bench::sig(r / 1e6, 3))
                }
            }
            Some(r) => format!("{} ops/s", crate::bench::sig(r, 3)),
        }
    }
}

/// A whole `--bench io` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageRun {
    /// The directory measured.
    pub dir: String,
    /// Its file system.
    pub fs: FsInfo,
    /// Ranks writing at once.
    pub ranks: usize,
    /// Nodes they ran on.
    pub nodes: usize,
    /// Each rank's checkpoint shard, bytes.
    pub shard_bytes: u64,
    /// Where the shard size came from.
    pub size_basis: String,
    /// Small files per rank in the metadata phases.
    pub files_per_rank: u64,
    /// Random reads per rank.
    pub samples_per_rank: u64,
    /// The phases, in the order they finished.
    pub phases: Vec<IoPhase>,
    /// What limits the figures (too small to pass the caches, data left in the page cache).
    #[serde(default)]
    pub caveats: Vec<String>,
}

impl StorageRun {
    /// The measured checkpoint write bandwidth (bytes/s, all ranks), when verified.
    pub fn write_bandwidth(&self) -> Option<f64> {
        self.phase(IoOp::CheckpointWrite)?.rate
    }

    /// The phase `op`, when it ran.
    pub fn phase(&self, op: IoOp) -> Option<&IoPhase> {
        self.phases.iter().find(|p| p.op == op)
    }

    /// The JSC caveat, when the checkpoint phases moved too little for too short a time.
    pub fn size_caveat(&self) -> Option<String> {
        let w = self.phase(IoOp::CheckpointWrite)?;
        let per_node = w.bytes / self.nodes.max(1) as u64;
        (per_node < MIN_BYTES_PER_NODE && w.seconds < MIN_SECONDS).then(|| {
            format!(
                "the checkpoint wrote {} per node in {:.1} s: under JSC's rule for a file system's \
                 bandwidth (at least 128 GiB per node or a minute), so the figures may be the \
                 caches' (client and server) rather than the disks'; raise --checkpoint-bytes",
                crate::node::human_bytes(per_node),
                w.seconds
            )
        })
    }
}

/// What the I/O bench's directory is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FsInfo {
    /// The mount point.
    pub mount: String,
    /// `lustre`, `gpfs`, `nfs4`, `ext4`, `tmpfs` … (`unknown` without a `/proc/mounts` entry).
    pub fs_type: String,
    /// Bytes free to this user when the bench started.
    pub free_bytes: u64,
    /// Lustre: the directory's default stripe count (`-1`: every OST), from `lfs getstripe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_count: Option<i64>,
    /// Lustre: why the stripe count is not known, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_note: Option<String>,
}
