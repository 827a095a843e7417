//! The results schema: what a run measured, on what, how, and under which load.
//!
//! `results.json` carries a `schema_version`; readers refuse versions they do not know rather
//! than guess. Version 1 is this module's types.

pub mod io;
pub mod storage;
mod transport;

pub use transport::{Network, Transport};

use crate::bench::verify::Verification;
use crate::bench::{BenchKind, DType, Shape, Throughput, Unit, Work};
use crate::node::Inventory;
use crate::node::energy::{EnergyRecord, MeterStatus};
use crate::node::load::LoadReport;
use crate::stats::Stats;
use serde::{Deserialize, Serialize};

/// The schema version this build writes. Version 1 (no `device_kind`/`family` on measurements)
/// is still read: [`io::load`] derives both from its `backend` and `method`.
pub const SCHEMA_VERSION: u32 = 2;

/// Where the times came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimingSource {
    /// A monotonic host clock around each sample.
    WallClock,
    /// The device's own timer (GPU timestamp queries).
    DeviceTimestamps,
    /// Taken from another tool's output (`hpcready import`), timed as that tool times.
    Imported,
}

/// What one measurement's figure stands for. Normalisation and like-for-like matching are
/// derived from it, never from the free-text backend name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// The node's CPU: a figure is the whole node's.
    Cpu,
    /// One GPU (or one die of a multi-die package): a figure is one device's; the node has
    /// several.
    Gpu,
    /// A collective across ranks or devices (an all-reduce): a figure is the group's bus
    /// bandwidth, never multiplied by a device count.
    Collective,
}

impl DeviceKind {
    /// Whether a figure stands for one of the node's several GPUs (per device), as opposed to
    /// the whole node (a CPU) or a group of ranks (a collective).
    pub fn per_device(self) -> bool {
        self == Self::Gpu
    }

    /// `CPU`, `GPU`, `collective`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cpu => "CPU",
            Self::Gpu => "GPU",
            Self::Collective => "collective",
        }
    }
}

/// Whose code produced a figure: like for like means the same family *and* the same tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodFamily {
    /// hpcready's own kernels and loops (CPU kernels, WGSL through wgpu, its MPI all-reduce
    /// loop).
    OwnKernel,
    /// The vendor's library called the way users' training calls it (PyTorch on cuBLAS,
    /// hipBLASLt, NCCL, RCCL).
    VendorLibrary,
    /// Figures read from another tool's output (`hpcready import`: nccl-tests, rccl-tests, OSU).
    ImportedTool,
}

impl MethodFamily {
    /// `own kernel`, `vendor library`, `imported tool`.
    pub fn label(self) -> &'static str {
        match self {
            Self::OwnKernel => "own kernel",
            Self::VendorLibrary => "vendor library",
            Self::ImportedTool => "imported tool",
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Schema version of this file.
    pub schema_version: u32,
    /// The tool that wrote it.
    pub tool: ToolInfo,
    /// The command line, as given.
    pub command_line: Vec<String>,
    /// The suite that ran, if one did.
    #[serde(default)]
    pub suite: Option<String>,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// When the run finished; absent while it runs or when it was cut short.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Whether every planned case finished. A run killed midway leaves `false`.
    pub complete: bool,
    /// Cases planned.
    #[serde(default)]
    pub planned: usize,
    /// The node the run measured.
    pub node: Inventory,
    /// The load during the run (written at the end).
    #[serde(default)]
    pub load: Option<LoadReport>,
    /// The ranks of a collective run (MPI) or the GPUs of a host-staged one; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<RankLayout>,
    /// Measurements, in the order they finished.
    pub measurements: Vec<Measurement>,
    /// The energy counter read around each measurement, or why there is none; absent in files
    /// written before energy was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_meter: Option<MeterStatus>,
    /// The file-system bench (`run --bench io`), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<storage::StorageRun>,
}

/// Who took part in a collective run: one host name per rank, so intra- and inter-node runs can
/// be told apart, and the library that carried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankLayout {
    /// Ranks in the communicator.
    pub size: usize,
    /// Host name of each rank, in rank order.
    pub hosts: Vec<String>,
    /// The MPI library's own version string, or the tool that produced imported figures.
    pub library: String,
    /// How the processes were launched (`srun`, `mpirun`, `single process`).
    #[serde(default)]
    pub launcher: String,
    /// The network NCCL/RCCL chose (torch.distributed on GPUs), as its INFO lines say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
}

