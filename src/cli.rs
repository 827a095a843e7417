//! The command line (clap). Names are the contract in DESIGN.md; scripts rely on them.

use crate::backend::BackendChoice;
use crate::backend::torch::harness::PythonCommand;
use crate::bench::suites::Suite;
use crate::bench::{BenchKind, DType};
use crate::report::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

mod history;
pub use history::{
    BundleArgs, HistoryArg, HistoryArgs, HistoryCommand, HistoryPath, ImportBundleArgs, ListArgs,
    RunFilter,
};

/// Tells an AI team whether this node is ready for the training they run on a hyperscaler.
///
/// With no subcommand, runs `hpcready assess`: inventory, the quick suite, a comparison with
/// the default cloud baseline, and a plotted report under reports/.
#[derive(Debug, Parser)]
#[command(name = "hpcready", version, about, long_about)]
pub struct Cli {
    /// What to do (default: assess).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure this node, compare it with a baseline and write a report (the main job).
    Assess(AssessArgs),
    /// Show the node inventory: host, OS, CPU, caches, memory, accelerators.
    Probe(ProbeArgs),
    /// Run benchmarks and write a results file.
    Run(RunArgs),
    /// Write a report from a results file.
    Report(ReportArgs),
    /// List, show or save baseline profiles.
    Baselines(BaselinesArgs),
    /// Several machines' results side by side (procurement): per device, per node, per dollar.
    Compare(CompareArgs),
    /// Time to train a model (6·N·D FLOPs) on this node's measured rate and on the baseline's.
    Project(ProjectArgs),
    /// Turn nccl-tests, rccl-tests or OSU all-reduce output into a results file.
    Import(ImportArgs),
    /// Print an sbatch script that runs the suite across nodes and writes the report.
    Slurm(SlurmArgs),
    /// Check this node before a job, in about a minute: the GPUs expected are there and healthy,
    /// the limits collectives need, and a short measurement of every GPU, each in its own
    /// process with a time limit. One task per node (`srun -N 64 --ntasks-per-node 1 hpcready
    /// smoke --out DIR`); writes DIR/<host>.json.
    Smoke(SmokeArgs),
    /// The run history: list the runs recorded, `show` one, or `trend` a figure over time per
    /// machine.
    History(HistoryArgs),
    /// Pack runs (results, reports, node facts, command lines, checksums) into one .tar.gz
    /// that `hpcready report` re-renders and checks.
    Bundle(BundleArgs),
    /// Check a bundle and add its runs to the history.
    ImportBundle(ImportBundleArgs),
}

/// `hpcready smoke`.
#[derive(Debug, Args, Clone)]
pub struct SmokeArgs {
    /// Directory for this node's results file, `<host>.json` (default: reports/smoke/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// GPUs this node must have (default: the baseline's GPUs per node).
    #[arg(long, value_name = "N")]
    pub gpus_per_node: Option<u32>,
    /// The baseline whose GPUs per node are expected: a profile id or file.
    #[arg(long, value_name = "ID|FILE", default_value = crate::profiles::DEFAULT_BASELINE)]
    pub baseline: String,
    /// Seconds one device's measurement may take before it is called hung and killed.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    #[command(flatten)]
    pub python: PythonArg,
    #[command(flatten)]
    pub history: HistoryArg,
}

