//! The job script `hpcready slurm` writes, submitted to a real one-node Slurm cluster on this
//! machine (`.ci/slurm-up` starts it in CI). Built only with `--features mpi`; without a cluster
//! the test is skipped unless HPCREADY_REQUIRE_SLURM_TESTS=1, as CI sets it.
#![cfg(feature = "mpi")]

mod common;

use common::*;
use std::process::Command;

fn cluster_up() -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout);
            o.status.success() && ["idle", "mix", "alloc"].iter().any(|t| s.contains(t))
        })
        .unwrap_or(false)
}

/// Whether the local cluster answers; without one the test is skipped, unless CI's
/// `HPCREADY_REQUIRE_SLURM_TESTS` makes that a failure.
fn cluster() -> bool {
    let up = cluster_up();
    assert!(
        up || std::env::var("HPCREADY_REQUIRE_SLURM_TESTS").is_err(),
        "no Slurm cluster answers (sinfo); run .ci/slurm-up"
    );
    up
}

/// Submits `script` from `dir` with `sbatch --wait` (with `env` set), asserts it succeeded,
/// and returns the job id and its output file's text.
fn submit(dir: &std::path::Path, script: &[u8], env: &[(&str, &str)]) -> (String, String) {
    let job = dir.join("job.sh");
    std::fs::write(&job, script).unwrap();
    let mut c = Command::new("timeout");
    c.args(["900", "sbatch", "--wait", "--parsable"])
        .arg("--chdir")
        .arg(dir)
        .arg(&job);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let log = std::fs::read_to_string(dir.join(format!("hpcready-{id}.out"))).unwrap_or_default();
    assert!(
        o.status.success(),
        "sbatch failed: {}\n{log}",
        String::from_utf8_lossy(&o.stderr)
    );
    (id, log)
}

/// The torch Python when the local cluster answers and torch is there; `None` skips the test
/// (CI's `HPCREADY_REQUIRE_*` turn a missing one into a failure).
fn cluster_and_torch() -> Option<std::path::PathBuf> {
    if !cluster_up() {
        assert!(
            std::env::var("HPCREADY_REQUIRE_SLURM_TESTS").is_err(),
            "no Slurm cluster answers (sinfo); run .ci/slurm-up"
        );
        return None;
    }
    torch_python()
}

