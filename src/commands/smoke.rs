//! `hpcready smoke`: one task per node checks the node before a job, in about a minute on a GPU
//! node: the GPUs expected are there, the vendor tool and the kernel say they are healthy, the
//! limits collectives need are set, and every device runs a short matmul (and a device copy
//! through Vulkan) in its own `hpcready run` process with a time limit, so a hung or broken GPU
//! costs only itself and is named. The node's results file (`DIR/<host>.json`) is written at
//! once with the health items and again after each device, as every results file is. It exits 0
//! once its checks ran, ready or not (the verdict is in the file); bad input exits 2.

use super::emit;
use super::safe_name;
use crate::backend::torch;
use crate::cli::SmokeArgs;
use crate::node::checklist::{Check, Status};
use crate::node::env::Env;
use crate::node::gpus::run_command;
use crate::node::{Inventory, health};
use crate::results::Results;
use crate::results::io::{ResultsWriter, ensure_writable_dir, load};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One device's measurement: what it is called, and the `run` arguments that measure it.
struct Target {
    label: String,
    args: Vec<String>,
}

/// `hpcready smoke`.
pub fn smoke(args: &SmokeArgs) -> anyhow::Result<()> {
    let profile = crate::profiles::lookup(&args.baseline)?;
    let python = args.python.resolve()?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join("smoke"));
    ensure_writable_dir(&dir, "--out")?;
    let mut node = Inventory::probe();
    if let Some(h) = test_host() {
        node.host = h;
    }
    let env = Env::real();
    let (expected, from) = match args.gpus_per_node {
        Some(n) => (n as usize, "--gpus-per-node".to_string()),
        None => (
            profile
                .accelerator
                .as_ref()
                .map_or(0, |a| (a.count * a.devices_per_accelerator) as usize),
            format!("{} (the baseline; --gpus-per-node sets it)", profile.name),
        ),
    };
    let mut items = vec![gpu_count(node.gpus.len(), expected, &from)];
    if let Some(h) = health::query_nvidia(&env) {
        items.extend(health::nvidia_checks(&h, &[std::process::id()]));
    } else if let Some(h) = health::query_amd(&env) {
        items.extend(health::amd_checks(&h, &[std::process::id()]));
    } else {
        let (gpus, pages) = health::read_amdgpu(&env);
        if !gpus.is_empty() {
            let procs = health::read_kfd_processes(&env);
            items.extend(health::amdgpu_checks(
                &gpus,
                &pages,
                procs.as_deref(),
                &[std::process::id()],
            ));
        } else if env.which(&["rocm-smi"]).is_some() {
            items.push(health::rocm_smi_only());
        }
    }
    items.push(health::kernel_log_check(kernel_log(&env).as_deref()));
    items.push(health::memlock_check(memlock()));
    items.push(health::shm_check(shm_bytes(&env.sys("/dev/shm"))));
    node.checklist.extend(items);
    // The user's torch, looked for once; each device then runs in its own process.
    let probe = torch::probe(&python, Duration::from_secs(args.timeout.min(120)));
    let targets = targets(&node, &probe, &python);
    node.set_torch(probe);
    let path = dir.join(format!("{}.json", safe_name(&node.host)));
    let results = Results::new(node, std::env::args().collect(), None);
    let mut w = ResultsWriter::create(path.clone(), results)?;
    crate::say!(
        "smoke on {}: {} device(s), {} s limit each",
        w.results().node.host,
        targets.len(),
        args.timeout
    );
    for (i, t) in targets.iter().enumerate() {
        let tmp = dir.join(format!(
            ".{}-{i}.json.part",
            safe_name(&w.results().node.host)
        ));
        measure(t, &tmp, Duration::from_secs(args.timeout), i, &mut w)?;
        let _ = std::fs::remove_file(&tmp);
    }
    let results = w.finish(true)?;
    let failed: Vec<&Check> = results
        .node
        .checklist
        .iter()
        .filter(|c| c.status == Status::Fail && health::HEALTH_ITEMS.contains(&c.id.as_str()))
        .collect();
    let invalid = results
        .measurements
        .iter()
        .filter(|m| !m.is_valid())
        .count();
    let mut text = String::new();
    for c in &failed {
        text += &format!("FAIL {}: {}\n", c.item, c.finding);
    }
    text += &format!(
        "{}: {} measurement(s), {} invalid, {} failing item(s)\nresults: {}\n",
        results.node.host,
        results.measurements.len(),
        invalid,
        failed.len(),
        path.display()
    );
    if !(failed.is_empty() && invalid == 0) {
        text += &format!("{}: NOT READY\n", results.node.host);
    }
    super::remember(&args.history, "smoke", &results, &path);
    // The node's verdict is in its file and in the fleet report: a node that is not ready still
    // exits 0 once its checks ran, so that the launcher does not end the other nodes' checks
    // (mpirun aborts the job at a rank's non-zero exit) and the job goes on to its report.
    emit(&text)
}

