//! The porting checklist: what a team moving from a cloud cluster to a supercomputer node trips
//! over, checked on the node. Each item is pass / warn / fail / info with one line of advice.
//!
//! Everything is read locally — files under /sys, /proc and /etc, programs on PATH, libraries in
//! the loader's directories, environment variables; nothing is sent over the network. All reads
//! go through [`Env`], so every check runs against a fake environment in tests (a temporary root,
//! fake programs on PATH, chosen variables, a mounts file).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Where the checks read from: the real node, or a fake one in tests.
#[derive(Debug, Clone)]
pub struct Env {
    /// Prefix for absolute system paths (/sys, /proc, /etc, library directories): `/` for real.
    pub root: PathBuf,
    /// Environment variables.
    pub vars: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
}

impl Env {
    /// This process's environment on this node.
    pub fn real() -> Self {
        Self {
            root: PathBuf::from("/"),
            vars: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A system path under the root.
    fn sys(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// The first of `programs` found on PATH.
    fn which(&self, programs: &[&str]) -> Option<(String, PathBuf)> {
        let path = self.var("PATH")?;
        programs.iter().find_map(|p| {
            std::env::split_paths(path)
                .map(|d| d.join(p))
                .find(|f| f.is_file())
                .map(|f| (p.to_string(), f))
        })
    }

    /// Entries of a system directory, sorted.
    fn list(&self, abs: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.sys(abs))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Directories the dynamic loader searches: LD_LIBRARY_PATH, the standard ones and those
    /// named in /etc/ld.so.conf.d.
    fn lib_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .var("LD_LIBRARY_PATH")
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        for d in [
            "/lib",
            "/lib64",
            "/usr/lib",
            "/usr/lib64",
            "/usr/local/lib",
            "/usr/local/lib64",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/opt/rocm/lib",
        ] {
            dirs.push(self.sys(d));
        }
        for conf in self.list("/etc/ld.so.conf.d") {
            if let Ok(text) =
                std::fs::read_to_string(self.sys(&format!("/etc/ld.so.conf.d/{conf}")))
            {
                dirs.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| l.starts_with('/'))
                        .map(|l| self.sys(l)),
                );
            }
        }
        dirs
    }

    /// The first library whose file name starts with one of `prefixes`.
    fn find_lib(&self, prefixes: &[&str]) -> Option<PathBuf> {
        self.lib_dirs().into_iter().find_map(|d| {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&d)
                .ok()?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| prefixes.iter().any(|x| n.starts_with(x)))
                })
                .collect();
            names.sort();
            names.into_iter().next()
        })
    }

    /// The file system type of the mount holding `path` (longest mount point that prefixes it).
    fn fs_type(&self, path: &Path) -> Option<(String, String)> {
        let mounts = std::fs::read_to_string(self.sys("/proc/mounts")).ok()?;
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_, mnt, fstype) = (f.next()?, f.next()?, f.next()?);
                Some((mnt.replace("\\040", " "), fstype.to_string()))
            })
            .filter(|(mnt, _)| path.starts_with(mnt))
            .max_by_key(|(mnt, _)| mnt.len())
    }
}

/// Parallel file systems where many small files are slow.
const PARALLEL_FS: [&str; 5] = ["lustre", "gpfs", "beegfs", "wekafs", "cephfs"];

