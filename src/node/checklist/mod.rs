//! The porting checklist: what a team moving from a cloud cluster to a supercomputer node trips
//! over, checked on the node. Each item is pass / warn / fail / info with one line of advice.
//!
//! Everything is read locally — files under /sys, /proc and /etc, programs on PATH, libraries in
//! the loader's directories, environment variables; nothing is sent over the network. All reads
//! go through [`Env`], so every check runs against a fake environment in tests (a temporary root,
//! fake programs on PATH, chosen variables, a mounts file).

use serde::{Deserialize, Serialize};

use std::path::Path;

/// An item's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ready as it is.
    Pass,
    /// Works, but needs a change or a look.
    Warn,
    /// Blocks training as it runs on the cloud.
    Fail,
    /// A fact worth knowing.
    Info,
}

impl Status {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Info => "info",
        }
    }
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier (`accelerators`, `mpi`, `filesystem` …).
    pub id: String,
    /// What was checked.
    pub item: String,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub finding: String,
    /// One line of advice.
    pub advice: String,
}

fn check(id: &str, item: &str, status: Status, finding: String, advice: &str) -> Check {
    Check {
        id: id.into(),
        item: item.into(),
        status,
        finding,
        advice: advice.into(),
    }
}

pub use crate::node::env::Env;

/// Parallel file systems where many small files are slow.
const PARALLEL_FS: [&str; 5] = ["lustre", "gpfs", "beegfs", "wekafs", "cephfs"];

