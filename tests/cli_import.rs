//! Command-line tests: `import` and `slurm`.

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn import_nccl_tests_log_then_report_it_with_a_node_run() {
    let dir = tempfile::tempdir().unwrap();
    let imported = dir.path().join("imp/results.json");
    hpcready()
        .args([
            "import",
            "nccl-tests",
            "tests/data/import/nccl-tests-2node.log",
            "--out",
        ])
        .arg(&imported)
        .assert()
        .success()
        .stdout(predicate::str::contains("1073741824  out    14000"))
        .stderr(predicate::str::contains(
            "8 all-reduce results, 1 lines not read",
        ))
        .stderr(predicate::str::contains(
            "nccl-tests-2node.log:1: not part of a results table",
        ));
    let r: serde_json::Value = read_json(&imported);
    assert_eq!(r["measurements"].as_array().unwrap().len(), 8);
    assert_eq!(r["measurements"][0]["method"], "import/nccl-tests");
    assert_eq!(
        r["ranks"]["hosts"],
        serde_json::json!(["fixture-a", "fixture-b"])
    );
    // One report from the node's run and the imported all-reduce.
    let node = small_run(dir.path());
    let rep = dir.path().join("rep");
    hpcready()
        .arg("report")
        .arg(&node)
        .arg(&imported)
        .args(["--out"])
        .arg(&rep)
        .assert()
        .success()
        .stdout(predicate::str::contains("allreduce f32"))
        .stdout(predicate::str::contains("like for like"));
    let md = read(&rep.join("report.md"));
    assert!(md.contains("## Communication: all-reduce"));
    assert!(md.contains("4 ranks on 2 node"));
    assert!(md.contains("inter-node"));
    assert!(rep.join("allreduce.svg").is_file());
}

#[test]
fn import_refuses_what_it_cannot_read() {
    hpcready()
        .args(["import", "nccl-tests", "no/such.log"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such.log: cannot read the log"));
    let dir = tempfile::tempdir().unwrap();
    let osu = dir.path().join("osu.log");
    std::fs::write(
        &osu,
        "# OSU MPI Allreduce Latency Test v7.2\n# Size       Avg Latency(us)\n4   1.85\n",
    )
    .unwrap();
    hpcready()
        .args(["import", "osu"])
        .arg(&osu)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --ranks N"));
    hpcready()
        .args(["import", "osu", "--ranks", "4", "--out"])
        .arg(dir.path().join("o.json"))
        .arg(&osu)
        .assert()
        .success();
}

#[test]
fn slurm_prints_a_job_and_checks_its_inputs() {
    hpcready()
        .args([
            "slurm",
            "--nodes",
            "4",
            "--gpus-per-node",
            "8",
            "--account",
            "ehpc-01",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("#SBATCH --nodes=4"))
        .stdout(predicate::str::contains("--ntasks-per-node=8"))
        .stdout(predicate::str::contains("run --bench allreduce"));
    hpcready()
        .args(["slurm", "--container", "no/such.sif"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such image file"));
    hpcready()
        .args(["slurm", "--baseline", "nope"])
        .assert()
        .code(2);
}