/// `hpcready slurm`.
#[derive(Debug, Args, Clone)]
pub struct SlurmArgs {
    /// Nodes to allocate; the all-reduce runs across all of them.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub nodes: u32,
    /// GPUs per node to request (`--gpus-per-node`); also the all-reduce ranks per node, and with
    /// --smoke the GPUs each node must have (0: a CPU job; left out: the baseline's count).
    #[arg(long, value_name = "G")]
    pub gpus_per_node: Option<u32>,
    /// All-reduce ranks per node (default: the GPUs per node, at least 1; 2 on a single node).
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u32).range(1..))]
    pub ranks_per_node: Option<u32>,
    /// Partition (`--partition`).
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// Account to charge (`--account`), e.g. a EuroHPC project id.
    #[arg(long, value_name = "A")]
    pub account: Option<String>,
    /// Wall-time limit (`--time`), HH:MM:SS.
    #[arg(long, value_name = "T", default_value = "00:30:00")]
    pub time: String,
    /// An Apptainer/Singularity image to run hpcready inside (`apptainer exec`).
    #[arg(long, value_name = "SIF")]
    pub container: Option<PathBuf>,
    /// srun's MPI plugin for the all-reduce step (`--mpi=PLUGIN`: pmix for Open MPI, pmi2 for
    /// MPICH, cray_shasta on HPE Cray); default: the site's MpiDefault.
    #[arg(long, value_name = "PLUGIN")]
    pub mpi: Option<String>,
    /// Which suite to run: quick (about a minute on a 2-core CPU: ceilings, small matmuls and
    /// attention), standard (minutes: larger sizes and f64), full (everything the device holds).
    #[arg(long, value_parser = choice::<Suite>(&Suite::NAMES), default_value = "quick")]
    pub suite: Suite,
    /// Baseline for the report: a profile id or a profile file.
    #[arg(long, value_name = "ID|FILE", default_value = crate::profiles::DEFAULT_BASELINE)]
    pub baseline: String,
    /// The hpcready binary the job runs (default: this one). Build it with `--features mpi`.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Also measure through the user's PyTorch across every GPU of every node: torch.distributed
    /// all-reduce (NCCL/RCCL) and the data-parallel training step, one task per GPU. CMD is the
    /// Python with torch (inside the container when --container is given), e.g. `python3` or
    /// `/scratch/venv/bin/python`. Not named `--python`: it also switches the torch step on, and
    /// the compute nodes resolve it (the job passes it on as `--python`), not this login node.
    #[arg(long, value_name = "CMD")]
    pub torch: Option<String>,
    /// With --torch: run the torch step at 1, 2, 4 … --nodes nodes in the one job (a results
    /// file per node count), so the report shows the scaling curve and `project --scaling`
    /// projects from it.
    #[arg(long, requires = "torch", conflicts_with = "smoke")]
    pub scaling: bool,
    /// With --torch: the training step under torch.compile (`run --compile`).
    #[arg(long, requires = "torch", conflicts_with = "smoke")]
    pub compile: bool,
    /// Write the pre-job check instead: `hpcready smoke` on every node (one task per node, each
    /// GPU measured in its own process), then the fleet report with failing-nodes.txt for
    /// `sbatch --exclude`. With --torch, smoke measures through that Python's PyTorch.
    #[arg(long, conflicts_with_all = ["ranks_per_node", "mpi", "cpu_bind"])]
    pub smoke: bool,
    /// With --smoke: seconds one device's measurement may take before it is called hung.
    #[arg(long, value_name = "SECS", requires = "smoke", value_parser = clap::value_parser!(u64).range(1..))]
    pub smoke_timeout: Option<u64>,
    /// srun's --cpu-bind for the torch step, e.g. LUMI-G's per-GCD mask list
    /// (`mask_cpu:0xfe000000000000,…`), so each rank runs on the cores nearest its GPU.
    #[arg(long, value_name = "BIND")]
    pub cpu_bind: Option<String>,
    #[arg(long, value_enum, default_value_t = Sampling::Suite, hide = true)]
    pub sampling: Sampling,
}

