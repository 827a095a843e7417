//! Command-line tests: `probe`, help and version, and what every command owes the terminal.

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn probe_prints_the_inventory() {
    hpcready()
        .arg("probe")
        .assert()
        .success()
        .stdout(predicate::str::contains("host"))
        .stdout(predicate::str::contains("simd"))
        .stdout(predicate::str::contains("caches"))
        .stdout(predicate::str::contains("accelerators (wgpu adapters):"))
        .stdout(predicate::str::contains("porting checklist"));
}

#[test]
fn the_porting_checklist_reads_the_environment_it_runs_in() {
    // A fake environment: an apptainer on PATH, offline settings, a Slurm job's variables.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apptainer"), "#!/bin/sh\n").unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = hpcready()
        .args(["probe", "--json", "--baseline", "lumi-g"])
        .env("PATH", path)
        .env("HF_HUB_OFFLINE", "1")
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_JOB_NUM_NODES", "2")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let checks = v["checklist"].as_array().unwrap();
    let find = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(find("containers")["status"], "pass");
    // GPUs per node against the named baseline: LUMI-G's 4 MI250X are 8 devices. (This
    // machine's count is its own; tests/cli_fixed.rs checks it on a fixed node.)
    let gpus = find("gpu-count")["finding"].as_str().unwrap().to_string();
    assert!(gpus.ends_with(" here, 8 on LUMI-G"), "{gpus}");
    hpcready()
        .args(["probe", "--baseline", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--baseline nope"));
    assert_eq!(find("offline")["status"], "pass");
    assert!(
        find("slurm")["finding"]
            .as_str()
            .unwrap()
            .contains("inside job 4242: 2 node(s)")
    );
    // The same checklist is recorded with a run and shown in its report, with the GPU count
    // against the baseline.
    let results = small_run(dir.path());
    let rep = dir.path().join("rep");
    hpcready()
        .arg("report")
        .arg(&results)
        .arg("--out")
        .arg(&rep)
        .assert()
        .success();
    let md = read(&rep.join("report.md"));
    assert!(md.contains("## Porting checklist"), "{md}");
    assert!(md.contains("Normalisation: per node."), "{md}");
    assert!(
        md.lines()
            .any(|l| l.starts_with("| GPUs per node against the baseline | ")
                && l.contains(" here, 8 on AWS p5.48xlarge |")),
        "{md}"
    );
}

#[test]
fn probe_json_is_the_inventory_schema() {
    let out = hpcready()
        .args(["probe", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(v["cpu"]["usable_threads"].as_u64().unwrap() >= 1);
    assert!(v["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["accelerators"]["probed"], true);
    let devices = v["accelerators"]["devices"].as_array().unwrap();
    if require_gpu_tests() {
        let lavapipe = devices
            .iter()
            .find(|d| d["name"].as_str().unwrap().contains("llvmpipe"));
        let d = lavapipe.expect("CI installs lavapipe: it must be listed");
        assert_eq!(d["device_type"], "Cpu");
        assert_eq!(d["backend"], "Vulkan");
        assert_eq!(d["index"], 0);
        assert!(
            d["features"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "timestamp-query")
        );
        assert!(
            d["limits"]["max_storage_buffer_binding_size"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

#[test]
fn mesa_runtime_dir_complaints_stay_off_the_terminal() {
    // Under sudo, cron and batch jobs XDG_RUNTIME_DIR is unset; Mesa then prints an "error:" line
    // on every GPU enumeration that reads like hpcready's own.
    hpcready()
        .arg("probe")
        .env_remove("XDG_RUNTIME_DIR")
        .assert()
        .success()
        .stderr(predicate::str::contains("XDG_RUNTIME_DIR").not());
}

#[test]
fn help_and_version() {
    hpcready()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("hpcready "));
    let help = hpcready().arg("--help").assert().success();
    help.stdout(predicate::str::contains("assess"))
        .stdout(predicate::str::contains("probe"))
        .stdout(predicate::str::contains("report"))
        .stdout(predicate::str::contains("baselines"));
}

#[test]
fn a_stdout_that_cannot_be_written_is_an_error_and_a_closed_pipe_is_not() {
    let bin = assert_cmd::cargo::cargo_bin("hpcready");
    // `> /dev/full`: nothing was written, so the command failed (exit 1, not bad input).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(&bin)
        .args(["baselines", "list", "--json"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("writing to standard output"));
    // `| head -c 1`: the reader left early; that is not an error.
    let mut child = std::process::Command::new(&bin)
        .args(["baselines", "list", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