impl RankLayout {
    /// Distinct hosts, in order of first appearance.
    pub fn nodes(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for h in &self.hosts {
            if !seen.contains(&h.as_str()) {
                seen.push(h);
            }
        }
        seen
    }
}

/// What a collective measurement adds to the common fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectiveInfo {
    /// Algorithm bandwidth, bytes / time, in GB/s (base 10), at the median time.
    #[serde(with = "crate::float")]
    pub algbw_gbs: f64,
    /// Bus bandwidth, algbw · 2(n−1)/n, in GB/s: the measurement's throughput.
    #[serde(with = "crate::float")]
    pub busbw_gbs: f64,
    /// The median time of one all-reduce, in microseconds (the slowest rank's).
    #[serde(with = "crate::float")]
    pub time_us: f64,
    /// Nodes the ranks ran on (1: intra-node).
    pub nodes: usize,
    /// Elements that came back wrong, summed over ranks (nccl-tests' `#wrong`); None when the
    /// source did not check.
    pub wrong: Option<u64>,
}

/// What a training-step measurement (`train`) adds: its throughput in tokens, the model, and
/// the memory it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainInfo {
    /// Tokens trained per second on this device, at the median step time.
    #[serde(with = "crate::float")]
    pub tokens_per_s: f64,
    /// The median step time, seconds.
    #[serde(with = "crate::float")]
    pub step_s: f64,
    /// Parameters without the token embedding (N in the MFU formula).
    pub parameters: u64,
    /// The micro-batch that fit (sequences per step).
    pub micro_batch: u64,
    /// Tokens per step.
    pub tokens_per_step: u64,
    /// Model FLOPs per token: 6N + 12·L·H·Q·T (PaLM).
    #[serde(with = "crate::float")]
    pub flops_per_token: f64,
    /// Peak device memory allocated by torch, bytes (0 where torch does not track it: CPU).
    pub peak_memory_bytes: u64,
    /// The loss before the first step (near ln(vocab) for an untrained model).
    #[serde(with = "crate::float")]
    pub first_loss: f64,
    /// Data-parallel across ranks (DDP): against the same step on one rank alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_parallel: Option<DataParallel>,
}

/// A training step measured data-parallel (torch DistributedDataParallel) across ranks, with
/// the same step alone on each rank (same micro-batch) as its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataParallel {
    /// Ranks (one device each).
    pub ranks: usize,
    /// Nodes they ran on.
    pub nodes: usize,
    /// torch.distributed's backend and library.
    pub library: String,
    /// Tokens per second of one rank alone.
    #[serde(with = "crate::float")]
    pub single_tokens_per_s: f64,
    /// The step time of one rank alone, seconds.
    #[serde(with = "crate::float")]
    pub single_step_s: f64,
    /// Tokens per second per rank data-parallel over alone: the scaling efficiency.
    #[serde(with = "crate::float")]
    pub efficiency: f64,
}

/// Provenance of the tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `hpcready`.
    pub name: String,
    /// Crate version.
    pub version: String,
    /// Git revision it was built from (`-dirty` when the tree had changes), or `unknown`.
    pub git_revision: String,
    /// Build profile (`release`, `debug`).
    pub build_profile: String,
    /// Target triple.
    pub target: String,
    /// Compiler version.
    #[serde(default)]
    pub rustc: String,
    /// RUSTFLAGS of the build (empty: portable code with run-time ISA dispatch).
    #[serde(default)]
    pub rustflags: String,
}