/// Every check, on `env`, for a node with `gpus` hardware GPUs of the architecture `arch`;
/// `gpu_note` says why there are none, when there are none.
pub fn run(env: &Env, gpus: &[String], arch: &str, gpu_note: &str) -> Vec<Check> {
    let mut out = Vec::new();

    // Accelerators and their drivers.
    out.push(if gpus.is_empty() {
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
mod tests {
    use super::*;
    use std::fs;

    /// A fake node: a temporary root, a bin directory on PATH, chosen variables.
    struct Fake {
        dir: tempfile::TempDir,
        env: Env,
    }

    impl Fake {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            fs::create_dir_all(&bin).unwrap();
            let mut vars = BTreeMap::new();
            vars.insert("PATH".into(), bin.display().to_string());
            let env = Env {
                root: dir.path().to_path_buf(),
                vars,
                cwd: PathBuf::from("/home/user/project"),
            };
            Self { dir, env }
        }
        fn program(&self, name: &str) {
            fs::write(self.dir.path().join("bin").join(name), "#!/bin/sh\n").unwrap();
        }
        fn file(&self, abs: &str, text: &str) {
            let p = self.env.sys(abs);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        fn var(&mut self, k: &str, v: &str) {
            self.env.vars.insert(k.into(), v.into());
        }
        fn run(&self, gpus: &[&str], arch: &str) -> BTreeMap<String, Check> {
            let gpus: Vec<String> = gpus.iter().map(|s| s.to_string()).collect();
            run(&self.env, &gpus, arch, "none found")
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect()
        }
    }

    #[test]
    fn a_bare_node_warns_about_everything_a_cloud_team_relies_on() {
        let f = Fake::new();
        let c = f.run(&[], "x86_64");
        assert_eq!(c["accelerators"].status, Status::Fail);
        assert_eq!(c["gpu-tools"].status, Status::Warn);
        assert_eq!(c["mpi"].status, Status::Warn);
        assert_eq!(c["containers"].status, Status::Warn);
        assert_eq!(c["interconnect"].status, Status::Warn);
        assert_eq!(c["offline"].status, Status::Warn);
        assert_eq!(c["cpu-arch"].status, Status::Pass);
        assert!(c.values().all(|x| !x.advice.is_empty()));
    }

    #[test]
    fn a_lumi_like_node_passes_and_names_what_it_found() {
        let mut f = Fake::new();
        for p in ["rocm-smi", "srun", "sbatch", "singularity"] {
            f.program(p);
        }
        f.file("/sys/class/cxi/cxi0/device", "");
        f.file("/opt/cray/lib64/librccl-net.so", "");
        f.file("/etc/ld.so.conf.d/cray.conf", "/opt/cray/lib64\n");
        f.file("/usr/lib64/librccl.so.1", "");
        f.file(
            "/proc/mounts",
            "rootfs / rootfs rw 0 0\n10.0.0.1@o2ib:/scratch /scratch lustre rw 0 0\n",
        );
        f.env.cwd = PathBuf::from("/scratch/project_465000/me");
        f.var("SCRATCH", "/scratch/project_465000");
        f.var("LMOD_CMD", "/usr/share/lmod/lmod/libexec/lmod");
        f.var("HF_HUB_OFFLINE", "1");
        f.var("SLURM_JOB_ID", "12345");
        f.var("SLURM_JOB_NUM_NODES", "2");
        f.var("SLURM_NTASKS", "16");
        f.var("SLURM_NTASKS_PER_NODE", "8");
        f.var("ROCR_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7");
        let c = f.run(&["AMD Instinct MI250X"], "x86_64");
        assert_eq!(c["accelerators"].status, Status::Pass);
        assert_eq!(c["gpu-tools"].finding, "rocm-smi on PATH");
        assert_eq!(c["containers"].status, Status::Pass);
        assert!(c["interconnect"].finding.contains("Slingshot: cxi0"));
        assert_eq!(c["net-plugin"].status, Status::Pass);
        assert!(c["net-plugin"].finding.ends_with("librccl-net.so"));
        assert_eq!(c["collectives"].status, Status::Pass);
        assert_eq!(c["filesystem"].status, Status::Warn);
        assert!(c["filesystem"].finding.contains("lustre"));
        assert!(c["scratch"].finding.contains("lustre"));
        assert_eq!(c["modules"].status, Status::Pass);
        assert_eq!(c["offline"].status, Status::Pass);
        assert!(
            c["slurm"]
                .finding
                .contains("inside job 12345: 2 node(s), 16 task(s), 8 per node")
        );
        assert!(c["slurm"].finding.contains("0,1,2,3,4,5,6,7"));
    }

    #[test]
    fn slingshot_without_the_ofi_plugin_and_docker_only_warn() {
        let mut f = Fake::new();
        f.program("docker");
        f.file("/sys/class/cxi/cxi0/device", "");
        f.file("/usr/lib64/libfabric.so.1", "");
        f.var("HTTPS_PROXY", "http://proxy:3128");
        let c = f.run(&["NVIDIA GH200"], "aarch64");
        assert_eq!(c["net-plugin"].status, Status::Warn);
        assert!(c["net-plugin"].finding.contains("Slingshot"));
        assert!(c["net-plugin"].finding.contains("libfabric is present"));
        assert_eq!(c["containers"].status, Status::Warn);
        assert!(c["containers"].finding.contains("only docker"));
        assert_eq!(c["cpu-arch"].status, Status::Warn);
        assert_eq!(c["offline"].status, Status::Info);
        assert_eq!(c["gpu-tools"].status, Status::Info);
    }

    #[test]
    fn infiniband_passes_and_ld_library_path_is_searched() {
        let mut f = Fake::new();
        f.file("/sys/class/infiniband/mlx5_0/ports", "");
        let lib = f.dir.path().join("nccl/lib");
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("libnccl.so.2"), "").unwrap();
        f.var("LD_LIBRARY_PATH", &lib.display().to_string());
        let c = f.run(&["NVIDIA A100"], "x86_64");
        assert!(c["interconnect"].finding.contains("mlx5_0"));
        assert_eq!(c["collectives"].status, Status::Pass);
        assert_eq!(c["net-plugin"].status, Status::Info);
    }

    #[test]
    fn gpu_count_is_compared_with_the_baseline_devices() {
        assert_eq!(gpu_count(4, "LUMI-G", 8).unwrap().status, Status::Warn);
        assert_eq!(gpu_count(8, "p5", 8).unwrap().status, Status::Pass);
        assert!(gpu_count(1, "CPU baseline", 0).is_none());
    }
}