/// Every check, on `env`, for a node whose hardware GPUs Vulkan sees are `gpus` and whose
/// system lists `listed` (vendor tools, /sys), of the architecture `arch`; `gpu_note` says why
/// Vulkan sees none, when it sees none.
pub fn run(
    env: &Env,
    gpus: &[String],
    listed: &[crate::node::gpus::GpuListing],
    arch: &str,
    gpu_note: &str,
) -> Vec<Check> {
    let mut out = Vec::new();

    // Accelerators and their drivers.
    if !listed.is_empty() {
        let mut sources: Vec<&str> = listed
            .iter()
            .flat_map(|g| g.sources.iter().map(String::as_str))
            .collect();
        sources.sort_unstable();
        sources.dedup();
        out.push(check(
            "gpus-listed",
            "GPUs the system lists",
            Status::Pass,
            format!(
                "{} GPU(s): {} (from {})",
                listed.len(),
                grouped(listed.iter().map(|g| g.name.as_str())),
                sources.join(", ")
            ),
            "each GPU's line in `hpcready probe` says which path (Vulkan, PyTorch) reaches it",
        ));
    }
    out.push(if gpus.is_empty() && !listed.is_empty() {
        check(
            "accelerators",
            "GPUs through Vulkan (wgpu)",
            Status::Warn,
            format!(
                "none of the {} GPU(s) through Vulkan: {}",
                listed.len(),
                listed[0].vulkan.why
            ),
            "measure them through PyTorch (`--backend torch`, `--python CMD`); our WGSL kernels need a Vulkan driver",
        )
    } else if gpus.is_empty() {
        check(
            "accelerators",
            "GPUs through Vulkan (wgpu)",
            Status::Fail,
            format!("no hardware GPU adapter: {gpu_note}"),
            "a node needs the Vulkan loader (libvulkan1) and its GPU driver's Vulkan ICD; run on a GPU partition",
        )
    } else {
        check(
            "accelerators",
            "GPUs through Vulkan (wgpu)",
            Status::Pass,
            format!("{} GPU(s): {}", gpus.len(), gpus.join(", ")),
            "the benchmarks run on these",
        )
    });
    out.push(match env.which(&["nvidia-smi", "rocm-smi", "amd-smi", "xpu-smi"]) {
        Some((name, _)) => check(
            "gpu-tools",
            "GPU driver tools",
            Status::Pass,
            format!("{name} on PATH"),
            "the driver is installed; check its CUDA/ROCm version against your framework's wheels",
        ),
        None => check(
            "gpu-tools",
            "GPU driver tools",
            if gpus.is_empty() { Status::Warn } else { Status::Info },
            "no nvidia-smi, rocm-smi or amd-smi on PATH".into(),
            "load the site's GPU/ROCm module (`module avail`) or run on a GPU partition",
        ),
    });

    // CPU architecture.
    out.push(if arch == "aarch64" {
        check(
            "cpu-arch",
            "CPU architecture",
            Status::Warn,
            "aarch64 (Arm, e.g. GH200 or JUPITER nodes)".into(),
            "x86-64 wheels and container images do not run: use aarch64 builds (PyTorch publishes them) and rebuild images",
        )
    } else {
        check(
            "cpu-arch",
            "CPU architecture",
            Status::Pass,
            arch.to_string(),
            "the same wheels and images as on the cloud",
        )
    });

    // MPI and Slurm.
    out.push(match env.which(&["mpirun", "mpiexec", "srun"]) {
        Some((name, _)) => check(
            "mpi",
            "MPI launcher",
            Status::Pass,
            format!("{name} on PATH"),
            "launch with srun (or mpirun) instead of torchrun's rendezvous across nodes",
        ),
        None => check(
            "mpi",
            "MPI launcher",
            Status::Warn,
            "no mpirun, mpiexec or srun on PATH".into(),
            "load the site's MPI module; multi-node jobs are launched through it",
        ),
    });
    let in_job = env.var("SLURM_JOB_ID");
    out.push(match (in_job, env.which(&["sbatch", "srun", "sinfo"])) {
        (Some(job), _) => {
            let get = |k: &str| env.var(k).unwrap_or("?").to_string();
            let gpus_in_job = env
                .var("SLURM_GPUS_ON_NODE")
                .or_else(|| env.var("SLURM_JOB_GPUS"))
                .or_else(|| env.var("CUDA_VISIBLE_DEVICES"))
                .or_else(|| env.var("ROCR_VISIBLE_DEVICES"))
                .unwrap_or("none requested");
            check(
                "slurm",
                "Slurm",
                Status::Info,
                format!(
                    "inside job {job}: {} node(s), {} task(s), {} per node, GPUs on this node: {gpus_in_job}",
                    get("SLURM_JOB_NUM_NODES"),
                    get("SLURM_NTASKS"),
                    get("SLURM_NTASKS_PER_NODE"),
                ),
                "one task per GPU is the usual layout (--ntasks-per-node = GPUs per node, --gpus-per-task 1)",
            )
        }
        (None, Some((name, _))) => check(
            "slurm",
            "Slurm",
            Status::Pass,
            format!("{name} on PATH (not inside a job)"),
            "submit with sbatch (README: Running under Slurm)",
        ),
        (None, None) => check(
            "slurm",
            "Slurm",
            Status::Info,
            "no Slurm commands on PATH".into(),
            "not a Slurm login or compute node; supercomputers schedule through Slurm",
        ),
    });

    // Containers.
    out.push(match env.which(&["apptainer", "singularity", "docker", "podman"]) {
        Some((name, _)) if name == "apptainer" || name == "singularity" => check(
            "containers",
            "Container runtime",
            Status::Pass,
            format!("{name} on PATH"),
            "convert images with `apptainer build image.sif docker://…` and bind the scratch directory",
        ),
        Some((name, _)) => check(
            "containers",
            "Container runtime",
            Status::Warn,
            format!("only {name} on PATH"),
            "HPC sites rarely allow Docker on compute nodes: plan for Apptainer (`apptainer build x.sif docker://…`)",
        ),
        None => check(
            "containers",
            "Container runtime",
            Status::Warn,
            "no apptainer, singularity, docker or podman on PATH".into(),
            "load the site's Apptainer module, or install your stack in a virtual environment",
        ),
    });

    // Collective libraries and their network plugins.
    let nccl = env.find_lib(&["libnccl.so", "librccl.so"]);
    out.push(match &nccl {
        Some(p) => check(
            "collectives",
            "NCCL / RCCL",
            Status::Pass,
            format!("{}", p.display()),
            "make sure your framework loads this build (site builds know the network)",
        ),
        None => check(
            "collectives",
            "NCCL / RCCL",
            Status::Info,
            "no system libnccl or librccl".into(),
            "PyTorch wheels bundle their own; without the site's network plugin they fall back to TCP sockets",
        ),
    });
    let cxi = env.list("/sys/class/cxi");
    let ib = env.list("/sys/class/infiniband");
    let plugin = env.find_lib(&["libnccl-net", "librccl-net", "libnccl-ofi"]);
    let libfabric = env.find_lib(&["libfabric.so"]);
    out.push(match (&plugin, cxi.is_empty(), ib.iter().any(|d| d.starts_with("efa"))) {
        (Some(p), _, _) => check(
            "net-plugin",
            "NCCL/RCCL network plugin",
            Status::Pass,
            format!("{}", p.display()),
            "export NCCL_NET_PLUGIN if your framework does not find it",
        ),
        (None, false, _) | (None, _, true) => check(
            "net-plugin",
            "NCCL/RCCL network plugin",
            Status::Warn,
            format!(
                "{} but no aws-ofi-nccl / aws-ofi-rccl plugin (libnccl-net*) found{}",
                if cxi.is_empty() { "EFA devices" } else { "Slingshot (cxi) devices" },
                if libfabric.is_some() { "; libfabric is present" } else { "" }
            ),
            "load the site's aws-ofi-rccl/aws-ofi-nccl module: without it collectives run over TCP, many times slower",
        ),
        (None, true, false) => check(
            "net-plugin",
            "NCCL/RCCL network plugin",
            Status::Info,
            "none found (none needed for InfiniBand, which NCCL drives itself)".into(),
            "on Slingshot or EFA, an OFI plugin is required",
        ),
    });
    out.push(if !cxi.is_empty() {
        check(
            "interconnect",
            "High-speed interconnect",
            Status::Pass,
            format!("HPE Slingshot: {}", cxi.join(", ")),
            "set FI_PROVIDER=cxi and use the OFI plugin for NCCL/RCCL",
        )
    } else if !ib.is_empty() {
        check(
            "interconnect",
            "High-speed interconnect",
            Status::Pass,
            format!("InfiniBand / RDMA: {}", ib.join(", ")),
            "NCCL uses it directly; check NCCL_IB_HCA if some ports are for storage",
        )
    } else {
        check(
            "interconnect",
            "High-speed interconnect",
            Status::Warn,
            "no InfiniBand, EFA or Slingshot device under /sys/class".into(),
            "multi-node training would fall back to TCP: run on the compute partition",
        )
    });

    // File systems.
    let cwd_fs = env.fs_type(&env.cwd);
    out.push(match &cwd_fs {
        Some((mnt, fs)) if PARALLEL_FS.contains(&fs.as_str()) => check(
            "filesystem",
            "Working directory's file system",
            Status::Warn,
            format!("{} is on {fs} (mounted at {mnt})", env.cwd.display()),
            "parallel file systems are slow with many small files: pack data into shards (tar/WebDataset) and keep venvs in a container image",
        ),
        Some((mnt, fs)) => check(
            "filesystem",
            "Working directory's file system",
            Status::Info,
            format!("{} is on {fs} (mounted at {mnt})", env.cwd.display()),
            "put datasets and checkpoints on the site's scratch file system, not in home",
        ),
        None => check(
            "filesystem",
            "Working directory's file system",
            Status::Info,
            "unknown (no /proc/mounts entry)".into(),
            "put datasets and checkpoints on the site's scratch file system",
        ),
    });
    out.push(match env.var("SCRATCH") {
        Some(s) => {
            let fs = env
                .fs_type(Path::new(s))
                .map_or("an unknown file system".to_string(), |(_, f)| f);
            check(
                "scratch",
                "Scratch directory",
                Status::Pass,
                format!("$SCRATCH = {s} on {fs}"),
                "stage datasets there; check its purge policy before keeping checkpoints",
            )
        }
        None => check(
            "scratch",
            "Scratch directory",
            Status::Info,
            "$SCRATCH is not set".into(),
            "ask the site where large data goes (often /scratch/<project>)",
        ),
    });

    // Module system.
    out.push(
        match env.var("LMOD_CMD").or_else(|| env.var("MODULESHOME")) {
            Some(m) => check(
                "modules",
                "Module system",
                Status::Pass,
                format!("Lmod / Environment Modules ({m})"),
                "`module avail` lists the site's PyTorch, ROCm/CUDA, MPI and plugin builds",
            ),
            None => check(
                "modules",
                "Module system",
                Status::Info,
                "no LMOD_CMD or MODULESHOME".into(),
                "software comes from the image or your own environment",
            ),
        },
    );

    // Offline operation: compute nodes usually have no internet.
    let offline: Vec<String> = [
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("HF_DATASETS_OFFLINE", "1"),
        ("WANDB_MODE", "offline"),
    ]
    .iter()
    .filter(|(k, v)| env.var(k) == Some(v))
    .map(|(k, v)| format!("{k}={v}"))
    .collect();
    let proxies: Vec<&str> = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]
        .into_iter()
        .filter(|k| env.var(k).is_some())
        .collect();
    out.push(match (offline.is_empty(), proxies.is_empty()) {
        (false, _) => check(
            "offline",
            "Offline settings",
            Status::Pass,
            offline.join(", "),
            "pre-download models and datasets on a login node",
        ),
        (true, false) => check(
            "offline",
            "Offline settings",
            Status::Info,
            format!("a proxy is set ({})", proxies.join(", ")),
            "downloads go through the proxy; set HF_HUB_OFFLINE=1 once the models are cached",
        ),
        (true, true) => check(
            "offline",
            "Offline settings",
            Status::Warn,
            "no HF_HUB_OFFLINE, WANDB_MODE=offline or proxy set".into(),
            "compute nodes usually have no internet: pre-download, then set HF_HUB_OFFLINE=1 and WANDB_MODE=offline",
        ),
    });
    out
}