impl ToolInfo {
    /// This build.
    pub fn current() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_revision: env!("HPCREADY_GIT_REVISION").into(),
            build_profile: env!("HPCREADY_BUILD_PROFILE").into(),
            target: env!("HPCREADY_BUILD_TARGET").into(),
            rustc: env!("HPCREADY_RUSTC_VERSION").into(),
            rustflags: env!("HPCREADY_RUSTFLAGS").into(),
        }
    }
}

/// One measured case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The benchmark.
    pub bench: BenchKind,
    /// `cpu`, `gpu`, `mpi`, `import`: the backend's name, for display only.
    pub backend: String,
    /// What the figure stands for (one CPU node, one GPU, a collective).
    pub device_kind: DeviceKind,
    /// Whose code produced it.
    pub family: MethodFamily,
    /// The device it ran on.
    pub device: String,
    /// Backend plus kernel or library: `cpu/faer`, `wgpu/matmul-tiled`.
    pub method: String,
    /// The variant that ran: ISA, threads, tiles.
    pub variant: String,
    /// Element type.
    pub dtype: DType,
    /// Problem shape.
    pub shape: Shape,
    /// Threads used, for CPU kernels.
    #[serde(default)]
    pub threads: Option<usize>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Where the times came from.
    pub timing: TimingSource,
    /// Iterations timed together in each sample.
    pub iterations_per_sample: u64,
    /// Seconds per iteration, one per sample.
    pub samples_s: Vec<f64>,
    /// Statistics of the samples; absent when nothing was timed.
    pub stats: Option<Stats>,
    /// Work of one iteration.
    pub work: Work,
    /// Throughput at the median time; absent when the measurement is invalid.
    pub throughput: Option<Throughput>,
    /// The check against the reference.
    pub verification: Verification,
    /// Why the case did not produce a valid figure, when it did not.
    #[serde(default)]
    pub error: Option<String>,
    /// algbw, busbw, time and nodes of a collective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collective: Option<CollectiveInfo>,
    /// Tokens per second, step time, model size and memory of a training step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainInfo>,
    /// The energy the timed samples used, from the node's counter ([`Results::energy_meter`]),
    /// or why this measurement's reading is not used; absent when the node has no counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergyRecord>,
}

impl Measurement {
    /// A measurement of `case` that has not produced a figure yet: not verified, not timed.
    /// Every producer (the sampling loop, the all-reduce loops, `import`) starts here and fills
    /// in what it measured.
    pub fn pending(
        bench: BenchKind,
        dtype: DType,
        shape: Shape,
        origin: Origin,
        timing: TimingSource,
    ) -> Self {
        let work = shape.work(dtype).unwrap_or_default();
        Self {
            bench,
            backend: origin.backend,
            device_kind: origin.device_kind,
            family: origin.family,
            device: origin.device,
            method: origin.method,
            variant: origin.variant,
            dtype,
            shape,
            threads: None,
            started_at: crate::timefmt::rfc3339(crate::timefmt::now_unix()),
            timing,
            iterations_per_sample: 0,
            samples_s: Vec::new(),
            stats: None,
            work,
            throughput: None,
            verification: Verification::not_run(),
            error: None,
            collective: None,
            train: None,
            energy: None,
        }
    }

    /// Records the samples (seconds per iteration) and the verification; the throughput is
    /// computed from the median, and only when the check passed.
    pub fn record(&mut self, verification: Verification, samples: Vec<f64>, iterations: u64) {
        self.stats = crate::stats::summarize(&samples);
        self.throughput = self
            .stats
            .as_ref()
            .filter(|_| verification.passed)
            .map(|st| Throughput::of(self.bench, self.work, st.median));
        if !verification.passed && self.error.is_none() {
            self.error = Some(verification.failure_summary());
        }
        self.verification = verification;
        self.samples_s = samples;
        self.iterations_per_sample = iterations;
    }

