//! The checklist against fake environments: temporary roots, fake programs, chosen variables.

use super::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

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
        run(&self.env, &gpus, &[], arch, "none found")
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