/// `hpcready import`.
#[derive(Debug, Args, Clone)]
pub struct ImportArgs {
    /// The tool that wrote the logs.
    #[arg(value_parser = choice::<crate::import::Tool>(&crate::import::Tool::NAMES))]
    pub tool: crate::import::Tool,
    /// Its output files: text logs as captured (mpirun/srun prefixes and NCCL INFO lines are
    /// fine), nccl-tests `-J` JSON, rccl-tests `-Z csv|json`.
    #[arg(required = true, num_args = 1.., value_name = "LOGFILE")]
    pub logs: Vec<PathBuf>,
    /// Results file to write (default: reports/import-<tool>-<UTC timestamp>/results.json).
    #[arg(long, value_name = "FILE.json")]
    pub out: Option<PathBuf>,
    /// Ranks that ran, for logs that do not say (OSU), or to correct them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ranks: Option<u64>,
    #[command(flatten)]
    pub history: HistoryArg,
}

/// `hpcready project`.
#[derive(Debug, Args, Clone)]
pub struct ProjectArgs {
    /// Model parameters N, e.g. 7B, 7e9, 70b.
    #[arg(long, value_name = "N")]
    pub params: String,
    /// Training tokens D, e.g. 1T, 2e12, 300G.
    #[arg(long, value_name = "D")]
    pub tokens: String,
    /// This node's results.json (from `run` or `assess`); without it only the baseline is
    /// projected.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Baseline: a profile id or a profile file.
    #[arg(long, value_name = "ID|FILE", default_value = crate::profiles::DEFAULT_BASELINE)]
    pub baseline: String,
    /// Nodes on each side.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub nodes: u32,
    /// The results files of a scaling run (`hpcready slurm --torch --scaling`: one per node
    /// count): the communication at --nodes comes from a ring all-reduce fitted to them, and
    /// the fit is checked on the run (the largest count projected from the smaller ones).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub scaling: Vec<PathBuf>,
    /// The precision projected: bf16 (16-bit rates: a training step, else the 16-bit matmul) or
    /// fp8 (the FP8 matmul measured or published, × the utilisation band).
    #[arg(long, value_name = "bf16|fp8", default_value = "bf16")]
    pub dtype: String,
    /// End-to-end training throughput as a fraction of the matmul rate, LO,HI.
    #[arg(long, value_name = "LO,HI", default_value = "0.35,0.55")]
    pub utilisation: String,
    /// Energy price in EUR per kWh: the energy to train gets a cost.
    #[arg(long, value_name = "EUR")]
    pub energy_price: Option<f64>,
    /// Checkpoint frequency (`30min`, `2h`, `1000steps`): their write time, at the bandwidth
    /// measured by `run --bench io` (`--io`), is added to this node's time to train.
    #[arg(long, value_name = "EVERY")]
    pub checkpoint_every: Option<String>,
    /// The results of `hpcready run --bench io` on the checkpoint directory.
    #[arg(long, value_name = "FILE")]
    pub io: Option<PathBuf>,
    /// Tokens per optimizer step, for `--checkpoint-every …steps` (Llama 2 trained with 4M).
    #[arg(long, value_name = "TOKENS", default_value_t = 4_194_304.0)]
    pub batch_tokens: f64,
}

/// `hpcready compare`.
#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// Two or more results.json files, one per machine (or runs from the history with
    /// --since/--last).
    #[arg(required_unless_present_any = ["since", "last"], num_args = 2.., value_name = "RESULTS.json")]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub filter: RunFilter,
    #[command(flatten)]
    pub store: HistoryPath,
    /// Output directory (default: reports/compare-<UTC timestamp>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A machine's price per node-hour in USD, as FILE=USD with FILE one of the results files
    /// (repeatable); adds a price-performance table.
    #[arg(long = "price", value_name = "FILE=USD")]
    pub prices: Vec<String>,
}

/// How long to sample each case (hidden: for tests and quick checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sampling {
    /// The suite's own plan.
    Suite,
    /// A few short samples per case: for tests, not for figures anyone should quote.
    Smoke,
}