    /// The tool behind the method, the key for like-for-like matching: `import/nccl-tests` →
    /// `nccl-tests`, `cpu/faer` → `cpu/faer`.
    pub fn tool(&self) -> &str {
        self.method.strip_prefix("import/").unwrap_or(&self.method)
    }

    /// Joules per trained token of a valid training step, from its energy per step.
    pub fn joules_per_token(&self) -> Option<f64> {
        let e = self.energy.as_ref()?.energy()?;
        let t = self.train.as_ref()?;
        (t.tokens_per_step > 0)
            .then_some(e.joules_per_run()? / t.tokens_per_step as f64)
            .filter(|_| self.is_valid())
    }

    /// Verified and timed: the only measurements that are scored.
    pub fn is_valid(&self) -> bool {
        self.verification.passed && self.stats.is_some() && self.throughput.is_some()
    }

    /// Valid and checked element by element: an imported figure whose tool ran without its
    /// data check is valid (shown, labelled "not checked by the source") but not verified, and
    /// is never scored.
    pub fn is_verified(&self) -> bool {
        self.is_valid() && self.verification.checked > 0
    }

    /// The throughput value, for valid measurements.
    pub fn value(&self) -> Option<f64> {
        self.is_valid()
            .then(|| self.throughput.map(|t| t.value))
            .flatten()
    }
}

/// Who measured: the fields every measurement of one backend shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// The backend's name (`cpu`, `gpu`, `mpi`, `import`), for display.
    pub backend: String,
    /// What a figure stands for.
    pub device_kind: DeviceKind,
    /// Whose code.
    pub family: MethodFamily,
    /// The device, in words.
    pub device: String,
    /// Backend plus kernel or tool.
    pub method: String,
    /// The variant that ran.
    pub variant: String,
}

/// The measured peaks of a run by (backend, device, dtype): see [`Results::peak_index`].
#[derive(Debug)]
pub struct PeakIndex<'a> {
    by_device: std::collections::HashMap<(&'a str, &'a str, DType), &'a Measurement>,
}

impl<'a> PeakIndex<'a> {
    /// The peak on the most threads of the device `m` ran on, in `m`'s dtype.
    pub fn get(&self, m: &Measurement) -> Option<&'a Measurement> {
        self.by_device
            .get(&(m.backend.as_str(), m.device.as_str(), m.dtype))
            .copied()
    }

    /// Whether `m` exceeds its device's measured peak by more than 5%.
    pub fn is_suspect(&self, m: &Measurement) -> bool {
        if m.bench == BenchKind::Peak || m.throughput.map(|t| t.unit) != Some(Unit::TflopPerS) {
            return false;
        }
        match (self.get(m).and_then(Measurement::value), m.value()) {
            (Some(peak), Some(v)) => v > peak * 1.05,
            _ => false,
        }
    }
}

/// Orders measurements by their value, invalid ones lowest: the one comparator for "best".
pub fn by_value(a: &&Measurement, b: &&Measurement) -> std::cmp::Ordering {
    let v = |m: &Measurement| m.value().unwrap_or(f64::NEG_INFINITY);
    v(a).total_cmp(&v(b))
}

/// Several results files of one machine as one run: the node of the first file whose node was
/// probed (not an import) with the checklist items only other parts hold (the transport
/// NCCL/RCCL chose, found by a torch.distributed run), every measurement in file order, the first
/// rank layout, complete only if every part is.
pub fn merge(mut parts: Vec<Results>) -> Results {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let lead = parts
        .iter()
        .position(|r| r.node.accelerators.probed)
        .unwrap_or(0);
    let mut out = parts.remove(lead);
    for p in parts {
        out.complete &= p.complete;
        out.planned += p.planned;
        if out.ranks.is_none() {
            out.ranks = p.ranks;
        }
        if out.load.is_none() {
            out.load = p.load;
        }
        if out.energy_meter.is_none() {
            out.energy_meter = p.energy_meter;
        }
        if out.storage.is_none() {
            out.storage = p.storage;
        }
        for c in p.node.checklist {
            if !out.node.checklist.iter().any(|o| o.id == c.id) {
                out.node.checklist.push(c);
            }
        }
        out.measurements.extend(p.measurements);
    }
    out.suite = None;
    out
}

