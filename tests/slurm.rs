//! The job script `hpcready slurm` writes, submitted to a real one-node Slurm cluster on this
//! machine (`.ci/slurm-up` starts it in CI). Built only with `--features mpi`; without a cluster
//! the test is skipped unless HPCREADY_REQUIRE_SLURM_TESTS=1, as CI sets it.
#![cfg(feature = "mpi")]

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
    let py = std::env::var_os("HPCREADY_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/torch-venv/bin/python")
        });
    let torch = py.exists();
    assert!(
        torch || std::env::var("HPCREADY_REQUIRE_TORCH_TESTS").is_err(),
        "no Python with torch at {}",
        py.display()
    );
    let mut c = Command::new(bin);
    c.args([
        "slurm", "--nodes", "1", "--mpi", "pmix", "--time", "00:10:00",
    ])
    .args(["--sampling", "smoke"]);
    if torch {
        c.arg("--torch").arg(&py);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let job = dir.path().join("job.sh");
    std::fs::write(&job, &o.stdout).unwrap();
    let o = Command::new("timeout")
        .args(["900", "sbatch", "--wait", "--parsable"])
        .arg("--chdir")
        .arg(dir.path())
        .arg(&job)
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let log =
        std::fs::read_to_string(dir.path().join(format!("hpcready-{id}.out"))).unwrap_or_default();
    assert!(
        o.status.success(),
        "sbatch failed: {}\n{log}",
        String::from_utf8_lossy(&o.stderr)
    );
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
    if !cluster_up() {
        assert!(
            std::env::var("HPCREADY_REQUIRE_SLURM_TESTS").is_err(),
            "no Slurm cluster answers (sinfo); run .ci/slurm-up"
        );
        return;
    }
    let py = std::env::var_os("HPCREADY_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/torch-venv/bin/python")
        });
    if !py.exists() {
        assert!(
            std::env::var("HPCREADY_REQUIRE_TORCH_TESTS").is_err(),
            "no Python with torch at {}",
            py.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ar.json");
    let o = Command::new("timeout")
        .args(["600", "srun", "-n", "4", "-O"])
        .arg(env!("CARGO_BIN_EXE_hpcready"))
        .args([
            "run",
            "--backend",
            "torch",
            "--bench",
            "allreduce",
            "--python",
        ])
        .arg(&py)
        .args([
            "--sizes",
            "8,4096",
            "--sampling",
            "smoke",
            "--timeout",
            "120",
            "--out",
        ])
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["ranks"]["size"], 4);
    assert_eq!(v["ranks"]["launcher"], "srun");
    let ms = v["measurements"].as_array().unwrap();
    let placed: Vec<(u64, bool)> = ms
        .iter()
        .map(|m| {
            (
                m["shape"]["bytes"].as_u64().unwrap(),
                m["shape"]["inplace"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [(8, false), (8, true), (4096, false), (4096, true)],
        "out of place, then in place"
    );
    assert!(ms.iter().all(|m| m["verification"]["passed"] == true));
}