/// `hpcready assess`.
#[derive(Debug, Args, Clone)]
pub struct AssessArgs {
    /// Baseline to compare against: a profile id (see `hpcready baselines list`) or a profile file.
    #[arg(long, value_name = "ID|FILE", default_value = crate::profiles::DEFAULT_BASELINE)]
    pub baseline: String,
    /// Which suite to run: quick (about a minute on a 2-core CPU: ceilings, small matmuls and
    /// attention), standard (minutes: larger sizes and f64), full (everything the device holds).
    #[arg(long, value_parser = choice::<Suite>(&Suite::NAMES), default_value = "quick")]
    pub suite: Suite,
    /// Where to run: auto (PyTorch when the Python found has a torch that sees an accelerator,
    /// and every hardware GPU Vulkan sees; else the CPU), cpu (our AVX-512/AVX2 GEMM or faer,
    /// blocked attention, FMA chains), gpu (GPUs through wgpu), torch (the user's PyTorch:
    /// torch.mm and SDPA on its GPUs, or its CPU path when it sees none).
    #[arg(long, value_parser = choice::<BackendChoice>(&BackendChoice::NAMES), default_value = "auto")]
    pub backend: BackendChoice,
    /// Report directory (default: reports/<host>-<UTC timestamp>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// GPU adapter(s) for the gpu backend: an index or part of a name from `hpcready probe`, or
    /// `all` (every hardware GPU, the default). Software adapters (lavapipe) run only when named.
    #[arg(long, value_name = "N|NAME|all")]
    pub device: Option<String>,
    #[command(flatten)]
    pub python: PythonArg,
    #[command(flatten)]
    pub history: HistoryArg,
    #[arg(long, value_enum, default_value_t = Sampling::Suite, hide = true)]
    pub sampling: Sampling,
}

impl Default for AssessArgs {
    fn default() -> Self {
        Self {
            baseline: crate::profiles::DEFAULT_BASELINE.into(),
            suite: Suite::Quick,
            backend: BackendChoice::Auto,
            out: None,
            device: None,
            python: PythonArg::default(),
            history: HistoryArg::default(),
            sampling: Sampling::Suite,
        }
    }
}

/// `--python CMD`, the same on `assess`, `run` and `probe`: resolved once, here at the edge, into
/// the command every torch step starts. (`slurm --torch CMD` is not this flag: it switches the
/// job's torch step on and names the Python the compute nodes run, inside `--container` when
/// given, which need not exist where the script is written; the job passes it on as `--python`.)
#[derive(Debug, Args, Clone, Default)]
pub struct PythonArg {
    /// The Python (with PyTorch) that `--backend torch` and `auto` measure through: a venv's
    /// python, or a whole command such as `apptainer exec --rocm pytorch.sif python3`
    /// (default: $HPCREADY_PYTHON, else python3 on PATH).
    #[arg(long = "python", value_name = "CMD")]
    pub command: Option<String>,
}

impl PythonArg {
    /// The command: `--python`, else `$HPCREADY_PYTHON`, else `python3`; a value that is not a
    /// command is bad input naming where it came from.
    pub fn resolve(&self) -> anyhow::Result<PythonCommand> {
        PythonCommand::resolve(self.command.as_deref())
    }
}

/// `hpcready probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Baseline whose GPUs per node the checklist compares with: a profile id or file.
    #[arg(long, value_name = "ID|FILE", default_value = crate::profiles::DEFAULT_BASELINE)]
    pub baseline: String,
    #[command(flatten)]
    pub python: PythonArg,
}

/// A value parser for a library enum: the names it lists (shown in `--help`), parsed by its
/// `FromStr`. The library's types carry no command-line derives; this is the edge.
fn choice<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

/// One name of `run --bench`: a measurement of the device, or the file-system bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchArg {
    /// peak, membw, matmul, attention, train, allreduce.
    Kind(BenchKind),
    /// Checkpoint, metadata and data-loading I/O on a directory.
    Io,
}

