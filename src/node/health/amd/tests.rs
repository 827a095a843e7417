//! amd-smi's answers, read from a fake amd-smi.

use super::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

/// A fake amd-smi answering `metric --ecc --json` and `process --json` with these texts,
/// and `bad-pages` and `metric --throttle` as a healthy MI300X does.
fn fake(ecc: &str, procs: &str) -> (tempfile::TempDir, Env) {
    fake_all(ecc, procs, &bad_pages(&[]), &throttle(&[]))
}

/// A fake amd-smi answering all four questions with these texts (an empty one fails).
fn fake_all(ecc: &str, procs: &str, bad: &str, thr: &str) -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for (name, text) in [
        ("ecc", ecc),
        ("procs", procs),
        ("bad", bad),
        ("throttle", thr),
    ] {
        std::fs::write(dir.path().join(format!("{name}.json")), text).unwrap();
    }
    let d = dir.path().display();
    let s = format!(
        "#!/bin/sh\nanswer() {{ [ -s \"$1\" ] && cat \"$1\" || exit 2; }}\n\
         case \"$1 $2\" in\n  'metric --ecc') answer '{d}/ecc.json';;\n  \
         'process --json') answer '{d}/procs.json';;\n  \
         'bad-pages --json') answer '{d}/bad.json';;\n  \
         'metric --throttle') answer '{d}/throttle.json';;\n  *) exit 2;;\nesac\n"
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

/// `bad-pages --json` for 8 GPUs (ROCm 6.3's shape): the listed (GPU, state, pages) and "No
/// bad pages found." elsewhere; one page is an object, several a list.
fn bad_pages(listed: &[(usize, &str, usize)]) -> String {
    let none = "No bad pages found.";
    let gpus: Vec<Value> = (0..8)
        .map(|i| {
            let mut e = json!({"gpu": i, "retired": none, "pending": none, "un_res": none});
            for (_, state, n) in listed.iter().filter(|l| l.0 == i) {
                let page = |k: usize| {
                    json!({"page_address": format!("0x{:x}", 0x7f00 + k), "page_size": 4096,
                        "status": state.to_uppercase()})
                };
                e[*state] = if *n == 1 {
                    page(0)
                } else {
                    Value::Array((0..*n).map(page).collect())
                };
            }
            e
        })
        .collect();
    json!({ "gpu_data": gpus }).to_string()
}

/// `metric --throttle --json` for 8 GPUs: the listed (GPU, violation) are ACTIVE.
fn throttle(listed: &[(usize, &str)]) -> String {
    let gpus: Vec<Value> = (0..8)
        .map(|i| {
            let mut t = json!({"accumulation_counter": 123_456, "ppt_accumulated": 0,
                "low_utilization_violation_status": "ACTIVE",
                "ppt_violation_activity": {"value": 0, "unit": "%"}});
            for k in [
                "prochot",
                "ppt",
                "socket_thermal",
                "vr_thermal",
                "hbm_thermal",
            ] {
                let on = listed.contains(&(i, k));
                t[format!("{k}_violation_status")] =
                    json!(if on { "ACTIVE" } else { "NOT ACTIVE" });
            }
            json!({"gpu": i, "throttle": t})
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

/// The bad-page and throttle items of a healthy 8-GPU MI300X.
const HEALTHY: [(&str, Status, &str); 2] = [
    (
        "gpu-row-remap",
        Status::Pass,
        "none pending on 8 of 8 GPU(s) (0 retired before)",
    ),
    (
        "gpu-clocks",
        Status::Pass,
        "no violation active on 8 of 8 GPU(s)",
    ),
];

fn expect(
    ecc: (String, Status, String),
    procs: (String, Status, String),
) -> Vec<(String, Status, String)> {
    let mut v = vec![ecc];
    v.extend(HEALTHY.iter().map(|(i, st, f)| s(i, *st, f)));
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

/// Pending pages and pages that could not be retired fail, in amd-smi's words; retired ones
/// alone pass, counted.
#[test]
fn pending_and_unreservable_pages_fail_and_retired_ones_pass() {
    let ecc = ecc_new(&[(0, 0); 8]);
    let item = |bad: &str| {
        let (_d, e) = fake_all(&ecc, NONE_RUNNING, bad, &throttle(&[]));
        summary(&e).remove(1)
    };
    assert_eq!(
        item(&bad_pages(&[(2, "pending", 1), (2, "retired", 3)])),
        s("gpu-row-remap", Status::Fail, "pending: GPU 2: 1")
    );
    assert_eq!(
        item(&bad_pages(&[(4, "un_res", 2), (6, "pending", 5)])),
        s(
            "gpu-row-remap",
            Status::Fail,
            "pending: GPU 6: 5; un_res (could not be retired): GPU 4: 2"
        )
    );
    assert_eq!(
        item(&bad_pages(&[(1, "retired", 2), (7, "retired", 1)])),
        s(
            "gpu-row-remap",
            Status::Pass,
            "none pending on 8 of 8 GPU(s) (3 retired before)"
        )
    );
    // ROCm 6.0–6.2's list of GPUs, and N/A where the driver does not say.
    let na = r#"[{"gpu": 0, "retired": "N/A", "pending": "N/A", "un_res": "N/A"}]"#;
    assert_eq!(
        item(na),
        s(
            "gpu-row-remap",
            Status::Info,
            "unknown: amd-smi reports no bad-page list (N/A)"
        )
    );
    assert_eq!(
        item(""),
        s(
            "gpu-row-remap",
            Status::Info,
            "unknown: amd-smi bad-pages did not answer"
        )
    );
}

/// An active power or thermal violation warns; low utilisation does not; an amd-smi or GPU
/// without `--throttle` (before ROCm 6.3, before MI300) is unknown, never a pass.
#[test]
fn an_active_violation_warns_and_a_gpu_without_the_metric_is_unknown() {
    let ecc = ecc_new(&[(0, 0); 8]);
    let item = |thr: &str| {
        let (_d, e) = fake_all(&ecc, NONE_RUNNING, &bad_pages(&[]), thr);
        summary(&e).remove(2)
    };
    assert_eq!(
        item(&throttle(&[(3, "ppt"), (3, "hbm_thermal"), (5, "prochot")])),
        s(
            "gpu-clocks",
            Status::Warn,
            "violation active: GPU 3: hbm_thermal, ppt; GPU 5: prochot"
        )
    );
    // Newer drivers: a state per partition, as a list (booleans or 0/1).
    let per_xcp = r#"{"gpu_data": [{"gpu": 0, "throttle": {
        "gfx_clk_below_host_limit_thm_violation_status": [[false, true], [false, false]],
        "ppt_violation_status": "NOT ACTIVE"}},
        {"gpu": 1, "throttle": {"gfx_clk_below_host_limit_thm_violation_status": [[0, 0]],
        "ppt_violation_status": "NOT ACTIVE"}}]}"#;
    assert_eq!(
        item(per_xcp),
        s(
            "gpu-clocks",
            Status::Warn,
            "violation active: GPU 0: gfx_clk_below_host_limit_thm"
        )
    );
    let na = r#"{"gpu_data": [{"gpu": 0, "throttle": {"ppt_violation_status": "N/A",
        "prochot_violation_status": "N/A"}}]}"#;
    assert_eq!(
        item(na),
        s(
            "gpu-clocks",
            Status::Info,
            "unknown: amd-smi reports no violation status (N/A)"
        )
    );
    assert_eq!(
        item(""),
        s(
            "gpu-clocks",
            Status::Info,
            "unknown: amd-smi metric --throttle did not answer (it needs MI300 or later and ROCm 6.3)"
        )
    );
}
