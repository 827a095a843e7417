//! AMD GPU health as `amd-smi` (ROCm 6 and later) reports it: uncorrectable and deferred ECC
//! errors per GPU (`amd-smi metric --ecc --json`) and the processes on each GPU (`amd-smi
//! process --json`). Both JSON shapes amd-smi has printed are read: a list of GPUs (ROCm 6.0 to
//! 6.2) and an object with `gpu_data` (later). Bad pages (`amd-smi bad-pages --json`): pages
//! pending retirement, the AMD counterpart of a pending row remap, and pages that could not be
//! retired (unreservable), the counterpart of a failed one. Active violations (`amd-smi metric
//! --throttle --json`, MI300 and later): processor hot, package power, socket, voltage-regulator
//! and HBM thermal, and the graphics clock held below the host's limit. What amd-smi does not
//! report (`N/A`, an older tool, an older GPU) is said to be unknown, with the command that shows
//! it.

use super::{Check, Env, Status, item, run_captured};
use serde_json::Value;
use std::time::Duration;

/// One AMD GPU's ECC counts, `None` where amd-smi did not report them (`N/A`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmdGpu {
    /// amd-smi's GPU index.
    pub gpu: String,
    /// Uncorrectable ECC errors.
    pub uncorrectable: Option<u64>,
    /// Deferred ECC errors (poisoned data that was not yet consumed).
    pub deferred: Option<u64>,
}

/// What `amd-smi` said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmdHealth {
    /// Per GPU, from `metric --ecc`; empty when it did not answer.
    pub gpus: Vec<AmdGpu>,
    /// Processes on the GPUs: (GPU index, pid, name); `None` when `process` did not answer.
    pub processes: Option<Vec<(String, u32, String)>>,
    /// Per GPU, from `bad-pages`; empty when it did not answer.
    pub bad_pages: Vec<AmdBadPages>,
    /// Per GPU, from `metric --throttle`; empty when it did not answer (before MI300).
    pub throttle: Vec<AmdThrottle>,
}

/// One AMD GPU's bad pages by state, `None` where amd-smi said `N/A` or left the state out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmdBadPages {
    /// amd-smi's GPU index.
    pub gpu: String,
    /// Pages waiting for a GPU reset to be retired.
    pub pending: Option<usize>,
    /// Pages that could not be retired (the reserve is exhausted).
    pub unreservable: Option<usize>,
    /// Pages retired already (memory lost, not a fault by itself).
    pub retired: Option<usize>,
}

/// One AMD GPU's violation states: the active ones by amd-smi's key, and whether any was known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmdThrottle {
    /// amd-smi's GPU index.
    pub gpu: String,
    /// Keys (without `_violation_status`) that are active now, e.g. `ppt`, `hbm_thermal`.
    pub active: Vec<String>,
    /// Whether any state was reported (not all `N/A`).
    pub known: bool,
}

/// Asks `amd-smi` on the node (`None` when it is not on PATH).
pub fn query_amd(env: &Env) -> Option<AmdHealth> {
    let (_, tool) = env.which(&["amd-smi"])?;
    let limit = Duration::from_secs(20);
    let answer = |args: &[&str]| {
        run_captured(&tool, args, limit)
            .filter(|c| c.ok)
            .and_then(|c| serde_json::from_str::<Value>(&c.stdout).ok())
    };
    Some(AmdHealth {
        gpus: answer(&["metric", "--ecc", "--json"])
            .map(|v| parse_amd_ecc(&v))
            .unwrap_or_default(),
        processes: answer(&["process", "--json"]).map(|v| parse_amd_processes(&v)),
        bad_pages: answer(&["bad-pages", "--json"])
            .map(|v| parse_amd_bad_pages(&v))
            .unwrap_or_default(),
        throttle: answer(&["metric", "--throttle", "--json"])
            .map(|v| parse_amd_throttle(&v))
            .unwrap_or_default(),
    })
}

/// How many pages one state of `bad-pages` lists: the text "No bad pages found." is 0, one
/// page is an object, several a list; `N/A` (or anything else) is not known.
fn pages(v: Option<&Value>) -> Option<usize> {
    match v? {
        Value::Array(a) => Some(a.len()),
        Value::Object(o) if o.contains_key("page_address") => Some(1),
        Value::String(s)
            if s.trim_end_matches('.')
                .eq_ignore_ascii_case("no bad pages found") =>
        {
            Some(0)
        }
        _ => None,
    }
}

