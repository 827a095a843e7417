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
    let o = Command::new(bin)
        .args([
            "slurm", "--nodes", "1", "--mpi", "pmix", "--time", "00:10:00",
        ])
        .args(["--sampling", "smoke"])
        .output()
        .unwrap();
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
}
