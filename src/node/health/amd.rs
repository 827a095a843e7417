//! AMD GPU health as `amd-smi` (ROCm 6 and later) reports it: uncorrectable and deferred ECC
//! errors per GPU (`amd-smi metric --ecc --json`) and the processes on each GPU (`amd-smi
//! process --json`). Both JSON shapes amd-smi has printed are read: a list of GPUs (ROCm 6.0 to
//! 6.2) and an object with `gpu_data` (later). Bad pages pending retirement (the AMD counterpart
//! of a pending row remap) and clock throttling are not read yet and are said to be unknown,
//! with the command that shows them.

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
    })
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

/// The GPU items from what `amd-smi` said. `own` are this job's process ids (not foreign).
pub fn amd_checks(h: &AmdHealth, own: &[u32]) -> Vec<Check> {
    let mut out = Vec::new();
    let (id, what) = ("gpu-ecc", "GPU memory: uncorrectable ECC errors");
    let bad: Vec<String> = h
        .gpus
        .iter()
        .filter(|g| g.uncorrectable.is_some_and(|n| n > 0))
        .map(|g| format!("GPU {}: {}", g.gpu, g.uncorrectable.unwrap_or(0)))
        .collect();
    let deferred: Vec<String> = h
        .gpus
        .iter()
        .filter(|g| g.deferred.is_some_and(|n| n > 0))
        .map(|g| format!("GPU {}: {}", g.gpu, g.deferred.unwrap_or(0)))
        .collect();
    let known = h.gpus.iter().filter(|g| g.uncorrectable.is_some()).count();
    out.push(if !bad.is_empty() {
        item(
            id,
            what,
            Status::Fail,
            format!("total_uncorrectable_count: {}", bad.join("; ")),
            "drain the node (scontrol update nodename=… state=drain reason=ECC) and report it to the site",
        )
    } else if !deferred.is_empty() {
        item(
            id,
            what,
            Status::Warn,
            format!(
                "0 uncorrectable; total_deferred_count: {}",
                deferred.join("; ")
            ),
            "deferred errors are poisoned memory not yet read: watch the node (amd-smi metric --ecc-blocks) and tell the site",
        )
    } else if known == 0 {
        item(
            id,
            what,
            Status::Info,
            if h.gpus.is_empty() {
                "unknown: amd-smi metric --ecc did not answer".into()
            } else {
                "unknown: amd-smi reports no ECC count (N/A: ECC off or not supported)".into()
            },
            "amd-smi metric --ecc shows the counts",
        )
    } else {
        item(
            id,
            what,
            Status::Pass,
            format!("0 on {known} of {} GPU(s)", h.gpus.len()),
            "none",
        )
    });
    out.push(item(
        "gpu-row-remap",
        "GPU memory: pages pending retirement",
        Status::Info,
        "unknown: hpcready does not read amd-smi's bad-page list yet".into(),
        "amd-smi bad-pages --pending lists pages waiting for a GPU reset",
    ));
    out.push(item(
        "gpu-clocks",
        "GPU clocks: active slowdown reasons",
        Status::Info,
        "unknown: hpcready does not read AMD's throttle status yet".into(),
        "amd-smi metric --throttle (MI300 and later)",
    ));
    let (id, what) = ("gpu-processes", "GPUs free of other processes");
    out.push(match &h.processes {
        None => item(
            id,
            what,
            Status::Info,
            "unknown: amd-smi process did not answer".into(),
            "amd-smi process lists them",
        ),
        Some(procs) => {
            let foreign: Vec<String> = procs
                .iter()
                .filter(|p| !own.contains(&p.1))
                .map(|(gpu, pid, name)| format!("GPU {gpu}: pid {pid} {name}"))
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
    });
    out
}

/// A node whose AMD GPUs only `rocm-smi` can see: their health is not read, and said so.
pub fn rocm_smi_only() -> Check {
    item(
        "gpu-ecc",
        "GPU memory: uncorrectable ECC errors",
        Status::Info,
        "unknown: amd-smi is not on PATH (ROCm 6 and later ship it); rocm-smi's RAS output is not read".into(),
        "rocm-smi --showrasinfo all shows the counts; load a ROCm module with amd-smi",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    /// A fake amd-smi answering `metric --ecc --json` and `process --json` with these texts.
    fn fake(ecc: &str, procs: &str) -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(dir.path().join("ecc.json"), ecc).unwrap();
        std::fs::write(dir.path().join("procs.json"), procs).unwrap();
        let d = dir.path().display();
        let s = format!(
            "#!/bin/sh\ncase \"$1 $2\" in\n  'metric --ecc') cat '{d}/ecc.json';;\n  \
             'process --json') cat '{d}/procs.json';;\n  *) exit 2;;\nesac\n"
        );
        let tool = bin.join("amd-smi");
        std::fs::write(&tool, s).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut e = Env::real();
        e.root = dir.path().to_path_buf();
        e.vars.insert("PATH".into(), bin.display().to_string());
        (dir, e)
    }

    fn ecc_new(counts: &[(u64, u64)]) -> String {
        let gpus: Vec<Value> = counts
            .iter()
            .enumerate()
            .map(|(i, (u, d))| {
                json!({"gpu": i, "ecc": {"total_correctable_count": 3,
                    "total_uncorrectable_count": u, "total_deferred_count": d}})
            })
            .collect();
        json!({ "gpu_data": gpus }).to_string()
    }

    const NONE_RUNNING: &str = r#"[{"gpu": 0, "process_list": [{"process_info": "No running processes detected"}]},
        {"gpu": 1, "process_list": [{"process_info": "No running processes detected"}]}]"#;

    fn summary(e: &Env) -> Vec<(String, Status, String)> {
        amd_checks(&query_amd(e).expect("amd-smi answered"), &[4242])
            .into_iter()
            .map(|c| (c.id, c.status, c.finding))
            .collect()
    }

    fn s(id: &str, st: Status, f: &str) -> (String, Status, String) {
        (id.into(), st, f.into())
    }

    const UNREAD: [(&str, Status, &str); 2] = [
        (
            "gpu-row-remap",
            Status::Info,
            "unknown: hpcready does not read amd-smi's bad-page list yet",
        ),
        (
            "gpu-clocks",
            Status::Info,
            "unknown: hpcready does not read AMD's throttle status yet",
        ),
    ];

    fn expect(
        ecc: (String, Status, String),
        procs: (String, Status, String),
    ) -> Vec<(String, Status, String)> {
        let mut v = vec![ecc];
        v.extend(UNREAD.iter().map(|(i, st, f)| s(i, *st, f)));
        v.push(procs);
        v
    }

    #[test]
    fn a_healthy_node_passes_in_either_json_shape() {
        let free = s("gpu-processes", Status::Pass, "no other process");
        let (_d, e) = fake(&ecc_new(&[(0, 0); 8]), NONE_RUNNING);
        assert_eq!(
            summary(&e),
            expect(
                s("gpu-ecc", Status::Pass, "0 on 8 of 8 GPU(s)"),
                free.clone()
            )
        );
        // ROCm 6.0–6.2: a list of GPUs, counts as numbers or strings.
        let old = r#"[{"gpu": 0, "ecc": {"total_correctable_count": 0, "total_uncorrectable_count": "0"}},
                      {"gpu": 1, "ecc": {"total_correctable_count": 0, "total_uncorrectable_count": 0}}]"#;
        let (_d, e) = fake(old, NONE_RUNNING);
        assert_eq!(
            summary(&e),
            expect(s("gpu-ecc", Status::Pass, "0 on 2 of 2 GPU(s)"), free)
        );
    }

    #[test]
    fn ecc_errors_fail_and_deferred_ones_warn() {
        let mut counts = [(0, 0); 8];
        counts[5] = (2, 0);
        counts[6] = (0, 7);
        let (_d, e) = fake(&ecc_new(&counts), NONE_RUNNING);
        assert_eq!(
            summary(&e)[0],
            s(
                "gpu-ecc",
                Status::Fail,
                "total_uncorrectable_count: GPU 5: 2"
            )
        );
        counts[5] = (0, 0);
        let (_d, e) = fake(&ecc_new(&counts), NONE_RUNNING);
        assert_eq!(
            summary(&e)[0],
            s(
                "gpu-ecc",
                Status::Warn,
                "0 uncorrectable; total_deferred_count: GPU 6: 7"
            )
        );
    }

    #[test]
    fn a_foreign_process_fails_and_our_own_does_not() {
        let procs = r#"[{"gpu": 0, "process_list": [{"process_info": {"name": "python3", "pid": 4242,
              "mem_usage": {"value": 512, "unit": "MB"}}}]},
            {"gpu": 3, "process_list": [{"process_info": {"name": "llama-server", "pid": 28389}}]}]"#;
        let (_d, e) = fake(&ecc_new(&[(0, 0); 4]), procs);
        assert_eq!(
            summary(&e)[3],
            s(
                "gpu-processes",
                Status::Fail,
                "GPU 3: pid 28389 llama-server"
            )
        );
    }

    /// N/A counts (ECC off), a tool that fails, and no amd-smi at all: unknown, never a pass.
    #[test]
    fn what_amd_smi_does_not_say_is_unknown() {
        let na = r#"{"gpu_data": [{"gpu": 0, "ecc": {"total_uncorrectable_count": "N/A"}}]}"#;
        let (_d, e) = fake(na, "not json");
        assert_eq!(
            summary(&e),
            expect(
                s(
                    "gpu-ecc",
                    Status::Info,
                    "unknown: amd-smi reports no ECC count (N/A: ECC off or not supported)"
                ),
                s(
                    "gpu-processes",
                    Status::Info,
                    "unknown: amd-smi process did not answer"
                )
            )
        );
        let (_d, e) = fake("", NONE_RUNNING);
        assert_eq!(
            summary(&e)[0],
            s(
                "gpu-ecc",
                Status::Info,
                "unknown: amd-smi metric --ecc did not answer"
            )
        );
        let mut e = Env::real();
        e.vars.insert("PATH".into(), "/nonexistent".into());
        assert!(query_amd(&e).is_none());
    }
}