/// The GPUs listed against those expected: a missing GPU fails the node.
fn gpu_count(listed: usize, expected: usize, from: &str) -> Check {
    let status = if listed < expected {
        Status::Fail
    } else {
        Status::Pass
    };
    Check {
        id: "gpu-count".into(),
        item: "GPUs present".into(),
        status,
        finding: format!("{listed} listed, {expected} expected ({from})"),
        advice: if status == Status::Fail {
            "a GPU is missing (fallen off the bus, or hidden by CUDA_VISIBLE_DEVICES / \
             ROCR_VISIBLE_DEVICES): exclude the node and report it to the site"
                .into()
        } else {
            "none".into()
        },
    }
}

/// What each device runs: every accelerator torch sees (matmul through the user's torch), else
/// every hardware GPU Vulkan sees (matmul and a device copy through our kernels), else the CPU.
fn targets(
    node: &Inventory,
    probe: &crate::node::TorchProbe,
    python: &torch::harness::PythonCommand,
) -> Vec<Target> {
    let quick = |backend: &str, bench: &str| {
        vec![
            "--backend".to_string(),
            backend.into(),
            "--bench".into(),
            bench.into(),
            "--suite".into(),
            "quick".into(),
        ]
    };
    if let Some(info) = probe.found.as_ref().filter(|i| i.has_accelerator()) {
        return info
            .devices
            .iter()
            .map(|d| {
                let mut a = quick("torch", "matmul");
                a.extend([
                    "--device".into(),
                    d.index.to_string(),
                    "--python".into(),
                    python.display(),
                ]);
                Target {
                    label: format!("GPU {} ({}, torch)", d.index, d.name),
                    args: a,
                }
            })
            .collect();
    }
    let vulkan: Vec<_> = node
        .accelerators
        .devices
        .iter()
        .filter(|a| !a.is_cpu())
        .filter_map(|a| a.index.map(|i| (i, a.name.clone())))
        .collect();
    if !vulkan.is_empty() {
        return vulkan
            .into_iter()
            .map(|(i, name)| {
                let mut a = quick("gpu", "matmul,membw");
                a.extend(["--device".into(), i.to_string()]);
                Target {
                    label: format!("GPU {i} ({name}, Vulkan)"),
                    args: a,
                }
            })
            .collect();
    }
    // On the CPU the matmul alone: the quick suite's copy is a 4 GiB buffer (half a minute on a
    // 2-core machine), and a smaller one would measure caches, not the node's memory.
    vec![Target {
        label: "CPU".into(),
        args: quick("cpu", "matmul"),
    }]
}

/// Runs one device's measurement in its own process and adds what it measured; a process that
/// hangs past `limit` is killed and named, one that fails is named with its last words.
fn measure(
    t: &Target,
    tmp: &Path,
    limit: Duration,
    i: usize,
    w: &mut ResultsWriter,
) -> anyhow::Result<()> {
    let mut cmd = match test_hang(i) {
        Some(c) => c,
        None => {
            let mut c = Command::new(std::env::current_exe()?);
            // The smoke run is recorded in the history once, with all its devices; the
            // device's own run writes a temporary file that is gone a moment later.
            c.arg("run")
                .args(&t.args)
                .args(["--sampling", "smoke", "--no-history", "--out"])
                .arg(tmp);
            c
        }
    };
    // The device runs alone: the launcher's variables would make it a rank of the job.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if ["SLURM_", "OMPI_", "PMI_", "PMIX_", "TORCHELASTIC_"]
            .iter()
            .any(|p| k.starts_with(p))
            || [
                "RANK",
                "WORLD_SIZE",
                "LOCAL_RANK",
                "LOCAL_WORLD_SIZE",
                "MASTER_ADDR",
                "MASTER_PORT",
            ]
            .contains(&k.as_str())
        {
            cmd.env_remove(&k);
        }
    }
    test_slow(&mut cmd);
    let done = run_command(cmd, limit);
    let measured = done
        .as_ref()
        .and_then(|_| load(tmp).ok())
        .map(|r| r.measurements)
        .unwrap_or_default();
    let problem = match &done {
        None => Some(format!(
            "no answer within {} s: killed (a hung GPU or driver)",
            limit.as_secs()
        )),
        Some(c) if measured.is_empty() => Some(
            c.stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or(if c.ok {
                    "it measured nothing"
                } else {
                    "it failed"
                })
                .trim()
                .to_string(),
        ),
        Some(_) => None,
    };
    if let Some(p) = problem {
        crate::say!("FAILED: {}: {p}", t.label);
        w.results_mut().node.checklist.push(Check {
            id: "device-measurement".into(),
            item: format!("{}: short measurement", t.label),
            status: Status::Fail,
            finding: p,
            advice: "exclude the node and report the device to the site".into(),
        });
        w.save()?;
    }
    for mut m in measured {
        m.device = format!("{}: {}", t.label, m.device);
        w.push(m)?;
    }
    Ok(())
}