#[test]
fn the_generated_job_runs_and_leaves_its_report() {
    if !cluster_up() {
        assert!(
            std::env::var("HPCREADY_REQUIRE_SLURM_TESTS").is_err(),
            "no Slurm cluster answers (sinfo); run .ci/slurm-up"
        );
        eprintln!("skipped: no Slurm cluster (run .ci/slurm-up)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_hpcready");
    // With PyTorch (CI's venv), the job's torch step too: all-reduce and the data-parallel step.
    let py = torch_python();
    let torch = py.is_some();
    let mut c = Command::new(bin);
    c.args([
        "slurm", "--nodes", "1", "--mpi", "pmix", "--time", "00:10:00",
    ])
    .args(["--sampling", "smoke"]);
    if let Some(py) = &py {
        c.arg("--torch").arg(py);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (id, log) = submit(dir.path(), &o.stdout, &[]);
    let rep = dir.path().join(format!("reports/slurm-{id}"));
    for f in [
        "node.json",
        "allreduce.json",
        "report.html",
        "allreduce.svg",
    ] {
        assert!(
            rep.join(f).is_file(),
            "{f} missing in {}\n{log}",
            rep.display()
        );
    }
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("Communication: all-reduce"), "{log}");
    assert!(html.contains("2 ranks on 1 node"), "{log}");
    assert!(log.contains("hpcready: report in"), "{log}");
    if torch {
        assert!(rep.join("torch.json").is_file(), "{log}");
        let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
        assert!(md.contains("torch/allreduce-gloo"), "{md}\n{log}");
        assert!(md.contains("scaling efficiency"), "{md}\n{log}");
    }
}

/// torch.distributed all-reduce across 4 tasks of `srun` (gloo; the rendezvous by job and step
/// id): every size verified, the layout records srun and 4 ranks.
#[test]
fn torch_allreduce_runs_across_srun_tasks() {
    let Some(py) = cluster_and_torch() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ar.json");
    let o = Command::new("timeout")
        .args(["600", "srun", "-n", "4", "-O"])
        .args(torch_allreduce(&py, "8,4096", "120"))
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = read_json(&out);
    assert_eq!(v["ranks"]["size"], 4);
    assert_eq!(v["ranks"]["launcher"], "srun");
    let ms = v["measurements"].as_array().unwrap();
    assert_eq!(
        placements(&v),
        [(8, false), (8, true), (4096, false), (4096, true)],
        "out of place, then in place"
    );
    assert!(ms.iter().all(|m| m["verification"]["passed"] == true));
}

/// A rank that hangs under `srun` (the test hook stops rank 2's harness at 1000 B): the step
/// ends within the timeout, rank 0 naming rank 2, the finished size on disk, and every task
/// exits (srun does not end the others when one fails: each gives up on its own deadline).
#[cfg(feature = "test-hooks")]
#[test]
fn a_hung_rank_under_srun_ends_the_step_naming_it() {
    let Some(py) = cluster_and_torch() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ar.json");
    let t0 = std::time::Instant::now();
    let o = Command::new("timeout")
        .args(["300", "srun", "-n", "4", "-O"])
        .args(torch_allreduce(&py, "8,1000", "15"))
        .arg("--out")
        .arg(&out)
        .env("HPCREADY_FAULT", "hang:2:1000")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert_ne!(
        o.status.code(),
        Some(124),
        "the step outlived timeout(1): {err}"
    );
    assert!(err.contains("did not finish within 15 s"), "{err}");
    assert!(err.contains("rank 2 did not answer"), "{err}");
    // The limit, the other ranks' grace and torch's start-up, far below timeout(1)'s 300 s.
    assert!(
        took < std::time::Duration::from_secs(150),
        "{took:?}: {err}"
    );
    let v: serde_json::Value = read_json(&out);
    assert_eq!(placements(&v), [(8, false), (8, true)], "{err}");
    assert_eq!(v["complete"], false);
}

/// `hpcready slurm --smoke` on the one-node cluster: the job runs smoke on the node and leaves
/// the fleet report, the node ready and failing-nodes.txt empty.
#[test]
fn the_generated_smoke_job_leaves_the_fleet_report() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hpcready"))
        .args(["slurm", "--smoke", "--nodes", "1", "--gpus-per-node", "0"])
        .args(["--smoke-timeout", "300", "--time", "00:10:00"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (id, log) = submit(
        dir.path(),
        &o.stdout,
        &[("HPCREADY_PYTHON", "/nonexistent/python3")],
    );
    let rep = dir.path().join(format!("reports/smoke-{id}/report"));
    assert!(rep.join("fleet.html").is_file(), "{log}");
    assert!(log.contains("1 of 1 node(s) ready"), "{log}");
    assert_eq!(read(&rep.join("failing-nodes.txt")), "", "{log}");
}

/// Four tasks of `srun`, each another node by the test hook's host override, on the fake
/// backend at fixed rates; one device hangs and one node is slow: the fleet report names
/// exactly those two, with reasons, and failing-nodes.txt holds them in host-list form.
#[cfg(feature = "test-hooks")]
#[test]
fn four_srun_tasks_as_four_nodes_one_hung_one_slow() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kernel.log");
    std::fs::write(&log, "[    1.0] Linux version 6.1\n").unwrap();
    let out = dir.path().join("smoke");
    let o = Command::new("timeout")
        .args(["300", "srun", "-n", "4", "-O"])
        .arg(env!("CARGO_BIN_EXE_hpcready"))
        .args(["smoke", "--gpus-per-node", "0", "--timeout", "30", "--out"])
        .arg(&out)
        .env("HPCREADY_TEST_HOSTS", "nid101,nid102,nid103,nid110")
        .env("HPCREADY_TEST_SMOKE_HANG", "nid102")
        .env("HPCREADY_TEST_SMOKE_SLOW", "nid103")
        .env("HPCREADY_TEST_BACKEND", "cpu,1,20")
        .env("HPCREADY_TEST_KERNEL_LOG", &log)
        .env("HPCREADY_PYTHON", "/nonexistent/python3")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{all}");
    let files: Vec<_> = ["nid101", "nid102", "nid103", "nid110"]
        .iter()
        .map(|h| out.join(format!("{h}.json")))
        .collect();
    let rep = dir.path().join("fleet");
    let o = Command::new(env!("CARGO_BIN_EXE_hpcready"))
        .arg("report")
        .args(&files)
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(said.contains("2 of 4 node(s) ready"), "{said}");
    assert_eq!(read(&rep.join("failing-nodes.txt")), "nid[102-103]\n");
    let md = read(&rep.join("fleet.md"));
    assert!(
        md.contains("| nid102 | CPU: short measurement: no answer within 30 s"),
        "{md}"
    );
    assert!(md.contains("(50% of the allocation's median)"), "{md}");
}