impl Results {
    /// A new, empty run on `node`.
    pub fn new(node: Inventory, command_line: Vec<String>, suite: Option<String>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo::current(),
            command_line,
            suite,
            started_at: crate::timefmt::rfc3339(crate::timefmt::now_unix()),
            finished_at: None,
            complete: false,
            planned: 0,
            node,
            load: None,
            ranks: None,
            measurements: Vec::new(),
            energy_meter: None,
            storage: None,
        }
    }

    /// Valid measurements of `bench` in `dtype`.
    pub fn valid(&self, bench: BenchKind, dtype: DType) -> impl Iterator<Item = &Measurement> {
        self.measurements
            .iter()
            .filter(move |m| m.bench == bench && m.dtype == dtype && m.is_valid())
    }

    /// Valid measurements of `bench` in any data type.
    pub fn valid_any(&self, bench: BenchKind) -> impl Iterator<Item = &Measurement> {
        self.measurements
            .iter()
            .filter(move |m| m.bench == bench && m.is_valid())
    }

    /// The measured FMA peak in `dtype` on all the threads the run used, in TFLOP/s.
    pub fn measured_peak(&self, dtype: DType) -> Option<&Measurement> {
        self.valid(BenchKind::Peak, dtype)
            .max_by_key(|m| match m.shape {
                Shape::Peak { threads } => threads,
                _ => 0,
            })
    }

    /// The measured peak of the device `m` ran on, in `m`'s dtype, on the most threads. For
    /// many lookups build [`Results::peak_index`] once.
    pub fn peak_for(&self, m: &Measurement) -> Option<&Measurement> {
        self.peak_index().get(m)
    }

    /// The measurement that stands for (bench, dtype) in a comparison: the all-threads peak, else the
    /// fastest valid, non-suspect one.
    pub fn best(&self, bench: BenchKind, dtype: DType) -> Option<&Measurement> {
        self.best_in(bench, dtype, None)
    }

    /// [`Results::best`] among the measurements of one method family (our kernels, a vendor library through
    /// the framework, an imported tool), or all of them.
    pub fn best_in(
        &self,
        bench: BenchKind,
        dtype: DType,
        family: Option<MethodFamily>,
    ) -> Option<&Measurement> {
        let peaks = self.peak_index();
        let candidates = self
            .valid(bench, dtype)
            .filter(|m| family.is_none_or(|f| m.family == f))
            .filter(|m| !peaks.is_suspect(m));
        if bench == BenchKind::Peak {
            // The ceiling is the all-threads figure.
            return self.measured_peak(dtype).filter(|m| !peaks.is_suspect(m));
        }
        candidates.max_by(by_value)
    }

    /// Every device's measured peaks, indexed once: looking up the peak of each of n
    /// measurements is then O(n), not O(n²).
    pub fn peak_index(&self) -> PeakIndex<'_> {
        let mut by_device = std::collections::HashMap::new();
        for p in self
            .measurements
            .iter()
            .filter(|p| p.bench == BenchKind::Peak && p.is_valid())
        {
            let threads = |m: &Measurement| match m.shape {
                Shape::Peak { threads } => threads,
                _ => 0,
            };
            by_device
                .entry((p.backend.as_str(), p.device.as_str(), p.dtype))
                .and_modify(|q: &mut &Measurement| {
                    if threads(p) >= threads(q) {
                        *q = p;
                    }
                })
                .or_insert(p);
        }
        PeakIndex { by_device }
    }

    /// Benchmarks and data types present, in a stable order.
    pub fn groups(&self) -> Vec<(BenchKind, DType)> {
        let mut g: Vec<(BenchKind, DType)> = self
            .measurements
            .iter()
            .map(|m| (m.bench, m.dtype))
            .collect();
        g.sort();
        g.dedup();
        g
    }
}
