//! Whether a node's GPUs are healthy enough for a training job, from the vendor's own tool and
//! the kernel: uncorrectable ECC errors, pending row remaps and row-remap failures, active
//! clock-slowdown reasons, other processes on a GPU, GPU errors in the kernel log, and the limits
//! collective libraries need (`RLIMIT_MEMLOCK`, `/dev/shm`). Each item is pass / warn / fail in
//! the tool's own words, as the porting checklist is; a field the installed tool does not report
//! is said to be unknown, never passed. NVIDIA's through `nvidia-smi`, AMD's through `amd-smi`
//! (`amd`), or where it is missing, the amdgpu driver's RAS files (`amdgpu`).

use super::checklist::{Check, Status};
use super::env::Env;
use super::gpus::run_captured;
use std::time::Duration;

mod amd;
mod amdgpu;
pub use amd::{
    AmdBadPages, AmdGpu, AmdHealth, AmdThrottle, amd_checks, parse_amd_bad_pages, parse_amd_ecc,
    parse_amd_processes, parse_amd_throttle, query_amd, rocm_smi_only,
};
pub use amdgpu::{amdgpu_checks, read_amdgpu, read_kfd_processes};

/// The checklist items that decide whether a node is ready for the job (its health); the
/// porting checklist's other items are advice about the software and stay in the file.
pub const HEALTH_ITEMS: [&str; 9] = [
    "gpu-count",
    "gpu-ecc",
    "gpu-row-remap",
    "gpu-clocks",
    "gpu-processes",
    "gpu-kernel-log",
    "memlock",
    "dev-shm",
    "device-measurement",
];

/// The fields asked of `nvidia-smi --query-gpu`, in order. A driver older than a field answers
/// "Field … is not a valid field to query"; the field is then dropped and reported unknown.
/// `clocks_event_reasons.active` is the newer name of `clocks_throttle_reasons.active`.
const NVIDIA_FIELDS: [&str; 5] = [
    "pci.bus_id",
    "ecc.errors.uncorrected.volatile.total",
    "remapped_rows.pending",
    "remapped_rows.failure",
    "clocks_event_reasons.active",
];

/// The older name tried when a driver does not know the newer one.
const THROTTLE_OLD: &str = "clocks_throttle_reasons.active";

/// NVML's clock-event reason bits that slow a GPU down (nvml.h `nvmlClocksEventReason*`); idle,
/// application clocks, sync boost and display clocks are not a slowdown.
const SLOWDOWNS: [(u64, &str); 5] = [
    (0x4, "software power cap"),
    (0x8, "hardware slowdown"),
    (0x20, "software thermal slowdown"),
    (0x40, "hardware thermal slowdown"),
    (0x80, "hardware power brake"),
];

/// One GPU's answers, `None` where the tool did not report the field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NvidiaGpu {
    /// PCI address, as printed.
    pub pci: String,
    /// Uncorrectable ECC errors since the driver loaded.
    pub ecc_uncorrected: Option<u64>,
    /// A row remap waits for a GPU reset.
    pub remap_pending: Option<bool>,
    /// A row remap failed (the memory cannot be repaired).
    pub remap_failed: Option<bool>,
    /// The active clock-event reasons, as a bit mask.
    pub slowdown: Option<u64>,
}

/// What `nvidia-smi` said: one row per GPU, and the fields it did not know.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NvidiaHealth {
    /// Per GPU.
    pub gpus: Vec<NvidiaGpu>,
    /// Fields this `nvidia-smi` rejected as unknown.
    pub unknown_fields: Vec<String>,
    /// Processes on the GPUs: (PCI address, pid, name, MiB used).
    pub processes: Vec<(String, u32, String, Option<u64>)>,
}