/// The high-speed network under /sys/class: Slingshot (`cxi`), EFA (`infiniband/efa*`), or
/// InfiniBand / RoCE (any other `infiniband` device).
pub fn fabric(env: &Env) -> Option<crate::node::Fabric> {
    use crate::node::Fabric;
    let ib = env.list("/sys/class/infiniband");
    if !env.list("/sys/class/cxi").is_empty() {
        Some(Fabric::Slingshot)
    } else if ib.iter().any(|d| d.starts_with("efa")) {
        Some(Fabric::Efa)
    } else if !ib.is_empty() {
        Some(Fabric::Infiniband)
    } else {
        None
    }
}

/// The user's PyTorch: found, and whether it reaches the node's GPUs.
pub fn torch_check(node: &super::Inventory) -> Option<Check> {
    let t = node.torch.as_ref()?;
    let item = "PyTorch (the framework path)";
    Some(match &t.found {
        None => check(
            "torch",
            item,
            if node.gpus.is_empty() {
                Status::Info
            } else {
                Status::Warn
            },
            format!(
                "{}: {}",
                t.python,
                t.problem.as_deref().unwrap_or("not usable")
            ),
            "give the Python your training uses: --python venv/bin/python, after `module load pytorch`, or a container (--python 'apptainer exec --nv|--rocm image.sif python3')",
        ),
        Some(info) => {
            let reached = node.gpus.iter().filter(|g| g.torch.yes).count();
            let (status, finding) = if info.has_accelerator() {
                (
                    if reached < node.gpus.len() {
                        Status::Warn
                    } else {
                        Status::Pass
                    },
                    format!(
                        "{} sees {} {} device(s); it reaches {} of the {} GPU(s) listed",
                        info.libraries(),
                        info.devices.len(),
                        info.accelerator,
                        reached,
                        node.gpus.len()
                    ),
                )
            } else if node.gpus.is_empty() {
                (
                    Status::Info,
                    format!(
                        "{} (no accelerator on this node; its CPU path is measured with --backend torch)",
                        info.libraries()
                    ),
                )
            } else {
                (
                    Status::Fail,
                    format!(
                        "{} sees none of the {} GPU(s) listed",
                        info.libraries(),
                        node.gpus.len()
                    ),
                )
            };
            check(
                "torch",
                item,
                status,
                finding,
                "the benchmarks measure this torch with --backend torch (auto does when it sees an accelerator)",
            )
        }
    })
}

/// `AMD Instinct MI250X ×8, NVIDIA H100 ×1`: names in order of first appearance, counted.
fn grouped<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for n in names {
        match groups.iter_mut().find(|(g, _)| *g == n) {
            Some((_, c)) => *c += 1,
            None => groups.push((n, 1)),
        }
    }
    groups
        .iter()
        .map(|(n, c)| {
            if *c > 1 {
                format!("{n} ×{c}")
            } else {
                n.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The GPU count against a baseline's: its GPUs (or GCDs) per node.
pub fn gpu_count(gpus: usize, baseline_name: &str, baseline_devices: u32) -> Option<Check> {
    (baseline_devices > 0).then(|| {
        let status = if gpus as u32 >= baseline_devices {
            Status::Pass
        } else {
            Status::Warn
        };
        check(
            "gpu-count",
            "GPUs per node against the baseline",
            status,
            format!("{gpus} here, {baseline_devices} on {baseline_name}"),
            "change the parallel layout (tensor/pipeline parallel degrees) to the GPUs per node here",
        )
    })
}

#[cfg(test)]
mod tests;