/// `amd-smi bad-pages --json`: per GPU `retired`, `pending` and `un_res`, each a page, a list of
/// pages, "No bad pages found." or "N/A".
pub fn parse_amd_bad_pages(v: &Value) -> Vec<AmdBadPages> {
    entries(v)
        .into_iter()
        .map(|e| AmdBadPages {
            gpu: gpu_id(e),
            pending: pages(e.get("pending")),
            unreservable: pages(e.get("un_res")),
            retired: pages(e.get("retired")),
        })
        .collect()
}

/// Whether one violation state is active: "ACTIVE", `true` or 1, or any of them in a list (per
/// partition on newer drivers); `None` for `N/A`.
fn active(v: &Value) -> Option<bool> {
    match v {
        Value::String(s) if s.eq_ignore_ascii_case("active") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("not active") => Some(false),
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        Value::Array(a) => a.iter().filter_map(active).reduce(|x, y| x || y),
        o @ Value::Object(_) => o.get("value").and_then(active),
        _ => None,
    }
}

/// `amd-smi metric --throttle --json`: per GPU a `throttle` object whose `*_violation_status`
/// keys say ACTIVE or NOT ACTIVE. Low utilisation is a violation amd-smi counts, but an idle GPU
/// is not slowed down, so it is left out.
pub fn parse_amd_throttle(v: &Value) -> Vec<AmdThrottle> {
    entries(v)
        .into_iter()
        .filter_map(|e| {
            let Value::Object(t) = e.get("throttle")? else {
                return None;
            };
            let mut out = AmdThrottle {
                gpu: gpu_id(e),
                ..Default::default()
            };
            for (key, value) in t {
                let Some(name) = key.strip_suffix("_violation_status") else {
                    continue;
                };
                if name.starts_with("low_utilization") {
                    continue;
                }
                if let Some(on) = active(value) {
                    out.known = true;
                    if on {
                        out.active.push(name.to_string());
                    }
                }
            }
            Some(out)
        })
        .collect()
}

/// The per-GPU entries of an amd-smi answer, in either shape.
fn entries(v: &Value) -> Vec<&Value> {
    let list = v.get("gpu_data").unwrap_or(v);
    match list {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![list],
        _ => Vec::new(),
    }
}

/// A count as amd-smi prints it: a number, a numeric string, or `{"value": N}`; `N/A` is not.
fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        o @ Value::Object(_) => count(o.get("value")),
        _ => None,
    }
}

fn gpu_id(e: &Value) -> String {
    match e.get("gpu") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "?".into(),
    }
}

/// `amd-smi metric --ecc --json`.
pub fn parse_amd_ecc(v: &Value) -> Vec<AmdGpu> {
    entries(v)
        .into_iter()
        .map(|e| {
            let ecc = e.get("ecc");
            AmdGpu {
                gpu: gpu_id(e),
                uncorrectable: count(ecc.and_then(|x| x.get("total_uncorrectable_count"))),
                deferred: count(ecc.and_then(|x| x.get("total_deferred_count"))),
            }
        })
        .collect()
}

/// `amd-smi process --json`: each GPU's `process_list`, whose entries hold `process_info` (an
/// object with `pid` and `name`, or the text "No running processes detected").
pub fn parse_amd_processes(v: &Value) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    for e in entries(v) {
        let Some(Value::Array(list)) = e.get("process_list") else {
            continue;
        };
        for p in list {
            let info = p.get("process_info").unwrap_or(p);
            let Some(pid) = count(info.get("pid")).and_then(|p| u32::try_from(p).ok()) else {
                continue;
            };
            let name = info
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            out.push((gpu_id(e), pid, name));
        }
    }
    out
}

/// The words of an item no source answered: when it said nothing, when it said `N/A`, and the
/// command that shows the value.
#[derive(Clone, Copy)]
pub(super) struct Unknown {
    pub silent: &'static str,
    pub na: &'static str,
    pub fix: &'static str,
}

/// How a source of AMD GPU health names what it reports, for the items' findings: `amd-smi`, or
/// the amdgpu driver's own files (`amdgpu`).
pub(super) struct Wording {
    /// The uncorrectable count's name.
    pub uncorrectable: &'static str,
    /// The deferred count's name.
    pub deferred: &'static str,
    /// What to do about deferred errors.
    pub deferred_advice: &'static str,
    /// The name of pages that could not be retired.
    pub unreservable: &'static str,
    /// The ECC item when nothing was reported.
    pub ecc_unknown: Unknown,
    /// The bad-page item when nothing was reported.
    pub pages_unknown: Unknown,
}