/// Asks `nvidia-smi` on the node (`None` when it is not on PATH or does not answer).
pub fn query_nvidia(env: &Env) -> Option<NvidiaHealth> {
    let (_, tool) = env.which(&["nvidia-smi"])?;
    let limit = Duration::from_secs(10);
    let mut fields: Vec<&str> = NVIDIA_FIELDS.to_vec();
    let mut unknown = Vec::new();
    let mut answer = None;
    // Drop (or rename) each field the tool rejects, one at a time.
    for _ in 0..=NVIDIA_FIELDS.len() {
        let query = format!("--query-gpu={}", fields.join(","));
        let c = run_captured(&tool, &[&query, "--format=csv,noheader,nounits"], limit)?;
        if c.ok {
            answer = Some(c.stdout);
            break;
        }
        let said = format!("{}\n{}", c.stdout, c.stderr);
        let rejected = fields.iter().position(|f| {
            said.contains(&format!("\"{f}\"")) && said.contains("not a valid field")
        })?;
        let f = fields[rejected];
        if f == "clocks_event_reasons.active" {
            fields[rejected] = THROTTLE_OLD;
        } else {
            unknown.push(f.to_string());
            fields.remove(rejected);
        }
    }
    let mut health = parse_nvidia(&answer?, &fields);
    health.unknown_fields = unknown;
    if let Some(c) = run_captured(
        &tool,
        &[
            "--query-compute-apps=gpu_bus_id,pid,process_name,used_memory",
            "--format=csv,noheader,nounits",
        ],
        limit,
    )
    .filter(|c| c.ok)
    {
        health.processes = parse_nvidia_apps(&c.stdout);
    }
    Some(health)
}

/// A value as nvidia-smi prints it: `[N/A]`, `[Not Supported]`, `N/A` are not answers.
fn answered(v: &str) -> Option<&str> {
    let v = v.trim();
    (!v.is_empty() && !v.starts_with('[') && !v.eq_ignore_ascii_case("n/a")).then_some(v)
}

fn yes_no(v: &str) -> Option<bool> {
    match answered(v)?.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        n => n.parse::<u64>().ok().map(|n| n > 0),
    }
}

/// Rows of `--query-gpu=FIELDS --format=csv,noheader,nounits`.
pub fn parse_nvidia(text: &str, fields: &[&str]) -> NvidiaHealth {
    let col = |name: &str| fields.iter().position(|f| *f == name);
    let gpus = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<&str> = l.split(',').map(str::trim).collect();
            let get = |name: &str| col(name).and_then(|i| v.get(i).copied());
            NvidiaGpu {
                pci: get("pci.bus_id").unwrap_or("").to_string(),
                ecc_uncorrected: get("ecc.errors.uncorrected.volatile.total")
                    .and_then(answered)
                    .and_then(|x| x.parse().ok()),
                remap_pending: get("remapped_rows.pending").and_then(yes_no),
                remap_failed: get("remapped_rows.failure").and_then(yes_no),
                slowdown: get("clocks_event_reasons.active")
                    .or_else(|| get(THROTTLE_OLD))
                    .and_then(answered)
                    .and_then(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok()),
            }
        })
        .collect();
    NvidiaHealth {
        gpus,
        ..Default::default()
    }
}

/// Rows of `--query-compute-apps=gpu_bus_id,pid,process_name,used_memory`.
pub fn parse_nvidia_apps(text: &str) -> Vec<(String, u32, String, Option<u64>)> {
    text.lines()
        .filter_map(|l| {
            let v: Vec<&str> = l.split(',').map(str::trim).collect();
            Some((
                v.first()?.to_string(),
                v.get(1)?.parse().ok()?,
                v.get(2).copied().unwrap_or("").to_string(),
                v.get(3).and_then(|m| m.parse().ok()),
            ))
        })
        .collect()
}

fn item(id: &str, item: &str, status: Status, finding: String, advice: &str) -> Check {
    Check {
        id: id.into(),
        item: item.into(),
        status,
        finding,
        advice: advice.into(),
    }
}