fn parse_bench(s: &str) -> Result<BenchArg, String> {
    if s == "io" {
        return Ok(BenchArg::Io);
    }
    BenchKind::parse(s).map(BenchArg::Kind).ok_or_else(|| {
        let known: Vec<&str> = BenchKind::ALL.iter().map(|b| b.name()).collect();
        format!("unknown benchmark `{s}`; known: {}, io", known.join(", "))
    })
}

/// A byte size: `4096`, `512K`, `64M`, `2G`, `1T` (binary multiples; `KiB`, `MB`… also read).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (a whole number, then K, M, G or T)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("`{s}` is not a size this machine can hold"))
}

fn parse_dtype(s: &str) -> Result<DType, String> {
    DType::parse(s)
        .filter(|d| *d != DType::Bytes)
        .ok_or_else(|| format!("unknown data type `{s}`; known: fp8, f16, bf16, f32, tf32, f64"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("`{s}` is not a whole number"))
}

/// `hpcready run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which suite to run: quick (about a minute on a 2-core CPU: ceilings, small matmuls and
    /// attention), standard (minutes: larger sizes and f64), full (everything the device holds).
    #[arg(long, value_parser = choice::<Suite>(&Suite::NAMES), default_value = "quick")]
    pub suite: Suite,
    /// Where to run: auto (PyTorch when the Python found has a torch that sees an accelerator,
    /// and every hardware GPU Vulkan sees; else the CPU), cpu (our AVX-512/AVX2 GEMM or faer,
    /// blocked attention, FMA chains), gpu (GPUs through wgpu), torch (the user's PyTorch:
    /// torch.mm and SDPA on its GPUs, or its CPU path when it sees none).
    #[arg(long, value_parser = choice::<BackendChoice>(&BackendChoice::NAMES), default_value = "auto")]
    pub backend: BackendChoice,
    /// Only these benchmarks (comma-separated): peak, membw, matmul, attention, train,
    /// allreduce. train (a Llama-style training step) runs through `--backend torch`; allreduce
    /// runs across the ranks of `mpirun`/`srun` (a build with `--features mpi`).
    /// `io` (alone): checkpoint write and read, metadata and data-loading I/O on `--dir`, every
    /// rank at once under `srun`/`mpirun` (a build with `--features mpi`).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_bench)]
    pub bench: Option<Vec<BenchArg>>,
    /// `--bench io`: the directory to measure (default: `$SCRATCH`, else the working
    /// directory). Each rank writes under its own `hpcready-io-*` directory there and removes it.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// `--bench io`: each rank's checkpoint shard (`64M`, `4G`; default: the checkpoint of the
    /// suite's largest training preset that fits half the free space, split across the ranks).
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub checkpoint_bytes: Option<u64>,
    /// `--bench io`: small files per rank for the metadata test.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub files: u64,
    /// Only these data types (comma-separated): f32, f64 on the CPU; f32, f16 on GPUs through
    /// Vulkan; bf16, f16, f32, tf32 (NVIDIA), fp8 and f32 through torch.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_dtype)]
    pub dtype: Option<Vec<DType>>,
    /// Matmul's square sizes and attention's sequence lengths (comma-separated); for allreduce,
    /// message sizes in bytes.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_size)]
    pub sizes: Option<Vec<u64>>,
    /// Results file (default: reports/<host>-<UTC timestamp>/results.json).
    #[arg(long, value_name = "FILE.json")]
    pub out: Option<PathBuf>,
    /// All-reduce: seconds one message size may take before the job is aborted with the ranks
    /// that did not answer.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// The training step (`--bench train`, through PyTorch) under `torch.compile`: each
    /// transformer block compiled by inductor, as torchtitan does; the variant says so. The
    /// first steps include the compilation and are not timed.
    #[arg(long)]
    pub compile: bool,
    /// Do not read the node's energy counter (NVML, pm_counters, amdgpu hwmon, RAPL) around
    /// each measurement; by default it is read and results say which counter, or why none.
    #[arg(long)]
    pub no_energy: bool,
    /// GPU adapter(s) for the gpu backend: an index or part of a name from `hpcready probe`, or
    /// `all` (every hardware GPU, the default). Software adapters (lavapipe) run only when named.
    #[arg(long, value_name = "N|NAME|all")]
    pub device: Option<String>,
    #[command(flatten)]
    pub python: PythonArg,
    #[command(flatten)]
    pub history: HistoryArg,
    #[arg(long, value_enum, default_value_t = Sampling::Suite, hide = true)]
    pub sampling: Sampling,
}