/// amd-smi's words.
const AMD_SMI: Wording = Wording {
    uncorrectable: "total_uncorrectable_count",
    deferred: "total_deferred_count",
    deferred_advice: "deferred errors are poisoned memory not yet read: watch the node (amd-smi metric --ecc-blocks) and tell the site",
    unreservable: "un_res (could not be retired)",
    ecc_unknown: Unknown {
        silent: "unknown: amd-smi metric --ecc did not answer",
        na: "unknown: amd-smi reports no ECC count (N/A: ECC off or not supported)",
        fix: "amd-smi metric --ecc shows the counts",
    },
    pages_unknown: Unknown {
        silent: "unknown: amd-smi bad-pages did not answer",
        na: "unknown: amd-smi reports no bad-page list (N/A)",
        fix: "amd-smi bad-pages --pending lists pages waiting for a GPU reset",
    },
};

/// The ECC and bad-page items from another source's counts, in its words.
pub(super) fn memory_checks(gpus: &[AmdGpu], pages: &[AmdBadPages], w: &Wording) -> [Check; 2] {
    [ecc_item(gpus, w), bad_pages_item(pages, w)]
}

/// The GPU items from what `amd-smi` said. `own` are this job's process ids (not foreign).
pub fn amd_checks(h: &AmdHealth, own: &[u32]) -> Vec<Check> {
    let mut out = vec![ecc_item(&h.gpus, &AMD_SMI)];
    out.push(bad_pages_item(&h.bad_pages, &AMD_SMI));
    out.push(throttle_item(&h.throttle));
    out.push(processes_item(
        h.processes.as_deref(),
        own,
        Unknown {
            silent: "unknown: amd-smi process did not answer",
            na: "unknown: amd-smi process did not answer",
            fix: "amd-smi process lists them",
        },
    ));
    out
}

/// Another process on a GPU fails the node; `None` (not listed) is unknown. An entry's GPU may
/// be empty where the source does not say which GPU (KFD's process list).
pub(super) fn processes_item(
    procs: Option<&[(String, u32, String)]>,
    own: &[u32],
    none: Unknown,
) -> Check {
    let (id, what) = ("gpu-processes", "GPUs free of other processes");
    let Some(procs) = procs else {
        return unknown((id, what), false, none);
    };
    let foreign: Vec<String> = procs
        .iter()
        .filter(|p| !own.contains(&p.1))
        .map(|(gpu, pid, name)| match gpu.as_str() {
            "" => format!("pid {pid} {name}"),
            gpu => format!("GPU {gpu}: pid {pid} {name}"),
        })
        .collect();
    if foreign.is_empty() {
        item(id, what, Status::Pass, "no other process".into(), "none")
    } else {
        item(
            id,
            what,
            Status::Fail,
            foreign.join("; "),
            "another job or a leftover process holds the GPU: ask for exclusive nodes (sbatch --exclusive) or have the site clean the node",
        )
    }
}

/// Uncorrectable errors fail the node; deferred ones (poisoned memory not yet read) warn.
fn ecc_item(gpus: &[AmdGpu], w: &Wording) -> Check {
    let (id, what) = ("gpu-ecc", "GPU memory: uncorrectable ECC errors");
    let bad: Vec<String> = gpus
        .iter()
        .filter(|g| g.uncorrectable.is_some_and(|n| n > 0))
        .map(|g| format!("GPU {}: {}", g.gpu, g.uncorrectable.unwrap_or(0)))
        .collect();
    let deferred: Vec<String> = gpus
        .iter()
        .filter(|g| g.deferred.is_some_and(|n| n > 0))
        .map(|g| format!("GPU {}: {}", g.gpu, g.deferred.unwrap_or(0)))
        .collect();
    let known = gpus.iter().filter(|g| g.uncorrectable.is_some()).count();
    if !bad.is_empty() {
        item(
            id,
            what,
            Status::Fail,
            format!("{}: {}", w.uncorrectable, bad.join("; ")),
            "drain the node (scontrol update nodename=… state=drain reason=ECC) and report it to the site",
        )
    } else if !deferred.is_empty() {
        item(
            id,
            what,
            Status::Warn,
            format!("0 uncorrectable; {}: {}", w.deferred, deferred.join("; ")),
            w.deferred_advice,
        )
    } else if known == 0 {
        unknown((id, what), !gpus.is_empty(), w.ecc_unknown)
    } else {
        item(
            id,
            what,
            Status::Pass,
            format!("0 on {known} of {} GPU(s)", gpus.len()),
            "none",
        )
    }
}