/// The kernel log (`dmesg`), `None` where it is not readable (dmesg_restrict).
fn kernel_log(env: &Env) -> Option<String> {
    #[cfg(feature = "test-hooks")]
    if let Some(f) = std::env::var_os("HPCREADY_TEST_KERNEL_LOG") {
        return std::fs::read_to_string(f).ok();
    }
    let (_, dmesg) = env.which(&["dmesg"])?;
    let mut cmd = Command::new(dmesg);
    cmd.env("LC_ALL", "C");
    run_command(cmd, Duration::from_secs(10))
        .filter(|c| c.ok)
        .map(|c| c.stdout)
}

/// `RLIMIT_MEMLOCK`'s soft limit in bytes, `None` when unlimited.
fn memlock() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } == 0;
    (ok && r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
}

/// The size of the file system at `path` in bytes, `None` when it is not there.
fn shm_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: zeroed is a valid statvfs; statvfs fills it from a NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0;
    ok.then(|| s.f_blocks as u64 * s.f_frsize as u64)
}

/// Test hook (`test-hooks` builds): `HPCREADY_TEST_HOSTS=a,b,c` names this process's node by
/// its rank under a launcher (rank 0 alone), so one host can stand for several nodes.
#[cfg(feature = "test-hooks")]
fn test_host() -> Option<String> {
    let hosts = std::env::var("HPCREADY_TEST_HOSTS").ok()?;
    let rank = match crate::comm::job::Launch::from_env() {
        crate::comm::job::Launch::Job(j) => j.rank,
        _ => 0,
    };
    hosts.split(',').nth(rank).map(|h| h.trim().to_string())
}

#[cfg(not(feature = "test-hooks"))]
fn test_host() -> Option<String> {
    None
}

/// Test hook (`test-hooks` builds): `HPCREADY_TEST_SMOKE_HANG=HOST` makes that node's first
/// device hang (a process that never answers), so the time limit and the naming are tested.
#[cfg(feature = "test-hooks")]
fn test_hang(i: usize) -> Option<Command> {
    let host = std::env::var("HPCREADY_TEST_SMOKE_HANG").ok()?;
    (i == 0 && test_host().as_deref() == Some(host.as_str())).then(|| {
        let mut c = Command::new("sleep");
        c.arg("3600");
        c
    })
}

#[cfg(not(feature = "test-hooks"))]
fn test_hang(_: usize) -> Option<Command> {
    None
}

/// Test hook (`test-hooks` builds): `HPCREADY_TEST_SMOKE_SLOW=HOST` runs that node's devices on
/// the fake backend (`HPCREADY_TEST_BACKEND=KIND,TFLOPS,GBPS`) at half its rates: a slow node
/// that verifies, for the fleet report's outlier rule.
#[cfg(feature = "test-hooks")]
fn test_slow(cmd: &mut Command) {
    let (Ok(host), Ok(spec)) = (
        std::env::var("HPCREADY_TEST_SMOKE_SLOW"),
        std::env::var(crate::backend::fake::VAR),
    ) else {
        return;
    };
    if test_host().as_deref() != Some(host.as_str()) {
        return;
    }
    let halved: Vec<String> = spec
        .split(',')
        .enumerate()
        .map(|(i, p)| match p.parse::<f64>() {
            Ok(x) if i > 0 => (x / 2.0).to_string(),
            _ => p.to_string(),
        })
        .collect();
    cmd.env(crate::backend::fake::VAR, halved.join(","));
}

#[cfg(not(feature = "test-hooks"))]
fn test_slow(_: &mut Command) {}