/// The GPU items from what `nvidia-smi` said. `own` are this job's process ids (not foreign).
pub fn nvidia_checks(h: &NvidiaHealth, own: &[u32]) -> Vec<Check> {
    let tool = "nvidia-smi";
    let unknown =
        |field: &str, what: &str| format!("unknown: this {tool} does not report {field} ({what})");
    let mut out = Vec::new();
    // Uncorrectable ECC errors.
    let bad: Vec<String> = h
        .gpus
        .iter()
        .filter(|g| g.ecc_uncorrected.is_some_and(|n| n > 0))
        .map(|g| format!("{}: {}", g.pci, g.ecc_uncorrected.unwrap_or(0)))
        .collect();
    let known = h
        .gpus
        .iter()
        .filter(|g| g.ecc_uncorrected.is_some())
        .count();
    out.push(if !bad.is_empty() {
        item(
            "gpu-ecc",
            "GPU memory: uncorrectable ECC errors",
            Status::Fail,
            format!("ecc.errors.uncorrected.volatile.total: {}", bad.join("; ")),
            "drain the node (scontrol update nodename=… state=drain reason=ECC) and report it to the site",
        )
    } else if known == 0 {
        item(
            "gpu-ecc",
            "GPU memory: uncorrectable ECC errors",
            Status::Info,
            if h.unknown_fields.iter().any(|f| f.starts_with("ecc.")) {
                unknown("ecc.errors.uncorrected.volatile.total", "an older driver")
            } else {
                "unknown: ECC is off or not reported ([N/A])".into()
            },
            "nvidia-smi -q -d ECC shows the ECC mode",
        )
    } else {
        item(
            "gpu-ecc",
            "GPU memory: uncorrectable ECC errors",
            Status::Pass,
            format!("0 on {known} of {} GPU(s)", h.gpus.len()),
            "none",
        )
    });
    // Row remapping.
    let pending: Vec<&str> = h
        .gpus
        .iter()
        .filter(|g| g.remap_pending == Some(true))
        .map(|g| g.pci.as_str())
        .collect();
    let failed: Vec<&str> = h
        .gpus
        .iter()
        .filter(|g| g.remap_failed == Some(true))
        .map(|g| g.pci.as_str())
        .collect();
    let known = h
        .gpus
        .iter()
        .filter(|g| g.remap_pending.is_some() && g.remap_failed.is_some())
        .count();
    out.push(if !failed.is_empty() {
        item(
            "gpu-row-remap",
            "GPU memory: row remapping",
            Status::Fail,
            format!("remapped_rows.failure: Yes on {}", failed.join(", ")),
            "the memory cannot be repaired: drain the node and report it to the site",
        )
    } else if !pending.is_empty() {
        item(
            "gpu-row-remap",
            "GPU memory: row remapping",
            Status::Fail,
            format!("remapped_rows.pending: Yes on {}", pending.join(", ")),
            "a row remap waits for a GPU reset: ask the site to reset the GPU (nvidia-smi -r) or drain the node",
        )
    } else if known < h.gpus.len() || h.gpus.is_empty() {
        item(
            "gpu-row-remap",
            "GPU memory: row remapping",
            Status::Info,
            if h.unknown_fields.iter().any(|f| f.starts_with("remapped_rows")) {
                unknown("remapped_rows.pending/failure", "an older driver")
            } else {
                "unknown: not reported ([N/A]; GPUs before A100 retire pages instead)".into()
            },
            "nvidia-smi -q -d ROW_REMAPPER, or -d PAGE_RETIREMENT on older GPUs",
        )
    } else {
        item(
            "gpu-row-remap",
            "GPU memory: row remapping",
            Status::Pass,
            format!("no pending or failed remap on {known} GPU(s)"),
            "none",
        )
    });
    // Clock slowdowns.
    let slow: Vec<String> = h
        .gpus
        .iter()
        .filter_map(|g| {
            let mask = g.slowdown?;
            let names: Vec<&str> = SLOWDOWNS
                .iter()
                .filter(|(bit, _)| mask & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            (!names.is_empty()).then(|| format!("{}: {} ({mask:#x})", g.pci, names.join(", ")))
        })
        .collect();
    let known = h.gpus.iter().filter(|g| g.slowdown.is_some()).count();
    out.push(if !slow.is_empty() {
        item(
            "gpu-clocks",
            "GPU clocks: active slowdown reasons",
            Status::Warn,
            slow.join("; "),
            "an idle GPU should not be slowed: check cooling and power limits (nvidia-smi -q -d PERFORMANCE) with the site",
        )
    } else if known == 0 {
        item(
            "gpu-clocks",
            "GPU clocks: active slowdown reasons",
            Status::Info,
            unknown("clocks_event_reasons.active", "not reported"),
            "nvidia-smi -q -d PERFORMANCE",
        )
    } else {
        item(
            "gpu-clocks",
            "GPU clocks: active slowdown reasons",
            Status::Pass,
            format!("none on {known} GPU(s)"),
            "none",
        )
    });
    // Other processes.
    let foreign: Vec<String> = h
        .processes
        .iter()
        .filter(|p| !own.contains(&p.1))
        .map(|(pci, pid, name, mib)| {
            format!(
                "{pci}: pid {pid} {name}{}",
                mib.map(|m| format!(" ({m} MiB)")).unwrap_or_default()
            )
        })
        .collect();
    out.push(if foreign.is_empty() {
        item(
            "gpu-processes",
            "GPUs free of other processes",
            Status::Pass,
            "no other compute process".into(),
            "none",
        )
    } else {
        item(
            "gpu-processes",
            "GPUs free of other processes",
            Status::Fail,
            foreign.join("; "),
            "another job or a leftover process holds GPU memory: ask for exclusive nodes (sbatch --exclusive) or have the site clean the node",
        )
    });
    out
}

/// Kernel-log lines that say a GPU failed: NVIDIA Xid events, a GPU fallen off the bus, amdgpu
/// errors, faults and resets. `None` when the log could not be read.
pub fn kernel_log_check(lines: Option<&str>) -> Check {
    let id = "gpu-kernel-log";
    let what = "Kernel log: GPU errors";
    let Some(text) = lines else {
        return item(
            id,
            what,
            Status::Info,
            "unknown: the kernel log is not readable here (dmesg_restrict)".into(),
            "ask the site whether the node logged Xid or amdgpu errors",
        );
    };
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| {
            let low = l.to_ascii_lowercase();
            l.contains("NVRM: Xid")
                || low.contains("fallen off the bus")
                || (low.contains("amdgpu")
                    && ["error", "fault", "gpu reset", "ring timeout", "hang"]
                        .iter()
                        .any(|w| low.contains(w)))
        })
        .collect();
    if bad.is_empty() {
        item(id, what, Status::Pass, "no GPU error".into(), "none")
    } else {
        item(
            id,
            what,
            Status::Fail,
            format!(
                "{} line(s), e.g. \"{}\"",
                bad.len(),
                bad[bad.len() - 1].trim()
            ),
            "the GPU reported errors since boot: drain the node and report the lines to the site",
        )
    }
}