/// An item left unknown: the source did not answer (`answered` false), or answered `N/A`.
fn unknown((id, what): (&str, &str), answered: bool, u: Unknown) -> Check {
    let finding = if answered { u.na } else { u.silent };
    item(id, what, Status::Info, finding.to_string(), u.fix)
}

/// Pages pending retirement or that could not be retired fail the node (the counterparts of
/// NVIDIA's pending and failed row remaps); retired pages alone pass, and are counted.
fn bad_pages_item(gpus: &[AmdBadPages], w: &Wording) -> Check {
    let (id, what) = ("gpu-row-remap", "GPU memory: pages pending retirement");
    let list = |f: fn(&AmdBadPages) -> Option<usize>| -> Vec<String> {
        gpus.iter()
            .filter_map(|g| {
                f(g).filter(|&n| n > 0)
                    .map(|n| format!("GPU {}: {n}", g.gpu))
            })
            .collect()
    };
    let pending = list(|g| g.pending);
    let unres = list(|g| g.unreservable);
    let known = gpus.iter().filter(|g| g.pending.is_some()).count();
    let retired: usize = gpus.iter().filter_map(|g| g.retired).sum();
    if !pending.is_empty() || !unres.is_empty() {
        let mut said = Vec::new();
        if !pending.is_empty() {
            said.push(format!("pending: {}", pending.join("; ")));
        }
        if !unres.is_empty() {
            said.push(format!("{}: {}", w.unreservable, unres.join("; ")));
        }
        item(
            id,
            what,
            Status::Fail,
            said.join("; "),
            "pending pages are retired at the next GPU reset: drain the node for a reset (scontrol update nodename=… state=drain reason=bad-pages); pages that could not be retired need the site to replace the GPU",
        )
    } else if known == 0 {
        unknown((id, what), !gpus.is_empty(), w.pages_unknown)
    } else {
        item(
            id,
            what,
            Status::Pass,
            format!(
                "none pending on {known} of {} GPU(s) ({retired} retired before)",
                gpus.len()
            ),
            "none",
        )
    }
}

/// An active violation warns, as NVIDIA's active slowdown reasons do: the GPU runs below its
/// clocks now, so its figures are low.
fn throttle_item(gpus: &[AmdThrottle]) -> Check {
    let (id, what) = ("gpu-clocks", "GPU clocks: active slowdown reasons");
    let on: Vec<String> = gpus
        .iter()
        .filter(|g| !g.active.is_empty())
        .map(|g| format!("GPU {}: {}", g.gpu, g.active.join(", ")))
        .collect();
    let known = gpus.iter().filter(|g| g.known).count();
    if !on.is_empty() {
        item(
            id,
            what,
            Status::Warn,
            format!("violation active: {}", on.join("; ")),
            "a power or thermal limit holds the clocks down: check cooling and power caps (amd-smi metric --throttle), and compare this node's figures with the others",
        )
    } else if known == 0 {
        unknown(
            (id, what),
            !gpus.is_empty(),
            Unknown {
                silent: "unknown: amd-smi metric --throttle did not answer (it needs MI300 or later and ROCm 6.3)",
                na: "unknown: amd-smi reports no violation status (N/A)",
                fix: "amd-smi metric --throttle (MI300 and later)",
            },
        )
    } else {
        item(
            id,
            what,
            Status::Pass,
            format!("no violation active on {known} of {} GPU(s)", gpus.len()),
            "none",
        )
    }
}

/// A node with `rocm-smi` but neither `amd-smi` nor an AMD GPU in `/sys/class/drm` (a container
/// without the host's sysfs): its GPUs' health is not read, and said so.
pub fn rocm_smi_only() -> Check {
    item(
        "gpu-ecc",
        "GPU memory: uncorrectable ECC errors",
        Status::Info,
        "unknown: amd-smi is not on PATH (ROCm 6 and later ship it) and /sys/class/drm shows no AMD GPU".into(),
        "rocm-smi --showrasinfo all shows the counts; load a ROCm module with amd-smi",
    )
}

#[cfg(test)]
mod tests;