impl RunArgs {
    /// The device benchmarks asked for (`--bench` without `io`), or all by default.
    pub fn benches(&self) -> Option<Vec<BenchKind>> {
        self.bench.as_ref().map(|b| {
            b.iter()
                .filter_map(|a| match a {
                    BenchArg::Kind(k) => Some(*k),
                    BenchArg::Io => None,
                })
                .collect()
        })
    }

    /// Whether `--bench` names `io`.
    pub fn io(&self) -> bool {
        self.bench.iter().flatten().any(|a| *a == BenchArg::Io)
    }
}

/// `hpcready report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results files written by `hpcready run`, `assess` or `import`. Several are merged into
    /// one report of one machine: e.g. the compute run of a node and the all-reduce run or
    /// imported nccl-tests log of its partition. Node files of `hpcready smoke` (all of them)
    /// make a fleet report instead: fleet.{html,md,csv} and failing-nodes.txt.
    #[arg(required = true, num_args = 1.., value_name = "RESULTS.json")]
    pub results: Vec<PathBuf>,
    /// Baseline to compare against: a profile id or a profile file.
    #[arg(long, value_name = "ID|FILE", default_value = crate::profiles::DEFAULT_BASELINE)]
    pub baseline: String,
    /// Report directory (default: reports/<host>-<run's UTC start time>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Formats to write (comma-separated).
    #[arg(long, value_name = "LIST", value_parser = choice::<Format>(&Format::NAMES), value_delimiter = ',', default_value = "html,md,csv,json")]
    pub format: Vec<Format>,
    /// For `smoke`'s node files (a fleet report): what makes a figure an outlier, a fraction
    /// worse than the allocation's median (`10%`) or a robust z-score cut (`mad:3.5`).
    #[arg(long, value_name = "RULE", default_value = "10%")]
    pub outlier: String,
    /// The history the run is checked against for regressions (read only: `report` records
    /// nothing); --no-history leaves the check out.
    #[command(flatten)]
    pub history: HistoryArg,
}

/// `hpcready baselines`.
#[derive(Debug, Args)]
pub struct BaselinesArgs {
    /// list or show.
    #[command(subcommand)]
    pub command: BaselinesCommand,
}

/// `hpcready baselines …`.
#[derive(Debug, Subcommand)]
pub enum BaselinesCommand {
    /// List the shipped profiles.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one profile with every figure and its source.
    Show {
        /// Profile id, or a profile file.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Turn a results file measured on the machine to compare against (e.g. your cloud instance)
    /// into a baseline profile: the most exact comparison, same kernels on both sides.
    Save {
        /// results.json from `hpcready run` or `assess` on that machine (or --from-history).
        #[arg(
            required_unless_present = "from_history",
            conflicts_with = "from_history"
        )]
        results: Option<PathBuf>,
        /// Build the baseline from the history instead: each figure the median of the runs
        /// selected (--machine, --since, --last), with their spread.
        #[arg(long)]
        from_history: bool,
        #[command(flatten)]
        filter: RunFilter,
        #[command(flatten)]
        store: HistoryPath,
        /// The baseline's id (letters, digits, '.', '-', '_').
        #[arg(long)]
        id: String,
        /// Display name (default: the id and the host it was measured on).
        #[arg(long)]
        name: Option<String>,
        /// Profile file to write (default: ./ID.toml); an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}