/// Pinned memory the collective libraries may lock: NCCL/RCCL and RDMA need it unlimited or
/// large (AMD's node check asks for at least 32 GiB). `None`: unlimited.
pub fn memlock_check(limit: Option<u64>) -> Check {
    const WANT: u64 = 32 << 30;
    let (id, what) = ("memlock", "Locked-memory limit (RLIMIT_MEMLOCK)");
    match limit {
        None => item(id, what, Status::Pass, "unlimited".into(), "none"),
        Some(b) if b >= WANT => item(id, what, Status::Pass, super::human_bytes(b), "none"),
        Some(b) => item(
            id,
            what,
            Status::Warn,
            format!("{} (ulimit -l)", super::human_bytes(b)),
            "RDMA transports pin memory: ask for `ulimit -l unlimited` in the job (Slurm: PropagateResourceLimits) or from the site",
        ),
    }
}

/// The shared-memory file system NCCL/RCCL and data loaders use within a node: at least 8 GiB
/// (AMD's node check), as containers often give 64 MiB.
pub fn shm_check(bytes: Option<u64>) -> Check {
    const WANT: u64 = 8 << 30;
    let (id, what) = ("dev-shm", "/dev/shm size");
    match bytes {
        None => item(
            id,
            what,
            Status::Warn,
            "no /dev/shm".into(),
            "mount a tmpfs on /dev/shm (containers: --shm-size, apptainer binds the host's)",
        ),
        Some(b) if b >= WANT => item(id, what, Status::Pass, super::human_bytes(b), "none"),
        Some(b) => item(
            id,
            what,
            Status::Warn,
            super::human_bytes(b),
            "collectives and data loaders within a node use /dev/shm: give it at least 8 GiB (docker --shm-size=8g)",
        ),
    }
}

#[cfg(test)]
mod tests;
