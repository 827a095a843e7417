//! Command-line tests: `assess` and the bare command.

mod common;

use common::*;
use predicates::prelude::*;
use std::time::Duration;

#[test]
fn assess_writes_a_report_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assess");
    hpcready()
        .args([
            "assess",
            "--baseline",
            "lumi-g",
            "--sampling",
            "smoke",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("Compared with LUMI-G"))
        .stdout(predicate::str::contains("benchmark"))
        .stdout(predicate::str::contains("matmul f32"))
        .stdout(predicate::str::contains("Verdict: "))
        .stdout(predicate::str::contains(format!(
            "Report: {}",
            out.join("report.html").display()
        )));
    for f in [
        "report.html",
        "report.md",
        "results.csv",
        "results.json",
        "matmul.svg",
        "attention.svg",
        "membw.svg",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let v: serde_json::Value = read_json(&out.join("results.json"));
    assert_eq!(v["suite"], "quick");
    assert_eq!(v["complete"], true);
    let benches: Vec<&str> = v["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["bench"].as_str().unwrap())
        .collect();
    for b in ["peak", "membw", "matmul", "attention"] {
        assert!(benches.contains(&b), "{b} missing from the quick suite");
    }
}

#[test]
fn bare_command_is_assess_into_reports() {
    let dir = tempfile::tempdir().unwrap();
    hpcready()
        .current_dir(dir.path())
        .timeout(Duration::from_secs(300))
        .assert()
        .success()
        .stdout(predicate::str::contains("Report: reports/"));
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .collect();
    assert_eq!(reports.len(), 1);
    let report_dir = reports[0].as_ref().unwrap().path();
    let name = report_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.ends_with('Z') && name.contains("-20"),
        "reports/<host>-<UTC timestamp>: {name}"
    );
    assert!(report_dir.join("report.html").is_file());
}

#[test]
fn assess_under_several_ranks_is_refused_with_the_way_to_run_it() {
    hpcready()
        .arg("assess")
        .env("SLURM_STEP_NUM_TASKS", "4")
        .env("SLURM_PROCID", "0")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "assess measures one node as one process",
        ));
}
